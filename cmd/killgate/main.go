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
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
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

// defaultGCPercent: killgate's live heap is small (tens of MB) and every
// request allocates; collecting at 4× the live heap instead of 2× halves the
// collector's share of a busy gateway for a few tens of MB. GOGC in the
// environment still decides when set (docs/operations.md).
const defaultGCPercent = 400

// defaultMemoryLimit keeps that from letting garbage pile up: past it the
// collector runs as often as it must (released request bodies are collected
// at once; see the body budget in docs/operations.md). GOMEMLIMIT in the
// environment decides when set.
const defaultMemoryLimit = 192 << 20

func run(args []string) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
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
	// After the first signal the default handling is back: a second one
	// ends the process at once, without waiting for the drain.
	context.AfterFunc(ctx, stop)
	return serve(ctx, cfg, log, nil)
}

// Lifecycle bounds and seams (docs/operations.md#shutdown); variables
// so that lifecycle_test.go can shorten them and wrap the listeners.
var (
	// drainTimeout bounds how long in-flight requests may take to finish
	// once shutdown begins.
	drainTimeout = 20 * time.Second
	// watchdogTimeout bounds the whole shutdown (drain, engine stop with
	// its in-flight kills and history flush, store close): past it the
	// process says so and exits with code 2.
	watchdogTimeout = 45 * time.Second
	// listen opens the HTTP listeners.
	listen = net.Listen
)

// watchdogExitCode is the exit code of a shutdown that overran
// watchdogTimeout (1 is any other failure).
const watchdogExitCode = 2

// watchdog ends the process if done is not closed within after: a hung
// shutdown (a listener that does not close, a kill that does not return)
// must not leave a process that serves nothing and never exits.
func watchdog(done <-chan struct{}, after time.Duration, log *zap.Logger) {
	t := time.NewTimer(after)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Error("shutdown did not finish in time; exiting", zap.Duration("bound", after), zap.Int("exit_code", watchdogExitCode))
		_ = log.Sync()
		fmt.Fprintf(os.Stderr, "killgate: shutdown did not finish within %s; exiting with code %d\n", after, watchdogExitCode)
		os.Exit(watchdogExitCode)
	}
}

// serve runs killgate until ctx ends or one of its parts (the HTTP
// listener, the ops listener, the engine) fails: store → engine → actions →
// gateway, then shutdown in reverse order under a watchdog. It returns the
// failure that stopped it, or nil after a signal. ready, if not nil,
// receives the bound address once the listener is up (tests).
func serve(ctx context.Context, cfg Config, log *zap.Logger, ready chan<- string) error {
	stopped := make(chan struct{}) // disarms the watchdog: the very last thing serve does
	defer close(stopped)
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
	hwRegistry := actions.NewRegistry(svc.HuaweiActions())
	if err := cfg.checkCredentialActions(registry.Names()); err != nil {
		return err
	}
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
		metrics = gateway.NewMetrics(gateway.MetricsConfig{Actions: append(registry.Names(), hwRegistry.Names()...), Instances: ids, Store: store, Version: version})
		eng.SetObserver(engineObserver{metrics})
		reqObs = metrics
	}
	ops := gateway.NewOps(gateway.OpsConfig{Store: store, Instances: svc.Readiness, Metrics: metrics,
		Log: log.Named("ops"), Redact: func(s string) string { return gw.Redact(s) }})
	var extra []func(*gin.Engine)
	if cfg.Ops.Listen == "" {
		extra = append(extra, ops.Mount)
	}
	rlCfg := ratelimit.DefaultConfig()
	rlCfg.PerSecond, rlCfg.Burst = cfg.RateLimit.PerSecond, cfg.RateLimit.Burst
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
		Huawei:        hw,
		HuaweiActions: hwRegistry,
		Secrets:       secrets,
		Credentials:   creds,
		Registry:      registry,
		Limiter:       limiter,
		Log:           log.Named("access"),
		Extra:         extra,
		Requests:      reqObs,
		BodyBudget:    int64(cfg.Requests.BodyMemoryMB) << 20,
		BodyWait:      cfg.Requests.BodyWait,
	})
	if err != nil {
		return err
	}
	ln, err := listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := gateway.NewHTTPServer(cfg.Listen, gw.Handler())
	var opsLn net.Listener
	opsSrv := gateway.NewHTTPServer(cfg.Ops.Listen, ops.Handler())
	if cfg.Ops.Listen != "" {
		if opsLn, err = listen("tcp", cfg.Ops.Listen); err != nil {
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
	_ = log.Sync()                                                  // the start-up lines now, not within a second
	if ready != nil {
		ready <- ln.Addr().String()
	}

	// Every part runs in the group; the first to fail cancels gctx, which
	// starts the shutdown just as a signal does. The engine has its own
	// context: it stops only after the listeners have drained (requests in
	// flight may still create tasks or kill).
	g, gctx := errgroup.WithContext(ctx)
	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	g.Go(func() error {
		err := eng.Run(engCtx)
		log.Info("engine stopped")
		switch {
		case err != nil:
			return fmt.Errorf("engine: %w", err)
		case engCtx.Err() == nil:
			return errors.New("engine: stopped on its own")
		}
		return nil
	})
	g.Go(func() error { return serveHTTP(srv, ln, "listen") })
	if opsLn != nil {
		g.Go(func() error { return serveHTTP(opsSrv, opsLn, "ops.listen") })
	}
	g.Go(func() error {
		<-gctx.Done()
		go watchdog(stopped, watchdogTimeout, log)
		if ctx.Err() != nil {
			log.Info("shutting down: draining requests")
		} else {
			log.Error("shutting down: a part failed", zap.Error(context.Cause(gctx)))
		}
		// Drain in-flight requests first, then stop the engine (it waits
		// for in-flight kills and flushes the history), then the deferred
		// store.Close.
		dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		if err := srv.Shutdown(dctx); err != nil {
			log.Warn("http shutdown", zap.Error(err))
		}
		if err := opsSrv.Shutdown(dctx); err != nil {
			log.Warn("ops http shutdown", zap.Error(err))
		}
		stopEngine()
		return nil
	})
	err = g.Wait()
	if err != nil {
		log.Error("stopped", zap.Error(err))
	} else {
		log.Info("stopped")
	}
	return err
}

// serveHTTP serves srv on ln until Shutdown; any other end is a failure of
// the listener named by key (its config key).
func serveHTTP(srv *http.Server, ln net.Listener, key string) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s %s: %w", key, ln.Addr(), err)
	}
	return nil
}

// demoSecretID is the SecretId of docs/killgate.example.yaml.
const demoSecretID = "AKIDkillgateDEMO"

func engineConfig(cfg Config) killtask.Config {
	ec := killtask.DefaultConfig()
	ec.PollInterval = cfg.Worker.PollInterval
	ec.MaxReadInterval = cfg.Worker.MaxReadInterval
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
