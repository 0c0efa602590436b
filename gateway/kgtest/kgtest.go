// Package kgtest starts a whole killgate (store, engine, actions, gateway) on
// a loopback listener for tests, with helpers for the real Tencent Go SDK and
// for victim sessions on the real MariaDB at 127.0.0.1:3306.
//
// Tests only: it may import every killgate package (it wires them as
// cmd/killgate does); no production package imports it.
package kgtest

// Longer than 400 lines on purpose: one place for every integration test's stack, credentials,
// users, victims and locks, so the tests of gateway, cmd and the Huawei module share them.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	_ "github.com/go-sql-driver/mysql"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"killgate/actions"
	"killgate/gateway"
	"killgate/killtask"
	"killgate/ratelimit"
)

// Test credentials.
const (
	SecretID  = "AKIDkgtest"
	SecretKey = "kgtest-secret-key"
	Instance  = "cdb-kgtest"
)

// MySQLDSN is the root DSN of the test MariaDB (KILLGATE_TEST_MYSQL overrides).
func MySQLDSN() string {
	if d := os.Getenv("KILLGATE_TEST_MYSQL"); d != "" {
		return d
	}
	return "root:@tcp(127.0.0.1:3306)/"
}

// Options shape a Stack.
type Options struct {
	Instances   []killtask.InstanceConfig // default: one mysql instance "cdb-kgtest" on MySQLDSN
	Credentials []gateway.Credential      // default: SecretID/SecretKey, all actions and instances
	RateLimit   ratelimit.Config          // default: 20/s burst 20
	Engine      killtask.Config           // default: DefaultConfig with a 100ms poll interval
	StorePath   string                    // default: a temp file
	Store       killtask.StoreConfig      // when Driver is set: this store instead of SQLite at StorePath
	Now         func() time.Time
	Extra       []func(*gin.Engine)
	// Huawei configures the Huawei door (mounted when ProjectID is set).
	Huawei gateway.HuaweiConfig
	// Scope, when set, limits every kill and intelligent-kill read of the
	// engine to the sessions it accepts (killtask.WithScope).
	Scope func(*killtask.Process) bool
	// Ops mounts /healthz and /readyz, and unless NoMetrics also /metrics
	// with the engine and request observers, as cmd/killgate serve does.
	Ops       bool
	NoMetrics bool
}

// Stack is a running killgate.
type Stack struct {
	Addr     string
	Store    *killtask.Store
	Engine   *killtask.Engine
	Service  *actions.Service
	Registry *actions.Registry // Tencent actions
	Huawei   *actions.Registry // Huawei actions
	Metrics  *gateway.Metrics  // with Options.Ops (nil with NoMetrics)
	Logs     *observer.ObservedLogs
	Log      *zap.Logger
	srv      *http.Server
}

// Start runs a stack until the test ends.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	if o.Instances == nil {
		o.Instances = []killtask.InstanceConfig{{ID: Instance, Product: "mysql", DSN: MySQLDSN()}}
	}
	if o.Credentials == nil {
		o.Credentials = []gateway.Credential{{SecretID: SecretID, SecretKey: SecretKey}}
	}
	if o.RateLimit == (ratelimit.Config{}) {
		o.RateLimit = ratelimit.DefaultConfig()
	}
	if o.Engine == (killtask.Config{}) {
		o.Engine = killtask.DefaultConfig()
		o.Engine.PollInterval = 100 * time.Millisecond
	}
	if o.StorePath == "" {
		o.StorePath = filepath.Join(t.TempDir(), "killgate.db")
	}
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	ctx, cancel := context.WithCancel(context.Background())
	sc := killtask.StoreConfig{Driver: "sqlite", DSN: o.StorePath}
	if o.Store.Driver != "" {
		sc = o.Store
	}
	store, err := killtask.OpenStore(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := killtask.NewEngine(o.Engine, store, o.Instances, log.Named("killtask"), killtask.WithScope(o.Scope))
	if err != nil {
		t.Fatal(err)
	}
	svc := actions.NewService(eng, log.Named("actions"))
	reg := actions.NewRegistry(svc.Actions())
	hwReg := actions.NewRegistry(svc.HuaweiActions())
	extra := slices.Clone(o.Extra)
	var (
		metrics *gateway.Metrics
		reqObs  gateway.RequestObserver
	)
	if o.Ops {
		if !o.NoMetrics {
			var ids []string
			for _, in := range o.Instances {
				ids = append(ids, in.ID)
			}
			metrics = gateway.NewMetrics(gateway.MetricsConfig{Actions: append(reg.Names(), hwReg.Names()...), Instances: ids, Store: store, Version: "test"})
			eng.SetObserver(engineObserver{metrics})
			reqObs = metrics
		}
		extra = append(extra, gateway.NewOps(gateway.OpsConfig{Store: store, Instances: svc.Readiness, Metrics: metrics}).Mount)
	}
	gw, err := gateway.New(gateway.Config{
		Credentials: o.Credentials, Registry: reg, Limiter: ratelimit.New(o.RateLimit),
		Log: log.Named("access"), Now: o.Now, Extra: extra, Requests: reqObs,
		Huawei: o.Huawei, HuaweiActions: hwReg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gateway.NewHTTPServer(ln.Addr().String(), gw.Handler())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = eng.Run(ctx) }()
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	s := &Stack{Addr: ln.Addr().String(), Store: store, Engine: eng, Service: svc, Registry: reg, Huawei: hwReg, Metrics: metrics, Logs: logs, Log: log, srv: srv}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		cancel()
		wg.Wait()
		store.Close()
	})
	return s
}

// engineObserver adapts the gateway's metrics (plain types) to
// killtask.Observer, as cmd/killgate does.
type engineObserver struct{ *gateway.Metrics }

// Killed implements killtask.Observer.
func (o engineObserver) Killed(instanceID, nodeID string, outcome killtask.Outcome, reaction time.Duration) {
	o.Metrics.Killed(instanceID, nodeID, string(outcome), reaction)
}

// Client returns a real Tencent SDK common client for the stack.
func (s *Stack) Client(id, key string, tweak ...func(*profile.ClientProfile)) *common.Client {
	return SDKClient(s.Addr, id, key, tweak...)
}

// SDKClient returns a real Tencent SDK common client for a killgate at addr
// (plain HTTP, POST, English messages, 30 s timeout unless tweaked).
func SDKClient(addr, id, key string, tweak ...func(*profile.ClientProfile)) *common.Client {
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = addr
	cpf.HttpProfile.Scheme = "HTTP"
	cpf.HttpProfile.ReqMethod = "POST"
	cpf.HttpProfile.ReqTimeout = 30
	cpf.Language = "en-US"
	for _, f := range tweak {
		f(cpf)
	}
	return common.NewCommonClient(common.NewCredential(id, key), "ap-guangzhou", cpf)
}

// Call sends one action through the SDK with the test credentials and
// decodes Response into out (may be nil). It returns the SDK error, if any.
func (s *Stack) Call(action string, params any, out any) error {
	return CallWith(s.Client(SecretID, SecretKey), action, params, out)
}

// CallWith is Call with a given client.
func CallWith(c *common.Client, action string, params any, out any) error {
	req := tchttp.NewCommonRequest("dbbrain", "2021-05-27", action)
	switch p := params.(type) {
	case nil:
		_ = req.SetActionParameters("{}")
	case string:
		if err := req.SetActionParameters(p); err != nil {
			return err
		}
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := req.SetActionParameters(b); err != nil {
			return err
		}
	}
	resp := tchttp.NewCommonResponse()
	if err := c.Send(req, resp); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	var env struct {
		Response json.RawMessage
	}
	if err := json.Unmarshal(resp.GetBody(), &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Response, out)
}

// Code returns the Tencent error code of an SDK error ("" for nil).
func Code(err error) string {
	var e *tcerr.TencentCloudSDKError
	if errors.As(err, &e) {
		return e.GetCode()
	}
	if err != nil {
		return "not-an-sdk-error: " + err.Error()
	}
	return ""
}

// RequestID returns the RequestId of an SDK error.
func RequestID(err error) string {
	var e *tcerr.TencentCloudSDKError
	if errors.As(err, &e) {
		return e.GetRequestId()
	}
	return ""
}

// Eventually polls cond every 20ms until it is true or the deadline passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Root opens a root connection pool to the test MariaDB.
func Root(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", MySQLDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatalf("MariaDB at %s is not reachable: %v", MySQLDSN(), err)
	}
	return db
}

// User creates a throwaway MariaDB user (and database of the same name)
// dropped when the test ends. It returns the user name and password.
func User(t testing.TB, root *sql.DB) (string, string) {
	t.Helper()
	name := fmt.Sprintf("kg_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	pw := "pw-" + name
	CreateUser(t, root, name, pw)
	t.Cleanup(func() {
		_, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name))
		_, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'localhost'", name))
		_, _ = root.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS `%s`", name))
	})
	return name, pw
}

// Victim is a session on the test MariaDB, pinned on one connection.
type Victim struct {
	ID   uint64
	db   *sql.DB
	conn *sql.Conn
	done chan error
}

// NewVictim connects as user/pw to database db over TCP and, if query is not
// empty, starts running it (it is expected to block, e.g. on GET_LOCK held by
// the test).
func NewVictim(t testing.TB, user, pw, db, query string) *Victim {
	t.Helper()
	return NewVictimOn(t, fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/%s", user, pw, db), query)
}

// NewVictimOn is NewVictim on the given DSN (e.g. a throwaway server's).
func NewVictimOn(t testing.TB, dsn, query string) *Victim {
	t.Helper()
	pool, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	pool.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := pool.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := &Victim{db: pool, conn: conn, done: make(chan error, 1)}
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&v.ID); err != nil {
		t.Fatal(err)
	}
	qctx, cancel := context.WithCancel(context.Background())
	if query != "" {
		go func() {
			_, err := conn.ExecContext(qctx, query)
			v.done <- err
		}()
	}
	// Cancel a still-blocked query first (the driver then drops the
	// connection) so cleanup never waits for a GET_LOCK or SLEEP to end.
	t.Cleanup(func() { cancel(); conn.Close(); pool.Close() })
	return v
}

// Exists reports whether the victim's thread is still in the processlist.
func (v *Victim) Exists(t testing.TB, root *sql.DB) bool {
	t.Helper()
	var n int
	if err := root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", v.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// Lock holds a named user lock on its own connection until the test ends,
// so that victims running SELECT GET_LOCK(name, 60) block.
func Lock(t testing.TB, root *sql.DB) string {
	t.Helper()
	return LockNamed(t, root, fmt.Sprintf("kgtest-lock-%d", time.Now().UnixNano()))
}

// LockNamed is Lock with the lock's name chosen by the caller (a test that
// takes it again on a restarted server).
func LockNamed(t testing.TB, root *sql.DB, name string) string {
	t.Helper()
	conn, err := root.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got int
	if err := conn.QueryRowContext(context.Background(), "SELECT GET_LOCK(?, 5)", name).Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK: %v %d", err, got)
	}
	t.Cleanup(func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK(?)", name)
		conn.Close()
	})
	return name
}

// LockQuery is the statement a victim runs to wait on lock.
func LockQuery(lock string) string {
	return "SELECT GET_LOCK('" + strings.ReplaceAll(lock, "'", "") + "', 60)"
}

// ProtectAllBut lists every user of the server root points at except the
// given test users, plus the built-in thread users: an instance with these
// as protected_users can only ever kill the test's own sessions, whatever
// else runs on the shared server.
func ProtectAllBut(t testing.TB, root *sql.DB, testUsers ...string) []string {
	t.Helper()
	rows, err := root.Query("SELECT DISTINCT User FROM mysql.user")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := []string{"root", "system user", "event_scheduler", ""}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(testUsers, u) {
			out = append(out, u)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
