package killtask

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// IntelligentTask is one run of an intelligent kill on a node. It is stored
// before the first KILL (EndedAt zero) and finished with its summary once
// every KILL has returned; the per-session results are the kill history rows
// whose task_id is the task's id (source "intelligent").
type IntelligentTask struct {
	ID         string
	InstanceID string
	NodeID     string
	CreatedAt  time.Time // UTC, millisecond precision
	EndedAt    time.Time // zero while running (or if the process died mid-run)
	Summary    IntelligentSummary
}

// IntelligentSummary is stored as JSON in intelligent_tasks.summary.
type IntelligentSummary struct {
	Creator string                  `json:"creator,omitempty"`
	Groups  []IntelligentGroupStats `json:"groups"`
	// Outcome counts over every session of the chosen groups.
	Killed  int `json:"killed"`
	Gone    int `json:"gone"`
	Changed int `json:"changed"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
}

// IntelligentGroupStats is a chosen group as it was when it was picked.
type IntelligentGroupStats struct {
	Keyword   string   `json:"keyword"`
	Strategy  Strategy `json:"strategy"`
	Example   string   `json:"example_sql_text"`
	IDs       []uint64 `json:"ids"`
	Count     int      `json:"count"`
	TotalTime int64    `json:"total_time"`
	MaxTime   int64    `json:"max_time"`
	AvgTime   float64  `json:"avg_time"`
}

// StatsOf summarises picked groups for storage.
func StatsOf(groups []SessionGroup) []IntelligentGroupStats {
	out := make([]IntelligentGroupStats, 0, len(groups))
	for i := range groups {
		g := &groups[i]
		out = append(out, IntelligentGroupStats{
			Keyword: g.Keyword, Strategy: g.Strategy, Example: g.Example, IDs: g.IDs(),
			Count: g.Count, TotalTime: g.TotalTime, MaxTime: g.MaxTime, AvgTime: g.AvgTime(),
		})
	}
	return out
}

// Count adds one kill outcome to the summary's counters.
func (s *IntelligentSummary) Count(o Outcome) {
	switch o {
	case OutcomeKilled:
		s.Killed++
	case OutcomeGone:
		s.Gone++
	case OutcomeChanged:
		s.Changed++
	case OutcomeSkipped:
		s.Skipped++
	default:
		s.Failed++
	}
}

type intelligentRow struct {
	ID         string `db:"id"`
	InstanceID string `db:"instance_id"`
	NodeID     string `db:"node_id"`
	CreatedMS  int64  `db:"created_ms"`
	EndedMS    int64  `db:"ended_ms"`
	Summary    string `db:"summary"`
}

func (r *intelligentRow) task() (IntelligentTask, error) {
	t := IntelligentTask{ID: r.ID, InstanceID: r.InstanceID, NodeID: r.NodeID, CreatedAt: fromMS(r.CreatedMS), EndedAt: fromMS(r.EndedMS)}
	if r.Summary != "" {
		if err := json.Unmarshal([]byte(r.Summary), &t.Summary); err != nil {
			return t, fmt.Errorf("killtask: intelligent task %s: bad summary: %w", r.ID, err)
		}
	}
	return t, nil
}

const intelligentCols = `id, instance_id, node_id, created_ms, ended_ms, summary`

// PutIntelligentTask stores a new intelligent task (normally with EndedAt
// zero, before its kills).
func (s *Store) PutIntelligentTask(ctx context.Context, t IntelligentTask) error {
	if t.ID == "" || t.InstanceID == "" || t.NodeID == "" || t.CreatedAt.IsZero() {
		return errors.New("killtask: intelligent task needs id, instance, node and creation time")
	}
	sum, err := json.Marshal(t.Summary)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO intelligent_tasks (`+intelligentCols+`) VALUES (?,?,?,?,?,?)`,
		t.ID, t.InstanceID, t.NodeID, ms(t.CreatedAt), ms(t.EndedAt), string(sum))
	return err
}

// FinishIntelligentTask records the end time and summary of a task.
func (s *Store) FinishIntelligentTask(ctx context.Context, id string, ended time.Time, sum IntelligentSummary) error {
	b, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE intelligent_tasks SET ended_ms = ?, summary = ? WHERE id = ?`, ms(ended), string(b), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// GetIntelligentTask returns one task (ErrNotFound if absent).
func (s *Store) GetIntelligentTask(ctx context.Context, id string) (IntelligentTask, error) {
	var r intelligentRow
	if err := s.get(ctx, &r, `SELECT `+intelligentCols+` FROM intelligent_tasks WHERE id = ?`, id); err != nil {
		return IntelligentTask{}, err
	}
	return r.task()
}

// IntelligentQuery selects intelligent tasks. Zero values do not filter.
type IntelligentQuery struct {
	InstanceID string
	NodeID     string
	Since      time.Time // CreatedAt >= Since
	Until      time.Time // CreatedAt <= Until (inclusive)
	Offset     int
	Limit      int // 0 = 100
}

// ListIntelligentTasks returns a page of tasks, newest first (ties by id),
// and the total that match.
func (s *Store) ListIntelligentTasks(ctx context.Context, q IntelligentQuery) ([]IntelligentTask, int64, error) {
	var c conds
	c.scope(nil, q.InstanceID)
	c.add(q.NodeID != "", "node_id = ?", q.NodeID)
	c.add(!q.Since.IsZero(), "created_ms >= ?", ms(q.Since))
	c.add(!q.Until.IsZero(), "created_ms <= ?", ms(q.Until))
	cond, args, total, err := s.count(ctx, "intelligent_tasks", c)
	if err != nil {
		return nil, 0, err
	}
	var rows []intelligentRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT `+intelligentCols+` FROM intelligent_tasks`+cond+` ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?`,
		append(args, limitOr(q.Limit, 100), max(q.Offset, 0))...); err != nil {
		return nil, 0, err
	}
	out := make([]IntelligentTask, 0, len(rows))
	for i := range rows {
		t, err := rows[i].task()
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	return out, total, nil
}

// maxIntelligentRecords bounds the per-session rows returned for one task.
const maxIntelligentRecords = 100_000

// IntelligentRecords returns the kill history rows of an intelligent task in
// the order they were written.
func (s *Store) IntelligentRecords(ctx context.Context, taskID string) ([]KillRecord, error) {
	recs, _, err := s.ListKillRecords(ctx, RecordQuery{TaskID: taskID, Source: SourceIntelligent, Limit: maxIntelligentRecords})
	if err != nil {
		return nil, err
	}
	slices.Reverse(recs) // ListKillRecords is newest first
	return recs, nil
}

// abandonedAfter is the age past which an intelligent task that never
// recorded its end is known not to be running: a run lasts at most its
// request's timeout (a minute); the process died during it.
const abandonedAfter = time.Hour

// PruneIntelligentTasks applies the history retention to intelligent-kill
// tasks that have ended: it deletes those that ended before cutoff (if not
// zero), then all but the maxRows (if > 0) that started last. A task that
// has not recorded its end is left alone while it may be running: it goes
// only once it started more than an hour before now and before cutoff
// (its process died mid-run), and it does not count towards maxRows. It
// returns the rows deleted.
func (s *Store) PruneIntelligentTasks(ctx context.Context, cutoff time.Time, maxRows int64, now time.Time) (int64, error) {
	var n int64
	if !cutoff.IsZero() {
		abandoned := min(ms(cutoff), ms(now.Add(-abandonedAfter)))
		d, err := s.exec(ctx, `DELETE FROM intelligent_tasks WHERE (ended_ms <> 0 AND ended_ms < ?) OR (ended_ms = 0 AND created_ms < ?)`, ms(cutoff), abandoned)
		if err != nil {
			return n, err
		}
		n += d
	}
	if maxRows > 0 {
		d, err := s.pruneBeyond(ctx, "intelligent_tasks", "ended_ms <> 0", "created_ms", maxRows)
		n += d
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
