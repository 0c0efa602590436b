package ratelimit

// Longer than 400 lines on purpose: the local limiter's sequences, eviction bounds and
// concurrency cases are tables of exact expected answers, kept beside each other.

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func testConfig() Config {
	return Config{PerSecond: 20, Burst: 20, MaxKeys: 100, IdleTTL: time.Minute}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.PerSecond != 20 || c.Burst != 20 || c.MaxKeys != 100000 || c.IdleTTL != 10*time.Minute {
		t.Fatalf("DefaultConfig() = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := testConfig()
	tests := []struct {
		name    string
		mut     func(*Config)
		wantErr bool
	}{
		{"valid", func(*Config) {}, false},
		{"unlimited zero", func(c *Config) { *c = Config{} }, false},
		{"unlimited negative", func(c *Config) { *c = Config{PerSecond: -1} }, false},
		{"NaN", func(c *Config) { c.PerSecond = math.NaN() }, true},
		{"+Inf", func(c *Config) { c.PerSecond = math.Inf(1) }, true},
		{"-Inf", func(c *Config) { c.PerSecond = math.Inf(-1) }, true},
		{"burst zero", func(c *Config) { c.Burst = 0 }, true},
		{"burst negative", func(c *Config) { c.Burst = -3 }, true},
		{"max keys zero", func(c *Config) { c.MaxKeys = 0 }, true},
		{"idle ttl zero", func(c *Config) { c.IdleTTL = 0 }, true},
		{"idle ttl shorter than refill", func(c *Config) { c.IdleTTL = 999 * time.Millisecond }, true},
		{"idle ttl equal to refill", func(c *Config) { c.IdleTTL = time.Second }, false},
		{"fractional rate", func(c *Config) { c.PerSecond, c.Burst, c.IdleTTL = 0.5, 1, 2*time.Second }, false},
		{"tiny rate huge burst", func(c *Config) { c.PerSecond, c.Burst = 1e-300, math.MaxInt }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mut(&c)
			err := c.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate(%+v) = %v, wantErr %v", c, err, tc.wantErr)
			}
		})
	}
}

func TestNewNormalises(t *testing.T) {
	// New never fails; zero fields get usable values.
	l := New(Config{PerSecond: 2.5})
	if l.unlimited || l.burst != 3 || l.maxKeys != DefaultMaxKeys || l.idleTTL != int64(DefaultIdleTTL) {
		t.Fatalf("New normalised to burst=%d maxKeys=%d idleTTL=%d unlimited=%v", l.burst, l.maxKeys, l.idleTTL, l.unlimited)
	}
	l = New(Config{PerSecond: 1, Burst: 100, MaxKeys: 1, IdleTTL: time.Second})
	if l.idleTTL != int64(100*time.Second) {
		t.Fatalf("IdleTTL not raised to refill time: %v", time.Duration(l.idleTTL))
	}
	for _, ps := range []float64{0, -5, math.NaN(), math.Inf(1), math.Inf(-1)} {
		t.Run(fmt.Sprintf("PerSecond %v is unlimited", ps), func(t *testing.T) {
			if !New(Config{PerSecond: ps}).unlimited {
				t.Errorf("PerSecond=%v should be unlimited", ps)
			}
		})
	}
}

func TestAllowAtSequences(t *testing.T) {
	type step struct {
		key  string
		at   time.Duration // offset from t0
		n    int           // number of calls
		want int           // how many must be allowed
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"burst of 20 in one instant, 21st refused", []step{
			{"a", 0, 20, 20},
			{"a", 0, 1, 0},
		}},
		{"refill after 50ms gives exactly one more", []step{
			{"a", 0, 25, 20},
			{"a", 49 * time.Millisecond, 1, 0},
			{"a", 50 * time.Millisecond, 2, 1},
			{"a", 100 * time.Millisecond, 2, 1},
		}},
		{"full refill after one second", []step{
			{"a", 0, 20, 20},
			{"a", time.Second, 21, 20},
		}},
		{"sustained 20/s", []step{
			{"a", 0, 20, 20},
			{"a", 1 * 50 * time.Millisecond, 1, 1},
			{"a", 2 * 50 * time.Millisecond, 1, 1},
			{"a", 3 * 50 * time.Millisecond, 1, 1},
			{"a", 3 * 50 * time.Millisecond, 1, 0},
		}},
		{"keys are independent", []step{
			{"a", 0, 20, 20},
			{"a", 0, 1, 0},
			{"b", 0, 21, 20},
			{"AKID1\x00CreateKillTask", 0, 20, 20},
			{"AKID1\x00CancelKillTask", 0, 20, 20},
			{"a", 0, 1, 0},
		}},
		{"empty key is a key", []step{
			{"", 0, 21, 20},
		}},
		{"clock going backwards does not mint tokens", []step{
			{"a", time.Second, 20, 20},
			{"a", 0, 5, 0},
			{"a", time.Second, 1, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(testConfig())
			for i, s := range tc.steps {
				got := 0
				for range s.n {
					if l.AllowAt(s.key, t0.Add(s.at)) {
						got++
					}
				}
				if got != s.want {
					t.Fatalf("step %d (%q at +%s): %d of %d allowed, want %d", i, s.key, s.at, got, s.n, s.want)
				}
			}
		})
	}
}

func TestUnlimited(t *testing.T) {
	l := New(Config{PerSecond: 0})
	for i := range 10000 {
		if !l.AllowAt(strconv.Itoa(i), t0) || !l.Allow(context.Background(), "hot") {
			t.Fatal("unlimited limiter refused")
		}
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("unlimited limiter stored %d keys", n)
	}
}

func TestEvictionBoundManyKeys(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	const maxKeys = 1000
	l := New(Config{PerSecond: 20, Burst: 20, MaxKeys: maxKeys, IdleTTL: time.Hour})
	buf := make([]byte, 0, 16)
	for i := range n {
		buf = strconv.AppendInt(buf[:0], int64(i), 10)
		// All in the same instant: nothing is idle, so LRU eviction must
		// keep the bound.
		if !l.AllowAt(string(buf), t0) {
			t.Fatalf("fresh key %d refused", i)
		}
		if got := len(l.keys); got > maxKeys {
			t.Fatalf("after %d keys Len = %d > MaxKeys %d", i+1, got, maxKeys)
		}
	}
	if got := l.Len(); got != maxKeys {
		t.Fatalf("Len = %d, want %d", got, maxKeys)
	}
	checkList(t, l)
	// The survivors are the most recent keys.
	if _, ok := l.keys[strconv.Itoa(n-1)]; !ok {
		t.Fatal("most recent key was evicted")
	}
	if _, ok := l.keys[strconv.Itoa(n-maxKeys-1)]; ok {
		t.Fatal("an old key survived")
	}
}

func TestHotKeySurvivesFlood(t *testing.T) {
	// A throttled key that keeps being used is never the LRU victim, so a
	// flood of fresh keys cannot reset it.
	const maxKeys = 50
	l := New(Config{PerSecond: 20, Burst: 20, MaxKeys: maxKeys, IdleTTL: time.Hour})
	for range 20 {
		l.AllowAt("hot", t0)
	}
	for i := range 10 * maxKeys {
		l.AllowAt("flood"+strconv.Itoa(i), t0)
		if l.AllowAt("hot", t0) {
			t.Fatalf("hot key reset after %d flood keys", i+1)
		}
	}
	checkList(t, l)
}

func TestLRUEvictionOrder(t *testing.T) {
	l := New(Config{PerSecond: 20, Burst: 20, MaxKeys: 3, IdleTTL: time.Hour})
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	l.AllowAt("a", at(0))
	l.AllowAt("b", at(1))
	l.AllowAt("c", at(2))
	l.AllowAt("a", at(3)) // a is now most recent; b is LRU
	l.AllowAt("d", at(4)) // evicts b
	assertKeys(t, l, "a", "c", "d")
	l.AllowAt("e", at(5)) // evicts c
	assertKeys(t, l, "a", "d", "e")
	checkList(t, l)
}

func TestIdleEviction(t *testing.T) {
	const maxKeys = 10
	ttl := time.Minute
	l := New(Config{PerSecond: 20, Burst: 20, MaxKeys: maxKeys, IdleTTL: ttl})
	for i := range maxKeys {
		l.AllowAt("old"+strconv.Itoa(i), t0)
	}
	// One key stays in use.
	l.AllowAt("old3", t0.Add(ttl))
	if l.Len() != maxKeys {
		t.Fatalf("Len = %d", l.Len())
	}
	// Exactly at the TTL nothing is idle yet: a new key evicts one LRU key.
	l.AllowAt("new0", t0.Add(ttl))
	if l.Len() != maxKeys {
		t.Fatalf("Len = %d, want %d", l.Len(), maxKeys)
	}
	// Past the TTL every key last used at t0 is dropped at once.
	l.AllowAt("new1", t0.Add(ttl+time.Nanosecond))
	assertKeys(t, l, "old3", "new0", "new1")
	checkList(t, l)

	// Idle keys are also dropped on insert when the set is not full.
	l2 := New(Config{PerSecond: 20, Burst: 20, MaxKeys: 1000, IdleTTL: ttl})
	for i := range 100 {
		l2.AllowAt("k"+strconv.Itoa(i), t0)
	}
	l2.AllowAt("late", t0.Add(2*ttl))
	assertKeys(t, l2, "late")
}

func TestIdleEvictionIsLossless(t *testing.T) {
	// A key that comes back after being dropped for idleness gets a full
	// bucket — the same answer it would have got had it never been dropped.
	cfg := Config{PerSecond: 20, Burst: 20, MaxKeys: 2, IdleTTL: time.Second}
	kept := New(Config{PerSecond: 20, Burst: 20, MaxKeys: 100, IdleTTL: time.Hour})
	dropped := New(cfg)
	for _, l := range []*Limiter{kept, dropped} {
		for range 20 {
			l.AllowAt("a", t0)
		}
		l.AllowAt("x", t0.Add(2*time.Second))
		l.AllowAt("y", t0.Add(2*time.Second))
	}
	if _, ok := dropped.keys["a"]; ok {
		t.Fatal("idle key not dropped")
	}
	for i := range 21 {
		k, d := kept.AllowAt("a", t0.Add(3*time.Second)), dropped.AllowAt("a", t0.Add(3*time.Second))
		if k != d {
			t.Fatalf("call %d: kept=%v dropped=%v", i, k, d)
		}
	}
}

func TestConcurrent(t *testing.T) {
	const (
		goroutines = 16
		perG       = 2000
		maxKeys    = 64
	)
	l := New(Config{PerSecond: 20, Burst: 20, MaxKeys: maxKeys, IdleTTL: time.Hour})
	var sharedAllowed atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				// One shared key at a frozen instant: exactly Burst allowed
				// in total across all goroutines.
				if l.AllowAt("shared", t0) {
					sharedAllowed.Add(1)
				}
				// Private churn to exercise eviction concurrently.
				l.AllowAt("g"+strconv.Itoa(g)+"-"+strconv.Itoa(i%200), t0)
				l.Allow(context.Background(), "wall"+strconv.Itoa(i%10))
				if n := l.Len(); n > maxKeys {
					t.Errorf("Len = %d > %d", n, maxKeys)
					return
				}
			}
		})
	}
	wg.Wait()
	// "shared" may have been evicted (and so reset) by the churn; with 64
	// keys and 16 goroutines each touching it every few operations that is
	// possible, so only the lower bound is exact.
	if got := sharedAllowed.Load(); got < 20 {
		t.Fatalf("shared key allowed %d, want >= 20", got)
	}
	checkList(t, l)
}

func TestConcurrentExactWithoutEviction(t *testing.T) {
	l := New(Config{PerSecond: 20, Burst: 20, MaxKeys: 1000, IdleTTL: time.Hour})
	var allowed [4]atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 1000 {
				k := i % 4
				if l.AllowAt("k"+strconv.Itoa(k), t0) {
					allowed[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for k := range allowed {
		if got := allowed[k].Load(); got != 20 {
			t.Errorf("key %d: %d allowed, want 20", k, got)
		}
	}
}

// assertKeys checks the exact key set.
func assertKeys(t *testing.T, l *Limiter, want ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.keys) != len(want) {
		got := make([]string, 0, len(l.keys))
		for k := range l.keys {
			got = append(got, k)
		}
		t.Fatalf("keys = %q, want %q", got, want)
	}
	for _, k := range want {
		if _, ok := l.keys[k]; !ok {
			t.Fatalf("key %q missing", k)
		}
	}
}

// checkList verifies the LRU list and the map agree.
func checkList(t *testing.T, l *Limiter) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	var prev *entry
	for e := l.head; e != nil; e = e.next {
		if e.prev != prev {
			t.Fatalf("broken prev link at %q", e.key)
		}
		if l.keys[e.key] != e {
			t.Fatalf("list entry %q not in map", e.key)
		}
		prev = e
		n++
		if n > len(l.keys) {
			t.Fatal("list longer than map (cycle?)")
		}
	}
	if prev != l.tail {
		t.Fatal("tail mismatch")
	}
	if n != len(l.keys) {
		t.Fatalf("list has %d entries, map %d", n, len(l.keys))
	}
}

func BenchmarkAllowHotKey(b *testing.B) {
	l := New(Config{PerSecond: 1e9, Burst: 1 << 30, MaxKeys: 1000, IdleTTL: time.Hour})
	key := "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE\x00CreateKillTask"
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(context.Background(), key)
	}
}

func BenchmarkAllowHotKeyRefused(b *testing.B) {
	l := New(DefaultConfig())
	key := "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE\x00CreateKillTask"
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(context.Background(), key)
	}
}

func BenchmarkAllowManyKeys(b *testing.B) {
	// 1,000 live keys, all present: map lookup + LRU move, no insertions.
	l := New(Config{PerSecond: 1e9, Burst: 1 << 30, MaxKeys: 10000, IdleTTL: time.Hour})
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "AKID" + strconv.Itoa(i) + "\x00CreateKillTask"
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Allow(context.Background(), keys[i%len(keys)])
		i++
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := New(Config{PerSecond: 1e9, Burst: 1 << 30, MaxKeys: 1000, IdleTTL: time.Hour})
	keys := []string{"a\x00A", "b\x00B", "c\x00C", "d\x00D"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(context.Background(), keys[i&3])
			i++
		}
	})
}

func BenchmarkAllowNewKeysEvicting(b *testing.B) {
	// Worst case: every call is a new key and evicts the LRU one.
	l := New(Config{PerSecond: 20, Burst: 20, MaxKeys: 1000, IdleTTL: time.Hour})
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.AllowAt(keys[i&(len(keys)-1)], t0)
		i++
	}
}

func BenchmarkAllowUnlimited(b *testing.B) {
	l := New(Config{})
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(context.Background(), "k")
	}
}
