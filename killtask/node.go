package killtask

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
)

// instance is a configured instance with its nodes.
type instance struct {
	cfg       InstanceConfig
	nodes     []*node
	protected map[string]struct{}

	// gate orders CancelTasks against kills: a kill holds it shared from
	// the moment it checks that its task is still active until its KILL
	// returns; CancelTasks takes it exclusively to drop the tasks, so once
	// it returns no KILL for them can start (or still be running).
	gate sync.RWMutex

	// pmu guards the problems of the instance's nodes and what was last
	// written to its tasks' LastError (see node.report).
	pmu         sync.Mutex
	problems    map[string]string // node id → problem
	reported    string
	reportedFor string // ids of the tasks it was written to

	// changes serialises CreateTask and CancelTasks of the instance across
	// their store write and their in-memory update, so that a cancel that
	// commits between a create's commit and its in-memory insert cannot be
	// undone by that insert.
	changes sync.Mutex
}

// node is one database server of an instance: its connection pools, its
// poller state and its kill slots.
type node struct {
	anonChecked atomic.Bool // anonymous accounts looked for (once)
	slotWanted  atomic.Bool // a batch gave up waiting for a kill slot (killslots.go)
	e           *Engine
	inst        *instance
	id          string
	mc          *mysql.Config
	addr        string // host:port or socket path, for logs (never the DSN)

	mu     sync.Mutex // guards db, killDB, closed, src
	db     *sql.DB    // processlist reads, re-checks, API reads
	killDB *sql.DB    // KILL statements only: never waits behind a slow read
	closed bool
	src    source // processlist source, detected on first read

	// Poller-owned (only the node's poller goroutine touches these).
	pollConn    *sql.Conn
	server      string // server identity of the node (from the poll connection)
	procBuf     []Process
	candBuf     []candidate
	due         dueKills      // sessions that will cross a task's Time: kill on the dot (deadline.go)
	nextRead    time.Time     // when the next full read is due; zero while idle
	rtt         time.Duration // round trip to the server on the poll connection (ping at connect)
	dueLead     time.Duration // how early a re-read at a crossing is sent (noteSelf)
	selfs       [8]time.Duration
	selfN       int
	readCost    time.Duration // how long the last full read took
	recheckCost time.Duration // how long the last re-check read took (poller goroutine only)
	nextExpiry  time.Time     // when the first active task of the instance expires (monotonic); zero: none

	pollConnID atomic.Uint64 // id of the pinned poll connection, 0 when none
	polls      atomic.Int64  // successful processlist reads by the poller
	reads      atomic.Int64  // every processlist query on the node (full, re-check, API; for tests and benchmarks)
	dueReads   atomic.Int64  // re-reads at Time crossings (deadline.go)
	duePlanned atomic.Int64  // due kills planned by the last full read
	trigger    chan struct{} // cap 1: poll now

	hmu      sync.Mutex // guards health, failures, grants, killErr, denied
	health   Health
	failures int
	grants   Grants
	killErr  string                  // reason of the last failed KILL; "" after a success
	deniedAt time.Time               // last KILL refused for lack of privilege
	denied   map[uint64]deniedThread // sessions whose KILL was refused: back-off

	sem        chan struct{} // kill slots (KillConcurrency)
	inflightMu sync.Mutex
	inflight   map[uint64]struct{}  // thread ids with a KILL in flight
	dying      map[uint64]time.Time // thread ids whose KILL CONNECTION succeeded, and when (worker.go)
	stalled    atomic.Int64         // KILLs past slowKill that gave their slot back

	leaseMu    sync.Mutex
	leaseUntil time.Time // local (monotonic) deadline of the node's lease; zero = not held (see lease.go)

	x           extras                        // reads beside the processlist (enrich.go)
	qmu         sync.Mutex                    // guards queryKilled
	queryKilled map[uint64]stmtKey            // statements ended by KILL QUERY, by thread (querykill.go)
	omu         sync.Mutex                    // guards observed
	observed    map[string]map[uint64]stmtKey // what observe-only tasks recorded: task id → thread → session or statement (observe.go)
}

func newNode(e *Engine, inst *instance, id string, mc *mysql.Config) *node {
	addr := mc.Addr
	if mc.Net == "unix" {
		addr = "unix:" + mc.Addr
	}
	return &node{
		e: e, inst: inst, id: id, mc: mc, addr: addr,
		trigger:  make(chan struct{}, 1),
		sem:      make(chan struct{}, e.cfg.KillConcurrency),
		inflight: map[uint64]struct{}{},
		denied:   map[uint64]deniedThread{},

		queryKilled: map[uint64]stmtKey{},
		observed:    map[string]map[uint64]stmtKey{},
	}
}

// pools returns the node's pools, opening them on first use.
func (n *node) pools() (*sql.DB, *sql.DB, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, nil, fmt.Errorf("%w: engine stopped", ErrUnavailable)
	}
	if n.db == nil {
		db, err := OpenDB(n.mc)
		if err != nil {
			return nil, nil, fmt.Errorf("killtask: node %s: %w", n.id, redactDSNError(err))
		}
		// The kill pool's reads and writes are bounded by kill_timeout
		// through the connection's I/O deadlines, so a KILL needs no context
		// with a Done channel: the driver then sends it without handing over
		// to its cancel watcher goroutine twice per statement (the bare
		// program's way; at hundreds of KILLs a burst those hand-overs were
		// most of the scheduler's delay).
		kmc := n.mc.Clone()
		if kt := n.e.cfg.KillTimeout; kt > 0 {
			if kmc.ReadTimeout == 0 || kmc.ReadTimeout > kt {
				kmc.ReadTimeout = kt
			}
			if kmc.WriteTimeout == 0 || kmc.WriteTimeout > kt {
				kmc.WriteTimeout = kt
			}
		}
		kdb, err := OpenDB(kmc)
		if err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("killtask: node %s: %w", n.id, redactDSNError(err))
		}
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(2)
		db.SetConnMaxIdleTime(time.Minute)
		// The semaphore admits KillConcurrency prompt KILLs; a stalled one
		// gives its slot back (see startKill) but keeps its connection, so
		// the pool has room for stalled KILLs beside the prompt ones.
		k := n.e.cfg.KillConcurrency
		kdb.SetMaxOpenConns(k * stalledFactor)
		kdb.SetMaxIdleConns(k)
		// A KILL at a Time crossing must not wait for a new connection:
		// while crossings are pending, one is kept warm (warmKillPool).
		kdb.SetConnMaxIdleTime(10 * time.Minute)
		n.db, n.killDB = db, kdb
	}
	return n.db, n.killDB, nil
}

// close closes the node's pools; later calls fail with ErrUnavailable.
func (n *node) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	if n.db != nil {
		n.db.Close()
		n.killDB.Close()
	}
}

// conn pins a connection of the read pool and returns the server identity.
func (n *node) conn(ctx context.Context) (*sql.Conn, string, error) {
	db, _, err := n.pools()
	if err != nil {
		return nil, "", err
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, "", n.wrap(err)
	}
	server, _, err := connInfo(c)
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return c, server, nil
}

// discard closes a pinned connection and makes the pool drop it, so the next
// use opens a fresh one (after a kill by the server, a network error, a
// timeout mid-read).
func discard(c *sql.Conn) {
	if c == nil {
		return
	}
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	_ = c.Close()
}

// wrap adds the node to an error; mysql driver errors carry no DSN.
func (n *node) wrap(err error) error {
	return fmt.Errorf("killtask: node %s (%s): %w", n.id, n.addr, err)
}

// setHealth records the result of a poll or probe and returns whether the
// state changed: the first failure after success (or at start), or the
// first success after failures (not the first success at start).
func (n *node) setHealth(err error) (changed bool, failures int) {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	was := n.health.OK || n.health.CheckedAt.IsZero()
	n.health.CheckedAt = time.Now().UTC()
	if err == nil {
		changed = n.failures > 0
		n.health.OK, n.health.Error, n.failures = true, "", 0
		return changed, 0
	}
	n.failures++
	n.health.OK, n.health.Error = false, err.Error()
	return was && n.failures == 1, n.failures
}

func (n *node) getHealth() Health {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	h := n.health
	h.Missing = n.grants.Missing
	h.KillError = n.killErr
	return h
}

// needGrants reports whether the node's grants should be (re)read now: never
// read yet, or a problem stands (a missing privilege, or a KILL refused since
// the last check) and the last check is older than grantsRecheck.
func (n *node) needGrants(now time.Time) bool {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	g := n.grants
	if g.CheckedAt.IsZero() {
		return true
	}
	standing := len(g.Missing) > 0 || g.Unknown != "" || n.deniedAt.After(g.CheckedAt)
	return standing && now.Sub(g.CheckedAt) >= grantsRecheck
}

// updateGrants checks the account's grants on c and logs a change (and,
// the first time, warns of anonymous accounts: see anonymousAccounts).
func (n *node) updateGrants(ctx context.Context, c *sql.Conn) {
	g := checkGrants(ctx, c, n.inst.cfg.KillMethod)
	if ctx.Err() != nil {
		return
	}
	if n.anonChecked.CompareAndSwap(false, true) {
		if k := anonymousAccounts(ctx, c); k > 0 {
			n.e.log.Warn("the server has anonymous accounts: their clients can appear in the processlist under any user name, a protected one included (docs/matching-and-safety.md)",
				zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id), zap.Int("anonymous_accounts", k))
		}
	}
	n.hmu.Lock()
	prev := n.grants
	n.grants = g
	n.hmu.Unlock()
	l := n.e.log.With(zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id))
	switch {
	case len(g.Missing) > 0 && strings.Join(g.Missing, ",") != strings.Join(prev.Missing, ","):
		l.Warn("node account cannot kill every session: "+g.Problem(), zap.Strings("missing", g.Missing))
	case len(g.Missing) == 0 && len(prev.Missing) > 0:
		l.Info("node account grants now sufficient")
	case g.Unknown != "" && prev.Unknown == "":
		l.Warn("node account grants could not be checked; only failing KILLs will tell", zap.String("why", g.Unknown))
	}
}

// problem describes what keeps the node from enforcing its tasks, or "":
// the last read failed, the account lacks a privilege, or KILLs fail.
func (n *node) problem() string {
	h := n.getHealth()
	if !h.OK && !h.CheckedAt.IsZero() {
		return "processlist read failed: " + h.Error
	}
	if p := h.Problem(); p != "" {
		return p
	}
	return n.extrasProblem() // enrich.go
}

// report records the node's problem (see problem) and, when the instance's
// problem or its set of active tasks changed, writes it into the LastError
// of every active task of the instance, so that the task list alone says
// why a task kills nothing. An instance of several nodes names each failing
// node; a problem that clears clears LastError.
func (n *node) report(ctx context.Context, tasks []*Task) {
	inst := n.inst
	p := n.problem()
	inst.pmu.Lock()
	if inst.problems == nil {
		inst.problems = map[string]string{}
	}
	inst.problems[n.id] = p
	var parts []string
	for _, o := range inst.nodes {
		if q := inst.problems[o.id]; q != "" {
			if len(inst.nodes) > 1 || o.id != inst.cfg.ID {
				q = "node " + o.id + ": " + q
			}
			parts = append(parts, q)
		}
	}
	msg := strings.Join(parts, "; ")
	ids := make([]string, len(tasks))
	stale := false
	for i, t := range tasks {
		ids[i] = t.ID
		stale = stale || t.LastError != msg
	}
	key := strings.Join(ids, ",")
	write := (msg != inst.reported || key != inst.reportedFor) && (stale || msg != "")
	inst.reported, inst.reportedFor = msg, key
	inst.pmu.Unlock()
	if write {
		n.e.setTasksError(ctx, tasks, msg)
	}
}

// probe checks a node that was never polled: it connects and, once
// connected, reads the account's grants, so that a node whose account
// cannot kill says so (health, /readyz, logs) before its first task. A poll
// that finished meanwhile has the newer word on the node's health.
func (n *node) probe(ctx context.Context) error {
	c, _, err := n.conn(ctx)
	if err == nil {
		defer c.Close()
		err = c.PingContext(ctx)
	}
	if err == nil && n.needGrants(time.Now()) {
		n.updateGrants(ctx, c)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if n.getHealth().CheckedAt.IsZero() {
		n.setHealth(err)
	}
	return err
}

// probeAtStart probes the node once when the engine starts (bounded by
// probeTimeout): a wrong DSN or a missing grant is logged at start, not at
// the first incident. It reads no processlist and leaves no timer.
func (n *node) probeAtStart(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := n.probe(ctx); err != nil && ctx.Err() == nil {
		n.e.log.Warn("node not reachable at start", zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id), zap.Error(err))
	}
}

// probeTimeout bounds the start-up probe of a node.
const probeTimeout = 15 * time.Second
