package killtask

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/DataDog/go-sqllexer"
	"go.uber.org/zap"
)

// tableNormalizer collects the tables a statement names (singleTable).
var tableNormalizer = sqllexer.NewNormalizer(sqllexer.WithCollectTables(true))

// What a filter needs beyond the processlist, read beside it only while an
// active task (or a preview) needs it: the sessions' InnoDB transactions
// (TrxTime) and who waits for whose locks (BlockingCount, BlockingTime).
// A read that fails leaves the rows as they were: a filter that needs it
// then matches nothing (the safe direction) until a read succeeds.

// needs says which reads a set of filters needs.
type needs struct{ trx, locks bool }

func (f *Filter) needs() needs { return needs{trx: f.MinTrxTime > 0, locks: f.MinBlocked > 0} }

func needsOf(tasks []*Task) needs {
	var nd needs
	for _, t := range tasks {
		x := t.Filter.needs()
		nd.trx, nd.locks = nd.trx || x.trx, nd.locks || x.locks
	}
	return nd
}

// extras is a node's state for the reads beside the processlist.
type extras struct {
	mu        sync.Mutex
	rowWaits  string    // the detected row-lock-wait query ("" = not yet)
	mdl       mdlSource // the detected metadata-lock source
	mdlAt     time.Time // when mdl was detected (none is detected again after mdlRedetect)
	lastRead  time.Time // of information_schema.INNODB_TRX (see trxCacheIdle)
	lastError string    // of the last read ("" after a success or while no task needs one)
}

// The server fills information_schema.INNODB_TRX, INNODB_LOCKS and
// INNODB_LOCK_WAITS (MariaDB; MySQL: INNODB_TRX) from one cache, which it
// refreshes only when the cache has not been read for 100 ms: a client
// that reads it more often than that keeps it stale for everyone. So a
// node reads it at most once per trxCacheIdle, and every read proves its
// freshness with a canary: the reading connection opens a transaction
// (START TRANSACTION WITH CONSISTENT SNAPSHOT) before the read and must
// find it in the result, which the server then filled after the canary
// began. A stale read (another client polling faster than every 100 ms) is
// an error: the filters that need it match nothing meanwhile.
const trxCacheIdle = 120 * time.Millisecond

// extrasProblem describes a failing read that an active task needs, or "".
func (n *node) extrasProblem() string {
	n.x.mu.Lock()
	defer n.x.mu.Unlock()
	if n.x.lastError == "" {
		return ""
	}
	return "reading transactions or lock waits failed: " + n.x.lastError
}

// enrich prepares the rows of a full poll for matching against tasks: the
// statements a KILL QUERY already ended are marked (and forgotten once their
// session moved on), observe-only tasks forget sessions that left, and the
// transactions and lock waits are read when a task needs them. Every read
// that tasks are matched against goes through enrich or a re-check's extras.
func (n *node) enrich(ctx context.Context, c *sql.Conn, ps []Process, tasks []*Task) {
	n.noteStatements(ps, true)
	n.pruneObserved(ps, tasks)
	n.readExtras(ctx, c, ps, needsOf(tasks))
}

// recheckData is what a re-check reads beside the processlist (transactions,
// lock waits), read *before* the processlist re-read so that the re-read,
// which names the sessions, is the last reading before their KILLs (a
// transactions read can wait up to trxCacheIdle for the server's cache).
type recheckData struct {
	nd    needs
	trx   map[uint64]int64
	waits []LockWait
	err   error
}

// recheckExtras reads the extras the tasks need (nothing when they need
// none) through c, ahead of a re-read (see recheckData).
func (n *node) recheckExtras(ctx context.Context, c *sql.Conn, tasks []*Task) *recheckData {
	x := &recheckData{nd: needsOf(tasks)}
	if !x.nd.trx && !x.nd.locks {
		return x
	}
	ctx, cancel := context.WithTimeout(ctx, n.pollTimeout())
	defer cancel()
	x.trx, x.waits, x.err = n.fetchExtras(ctx, c, x.nd)
	if ctx.Err() == nil || x.err == nil {
		n.noteExtrasErr(x.err)
	}
	return x
}

// apply notes the re-read rows' statements and applies the extras read
// before them; after a failed read the rows carry none (TrxTime and
// blocking filters match nothing), as in a poll.
func (x *recheckData) apply(n *node, ps []Process) {
	n.noteStatements(ps, false)
	if x.err != nil || (!x.nd.trx && !x.nd.locks) {
		return
	}
	applyExtras(ps, x.trx, x.waits)
}

// applyExtras marks the sessions of ps that are in a transaction (with its
// age) and applies the lock waits.
func applyExtras(ps []Process, trx map[uint64]int64, waits []LockWait) {
	for i := range ps {
		if age, ok := trx[ps[i].ID]; ok {
			ps[i].InTrx, ps[i].TrxTime = true, age
		}
	}
	applyLockWaits(ps, waits)
}

// readExtras reads what nd asks for through c and applies it to ps.
func (n *node) readExtras(ctx context.Context, c *sql.Conn, ps []Process, nd needs) {
	if !nd.trx && !nd.locks {
		n.noteExtrasErr(nil)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, n.pollTimeout())
	defer cancel()
	_, err := n.readExtrasErr(ctx, c, ps, nd)
	if ctx.Err() != nil && err != nil {
		return // stopping or timed out: the next poll reads again
	}
	n.noteExtrasErr(err)
}

// noteExtrasErr records the outcome of a transactions/lock-waits read and
// logs a change.
func (n *node) noteExtrasErr(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	n.x.mu.Lock()
	changed := msg != n.x.lastError
	n.x.lastError = msg
	n.x.mu.Unlock()
	if changed && err != nil {
		n.e.log.Warn("reading transactions or lock waits failed; TrxTime and Blocking filters match nothing until it works",
			zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id), zap.Error(err))
	} else if changed {
		n.e.log.Info("reading transactions and lock waits works again", zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id))
	}
}

// readExtrasErr reads what nd asks for, applies it to ps and returns the
// lock waits read. On an error ps is left as it was.
func (n *node) readExtrasErr(ctx context.Context, c *sql.Conn, ps []Process, nd needs) ([]LockWait, error) {
	if !nd.trx && !nd.locks {
		return nil, nil
	}
	trx, waits, err := n.fetchExtras(ctx, c, nd)
	if err != nil {
		return nil, err
	}
	applyExtras(ps, trx, waits)
	return waits, nil
}

// fetchExtras reads the transactions (and lock waits) and checks that the
// server's cache was fresh (the canary transaction is in it).
func (n *node) fetchExtras(ctx context.Context, c *sql.Conn, nd needs) (map[uint64]int64, []LockWait, error) {
	_, self, err := connInfo(c)
	if err != nil {
		return nil, nil, err
	}
	trx, waits, err := n.readTrxAndWaits(ctx, c, nd.locks)
	if err != nil {
		return nil, nil, n.wrap(err)
	}
	if _, fresh := trx[self]; !fresh {
		return nil, nil, n.wrap(ErrStaleTrxCache)
	}
	delete(trx, self)
	return trx, waits, nil
}

// readTrxAndWaits reads the transactions (and the lock waits) in the
// canary transaction (see trxCacheIdle), no sooner than trxCacheIdle after
// the node's previous read.
func (n *node) readTrxAndWaits(ctx context.Context, c *sql.Conn, locks bool) (trx map[uint64]int64, waits []LockWait, err error) {
	n.x.mu.Lock()
	wait := trxCacheIdle - time.Since(n.x.lastRead)
	n.x.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		}
	}
	if _, err := c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT /* killgate */"); err != nil {
		return nil, nil, err
	}
	defer func() {
		// Commit even when ctx ended (the connection is reused), bounded.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if _, cerr := c.ExecContext(cctx, "COMMIT /* killgate */"); cerr != nil && err == nil {
			err = cerr
		}
		n.x.mu.Lock()
		n.x.lastRead = time.Now()
		n.x.mu.Unlock()
	}()
	if trx, err = readTrx(ctx, c); err != nil {
		return nil, nil, err
	}
	if locks {
		if waits, err = n.readLockWaits(ctx, c); err != nil {
			return nil, nil, err
		}
	}
	return trx, waits, nil
}

// readTrx returns the age in seconds of every InnoDB transaction by thread
// id. A transaction appears in innodb_trx from its first InnoDB access (a
// bare START TRANSACTION has none yet), whether it writes or only reads.
// The age is the server's (NOW() − trx_started, one clock), less a second:
// trx_started has whole seconds, so the plain difference can exceed the
// real age by up to a second; this one never does (see secondsSince).
func readTrx(ctx context.Context, c *sql.Conn) (map[uint64]int64, error) {
	type trx struct {
		thread uint64
		age    sql.NullInt64
	}
	rows, err := queryRows(ctx, c, "SELECT /* killgate */ trx_mysql_thread_id, TIMESTAMPDIFF(SECOND, trx_started, NOW()) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id <> 0",
		func(r *sql.Rows, x *trx) error { return r.Scan(&x.thread, &x.age) })
	if err != nil {
		return nil, err
	}
	out := make(map[uint64]int64, len(rows))
	for _, x := range rows {
		out[x.thread] = secondsSince(x.age.Int64)
	}
	return out, nil
}

// secondsSince turns TIMESTAMPDIFF(SECOND, t, NOW()) of a DATETIME t with
// whole seconds (trx_started, trx_wait_started) into an age that is never
// more than the real one: both ends are cut to the second, so the
// difference can be up to a second too much. The filters on it are late by
// up to two seconds rather than ever early.
func secondsSince(diff int64) int64 { return max(diff-1, 0) }
