package killtask

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// History batching: a burst of kills costs one store round trip, made
// after it: a lone kill is written historyFlushEvery after it; while kills
// keep coming less than historyQuiet apart the write waits (so the store's
// commit does not take CPU from the KILLs of a burst), but never longer than
// historyMaxDelay after the oldest waiting row.
const (
	historyFlushEvery = 50 * time.Millisecond
	historyQuiet      = 20 * time.Millisecond
	historyMaxDelay   = time.Second
	historyBatch      = 2000
	historyMaxPending = 20_000 // kept for retry while the store fails; older rows are dropped beyond it
	// pruneEvery: retention runs at most this often after history writes,
	// and pruneIdle apart when nothing is written (rows age out).
	pruneEvery = time.Minute
	pruneIdle  = time.Hour
)

// historyWriter writes task kill records in batches from one goroutine.
// Kills queue their records under a mutex and wake the writer only when the
// queue was empty (or holds a full batch): the KILLs of a burst hand nothing
// over to it one by one.
type historyWriter struct {
	obs     func() Observer // the engine's observer, read at each flush
	store   *Store
	log     *zap.Logger
	mu      sync.Mutex
	queue   []KillRecord
	lastAt  time.Time // arrival of the newest queued record
	closing bool
	kick    chan struct{} // cap 1: the queue was empty, is full, or close
	done    chan struct{}
	flushes atomic.Int64 // store writes (for tests)
	written atomic.Int64
	wrote   func() // after each successful write (the engine asks for a prune)
}

func newHistoryWriter(s *Store, log *zap.Logger) *historyWriter {
	return &historyWriter{store: s, log: log, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// add queues a record; it must not be called after close.
func (h *historyWriter) add(r KillRecord) {
	h.mu.Lock()
	h.queue = append(h.queue, r)
	h.lastAt = time.Now()
	n := len(h.queue)
	h.mu.Unlock()
	if n == 1 || n == historyBatch {
		h.wake()
	}
}

func (h *historyWriter) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// close flushes what is queued and stops the writer.
func (h *historyWriter) close() {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	h.wake()
	<-h.done
}

// state is the queue's length, its newest arrival and whether close was
// asked.
func (h *historyWriter) state() (queued int, lastAt time.Time, closing bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.queue), h.lastAt, h.closing
}

// takeInto moves the queued records to the end of batch.
func (h *historyWriter) takeInto(batch []KillRecord) []KillRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	batch = append(batch, h.queue...)
	clear(h.queue) // drop the strings for the collector
	h.queue = h.queue[:0]
	return batch
}

func (h *historyWriter) run() {
	defer close(h.done)
	var batch []KillRecord // taken from the queue, not yet written (kept for a retry while the store fails)
	var firstAt time.Time  // when the writer first saw the oldest waiting record
	failing := false       // while the store fails, retry on the timer only
	// The flush timer runs only while records wait: an idle writer wakes no one.
	t := time.NewTimer(historyFlushEvery)
	t.Stop()
	defer t.Stop()
	armed := false
	flush := func(final bool) {
		batch = h.takeInto(batch)
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
		clear(batch)
		batch = batch[:0]
	}
	for {
		var tc <-chan time.Time
		if armed {
			tc = t.C
		}
		fired := false
		select {
		case <-h.kick:
		case <-tc:
			armed, fired = false, true
		}
		queued, lastAt, closing := h.state()
		if closing {
			flush(true)
			return
		}
		now := time.Now()
		if len(batch)+queued == 0 {
			firstAt = time.Time{}
			continue
		}
		if firstAt.IsZero() {
			firstAt = now
		}
		switch {
		case queued >= historyBatch && !failing:
		case fired && !failing && now.Sub(lastAt) < historyQuiet && now.Sub(firstAt) < historyMaxDelay:
			t.Reset(historyQuiet) // a burst is still going: write it once, after it
			armed = true
			continue
		case !fired:
			if !armed { // the first records: written historyFlushEvery from now
				t.Reset(historyFlushEvery)
				armed = true
			}
			continue
		}
		flush(false)
		firstAt = time.Time{}
		if q, _, _ := h.state(); len(batch)+q > 0 {
			// Kept for a retry, or queued during the write.
			firstAt = time.Now()
			if !armed {
				t.Reset(historyFlushEvery)
				armed = true
			}
		}
	}
}
