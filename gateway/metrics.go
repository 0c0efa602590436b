package gateway

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"killgate/actions"
)

// RequestObserver is told about every request once, when its access line is
// written (Config.Requests). door, action and code are as logged: code is ""
// on success.
type RequestObserver interface {
	Request(door, action, code string, d time.Duration)
}

// TaskStore is what the scrape-time collector reads from the store: running,
// unexpired tasks per instance (*killtask.Store implements it).
type TaskStore interface {
	ActiveTaskCounts(ctx context.Context, now time.Time) (map[string]int, error)
}

// MetricsConfig sets up Metrics.
type MetricsConfig struct {
	// Actions are the registered action names of both doors (the Tencent
	// registry's and the Huawei one's; the ops paths are added); any other
	// action label becomes "unknown".
	Actions []string
	// Instances are the configured instance ids; active_tasks reports 0 for
	// those without tasks and ignores ids outside the list.
	Instances []string
	// Store, when set, is read at scrape time for active tasks and store
	// latency.
	Store TaskStore
	// Version is exported as killgate_build_info{version}.
	Version string
	// ScrapeTimeout bounds the store query of one scrape (default 2s).
	ScrapeTimeout time.Duration
}

// Metrics owns killgate's private Prometheus registry. It implements
// RequestObserver (requests, rate-limit rejections) and, in plain types, the
// engine's observer (polls, kills, history rows: cmd/killgate adapts it to
// killtask.Observer). Every label is bounded: doors, actions and codes come
// from fixed sets, instances and nodes from the configuration.
type Metrics struct {
	reg *prometheus.Registry
	cfg MetricsConfig

	actions map[string]bool
	codes   map[string]bool

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	rateLimited     *prometheus.CounterVec
	polls           *prometheus.CounterVec
	pollDuration    *prometheus.HistogramVec
	kills           *prometheus.CounterVec
	killFailures    *prometheus.CounterVec
	killReaction    prometheus.Histogram
	historyRows     prometheus.Counter
	storeDuration   *prometheus.HistogramVec

	handler http.Handler
}

// Label values used when a value is outside its bounded set.
const (
	labelUnknown = "unknown"
	labelNone    = "none"
	codeOK       = "ok"
	codeOther    = "other"
)

// Store operations observed in killgate_store_operation_duration_seconds.
const (
	storeOpActiveTasks = "active_tasks" // scrape-time task count
	storeOpPing        = "ping"         // readiness probe
)

// extraCodes are codes the gateway answers with that are not API codes of
// the catalog (client went away, unknown path).
var extraCodes = []string{codeClientClosed, codeNotFound, codeNotReady}

// huaweiCode matches the Huawei door's error codes (DBS.200001, …), which
// the door takes from a fixed table.
var huaweiCode = regexp.MustCompile(`^[A-Z]{2,8}\.[0-9]{4,8}$`)

var _ RequestObserver = (*Metrics)(nil)

// NewMetrics builds the registry with killgate's metrics and the Go and
// process collectors.
func NewMetrics(cfg MetricsConfig) *Metrics {
	if cfg.ScrapeTimeout <= 0 {
		cfg.ScrapeTimeout = 2 * time.Second
	}
	m := &Metrics{reg: prometheus.NewRegistry(), cfg: cfg, actions: map[string]bool{}, codes: map[string]bool{}}
	for _, a := range cfg.Actions {
		m.actions[a] = true
	}
	for _, a := range append(slices.Clone(opsActions), consoleAction) {
		m.actions[a] = true
	}
	for _, c := range actions.Codes() {
		m.codes[string(c)] = true
	}
	for _, c := range extraCodes {
		m.codes[c] = true
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "killgate_requests_total",
		Help: "API requests by door (tencent, huawei, ops), action and error code (ok on success).",
	}, []string{"door", "action", "code"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "killgate_request_duration_seconds",
		Help:    "Time from the first byte of a request to its answer, by door and action.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"door", "action"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "killgate_ratelimit_rejections_total",
		Help: "Requests rejected by the rate limit (RequestLimitExceeded, Huawei APIGW.0308), by action.",
	}, []string{"action"})
	m.polls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "killgate_processlist_polls_total",
		Help: "Processlist reads by the enforcement worker, by instance, node and result (ok, error).",
	}, []string{"instance", "node", "result"})
	m.pollDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "killgate_processlist_poll_duration_seconds",
		Help:    "Duration of one processlist read by the enforcement worker.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"instance", "node"})
	m.kills = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "killgate_kills_total",
		Help: "Kill attempts (tasks, manual and intelligent kills) by instance, node and outcome (killed, gone, changed, failed, skipped).",
	}, []string{"instance", "node", "outcome"})
	m.killFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "killgate_kill_failures_total",
		Help: "Failed KILLs by instance, node and reason: denied (the account lacks the kill privilege, error 1095/1227), timeout, connection, other.",
	}, []string{"instance", "node", "reason"})
	m.killReaction = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "killgate_kill_reaction_seconds",
		Help:    "From the start of the poll (or kill request) that saw a session to the return of its KILL.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.historyRows = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "killgate_history_rows_written_total",
		Help: "Kill-history rows written (counted per kill attempt until the engine reports writes).",
	})
	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "killgate_store_operation_duration_seconds",
		Help:    "Store round trips measured by killgate's ops side: active_tasks (scrape) and ping (readiness).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"op"})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "killgate_build_info",
		Help: "Always 1; the version label is the running build.",
	}, []string{"version"})
	v := cfg.Version
	if v == "" {
		v = "dev"
	}
	buildInfo.WithLabelValues(v).Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.requestDuration, m.rateLimited, m.polls, m.pollDuration,
		m.kills, m.killFailures, m.killReaction, m.historyRows, m.storeDuration, buildInfo,
	)
	if cfg.Store != nil {
		m.reg.MustRegister(&taskCollector{m: m})
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4})
	return m
}

// Registry returns the private registry (tests, extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Request implements RequestObserver.
func (m *Metrics) Request(door, action, code string, d time.Duration) {
	door = boundDoor(door)
	action = m.boundAction(action)
	code = m.boundCode(code)
	m.requests.WithLabelValues(door, action, code).Inc()
	m.requestDuration.WithLabelValues(door, action).Observe(d.Seconds())
	if code == string(actions.RequestLimitExceeded) || code == hwCodeThrottled {
		m.rateLimited.WithLabelValues(action).Inc()
	}
}

// PollDone counts one processlist read of a node and its duration.
func (m *Metrics) PollDone(instanceID, nodeID string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.polls.WithLabelValues(instanceID, nodeID, result).Inc()
	m.pollDuration.WithLabelValues(instanceID, nodeID).Observe(d.Seconds())
}

// Killed counts one kill attempt by outcome (killed, gone, changed, failed,
// skipped) and its reaction time.
func (m *Metrics) Killed(instanceID, nodeID, outcome string, reaction time.Duration) {
	m.kills.WithLabelValues(instanceID, nodeID, outcome).Inc()
	m.killReaction.Observe(reaction.Seconds())
}

// KillFailed counts a failed KILL by reason.
func (m *Metrics) KillFailed(instanceID, nodeID, reason string) {
	m.killFailures.WithLabelValues(instanceID, nodeID, reason).Inc()
}

// HistoryWritten counts rows committed to the kill history.
func (m *Metrics) HistoryWritten(rows int) {
	if rows > 0 {
		m.historyRows.Add(float64(rows))
	}
}

// RateLimitState is what a fleet-wide limiter reports (ratelimit.Redis).
type RateLimitState interface {
	Degraded() bool       // deciding locally because Redis is unavailable
	FallbackCount() int64 // requests decided locally while degraded
}

// WatchRateLimit exports the fleet limiter's state:
// killgate_ratelimit_degraded (1 while Redis is unavailable and each replica
// limits on its own) and killgate_ratelimit_local_decisions_total.
func (m *Metrics) WatchRateLimit(s RateLimitState) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "killgate_ratelimit_degraded",
			Help: "1 while the fleet-wide (Redis) rate limiter is unavailable and this replica limits on its own.",
		}, func() float64 {
			if s.Degraded() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "killgate_ratelimit_local_decisions_total",
			Help: "Requests whose rate-limit decision was taken locally because Redis was unavailable.",
		}, func() float64 { return float64(s.FallbackCount()) }),
	)
}

// WatchLeases exports killgate_leases_held: the instance nodes this replica
// enforces (shared MySQL store only).
func (m *Metrics) WatchLeases(held func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "killgate_leases_held",
		Help: "Instance nodes whose enforcement this replica owns (shared store leases).",
	}, func() float64 { return float64(held()) }))
}

// ObserveStore records one store round trip.
func (m *Metrics) ObserveStore(op string, d time.Duration) {
	m.storeDuration.WithLabelValues(op).Observe(d.Seconds())
}

func boundDoor(door string) string {
	switch door {
	case doorTencent, doorHuawei, doorOps, doorConsole:
		return door
	}
	return labelNone
}

func (m *Metrics) boundAction(a string) string {
	if m.actions[a] {
		return a
	}
	return labelUnknown
}

func (m *Metrics) boundCode(c string) string {
	switch {
	case c == "":
		return codeOK
	case m.codes[c], huaweiCode.MatchString(c):
		return c
	}
	return codeOther
}

// taskCollector reports active tasks per instance from the store at scrape
// time (one indexed query), and whether the store answered.
type taskCollector struct{ m *Metrics }

var (
	activeTasksDesc = prometheus.NewDesc("killgate_active_tasks",
		"Running, unexpired kill tasks per configured instance, read from the store at scrape time.", []string{"instance"}, nil)
	storeUpDesc = prometheus.NewDesc("killgate_store_up",
		"1 if the scrape-time store query succeeded, else 0.", nil, nil)
)

func (c *taskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activeTasksDesc
	ch <- storeUpDesc
}

func (c *taskCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ScrapeTimeout)
	defer cancel()
	start := time.Now()
	counts, err := m.cfg.Store.ActiveTaskCounts(ctx, start)
	m.ObserveStore(storeOpActiveTasks, time.Since(start))
	if err != nil {
		ch <- prometheus.MustNewConstMetric(storeUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(storeUpDesc, prometheus.GaugeValue, 1)
	for _, id := range m.cfg.Instances { // configured ids only: bounded labels
		ch <- prometheus.MustNewConstMetric(activeTasksDesc, prometheus.GaugeValue, float64(counts[id]), id)
	}
}
