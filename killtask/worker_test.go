package killtask

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The poller and killer under stress: stalled KILLs, lost connections,
// several nodes, history batching and retention, one read per interval.

// KILLs of sessions inside SLEEP() can stall for ~2 s on MariaDB; they must
// not delay the kills of other sessions: a slow KILL holds one slot only,
// and the poller never waits for it.
func TestStalledKillsDoNotBlockOthers(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	cfg := testConfig()
	cfg.PollInterval = 100 * time.Millisecond
	cfg.KillConcurrency = 6
	cfg.KillTimeout = 8 * time.Second // above the hook's stall plus a real one
	u := fx.users[0]
	var sleepers, early, late []*victim
	for i := range 5 {
		sleepers = append(sleepers, startVictim(t, lk, victimSpec{name: fmt.Sprintf("sleep%d", i), user: u, mode: "sleep"}))
	}
	for i := range 3 {
		early = append(early, startVictim(t, lk, victimSpec{name: fmt.Sprintf("early%d", i), user: u, mode: "lock"}))
	}
	// The real stall is intermittent; make every SLEEP victim's KILL also
	// stall 2.5 s (five of the six kill slots) so the test always exercises it.
	stalled := map[uint64]bool{}
	for _, v := range sleepers {
		stalled[v.id] = true
	}
	st := newStore(t)
	stall := func(id uint64) time.Duration {
		if stalled[id] {
			return 2500 * time.Millisecond
		}
		return 0
	}
	e, err := NewEngine(cfg, st, []InstanceConfig{rootInstance("inst")}, testLogger(t), WithScope(inScope), WithKillDelay(stall))
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- e.Run(rctx) }()
	defer func() { cancel(); <-runDone }()

	tk := newTask("inst", Filter{User: u}, Forever)
	created := time.Now()
	if err := e.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	seen := waitGone(t, 2*time.Second, early...)
	// More arrive while the sleepers' KILLs are stalled.
	for i := range 2 {
		late = append(late, startVictim(t, lk, victimSpec{name: fmt.Sprintf("late%d", i), user: u, mode: "lock"}))
	}
	lateStart := time.Now()
	seenLate := waitGone(t, 2*time.Second, late...)
	for v, at := range seen {
		if d := at.Sub(created); d > time.Second {
			t.Errorf("prompt victim %s died %v after the task was created", v, d)
		}
	}
	for v, at := range seenLate {
		if d := at.Sub(lateStart); d > time.Second {
			t.Errorf("prompt victim %s died %v after it started", v, d)
		}
	}
	addReactions(created, seen)
	slow := waitGone(t, 15*time.Second, sleepers...)
	last := maxSince(created, slow)
	if last < 2*time.Second {
		t.Errorf("SLEEP victims died after %v: the stall hook did not apply", last)
	}
	t.Logf("prompt victims gone within %v (late ones %v); SLEEP victims within %v", maxSince(created, seen), maxSince(lateStart, seenLate), last)
	assertHistory(t, st, tk.ID, append(append([]*victim{}, sleepers...), early...), late...)
}

// The poll connection killed from outside is replaced and enforcement goes
// on; an unreachable instance does not stop another one and shows in Health.
func TestConnectionLossAndDeadInstance(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	dead := InstanceConfig{ID: "dead", Product: "mysql", DSN: "root:s3cretpw@tcp(127.0.0.1:1)/"}
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("live"), dead}, false)
	if err := eng.CreateTask(ctx, newTask("dead", Filter{}, Forever)); err != nil {
		t.Fatal(err)
	}
	if err := eng.CreateTask(ctx, newTask("live", Filter{User: fx.users[0]}, Forever)); err != nil {
		t.Fatal(err)
	}
	v1 := startVictim(t, lk, victimSpec{name: "v1", user: fx.users[0], mode: "lock"})
	waitGone(t, 3*time.Second, v1)

	n := eng.instances["live"].nodes[0]
	pollID := n.pollConnID.Load()
	if pollID == 0 {
		t.Fatal("no poll connection")
	}
	if _, err := fx.root.Exec(fmt.Sprintf("KILL %d", pollID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, func() bool { id := n.pollConnID.Load(); return id != 0 && id != pollID }, "a new poll connection")
	v2 := startVictim(t, lk, victimSpec{name: "v2", user: fx.users[0], mode: "lock"})
	waitGone(t, 3*time.Second, v2)

	infos, err := eng.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		h := in.Health[in.ID]
		switch in.ID {
		case "live":
			if !h.OK || in.ActiveTasks != 1 {
				t.Errorf("live: %+v", in)
			}
		case "dead":
			if h.OK || h.Error == "" || in.ActiveTasks != 1 || strings.Contains(h.Error, "s3cretpw") {
				t.Errorf("dead: %+v", in)
			}
		}
	}
	if _, err := eng.ProcessList(ctx, "dead", ""); !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "s3cretpw") {
		t.Errorf("ProcessList on dead instance: %v", err)
	}
	if _, err := eng.ProcessList(ctx, "nope", ""); !errors.Is(err, ErrUnknownInstance) {
		t.Errorf("unknown instance: %v", err)
	}
	if _, err := eng.ProcessList(ctx, "live", "nope"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("unknown node: %v", err)
	}
}

// Instances of several nodes take the same path; product and node
// are recorded.
func TestMultiNodeInstance(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	inst := InstanceConfig{ID: "multi-1", Product: "multi-product", Nodes: []NodeConfig{
		{ID: "node-rw", DSN: rootDSN},
		{ID: "node-ro", DSN: "root@tcp(127.0.0.1:1)/"},
	}}
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{inst}, false)
	tk := newTask("multi-1", Filter{User: fx.users[1], DBs: []string{fx.dbs[2]}}, Forever)
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	v := startVictim(t, lk, victimSpec{name: "v", user: fx.users[1], db: fx.dbs[2], mode: "idle"})
	keep := startVictim(t, lk, victimSpec{name: "keep", user: fx.users[1], db: fx.dbs[1], mode: "idle"})
	waitGone(t, 3*time.Second, v)
	waitPolls(t, eng.Engine, "multi-1", "node-rw", 2)
	assertAlive(t, keep)
	var recs []KillRecord
	waitFor(t, 2*time.Second, func() bool {
		recs, _, _ = eng.store.ListKillRecords(ctx, RecordQuery{InstanceID: "multi-1"})
		return len(recs) == 1
	}, "history row")
	if recs[0].Product != "multi-product" || recs[0].NodeID != "node-rw" || recs[0].TaskID != tk.ID {
		t.Fatalf("record: %+v", recs[0])
	}
	infos, _ := eng.Instances(ctx)
	if h := infos[0].Health; !h["node-rw"].OK || h["node-ro"].OK {
		t.Fatalf("health: %+v", h)
	}
	got, _ := eng.store.GetTask(ctx, tk.ID)
	if got.Product != "multi-product" {
		t.Fatalf("task product %q", got.Product)
	}
}

func TestHistoryBatchesAndAttribution(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	st := newStore(t)
	var vs []*victim
	for i := range 12 {
		vs = append(vs, startVictim(t, lk, victimSpec{name: fmt.Sprintf("b%d", i), user: fx.users[1], db: fx.dbs[0], mode: "lock", socket: i%2 == 0}))
	}
	// Two tasks match every victim: each kill is recorded once, for the
	// older. Both are in the store before the engine starts, so its first
	// poll sees both (created through a running engine, the first could
	// kill before the second existed).
	older := newTask("inst", Filter{DBs: []string{fx.dbs[0]}}, Forever)
	older.CreatedAt = time.Now().Add(-time.Second)
	newer := newTask("inst", Filter{User: fx.users[1]}, Forever)
	for _, tk := range []*Task{newer, older} {
		tk.Product = "mysql"
		if err := st.CreateTask(ctx, tk, 5); err != nil {
			t.Fatal(err)
		}
	}
	eng := startEngine(t, testConfig(), st, []InstanceConfig{rootInstance("inst")}, false)
	flushes := eng.hist.flushes.Load()
	waitGone(t, 5*time.Second, vs...)
	assertHistory(t, st, older.ID, vs)
	if _, n, _ := st.ListKillRecords(ctx, RecordQuery{TaskID: newer.ID}); n != 0 {
		t.Fatalf("newer task has %d rows", n)
	}
	if f := eng.hist.flushes.Load() - flushes; f > 4 {
		t.Errorf("12 kills took %d history writes", f)
	}
	got, _ := st.GetTask(ctx, older.ID)
	if got.Kills != 12 {
		t.Errorf("kills counter %d", got.Kills)
	}
}

func TestPruneAtStart(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	now := time.Now()
	var recs []KillRecord
	for i := range 8 {
		at := now.Add(-time.Duration(8-i) * time.Second)
		if i < 2 {
			at = now.Add(-2 * time.Hour)
		}
		recs = append(recs, KillRecord{Source: SourceManual, InstanceID: "x", ThreadID: uint64(i), Outcome: OutcomeKilled, KilledAt: at})
	}
	if err := st.AddKillRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.HistoryMaxAge, cfg.HistoryMaxRows = time.Hour, 4
	startEngine(t, cfg, st, nil, false)
	waitFor(t, 3*time.Second, func() bool {
		_, n, _ := st.ListKillRecords(ctx, RecordQuery{})
		return n == 4
	}, "pruning to 4 rows")
	left, _, _ := st.ListKillRecords(ctx, RecordQuery{})
	if left[0].ThreadID != 7 || left[3].ThreadID != 4 {
		t.Fatalf("kept %+v", left)
	}
}

func maxSince(from time.Time, seen map[*victim]time.Time) time.Duration {
	var d time.Duration
	for _, at := range seen {
		d = max(d, at.Sub(from))
	}
	return d
}

type countingObserver struct {
	NopObserver
	polls, kills atomic.Int64
}

func (o *countingObserver) PollDone(string, string, time.Duration, error) { o.polls.Add(1) }

func (o *countingObserver) HistoryWritten(int) {}

func (o *countingObserver) Killed(_, _ string, out Outcome, _ time.Duration) {
	if out == OutcomeKilled {
		o.kills.Add(1)
	}
}

// One processlist read per node per interval serves every task of the
// instance, however many there are.
func TestOnePollPerIntervalForAllTasks(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	cfg := testConfig()
	e, err := NewEngine(cfg, newStore(t), []InstanceConfig{rootInstance("inst")}, testLogger(t), WithScope(inScope))
	if err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{}
	e.SetObserver(obs)
	rctx, cancel := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- e.Run(rctx) }()
	defer func() { cancel(); <-runDone }()
	for i := range 5 {
		if err := e.CreateTask(ctx, newTask("inst", Filter{User: fmt.Sprintf("%snobody%d", fx.prefix, i)}, Forever)); err != nil {
			t.Fatal(err)
		}
	}
	start, p0 := time.Now(), e.PollCount("inst", "inst")
	waitFor(t, 5*time.Second, func() bool { return e.PollCount("inst", "inst") >= p0+10 }, "10 polls")
	polls, elapsed := e.PollCount("inst", "inst")-p0, time.Since(start)
	if limit := int64(elapsed/cfg.PollInterval) + 2; polls > limit {
		t.Errorf("%d polls in %v with 5 tasks (interval %v): more than one per interval", polls, elapsed, cfg.PollInterval)
	}
	if obs.polls.Load() < polls {
		t.Errorf("observer saw %d polls, PollCount %d", obs.polls.Load(), polls)
	}
	// Idle instances hold no connection and read nothing.
	if _, err := e.CancelTasks(ctx, "inst"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, func() bool { return e.instances["inst"].nodes[0].pollConnID.Load() == 0 }, "poll connection released")
	p1 := e.PollCount("inst", "inst")
	time.Sleep(3 * cfg.PollInterval) // a negative check: nothing to wait for
	if p := e.PollCount("inst", "inst"); p != p1 {
		t.Errorf("%d polls without tasks", p-p1)
	}
}

// TestKillRefusesOtherServer: a KILL whose connection reaches another
// server than the one the session was read on (a VIP moved after failover)
// is refused and kills nothing.
func TestKillRefusesOtherServer(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	v := startVictim(t, lk, victimSpec{name: "v", user: fx.users[0], mode: "lock"})
	n, err := eng.node("inst", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.execKill(ctx, killStatement(MethodKill, KillConnection, v.id, 0), v.id, "some-other-host:3306/99", nil); !errors.Is(err, errOtherServer) {
		t.Fatalf("execKill to another server: %v", err)
	}
	assertAlive(t, v)
}
