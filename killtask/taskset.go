package killtask

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
)

// The in-memory task set: the active tasks of every instance, which the
// pollers match sessions against. The store is the truth; the set follows
// it through in-process changes (CreateTask, CancelTasks) at once and
// through the reload (tasks changed by other replicas, expiry) within a
// poll interval.

// reloadLoop keeps the task set in step with the store. With a store other
// processes share (MySQL: replicas create and cancel tasks too) it reloads
// every poll interval. With the embedded store this process makes every
// change itself, so it reloads only when asked (requestReload: a task's
// expiry, a cancel whose commit is in doubt) and, after a failed reload,
// every interval until one succeeds: no timer while nothing happens.
func (e *Engine) reloadLoop(ctx context.Context) {
	periodic := e.sharedStore()
	t := time.NewTimer(e.cfg.PollInterval)
	defer t.Stop()
	failing := e.loadFailed.Load()
	for {
		var tc <-chan time.Time
		if periodic || failing {
			t.Reset(e.cfg.PollInterval)
			tc = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-e.reloadReq:
		case <-tc:
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

// sharedStore reports whether other processes may change the store's tasks.
func (e *Engine) sharedStore() bool { return e.leases != nil || e.store.Driver() == "mysql" }

// requestReload asks the reload loop for a reload soon.
func (e *Engine) requestReload() {
	select {
	case e.reloadReq <- struct{}{}:
	default:
	}
}

// reload replaces the in-memory task sets with the store's, unless an
// in-process change happened meanwhile (the next reload will then apply).
func (e *Engine) reload(ctx context.Context) error {
	e.tasksMu.RLock()
	v := e.version
	e.tasksMu.RUnlock()
	now := e.now()
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

// hasExpired reports whether the in-memory set of the instance still holds
// a task that has expired at now (the reload finishes and drops it).
func (e *Engine) hasExpired(instanceID string, now time.Time) bool {
	e.tasksMu.RLock()
	defer e.tasksMu.RUnlock()
	for _, t := range e.tasks[instanceID] {
		if t.Expired(now) {
			return true
		}
	}
	return false
}

// attribute returns the oldest task of the instance that is active at now
// and kills p (matches it and is not observe-only), or nil.
func (e *Engine) attribute(instanceID string, p *Process, now time.Time) *Task {
	e.tasksMu.RLock()
	defer e.tasksMu.RUnlock()
	for _, t := range e.tasks[instanceID] {
		if !t.Expired(now) && t.kills(p) {
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
	ids, err := e.store.ActiveTaskIDs(cctx, inst.cfg.ID, e.now())
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
		e.removeTasks(inst.cfg.ID, gone)
		e.log.Info("tasks ended elsewhere dropped before a kill batch", zap.String("instance", inst.cfg.ID), zap.Strings("tasks", gone))
	}
	return keep
}

// removeTasks drops tasks from the in-memory set of an instance.
func (e *Engine) removeTasks(instanceID string, ids []string) {
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

// CreateTask persists a task (see Store.CreateTask) and triggers enforcement
// at once. A zero t.CreatedAt is set from the engine's clock; t.Product
// defaults to the instance's, and t.Mode to the instance's default kill mode.
func (e *Engine) CreateTask(ctx context.Context, t *Task) error {
	inst, ok := e.instances[t.InstanceID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownInstance, t.InstanceID)
	}
	if t.Product == "" {
		t.Product = inst.cfg.Product
	}
	if t.Mode == "" {
		t.Mode = inst.cfg.DefaultKillMode
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = e.now()
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
	ids, err := e.store.CancelTasks(ctx, instanceID, e.now())
	if err != nil && !errors.Is(err, ErrNotFound) && len(ids) > 0 {
		// The commit's outcome is unknown: stop enforcing anyway (the safe
		// direction); a reload restores tasks that are still active.
		e.dropTasks(instanceID, ids)
		e.requestReload()
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
	if inst := e.instances[instanceID]; inst != nil {
		inst.gate.Lock()
		defer inst.gate.Unlock()
	}
	e.removeTasks(instanceID, ids)
}
