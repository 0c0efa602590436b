package killtask

import (
	"context"
	"testing"
	"time"
)

// Kills asked for through Engine.Kill.

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
