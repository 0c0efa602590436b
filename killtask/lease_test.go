package killtask

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// leaseEngines builds n engines with leases on one store, configured with
// the same nodes (never polled: no tasks).
func leaseEngines(t *testing.T, st *Store, n, nodes int, ttl time.Duration) []*Engine {
	t.Helper()
	var insts []InstanceConfig
	for i := range nodes {
		insts = append(insts, InstanceConfig{ID: fmt.Sprintf("inst-%d", i), Product: "mysql", DSN: rootDSN})
	}
	var out []*Engine
	for i := range n {
		cfg := testConfig()
		cfg.LeaseTTL = ttl
		cfg.ReplicaID = fmt.Sprintf("r%d", i+1)
		e, err := NewEngine(cfg, st, insts, testLogger(t), WithScope(inScope))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for _, inst := range e.order {
				for _, nd := range inst.nodes {
					nd.close()
				}
			}
		})
		out = append(out, e)
	}
	return out
}

// owned counts the nodes each engine believes it owns.
func owned(es []*Engine) []int {
	out := make([]int, len(es))
	for i, e := range es {
		for _, inst := range e.order {
			for _, n := range inst.nodes {
				if n.owns() {
					out[i]++
				}
			}
		}
	}
	return out
}

func TestLeaseSpreading(t *testing.T) {
	leaseStoreUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		es := leaseEngines(t, st, 3, 9, 2*time.Second)
		// Rounds one after another, as three replicas starting together.
		for range 3 {
			for _, e := range es {
				e.leases.round(ctx)
			}
		}
		if got := owned(es); !slices.Equal(got, []int{3, 3, 3}) {
			t.Fatalf("9 nodes over 3 replicas: %v, want 3 each", got)
		}
		// Every node has exactly one owner, and the store agrees.
		ls, err := st.Leases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byOwner := map[string]int{}
		for _, l := range ls {
			if l.Live {
				byOwner[l.Owner]++
			}
		}
		if want := map[string]int{"r1": 3, "r2": 3, "r3": 3}; !maps.Equal(byOwner, want) {
			t.Fatalf("store leases by owner %v, want %v", byOwner, want)
		}
		// Stable: more rounds move nothing.
		before := map[string]string{}
		for _, l := range ls {
			before[l.Key] = l.Owner
		}
		for range 2 {
			for _, e := range es {
				e.leases.round(ctx)
			}
		}
		ls, _ = st.Leases(ctx)
		for _, l := range ls {
			if before[l.Key] != l.Owner {
				t.Errorf("lease %s moved from %s to %s in steady state", l.Key, before[l.Key], l.Owner)
			}
		}
		// r3 dies (stops renewing): once its leases and heartbeat lapse, r1
		// and r2 share its nodes (quota 5).
		waitFor(t, 10*time.Second, func() bool {
			es[0].leases.round(ctx)
			es[1].leases.round(ctx)
			got := owned(es[:2])
			return got[0]+got[1] == 9
		}, "r1 and r2 to take over r3's nodes")
		if got := owned(es[:2]); max(got[0], got[1]) > 5 {
			t.Errorf("after r3 died: %v, want at most 5 each", got)
		}
	})
}

// TestLeaseEnginesConverge runs three engines with leases on one store and
// checks that the nodes are spread 3/3/3 with one owner each.
func TestLeaseEnginesConverge(t *testing.T) {
	needDB(t)
	st := newStore(t)
	es := leaseEngines(t, st, 3, 9, time.Second)
	var stops []func()
	for _, e := range es {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.Run(ctx); close(done) }()
		stops = append(stops, func() { cancel(); <-done })
	}
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	waitFor(t, 10*time.Second, func() bool { return slices.Equal(owned(es), []int{3, 3, 3}) }, "3/3/3 spread (now %v)", owned(es))
	// A graceful stop gives the leases back at once: the others take them
	// within a round, well before the TTL.
	stops[2]()
	stops[2] = func() {}
	start := time.Now()
	waitFor(t, 5*time.Second, func() bool { o := owned(es[:2]); return o[0]+o[1] == 9 }, "takeover after a graceful stop")
	t.Logf("graceful handover of 3 nodes took %v", time.Since(start))
}

// TestLeaseFencing: an engine whose node lease is held by another replica
// never kills there; once the lease lapses it takes over and enforces.
func TestLeaseFencing(t *testing.T) {
	needDB(t)
	st := newStore(t)
	ctx := context.Background()
	const ttl = time.Second
	cfg := testConfig()
	cfg.LeaseTTL = ttl
	cfg.ReplicaID = "me"
	// Another replica holds the node's lease and keeps renewing it.
	if ok, err := st.AcquireLease(ctx, "fence-i/fence-i", "other", ttl); err != nil || !ok {
		t.Fatalf("other's lease: %v %v", ok, err)
	}
	renewing := make(chan struct{})
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		tk := time.NewTicker(ttl / 4)
		defer tk.Stop()
		for {
			select {
			case <-renewing:
				return
			case <-tk.C:
				_, _ = st.RenewLease(ctx, "fence-i/fence-i", "other", ttl)
			}
		}
	}()
	e := startEngine(t, cfg, st, []InstanceConfig{rootInstance("fence-i")}, false)
	lk := holdLock(t)
	v := startVictim(t, lk, victimSpec{name: "v", user: fx.users[0], db: fx.dbs[0], mode: "lock"})
	if err := e.CreateTask(ctx, newTask("fence-i", Filter{User: fx.users[0]}, Forever)); err != nil {
		t.Fatal(err)
	}
	// Several lease rounds and poll intervals: not ours, no kill, no poll.
	time.Sleep(3 * ttl / 2)
	assertAlive(t, v)
	if e.Owns("fence-i", "") {
		t.Fatal("engine believes it owns a node another replica holds")
	}
	if p := e.PollCount("fence-i", "fence-i"); p != 0 {
		t.Errorf("non-owner polled the node %d times", p)
	}
	// The other replica stops renewing: takeover within about a TTL.
	close(renewing)
	<-renewDone
	start := time.Now()
	waitGone(t, 3*ttl, v)
	t.Logf("takeover and kill %v after the other replica stopped renewing (ttl %v)", time.Since(start), ttl)
	waitFor(t, 5*time.Second, func() bool {
		_, total, err := st.ListKillRecords(ctx, RecordQuery{InstanceID: "fence-i"})
		return err == nil && total == 1
	}, "the kill's history row")
	var replica string
	if err := st.DB().Get(&replica, "SELECT replica FROM kill_records WHERE instance_id = ?", "fence-i"); err != nil || replica != "me" {
		t.Errorf("history replica %q %v, want me", replica, err)
	}

	// Now steal the lease behind its back (as a replica that took over
	// while this one was paused): the next kill batch is fenced off.
	if _, err := st.DB().Exec("UPDATE node_leases SET owner = 'thief', expires_ms = expires_ms + 60000 WHERE node_key = 'fence-i/fence-i'"); err != nil {
		t.Fatal(err)
	}
	v2 := startVictim(t, lk, victimSpec{name: "v2", user: fx.users[0], db: fx.dbs[0], mode: "lock"})
	time.Sleep(ttl)
	assertAlive(t, v2)
	if e.Owns("fence-i", "") {
		t.Error("engine still believes it owns a stolen lease")
	}
}

// TestLeaseCancelElsewhere drives one node's ticks by hand: a task
// cancelled in the shared store (by another replica) is not enforced by the
// owner's next kill batch, before any reload; and a kill whose lease deadline
// passed (the replica was paused) is not attempted.
func TestLeaseCancelElsewhere(t *testing.T) {
	needDB(t)
	st := newStore(t)
	ctx := context.Background()
	cfg := testConfig()
	cfg.LeaseTTL = time.Second
	e, err := NewEngine(cfg, st, []InstanceConfig{rootInstance("cx-i")}, testLogger(t), WithScope(inScope))
	if err != nil {
		t.Fatal(err)
	}
	go e.hist.run()
	n := e.instances["cx-i"].nodes[0]
	t.Cleanup(func() {
		e.kills.Wait()
		e.hist.close()
		n.releasePollConn()
		n.close()
	})
	if n.owns() {
		t.Fatal("owns a node before any lease round")
	}
	e.leases.round(ctx)
	if !n.owns() {
		t.Fatal("no lease after a round on an empty lease table")
	}
	lk := holdLock(t)
	if err := e.CreateTask(ctx, newTask("cx-i", Filter{User: fx.users[1]}, Forever)); err != nil {
		t.Fatal(err)
	}
	v := startVictim(t, lk, victimSpec{name: "v", user: fx.users[1], db: fx.dbs[0], mode: "lock"})
	waitFor(t, 5*time.Second, func() bool {
		n.tick(ctx)
		e.kills.Wait()
		return len(processIDs(t, []uint64{v.id})) == 0
	}, "the owner's ticks to kill v")
	waitGone(t, 5*time.Second, v)

	// Cancelled through the store only: the in-memory set still has it.
	if _, err := st.CancelTasks(ctx, "cx-i", time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(e.activeFor("cx-i", time.Now())) != 1 {
		t.Fatal("the in-memory task set changed without a reload")
	}
	v2 := startVictim(t, lk, victimSpec{name: "v2", user: fx.users[1], db: fx.dbs[0], mode: "lock"})
	n.tick(ctx)
	e.kills.Wait()
	assertAlive(t, v2)
	if k := len(e.activeFor("cx-i", time.Now())); k != 0 {
		t.Errorf("%d cancelled tasks still in memory after a kill batch", k)
	}

	// Paused past the local lease deadline between the batch's checks and
	// the KILL: the KILL is not attempted.
	if err := e.CreateTask(ctx, newTask("cx-i", Filter{User: fx.users[1], DBs: []string{fx.dbs[0]}}, Forever)); err != nil {
		t.Fatal(err)
	}
	ps := processIDs(t, []uint64{v2.id})
	n.setLease(time.Now().Add(-time.Millisecond))
	n.killForTask(ctx, ps[v2.id], n.server, time.Time{}, time.Now(), nil)
	assertAlive(t, v2)
	// With the lease confirmed again but the batch's confirm window closed
	// (a cancel elsewhere may have committed since), nothing is sent.
	if !func() bool { n.setLease(time.Now().Add(time.Second)); return n.fence(ctx) }() {
		t.Fatal("fence refused a lease this replica holds")
	}
	n.killForTask(ctx, ps[v2.id], n.server, time.Now().Add(-time.Millisecond), time.Now(), nil)
	assertAlive(t, v2)
	// Within the window, the same call kills.
	n.killForTask(ctx, ps[v2.id], n.server, time.Now().Add(time.Second), time.Now(), nil)
	waitGone(t, 5*time.Second, v2)
}
