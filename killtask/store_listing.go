package killtask

import (
	"context"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// This file holds read-only listing queries for the API's Describe actions
// (DescribeKillTasks, DescribeKillRecords) that restrict results to a set of
// instances: a credential scoped to some instances must never see the tasks
// or history of the others.

// ListTasksIn is ListTasks restricted to instanceIDs: nil means no
// restriction, an empty non-nil slice selects nothing.
func (s *Store) ListTasksIn(ctx context.Context, q TaskQuery, instanceIDs []string, now time.Time) ([]Task, int64, error) {
	if instanceIDs != nil && len(instanceIDs) == 0 {
		return []Task{}, 0, nil
	}
	if _, err := s.FinishExpired(ctx, now); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	if instanceIDs != nil {
		where, args = append(where, "instance_id IN (?)"), append(args, instanceIDs)
	}
	if q.InstanceID != "" {
		where, args = append(where, "instance_id = ?"), append(args, q.InstanceID)
	}
	if q.TaskID != "" {
		where, args = append(where, "id = ?"), append(args, q.TaskID)
	}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(q.Status))
	}
	cond, args, err := whereIn(where, args)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.db.GetContext(ctx, &total, `SELECT COUNT(*) FROM tasks`+cond, args...); err != nil {
		return nil, 0, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	var rows []taskRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT `+taskCols+` FROM tasks`+cond+` ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, q.Offset)...); err != nil {
		return nil, 0, err
	}
	tasks, err := rowsToTasks(rows)
	return tasks, total, err
}

// ListKillRecordsIn is ListKillRecords restricted to instanceIDs (nil = no
// restriction, empty non-nil = nothing), newest first.
func (s *Store) ListKillRecordsIn(ctx context.Context, q RecordQuery, instanceIDs []string) ([]KillRecord, int64, error) {
	if instanceIDs != nil && len(instanceIDs) == 0 {
		return []KillRecord{}, 0, nil
	}
	var where []string
	var args []any
	if instanceIDs != nil {
		where, args = append(where, "instance_id IN (?)"), append(args, instanceIDs)
	}
	if q.InstanceID != "" {
		where, args = append(where, "instance_id = ?"), append(args, q.InstanceID)
	}
	if q.TaskID != "" {
		where, args = append(where, "task_id = ?"), append(args, q.TaskID)
	}
	if q.Source != "" {
		where, args = append(where, "source = ?"), append(args, q.Source)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "killed_ms >= ?"), append(args, ms(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, "killed_ms < ?"), append(args, ms(q.Until))
	}
	cond, args, err := whereIn(where, args)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.db.GetContext(ctx, &total, `SELECT COUNT(*) FROM kill_records`+cond, args...); err != nil {
		return nil, 0, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	rows, err := s.db.QueryxContext(ctx, `SELECT id, `+recordCols+` FROM kill_records`+cond+` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, limit, q.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []KillRecord{}
	for rows.Next() {
		var r KillRecord
		var outcome string
		var killedMS int64
		if err := rows.Scan(&r.ID, &r.Source, &r.TaskID, &r.InstanceID, &r.NodeID, &r.Product, &r.ThreadID,
			&r.User, &r.Host, &r.DB, &r.Command, &r.Time, &r.State, &r.Info, &outcome, &r.Error, &killedMS); err != nil {
			return nil, 0, err
		}
		r.Outcome, r.KilledAt = Outcome(outcome), fromMS(killedMS)
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// whereIn joins conditions with AND and expands IN (?) lists.
func whereIn(where []string, args []any) (string, []any, error) {
	if len(where) == 0 {
		return "", args, nil
	}
	q, args, err := sqlx.In(" WHERE "+strings.Join(where, " AND "), args...)
	return q, args, err
}
