package killtask

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Scale-out (docs/scale-out.md). Several replicas sharing a MySQL store each
// run every node's poller, but a node is enforced only by the replica that
// holds its lease: a row of node_leases (node key, owner replica id, expiry
// in the store's clock). The owner renews its leases every LeaseTTL/3 and
// confirms (and renews) the lease of a node with a conditional UPDATE before
// every kill batch; a replica that finds it lost a lease stops polling that
// node. Each live replica (a heartbeat row in replicas) takes at most
// ceil(nodes/live replicas) leases, so ownership spreads out; a lease left
// lapsed for a whole TTL is taken by anyone regardless of that quota.
//
// Every expiry comparison runs in SQL against the store's clock, so clock
// skew between replicas does not matter. Locally, a lease is trusted only
// until (time the renewing statement was sent) + TTL − TTL/5 on the
// monotonic clock: that is always before the row's expiry in the store, so a
// replica that was paused (SIGSTOP, a long GC, a frozen VM) wakes up knowing
// its lease is no longer safe to use, before it can issue a KILL.

// NewReplicaID returns a replica id: host name, process id and a random
// suffix (a restarted process is a new replica).
func NewReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	if len(host) > 64 {
		host = host[:64]
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// leaseKey names a node's lease.
func leaseKey(n *node) string { return n.inst.cfg.ID + "/" + n.id }

// leaseSafety is the part of the TTL a lease is not trusted locally: the
// margin for the KILL already on its way when the local deadline passes.
func leaseSafety(ttl time.Duration) time.Duration { return ttl / 5 }

// leaser runs the lease rounds of one engine.
type leaser struct {
	e     *Engine
	id    string
	ttl   time.Duration
	every time.Duration
	nodes []*node
	keys  map[string]*node
	free  map[string]time.Time // local time a lease was first seen free (for the quota override)

	failing bool
}

func newLeaser(e *Engine) *leaser {
	l := &leaser{e: e, id: e.cfg.ReplicaID, ttl: e.cfg.LeaseTTL, keys: map[string]*node{}, free: map[string]time.Time{}}
	l.every = min(l.ttl/3, max(e.cfg.PollInterval, 50*time.Millisecond))
	for _, inst := range e.order {
		for _, n := range inst.nodes {
			l.nodes = append(l.nodes, n)
			l.keys[leaseKey(n)] = n
		}
	}
	return l
}

// run does a round at once and every l.every until ctx ends. Engine.Run
// then calls releaseAll, once the pollers have stopped and their kills
// returned, so that a graceful restart hands over at once.
func (l *leaser) run(ctx context.Context) { every(ctx, l.every, l.round) }

// releaseAll gives every held lease back (graceful stop).
func (l *leaser) releaseAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, n := range l.nodes {
		if n.leaseSet() { // conditional on owner = us: harmless if another took it
			n.setLease(time.Time{})
			if err := l.e.store.ReleaseLease(ctx, leaseKey(n), l.id); err != nil {
				l.e.log.Warn("releasing lease failed", zap.String("lease", leaseKey(n)), zap.Error(err))
			}
		}
	}
	if err := l.e.store.RemoveReplica(ctx, l.id); err != nil {
		l.e.log.Warn("removing replica heartbeat failed", zap.Error(err))
	}
}

// round: heartbeat, renew what is held, learn the lease table, give back
// leases beyond the quota and take free ones up to it.
func (l *leaser) round(ctx context.Context) {
	e := l.e
	rctx, cancel := context.WithTimeout(ctx, max(l.ttl/3, time.Second))
	defer cancel()
	sent := time.Now()
	err := e.store.Heartbeat(rctx, l.id, l.ttl)
	if err == nil {
		_, err = e.store.RenewLeases(rctx, l.id, l.ttl)
	}
	var leases []Lease
	var live []string
	if err == nil {
		leases, err = e.store.Leases(rctx)
	}
	if err == nil {
		live, err = e.store.LiveReplicas(rctx)
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		// Held leases stay trusted only until their local deadline: a store
		// outage longer than that stops enforcement (nobody can prove
		// ownership) until the store answers again.
		if !l.failing {
			e.log.Error("lease round failed: enforcement continues only until the held leases' deadlines", zap.String("replica", l.id), zap.Error(err))
		}
		l.failing = true
		return
	}
	if l.failing {
		e.log.Info("lease round recovered", zap.String("replica", l.id))
		l.failing = false
	}
	until := sent.Add(l.ttl - leaseSafety(l.ttl))
	byKey := map[string]Lease{}
	for _, ls := range leases {
		byKey[ls.Key] = ls
	}
	held := 0
	var mine, free []*node
	now := time.Now()
	for _, n := range l.nodes {
		k := leaseKey(n)
		ls, ok := byKey[k]
		switch {
		case ok && ls.Live && ls.Owner == l.id:
			n.setLease(until)
			held++
			mine = append(mine, n)
			delete(l.free, k)
		case ok && ls.Live:
			if n.leaseSet() {
				n.setLease(time.Time{})
				e.log.Warn("lease lost", zap.String("lease", k), zap.String("replica", l.id), zap.String("owner", ls.Owner))
			}
			delete(l.free, k)
		default:
			if n.leaseSet() {
				n.setLease(time.Time{})
				e.log.Warn("lease lapsed", zap.String("lease", k), zap.String("replica", l.id))
			}
			if _, seen := l.free[k]; !seen {
				l.free[k] = now
			}
			free = append(free, n)
		}
	}
	if !slices.Contains(live, l.id) {
		live = append(live, l.id)
	}
	quota := (len(l.nodes) + len(live) - 1) / len(live)
	// Too many (a replica joined): give back the ones we like least, after
	// their in-flight kills, so the next owner never races a KILL of ours.
	if held > quota {
		slices.SortFunc(mine, func(a, b *node) int { return cmpU64(rendezvous(leaseKey(a), l.id), rendezvous(leaseKey(b), l.id)) })
		for _, n := range mine[:held-quota] {
			n.setLease(time.Time{})
			n.waitKills(e.cfg.KillTimeout + time.Second)
			relCtx, relCancel := context.WithTimeout(ctx, time.Second)
			err := e.store.ReleaseLease(relCtx, leaseKey(n), l.id)
			relCancel()
			if err != nil {
				e.log.Warn("releasing lease failed", zap.String("lease", leaseKey(n)), zap.Error(err))
				continue
			}
			e.log.Info("lease released for balance", zap.String("lease", leaseKey(n)), zap.String("replica", l.id), zap.Int("quota", quota))
			held--
		}
	}
	// Take free or lapsed leases, preferred ones first (rendezvous order, so
	// replicas mostly try different nodes), up to the quota — or beyond it
	// for a lease nobody has taken for a whole TTL.
	slices.SortFunc(free, func(a, b *node) int { return cmpU64(rendezvous(leaseKey(b), l.id), rendezvous(leaseKey(a), l.id)) })
	for _, n := range free {
		k := leaseKey(n)
		if held >= quota && now.Sub(l.free[k]) < l.ttl {
			continue
		}
		sent := time.Now()
		ok, err := e.store.AcquireLease(rctx, k, l.id, l.ttl)
		if err != nil {
			e.log.Warn("acquiring lease failed", zap.String("lease", k), zap.Error(err))
			return
		}
		if !ok {
			continue
		}
		held++
		delete(l.free, k)
		n.setLease(sent.Add(l.ttl - leaseSafety(l.ttl)))
		e.log.Info("lease acquired", zap.String("lease", k), zap.String("replica", l.id), zap.Int("held", held), zap.Int("quota", quota), zap.Int("replicas", len(live)))
		n.poke()
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rendezvous is the highest-random-weight score of (key, replica).
func rendezvous(key, replica string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(replica))
	return h.Sum64()
}

// Node-side lease state. Without leases (single process) a node is always
// owned.

// setLease sets the local deadline until which the node's lease is trusted
// (zero = not held).
func (n *node) setLease(until time.Time) {
	n.leaseMu.Lock()
	n.leaseUntil = until
	n.leaseMu.Unlock()
}

// leaseHeld reports whether the local deadline is set and not passed.
func (n *node) leaseHeld() bool {
	n.leaseMu.Lock()
	defer n.leaseMu.Unlock()
	return !n.leaseUntil.IsZero() && time.Now().Before(n.leaseUntil)
}

// leaseSet reports whether the node had a lease in this process (its local
// deadline may have passed).
func (n *node) leaseSet() bool {
	n.leaseMu.Lock()
	defer n.leaseMu.Unlock()
	return !n.leaseUntil.IsZero()
}

// owns reports whether this process may enforce the node now.
func (n *node) owns() bool {
	return n.e.leases == nil || n.leaseHeld()
}

// fence confirms, just before a kill batch, that this replica still holds
// the node's lease (renewing it). False: do not kill. A lost lease stops
// the node's polling until a lease round wins it again.
func (n *node) fence(ctx context.Context) bool {
	l := n.e.leases
	if l == nil {
		return true
	}
	if !n.leaseHeld() {
		return false
	}
	sent := time.Now()
	fctx, cancel := context.WithTimeout(ctx, max(l.ttl/3, 500*time.Millisecond))
	ok, err := n.e.store.RenewLease(fctx, leaseKey(n), l.id, l.ttl)
	cancel()
	if err != nil {
		n.e.log.Warn("lease check failed; no kills this round", zap.String("lease", leaseKey(n)), zap.Error(err))
		return false
	}
	if !ok {
		n.setLease(time.Time{})
		n.e.log.Warn("lease lost before a kill batch; not killing", zap.String("lease", leaseKey(n)), zap.String("replica", l.id))
		return false
	}
	n.setLease(sent.Add(l.ttl - leaseSafety(l.ttl)))
	return true
}

// waitKills waits (up to d) until no task KILL of the node is in flight.
func (n *node) waitKills(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n.inflightMu.Lock()
		k := len(n.inflight)
		n.inflightMu.Unlock()
		if k == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// LeasesHeld returns how many nodes this replica enforces now (every node
// without leases): a gauge for the metrics page.
func (e *Engine) LeasesHeld() int {
	k := 0
	for _, inst := range e.order {
		for _, n := range inst.nodes {
			if n.owns() {
				k++
			}
		}
	}
	return k
}

// LeasesEnabled reports whether node leases are on (shared store).
func (e *Engine) LeasesEnabled() bool { return e.leases != nil }
