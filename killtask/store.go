package killtask

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// Store persists tasks, the kill history, prepared kills and intelligent-kill
// tasks in SQLite or MySQL through one schema. The API layer never holds
// it: it reaches stored data through the Engine.
//
// Files by job: store.go (open, migrations, dialect), store_tasks.go,
// store_history.go, store_prepared.go, store_intelligent.go,
// store_leases.go; schema.go lists the migrations.
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
		mc, err = parseDSN(cfg.DSN)
		if err != nil {
			return nil, fmt.Errorf("killtask: store dsn: %w", err)
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

// Query helpers shared by the listings and the retention.

// conds collects the AND-ed conditions of a listing and their arguments.
type conds struct {
	where []string
	args  []any
}

// add appends cond and its argument when on.
func (c *conds) add(on bool, cond string, arg any) {
	if on {
		c.where, c.args = append(c.where, cond), append(c.args, arg)
	}
}

// scope adds a listing's instance restriction: in (a caller's scope: nil is
// no restriction, the caller checks an empty one) and one instance id.
func (c *conds) scope(in []string, instanceID string) {
	c.add(in != nil, "instance_id IN (?)", in)
	c.add(instanceID != "", "instance_id = ?", instanceID)
}

// count returns the WHERE clause of c (IN lists expanded), its arguments
// and the number of rows of table it selects.
func (s *Store) count(ctx context.Context, table string, c conds) (cond string, args []any, total int64, err error) {
	cond, args = "", c.args
	if len(c.where) > 0 {
		if cond, args, err = sqlx.In(" WHERE "+strings.Join(c.where, " AND "), c.args...); err != nil {
			return "", nil, 0, err
		}
	}
	err = s.db.GetContext(ctx, &total, `SELECT COUNT(*) FROM `+table+cond, args...)
	return cond, args, total, err
}

// limitOr is a page size: limit, or def when limit is not positive.
func limitOr(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}

// get reads one row into dst; no row is ErrNotFound.
func (s *Store) get(ctx context.Context, dst any, q string, args ...any) error {
	err := s.db.GetContext(ctx, dst, q, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// exec runs a statement and returns the rows it changed.
func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// pruneBeyond deletes, among the rows of table that match cond, all but
// the keep newest by (col, id), and returns how many it deleted.
func (s *Store) pruneBeyond(ctx context.Context, table, cond, col string, keep int64) (int64, error) {
	var last []struct {
		At int64  `db:"at"`
		ID string `db:"id"`
	}
	// The newest row beyond the kept ones; it and everything older go.
	if err := s.db.SelectContext(ctx, &last, `SELECT `+col+` AS at, id FROM `+table+` WHERE `+cond+` ORDER BY `+col+` DESC, id DESC LIMIT 1 OFFSET ?`, keep); err != nil {
		return 0, err
	}
	if len(last) == 0 {
		return 0, nil
	}
	return s.exec(ctx, `DELETE FROM `+table+` WHERE `+cond+` AND (`+col+` < ? OR (`+col+` = ? AND id <= ?))`, last[0].At, last[0].At, last[0].ID)
}

// byteLen is the SQL for the length in bytes of a text column.
func (s *Store) byteLen(col string) string {
	if s.driver == "mysql" {
		return "LENGTH(" + col + ")"
	}
	return "LENGTH(CAST(" + col + " AS BLOB))"
}
