package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// DefaultRedisTimeout is the default RedisConfig.Timeout.
const DefaultRedisTimeout = 100 * time.Millisecond

// RedisConfig configures a fleet-wide limiter.
type RedisConfig struct {
	Addr     string // host:port
	Password string
	DB       int
	// Timeout bounds one Redis decision (dial included); past it the
	// request is decided locally. Default DefaultRedisTimeout.
	Timeout time.Duration
	// RetryAfter is how long Redis is skipped after a failure before one
	// request probes it again (the circuit). Default 1s.
	RetryAfter time.Duration
	// Prefix is prepended to every key in Redis. Default "killgate:".
	Prefix string
}

// Redis is a fleet-wide Allower: every replica configured with the same Redis
// shares one GCRA bucket per key (github.com/go-redis/redis_rate, the
// decision is a Lua script using the Redis server's clock). When Redis fails
// or is slower than Timeout, the request is decided by the local Limiter
// (each replica then limits on its own: N replicas admit up to N times the
// rate) and Redis is skipped for RetryAfter, after which a single request
// probes it; the fall-back and the recovery are logged once per transition.
//
// Metrics: Degraded (state: true while decisions are local), FallbackCount
// (decisions made locally because Redis was unavailable), RedisErrors
// (failed Redis calls) and Transitions (fleet → local switches).
type Redis struct {
	rdb     *redis.Client
	lim     *redis_rate.Limiter
	limit   redis_rate.Limit
	local   *Limiter
	timeout time.Duration
	retry   time.Duration
	prefix  string
	log     *zap.Logger
	now     func() time.Time

	unlimited bool
	perSecond float64

	mu        sync.Mutex
	degraded  bool      // decisions are local (since the last failure)
	openUntil time.Time // no Redis call before this
	probing   bool      // one request is probing Redis

	fallbacks   atomic.Int64
	errs        atomic.Int64
	transitions atomic.Int64
	degradedNow atomic.Bool
}

var (
	_ Allower = (*Redis)(nil)
	_ Rater   = (*Redis)(nil)
)

// Rate returns the configured rate per key (requests per second; 0 when
// unlimited), fleet-wide.
func (r *Redis) Rate() float64 {
	if r.unlimited {
		return 0
	}
	return r.perSecond
}

// NewRedis returns a fleet-wide limiter for cfg (the same rate and burst as
// the local one) backed by Redis; local decides while Redis is unavailable
// (nil: New(cfg)). It does not contact Redis: the first request does.
func NewRedis(rc RedisConfig, cfg Config, local *Limiter, log *zap.Logger) *Redis {
	if rc.Timeout <= 0 {
		rc.Timeout = DefaultRedisTimeout
	}
	if rc.RetryAfter <= 0 {
		rc.RetryAfter = time.Second
	}
	if rc.Prefix == "" {
		rc.Prefix = "killgate:"
	}
	if local == nil {
		local = New(cfg)
	}
	if log == nil {
		log = zap.NewNop()
	}
	r := &Redis{local: local, timeout: rc.Timeout, retry: rc.RetryAfter, prefix: rc.Prefix, log: log, now: time.Now}
	if !(cfg.PerSecond > 0) || math.IsInf(cfg.PerSecond, 1) {
		r.unlimited = true
		return r
	}
	r.limit, r.perSecond = gcraLimit(cfg), cfg.PerSecond
	r.rdb = redis.NewClient(&redis.Options{
		Addr:                  rc.Addr,
		Password:              rc.Password,
		DB:                    rc.DB,
		DialTimeout:           rc.Timeout,
		ReadTimeout:           rc.Timeout,
		WriteTimeout:          rc.Timeout,
		PoolTimeout:           rc.Timeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1, // a retry would double the time a request waits
		DialerRetries:         1,
		DisableIdentity:       true,
	})
	r.lim = redis_rate.NewLimiter(r.rdb)
	quietRedis.Do(func() { redis.SetLogger(debugLogger{log.Named("go-redis")}) })
	return r
}

// go-redis logs every failed dial on its own; the limiter logs transitions
// instead, so the client's lines go to debug level.
var quietRedis sync.Once

type debugLogger struct{ log *zap.Logger }

func (d debugLogger) Printf(_ context.Context, format string, v ...any) {
	d.log.Debug(fmt.Sprintf(format, v...))
}

// gcraLimit expresses PerSecond/Burst as a redis_rate limit, whose Rate is an
// integer: a fractional rate is scaled over a longer period.
func gcraLimit(cfg Config) redis_rate.Limit {
	burst := cfg.Burst
	if burst < 1 {
		burst = int(math.Max(1, math.Ceil(cfg.PerSecond)))
	}
	if cfg.PerSecond == math.Trunc(cfg.PerSecond) && cfg.PerSecond <= math.MaxInt32 {
		return redis_rate.Limit{Rate: int(cfg.PerSecond), Burst: burst, Period: time.Second}
	}
	return redis_rate.Limit{Rate: int(math.Max(1, math.Round(cfg.PerSecond*1000))), Burst: burst, Period: 1000 * time.Second}
}

// Allow decides one request for key: through Redis (fleet-wide) when it
// answers within the timeout, else locally. The Redis call is bounded by ctx
// (the request's) as well as by the timeout: when ctx ends first the caller
// is gone, so the request is decided locally without counting against
// Redis (no fall-back, no circuit change).
func (r *Redis) Allow(ctx context.Context, key string) bool {
	if r.unlimited {
		return true
	}
	if !r.tryRedis() {
		r.fallbacks.Add(1)
		return r.local.Allow(ctx, key)
	}
	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	res, err := r.lim.Allow(rctx, r.prefix+key, r.limit)
	cancel()
	switch {
	case err != nil && ended(ctx):
		r.abandoned()
		return r.local.Allow(ctx, key)
	case err != nil:
		r.failed(err)
		r.fallbacks.Add(1)
		return r.local.Allow(ctx, key)
	}
	r.succeeded()
	return res.Allowed > 0
}

// tryRedis reports whether this request may use Redis: always while Redis
// is healthy; while the circuit is open, only one request after RetryAfter.
func (r *Redis) tryRedis() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.degraded {
		return true
	}
	if r.probing || r.now().Before(r.openUntil) {
		return false
	}
	r.probing = true
	return true
}

func (r *Redis) failed(err error) {
	r.errs.Add(1)
	r.mu.Lock()
	was := r.degraded
	r.degraded, r.probing = true, false
	r.openUntil = r.now().Add(r.retry)
	r.mu.Unlock()
	r.degradedNow.Store(true)
	if !was {
		r.transitions.Add(1)
		r.log.Warn("rate limit: Redis unavailable, limiting per replica until it answers (N replicas admit up to N× the rate)",
			zap.Error(redactRedisErr(err)), zap.Duration("retry_every", r.retry))
	}
}

// ended reports whether the request is over: cancelled, or past its
// deadline (the socket deadline go-redis derives from it can fire before the
// context's own timer).
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// abandoned ends a Redis call cut short by its request: nothing was learnt
// about Redis, so only a probe in flight is given back (the next request
// probes instead).
func (r *Redis) abandoned() {
	r.mu.Lock()
	r.probing = false
	r.mu.Unlock()
}

func (r *Redis) succeeded() {
	r.mu.Lock()
	was := r.degraded
	r.degraded, r.probing = false, false
	r.mu.Unlock()
	if was {
		r.degradedNow.Store(false)
		r.log.Info("rate limit: Redis answers again, limiting fleet-wide")
	}
}

// redactRedisErr keeps the error text (go-redis errors carry no password).
func redactRedisErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timeout")
	}
	return err
}

// Degraded reports whether decisions are currently local because Redis
// failed (the state for a gauge such as killgate_ratelimit_redis_degraded).
func (r *Redis) Degraded() bool { return r.degradedNow.Load() }

// FallbackCount returns how many requests were decided by the local limiter
// because Redis was unavailable or the circuit was open.
func (r *Redis) FallbackCount() int64 { return r.fallbacks.Load() }

// RedisErrors returns how many Redis calls failed (timeouts included).
func (r *Redis) RedisErrors() int64 { return r.errs.Load() }

// Transitions returns how many times the limiter switched from fleet-wide to
// local decisions.
func (r *Redis) Transitions() int64 { return r.transitions.Load() }

// Ping checks Redis within the timeout (start-up diagnostics).
func (r *Redis) Ping(ctx context.Context) error {
	if r.rdb == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout*5)
	defer cancel()
	return r.rdb.Ping(ctx).Err()
}

// Close closes the Redis client.
func (r *Redis) Close() error {
	if r.rdb == nil {
		return nil
	}
	return r.rdb.Close()
}
