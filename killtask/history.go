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
	// pruneEvery: retention runs at most this often after history writes,
	// and pruneIdle apart when nothing is written (rows age out).
	pruneEvery = time.Minute
	pruneIdle  = time.Hour
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
	wrote   func() // after each successful write (the engine asks for a prune)
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
	failing := false // while the store fails, retry on the timer only
	// The flush timer runs only while rows wait: an idle writer wakes no one.
	t := time.NewTimer(historyFlushEvery)
	t.Stop()
	defer t.Stop()
	armed := false
	arm := func() {
		if !armed && len(batch) > 0 {
			t.Reset(historyFlushEvery)
			armed = true
		}
	}
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
			if h.wrote != nil {
				h.wrote()
			}
		}
		batch = batch[:0]
	}
	for {
		var tc <-chan time.Time
		if armed {
			tc = t.C
		}
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
			arm()
		case <-tc:
			armed = false
			flush(false)
			arm()
		}
	}
}
