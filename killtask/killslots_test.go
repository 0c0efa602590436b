package killtask

import (
	"context"
	"testing"
	"time"
)

// A batch whose re-check went stale while every kill slot was taken kills
// nothing on it when a slot comes free: it reads again instead. (Found by a
// hostile review: a burst's KILLs went out up to a poll interval after the
// re-check, and sessions that had moved on to a statement the task does not
// match were killed in it.)
func TestStaleBatchKillsNothing(t *testing.T) {
	needDB(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	n := eng.instances["inst"].nodes[0]
	lk := holdLock(t)
	v := startVictim(t, lk, victimSpec{name: "stale", user: fx.users[0], mode: "lock"})

	for range cap(n.sem) { // every slot taken (stalled KILLs elsewhere)
		n.sem <- struct{}{}
	}
	now := time.Now()
	q := &killQueue{ctx: context.Background(), server: n.server, seen: now,
		items: []Process{{ID: v.id, User: fx.users[0]}}, deadline: now.Add(time.Second), fresh: now.Add(killFresh)}
	done := make(chan struct{})
	go func() { n.drain(q); close(done) }()
	time.Sleep(3 * killFresh) // the re-check goes stale meanwhile
	<-n.sem                   // a slot comes free
	<-done
	for range cap(n.sem) - 1 {
		<-n.sem
	}
	if got := q.next.Load(); got != 0 {
		t.Fatalf("%d victim(s) taken for a KILL on a re-check %v old", got, time.Since(now).Round(time.Millisecond))
	}
	assertAlive(t, v)
}

// seconds saturates instead of wrapping: a huge Time plans a crossing far in
// the future, never in the past (which made a busy loop of re-reads).
func TestSecondsSaturates(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    int64
		want time.Duration
	}{
		{"zero", 0, 0},
		{"thirty", 30, 30 * time.Second},
		{"century", maxSeconds, maxSeconds * time.Second},
		{"past a century", maxSeconds + 1, maxSeconds * time.Second},
		{"wraps without the bound", 9223372037, maxSeconds * time.Second},
		{"largest", 1<<63 - 1, maxSeconds * time.Second},
		{"negative", -5, -5 * time.Second},
		{"smallest", -1 << 63, -maxSeconds * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := seconds(tt.n); got != tt.want || (tt.n > 0 && got <= 0) {
				t.Errorf("seconds(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

// A re-check for a task that needs transactions reads them first and the
// processlist last, so that the reading a KILL acts on is the processlist
// re-read (a transactions read can wait ~120 ms for the server's cache: read
// after the processlist, it left the KILLs acting on a reading that old —
// a hostile review's finding).
func TestRecheckReadsProcesslistLast(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	tbl := testTable(t, "recheck", 1)
	s := openSession(t, "in-trx", fx.users[0], fx.dbs[0])
	s.exec(t, "BEGIN", "UPDATE "+tbl+" SET v = v + 1 WHERE id = 1")
	// An engine that is not running: the test plays its poller.
	eng, err := NewEngine(testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, testLogger(t), WithScope(inScope))
	if err != nil {
		t.Fatal(err)
	}
	n := eng.instances["inst"].nodes[0]
	t.Cleanup(func() { n.releasePollConn(); n.close() })
	ps, _, err := n.poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var item Process
	for _, p := range ps {
		if p.ID == s.id {
			item = p
		}
	}
	if item.ID == 0 {
		t.Fatalf("session %d not read", s.id)
	}
	tasks := []*Task{newTask("inst", Filter{User: fx.users[0], Commands: []string{"Sleep"}, MinTrxTime: 1}, Forever)}
	time.Sleep(2500 * time.Millisecond) // TrxTime 1 s on whole seconds: the transaction's age reaches it
	for range 2 {
		got, checked, err := n.reconfirm(ctx, tasks, []Process{item})
		if err != nil {
			t.Fatal(err)
		}
		n.x.mu.Lock()
		trxRead := n.x.lastRead
		n.x.mu.Unlock()
		if !checked.After(trxRead) {
			t.Fatalf("the processlist re-read answered at %v, before the transactions read ended at %v", checked, trxRead)
		}
		if len(got) != 1 || !got[0].InTrx {
			t.Fatalf("re-checked %+v: want the session, in its transaction", got)
		}
	}
}
