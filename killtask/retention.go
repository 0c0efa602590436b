package killtask

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// pruneLoop applies the retention (see prune) at start, after history
// writes (at most once per pruneEvery) and otherwise once per pruneIdle, so
// that rows also age out while nothing is killed.
func (e *Engine) pruneLoop(ctx context.Context) {
	if e.cfg.HistoryMaxAge <= 0 && e.cfg.HistoryMaxRows <= 0 {
		return
	}
	e.prune(ctx)
	last := time.Now()
	idle := time.NewTimer(pruneIdle)
	defer idle.Stop()
	soon := time.NewTimer(pruneEvery)
	soon.Stop()
	defer soon.Stop()
	var soonC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.pruneReq:
			if soonC == nil {
				soon.Reset(max(0, pruneEvery-time.Since(last)))
				soonC = soon.C
			}
			continue
		case <-soonC:
			soonC = nil
		case <-idle.C:
		}
		e.prune(ctx)
		last = time.Now()
		idle.Reset(pruneIdle)
	}
}

// prune applies the history retention (HistoryMaxAge, HistoryMaxRows) to
// the kill history, to kill tasks that have ended and to intelligent-kill
// tasks; running tasks are never pruned.
func (e *Engine) prune(ctx context.Context) {
	now := e.now()
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
