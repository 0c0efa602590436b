package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"killgate/actions"
	"killgate/ratelimit"
	"killgate/tc3"
)

// Credential is one Tencent API 3.0 key pair and its scope.
type Credential struct {
	SecretID  string
	SecretKey string
	Actions   []string // allowed actions; empty or "*" = all
	Instances []string // allowed instance ids; empty or "*" = all
}

// HuaweiConfig configures the Huawei GaussDB door.
type HuaweiConfig struct {
	ProjectID string            // the only project id accepted in paths
	Tokens    []string          // accepted X-Auth-Token values
	Keys      map[string]string // AK → SK for SDK-HMAC-SHA256 signatures
}

// Config wires the gateway.
type Config struct {
	Huawei      HuaweiConfig
	Credentials []Credential
	Registry    *actions.Registry // the Tencent door's actions, by name
	// HuaweiActions are the Huawei door's actions, each with its route
	// (actions.Service.HuaweiActions); the door is mounted when both
	// Huawei.ProjectID and HuaweiActions are set.
	HuaweiActions *actions.Registry
	Limiter       ratelimit.Allower // per (SecretId, Action); nil = unlimited
	Log           *zap.Logger
	Now           func() time.Time // default time.Now
	// SkewWindow is the accepted clock difference for signatures (300 s).
	SkewWindow time.Duration
	// Extra lets other doors (Huawei, ops) add routes to the same engine.
	Extra []func(*gin.Engine)
	// Requests, when set, is told about every request as its access line is
	// written (metrics).
	Requests RequestObserver
	// Secrets are redacted from every log line the gateway writes, in
	// addition to the credentials' secret keys (Huawei tokens and SKs, DSN
	// passwords): defence in depth should a cause or a panic carry one.
	Secrets []string
	// BodyBudget bounds the bytes of request bodies held at once, all
	// requests together (bodies over 64 KB count; see body.go). 0 =
	// DefaultBodyBudget; at least MinBodyBudget.
	BodyBudget int64
	// BodyWait is how long a request waits for body budget before it is
	// refused. 0 = DefaultBodyWait.
	BodyWait time.Duration
}

// Server is killgate's HTTP front: the Tencent door on "/", and whatever
// Extra routes mount (Huawei door, health, metrics).
type Server struct {
	cfg    Config
	creds  map[string]Credential
	tc3v   *tc3.Verifier // TC3 signatures for service dbbrain, with its key cache
	engine *gin.Engine
	log    *zap.Logger
	redact *strings.Replacer
	bodies *bodyBudget
}

// New builds the server. Duplicate SecretIds are a configuration error.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil {
		return nil, errors.New("gateway: no action registry")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SkewWindow <= 0 {
		cfg.SkewWindow = tc3.DefaultSkewWindow
	}
	if cfg.BodyBudget == 0 {
		cfg.BodyBudget = DefaultBodyBudget
	}
	if cfg.BodyBudget < MinBodyBudget {
		return nil, fmt.Errorf("gateway: body budget %d bytes is below the minimum %d", cfg.BodyBudget, MinBodyBudget)
	}
	if cfg.BodyWait <= 0 {
		cfg.BodyWait = DefaultBodyWait
	}
	s := &Server{cfg: cfg, creds: map[string]Credential{}, tc3v: tc3.NewVerifier(tc3.ServiceDBbrain), log: cfg.Log, bodies: newBodyBudget(cfg.BodyBudget, cfg.BodyWait)}
	for _, c := range cfg.Credentials {
		if c.SecretID == "" || c.SecretKey == "" {
			return nil, errors.New("gateway: a credential has an empty secret_id or secret_key")
		}
		if _, dup := s.creds[c.SecretID]; dup {
			return nil, fmt.Errorf("gateway: secret_id %s configured twice", c.SecretID)
		}
		s.creds[c.SecretID] = c
	}
	var pairs []string
	for _, sec := range append(append(slices.Clone(cfg.Secrets), keys(s.creds)...), huaweiSecrets(cfg.Huawei)...) {
		if len(sec) >= 4 {
			pairs = append(pairs, sec, "[REDACTED]")
		}
	}
	s.redact = strings.NewReplacer(pairs...)
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = false
	e.Use(s.accessLog, s.recover)
	e.Any("/", s.tencent)
	if cfg.Huawei.ProjectID != "" && cfg.HuaweiActions != nil {
		if err := validateHuawei(cfg.Huawei); err != nil {
			return nil, err
		}
		s.mountHuawei(e)
	}
	if err := s.mountConsole(e); err != nil { // web console (console.go)
		return nil, err
	}
	for _, add := range cfg.Extra {
		add(e)
	}
	e.NoRoute(s.notFound)
	s.engine = e
	return s, nil
}

func init() {
	// Request ids are random UUIDs; read crypto/rand in batches rather than
	// once per request (the pool is safe for concurrent use once enabled).
	uuid.EnableRandPool()
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

// HTTPTimeouts bounds how long a client may take. A zero field keeps its
// default (ReadHeader 5s, Read 30s, Write 60s, Idle 120s).
type HTTPTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// NewHTTPServer returns an http.Server with timeouts that keep slow or idle
// clients from pinning connections: a client that has not sent its headers
// within ReadHeader, or its whole request within Read, is disconnected.
// Tests may pass shorter timeouts.
func NewHTTPServer(addr string, h http.Handler, timeouts ...HTTPTimeouts) *http.Server {
	t := HTTPTimeouts{ReadHeader: 5 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second, Idle: 120 * time.Second}
	for _, o := range timeouts {
		t.ReadHeader = cmp.Or(o.ReadHeader, t.ReadHeader)
		t.Read = cmp.Or(o.Read, t.Read)
		t.Write = cmp.Or(o.Write, t.Write)
		t.Idle = cmp.Or(o.Idle, t.Idle)
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
	}
}

// reqInfo collects what the access log reports about one request. The
// handlers fill it; accessLog writes it once.
type reqInfo struct {
	RequestID string
	Door      string // doorTencent | doorHuawei | doorOps | doorNone
	Action    string
	Caller    string
	Code      string // API error code, "" on success
	bodyRead  bool   // the door read the whole body (no drain needed)
	Err       error  // internal cause, logged only
}

const infoKey = "killgate.req"

// Doors, as the access log and the metrics name them.
const (
	doorTencent = "tencent"
	doorHuawei  = "huawei"
	doorOps     = "ops"
	doorConsole = "console" // the web console's static files
	doorNone    = "none"    // a path outside every door
)

func info(c *gin.Context) *reqInfo {
	if v, ok := c.Get(infoKey); ok {
		return v.(*reqInfo)
	}
	ri := &reqInfo{}
	c.Set(infoKey, ri)
	return ri
}

// Log field names, fixed so that dashboards can rely on them.
const (
	fRequestID = "request_id"
	fDoor      = "door"
	fAction    = "action"
	fCaller    = "caller"
	fCode      = "code"
	fStatus    = "status"
	fLatency   = "latency_s"
	fMethod    = "method"
	fPath      = "path"
	fRemote    = "remote"
	fError     = "error"
)

// accessLog is the outermost middleware: it assigns the request id and
// writes exactly one line per request after everything else has run.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	ri := info(c)
	ri.RequestID = uuid.NewString()
	c.Next()
	if !ri.bodyRead {
		drainBody(c, ri.Door)
	}
	fields := []zap.Field{
		zap.String(fRequestID, ri.RequestID),
		zap.String(fDoor, ri.Door),
		zap.String(fMethod, c.Request.Method),
		zap.String(fPath, c.Request.URL.Path),
		zap.String(fAction, ri.Action),
		zap.String(fCaller, ri.Caller),
		zap.String(fCode, ri.Code),
		zap.Int(fStatus, c.Writer.Status()),
		zap.Float64(fLatency, time.Since(start).Seconds()),
		zap.String(fRemote, c.ClientIP()),
	}
	if ri.Err != nil {
		fields = append(fields, zap.String(fError, s.redact.Replace(ri.Err.Error())))
	}
	s.log.Info("request", fields...)
	if s.cfg.Requests != nil {
		s.cfg.Requests.Request(ri.Door, ri.Action, ri.Code, time.Since(start))
	}
}

// drainBody reads and discards what is left of a request body that was
// answered without being read (a refusal before the body, see body.go), up
// to the door's size limit, so that the client reads the answer on a healthy
// connection instead of a reset while it is still sending. The answer is
// sent first (flushed), so a client holding its body back still gets it at
// once. Nothing is held: the bytes go to io.Discard. A body declared larger
// than the limit is not drained (net/http then closes the connection after
// the answer).
func drainBody(c *gin.Context, door string) {
	r := c.Request
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	limit := int64(freeBodyBytes)
	switch door {
	case doorTencent:
		limit = maxV3Body
	case doorHuawei:
		limit = hwMaxBody
	}
	if r.ContentLength > limit {
		return
	}
	c.Writer.Flush()
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, limit+1))
}

// recover turns a panic anywhere below into the door's error answer: an
// InternalError envelope for the Tencent door, a Huawei 500 otherwise.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p)
		}
		ri := info(c)
		perr := fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		if c.Writer.Written() {
			ri.Err = perr
			return
		}
		if ri.Door == doorHuawei {
			s.writeHuawei(c, nil, actions.Wrap(actions.InternalError, perr, "Internal error."))
			return
		}
		s.writeTC(c, nil, actions.Wrap(actions.InternalError, perr, "An internal error occurred; quote the RequestId when reporting it."))
	}()
	c.Next()
}

func (s *Server) notFound(c *gin.Context) {
	if c.Request.URL.Path == "/" {
		// A method gin's Any does not route (e.g. PROPFIND, or any
		// extension method) still gets the Tencent door's envelope:
		// UnsupportedProtocol, HTTP 200.
		s.tencent(c)
		return
	}
	if strings.HasPrefix(c.Request.URL.Path, "/v3/") {
		s.huaweiNotFound(c)
		return
	}
	ri := info(c)
	ri.Door = doorNone
	ri.Code = codeNotFound
	c.Data(http.StatusNotFound, "application/json", []byte(`{"error_code":"NotFound","error_msg":"No such path. The Tencent API is served on /, the Huawei API under /v3/."}`))
}

func keys(m map[string]Credential) []string {
	var out []string
	for _, c := range m {
		out = append(out, c.SecretKey)
	}
	return out
}

// Redact removes configured secrets from s.
func (s *Server) Redact(text string) string { return s.redact.Replace(text) }

// requestContext carries the request id for handlers that log.
type requestIDKey struct{}

// RequestID returns the request id carried by ctx.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}
