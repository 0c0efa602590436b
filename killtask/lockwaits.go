package killtask

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/DataDog/go-sqllexer"
	"github.com/go-sql-driver/mysql"
)

// Lock waits read beside the processlist for the blocking filters
// (MinBlocked, MinBlockTime): row-lock waits from information_schema or
// performance_schema, metadata-lock waits where the server exposes them, and
// the heads of the chains they form. The reads themselves are scheduled by
// enrich.go.

// LockWait is one session waiting for a lock another session holds.
type LockWait struct {
	Node     string // the node (set by PreviewTask)
	Waiting  uint64 // thread id of the session that waits
	Blocking uint64 // thread id of a session holding what it waits for
	Wait     int64  // seconds it has waited
	Kind     string // LockRow or LockMetadata
}

// Lock kinds of a LockWait.
const (
	LockRow      = "row"
	LockMetadata = "metadata"
)

// Row-lock waits: MariaDB and MySQL 5.7 expose them in information_schema;
// MySQL 8.0 moved them to performance_schema.data_lock_waits (joined to
// INNODB_TRX on the engine transaction ids, as its sys.innodb_lock_waits
// view does). A waiting request is listed once per lock that blocks it:
// the holder's and those of earlier waiters in the queue.
const (
	rowWaitsInfoSchema = "SELECT /* killgate */ r.trx_mysql_thread_id, b.trx_mysql_thread_id, TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()) " +
		"FROM information_schema.INNODB_LOCK_WAITS w " +
		"JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id " +
		"JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id"
	rowWaitsPerfSchema = "SELECT /* killgate */ r.trx_mysql_thread_id, b.trx_mysql_thread_id, TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()) " +
		"FROM performance_schema.data_lock_waits w " +
		"JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID " +
		"JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID"
)

// mdlSource is where a node shows metadata locks.
type mdlSource int

const (
	mdlUnknown mdlSource = iota
	mdlNone              // not exposed: metadata-lock waits are not seen
	// mdlPerfSchema: performance_schema.metadata_locks (MySQL 5.7+ and
	// MariaDB 10.5+ with performance_schema on and the
	// wait/lock/metadata/sql/mdl instrument enabled) lists granted and
	// pending locks: a pending lock waits for every other session's
	// granted lock on the same object.
	mdlPerfSchema
	// mdlLockInfo: MariaDB's information_schema.METADATA_LOCK_INFO (the
	// metadata_lock_info plugin) lists granted locks only; see
	// mdlLockInfoWaits for how waiters are tied to them.
	mdlLockInfo
)

// mdlRedetect is how often a node without a metadata-lock source looks
// again (an operator may install the plugin or enable the instrument).
const mdlRedetect = 10 * time.Minute

// User-level locks (GET_LOCK) are left out: an application's advisory
// lock (a leader's, typically) is not a pile-up to clear.
const mdlPerfSchemaWaits = "SELECT /* killgate */ wt.PROCESSLIST_ID, bt.PROCESSLIST_ID, wt.PROCESSLIST_TIME " +
	"FROM performance_schema.metadata_locks w " +
	"JOIN performance_schema.metadata_locks b ON b.OBJECT_TYPE = w.OBJECT_TYPE AND b.OBJECT_SCHEMA <=> w.OBJECT_SCHEMA " +
	"AND b.OBJECT_NAME <=> w.OBJECT_NAME AND b.LOCK_STATUS = 'GRANTED' AND b.OWNER_THREAD_ID <> w.OWNER_THREAD_ID " +
	"JOIN performance_schema.threads wt ON wt.THREAD_ID = w.OWNER_THREAD_ID " +
	"JOIN performance_schema.threads bt ON bt.THREAD_ID = b.OWNER_THREAD_ID " +
	"WHERE w.LOCK_STATUS = 'PENDING' AND w.OBJECT_TYPE <> 'USER LEVEL LOCK' AND wt.PROCESSLIST_ID IS NOT NULL AND bt.PROCESSLIST_ID IS NOT NULL"

const (
	mdlLockInfoHolders = "SELECT /* killgate */ THREAD_ID, IFNULL(TABLE_SCHEMA, ''), IFNULL(TABLE_NAME, '') " +
		"FROM information_schema.METADATA_LOCK_INFO WHERE LOCK_TYPE = 'Table metadata lock'"
	mdlLockInfoWaiters = "SELECT /* killgate */ ID, IFNULL(DB, ''), IFNULL(STATE, ''), IFNULL(INFO, ''), TIME " +
		"FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock'"
)

// readLockWaits reads the node's row-lock and metadata-lock waits, all
// from the server (not from the rows at hand: a re-check holds only the
// candidates, not their waiters). The queries are detected once per node;
// a metadata-lock wait's time is the waiting session's TIME.
func (n *node) readLockWaits(ctx context.Context, c *sql.Conn) ([]LockWait, error) {
	rw, err := n.rowWaitsQuery(ctx, c)
	if err != nil {
		return nil, err
	}
	waits, err := queryWaits(ctx, c, rw, LockRow)
	if err != nil {
		return nil, err
	}
	switch n.mdlSource(ctx, c) {
	case mdlPerfSchema:
		mw, err := queryWaits(ctx, c, mdlPerfSchemaWaits, LockMetadata)
		if err != nil {
			return nil, err
		}
		waits = append(waits, mw...)
	case mdlLockInfo:
		holders, err := readMDLHolders(ctx, c)
		if err != nil {
			return nil, err
		}
		waiters, err := readMDLWaiters(ctx, c)
		if err != nil {
			return nil, err
		}
		waits = append(waits, mdlLockInfoWaits(waiters, holders)...)
	}
	return waits, nil
}

// rowWaitsQuery returns the node's row-lock-wait query, detecting it: the
// information_schema one where INNODB_LOCK_WAITS exists, else
// performance_schema's.
func (n *node) rowWaitsQuery(ctx context.Context, c *sql.Conn) (string, error) {
	n.x.mu.Lock()
	q := n.x.rowWaits
	n.x.mu.Unlock()
	if q != "" {
		return q, nil
	}
	var errs []error
	for _, q := range []string{rowWaitsInfoSchema, rowWaitsPerfSchema} {
		rows, err := c.QueryContext(ctx, q+" LIMIT 0")
		if err != nil {
			if !isNoSuchTable(err) {
				return "", err
			}
			errs = append(errs, err)
			continue
		}
		rows.Close()
		n.x.mu.Lock()
		n.x.rowWaits = q
		n.x.mu.Unlock()
		return q, nil
	}
	return "", errors.Join(append([]error{errors.New("no row-lock wait table (information_schema.INNODB_LOCK_WAITS, performance_schema.data_lock_waits)")}, errs...)...)
}

// isNoSuchTable: 1109 unknown table (information_schema), 1146 table does
// not exist.
func isNoSuchTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1109 || me.Number == 1146)
}

// mdlSource returns where the node shows metadata locks, detecting it
// (again after mdlRedetect when none was found). Detection errors count as
// none for now.
func (n *node) mdlSource(ctx context.Context, c *sql.Conn) mdlSource {
	n.x.mu.Lock()
	src, at := n.x.mdl, n.x.mdlAt
	n.x.mu.Unlock()
	if src != mdlUnknown && (src != mdlNone || time.Since(at) < mdlRedetect) {
		return src
	}
	src = detectMDL(ctx, c)
	n.x.mu.Lock()
	n.x.mdl, n.x.mdlAt = src, time.Now()
	n.x.mu.Unlock()
	return src
}

func detectMDL(ctx context.Context, c *sql.Conn) mdlSource {
	var on sql.NullString
	if c.QueryRowContext(ctx, "SELECT /* killgate */ @@performance_schema").Scan(&on) == nil && (on.String == "1" || strings.EqualFold(on.String, "ON")) {
		var enabled sql.NullString
		err := c.QueryRowContext(ctx, "SELECT /* killgate */ ENABLED FROM performance_schema.setup_instruments WHERE NAME = 'wait/lock/metadata/sql/mdl'").Scan(&enabled)
		if err == nil && strings.EqualFold(enabled.String, "YES") {
			return mdlPerfSchema
		}
	}
	var name string
	if c.QueryRowContext(ctx, "SELECT /* killgate */ PLUGIN_NAME FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'").Scan(&name) == nil {
		return mdlLockInfo
	}
	return mdlNone
}

// queryRows runs q on c and scans every row with scan.
func queryRows[T any](ctx context.Context, c *sql.Conn, q string, scan func(*sql.Rows, *T) error) ([]T, error) {
	rows, err := c.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var x T
		if err := scan(rows, &x); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// queryWaits reads waits (waiting thread, blocking thread, seconds) of one
// kind; a thread waiting for itself or for thread 0 (a background
// transaction) is left out.
func queryWaits(ctx context.Context, c *sql.Conn, q, kind string) ([]LockWait, error) {
	all, err := queryRows(ctx, c, q, func(r *sql.Rows, w *LockWait) error {
		var wait sql.NullInt64
		if err := r.Scan(&w.Waiting, &w.Blocking, &wait); err != nil {
			return err
		}
		w.Wait, w.Kind = max(wait.Int64, 0), kind
		if kind == LockRow {
			w.Wait = secondsSince(wait.Int64) // trx_wait_started has whole seconds
		}
		return nil
	})
	out := all[:0]
	for _, w := range all {
		if w.Waiting != 0 && w.Blocking != 0 && w.Waiting != w.Blocking {
			out = append(out, w)
		}
	}
	return out, err
}

// mdlHolder is a session holding a table metadata lock.
type mdlHolder struct {
	thread        uint64
	schema, table string
}

func readMDLHolders(ctx context.Context, c *sql.Conn) ([]mdlHolder, error) {
	return queryRows(ctx, c, mdlLockInfoHolders, func(r *sql.Rows, h *mdlHolder) error {
		return r.Scan(&h.thread, &h.schema, &h.table)
	})
}

// readMDLWaiters reads the sessions waiting for a table metadata lock.
func readMDLWaiters(ctx context.Context, c *sql.Conn) ([]Process, error) {
	return queryRows(ctx, c, mdlLockInfoWaiters, func(r *sql.Rows, p *Process) error {
		return r.Scan(&p.ID, &p.DB, &p.State, &p.Info, &p.Time)
	})
}

// mdlLockInfoWaits ties the sessions waiting for a table metadata lock
// (State "Waiting for table metadata lock") to the holders METADATA_LOCK_INFO
// shows. That table lists granted locks only, so the table a waiter waits
// for is read from its statement: only a statement naming exactly one table
// (ALTER TABLE t, SELECT … FROM t, …; an unqualified name is in the
// session's DB) is tied, to every other session holding a metadata lock on
// that table. A waiter whose statement names several tables or none is
// left out rather than guessed at.
func mdlLockInfoWaits(ps []Process, holders []mdlHolder) []LockWait {
	if len(holders) == 0 {
		return nil
	}
	byTable := map[[2]string][]uint64{}
	for _, h := range holders {
		k := [2]string{strings.ToLower(h.schema), strings.ToLower(h.table)}
		byTable[k] = append(byTable[k], h.thread)
	}
	var out []LockWait
	for i := range ps {
		p := &ps[i]
		if !containsFoldASCII(p.State, "waiting for table metadata lock") {
			continue
		}
		schema, table, ok := singleTable(p.Info, p.DB)
		if !ok {
			continue
		}
		for _, h := range byTable[[2]string{schema, table}] {
			if h != p.ID {
				out = append(out, LockWait{Waiting: p.ID, Blocking: h, Wait: max(p.Time, 0), Kind: LockMetadata})
			}
		}
	}
	return out
}

// singleTable returns the one table a statement names (lower-cased, the
// schema defaulting to db), or false when it names none or several.
func singleTable(stmt, db string) (schema, table string, ok bool) {
	if stmt == "" {
		return "", "", false
	}
	_, meta, err := tableNormalizer.Normalize(stmt, sqllexer.WithDBMS(sqllexer.DBMSMySQL))
	if err != nil || meta == nil || len(meta.Tables) != 1 {
		return "", "", false
	}
	name := strings.ReplaceAll(meta.Tables[0], "`", "")
	schema, table, found := strings.Cut(name, ".")
	if !found {
		schema, table = db, name
	}
	if schema == "" || table == "" {
		return "", "", false
	}
	return strings.ToLower(schema), strings.ToLower(table), true
}

// applyLockWaits sets the lock fields of ps (Waiting, Blocked, BlockTime)
// from the waits read on the node:
//
//   - Waiting: the session waits for a lock.
//   - Blocked: every session waiting on it, directly or through others
//     (a chain A ← B ← C counts B and C for A), each once; a cycle (a
//     deadlock the server has not resolved yet) is walked once.
//   - BlockTime: how long it has held others up, judged conservatively:
//     the longest wait of a session waiting on it directly, but at most its
//     own TIME. The cap matters once a head dies: the next session in the
//     queue gets the lock, and its waiters' waits count from when they began
//     waiting, long before it held anything; its TIME restarts when its
//     statement finishes, so it is not taken for a long-standing blocker.
//
// The head of a chain is a session that blocks others and waits for
// nothing itself (Blocked not empty, Waiting false): only heads match a
// Blocking filter (see Filter.match).
func applyLockWaits(ps []Process, waits []LockWait) {
	if len(waits) == 0 {
		return
	}
	direct := map[uint64][]uint64{} // blocker → its direct waiters
	longest := map[uint64]int64{}   // blocker → longest direct wait
	waiting := map[uint64]bool{}
	for _, w := range waits {
		waiting[w.Waiting] = true
		if !slices.Contains(direct[w.Blocking], w.Waiting) {
			direct[w.Blocking] = append(direct[w.Blocking], w.Waiting)
		}
		longest[w.Blocking] = max(longest[w.Blocking], w.Wait)
	}
	for i := range ps {
		p := &ps[i]
		p.Waiting = waiting[p.ID]
		ws := slices.Clone(direct[p.ID])
		if len(ws) == 0 {
			continue
		}
		seen := map[uint64]bool{p.ID: true}
		var all []uint64
		for len(ws) > 0 {
			id := ws[len(ws)-1]
			ws = ws[:len(ws)-1]
			if seen[id] {
				continue
			}
			seen[id] = true
			all = append(all, id)
			ws = append(ws, direct[id]...)
		}
		slices.Sort(all)
		p.Blocked = all
		p.BlockTime = min(longest[p.ID], max(p.Time, 0))
	}
}
