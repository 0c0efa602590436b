package killtask

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// Reads for the API: configured instances and their health, live
// processlists and previews, and listings of what the store holds.

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

// Instances lists configured instances with health and active task counts.
// Nodes that were never polled are probed (bounded by ctx).
//
// Active task counts come from the engine's in-memory task set, which the
// reload keeps in step with the store within one poll interval (tasks
// created or cancelled through this process count at once): dashboards poll
// this, and a store query per call cost more than the rest of the request.
func (e *Engine) Instances(ctx context.Context) ([]InstanceInfo, error) {
	now := e.now()
	var wg sync.WaitGroup
	for _, inst := range e.order {
		for _, n := range inst.nodes {
			if n.getHealth().CheckedAt.IsZero() {
				wg.Go(func() { _ = n.probe(ctx) })
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

// ProcessList reads a node's processlist (nodeID "" = the instance's first
// node), without killgate's own connections.
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
	ps, own, _, err = n.readSplitOwn(ctx, nil)
	return ps, own, err
}

// Preview returns the sessions of the instance (all nodes) that a task with
// filter f would kill now, through the same matching and exclusions as the worker.
func (e *Engine) Preview(ctx context.Context, instanceID string, f Filter) ([]Process, error) {
	pv, err := e.PreviewTask(ctx, instanceID, Task{Filter: f})
	return pv.Sessions, err
}

// PreviewResult is what a task would act on now.
type PreviewResult struct {
	// Sessions are the sessions it would kill (an observe-only task: record),
	// with the transaction and lock fields its filter reads.
	Sessions []Process
	// Waits are every lock wait seen on the instance, when the filter reads
	// them (BlockingCount): the chains behind the sessions.
	Waits []LockWait
}

// PreviewTask returns what the task t (its filter and kill mode; nothing
// else of it is read) would act on now on the instance (all nodes), through
// the same reads, matching and exclusions as the worker.
func (e *Engine) PreviewTask(ctx context.Context, instanceID string, t Task) (PreviewResult, error) {
	inst, ok := e.instances[instanceID]
	if !ok {
		return PreviewResult{}, fmt.Errorf("%w: %s", ErrUnknownInstance, instanceID)
	}
	t.Filter = t.Filter.Normalize()
	nd := t.Filter.needs()
	var out PreviewResult
	for _, n := range inst.nodes {
		var waits []LockWait
		ps, _, server, err := n.readSplitOwn(ctx, func(ctx context.Context, c *sql.Conn, all []Process) error {
			n.noteStatements(all, false)
			var err error
			waits, err = n.readExtrasErr(ctx, c, all, nd)
			return err
		})
		if err != nil {
			return PreviewResult{}, err
		}
		for i := range ps {
			p := &ps[i]
			if n.excludedReason(server, p) == "" && t.Matches(p) {
				out.Sessions = append(out.Sessions, *p)
			}
		}
		for i := range waits {
			waits[i].Node = n.id
		}
		out.Waits = append(out.Waits, waits...)
	}
	return out, nil
}

// ListTasks returns a page of kill tasks, newest first, and the total count.
// Tasks past their expiry (by the engine's clock) are reported Finished even
// before the worker has marked them.
func (e *Engine) ListTasks(ctx context.Context, q TaskQuery) ([]Task, int64, error) {
	return e.store.ListTasks(ctx, q, e.now())
}

// ListKillRecords returns a page of the kill history, newest first, and the
// total count.
func (e *Engine) ListKillRecords(ctx context.Context, q RecordQuery) ([]KillRecord, int64, error) {
	return e.store.ListKillRecords(ctx, q)
}

// readForAPI reads a node's whole processlist without killgate's own connections.
func (n *node) readForAPI(ctx context.Context) ([]Process, string, error) {
	ps, _, server, err := n.readSplitOwn(ctx, nil)
	return ps, server, err
}

// readSplitOwn reads a node's whole processlist and splits off killgate's
// own connections (IsOwnConnection's registry). then, when set, reads more
// on the same connection right after the processlist (Preview's extras).
func (n *node) readSplitOwn(ctx context.Context, then func(context.Context, *sql.Conn, []Process) error) (ps, mine []Process, server string, err error) {
	c, server, err := n.conn(ctx)
	if err != nil {
		n.setHealth(err)
		return nil, nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	all, err := n.readList(ctx, c, nil, nil)
	if err == nil && then != nil {
		err = then(ctx, c, all)
	}
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
