package killtask

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Engine ties the store, the per-node pollers and the killer together. It is
// the only door into this package for the API layer: every read and write of
// tasks, history and prepared kills goes through its methods (the store is
// not reachable through it).
//
// Files by job: config.go (Config), options.go (Options, the clock),
// errors.go (sentinels), taskset.go (the in-memory set of active tasks,
// create and cancel), reads.go (instances, processlists, previews,
// listings), manual.go (kills asked for by the API, prepared kills),
// intelligent_engine.go (intelligent kill's reads and tasks), retention.go
// (history pruning); the poller is in worker.go, batch.go, killer.go and killslots.go, leases in
// lease.go. Kill modes and methods are in killmethod.go; what tasks read
// beside the processlist (transactions, lock waits) in enrich.go;
// observe-only tasks in observe.go; ended statements in querykill.go.
type Engine struct {
	cfg   Config
	opt   options
	store *Store
	log   *zap.Logger
	obs   Observer

	instances map[string]*instance
	order     []*instance // configuration order

	tasksMu sync.RWMutex
	tasks   map[string][]*Task // active tasks by instance, oldest first; slices are replaced, never mutated
	version uint64             // bumped by every in-process change of tasks

	hist       *historyWriter
	leases     *leaser        // nil without leases (single process)
	kills      sync.WaitGroup // task kills in flight
	started    atomic.Bool
	reloads    atomic.Int64  // completed task reloads (for tests)
	reloadReq  chan struct{} // cap 1: reload soon (see reloadLoop)
	pruneReq   chan struct{} // cap 1: history was written (see pruneLoop)
	loadFailed atomic.Bool   // the load at start failed: retry until it succeeds
}

// NewEngine builds an engine; call Run to start enforcement.
func NewEngine(cfg Config, store *Store, instances []InstanceConfig, log *zap.Logger, opts ...Option) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if store == nil {
		return nil, errors.New("killtask: engine needs a store")
	}
	if store.Replica() == "" {
		store.SetReplica(cfg.ReplicaID)
	}
	e := &Engine{
		cfg: cfg, opt: defaultOptions(), store: store, log: log, obs: NopObserver{},
		instances: map[string]*instance{}, tasks: map[string][]*Task{},
		hist: newHistoryWriter(store, log), reloadReq: make(chan struct{}, 1), pruneReq: make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(&e.opt)
	}
	e.hist.obs = func() Observer { return e.obs }
	e.hist.wrote = func() {
		select {
		case e.pruneReq <- struct{}{}:
		default:
		}
	}
	for _, ic := range instances {
		inst, err := e.newInstance(ic)
		if err != nil {
			return nil, err
		}
		e.instances[ic.ID] = inst
		e.order = append(e.order, inst)
	}
	if cfg.LeaseTTL > 0 {
		e.leases = newLeaser(e)
	}
	return e, nil
}

// newInstance checks one instance's configuration and builds its nodes.
func (e *Engine) newInstance(ic InstanceConfig) (*instance, error) {
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
	method, ok := ParseKillMethod(string(ic.KillMethod))
	if !ok {
		return nil, fmt.Errorf("killtask: instance %s: kill method %q is neither %s nor %s", ic.ID, ic.KillMethod, MethodKill, MethodRDS)
	}
	mode, ok := ParseKillMode(string(ic.DefaultKillMode))
	if !ok {
		return nil, fmt.Errorf("killtask: instance %s: default kill mode %q is neither %s nor %s", ic.ID, ic.DefaultKillMode, KillConnection, KillQuery)
	}
	ic.KillMethod, ic.DefaultKillMode = method, mode.orDefault()
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
		mc, err := parseDSN(nc.DSN)
		if err != nil {
			return nil, fmt.Errorf("killtask: instance %s node %s: %w", ic.ID, nc.ID, err)
		}
		inst.nodes = append(inst.nodes, newNode(e, inst, nc.ID, mc))
	}
	return inst, nil
}

// ReplicaID returns this engine's replica id.
func (e *Engine) ReplicaID() string { return e.cfg.ReplicaID }

// Config returns the engine's configuration (defaults filled in).
func (e *Engine) Config() Config { return e.cfg }

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
		e.loadFailed.Store(true)
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
			wg.Go(func() { n.probeAtStart(ctx) })
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

// every runs fn at once and then every d until ctx ends (a run in progress
// finishes first).
func every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
