package killtask

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"
)

// leaseStoreUnderTest runs fn on SQLite and on the MySQL driver, with the
// lease and heartbeat tables emptied.
func leaseStoreUnderTest(t *testing.T, fn func(t *testing.T, st *Store)) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		clear := func() {
			for _, tbl := range []string{"node_leases", "replicas"} {
				if _, err := st.DB().Exec("DELETE FROM " + tbl); err != nil {
					t.Fatal(err)
				}
			}
		}
		clear()
		t.Cleanup(clear)
		fn(t, st)
	})
}

func TestLeaseAcquireRenewTakeoverFence(t *testing.T) {
	leaseStoreUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		// The configuration minimum: renewals every ttl/4 leave 750 ms of
		// slack for a loaded machine under -race (400 ms was seen to lapse).
		const ttl = time.Second
		mustLease := func(ok bool, err error) bool {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		// Acquire: the first replica wins, the second is refused while it is live.
		if !mustLease(st.AcquireLease(ctx, "i1/n1", "A", ttl)) {
			t.Fatal("A could not acquire a free lease")
		}
		if mustLease(st.AcquireLease(ctx, "i1/n1", "B", ttl)) {
			t.Fatal("B acquired a lease A holds")
		}
		// Re-acquire by the holder is a renewal.
		if !mustLease(st.AcquireLease(ctx, "i1/n1", "A", ttl)) {
			t.Fatal("A could not re-acquire its own lease")
		}
		// Renew (the fencing check) succeeds for the holder only.
		if !mustLease(st.RenewLease(ctx, "i1/n1", "A", ttl)) {
			t.Fatal("A could not renew its lease")
		}
		if mustLease(st.RenewLease(ctx, "i1/n1", "B", ttl)) {
			t.Fatal("B renewed A's lease")
		}
		// Renewing keeps it: across several TTLs B never gets it.
		var lastRenew time.Time
		for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(ttl / 4) {
			lastRenew = time.Now()
			if n, err := st.RenewLeases(ctx, "A", ttl); err != nil || n != 1 {
				t.Fatalf("RenewLeases: %d %v", n, err)
			}
			if mustLease(st.AcquireLease(ctx, "i1/n1", "B", ttl)) {
				t.Fatal("B took a lease that A keeps renewing")
			}
		}
		// Takeover: once A stops renewing, B gets it, never before a TTL
		// after A's last renewal (store clock, millisecond precision).
		waitFor(t, 5*ttl, func() bool { return mustLease(st.AcquireLease(ctx, "i1/n1", "B", ttl)) }, "B to take over the lapsed lease")
		if took := time.Since(lastRenew); took < ttl-10*time.Millisecond {
			t.Errorf("takeover %v after A's last renewal, before the lease could have lapsed (ttl %v)", took, ttl)
		}
		// Fencing: A's conditional renew now fails, and so does a batch renew.
		if mustLease(st.RenewLease(ctx, "i1/n1", "A", ttl)) {
			t.Fatal("fencing: A renewed a lease B took over")
		}
		if n, err := st.RenewLeases(ctx, "A", ttl); err != nil || n != 0 {
			t.Fatalf("RenewLeases for A after takeover: %d %v", n, err)
		}
		// A lapsed lease cannot be renewed by its old holder either.
		if !mustLease(st.AcquireLease(ctx, "i1/n2", "A", ttl)) {
			t.Fatal("A could not acquire n2")
		}
		waitFor(t, 5*ttl, func() bool {
			ls, err := st.Leases(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range ls {
				if l.Key == "i1/n2" {
					return !l.Live
				}
			}
			return false
		}, "n2 to lapse")
		if mustLease(st.RenewLease(ctx, "i1/n2", "A", ttl)) {
			t.Fatal("fencing: A renewed a lapsed lease")
		}
		// Release hands over at once.
		if !mustLease(st.AcquireLease(ctx, "i1/n1", "B", ttl)) { // B's own lease, lapsed meanwhile
			t.Fatal("B could not re-acquire")
		}
		if err := st.ReleaseLease(ctx, "i1/n1", "A"); err != nil { // not A's: no effect
			t.Fatal(err)
		}
		if mustLease(st.AcquireLease(ctx, "i1/n1", "C", ttl)) {
			t.Fatal("a release by a non-holder freed the lease")
		}
		if err := st.ReleaseLease(ctx, "i1/n1", "B"); err != nil {
			t.Fatal(err)
		}
		if !mustLease(st.AcquireLease(ctx, "i1/n1", "C", ttl)) {
			t.Fatal("C could not take a released lease")
		}
		ls, err := st.Leases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, l := range ls {
			if l.Live {
				got[l.Key] = l.Owner
			}
		}
		if want := map[string]string{"i1/n1": "C"}; !maps.Equal(got, want) {
			t.Errorf("live leases %v, want %v", got, want)
		}
		// Heartbeats.
		for _, id := range []string{"A", "B"} {
			if err := st.Heartbeat(ctx, id, ttl); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Heartbeat(ctx, "A", ttl); err != nil { // upsert
			t.Fatal(err)
		}
		live, err := st.LiveReplicas(ctx)
		if err != nil || !slices.Equal(live, []string{"A", "B"}) {
			t.Fatalf("live replicas %v %v", live, err)
		}
		if err := st.RemoveReplica(ctx, "A"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*ttl, func() bool {
			live, err := st.LiveReplicas(ctx)
			return err == nil && len(live) == 0
		}, "heartbeats to expire")
	})
}
