package gateway

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"killgate/actions"
)

// Ops paths. None needs authentication; none returns secrets, DSNs or error
// text (which could carry a DSN or a host name an operator did not mean to
// publish).
const (
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"
)

// opsActions are the action labels of ops requests in metrics and logs.
var opsActions = []string{"healthz", "readyz", "metrics"}

// codeNotReady is the access-log and metrics code of a 503 from /readyz.
const codeNotReady = "NotReady"

// Pinger is the store as readiness sees it (*killtask.Store implements it).
type Pinger interface {
	Ping(ctx context.Context) error
}

// OpsConfig sets up the ops endpoints.
type OpsConfig struct {
	// Store is pinged by /readyz; required.
	Store Pinger
	// Instances lists instance health for /readyz
	// (actions.Service.Readiness); nil omits the list. Instance health
	// never fails readiness.
	Instances func(ctx context.Context) ([]actions.InstanceReadiness, error)
	// Metrics, when set, is served on /metrics and records the readiness
	// ping latency.
	Metrics *Metrics
	// PingTimeout bounds the store ping (default 1s); InstancesTimeout the
	// instance listing, which probes nodes never polled (default 800ms).
	PingTimeout      time.Duration
	InstancesTimeout time.Duration
	// Log receives store state changes; Redact cleans error text first.
	Log    *zap.Logger
	Redact func(string) string
}

// Ops serves /healthz, /readyz and /metrics.
type Ops struct {
	cfg       OpsConfig
	storeDown atomic.Bool
}

// NewOps builds the ops endpoints.
func NewOps(cfg OpsConfig) *Ops {
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = time.Second
	}
	if cfg.InstancesTimeout <= 0 {
		cfg.InstancesTimeout = 800 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Redact == nil {
		cfg.Redact = func(s string) string { return s }
	}
	return &Ops{cfg: cfg}
}

// Mount adds the ops routes to a gin engine (Config.Extra on the main
// listener, or the engine of a separate ops listener).
func (o *Ops) Mount(e *gin.Engine) {
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		e.Handle(m, PathHealthz, o.healthz)
		e.Handle(m, PathReadyz, o.readyz)
		if o.cfg.Metrics != nil {
			e.Handle(m, PathMetrics, o.metrics)
		}
	}
}

// Handler returns a handler with only the ops routes, for a separate
// ops listener (ops.listen). It has its own recovery and writes no access log.
func (o *Ops) Handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, _ any) {
		c.AbortWithStatus(http.StatusInternalServerError)
	}))
	o.Mount(e)
	e.NoRoute(func(c *gin.Context) {
		c.Data(http.StatusNotFound, "application/json", []byte(`{"error":"not found; this listener serves /healthz, /readyz and /metrics"}`))
	})
	return e
}

func opsRequest(c *gin.Context, action string) *reqInfo {
	ri := info(c)
	ri.Door, ri.Action = doorOps, action
	return ri
}

// healthz answers 200 while the process serves HTTP.
func (o *Ops) healthz(c *gin.Context) {
	opsRequest(c, "healthz")
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json", []byte(`{"status":"ok"}`))
}

// readyResponse is the /readyz body.
type readyResponse struct {
	Status    string                      `json:"status"` // ready | unavailable
	Store     string                      `json:"store"`  // ok | unreachable
	Config    string                      `json:"config"` // loaded
	Instances []actions.InstanceReadiness `json:"instances,omitempty"`
}

// readyz answers 200 when the store answers a ping within PingTimeout, else
// 503. Instance health is listed but never fails readiness: one unreachable
// database must not take the API (and the other instances) out of service.
func (o *Ops) readyz(c *gin.Context) {
	ri := opsRequest(c, "readyz")
	ctx := c.Request.Context()
	var (
		wg    sync.WaitGroup
		insts []actions.InstanceReadiness
	)
	if o.cfg.Instances != nil {
		wg.Go(func() {
			ictx, cancel := context.WithTimeout(ctx, o.cfg.InstancesTimeout)
			defer cancel()
			insts, _ = o.cfg.Instances(ictx) // fails with the store; the ping reports that
		})
	}
	pctx, cancel := context.WithTimeout(ctx, o.cfg.PingTimeout)
	start := time.Now()
	err := o.cfg.Store.Ping(pctx)
	cancel()
	if o.cfg.Metrics != nil {
		o.cfg.Metrics.ObserveStore(storeOpPing, time.Since(start))
	}
	wg.Wait()
	o.noteStore(err)

	resp := readyResponse{Status: "ready", Store: "ok", Config: "loaded"}
	status := http.StatusOK
	if err != nil {
		resp.Status, resp.Store = "unavailable", "unreachable"
		status = http.StatusServiceUnavailable
		ri.Code = codeNotReady
	}
	resp.Instances = insts
	b, _ := jsonMarshal(resp)
	c.Header("Cache-Control", "no-store")
	c.Data(status, "application/json", b)
}

// noteStore logs store reachability changes seen by readiness, once per change.
func (o *Ops) noteStore(err error) {
	down := err != nil
	if o.storeDown.Swap(down) == down {
		return
	}
	if down {
		o.cfg.Log.Warn("readiness: store unreachable", zap.String("error", o.cfg.Redact(err.Error())))
	} else {
		o.cfg.Log.Info("readiness: store reachable again")
	}
}

func (o *Ops) metrics(c *gin.Context) {
	opsRequest(c, "metrics")
	o.cfg.Metrics.handler.ServeHTTP(c.Writer, c.Request)
}
