package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// The Redis tests use the shared Redis at 127.0.0.1:6379 (KILLGATE_TEST_REDIS
// overrides) with a random key prefix, and their own redis-server processes
// for outages. They skip when Redis is missing, except under CI.

func sharedRedis(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("KILLGATE_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Redis at %s: %v", addr, err)
		}
		t.Skipf("Redis at %s not available: %v", addr, err)
	}
	return addr
}

func prefix(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "kgtest:" + t.Name() + ":" + hex.EncodeToString(b) + ":"
}

func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.InfoLevel)
	return zap.New(core), logs
}

// burstNow fires n requests for key as fast as possible and counts admissions.
func burstNow(a Allower, key string, n int) int {
	ok := 0
	for range n {
		if a.Allow(context.Background(), key) {
			ok++
		}
	}
	return ok
}

func TestRedisGCRAAdmitsBurstThenRate(t *testing.T) {
	addr := sharedRedis(t)
	cfg := Config{PerSecond: 20, Burst: 20}
	r := NewRedis(RedisConfig{Addr: addr, Prefix: prefix(t)}, cfg, nil, nil)
	defer r.Close()
	start := time.Now()
	got := burstNow(r, "AKID\x00CreateKillTask", 60)
	el := time.Since(start)
	// The burst, plus what the rate refilled while the 60 calls ran.
	if maxOK := 20 + int(el.Seconds()*20) + 1; got < 20 || got > maxOK {
		t.Fatalf("burst: %d admitted of 60 in %v, want 20..%d", got, el, maxOK)
	}
	// Then the rate: over 1 s of steady calls about 20 more.
	ok, calls := 0, 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		calls++
		if r.Allow(context.Background(), "AKID\x00CreateKillTask") {
			ok++
		}
	}
	if ok < 17 || ok > 22 {
		t.Errorf("steady second: %d admitted of %d calls, want about 20", ok, calls)
	}
	// Another key has its own bucket.
	if n := burstNow(r, "AKID\x00CancelKillTask", 25); n < 20 || n > 21 {
		t.Errorf("second key: %d of 25, want 20", n)
	}
	if r.Degraded() || r.FallbackCount() != 0 || r.RedisErrors() != 0 {
		t.Errorf("healthy Redis: degraded=%v fallbacks=%d errors=%d", r.Degraded(), r.FallbackCount(), r.RedisErrors())
	}
	t.Logf("burst of 60: %d admitted in %v; steady second: %d of %d", got, el, ok, calls)
}

// TestRedisFleetShared: three limiters (three replicas) on one Redis share
// each key's bucket: 60 calls spread over them admit about 20 in all.
func TestRedisFleetShared(t *testing.T) {
	addr := sharedRedis(t)
	cfg := Config{PerSecond: 20, Burst: 20}
	p := prefix(t)
	var fleet []*Redis
	for range 3 {
		r := NewRedis(RedisConfig{Addr: addr, Prefix: p}, cfg, nil, nil)
		defer r.Close()
		fleet = append(fleet, r)
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 60 {
		wg.Go(func() {
			if fleet[i%3].Allow(context.Background(), "AKID\x00DescribeKillTasks") {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if got, maxOK := int(ok.Load()), 20+int(el.Seconds()*20)+1; got < 20 || got > maxOK {
		t.Fatalf("fleet of 3: %d of 60 admitted in %v, want 20..%d", got, el, maxOK)
	}
}

func TestRedisFallbackDeadAddress(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"refused", closedPort(t)},
		{"blackhole", "10.255.255.1:6379"}, // never answers: every try costs the timeout
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := observed()
			r := NewRedis(RedisConfig{Addr: tc.addr, Timeout: 50 * time.Millisecond, RetryAfter: time.Hour}, Config{PerSecond: 20, Burst: 20}, nil, log)
			defer r.Close()
			start := time.Now()
			got := burstNow(r, "k", 60)
			el := time.Since(start)
			// Local limiting: the burst of one replica.
			if got < 20 || got > 21 {
				t.Errorf("%d of 60 admitted while Redis is down, want 20 (local)", got)
			}
			// The circuit: one failed call, the other 59 never wait for Redis.
			if el > 500*time.Millisecond {
				t.Errorf("60 decisions took %v with Redis down: requests wait for Redis", el)
			}
			if r.RedisErrors() != 1 || r.FallbackCount() != 60 || !r.Degraded() || r.Transitions() != 1 {
				t.Errorf("errors=%d fallbacks=%d degraded=%v transitions=%d, want 1, 60, true, 1",
					r.RedisErrors(), r.FallbackCount(), r.Degraded(), r.Transitions())
			}
			if n := logs.FilterMessageSnippet("Redis unavailable").Len(); n != 1 {
				t.Errorf("%d fall-back log lines, want 1", n)
			}
			t.Logf("60 decisions in %v", el)
		})
	}
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// ownRedis runs a private redis-server on port until stop is called (or the
// test ends). It never touches the shared Redis.
type ownRedis struct {
	cmd  *exec.Cmd
	port int
	once sync.Once
	done chan struct{}
}

func startOwnRedis(t *testing.T, port int) *ownRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed")
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o := &ownRedis{cmd: cmd, port: port, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(o.done) }()
	t.Cleanup(o.stop)
	c := redis.NewClient(&redis.Options{Addr: o.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("own redis-server did not answer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return o
}

func (o *ownRedis) addr() string { return fmt.Sprintf("127.0.0.1:%d", o.port) }

func (o *ownRedis) stop() {
	o.once.Do(func() {
		_ = o.cmd.Process.Kill()
		<-o.done
	})
}

func TestRedisOutageAndRecovery(t *testing.T) {
	var port int
	fmt.Sscanf(closedPort(t)[len("127.0.0.1:"):], "%d", &port)
	srv := startOwnRedis(t, port)
	log, logs := observed()
	cfg := Config{PerSecond: 1000, Burst: 1000} // decisions only; nothing is refused
	r := NewRedis(RedisConfig{Addr: srv.addr(), Timeout: 100 * time.Millisecond, RetryAfter: 200 * time.Millisecond}, cfg, nil, log)
	defer r.Close()
	if !r.Allow(context.Background(), "k") || r.Degraded() {
		t.Fatal("first decision through Redis failed")
	}
	srv.stop()
	for range 50 {
		if !r.Allow(context.Background(), "k") {
			t.Fatal("refused while falling back")
		}
	}
	if !r.Degraded() || r.FallbackCount() == 0 {
		t.Fatalf("after Redis stopped: degraded=%v fallbacks=%d", r.Degraded(), r.FallbackCount())
	}
	// While down, Redis is tried about once per RetryAfter, not per request.
	errs := r.RedisErrors()
	end := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		r.Allow(context.Background(), "k")
		time.Sleep(time.Millisecond)
	}
	if extra := r.RedisErrors() - errs; extra < 2 || extra > 7 {
		t.Errorf("%d Redis attempts in 1s of outage with a 200ms circuit, want about 5", extra)
	}
	srv2 := startOwnRedis(t, port)
	defer srv2.stop()
	deadline := time.Now().Add(3 * time.Second)
	for r.Degraded() {
		if time.Now().After(deadline) {
			t.Fatal("did not return to Redis after it came back")
		}
		r.Allow(context.Background(), "k")
		time.Sleep(10 * time.Millisecond)
	}
	fb := r.FallbackCount()
	for range 20 {
		r.Allow(context.Background(), "k")
	}
	if r.FallbackCount() != fb {
		t.Error("still deciding locally after recovery")
	}
	if n := logs.FilterMessageSnippet("Redis unavailable").Len(); n != 1 {
		t.Errorf("%d fall-back log lines for one outage, want 1", n)
	}
	if n := logs.FilterMessageSnippet("Redis answers again").Len(); n != 1 {
		t.Errorf("%d recovery log lines, want 1", n)
	}
	if r.Transitions() != 1 {
		t.Errorf("transitions %d, want 1", r.Transitions())
	}
}

func TestRedisUnlimitedAndFractional(t *testing.T) {
	r := NewRedis(RedisConfig{Addr: closedPort(t)}, Config{PerSecond: 0}, nil, nil)
	defer r.Close()
	if burstNow(r, "k", 100) != 100 || r.FallbackCount() != 0 {
		t.Error("unlimited config must admit everything without Redis")
	}
	l := gcraLimit(Config{PerSecond: 0.5, Burst: 2})
	if l.Rate != 500 || l.Period != 1000*time.Second || l.Burst != 2 {
		t.Errorf("0.5/s: %+v", l)
	}
	l = gcraLimit(Config{PerSecond: 20, Burst: 20})
	if l.Rate != 20 || l.Period != time.Second || l.Burst != 20 {
		t.Errorf("20/s: %+v", l)
	}
}

// silentServer accepts connections and never answers: a Redis that hangs.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestRedisBoundedByRequest: a Redis decision ends at its request's
// deadline, well before the limiter's own (here long) timeout, and a request
// already gone does not reach Redis. Neither says anything about Redis: no
// failure, no fall-back count, no open circuit; each next request asks Redis
// again. (A request cancelled while its call waits on the socket is bounded
// by the timeout: go-redis turns the context's deadline, not its
// cancellation, into socket deadlines.)
func TestRedisBoundedByRequest(t *testing.T) {
	const timeout = time.Minute
	r := NewRedis(RedisConfig{Addr: silentServer(t), Timeout: timeout, RetryAfter: time.Hour}, Config{PerSecond: 20, Burst: 20}, nil, nil)
	defer r.Close()
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"request deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}},
		{"request already gone", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			done := make(chan bool, 1)
			go func() { done <- r.Allow(ctx, "k") }()
			select {
			case ok := <-done:
				if !ok {
					t.Error("refused: a request the caller abandoned is decided locally (the burst is not spent)")
				}
			case <-time.After(timeout / 2):
				t.Fatal("Allow outlived its request: the Redis call is not bounded by the request's context")
			}
			if r.Degraded() || r.RedisErrors() != 0 || r.FallbackCount() != 0 || r.Transitions() != 0 {
				t.Errorf("degraded=%v errors=%d fallbacks=%d transitions=%d after abandoned requests, want false 0 0 0",
					r.Degraded(), r.RedisErrors(), r.FallbackCount(), r.Transitions())
			}
		})
	}
}
