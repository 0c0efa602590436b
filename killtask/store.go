package killtask

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // embedded, pure-Go SQLite driver ("sqlite")
)

// StoreConfig says where tasks and history live.
type StoreConfig struct {
	Driver string // "sqlite" (default) or "mysql"
	DSN    string // sqlite: a file path; mysql: a go-sql-driver DSN
}

// Store persists tasks, the kill history, two-stage kills and intelligent-kill
// tasks in SQLite or MySQL through one schema.
type Store struct {
	db      *sqlx.DB
	driver  string
	replica atomic.Pointer[string] // written into kill_records.replica (see SetReplica)

	// filters caches the parsed filters of the active tasks by task id (a
	// task's filter never changes): ActiveTasks, which every reload and
	// metrics scrape calls, parses a filter once rather than every time.
	filtersMu sync.Mutex
	filters   map[string]Filter
}

// SetReplica sets the replica id written into every kill-history row this
// store writes from now on (the engine sets its own; "" by default).
func (s *Store) SetReplica(id string) { s.replica.Store(&id) }

// Replica returns the id set by SetReplica.
func (s *Store) Replica() string {
	if p := s.replica.Load(); p != nil {
		return *p
	}
	return ""
}

// OpenStore opens the store and applies pending migrations.
func OpenStore(ctx context.Context, cfg StoreConfig) (*Store, error) {
	driver := cfg.Driver
	if driver == "" {
		driver = "sqlite"
	}
	var (
		db  *sqlx.DB
		err error
	)
	switch driver {
	case "sqlite":
		if cfg.DSN == "" {
			return nil, errors.New("killtask: store.dsn is empty")
		}
		db, err = sqlx.Open("sqlite", sqliteDSN(cfg.DSN))
		if err == nil {
			// One writer at a time is SQLite's model; a few readers may share.
			db.SetMaxOpenConns(4)
		}
	case "mysql":
		var mc *mysql.Config
		mc, err = mysql.ParseDSN(cfg.DSN)
		if err != nil {
			return nil, fmt.Errorf("killtask: store dsn: %w", redactDSNError(err))
		}
		if mc.Timeout == 0 {
			mc.Timeout = 5 * time.Second
		}
		if mc.ReadTimeout == 0 {
			mc.ReadTimeout = 30 * time.Second
		}
		if mc.WriteTimeout == 0 {
			mc.WriteTimeout = 30 * time.Second
		}
		var conn *ownConnector
		conn, err = newOwnConnector(mc)
		if err == nil {
			db = sqlx.NewDb(sql.OpenDB(conn), "mysql")
			db.SetMaxOpenConns(16)
			db.SetConnMaxIdleTime(time.Minute)
		}
	default:
		return nil, fmt.Errorf("killtask: unknown store driver %q (want sqlite or mysql)", driver)
	}
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, driver: driver}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// sqliteDSN turns a file path into a modernc DSN with the pragmas we rely on:
// WAL for concurrent readers, FULL sync so an acknowledged write survives a
// crash or power loss, a busy timeout instead of SQLITE_BUSY errors, and
// immediate transactions so read-check-write sequences serialise.
func sqliteDSN(path string) string {
	if strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return path
	}
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)&_txlock=immediate"
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Driver returns "sqlite" or "mysql".
func (s *Store) Driver() string { return s.driver }

// DB exposes the handle for packages of this module that add tables
// (leases) and for tests.
func (s *Store) DB() *sqlx.DB { return s.db }

// Ping checks that the store answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func (s *Store) rewrite(q string) string {
	switch s.driver {
	case "mysql":
		q = strings.ReplaceAll(q, "{{autoinc}}", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY")
		q = strings.ReplaceAll(q, "{{text}}", "MEDIUMTEXT")
		q = strings.ReplaceAll(q, "{{key}}", "VARCHAR(64)")
	default:
		q = strings.ReplaceAll(q, "{{autoinc}}", "INTEGER PRIMARY KEY AUTOINCREMENT")
		q = strings.ReplaceAll(q, "{{text}}", "TEXT")
		q = strings.ReplaceAll(q, "{{key}}", "VARCHAR(64)")
		q = strings.ReplaceAll(q, "BIGINT UNSIGNED", "BIGINT")
	}
	return q
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT NOT NULL PRIMARY KEY)`); err != nil {
		return fmt.Errorf("killtask: migrate: %w", err)
	}
	var applied int
	if err := s.db.GetContext(ctx, &applied, `SELECT COUNT(*) FROM schema_migrations`); err != nil {
		return fmt.Errorf("killtask: migrate: %w", err)
	}
	for i := applied; i < len(migrations); i++ {
		version := i + 1
		// Several replicas may start at once on a shared store: a step that
		// another replica applied first shows up as a duplicate version.
		if _, err := s.db.ExecContext(ctx, s.rewrite(migrations[i])); err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("killtask: migration %d: %w", version, err)
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, version); err != nil && !isDuplicate(err) {
			return fmt.Errorf("killtask: migration %d: %w", version, err)
		}
	}
	return nil
}

func isAlreadyExists(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1050 || me.Number == 1060 || me.Number == 1061 // table exists, duplicate column name, duplicate key name
	}
	return strings.Contains(err.Error(), "already exists") || strings.Contains(err.Error(), "duplicate column name")
}

func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

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
}

const taskCols = `id, instance_id, product, filter_json, filter_key, duration_s, created_ms, expires_ms, status, ended_ms, creator, kills, last_error`

// taskColsNoFilter selects a taskRow without its filter_json (empty).
const taskColsNoFilter = `id, instance_id, product, '' AS filter_json, filter_key, duration_s, created_ms, expires_ms, status, ended_ms, creator, kills, last_error`

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
	key := t.Filter.Key()
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
			if other == "" { // stored before keys: compute it once and keep it
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
		_, err := tx.ExecContext(ctx, `INSERT INTO tasks (`+taskCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			t.ID, t.InstanceID, t.Product, string(fj), key, t.Duration, ms(t.CreatedAt), ms(t.ExpiresAt),
			string(StatusRunning), 0, t.Creator, 0, "")
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

func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("killtask: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("killtask: commit: %w", err)
	}
	return nil
}

// GetTask returns one task by id.
func (s *Store) GetTask(ctx context.Context, id string) (Task, error) {
	var r taskRow
	err := s.db.GetContext(ctx, &r, `SELECT `+taskCols+` FROM tasks WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Task{}, ErrNotFound
	}
	if err != nil {
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
	var where []string
	var args []any
	if q.InstanceIn != nil {
		where, args = append(where, "instance_id IN (?)"), append(args, q.InstanceIn)
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

const recordCols = `source, task_id, instance_id, node_id, product, thread_id, user_name, host, db, command, time_s, state, info, outcome, error, killed_ms`

// AddKillRecords writes a batch of history rows in one transaction and adds
// the successful kills to their tasks' counters.
func (s *Store) AddKillRecords(ctx context.Context, recs []KillRecord) error {
	if len(recs) == 0 {
		return nil
	}
	replica := s.Replica()
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		const chunk = 200
		for start := 0; start < len(recs); start += chunk {
			end := min(start+chunk, len(recs))
			var b strings.Builder
			b.WriteString(`INSERT INTO kill_records (` + recordCols + `, replica) VALUES `)
			args := make([]any, 0, (end-start)*17)
			for i, r := range recs[start:end] {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
				at := r.KilledAt
				if at.IsZero() {
					at = time.Now()
				}
				args = append(args, r.Source, r.TaskID, r.InstanceID, r.NodeID, r.Product, r.ThreadID,
					r.User, r.Host, r.DB, r.Command, r.Time, r.State, r.Info, string(r.Outcome), r.Error, ms(at), replica)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return err
			}
		}
		killed := map[string]int64{}
		for _, r := range recs {
			if r.Source == SourceTask && r.TaskID != "" && r.Outcome == OutcomeKilled {
				killed[r.TaskID]++
			}
		}
		for id, n := range killed {
			if _, err := tx.ExecContext(ctx, `UPDATE tasks SET kills = kills + ? WHERE id = ?`, n, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordQuery selects kill history rows. Zero values do not filter.
type RecordQuery struct {
	InstanceID string
	InstanceIn []string // as TaskQuery.InstanceIn
	TaskID     string
	Source     string
	Since      time.Time // inclusive
	Until      time.Time // exclusive
	Offset     int
	Limit      int // 0 = 20
	// MaxInfo > 0 reads only the start of long statement texts: at most
	// MaxInfo+1 characters, with the full length in KillRecord.InfoLen.
	MaxInfo int
}

type recordRow struct {
	ID int64 `db:"id"`
	KillRecord
	KilledMS int64 `db:"killed_ms"`
}

// ListKillRecords returns a page of history rows, newest first, and the total.
func (s *Store) ListKillRecords(ctx context.Context, q RecordQuery) ([]KillRecord, int64, error) {
	if q.InstanceIn != nil && len(q.InstanceIn) == 0 {
		return []KillRecord{}, 0, nil
	}
	var where []string
	var args []any
	if q.InstanceIn != nil {
		where, args = append(where, "instance_id IN (?)"), append(args, q.InstanceIn)
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
	info, infoLen := "info", "0"
	if q.MaxInfo > 0 {
		// Only the start of each statement text, and its full length in
		// bytes: a listing never holds megabytes of SQL per row.
		info, infoLen = "SUBSTR(info, 1, "+strconv.Itoa(q.MaxInfo+1)+")", s.byteLen("info")
	}
	cols := `id, source, task_id, instance_id, node_id, product, thread_id, user_name, host, db, command, time_s, state, ` +
		info + `, outcome, error, killed_ms, replica, ` + infoLen
	rows, err := s.db.QueryxContext(ctx, `SELECT `+cols+` FROM kill_records`+cond+` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, limit, q.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []KillRecord
	for rows.Next() {
		var r KillRecord
		var outcome string
		var killedMS int64
		if err := rows.Scan(&r.ID, &r.Source, &r.TaskID, &r.InstanceID, &r.NodeID, &r.Product, &r.ThreadID,
			&r.User, &r.Host, &r.DB, &r.Command, &r.Time, &r.State, &r.Info, &outcome, &r.Error, &killedMS, &r.Replica, &r.InfoLen); err != nil {
			return nil, 0, err
		}
		if r.InfoLen <= len(r.Info) {
			r.InfoLen = 0 // whole
		}
		r.Outcome, r.KilledAt = Outcome(outcome), fromMS(killedMS)
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// byteLen is the SQL for the length in bytes of a text column.
func (s *Store) byteLen(col string) string {
	if s.driver == "mysql" {
		return "LENGTH(" + col + ")"
	}
	return "LENGTH(CAST(" + col + " AS BLOB))"
}

// PruneHistory deletes history rows older than cutoff (if not zero) and then
// the oldest rows beyond maxRows (if > 0). It returns the rows deleted.
func (s *Store) PruneHistory(ctx context.Context, cutoff time.Time, maxRows int64) (int64, error) {
	var n int64
	if !cutoff.IsZero() {
		res, err := s.db.ExecContext(ctx, `DELETE FROM kill_records WHERE killed_ms < ?`, ms(cutoff))
		if err != nil {
			return n, err
		}
		d, _ := res.RowsAffected()
		n += d
	}
	if maxRows > 0 {
		var ids []int64
		if err := s.db.SelectContext(ctx, &ids, `SELECT id FROM kill_records ORDER BY id DESC LIMIT 1 OFFSET ?`, maxRows); err != nil {
			return n, err
		}
		if len(ids) == 1 {
			res, err := s.db.ExecContext(ctx, `DELETE FROM kill_records WHERE id <= ?`, ids[0])
			if err != nil {
				return n, err
			}
			d, _ := res.RowsAffected()
			n += d
		}
	}
	return n, nil
}

// PruneTasks applies the history retention to kill tasks that have ended
// (Finished or Cancelled; a Running task is never deleted, whatever its
// age): it deletes those that ended before cutoff (if not zero), then all
// but the maxRows (if > 0) that ended last. It returns the rows deleted.
func (s *Store) PruneTasks(ctx context.Context, cutoff time.Time, maxRows int64) (int64, error) {
	var n int64
	if !cutoff.IsZero() {
		res, err := s.db.ExecContext(ctx, `DELETE FROM tasks WHERE status <> 'Running' AND ended_ms < ?`, ms(cutoff))
		if err != nil {
			return n, err
		}
		d, _ := res.RowsAffected()
		n += d
	}
	if maxRows > 0 {
		var last []struct {
			EndedMS int64  `db:"ended_ms"`
			ID      string `db:"id"`
		}
		// The newest row beyond the kept ones; it and everything older go.
		if err := s.db.SelectContext(ctx, &last, `SELECT ended_ms, id FROM tasks WHERE status <> 'Running' ORDER BY ended_ms DESC, id DESC LIMIT 1 OFFSET ?`, maxRows); err != nil {
			return n, err
		}
		if len(last) == 1 {
			res, err := s.db.ExecContext(ctx, `DELETE FROM tasks WHERE status <> 'Running' AND (ended_ms < ? OR (ended_ms = ? AND id <= ?))`,
				last[0].EndedMS, last[0].EndedMS, last[0].ID)
			if err != nil {
				return n, err
			}
			d, _ := res.RowsAffected()
			n += d
		}
	}
	return n, nil
}

// SqlExec is a prepared two-stage kill.
type SqlExec struct {
	ID         string
	InstanceID string
	Product    string
	Threads    []uint64
	// Targets are the sessions found at Prepare: node and connection
	// identity of each thread id (ids not found have no target).
	Targets   []Process
	Nodes     []string // node of each target
	CreatedAt time.Time
	ExpiresAt time.Time
	Creator   string
}

// sqlExecPayload is what threads_json holds (a bare id list in rows
// written before targets existed).
type sqlExecPayload struct {
	Threads []uint64  `json:"threads"`
	Targets []Process `json:"targets,omitempty"`
	Nodes   []string  `json:"nodes,omitempty"`
}

// PutSqlExec stores a prepared two-stage kill.
func (s *Store) PutSqlExec(ctx context.Context, e SqlExec) error {
	tj, err := json.Marshal(sqlExecPayload{Threads: e.Threads, Targets: e.Targets, Nodes: e.Nodes})
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO sql_execs (id, instance_id, product, threads_json, created_ms, expires_ms, committed_ms, creator) VALUES (?,?,?,?,?,?,0,?)`,
		e.ID, e.InstanceID, e.Product, string(tj), ms(e.CreatedAt), ms(e.ExpiresAt), e.Creator)
	return err
}

// TakeSqlExec consumes a prepared kill exactly once: it returns ErrNotFound
// for an unknown id (or one of another instance), ErrExpired after its expiry
// and ErrUsed for a second commit. The claim is a single conditional UPDATE,
// so two concurrent commits (on one or several replicas) cannot both win.
func (s *Store) TakeSqlExec(ctx context.Context, id, instanceID string, now time.Time) (SqlExec, error) {
	var row struct {
		ID          string `db:"id"`
		InstanceID  string `db:"instance_id"`
		Product     string `db:"product"`
		ThreadsJSON string `db:"threads_json"`
		CreatedMS   int64  `db:"created_ms"`
		ExpiresMS   int64  `db:"expires_ms"`
		CommittedMS int64  `db:"committed_ms"`
		Creator     string `db:"creator"`
	}
	err := s.db.GetContext(ctx, &row, `SELECT id, instance_id, product, threads_json, created_ms, expires_ms, committed_ms, creator FROM sql_execs WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && row.InstanceID != instanceID) {
		return SqlExec{}, ErrNotFound
	}
	if err != nil {
		return SqlExec{}, err
	}
	if row.CommittedMS != 0 {
		return SqlExec{}, ErrUsed
	}
	if row.ExpiresMS <= ms(now) {
		return SqlExec{}, ErrExpired
	}
	res, err := s.db.ExecContext(ctx, `UPDATE sql_execs SET committed_ms = ? WHERE id = ? AND committed_ms = 0 AND expires_ms > ?`, ms(now), id, ms(now))
	if err != nil {
		return SqlExec{}, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return SqlExec{}, ErrUsed
	}
	e := SqlExec{ID: row.ID, InstanceID: row.InstanceID, Product: row.Product, CreatedAt: fromMS(row.CreatedMS), ExpiresAt: fromMS(row.ExpiresMS), Creator: row.Creator}
	if strings.HasPrefix(row.ThreadsJSON, "[") {
		err = json.Unmarshal([]byte(row.ThreadsJSON), &e.Threads)
	} else {
		var pl sqlExecPayload
		err = json.Unmarshal([]byte(row.ThreadsJSON), &pl)
		e.Threads, e.Targets, e.Nodes = pl.Threads, pl.Targets, pl.Nodes
	}
	if err != nil || len(e.Targets) != len(e.Nodes) {
		return SqlExec{}, fmt.Errorf("killtask: prepared kill %s is malformed: %v", row.ID, err)
	}
	return e, nil
}

// PruneSqlExecs deletes prepared kills that expired before cutoff.
func (s *Store) PruneSqlExecs(ctx context.Context, cutoff time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sql_execs WHERE expires_ms < ?`, ms(cutoff))
	return err
}

// whereIn joins conditions with AND and expands IN (?) lists.
func whereIn(where []string, args []any) (string, []any, error) {
	if len(where) == 0 {
		return "", args, nil
	}
	return sqlx.In(" WHERE "+strings.Join(where, " AND "), args...)
}
