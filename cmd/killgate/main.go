// Command killgate serves the Tencent DBbrain and Huawei GaussDB kill-session
// APIs for self-managed MySQL, MariaDB and TDSQL-C instances.
//
//	killgate -config killgate.yaml
//	killgate -version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"

	"killgate/actions"
	"killgate/gateway"
	"killgate/killtask"
	"killgate/ratelimit"
)

// version is stamped by the Makefile (-ldflags -X main.version=…).
var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "killgate:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("killgate", flag.ContinueOnError)
	cfgPath := fs.String("config", os.Getenv("KILLGATE_CONFIG"), "config file (or $KILLGATE_CONFIG)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logFormat := fs.String("log-format", "", "override log.format (json | console)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println("killgate", version)
		return nil
	}
	if *cfgPath == "" {
		return errors.New("no config: pass -config FILE or set KILLGATE_CONFIG")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *logFormat != "" {
		cfg.Log.Format = *logFormat
	}
	log, err := newLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // nothing to do if stderr is gone

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, log, nil)
}

func newLogger(c LogConfig) (*zap.Logger, error) {
	var zc zap.Config
	if c.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	} else {
		zc = zap.NewProductionConfig()
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	lvl, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.DisableStacktrace = true
	return zc.Build()
}

// serve runs killgate until ctx ends: store → engine → actions → gateway,
// then shuts down in reverse order. ready, if not nil, receives the bound
// address once the listener is up (tests).
func serve(ctx context.Context, cfg Config, log *zap.Logger, ready chan<- string) error {
	for _, c := range cfg.Credentials {
		if c.SecretID == demoSecretID {
			log.Warn("DEMO CREDENTIALS in use: secret_id " + demoSecretID + " is published in the README; do not expose this listener beyond localhost")
		}
	}
	store, err := killtask.OpenStore(ctx, killtask.StoreConfig{Driver: cfg.Store.Driver, DSN: cfg.Store.DSN})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer store.Close()

	eng, err := killtask.NewEngine(engineConfig(cfg), store, instanceConfigs(cfg), log.Named("killtask"))
	if err != nil {
		return err
	}
	svc := actions.NewService(eng, log.Named("actions"))
	registry := actions.NewRegistry(svc.Actions())
	// Ops endpoints and metrics (docs/operations.md).
	var (
		metrics *gateway.Metrics
		reqObs  gateway.RequestObserver
		gw      *gateway.Server
	)
	if cfg.Ops.Metrics {
		var ids []string
		for _, in := range cfg.Instances {
			ids = append(ids, in.ID)
		}
		metrics = gateway.NewMetrics(gateway.MetricsConfig{Actions: registry.Names(), Instances: ids, Store: store, Version: version})
		eng.SetObserver(metrics)
		reqObs = metrics
	}
	ops := gateway.NewOps(gateway.OpsConfig{Store: store, Instances: eng.Instances, Metrics: metrics,
		Log: log.Named("ops"), Redact: func(s string) string { return gw.Redact(s) }})
	var extra []func(*gin.Engine)
	if cfg.Ops.Listen == "" {
		extra = append(extra, ops.Mount)
	}
	rlCfg := ratelimit.Config{
		PerSecond: cfg.RateLimit.PerSecond, Burst: cfg.RateLimit.Burst,
		MaxKeys: 100_000, IdleTTL: 10 * time.Minute,
	}
	var limiter ratelimit.Allower = ratelimit.New(rlCfg)
	if rc := cfg.RateLimit.Redis; rc.Addr != "" {
		// Fleet-wide limit (docs/scale-out.md); the local limiter decides
		// while Redis is unavailable.
		rl := ratelimit.NewRedis(ratelimit.RedisConfig{Addr: rc.Addr, Password: rc.Password, DB: rc.DB, Timeout: rc.Timeout},
			rlCfg, limiter.(*ratelimit.Limiter), log.Named("ratelimit"))
		defer rl.Close()
		if err := rl.Ping(ctx); err != nil {
			log.Warn("rate limit: Redis not reachable at start; limiting per replica until it is", zap.String("addr", rc.Addr), zap.Error(err))
		}
		limiter = rl
		if metrics != nil {
			metrics.WatchRateLimit(rl)
		}
	}
	if metrics != nil && eng.LeasesEnabled() {
		metrics.WatchLeases(eng.LeasesHeld)
	}
	var creds []gateway.Credential
	for _, c := range cfg.Credentials {
		creds = append(creds, gateway.Credential{SecretID: c.SecretID, SecretKey: c.SecretKey, Actions: c.Actions, Instances: c.Instances})
	}
	hw := gateway.HuaweiConfig{ProjectID: cfg.Huawei.ProjectID, Tokens: cfg.Huawei.Tokens, Keys: map[string]string{}}
	secrets := slices.Clone(cfg.Huawei.Tokens)
	for _, k := range cfg.Huawei.Keys {
		hw.Keys[k.AK] = k.SK
		secrets = append(secrets, k.SK)
	}
	secrets = append(secrets, dsnPasswords(cfg)...)
	gw, err = gateway.New(gateway.Config{
		Huawei:      hw,
		Service:     svc,
		Secrets:     secrets,
		Credentials: creds,
		Registry:    registry,
		Limiter:     limiter,
		Log:         log.Named("access"),
		Extra:       extra,
		Requests:    reqObs,
		BodyBudget:  int64(cfg.Requests.BodyMemoryMB) << 20,
		BodyWait:    cfg.Requests.BodyWait,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := gateway.NewHTTPServer(cfg.Listen, gw.Handler())
	var opsLn net.Listener
	opsSrv := gateway.NewHTTPServer(cfg.Ops.Listen, ops.Handler())
	if cfg.Ops.Listen != "" {
		if opsLn, err = net.Listen("tcp", cfg.Ops.Listen); err != nil {
			ln.Close()
			return fmt.Errorf("ops.listen: %w", err)
		}
		log.Info("ops endpoints listening", zap.String("addr", opsLn.Addr().String()))
	}
	log.Info("killgate listening", zap.String("addr", ln.Addr().String()), zap.String("version", version),
		zap.String("store", cfg.Store.Driver), zap.Int("instances", len(cfg.Instances)),
		zap.String("replica", eng.ReplicaID()), zap.Bool("leases", cfg.Store.Driver == "mysql"),
		zap.Bool("ratelimit_redis", cfg.RateLimit.Redis.Addr != ""))
	log.Info("console: http://" + ln.Addr().String() + "/console/") // web console (docs/console.md)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	g := new(errgroup.Group)
	g.Go(func() error { return eng.Run(engCtx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if opsLn != nil {
		g.Go(func() error {
			if err := opsSrv.Serve(opsLn); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	<-ctx.Done()
	log.Info("shutting down: draining requests")
	// Drain in-flight requests first (they may still create tasks), then stop
	// the engine (which waits for in-flight kills and flushes the history),
	// then the deferred store.Close.
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", zap.Error(err))
	}
	if err := opsSrv.Shutdown(shutCtx); err != nil {
		log.Warn("ops http shutdown", zap.Error(err))
	}
	stopEngine()
	err = g.Wait()
	log.Info("stopped")
	return err
}

// demoSecretID is the SecretId of docs/killgate.example.yaml.
const demoSecretID = "AKIDkillgateDEMO"

func engineConfig(cfg Config) killtask.Config {
	ec := killtask.DefaultConfig()
	ec.PollInterval = cfg.Worker.PollInterval
	ec.MaxTasksPerInstance = cfg.Worker.MaxTasksPerInstance
	ec.KillConcurrency = cfg.Worker.KillConcurrency
	ec.KillTimeout = cfg.Worker.KillTimeout
	ec.HistoryMaxAge = cfg.History.MaxAge
	ec.HistoryMaxRows = cfg.History.MaxRows
	if cfg.Store.Driver == "mysql" {
		// A shared store may serve several replicas: enforce a node only
		// while holding its lease (docs/scale-out.md).
		ec.LeaseTTL = cfg.Worker.LeaseTTL
	}
	return ec
}

// dsnPasswords lists the passwords in every configured DSN, so that the
// gateway can redact them from logs should an error ever carry one.
func dsnPasswords(cfg Config) []string {
	var out []string
	add := func(dsn string) {
		if mc, err := mysql.ParseDSN(dsn); err == nil && mc.Passwd != "" {
			out = append(out, mc.Passwd)
		}
	}
	if cfg.Store.Driver == "mysql" {
		add(cfg.Store.DSN)
	}
	if cfg.RateLimit.Redis.Password != "" {
		out = append(out, cfg.RateLimit.Redis.Password)
	}
	for _, in := range cfg.Instances {
		add(in.DSN)
		for _, n := range in.Nodes {
			add(n.DSN)
		}
	}
	return out
}

// instanceConfigs maps the config to the engine's instances. With a shared
// MySQL store (several replicas), the accounts killgate itself connects with
// are added to every instance's protected users: a replica recognises only
// its own connections by id, and must never kill another replica's.
func instanceConfigs(cfg Config) []killtask.InstanceConfig {
	shared := cfg.Store.Driver == "mysql"
	var own []string
	if shared {
		own = dsnUsers(cfg)
	}
	var out []killtask.InstanceConfig
	for _, in := range cfg.Instances {
		ic := killtask.InstanceConfig{ID: in.ID, Product: in.Product, DSN: in.DSN, ProtectedUsers: slices.Clone(in.ProtectedUsers),
			KillMethod: killtask.KillMethod(in.KillMethod), DefaultKillMode: killtask.KillMode(in.DefaultKillMode)}
		for _, n := range in.Nodes {
			ic.Nodes = append(ic.Nodes, killtask.NodeConfig{ID: n.ID, DSN: n.DSN})
		}
		for _, u := range own {
			if !slices.Contains(ic.ProtectedUsers, u) {
				ic.ProtectedUsers = append(ic.ProtectedUsers, u)
			}
		}
		out = append(out, ic)
	}
	return out
}

// dsnUsers lists the accounts of every configured DSN (store and instances).
func dsnUsers(cfg Config) []string {
	var out []string
	add := func(dsn string) {
		if mc, err := mysql.ParseDSN(dsn); err == nil && mc.User != "" && !slices.Contains(out, mc.User) {
			out = append(out, mc.User)
		}
	}
	if cfg.Store.Driver == "mysql" {
		add(cfg.Store.DSN)
	}
	for _, in := range cfg.Instances {
		add(in.DSN)
		for _, n := range in.Nodes {
			add(n.DSN)
		}
	}
	return out
}
