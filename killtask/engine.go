package killtask

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// NodeConfig is one database node of an instance (TDSQL-C lists several).
type NodeConfig struct {
	ID  string
	DSN string
}

// InstanceConfig is one managed instance. Either DSN (a single node whose id
// is the instance id) or Nodes is set.
type InstanceConfig struct {
	ID             string
	Product        string // mysql | cynosdb (mariadb accepted as an alias of mysql by callers)
	DSN            string
	Nodes          []NodeConfig
	ProtectedUsers []string // sessions of these users are never killed
}

// Config tunes the engine.
type Config struct {
	PollInterval        time.Duration // default 500ms
	MaxTasksPerInstance int           // default 5
	KillConcurrency     int           // concurrent KILLs per node, default 8
	KillTimeout         time.Duration // per KILL, default 5s (MariaDB can stall ~2s on SLEEP victims)
	HistoryMaxAge       time.Duration // 0 = keep forever; default 30 days
	HistoryMaxRows      int64         // 0 = unbounded; default 1,000,000

	// LeaseTTL > 0 turns on node leases (several replicas sharing a MySQL
	// store; see lease.go and docs/scale-out.md): a node is enforced only
	// by the replica holding its lease. 0 (the default, single process):
	// this engine enforces every node.
	LeaseTTL time.Duration
	// ReplicaID names this process in leases, heartbeats and the kill
	// history's replica column; empty = NewReplicaID().
	ReplicaID string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		PollInterval:        500 * time.Millisecond,
		MaxTasksPerInstance: 5,
		KillConcurrency:     8,
		KillTimeout:         5 * time.Second,
		HistoryMaxAge:       30 * 24 * time.Hour,
		HistoryMaxRows:      1_000_000,
	}
}

// Errors the engine returns to its callers.
var (
	ErrUnknownInstance = errors.New("killtask: unknown instance")
	ErrUnknownNode     = errors.New("killtask: unknown node")
	ErrUnavailable     = errors.New("killtask: instance unavailable")
)

// MinLeaseTTL is the shortest LeaseTTL NewEngine accepts.
const MinLeaseTTL = 300 * time.Millisecond

// Health is the last known state of a node: its connection, and what keeps
// it from killing.
type Health struct {
	OK        bool
	Error     string    // last read error, secrets removed
	CheckedAt time.Time // last poll or probe
	// Missing names the privileges the node's account lacks (see Grants);
	// KillError is the reason of the node's last failed KILL, cleared by a
	// successful one. Both are safe to show (no host or DSN in them).
	Missing   []string
	KillError string
}

// Problem describes what keeps a reachable node from killing, or "".
func (h Health) Problem() string {
	switch {
	case len(h.Missing) > 0:
		return "cannot kill: " + Grants{Missing: h.Missing}.Problem()
	case h.KillError != "":
		return "kills failing: " + h.KillError
	}
	return ""
}

// InstanceInfo describes a configured instance for listings.
type InstanceInfo struct {
	ID          string
	Product     string
	Nodes       []string
	Health      map[string]Health // by node id
	ActiveTasks int
}

// KillResult is the outcome for one thread of a manual or intelligent kill.
type KillResult struct {
	Process Process // the row as seen at re-check (or as requested when gone)
	Outcome Outcome
	Error   string
}

// Engine ties the store, the per-node pollers and the killer together. It is
// the only thing the API layer talks to.
type Engine struct {
	cfg   Config
	store *Store
	log   *zap.Logger
	obs   Observer

	instances map[string]*instance
	order     []*instance // configuration order

	tasksMu sync.RWMutex
	tasks   map[string][]*Task // active tasks by instance, oldest first; slices are replaced, never mutated
	version uint64             // bumped by every in-process change of tasks

	hist    *historyWriter
	leases  *leaser        // nil without leases (single process)
	kills   sync.WaitGroup // task kills in flight
	started atomic.Bool
	reloads atomic.Int64 // completed task reloads (for tests)

	// scope, when set (tests only), limits every kill and preview to the
	// sessions it accepts: a test on a shared server must never touch
	// sessions it did not create.
	scope func(*Process) bool
	// stallKill, when set (tests only), delays the KILL of a thread id by
	// the duration it returns, as a stalled KILL would.
	stallKill func(id uint64) time.Duration
}

// NewEngine builds an engine; call Run to start enforcement.
func NewEngine(cfg Config, store *Store, instances []InstanceConfig, log *zap.Logger) (*Engine, error) {
	def := DefaultConfig()
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = def.PollInterval
	}
	if cfg.MaxTasksPerInstance <= 0 {
		cfg.MaxTasksPerInstance = def.MaxTasksPerInstance
	}
	if cfg.KillConcurrency <= 0 {
		cfg.KillConcurrency = def.KillConcurrency
	}
	if cfg.KillTimeout <= 0 {
		cfg.KillTimeout = def.KillTimeout
	}
	if log == nil {
		log = zap.NewNop()
	}
	if store == nil {
		return nil, errors.New("killtask: engine needs a store")
	}
	if cfg.ReplicaID == "" {
		cfg.ReplicaID = NewReplicaID()
	}
	if len(cfg.ReplicaID) > 128 {
		return nil, errors.New("killtask: replica id longer than 128 bytes")
	}
	if cfg.LeaseTTL < 0 || (cfg.LeaseTTL > 0 && cfg.LeaseTTL < MinLeaseTTL) {
		return nil, fmt.Errorf("killtask: lease TTL must be 0 (off) or at least %s", MinLeaseTTL)
	}
	if store.Replica() == "" {
		store.SetReplica(cfg.ReplicaID)
	}
	e := &Engine{
		cfg: cfg, store: store, log: log, obs: NopObserver{},
		instances: map[string]*instance{}, tasks: map[string][]*Task{},
		hist: newHistoryWriter(store, log),
	}
	e.hist.obs = func() Observer { return e.obs }
	for _, ic := range instances {
		if ic.ID == "" {
			return nil, errors.New("killtask: instance without id")
		}
		if _, dup := e.instances[ic.ID]; dup {
			return nil, fmt.Errorf("killtask: instance %s configured twice", ic.ID)
		}
		nodes := ic.Nodes
		switch {
		case ic.DSN != "" && len(nodes) > 0:
			return nil, fmt.Errorf("killtask: instance %s: set either dsn or nodes, not both", ic.ID)
		case ic.DSN != "":
			nodes = []NodeConfig{{ID: ic.ID, DSN: ic.DSN}}
		case len(nodes) == 0:
			return nil, fmt.Errorf("killtask: instance %s: no dsn and no nodes", ic.ID)
		}
		ic.Nodes = append([]NodeConfig(nil), ic.Nodes...)
		ic.ProtectedUsers = append([]string(nil), ic.ProtectedUsers...)
		inst := &instance{cfg: ic, protected: map[string]struct{}{}}
		for _, u := range ic.ProtectedUsers {
			inst.protected[u] = struct{}{}
		}
		seen := map[string]bool{}
		for _, nc := range nodes {
			if nc.ID == "" || seen[nc.ID] {
				return nil, fmt.Errorf("killtask: instance %s: node id empty or repeated", ic.ID)
			}
			seen[nc.ID] = true
			mc, err := prepareDSN(nc.DSN)
			if err != nil {
				return nil, fmt.Errorf("killtask: instance %s node %s: %w", ic.ID, nc.ID, err)
			}
			inst.nodes = append(inst.nodes, newNode(e, inst, nc.ID, mc))
		}
		e.instances[ic.ID] = inst
		e.order = append(e.order, inst)
	}
	if cfg.LeaseTTL > 0 {
		e.leases = newLeaser(e)
	}
	return e, nil
}

// ReplicaID returns this engine's replica id.
func (e *Engine) ReplicaID() string { return e.cfg.ReplicaID }

// Owns reports whether this replica currently enforces the node (always
// true without leases).
func (e *Engine) Owns(instanceID, nodeID string) bool {
	n, err := e.node(instanceID, nodeID)
	return err == nil && n.owns()
}

// SetObserver installs the metrics hook; call it before Run. nil restores
// the no-op default.
func (e *Engine) SetObserver(o Observer) {
	if o == nil {
		o = NopObserver{}
	}
	e.obs = o
}

// PollCount returns how many processlist reads the poller of a node has
// completed (a hook for tests and benchmarks).
func (e *Engine) PollCount(instanceID, nodeID string) int64 {
	n, err := e.node(instanceID, nodeID)
	if err != nil {
		return 0
	}
	return n.polls.Load()
}

// Run enforces active tasks until ctx is cancelled, then stops every poller,
// waits for in-flight kills and flushes the history before returning.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("killtask: engine already started")
	}
	// Tasks that expired while the process was down finish (at their expiry)
	// before the first poll; running ones resume.
	if err := e.reload(ctx); err != nil && ctx.Err() == nil {
		e.log.Error("loading active tasks failed; retrying every interval", zap.Error(err))
	}
	go e.hist.run()
	var wg sync.WaitGroup
	wg.Go(func() { e.reloadLoop(ctx) })
	wg.Go(func() { e.pruneLoop(ctx) })
	if e.leases != nil {
		wg.Go(func() { e.leases.run(ctx) })
	}
	for _, inst := range e.order {
		for _, n := range inst.nodes {
			wg.Go(func() { n.run(ctx) })
		}
	}
	<-ctx.Done()
	wg.Wait()      // pollers finished their tick in progress
	e.kills.Wait() // started KILLs returned (bounded by KillTimeout)
	if e.leases != nil {
		e.leases.releaseAll() // no KILL of ours is left: the next owner may start now
	}
	e.hist.close() // last history rows written
	for _, inst := range e.order {
		for _, n := range inst.nodes {
			n.close()
		}
	}
	return nil
}

// reloadLoop picks up tasks created or cancelled by other processes sharing
// the store and finishes expired tasks, once per interval.
func (e *Engine) reloadLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.PollInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := e.reload(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil && !failing {
			e.log.Error("reloading active tasks failed", zap.Error(err))
		} else if err == nil && failing {
			e.log.Info("reloading active tasks recovered")
		}
		failing = err != nil
	}
}

// reload replaces the in-memory task sets with the store's, unless an
// in-process change happened meanwhile (the next reload will then apply).
func (e *Engine) reload(ctx context.Context) error {
	e.tasksMu.RLock()
	v := e.version
	e.tasksMu.RUnlock()
	now := time.Now()
	if _, err := e.store.FinishExpired(ctx, now); err != nil {
		return err
	}
	ts, err := e.store.ActiveTasks(ctx, now)
	if err != nil {
		return err
	}
	m := map[string][]*Task{}
	for i := range ts {
		if _, ok := e.instances[ts[i].InstanceID]; ok {
			m[ts[i].InstanceID] = append(m[ts[i].InstanceID], &ts[i])
		}
	}
	var poke []*instance
	e.tasksMu.Lock()
	if e.version == v {
		for id, list := range m {
			if hasNew(e.tasks[id], list) {
				poke = append(poke, e.instances[id])
			}
		}
		e.tasks = m
	}
	e.tasksMu.Unlock()
	e.reloads.Add(1)
	for _, inst := range poke {
		for _, n := range inst.nodes {
			n.poke()
		}
	}
	return nil
}

func hasNew(old, cur []*Task) bool {
	for _, t := range cur {
		found := false
		for _, o := range old {
			if o.ID == t.ID {
				found = true
				break
			}
		}
		if !found {
			return true
		}
	}
	return false
}

// pruneLoop applies the retention (see prune) at start and every minute.
func (e *Engine) pruneLoop(ctx context.Context) {
	if e.cfg.HistoryMaxAge <= 0 && e.cfg.HistoryMaxRows <= 0 {
		return
	}
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		e.prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune applies the history retention (HistoryMaxAge, HistoryMaxRows) to
// the kill history, to kill tasks that have ended and to intelligent-kill
// tasks; running tasks are never pruned.
func (e *Engine) prune(ctx context.Context) {
	now := time.Now()
	var cutoff time.Time
	if e.cfg.HistoryMaxAge > 0 {
		cutoff = now.Add(-e.cfg.HistoryMaxAge)
	}
	for _, p := range []struct {
		what string
		fn   func() (int64, error)
	}{
		{"kill history", func() (int64, error) { return e.store.PruneHistory(ctx, cutoff, e.cfg.HistoryMaxRows) }},
		{"ended kill tasks", func() (int64, error) { return e.store.PruneTasks(ctx, cutoff, e.cfg.HistoryMaxRows) }},
		{"intelligent-kill tasks", func() (int64, error) {
			return e.store.PruneIntelligentTasks(ctx, cutoff, e.cfg.HistoryMaxRows, now)
		}},
	} {
		n, err := p.fn()
		if err != nil && ctx.Err() == nil {
			e.log.Warn("pruning "+p.what+" failed", zap.Error(err))
		} else if n > 0 {
			e.log.Info("pruned "+p.what, zap.Int64("rows", n))
		}
	}
}

// activeFor returns the instance's tasks that are active at now, oldest first.
func (e *Engine) activeFor(instanceID string, now time.Time) []*Task {
	e.tasksMu.RLock()
	list := e.tasks[instanceID]
	e.tasksMu.RUnlock()
	for i, t := range list {
		if t.Expired(now) {
			out := append([]*Task(nil), list[:i]...)
			for _, t := range list[i+1:] {
				if !t.Expired(now) {
					out = append(out, t)
				}
			}
			return out
		}
	}
	return list
}

// attribute returns the oldest task of the instance that is active at now
// and matches p, or nil.
func (e *Engine) attribute(instanceID string, p *Process, now time.Time) *Task {
	e.tasksMu.RLock()
	defer e.tasksMu.RUnlock()
	for _, t := range e.tasks[instanceID] {
		if !t.Expired(now) && t.Filter.Match(p) {
			return t
		}
	}
	return nil
}

// confirmActive reads which of the instance's tasks are still active in the
// store, drops the others from the in-memory set (as the next reload would)
// and returns the survivors of tasks. On a store error it returns nil: no
// kills without confirmation.
func (e *Engine) confirmActive(ctx context.Context, inst *instance, tasks []*Task) []*Task {
	cctx, cancel := context.WithTimeout(ctx, max(2*time.Second, e.cfg.PollInterval))
	ids, err := e.store.ActiveTaskIDs(cctx, inst.cfg.ID, time.Now())
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("confirming active tasks failed; no kills this round", zap.String("instance", inst.cfg.ID), zap.Error(err))
		}
		return nil
	}
	var keep []*Task
	var gone []string
	for _, t := range tasks {
		if slices.Contains(ids, t.ID) {
			keep = append(keep, t)
		} else {
			gone = append(gone, t.ID)
		}
	}
	if len(gone) > 0 {
		e.tasksMu.Lock()
		var rest []*Task
		for _, t := range e.tasks[inst.cfg.ID] {
			if !slices.Contains(gone, t.ID) {
				rest = append(rest, t)
			}
		}
		if len(rest) == 0 {
			delete(e.tasks, inst.cfg.ID)
		} else {
			e.tasks[inst.cfg.ID] = rest
		}
		e.version++
		e.tasksMu.Unlock()
		e.log.Info("tasks ended elsewhere dropped before a kill batch", zap.String("instance", inst.cfg.ID), zap.Strings("tasks", gone))
	}
	return keep
}

func (e *Engine) setTasksError(ctx context.Context, tasks []*Task, msg string) {
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.store.SetTaskError(ctx, ids, msg); err != nil && ctx.Err() == nil {
		e.log.Warn("recording task error failed", zap.Error(err))
	}
}

// Store returns the engine's store.
func (e *Engine) Store() *Store { return e.store }

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Instance returns the configuration of one instance.
func (e *Engine) Instance(id string) (InstanceConfig, bool) {
	inst, ok := e.instances[id]
	if !ok {
		return InstanceConfig{}, false
	}
	c := inst.cfg
	c.Nodes = append([]NodeConfig(nil), c.Nodes...)
	c.ProtectedUsers = append([]string(nil), c.ProtectedUsers...)
	return c, true
}

// Instances lists configured instances with health and active task counts.
// Nodes that were never polled are probed (bounded by ctx).
//
// Active task counts come from the engine's in-memory task set, which the
// reload keeps in step with the store within one poll interval (tasks
// created or cancelled through this process count at once): dashboards poll
// this, and a store query per call cost more than the rest of the request.
func (e *Engine) Instances(ctx context.Context) ([]InstanceInfo, error) {
	now := time.Now()
	var wg sync.WaitGroup
	for _, inst := range e.order {
		for _, n := range inst.nodes {
			if n.getHealth().CheckedAt.IsZero() {
				wg.Go(func() { n.probe(ctx) })
			}
		}
	}
	wg.Wait()
	out := make([]InstanceInfo, 0, len(e.order))
	for _, inst := range e.order {
		info := InstanceInfo{ID: inst.cfg.ID, Product: inst.cfg.Product, Health: map[string]Health{}, ActiveTasks: len(e.activeFor(inst.cfg.ID, now))}
		for _, n := range inst.nodes {
			info.Nodes = append(info.Nodes, n.id)
			info.Health[n.id] = n.getHealth()
		}
		out = append(out, info)
	}
	return out, nil
}

// CreateTask persists a task (see Store.CreateTask) and triggers enforcement
// at once.
func (e *Engine) CreateTask(ctx context.Context, t *Task) error {
	inst, ok := e.instances[t.InstanceID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownInstance, t.InstanceID)
	}
	if t.Product == "" {
		t.Product = inst.cfg.Product
	}
	inst.changes.Lock()
	defer inst.changes.Unlock()
	if err := e.store.CreateTask(ctx, t, e.cfg.MaxTasksPerInstance); err != nil {
		return err
	}
	c := *t
	c.Filter.DBs = append([]string(nil), t.Filter.DBs...)
	c.Filter.Commands = append([]string(nil), t.Filter.Commands...)
	c.Filter.Infos = append([]string(nil), t.Filter.Infos...)
	e.tasksMu.Lock()
	old := e.tasks[t.InstanceID]
	list := make([]*Task, 0, len(old)+1)
	inserted := slices.ContainsFunc(old, func(o *Task) bool { return o.ID == c.ID }) // a reload got there first
	for _, o := range old {
		if !inserted && (c.CreatedAt.Before(o.CreatedAt) || (c.CreatedAt.Equal(o.CreatedAt) && c.ID < o.ID)) {
			list = append(list, &c)
			inserted = true
		}
		list = append(list, o)
	}
	if !inserted {
		list = append(list, &c)
	}
	e.tasks[t.InstanceID] = list
	e.version++
	e.tasksMu.Unlock()
	for _, n := range inst.nodes {
		n.poke()
	}
	return nil
}

// CancelTasks cancels every active task of the instance; enforcement stops
// before it returns: no kill for these tasks starts after it returns, in
// this process (the gate) or, with a shared store, in any replica (the
// confirm window, which it waits out).
func (e *Engine) CancelTasks(ctx context.Context, instanceID string) ([]string, error) {
	if inst := e.instances[instanceID]; inst != nil {
		inst.changes.Lock()
		defer inst.changes.Unlock()
	}
	ids, err := e.store.CancelTasks(ctx, instanceID, time.Now())
	if err != nil && !errors.Is(err, ErrNotFound) && len(ids) > 0 {
		// The commit's outcome is unknown: stop enforcing anyway (the safe
		// direction); the next reload restores tasks that are still active.
		e.dropTasks(instanceID, ids)
	}
	if err != nil {
		return ids, err
	}
	e.dropTasks(instanceID, ids)
	if e.leases != nil {
		// Another replica may hold a batch confirmed just before the cancel
		// committed; it starts no KILL after its confirm window, so waiting
		// that long means no KILL for these tasks starts anywhere after we
		// answer.
		select {
		case <-time.After(confirmWindow(e.cfg.PollInterval)):
		case <-ctx.Done():
		}
	}
	return ids, nil
}

// dropTasks removes tasks from the in-memory set, waiting for kills that
// already passed their task check (see instance.gate).
func (e *Engine) dropTasks(instanceID string, ids []string) {
	inst := e.instances[instanceID]
	if inst != nil {
		inst.gate.Lock()
		defer inst.gate.Unlock()
	}
	e.tasksMu.Lock()
	defer e.tasksMu.Unlock()
	var keep []*Task
	for _, t := range e.tasks[instanceID] {
		if !slices.Contains(ids, t.ID) {
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		delete(e.tasks, instanceID)
	} else {
		e.tasks[instanceID] = keep
	}
	e.version++
}

// node finds a node ("" = the instance's first node).
func (e *Engine) node(instanceID, nodeID string) (*node, error) {
	inst, ok := e.instances[instanceID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownInstance, instanceID)
	}
	if nodeID == "" {
		return inst.nodes[0], nil
	}
	for _, n := range inst.nodes {
		if n.id == nodeID {
			return n, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownNode, nodeID)
}

// readForAPI reads a node's whole processlist without killgate's own connections.
func (n *node) readForAPI(ctx context.Context) ([]Process, string, error) {
	ps, _, server, err := n.readSplitOwn(ctx)
	return ps, server, err
}

// readSplitOwn reads a node's whole processlist and splits off killgate's
// own connections (IsOwnConnection's registry).
func (n *node) readSplitOwn(ctx context.Context) (ps, mine []Process, server string, err error) {
	c, server, err := n.conn(ctx)
	if err != nil {
		n.setHealth(err)
		return nil, nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	all, err := n.readList(ctx, c, nil, nil)
	if err != nil {
		discard(c)
		n.setHealth(err)
		return nil, nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	c.Close()
	n.setHealth(nil)
	own := OwnConnections(server)
	ps = all[:0]
	for _, p := range all {
		if own[p.ID] {
			mine = append(mine, p)
		} else {
			ps = append(ps, p)
		}
	}
	return ps, mine, server, nil
}

// ProcessList reads a node's processlist (nodeID "" = the instance's first node).
func (e *Engine) ProcessList(ctx context.Context, instanceID, nodeID string) ([]Process, error) {
	n, err := e.node(instanceID, nodeID)
	if err != nil {
		return nil, err
	}
	ps, _, err := n.readForAPI(ctx)
	return ps, err
}

// ProcessListOwn is ProcessList that also returns, apart, the node's rows
// that are killgate's own connections (which ProcessList leaves out): a
// manual kill asked for one of them is recorded as skipped.
func (e *Engine) ProcessListOwn(ctx context.Context, instanceID, nodeID string) (ps, own []Process, err error) {
	n, err := e.node(instanceID, nodeID)
	if err != nil {
		return nil, nil, err
	}
	ps, own, _, err = n.readSplitOwn(ctx)
	return ps, own, err
}

// Preview returns the sessions of the instance (all nodes) that a task with
// filter f would kill now, through the same matching and exclusions as the worker.
func (e *Engine) Preview(ctx context.Context, instanceID string, f Filter) ([]Process, error) {
	inst, ok := e.instances[instanceID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownInstance, instanceID)
	}
	f = f.Normalize()
	var out []Process
	for _, n := range inst.nodes {
		ps, server, err := n.readForAPI(ctx)
		if err != nil {
			return nil, err
		}
		for i := range ps {
			p := &ps[i]
			if n.excludedReason(server, p) == "" && f.Match(p) {
				out = append(out, *p)
			}
		}
	}
	return out, nil
}

// KillThreads kills the given thread ids on a node (manual kill). Every id is
// looked up first in one read and skipped (gone) when absent, whatever
// recheck says: DBbrain's RecordHistory=false promises speed by skipping
// that check, but killing an id we have not just seen risks a reused id, and
// the read costs one query for up to 100 ids. Protected and system sessions
// and killgate's own connections are never killed. Each attempt is recorded
// in the history with source and taskID when record is true.
func (e *Engine) KillThreads(ctx context.Context, instanceID, nodeID string, ids []uint64, recheck, record bool, source, taskID string) ([]KillResult, error) {
	n, err := e.node(instanceID, nodeID)
	if err != nil {
		return nil, err
	}
	if source == "" {
		source = SourceManual
	}
	reqs := make([]manualKill, len(ids))
	for i, id := range ids {
		reqs[i] = manualKill{want: Process{ID: id}}
	}
	return e.killAndRecord(ctx, n, reqs, recheck, record, source, taskID)
}

// KillProcesses kills sessions chosen from an earlier read (intelligent
// kill): each is re-checked to still be the same session (id, user, host,
// statement) just before its KILL, and every attempt is recorded.
func (e *Engine) KillProcesses(ctx context.Context, instanceID, nodeID string, ps []Process, source, taskID string) ([]KillResult, error) {
	n, err := e.node(instanceID, nodeID)
	if err != nil {
		return nil, err
	}
	if source == "" {
		source = SourceIntelligent
	}
	reqs := make([]manualKill, len(ps))
	for i, p := range ps {
		reqs[i] = manualKill{want: p, compare: true, stmt: true}
	}
	return e.killAndRecord(ctx, n, reqs, true, true, source, taskID)
}

// KillConnections kills sessions seen earlier by their connection identity:
// each id is killed only if it still belongs to the same user and client
// host:port (whatever it runs now) on that node — the manual kill of a
// session picked from a listing. Attempts are recorded when record is true.
func (e *Engine) KillConnections(ctx context.Context, instanceID, nodeID string, ps []Process, record bool, source, taskID string) ([]KillResult, error) {
	n, err := e.node(instanceID, nodeID)
	if err != nil {
		return nil, err
	}
	reqs := make([]manualKill, len(ps))
	for i, p := range ps {
		reqs[i] = manualKill{want: p, compare: true}
	}
	return e.killAndRecord(ctx, n, reqs, true, record, source, taskID)
}

// NodeIDs lists the node ids of an instance (an instance with a single DSN
// has one node whose id is the instance id).
func (e *Engine) NodeIDs(instanceID string) []string {
	inst, ok := e.instances[instanceID]
	if !ok {
		return nil
	}
	out := make([]string, len(inst.nodes))
	for i, n := range inst.nodes {
		out[i] = n.id
	}
	return out
}

func (e *Engine) killAndRecord(ctx context.Context, n *node, reqs []manualKill, _, record bool, source, taskID string) ([]KillResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	start := time.Now()
	res, err := n.killMany(ctx, reqs)
	if err != nil {
		return nil, err
	}
	recs := make([]KillRecord, 0, len(res))
	for _, r := range res {
		e.obs.Killed(n.inst.cfg.ID, n.id, r.Outcome, time.Since(start))
		recs = append(recs, n.record(r.Process, r.Outcome, r.Error, source, taskID))
		n.logKill(source, taskID, r.Process, r.Outcome, r.Error, time.Since(start))
	}
	if record {
		if err := e.store.AddKillRecords(context.WithoutCancel(ctx), recs); err != nil {
			e.log.Error("writing kill history failed", zap.Int("rows", len(recs)), zap.Error(err))
		} else {
			e.obs.HistoryWritten(len(recs))
		}
	}
	return res, nil
}
