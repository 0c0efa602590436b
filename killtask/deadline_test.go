package killtask

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestReadEvery(t *testing.T) {
	cfg := DefaultConfig() // poll 500ms, ceiling 15s
	e := &Engine{cfg: cfg}
	n := &node{e: e}
	task := func(minTime int64) *Task { return &Task{Filter: Filter{MinTime: minTime}} }
	tests := []struct {
		name  string
		tasks []*Task
		want  time.Duration
	}{
		{"no-time", []*Task{task(0)}, 500 * time.Millisecond},
		{"time-30", []*Task{task(30)}, 15 * time.Second},
		{"time-10", []*Task{task(10)}, 5 * time.Second},
		{"time-1-floor", []*Task{task(1)}, 500 * time.Millisecond},
		{"time-3600-ceiling", []*Task{task(3600)}, 15 * time.Second},
		{"nearest-threshold-wins", []*Task{task(30), task(4)}, 2 * time.Second},
		{"one-untimed-task-polls", []*Task{task(30), task(0)}, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := n.readEvery(tt.tasks); got != tt.want {
				t.Errorf("readEvery = %v, want %v", got, tt.want)
			}
		})
	}
}

// planDue from a synthetic read: the crossing instant of each session that
// matches but for Time, from MariaDB's TIME_MS against the read's instant.
func TestPlanDue(t *testing.T) {
	e, err := NewEngine(testConfig(), newStore(t), []InstanceConfig{{ID: "i", Product: "mysql", DSN: "u@tcp(127.0.0.1:1)/"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := e.instances["i"].nodes[0]
	t.Cleanup(n.close) // planDue warms the kill pool
	n.rtt = 100 * time.Microsecond
	sent := time.Now()
	st := readStamp{sent: sent, recv: sent.Add(3 * time.Millisecond), self: 400 * time.Microsecond}
	ps := []Process{
		{ID: 1, User: "app", Host: "h:1", Command: "Query", Time: 1, Elapsed: 1500 * time.Millisecond, QueryID: 11, Info: "select 1"},
		{ID: 2, User: "app", Host: "h:2", Command: "Query", Time: 5, Elapsed: 5200 * time.Millisecond, QueryID: 12, Info: "select 2"}, // past 3 s: a poll candidate, not due
		{ID: 3, User: "other", Host: "h:3", Command: "Query", Time: 0, Elapsed: 10 * time.Millisecond, QueryID: 13, Info: "select 3"}, // other user
		{ID: 4, User: "app", Host: "h:4", Command: "Query", Time: 0, Elapsed: 250 * time.Millisecond, QueryID: 14, Info: "update t"},  // nearer threshold: 2 s on "update"
		{ID: 5, User: "app", Command: "Query", Time: 0, Elapsed: 250 * time.Millisecond, QueryID: 15, Info: "select 5"},               // a server thread (no host)
		{ID: 6, User: "app", Host: "h:6", Command: "Query", Time: 2, Elapsed: 2 * time.Second, QueryID: 0, Info: "select 6"},          // no TIME_MS: whole seconds
	}
	tasks := []*Task{
		{ID: "t3", Filter: Filter{User: "app", MinTime: 3}},
		{ID: "t2", Filter: Filter{User: "app", Infos: []string{"update"}, MinTime: 2}},
		{ID: "t0", Filter: Filter{User: "nobody"}},
	}
	n.planDue(ps, st, tasks, func(uint64) bool { return false })
	want := map[uint64]time.Time{
		1: sent.Add(n.rtt + st.self - 1500*time.Millisecond + 3*time.Second),
		4: sent.Add(n.rtt + st.self - 250*time.Millisecond + 2*time.Second),
		6: st.recv.Add(-2*time.Second + 3*time.Second),
	}
	if len(n.due) != len(want) {
		t.Fatalf("planned %d due kills, want %d: %+v", len(n.due), len(want), n.due)
	}
	for i, d := range n.due {
		if w, ok := want[d.p.ID]; !ok || !d.at.Equal(w) {
			t.Errorf("session %d due at %v, want %v (planned: %v)", d.p.ID, d.at.Sub(sent), w.Sub(sent), ok)
		}
		if i > 0 && d.at.Before(n.due[i-1].at) {
			t.Errorf("due kills not sorted")
		}
	}
}

// dotConfig paces reads by the tasks' Time (ceiling 15 s), as in
// production, with a fast poll interval for tasks without Time.
func dotConfig() Config {
	cfg := testConfig()
	cfg.MaxReadInterval = 15 * time.Second
	return cfg
}

// A task with only a Time threshold reads at T/2, not every poll interval,
// and still kills every session when it crosses T — never before, and long
// before the next read would have — including one that started just after
// a read.
func TestKillOnTheDot(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, dotConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	const T = 2
	if err := eng.CreateTask(ctx, newTask("inst", Filter{User: fx.users[0], MinTime: T}, Forever)); err != nil {
		t.Fatal(err)
	}
	waitPolls(t, eng.Engine, "inst", "inst", 1)
	polls0, began := eng.PollCount("inst", "inst"), time.Now()

	var vs []*victim
	// One right after a read: the worst case for a poller.
	p := eng.PollCount("inst", "inst")
	waitFor(t, 5*time.Second, func() bool { return eng.PollCount("inst", "inst") > p }, "a read")
	vs = append(vs, startVictim(t, lk, victimSpec{name: "after-read", user: fx.users[0], mode: "lock"}))
	// Others at random phases over one read interval.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			time.Sleep(rand.N(time.Second))
			v := startVictim(t, lk, victimSpec{name: "random", user: fx.users[0], mode: "lock"})
			mu.Lock()
			vs = append(vs, v)
			mu.Unlock()
		})
	}
	wg.Wait()
	waitGone(t, (T+3)*time.Second, vs...)
	elapsed := time.Since(began)
	for _, v := range vs {
		late := v.diedAt(t).Sub(v.sent.Add(T * time.Second))
		if late < 0 {
			t.Errorf("%s killed %v before it crossed %d s", v, -late, T)
		}
		// Bounds are loose: the figure lives in the benchmark. A poller at
		// T/2 would be up to a second late.
		if late > 900*time.Millisecond {
			t.Errorf("%s killed %v after it crossed %d s", v, late, T)
		}
		t.Logf("%s: killed %v after crossing", v.name, late)
	}
	// About one read per T/2 (plus the first and a couple of spare).
	reads := eng.PollCount("inst", "inst") - polls0
	if most := int64(elapsed/(T*time.Second/2)) + 3; reads > most {
		t.Errorf("%d reads in %v with only a %d s task; want at most %d", reads, elapsed.Round(time.Millisecond), T, most)
	}
	if _, err := eng.CancelTasks(ctx, "inst"); err != nil {
		t.Fatal(err)
	}
}

// A session whose statement ended before its crossing, and which then runs
// another statement, is not killed at the old statement's crossing; the new
// statement is killed at its own.
func TestDueStatementChanged(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk1, lk2 := holdLock(t), holdLock(t)
	eng := startEngine(t, dotConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	const T = 2
	v := startVictim(t, lk1, victimSpec{name: "changing", user: fx.users[1], mode: "lock"})
	if err := eng.CreateTask(ctx, newTask("inst", Filter{User: fx.users[1], MinTime: T}, Forever)); err != nil {
		t.Fatal(err)
	}
	n := eng.instances["inst"].nodes[0]
	waitFor(t, 3*time.Second, func() bool { return n.duePlanned.Load() == 1 }, "the session's crossing planned")
	firstCrossing := v.sent.Add(T * time.Second)
	// Halfway to the crossing, end the statement and start another one on
	// the same connection: its own crossing comes a second after the old one.
	waitFor(t, 3*time.Second, func() bool { return time.Now().After(v.sent.Add(T * time.Second / 2)) }, "halfway")
	if _, err := lk1.conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", lk1.name); err != nil {
		t.Fatal(err)
	}
	if err := <-v.done; err != nil {
		t.Fatalf("first statement: %v", err)
	}
	v.ended.Store(0)
	v.query = "SELECT GET_LOCK('" + lk2.name + "', 60)"
	v.sent = time.Now()
	go func() {
		_, err := v.conn.ExecContext(ctx, v.query)
		v.ended.Store(time.Now().UnixNano())
		v.done <- err
	}()
	waitFor(t, 5*time.Second, func() bool { return time.Now().After(firstCrossing.Add(300 * time.Millisecond)) }, "the old crossing to pass")
	if v.ended.Load() != 0 {
		t.Fatalf("the session was killed at its old statement's crossing (%v after the new one started)", time.Unix(0, v.ended.Load()).Sub(v.sent))
	}
	waitGone(t, (T+2)*time.Second, v)
	if late := v.diedAt(t).Sub(v.sent.Add(T * time.Second)); late < 0 || late > 900*time.Millisecond {
		t.Errorf("new statement killed %v after its crossing", late)
	}
	if _, err := eng.CancelTasks(ctx, "inst"); err != nil {
		t.Fatal(err)
	}
}

// A cancelled task's pending crossings never fire: no re-read, no kill.
func TestDueCancelled(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	st := newStore(t)
	eng := startEngine(t, dotConfig(), st, []InstanceConfig{rootInstance("inst")}, false)
	const T = 2
	v := startVictim(t, lk, victimSpec{name: "spared", user: fx.users[2], mode: "lock"})
	tk := newTask("inst", Filter{User: fx.users[2], MinTime: T}, Forever)
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	n := eng.instances["inst"].nodes[0]
	waitFor(t, 3*time.Second, func() bool { return n.duePlanned.Load() == 1 }, "the session's crossing planned")
	if _, err := eng.CancelTasks(ctx, "inst"); err != nil {
		t.Fatal(err)
	}
	fired := n.dueReads.Load()
	waitFor(t, 5*time.Second, func() bool { return time.Now().After(v.sent.Add((T + 1) * time.Second)) }, "the crossing to pass")
	if d := n.dueReads.Load() - fired; d != 0 {
		t.Errorf("%d re-reads at crossings after the cancel", d)
	}
	assertAlive(t, v)
	if _, total, _ := st.ListKillRecords(ctx, RecordQuery{TaskID: tk.ID}); total != 0 {
		t.Errorf("%d kill attempts for the cancelled task", total)
	}
}

// With leases, a replica that lost the node's lease fires none of its
// planned crossings.
func TestDueLeaseLost(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	st := newStore(t)
	cfg := dotConfig()
	cfg.LeaseTTL = time.Second
	cfg.ReplicaID = "me"
	eng := startEngine(t, cfg, st, []InstanceConfig{rootInstance("due-l")}, false)
	waitFor(t, 5*time.Second, func() bool { return eng.Owns("due-l", "") }, "the node's lease")
	const T = 2
	v := startVictim(t, lk, victimSpec{name: "fenced", user: fx.users[0], db: fx.dbs[1], mode: "lock"})
	tk := newTask("due-l", Filter{User: fx.users[0], DBs: []string{fx.dbs[1]}, MinTime: T}, Forever)
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	n := eng.instances["due-l"].nodes[0]
	waitFor(t, 3*time.Second, func() bool { return n.duePlanned.Load() == 1 }, "the session's crossing planned")
	// Another replica takes the lease (this one was paused, say).
	if _, err := st.DB().Exec("UPDATE node_leases SET owner = 'thief', expires_ms = expires_ms + 60000 WHERE node_key = 'due-l/due-l'"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return time.Now().After(v.sent.Add((T + 1) * time.Second)) }, "the crossing to pass")
	assertAlive(t, v)
	if _, total, _ := st.ListKillRecords(ctx, RecordQuery{TaskID: tk.ID}); total != 0 {
		t.Errorf("%d kill attempts by a replica without the lease", total)
	}
}

// With no active task the engine reads nothing: no processlist query over
// many poll intervals, before any task and after the last one ends.
func TestNoTaskNoReads(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	n := eng.instances["inst"].nodes[0]
	idle := func(what string) {
		t.Helper()
		r0 := n.reads.Load()
		time.Sleep(10 * testConfig().PollInterval) // a negative check: nothing to wait for
		if d := n.reads.Load() - r0; d != 0 {
			t.Errorf("%s: %d processlist reads over 10 poll intervals with no task", what, d)
		}
	}
	idle("at start")
	if err := eng.CreateTask(ctx, newTask("inst", Filter{User: fx.users[0]}, Forever)); err != nil {
		t.Fatal(err)
	}
	waitPolls(t, eng.Engine, "inst", "inst", 3)
	if _, err := eng.CancelTasks(ctx, "inst"); err != nil {
		t.Fatal(err)
	}
	quiet := func() bool {
		r := n.reads.Load()
		time.Sleep(3 * testConfig().PollInterval)
		return n.reads.Load() == r
	}
	waitFor(t, 2*time.Second, quiet, "the poller to go idle")
	idle("after the cancel")
	// An expiring task: reads stop at its expiry.
	if err := eng.CreateTask(ctx, newTask("inst", Filter{User: fx.users[0]}, 1)); err != nil {
		t.Fatal(err)
	}
	waitPolls(t, eng.Engine, "inst", "inst", 2)
	waitFor(t, 3*time.Second, func() bool { return len(eng.activeFor("inst", eng.now())) == 0 }, "the task to expire")
	waitFor(t, 2*time.Second, quiet, "the poller to go idle")
	idle("after the expiry")
}
