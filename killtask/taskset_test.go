package killtask

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Task lifecycle through the engine: expiry, cancel, restart.

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

}

// With a store other processes share (MySQL), a task created or cancelled
// by another process is picked up within an interval or two.
func TestTaskChangedByAnotherProcess(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	st := mysqlStore(t)
	eng := startEngine(t, testConfig(), st, []InstanceConfig{rootInstance("inst")}, false)
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

}
