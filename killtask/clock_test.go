package killtask

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a wall clock the test moves by hand (WithClock).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// The engine's clock (WithClock) decides task times and expiry, prepared
// kills' expiry, intelligent-task times and kill-history timestamps.
func TestEngineClock(t *testing.T) {
	ctx := context.Background()
	newEngine := func(t *testing.T, clk *fakeClock) *Engine {
		t.Helper()
		e, err := NewEngine(testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, testLogger(t), WithClock(clk.now))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	t.Run("task-times-and-expiry", func(t *testing.T) {
		clk := newFakeClock()
		e := newEngine(t, clk)
		start := clk.now()
		tk := &Task{ID: "kt-clock-" + randHex(4), InstanceID: "inst", Filter: Filter{User: "nobody"}, Duration: 60}
		if err := e.CreateTask(ctx, tk); err != nil {
			t.Fatal(err)
		}
		if !tk.CreatedAt.Equal(start) || !tk.ExpiresAt.Equal(start.Add(time.Minute)) {
			t.Fatalf("created %v expires %v, want %v and a minute later", tk.CreatedAt, tk.ExpiresAt, start)
		}
		if got := len(e.activeFor("inst", e.now())); got != 1 {
			t.Fatalf("%d active tasks, want 1", got)
		}
		clk.advance(time.Minute)
		if got := len(e.activeFor("inst", e.now())); got != 0 {
			t.Fatalf("%d active tasks a minute on, want 0", got)
		}
		ts, _, err := e.ListTasks(ctx, TaskQuery{TaskID: tk.ID})
		if err != nil || len(ts) != 1 {
			t.Fatalf("ListTasks: %v %v", ts, err)
		}
		if ts[0].Status != StatusFinished || !ts[0].EndedAt.Equal(start.Add(time.Minute)) {
			t.Fatalf("task a minute on: %s ended %v", ts[0].Status, ts[0].EndedAt)
		}
	})

	t.Run("cancel-time", func(t *testing.T) {
		clk := newFakeClock()
		e := newEngine(t, clk)
		tk := &Task{ID: "kt-clock-" + randHex(4), InstanceID: "inst", Filter: Filter{User: "nobody"}, Duration: Forever}
		if err := e.CreateTask(ctx, tk); err != nil {
			t.Fatal(err)
		}
		clk.advance(90 * time.Second)
		if _, err := e.CancelTasks(ctx, "inst"); err != nil {
			t.Fatal(err)
		}
		ts, _, err := e.ListTasks(ctx, TaskQuery{TaskID: tk.ID})
		if err != nil || len(ts) != 1 || ts[0].Status != StatusCancelled || !ts[0].EndedAt.Equal(clk.now()) {
			t.Fatalf("cancelled task: %+v %v, want ended at %v", ts, err, clk.now())
		}
	})

	t.Run("prepared-kill-expiry", func(t *testing.T) {
		clk := newFakeClock()
		e := newEngine(t, clk)
		for _, tt := range []struct {
			name    string
			wait    time.Duration
			wantErr error
		}{
			{"within-ttl", 9 * time.Second, nil},
			{"at-expiry", 10 * time.Second, ErrExpired},
		} {
			t.Run(tt.name, func(t *testing.T) {
				pk := &PreparedKill{ID: "pk-" + randHex(4), InstanceID: "inst", Threads: []uint64{7}}
				if err := e.SavePreparedKill(ctx, pk, 10*time.Second); err != nil {
					t.Fatal(err)
				}
				if !pk.CreatedAt.Equal(clk.now()) || !pk.ExpiresAt.Equal(clk.now().Add(10*time.Second)) {
					t.Fatalf("prepared at %v expiring %v, want the clock's %v", pk.CreatedAt, pk.ExpiresAt, clk.now())
				}
				clk.advance(tt.wait)
				got, err := e.TakePreparedKill(ctx, pk.ID, "inst")
				if !errors.Is(err, tt.wantErr) || (err == nil && got.ID != pk.ID) {
					t.Fatalf("take after %v: %+v %v, want %v", tt.wait, got, err, tt.wantErr)
				}
			})
		}
	})

	t.Run("intelligent-task-times", func(t *testing.T) {
		clk := newFakeClock()
		e := newEngine(t, clk)
		it := &IntelligentTask{ID: "ik-" + randHex(4), InstanceID: "inst", NodeID: "inst"}
		if err := e.SaveIntelligentTask(ctx, it); err != nil {
			t.Fatal(err)
		}
		clk.advance(1500 * time.Millisecond)
		if err := e.FinishIntelligentTask(ctx, it.ID, IntelligentSummary{Killed: 1}); err != nil {
			t.Fatal(err)
		}
		got, err := e.GetIntelligentTask(ctx, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := clk.now().Add(-1500 * time.Millisecond); !got.CreatedAt.Equal(want) || !got.EndedAt.Equal(clk.now()) {
			t.Fatalf("intelligent task %v → %v, want %v → %v", got.CreatedAt, got.EndedAt, want, clk.now())
		}
	})

	// With the worker running: kills are stamped by the clock, and once the
	// clock passes a task's expiry the task kills nothing more.
	t.Run("enforcement", func(t *testing.T) {
		needDB(t)
		clk := newFakeClock()
		lk := holdLock(t)
		st := newStore(t)
		eng := startEngine(t, testConfig(), st, []InstanceConfig{rootInstance("inst")}, false, WithClock(clk.now))
		tk := newTask("inst", Filter{User: fx.users[0]}, 60)
		tk.CreatedAt = time.Time{} // the engine's clock sets it
		if err := eng.CreateTask(ctx, tk); err != nil {
			t.Fatal(err)
		}
		first := startVictim(t, lk, victimSpec{name: "first", user: fx.users[0], mode: "lock"})
		waitGone(t, 5*time.Second, first)
		waitFor(t, 5*time.Second, func() bool {
			_, n, _ := st.ListKillRecords(ctx, RecordQuery{TaskID: tk.ID})
			return n == 1
		}, "the kill's history row")
		recs, _, err := st.ListKillRecords(ctx, RecordQuery{TaskID: tk.ID})
		if err != nil || len(recs) != 1 || !recs[0].KilledAt.Equal(clk.now()) {
			t.Fatalf("history: %+v %v, want one row at %v", recs, err, clk.now())
		}
		// Another task keeps the poller reading (an instance without active
		// tasks is not polled).
		if err := eng.CreateTask(ctx, newTask("inst", Filter{User: fx.users[1]}, Forever)); err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Minute)
		later := startVictim(t, lk, victimSpec{name: "later", user: fx.users[0], mode: "lock"})
		waitPolls(t, eng.Engine, "inst", "inst", 3)
		assertAlive(t, later)
		waitFor(t, 5*time.Second, func() bool {
			got, err := st.GetTask(ctx, tk.ID)
			return err == nil && got.Status == StatusFinished
		}, "the expired task finished in the store")
	})
}
