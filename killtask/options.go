package killtask

import "time"

// Option changes how NewEngine builds an engine. A production engine needs
// none: WithClock is for tests and tools that drive time, and WithScope and
// WithKillDelay exist only for tests.
type Option func(*options)

// options are what the Options set; the engine reads them, never changes
// them after NewEngine.
type options struct {
	now       func() time.Time
	scope     func(*Process) bool
	killDelay func(id uint64) time.Duration
}

func defaultOptions() options { return options{now: time.Now} }

// WithClock makes the engine read wall-clock time from now (nil keeps
// time.Now). The clock decides task expiry, task creation and end times,
// kill-history timestamps, prepared-kill expiry and the history retention.
// Durations measured while polling and killing (poll intervals, KILL
// timeouts, reaction times, node leases, back-offs) stay on the real
// monotonic clock: a test clock never stalls the worker.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithScope limits every kill, preview and intelligent-kill read of the
// engine to the sessions scope accepts, on top of every safety exclusion
// (nil: no limit). Tests only: a test on a shared database server must
// never touch sessions it did not create.
func WithScope(scope func(*Process) bool) Option {
	return func(o *options) { o.scope = scope }
}

// WithKillDelay delays the KILL of a thread id by the duration delay
// returns, as a KILL that stalls on the server would (MariaDB can take
// seconds on a SLEEP() victim). Tests only.
func WithKillDelay(delay func(id uint64) time.Duration) Option {
	return func(o *options) { o.killDelay = delay }
}

// now is the engine's wall clock (see WithClock).
func (e *Engine) now() time.Time { return e.opt.now() }

// inScope applies WithScope's limit.
func (e *Engine) inScope(p *Process) bool { return e.opt.scope == nil || e.opt.scope(p) }
