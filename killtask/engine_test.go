package killtask

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
	waitFor(t, 10*time.Second, func() bool { // generous: a loaded machine; not a timing assertion
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

// A Time threshold: a session past it dies at once; one not yet past it
// dies when it crosses it, never before; a session of another command
// survives.
func TestKillByTime(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	old := startVictim(t, lk, victimSpec{name: "old", user: fx.users[0], mode: "lock"})
	waitFor(t, 5*time.Second, func() bool { return processIDs(t, []uint64{old.id})[old.id].Time >= 1 }, "TIME >= 1")
	freshStart := time.Now()
	fresh := startVictim(t, lk, victimSpec{name: "fresh", user: fx.users[0], mode: "lock"})
	idle := startVictim(t, lk, victimSpec{name: "idle", user: fx.users[1], mode: "idle"})
	if err := eng.CreateTask(ctx, newTask("inst", Filter{MinTime: 1, Commands: []string{"Query"}}, Forever)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, 3*time.Second, old)
	seen := waitGone(t, 3*time.Second, fresh)
	if died := fresh.diedAt(t); died.Before(freshStart.Add(time.Second)) {
		t.Fatalf("fresh killed %v after its statement started, before its 1 s threshold (seen gone %v)", died.Sub(freshStart), seen[fresh].Sub(freshStart))
	}
	assertAlive(t, idle)
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
