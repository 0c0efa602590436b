package killtask

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// population is the standard set of sessions for the filter tests: three
// users, several databases, TCP and socket, idle and waiting on a lock with
// different statements.
func population(t *testing.T, lk *lockHolder) []victimSpec {
	a, b, c := fx.users[0], fx.users[1], fx.users[2]
	d1, d2 := fx.dbs[0], fx.dbs[1]
	return []victimSpec{
		{name: "v1", user: a, db: d1, mode: "lock"},
		{name: "v2", user: a, db: d2, socket: true, mode: "idle"},
		{name: "v3", user: b, db: d1, socket: true, mode: "lock", info: "select 'x', "},
		{name: "v4", user: b, mode: "idle"},
		{name: "v5", user: c, db: d2, mode: "lock", info: "  DO "},
		{name: "v6", user: c, db: d1, socket: true, mode: "idle"},
	}
}

func TestKillByFilter(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	specs := population(t, lk)
	vs := map[string]*victim{}
	for _, s := range specs {
		vs[s.name] = startVictim(t, lk, s)
	}
	a, b := fx.users[0], fx.users[1]
	d1, d2 := fx.dbs[0], fx.dbs[1]
	cases := []struct {
		name string
		f    Filter
		kill []string
	}{
		{"host socket", Filter{Host: "LocalHost"}, []string{"v2", "v3", "v6"}},
		{"host tcp", Filter{Host: "127.0.0.1"}, []string{"v1", "v4", "v5"}},
		{"user", Filter{User: b}, []string{"v3", "v4"}},
		{"db", Filter{DBs: []string{d2}}, []string{"v2", "v5"}},
		{"dbs", Filter{DBs: []string{d1, d2}}, []string{"v1", "v2", "v3", "v5", "v6"}},
		{"command sleep", Filter{Commands: []string{"sleep"}}, []string{"v2", "v4", "v6"}},
		{"command query", Filter{Commands: []string{"QUERY", "Execute"}}, []string{"v1", "v3", "v5"}},
		{"info", Filter{Infos: []string{"select"}}, []string{"v1", "v3"}},
		{"infos", Filter{Infos: []string{"do get_lock", "SELECT 'X'"}}, []string{"v3", "v5"}},
		{"and user+command", Filter{User: a, Commands: []string{"Query"}}, []string{"v1"}},
		{"and host+db", Filter{Host: "localhost", DBs: []string{d1}}, []string{"v3", "v6"}},
		{"and nothing", Filter{User: a, DBs: []string{fx.dbs[2]}}, nil},
		{"time none", Filter{MinTime: 3600}, nil},
	}
	parent := t // replacement victims live on across subtests
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var kill, keep []*victim
			for _, s := range specs {
				if slices.Contains(c.kill, s.name) {
					kill = append(kill, vs[s.name])
				} else {
					keep = append(keep, vs[s.name])
				}
			}
			tk := newTask("inst", c.f, Forever)
			created := time.Now()
			if err := eng.CreateTask(ctx, tk); err != nil {
				t.Fatal(err)
			}
			addReactions(created, waitGone(t, 5*time.Second, kill...))
			waitPolls(t, eng.Engine, "inst", "inst", 3)
			assertAlive(t, keep...)
			if _, err := eng.CancelTasks(ctx, "inst"); err != nil {
				t.Fatal(err)
			}
			assertHistory(t, eng.store, tk.ID, kill)
			for _, s := range specs { // replace the dead
				if slices.Contains(c.kill, s.name) {
					vs[s.name].stop()
					vs[s.name] = startVictim(parent, lk, s)
				}
			}
		})
	}
}

// assertHistory checks that the task's history is exactly one "killed" row
// per victim, with the session's fields.
//
// Victims in loose may have been killed before their statement started
// (idle): only their id and outcome are checked.
func assertHistory(t *testing.T, st *Store, taskID string, kill []*victim, loose ...*victim) {
	t.Helper()
	var recs []KillRecord
	want := len(kill) + len(loose)
	waitFor(t, 3*time.Second, func() bool {
		var err error
		recs, _, err = st.ListKillRecords(context.Background(), RecordQuery{TaskID: taskID, Limit: 1000})
		return err == nil && len(recs) >= want
	}, "%d history rows for %s", want, taskID)
	if len(recs) != want {
		t.Fatalf("task %s: %d history rows, want %d: %+v", taskID, len(recs), want, recs)
	}
	byID := map[uint64]KillRecord{}
	for _, r := range recs {
		byID[r.ThreadID] = r
	}
	for _, v := range loose {
		if r, ok := byID[v.id]; !ok || r.Outcome != OutcomeKilled || r.User != v.user {
			t.Errorf("history row for %s: %+v", v, r)
		}
	}
	for _, v := range kill {
		r, ok := byID[v.id]
		if !ok {
			t.Errorf("no history row for %s", v)
			continue
		}
		if r.Outcome != OutcomeKilled || r.Source != SourceTask || r.User != v.user || ClientHost(r.Host) != v.host() ||
			r.DB != v.db || !strings.EqualFold(r.Command, v.command()) || strings.TrimLeft(r.Info, infoSpace) != v.info() || r.Error != "" ||
			time.Since(r.KilledAt) > time.Minute {
			t.Errorf("history row for %s: %+v", v, r)
		}
	}
}

func TestKillByTime(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	old := startVictim(t, lk, victimSpec{name: "old", user: fx.users[0], mode: "lock"})
	waitFor(t, 5*time.Second, func() bool { return processIDs(t, []uint64{old.id})[old.id].Time >= 1 }, "TIME >= 1")
	fresh := startVictim(t, lk, victimSpec{name: "fresh", user: fx.users[0], mode: "lock"})
	idle := startVictim(t, lk, victimSpec{name: "idle", user: fx.users[1], mode: "idle"})
	if err := eng.CreateTask(ctx, newTask("inst", Filter{MinTime: 1, Commands: []string{"Query"}}, Forever)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, 3*time.Second, old)
	waitPolls(t, eng.Engine, "inst", "inst", 2)
	assertAlive(t, fresh, idle)
	if _, err := eng.CancelTasks(ctx, "inst"); err != nil {
		t.Fatal(err)
	}
}

// An empty filter kills every session that is not protected. The engine is
// scoped to the test's users, and one of them is protected.
func TestEmptyFilterAndProtectedUsers(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	prot := fx.users[2]
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst", prot)}, false)
	var kill, keep []*victim
	for _, s := range population(t, lk) {
		v := startVictim(t, lk, s)
		if s.user == prot {
			keep = append(keep, v)
		} else {
			kill = append(kill, v)
		}
	}
	// Preview shows exactly what the task will kill.
	pv, err := eng.Preview(ctx, "inst", Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pv) != len(kill) {
		t.Fatalf("preview: %d sessions, want %d: %+v", len(pv), len(kill), pv)
	}
	if err := eng.CreateTask(ctx, newTask("inst", Filter{}, Forever)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, 5*time.Second, kill...)
	waitPolls(t, eng.Engine, "inst", "inst", 3)
	assertAlive(t, keep...)
	// A manual kill of a protected session is refused and recorded as skipped.
	res, err := eng.Kill(ctx, KillRequest{Instance: "inst", Sessions: threads(keep[0].id), Match: MatchID, Record: true})
	if err != nil || len(res) != 1 || res[0].Outcome != OutcomeSkipped || !strings.Contains(res[0].Error, ExclProtected) {
		t.Fatalf("manual kill of protected: %+v %v", res, err)
	}
	assertAlive(t, keep...)
}

// The engine connects as an unprotected test user and the task matches that
// user: a test session of the user dies, the engine's own connections (poll,
// kill pool, another pool opened through OpenDB) survive and polls go on.
func TestOwnConnectionsNeverKilled(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	dsn := fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/", fx.engUser, userPW)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{{ID: "inst", Product: "mysql", DSN: dsn}}, false)

	mc, _ := parseDSN(dsn)
	other, err := OpenDB(mc) // like a store or another instance on the same server
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oc, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	server, otherID, err := connInfo(oc)
	if err != nil {
		t.Fatal(err)
	}

	tk := newTask("inst", Filter{User: fx.engUser}, Forever)
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	v1 := startVictim(t, lk, victimSpec{name: "same-user", user: fx.engUser, mode: "lock"})
	v2 := startVictim(t, lk, victimSpec{name: "same-user-idle", user: fx.engUser, mode: "idle", socket: true})
	waitGone(t, 5*time.Second, v1, v2)
	n := eng.instances["inst"].nodes[0]
	pollID := n.pollConnID.Load()
	waitPolls(t, eng.Engine, "inst", "inst", 5)
	ownIDs := OwnConnections(server)
	if !ownIDs[otherID] || pollID == 0 || !ownIDs[pollID] {
		t.Fatalf("registry %v lacks poll %d or other %d", ownIDs, pollID, otherID)
	}
	var ids []uint64
	for id := range ownIDs {
		ids = append(ids, id)
	}
	present := processIDs(t, ids)
	engConns := 0
	for _, p := range present {
		if p.User == fx.engUser {
			engConns++
		}
	}
	if engConns < 3 { // poll, at least one kill connection, other
		t.Fatalf("expected the engine's own connections as %s to be alive, found %d", fx.engUser, engConns)
	}
	if n.pollConnID.Load() != pollID {
		t.Fatalf("poll connection replaced (%d → %d): was it killed?", pollID, n.pollConnID.Load())
	}
	if err := oc.PingContext(ctx); err != nil {
		t.Fatalf("own connection killed: %v", err)
	}
	// ProcessList hides own connections; Preview too.
	ps, err := eng.ProcessList(ctx, "inst", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if ownIDs[p.ID] {
			t.Fatalf("ProcessList shows own connection %+v", p)
		}
	}
	res, err := eng.Kill(ctx, KillRequest{Instance: "inst", Node: "inst", Sessions: threads(otherID), Match: MatchID})
	if err != nil || res[0].Outcome != OutcomeSkipped {
		t.Fatalf("manual kill of own connection: %+v %v", res, err)
	}
	recs, _, _ := eng.store.ListKillRecords(ctx, RecordQuery{TaskID: tk.ID, Limit: 100})
	for _, r := range recs {
		if ownIDs[r.ThreadID] {
			t.Fatalf("history shows a kill of an own connection: %+v", r)
		}
	}
}

// System threads are never touched, even by tasks aimed at them, with the
// engine unscoped.
func TestSystemThreadsUntouched(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	var prev string
	if err := fx.root.QueryRow("SELECT @@GLOBAL.event_scheduler").Scan(&prev); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.root.Exec("SET GLOBAL event_scheduler = ON"); err != nil {
		t.Skipf("cannot enable event_scheduler: %v", err)
	}
	t.Cleanup(func() { _, _ = fx.root.Exec("SET GLOBAL event_scheduler = " + prev) })
	var schedID uint64
	waitFor(t, 5*time.Second, func() bool {
		return fx.root.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'event_scheduler'").Scan(&schedID) == nil
	}, "event_scheduler thread")

	st := newStore(t)
	eng := startEngine(t, testConfig(), st, []InstanceConfig{rootInstance("inst")}, true)
	tasks := []Filter{{User: "event_scheduler"}, {Commands: []string{"Daemon"}}, {User: "system user"}, {Commands: []string{"Binlog Dump", "Killed"}}}
	for _, f := range tasks {
		if err := eng.CreateTask(ctx, newTask("inst", f, Forever)); err != nil {
			t.Fatal(err)
		}
	}
	waitPolls(t, eng.Engine, "inst", "inst", 4)
	if _, ok := processIDs(t, []uint64{schedID})[schedID]; !ok {
		t.Fatal("event_scheduler was killed")
	}
	_, total, _ := st.ListKillRecords(ctx, RecordQuery{})
	if total != 0 {
		t.Fatalf("%d kill attempts recorded", total)
	}
	pv, err := eng.Preview(ctx, "inst", Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pv {
		if p.User == "event_scheduler" || p.User == "system user" || strings.EqualFold(p.Command, "Daemon") {
			t.Fatalf("preview offers a system thread: %+v", p)
		}
	}
	if _, err := eng.CancelTasks(ctx, "inst"); err != nil {
		t.Fatal(err)
	}
}

func TestDurationExpiry(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	tk := newTask("inst", Filter{User: fx.users[0]}, 1)
	v1 := startVictim(t, lk, victimSpec{name: "during", user: fx.users[0], mode: "lock"})
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	waitGone(t, 3*time.Second, v1)
	waitFor(t, 3*time.Second, func() bool {
		got, err := eng.store.GetTask(ctx, tk.ID)
		return err == nil && got.Status == StatusFinished
	}, "task to finish")
	got, _ := eng.store.GetTask(ctx, tk.ID)
	if !got.EndedAt.Equal(tk.ExpiresAt) || got.Kills != 1 {
		t.Fatalf("finished task: EndedAt %v want %v, kills %d", got.EndedAt, tk.ExpiresAt, got.Kills)
	}
	v2 := startVictim(t, lk, victimSpec{name: "after", user: fx.users[0], mode: "lock"})
	time.Sleep(3 * testConfig().PollInterval) // a negative check: nothing to wait for
	assertAlive(t, v2)
	if _, err := eng.CancelTasks(ctx, "inst"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel after expiry: %v", err)
	}
}

func TestCancel(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	st := newStore(t)
	eng := startEngine(t, testConfig(), st, []InstanceConfig{rootInstance("inst")}, false)
	tk := newTask("inst", Filter{User: fx.users[1]}, Forever)
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	v1 := startVictim(t, lk, victimSpec{name: "v1", user: fx.users[1], mode: "lock"})
	waitGone(t, 3*time.Second, v1)
	ids, err := eng.CancelTasks(ctx, "inst")
	if err != nil || len(ids) != 1 || ids[0] != tk.ID {
		t.Fatalf("cancel: %v %v", ids, err)
	}
	// Right after CancelTasks returns, nothing is killed for it.
	v2 := startVictim(t, lk, victimSpec{name: "v2", user: fx.users[1], mode: "lock"})
	waitPolls(t, eng.Engine, "inst", "inst", 0)
	time.Sleep(4 * testConfig().PollInterval)
	assertAlive(t, v2)
	got, _ := st.GetTask(ctx, tk.ID)
	if got.Status != StatusCancelled {
		t.Fatalf("status %s", got.Status)
	}

	// Cancelled by another process sharing the store: stops within an interval or two.
	tk2 := newTask("inst", Filter{User: fx.users[2]}, Forever)
	if err := st.CreateTask(ctx, tk2, 5); err != nil { // created by "another process"
		t.Fatal(err)
	}
	v3 := startVictim(t, lk, victimSpec{name: "v3", user: fx.users[2], mode: "lock"})
	waitGone(t, 3*time.Second, v3)
	if _, err := st.CancelTasks(ctx, "inst", time.Now()); err != nil {
		t.Fatal(err)
	}
	r := eng.reloads.Load()
	waitFor(t, 3*time.Second, func() bool { return eng.reloads.Load() >= r+2 }, "two reloads")
	v4 := startVictim(t, lk, victimSpec{name: "v4", user: fx.users[2], mode: "lock"})
	time.Sleep(4 * testConfig().PollInterval)
	assertAlive(t, v4)
}

// A new Engine over the same store resumes running tasks; a task that
// expired while nothing ran finishes at its expiry and kills nothing.
func TestRestartResume(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	path := t.TempDir() + "/kg.db"
	st1 := openStoreAt(t, path)
	eng1 := startEngine(t, testConfig(), st1, []InstanceConfig{rootInstance("inst")}, false)
	keep := newTask("inst", Filter{User: fx.users[0]}, Forever)
	if err := eng1.CreateTask(ctx, keep); err != nil {
		t.Fatal(err)
	}
	v1 := startVictim(t, lk, victimSpec{name: "v1", user: fx.users[0], mode: "lock"})
	waitGone(t, 3*time.Second, v1)
	eng1.stop(t)

	// While down: a task whose whole lifetime falls into the downtime.
	lapsed := newTask("inst", Filter{User: fx.users[1]}, 1)
	lapsed.CreatedAt = time.Now().Add(-10 * time.Second)
	if err := st1.CreateTask(ctx, lapsed, 5); err != nil {
		t.Fatal(err)
	}
	vb := startVictim(t, lk, victimSpec{name: "vb", user: fx.users[1], mode: "lock"})
	v2 := startVictim(t, lk, victimSpec{name: "v2", user: fx.users[0], mode: "lock"})

	st2 := openStoreAt(t, path)
	eng2 := startEngine(t, testConfig(), st2, []InstanceConfig{rootInstance("inst")}, false)
	waitGone(t, 3*time.Second, v2)
	waitPolls(t, eng2.Engine, "inst", "inst", 3)
	assertAlive(t, vb)
	got, err := st2.GetTask(ctx, lapsed.ID)
	if err != nil || got.Status != StatusFinished || !got.EndedAt.Equal(lapsed.ExpiresAt) || got.Kills != 0 {
		t.Fatalf("lapsed task: %+v %v", got, err)
	}
	_, n, _ := st2.ListKillRecords(ctx, RecordQuery{TaskID: lapsed.ID})
	if n != 0 {
		t.Fatalf("lapsed task has %d history rows", n)
	}

	// A task created by another process sharing the store is enforced
	// within an interval or two.
	other := newTask("inst", Filter{User: fx.users[2]}, Forever)
	v3 := startVictim(t, lk, victimSpec{name: "v3", user: fx.users[2], mode: "idle"})
	created := time.Now()
	if err := st1.CreateTask(ctx, other, 5); err != nil {
		t.Fatal(err)
	}
	t.Logf("CreateTask took %v", time.Since(created))
	seen := waitGone(t, 3*time.Second, v3)
	if d := seen[v3].Sub(created); d > 1500*time.Millisecond { // one interval (+reload) when idle; slack for a loaded machine
		t.Errorf("task from another process enforced after %v", d)
	}
}

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

// TDSQL-C instances (several nodes) take the same path; product and node
// are recorded.
func TestCynosdbNodes(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	inst := InstanceConfig{ID: "cynos-1", Product: "cynosdb", Nodes: []NodeConfig{
		{ID: "node-rw", DSN: rootDSN},
		{ID: "node-ro", DSN: "root@tcp(127.0.0.1:1)/"},
	}}
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{inst}, false)
	tk := newTask("cynos-1", Filter{User: fx.users[1], DBs: []string{fx.dbs[2]}}, Forever)
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	v := startVictim(t, lk, victimSpec{name: "v", user: fx.users[1], db: fx.dbs[2], mode: "idle"})
	keep := startVictim(t, lk, victimSpec{name: "keep", user: fx.users[1], db: fx.dbs[1], mode: "idle"})
	waitGone(t, 3*time.Second, v)
	waitPolls(t, eng.Engine, "cynos-1", "node-rw", 2)
	assertAlive(t, keep)
	var recs []KillRecord
	waitFor(t, 2*time.Second, func() bool {
		recs, _, _ = eng.store.ListKillRecords(ctx, RecordQuery{InstanceID: "cynos-1"})
		return len(recs) == 1
	}, "history row")
	if recs[0].Product != "cynosdb" || recs[0].NodeID != "node-rw" || recs[0].TaskID != tk.ID {
		t.Fatalf("record: %+v", recs[0])
	}
	infos, _ := eng.Instances(ctx)
	if h := infos[0].Health; !h["node-rw"].OK || h["node-ro"].OK {
		t.Fatalf("health: %+v", h)
	}
	got, _ := eng.store.GetTask(ctx, tk.ID)
	if got.Product != "cynosdb" {
		t.Fatalf("task product %q", got.Product)
	}
}

func TestHistoryBatchesAndAttribution(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	st := newStore(t)
	eng := startEngine(t, testConfig(), st, []InstanceConfig{rootInstance("inst")}, false)
	var vs []*victim
	for i := range 12 {
		vs = append(vs, startVictim(t, lk, victimSpec{name: fmt.Sprintf("b%d", i), user: fx.users[1], db: fx.dbs[0], mode: "lock", socket: i%2 == 0}))
	}
	// Two tasks match every victim: each kill is recorded once, for the older.
	older := newTask("inst", Filter{DBs: []string{fx.dbs[0]}}, Forever)
	older.CreatedAt = time.Now().Add(-time.Second)
	newer := newTask("inst", Filter{User: fx.users[1]}, Forever)
	if err := eng.CreateTask(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if err := eng.CreateTask(ctx, older); err != nil {
		t.Fatal(err)
	}
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

func TestManualKills(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst", fx.users[2])}, false)
	a := startVictim(t, lk, victimSpec{name: "a", user: fx.users[0], mode: "lock"})
	b := startVictim(t, lk, victimSpec{name: "b", user: fx.users[1], mode: "idle", db: fx.dbs[1]})
	c := startVictim(t, lk, victimSpec{name: "c", user: fx.users[2], mode: "idle"})
	const absent = uint64(1) << 40
	res, err := eng.Kill(ctx, KillRequest{Instance: "inst", Sessions: threads(a.id, absent, c.id), Match: MatchID, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Outcome{OutcomeKilled, OutcomeGone, OutcomeSkipped}
	for i, r := range res {
		if r.Outcome != want[i] {
			t.Errorf("result %d: %+v, want %s", i, r, want[i])
		}
	}
	waitGone(t, 2*time.Second, a)
	assertAlive(t, b, c)
	recs, _, _ := eng.store.ListKillRecords(ctx, RecordQuery{Source: SourceManual})
	if len(recs) != 3 {
		t.Fatalf("%d manual records", len(recs))
	}
	// Unrecorded, an absent id is still gone (never killed unseen), and
	// nothing is written.
	res, _ = eng.Kill(ctx, KillRequest{Instance: "inst", Sessions: threads(absent), Match: MatchID})
	if res[0].Outcome != OutcomeGone {
		t.Fatalf("unrecorded: %+v", res[0])
	}
	if _, n, _ := eng.store.ListKillRecords(ctx, RecordQuery{Source: SourceManual}); n != 3 {
		t.Fatalf("an unrecorded kill wrote history: %d manual records", n)
	}
	// A request needs a match rule and a configured instance.
	if _, err := eng.Kill(ctx, KillRequest{Instance: "inst", Sessions: threads(absent)}); err == nil {
		t.Fatal("kill request without a match rule accepted")
	}
	if _, err := eng.Kill(ctx, KillRequest{Instance: "nope", Sessions: threads(absent), Match: MatchID}); !isErr(err, ErrUnknownInstance) {
		t.Fatalf("unknown instance: %v", err)
	}

	// Intelligent kill: the same session is killed, a changed one is not.
	ps, err := eng.ProcessList(ctx, "inst", "inst")
	if err != nil {
		t.Fatal(err)
	}
	var pb Process
	for _, p := range ps {
		if p.ID == b.id {
			pb = p
		}
	}
	if pb.ID == 0 {
		t.Fatal("ProcessList lacks victim b")
	}
	d := startVictim(t, lk, victimSpec{name: "d", user: fx.users[0], mode: "lock"})
	changed := Process{ID: d.id, User: fx.users[0], Host: "127.0.0.1:1", Info: "SELECT 1"}
	res, err = eng.Kill(ctx, KillRequest{Instance: "inst", Node: "inst", Sessions: []Process{pb, changed, {ID: absent, User: "x"}},
		Match: MatchStatement, Record: true, Source: SourceIntelligent, Ref: "itask-1"})
	if err != nil {
		t.Fatal(err)
	}
	want = []Outcome{OutcomeKilled, OutcomeChanged, OutcomeGone}
	for i, r := range res {
		if r.Outcome != want[i] {
			t.Errorf("intelligent result %d: %+v, want %s", i, r, want[i])
		}
	}
	waitGone(t, 2*time.Second, b)
	assertAlive(t, d)
	recs, _, _ = eng.store.ListKillRecords(ctx, RecordQuery{Source: SourceIntelligent, TaskID: "itask-1"})
	if len(recs) != 3 {
		t.Fatalf("%d intelligent records", len(recs))
	}

	// The same connection running another statement: MatchStatement
	// refuses it, MatchConnection kills it.
	pd := sessionOf(t, eng.Engine, d.id)
	other := pd
	other.Info = "SELECT 'another statement'"
	res, err = eng.Kill(ctx, KillRequest{Instance: "inst", Sessions: []Process{other}, Match: MatchStatement})
	if err != nil || res[0].Outcome != OutcomeChanged {
		t.Fatalf("statement changed, MatchStatement: %+v %v", res, err)
	}
	assertAlive(t, d)
	res, err = eng.Kill(ctx, KillRequest{Instance: "inst", Sessions: []Process{other}, Match: MatchConnection})
	if err != nil || res[0].Outcome != OutcomeKilled {
		t.Fatalf("statement changed, MatchConnection: %+v %v", res, err)
	}
	waitGone(t, 2*time.Second, d)
}

// sessionOf returns the processlist row of thread id on the engine's "inst".
func sessionOf(t *testing.T, e *Engine, id uint64) Process {
	t.Helper()
	ps, err := e.ProcessList(context.Background(), "inst", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("thread %d not in the processlist", id)
	return Process{}
}

func TestNewEngineValidation(t *testing.T) {
	st := newStore(t)
	for _, tt := range []struct {
		name  string
		insts []InstanceConfig
	}{
		{"no-id", []InstanceConfig{{ID: "", DSN: rootDSN}}},
		{"id-twice", []InstanceConfig{{ID: "a", DSN: rootDSN}, {ID: "a", DSN: rootDSN}}},
		{"no-dsn-no-nodes", []InstanceConfig{{ID: "a"}}},
		{"dsn-and-nodes", []InstanceConfig{{ID: "a", DSN: rootDSN, Nodes: []NodeConfig{{ID: "n", DSN: rootDSN}}}}},
		{"node-id-twice", []InstanceConfig{{ID: "a", Nodes: []NodeConfig{{ID: "n", DSN: rootDSN}, {ID: "n", DSN: rootDSN}}}}},
		{"bad-dsn-password-not-echoed", []InstanceConfig{{ID: "a", DSN: "u:hunter2@tcp(127.0.0.1:3306)/?badparam=%zz"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEngine(Config{}, st, tt.insts, nil)
			if err == nil {
				t.Error("no error")
			} else if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	e, err := NewEngine(Config{}, st, []InstanceConfig{rootInstance("a")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.Config(); c.PollInterval != 500*time.Millisecond || c.KillConcurrency != 8 || c.KillTimeout != 5*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	n := e.instances["a"].nodes[0]
	if n.mc.Timeout == 0 || n.mc.ReadTimeout == 0 || n.mc.WriteTimeout == 0 {
		t.Fatalf("timeouts not set: %+v", n.mc)
	}
	if _, ok := e.Instance("a"); !ok {
		t.Fatal("Instance(a)")
	}
	if err := e.CreateTask(context.Background(), newTask("zzz", Filter{}, 5)); !errors.Is(err, ErrUnknownInstance) {
		t.Fatalf("unknown instance: %v", err)
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
func (o *countingObserver) HistoryWritten(int)                            {}
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
	if err := n.execKill(ctx, v.id, "some-other-host:3306/99", nil); !errors.Is(err, errOtherServer) {
		t.Fatalf("execKill to another server: %v", err)
	}
	assertAlive(t, v)
}
