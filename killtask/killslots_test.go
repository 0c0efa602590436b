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
