package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults used by DefaultConfig and by New for zero-valued fields.
const (
	DefaultPerSecond = 20
	DefaultBurst     = 20
	DefaultMaxKeys   = 100000
	DefaultIdleTTL   = 10 * time.Minute
)

// Allower is the minimal interface the gateway needs. The local Limiter
// implements it; the fleet-wide Redis limiter too. ctx is the request's: a
// limiter that asks a server (Redis) gives up when the request ends, as well
// as past its own timeout.
type Allower interface {
	Allow(ctx context.Context, key string) bool
}

// Rater is implemented by limiters that can tell their configured rate
// (requests per second per key; 0 = unlimited), for messages such as the
// gateway's RequestLimitExceeded.
type Rater interface {
	Rate() float64
}

// Config configures a Limiter.
type Config struct {
	// PerSecond is the sustained rate per key. PerSecond <= 0 means
	// unlimited: Allow always reports true and no key is ever stored.
	PerSecond float64
	// Burst is the bucket size: how many requests one key may make in the
	// same instant.
	Burst int
	// MaxKeys bounds the number of buckets kept in memory.
	MaxKeys int
	// IdleTTL is how long a key must be unused before its bucket may be
	// dropped. It must be at least the time a bucket needs to refill
	// completely (Burst/PerSecond), so dropping an idle bucket is lossless:
	// it would have been full anyway.
	IdleTTL time.Duration
}

// DefaultConfig returns 20 requests/s per key, burst 20 (DBbrain's documented
// per-action limit), at most 100,000 keys, idle keys dropped after 10 minutes.
func DefaultConfig() Config {
	return Config{
		PerSecond: DefaultPerSecond,
		Burst:     DefaultBurst,
		MaxKeys:   DefaultMaxKeys,
		IdleTTL:   DefaultIdleTTL,
	}
}

// Validate reports the first problem with c, or nil. An unlimited config
// (PerSecond <= 0) is always valid.
func (c Config) Validate() error {
	if math.IsNaN(c.PerSecond) || math.IsInf(c.PerSecond, 0) {
		return fmt.Errorf("ratelimit: per_second must be a finite number, got %v", c.PerSecond)
	}
	if c.PerSecond <= 0 {
		return nil
	}
	if c.Burst < 1 {
		return fmt.Errorf("ratelimit: burst must be >= 1 when per_second > 0, got %d", c.Burst)
	}
	if c.MaxKeys < 1 {
		return fmt.Errorf("ratelimit: max_keys must be >= 1, got %d", c.MaxKeys)
	}
	if c.IdleTTL <= 0 {
		return fmt.Errorf("ratelimit: idle_ttl must be > 0, got %s", c.IdleTTL)
	}
	if refill := refillTime(c); c.IdleTTL < refill {
		return fmt.Errorf("ratelimit: idle_ttl %s is shorter than the time to refill a full bucket (%s); "+
			"dropping idle keys would hand out extra requests", c.IdleTTL, refill)
	}
	return nil
}

// refillTime is the time an empty bucket needs to become full again.
func refillTime(c Config) time.Duration {
	secs := float64(c.Burst) / c.PerSecond
	if secs >= float64(math.MaxInt64)/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}

// entry is one key's bucket plus its place in the LRU list. The list is
// intrusive (prev/next live in the entry) so touching a key allocates nothing.
type entry struct {
	key        string
	lim        *rate.Limiter
	lastUse    int64 // UnixNano of the last Allow for this key
	prev, next *entry
}

// Limiter is a set of per-key token buckets, safe for concurrent use.
//
// Memory is bounded by MaxKeys. When a new key arrives and the set is full,
// keys idle for longer than IdleTTL are dropped first (lossless: their
// buckets would be full again). If the set is still full, the least recently
// used key is dropped.
//
// Trade-off of LRU eviction: a dropped key that comes back starts with a full
// bucket, so evicting a busy key would hand it up to one extra burst. A key
// moves to the front of the LRU list on every Allow (refused calls count as
// use too), so a caller that wants to reset a throttled key by eviction has
// to push MaxKeys distinct new keys through the limiter between two uses of
// that key — 100,000 requests by default, each itself rate limited per key
// and (in the gateway) only possible after a valid signature. The
// alternative, refusing new keys when full, would let a flood of distinct
// keys lock out every new legitimate caller; we prefer bounded memory and
// availability over a perfectly exact limit under such a flood.
type Limiter struct {
	unlimited bool
	limit     rate.Limit
	burst     int
	maxKeys   int
	idleTTL   int64 // nanoseconds

	mu   sync.Mutex
	keys map[string]*entry
	// head is the most recently used entry, tail the least recently used.
	head, tail *entry
}

var (
	_ Allower = (*Limiter)(nil)
	_ Rater   = (*Limiter)(nil)
)

// New returns a Limiter for cfg. Call cfg.Validate first to reject bad
// configuration; New itself never fails: zero or negative Burst, MaxKeys or
// IdleTTL are replaced by usable values (Burst: ceil(PerSecond), at least 1;
// MaxKeys and IdleTTL: the defaults, IdleTTL raised to the refill time).
func New(cfg Config) *Limiter {
	// Unlimited: PerSecond <= 0 by contract; NaN and +Inf cannot describe a
	// finite bucket either (Validate rejects them).
	if !(cfg.PerSecond > 0) || math.IsInf(cfg.PerSecond, 1) {
		return &Limiter{unlimited: true}
	}
	if cfg.Burst < 1 {
		cfg.Burst = int(math.Max(1, math.Ceil(cfg.PerSecond)))
	}
	if cfg.MaxKeys < 1 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.IdleTTL <= 0 {
		cfg.IdleTTL = DefaultIdleTTL
	}
	if r := refillTime(cfg); cfg.IdleTTL < r {
		cfg.IdleTTL = r
	}
	return &Limiter{
		limit:   rate.Limit(cfg.PerSecond),
		burst:   cfg.Burst,
		maxKeys: cfg.MaxKeys,
		idleTTL: int64(cfg.IdleTTL),
		keys:    make(map[string]*entry),
	}
}

// Rate returns the sustained rate per key in requests per second; 0 when
// unlimited.
func (l *Limiter) Rate() float64 {
	if l.unlimited {
		return 0
	}
	return float64(l.limit)
}

// Allow reports whether one request for key may proceed now, and consumes a
// token if so. The decision is local and never waits, so ctx is not used.
func (l *Limiter) Allow(_ context.Context, key string) bool {
	if l.unlimited {
		return true
	}
	return l.AllowAt(key, time.Now())
}

// AllowAt is Allow with an explicit clock, for tests and simulations.
func (l *Limiter) AllowAt(key string, now time.Time) bool {
	if l.unlimited {
		return true
	}
	nowNano := now.UnixNano()
	l.mu.Lock()
	e, ok := l.keys[key]
	if ok {
		l.moveToFront(e)
	} else {
		e = l.insert(key, nowNano)
	}
	e.lastUse = nowNano
	// The bucket's own mutex is uncontended: every caller holds l.mu.
	allowed := e.lim.AllowN(now, 1)
	l.mu.Unlock()
	return allowed
}

// Len reports how many keys are currently tracked.
func (l *Limiter) Len() int {
	if l.unlimited {
		return 0
	}
	l.mu.Lock()
	n := len(l.keys)
	l.mu.Unlock()
	return n
}

// insert adds a new bucket for key, evicting as needed. l.mu must be held.
func (l *Limiter) insert(key string, nowNano int64) *entry {
	// Drop idle keys from the cold end. The list is ordered by last use, so
	// the idle keys are all at the tail; each key is dropped at most once,
	// so this is amortised O(1) per insert. Doing it on every insert (not
	// only when full) also returns memory after a burst of one-off keys.
	for l.tail != nil && nowNano-l.tail.lastUse > l.idleTTL {
		l.remove(l.tail)
	}
	var e *entry
	if len(l.keys) >= l.maxKeys {
		// Still full: drop the least recently used key and reuse its entry.
		e = l.tail
		l.remove(e)
		*e = entry{}
	} else {
		e = new(entry)
	}
	e.key = key
	e.lim = rate.NewLimiter(l.limit, l.burst)
	l.keys[key] = e
	l.pushFront(e)
	return e
}

func (l *Limiter) remove(e *entry) {
	delete(l.keys, e.key)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (l *Limiter) pushFront(e *entry) {
	e.prev = nil
	e.next = l.head
	if l.head != nil {
		l.head.prev = e
	}
	l.head = e
	if l.tail == nil {
		l.tail = e
	}
}

func (l *Limiter) moveToFront(e *entry) {
	if l.head == e {
		return
	}
	// Unlink (e is not the head, so e.prev != nil).
	e.prev.next = e.next
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	l.pushFront(e)
}
