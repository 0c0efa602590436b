package killtask

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// History batching: a burst of kills costs a few store round trips.
const (
	historyFlushEvery = 50 * time.Millisecond
	historyBatch      = 500
	historyMaxPending = 20_000 // kept for retry while the store fails; older rows are dropped beyond it
	pruneEvery        = time.Minute
)

// historyWriter writes task kill records in batches from one goroutine.
type historyWriter struct {
	obs     func() Observer // the engine's observer, read at each flush
	store   *Store
	log     *zap.Logger
	ch      chan KillRecord
	done    chan struct{}
	flushes atomic.Int64 // store writes (for tests)
	written atomic.Int64
}

func newHistoryWriter(s *Store, log *zap.Logger) *historyWriter {
	return &historyWriter{store: s, log: log, ch: make(chan KillRecord, 4096), done: make(chan struct{})}
}

// add queues a record; it must not be called after close.
func (h *historyWriter) add(r KillRecord) { h.ch <- r }

// close flushes what is queued and stops the writer.
func (h *historyWriter) close() {
	close(h.ch)
	<-h.done
}

func (h *historyWriter) run() {
	defer close(h.done)
	var batch []KillRecord
	failing := false // while the store fails, retry on the ticker only
	t := time.NewTicker(historyFlushEvery)
	defer t.Stop()
	flush := func(final bool) {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.store.AddKillRecords(ctx, batch)
		cancel()
		h.flushes.Add(1)
		failing = err != nil
		if err != nil {
			h.log.Error("writing kill history failed", zap.Int("rows", len(batch)), zap.Bool("final", final), zap.Error(err))
			if !final && len(batch) <= historyMaxPending {
				return // retry with the next flush
			}
			if !final {
				batch = append(batch[:0], batch[len(batch)-historyMaxPending:]...)
				return
			}
		} else {
			h.written.Add(int64(len(batch)))
			h.obs().HistoryWritten(len(batch))
		}
		batch = batch[:0]
	}
	for {
		select {
		case r, ok := <-h.ch:
			if !ok {
				flush(true)
				return
			}
			batch = append(batch, r)
			if len(batch) >= historyBatch && !failing {
				flush(false)
			}
		case <-t.C:
			flush(false)
		}
	}
}
