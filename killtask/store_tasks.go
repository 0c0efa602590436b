package killtask

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// Kill tasks in the store: creation with its atomic limit and duplicate
// checks, the active set, cancel and expiry, listing and retention.

type taskRow struct {
	ID         string `db:"id"`
	InstanceID string `db:"instance_id"`
	Product    string `db:"product"`
	FilterJSON string `db:"filter_json"`
	FilterKey  string `db:"filter_key"`
	Duration   int64  `db:"duration_s"`
	CreatedMS  int64  `db:"created_ms"`
	ExpiresMS  int64  `db:"expires_ms"`
	Status     string `db:"status"`
	EndedMS    int64  `db:"ended_ms"`
	Creator    string `db:"creator"`
	Kills      int64  `db:"kills"`
	LastError  string `db:"last_error"`
	KillMode   string `db:"kill_mode"`
	Observe    int64  `db:"observe"`
	Observed   int64  `db:"observed"`
}

const taskCols = `id, instance_id, product, filter_json, filter_key, duration_s, created_ms, expires_ms, status, ended_ms, creator, kills, last_error, kill_mode, observe, observed`

// taskColsNoFilter selects a taskRow without its filter_json (empty).
const taskColsNoFilter = `id, instance_id, product, '' AS filter_json, filter_key, duration_s, created_ms, expires_ms, status, ended_ms, creator, kills, last_error, kill_mode, observe, observed`

// filterParses counts filter_json parses (tests check that unchanged tasks
// are not parsed again).
var filterParses atomic.Int64

func parseFilter(id, js string) (Filter, error) {
	filterParses.Add(1)
	var f Filter
	if err := json.Unmarshal([]byte(js), &f); err != nil {
		return f, fmt.Errorf("killtask: task %s: bad filter: %w", id, err)
	}
	return f, nil
}

// fields returns the task without its filter.
func (r *taskRow) fields() Task {
	return Task{
		ID: r.ID, InstanceID: r.InstanceID, Product: r.Product, Duration: r.Duration,
		CreatedAt: fromMS(r.CreatedMS), ExpiresAt: fromMS(r.ExpiresMS), Status: Status(r.Status),
		EndedAt: fromMS(r.EndedMS), Creator: r.Creator, Kills: r.Kills, LastError: r.LastError,
		Mode: KillMode(r.KillMode).orDefault(), Observe: r.Observe != 0, Observed: r.Observed,
	}
}

func (r *taskRow) task() (Task, error) {
	t := r.fields()
	var err error
	t.Filter, err = parseFilter(r.ID, r.FilterJSON)
	return t, err
}

// activeCond selects tasks that are running and not yet past their expiry.
const activeCond = `status = 'Running' AND (expires_ms = 0 OR expires_ms > ?)`

// CreateTask stores t as a running task after checking, atomically with the
// insert, that the instance has fewer than maxActive active tasks
// (ErrLimitExceeded) and no active task with an identical filter
// (ErrDuplicate). t.ID, t.CreatedAt and t.Duration must be set; ExpiresAt is
// derived here. When CreateTask returns nil the task is committed.
func (s *Store) CreateTask(ctx context.Context, t *Task, maxActive int) error {
	t.Filter = t.Filter.Normalize()
	t.Status = StatusRunning
	t.CreatedAt = t.CreatedAt.UTC().Truncate(time.Millisecond)
	if t.Duration != Forever {
		t.ExpiresAt = t.CreatedAt.Add(time.Duration(t.Duration) * time.Second)
	}
	fj, err := json.Marshal(t.Filter)
	if err != nil {
		return err
	}
	// The duplicate check compares canonical keys, computed here once and
	// outside the transaction: inside it (which serialises every task
	// change of the instance, across replicas) it reads one short key per
	// active task.
	t.Mode = t.Mode.orDefault()
	key := t.Key()
	if err := s.ensureLockRow(ctx, t.InstanceID); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockInstance(ctx, tx, t.InstanceID); err != nil {
			return err
		}
		var rows []struct {
			ID         string `db:"id"`
			FilterKey  string `db:"filter_key"`
			FilterJSON string `db:"filter_json"` // only for rows stored without a key
		}
		if err := tx.SelectContext(ctx, &rows, `SELECT id, filter_key, CASE WHEN filter_key = '' THEN filter_json ELSE '' END AS filter_json FROM tasks WHERE instance_id = ? AND `+activeCond, t.InstanceID, ms(t.CreatedAt)); err != nil {
			return err
		}
		for _, r := range rows {
			other := r.FilterKey
			if other == "" { // stored before keys (and modes: a CONNECTION task's key is its filter's): compute it once and keep it
				f, err := parseFilter(r.ID, r.FilterJSON)
				if err != nil {
					return err
				}
				other = f.Key()
				if _, err := tx.ExecContext(ctx, `UPDATE tasks SET filter_key = ? WHERE id = ?`, other, r.ID); err != nil {
					return err
				}
			}
			if other == key {
				return fmt.Errorf("%w: task %s", ErrDuplicate, r.ID)
			}
		}
		if maxActive > 0 && len(rows) >= maxActive {
			return fmt.Errorf("%w: %d active on %s", ErrLimitExceeded, len(rows), t.InstanceID)
		}
		observe := 0
		if t.Observe {
			observe = 1
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tasks (`+taskCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			t.ID, t.InstanceID, t.Product, string(fj), key, t.Duration, ms(t.CreatedAt), ms(t.ExpiresAt),
			string(StatusRunning), 0, t.Creator, 0, "", string(t.Mode), observe, 0)
		return err
	})
}

// lockInstance serialises task changes of one instance across replicas
// sharing a MySQL store. SQLite transactions are already exclusive
// (_txlock=immediate). The lock row must exist (ensureLockRow) before the
// transaction: creating it inside concurrent transactions (INSERT IGNORE,
// then FOR UPDATE) deadlocks, since every waiter of the duplicate key holds a
// shared lock it then tries to upgrade.
func (s *Store) lockInstance(ctx context.Context, tx *sqlx.Tx, instanceID string) error {
	if s.driver != "mysql" {
		return nil
	}
	var id string
	return tx.GetContext(ctx, &id, `SELECT instance_id FROM instance_locks WHERE instance_id = ? FOR UPDATE`, instanceID)
}

// ensureLockRow creates the instance's lock row in its own (autocommit)
// statement.
func (s *Store) ensureLockRow(ctx context.Context, instanceID string) error {
	if s.driver != "mysql" {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO instance_locks (instance_id) VALUES (?)`, instanceID)
	return err
}

// GetTask returns one task by id.
func (s *Store) GetTask(ctx context.Context, id string) (Task, error) {
	var r taskRow
	if err := s.get(ctx, &r, `SELECT `+taskCols+` FROM tasks WHERE id = ?`, id); err != nil {
		return Task{}, err
	}
	return r.task()
}

// ActiveTasks returns every task that is running and not expired at now,
// oldest first.
//
// A task's filter is parsed once: the query leaves filter_json out, and the
// filters of tasks seen before come from a cache of the active tasks'
// filters; only new tasks' filters are read and parsed.
func (s *Store) ActiveTasks(ctx context.Context, now time.Time) ([]Task, error) {
	var rows []taskRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT `+taskColsNoFilter+` FROM tasks WHERE `+activeCond+` ORDER BY created_ms, id`, ms(now)); err != nil {
		return nil, err
	}
	out := make([]Task, len(rows))
	var missing []string
	have := make([]bool, len(rows))
	s.filtersMu.Lock()
	for i := range rows {
		out[i] = rows[i].fields()
		if f, ok := s.filters[rows[i].ID]; ok {
			out[i].Filter, have[i] = f, true
		} else {
			missing = append(missing, rows[i].ID)
		}
	}
	s.filtersMu.Unlock()
	parsed := map[string]Filter{}
	if len(missing) > 0 {
		q, args, err := sqlx.In(`SELECT id, filter_json FROM tasks WHERE id IN (?)`, missing)
		if err != nil {
			return nil, err
		}
		var fr []struct {
			ID   string `db:"id"`
			JSON string `db:"filter_json"`
		}
		if err := s.db.SelectContext(ctx, &fr, q, args...); err != nil {
			return nil, err
		}
		for _, r := range fr {
			f, err := parseFilter(r.ID, r.JSON)
			if err != nil {
				return nil, err
			}
			parsed[r.ID] = f
		}
	}
	s.filtersMu.Lock()
	defer s.filtersMu.Unlock()
	keep := make(map[string]Filter, len(out))
	res := out[:0]
	for i := range out {
		t := out[i]
		if !have[i] {
			f, ok := parsed[t.ID]
			if !ok {
				continue // deleted between the two reads: no longer active
			}
			t.Filter = f
		}
		keep[t.ID] = t.Filter
		res = append(res, t)
	}
	s.filters = keep // the cache holds the active tasks only
	return res, nil
}

func rowsToTasks(rows []taskRow) ([]Task, error) {
	out := make([]Task, 0, len(rows))
	for i := range rows {
		t, err := rows[i].task()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// FinishExpired marks running tasks whose expiry is at or before now as
// Finished, with EndedAt = their expiry (not now: downtime never extends a
// task, and a task that expired while the process was down ends when it
// should have). It returns the number of tasks finished.
func (s *Store) FinishExpired(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE tasks SET status = 'Finished', ended_ms = expires_ms WHERE status = 'Running' AND expires_ms <> 0 AND expires_ms <= ?`, ms(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// CancelTasks cancels every active task of the instance and returns their ids.
// With none active it returns ErrNotFound.
func (s *Store) CancelTasks(ctx context.Context, instanceID string, now time.Time) ([]string, error) {
	var ids []string
	if err := s.ensureLockRow(ctx, instanceID); err != nil {
		return nil, err
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockInstance(ctx, tx, instanceID); err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &ids, `SELECT id FROM tasks WHERE instance_id = ? AND `+activeCond, instanceID, ms(now)); err != nil {
			return err
		}
		if len(ids) == 0 {
			return ErrNotFound
		}
		q, args, err := sqlx.In(`UPDATE tasks SET status = 'Cancelled', ended_ms = ? WHERE id IN (?)`, ms(now), ids)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, q, args...)
		return err
	})
	return ids, err
}

// SetTaskError records the latest enforcement error of tasks (empty clears it).
func (s *Store) SetTaskError(ctx context.Context, taskIDs []string, msg string) error {
	if len(taskIDs) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`UPDATE tasks SET last_error = ? WHERE id IN (?)`, msg, taskIDs)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, q, args...)
	return err
}

// TaskQuery selects tasks for listing. Zero values do not filter.
type TaskQuery struct {
	InstanceID string
	// InstanceIn restricts the result to these instances (a caller's
	// scope): nil means no restriction, an empty non-nil slice selects
	// nothing.
	InstanceIn []string
	TaskID     string
	Status     Status
	Offset     int
	Limit      int // 0 = 20
}

// ListTasks returns a page of tasks, newest first, and the total count.
// Tasks past their expiry are reported Finished even before the worker has
// marked them.
func (s *Store) ListTasks(ctx context.Context, q TaskQuery, now time.Time) ([]Task, int64, error) {
	if q.InstanceIn != nil && len(q.InstanceIn) == 0 {
		return []Task{}, 0, nil
	}
	if _, err := s.FinishExpired(ctx, now); err != nil {
		return nil, 0, err
	}
	var c conds
	c.scope(q.InstanceIn, q.InstanceID)
	c.add(q.TaskID != "", "id = ?", q.TaskID)
	c.add(q.Status != "", "status = ?", string(q.Status))
	cond, args, total, err := s.count(ctx, "tasks", c)
	if err != nil {
		return nil, 0, err
	}
	var rows []taskRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT `+taskCols+` FROM tasks`+cond+` ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?`, append(args, limitOr(q.Limit, 20), q.Offset)...); err != nil {
		return nil, 0, err
	}
	tasks, err := rowsToTasks(rows)
	return tasks, total, err
}

// PruneTasks applies the history retention to kill tasks that have ended
// (Finished or Cancelled; a Running task is never deleted, whatever its
// age): it deletes those that ended before cutoff (if not zero), then all
// but the maxRows (if > 0) that ended last. It returns the rows deleted.
func (s *Store) PruneTasks(ctx context.Context, cutoff time.Time, maxRows int64) (int64, error) {
	var n int64
	if !cutoff.IsZero() {
		d, err := s.exec(ctx, `DELETE FROM tasks WHERE status <> 'Running' AND ended_ms < ?`, ms(cutoff))
		if err != nil {
			return n, err
		}
		n += d
	}
	if maxRows > 0 {
		d, err := s.pruneBeyond(ctx, "tasks", "status <> 'Running'", "ended_ms", maxRows)
		n += d
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ActiveTaskIDs returns the ids of the instance's tasks that are running and
// not expired at now.
func (s *Store) ActiveTaskIDs(ctx context.Context, instanceID string, now time.Time) ([]string, error) {
	var ids []string
	err := s.db.SelectContext(ctx, &ids, `SELECT id FROM tasks WHERE instance_id = ? AND `+activeCond, instanceID, ms(now))
	return ids, err
}
