package main

// Longer than 400 lines on purpose: the scale-out suite runs several real killgate processes
// against one shared store; its setup is shared by every case.

// Multi-process scale-out tests (docs/scale-out.md): three killgate binaries
// on loopback sharing a MySQL store (a fresh database on the local MariaDB),
// enforcing against that MariaDB, with the fleet-wide rate limit in Redis.
//
//	go test -run TestReplicas -v ./cmd/killgate/     (or: make scale-test)
//
// prints the measured takeover time and rate-limit figures ("figure:" lines).
// Every task filters on the test's own victim user and every other user of
// the server is protected, so nothing else on the shared server is touched.

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	_ "github.com/go-sql-driver/mysql"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"killgate/gateway/kgtest"
)

var (
	replicaBin    string // built by TestMain
	replicaBinErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if !testing.Short() {
			dir, err := os.MkdirTemp("", "killgate-bin-")
			if err != nil {
				replicaBinErr = err
			} else {
				defer os.RemoveAll(dir)
				replicaBin = filepath.Join(dir, "killgate")
				gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
				if out, err := exec.Command(gobin, "build", "-o", replicaBin, ".").CombinedOutput(); err != nil {
					replicaBinErr = fmt.Errorf("go build: %v\n%s", err, out)
				}
			}
		}
		code := m.Run()
		if code == 0 {
			// Every serve() in this package's tests must have stopped its
			// goroutines (engine, pollers, HTTP) by now.
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "goroutine leak:", err)
				code = 1
			}
		}
		return code
	}()
	os.Exit(code)
}

const (
	replInstance = "cdb-replicas"
	replTTL      = 2 * time.Second
	replPoll     = 200 * time.Millisecond
)

// replica is one killgate process started by the test.
type replica struct {
	name    string
	addr    string
	cfgPath string
	logPath string
	id      string // replica id, from its start-up log line
	cmd     *exec.Cmd
	done    chan struct{}
	once    sync.Once
}

// fleet is the shared environment of the replica tests.
type fleet struct {
	t        *testing.T
	root     *sql.DB
	storeDB  string
	secretID string
	secret   string
	victim   string // task victims' user
	manual   string // KillMySqlThreads victims' user
	pw       string
	lockName string
	lockConn *sql.Conn
}

func randName(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	root, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	if err := root.Ping(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("MariaDB not available: %v", err)
	}
	r := randName(3)
	f := &fleet{t: t, root: root, storeDB: "kg_replicas_" + r, secretID: "AKIDreplicas" + r, secret: "replicas-secret-" + r,
		victim: "kgr_" + r + "_v", manual: "kgr_" + r + "_m", pw: "pw-" + r}
	stmts := []string{"CREATE DATABASE `" + f.storeDB + "`"}
	for _, u := range []string{f.victim, f.manual} {
		for _, h := range []string{"%", "localhost"} {
			stmts = append(stmts, fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", u, h, f.pw))
		}
	}
	t.Cleanup(func() {
		// End leftover victim sessions, then drop users and the store.
		rows, err := root.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER IN (?, ?)", f.victim, f.manual)
		if err == nil {
			for rows.Next() {
				var id uint64
				if rows.Scan(&id) == nil {
					_, _ = root.Exec("KILL " + strconv.FormatUint(id, 10))
				}
			}
			rows.Close()
		}
		for _, u := range []string{f.victim, f.manual} {
			for _, h := range []string{"%", "localhost"} {
				_, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", u, h))
			}
		}
		_, _ = root.Exec("DROP DATABASE IF EXISTS `" + f.storeDB + "`")
	})
	for _, s := range stmts {
		if _, err := root.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	// The victims wait on a user lock the test holds.
	f.lockName = "kgr-lock-" + r
	c, err := root.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got int
	if err := c.QueryRowContext(context.Background(), "SELECT GET_LOCK(?, 5)", f.lockName).Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK: %v %d", err, got)
	}
	f.lockConn = c
	t.Cleanup(func() {
		_, _ = c.ExecContext(context.Background(), "DO RELEASE_LOCK(?)", f.lockName)
		c.Close()
	})
	return f
}

// protected lists every user of the server except the test's victims.
func (f *fleet) protected() []string {
	return kgtest.ProtectAllBut(f.t, f.root, f.victim, f.manual)
}

type replicaOpts struct {
	store     string // "mysql" (the shared store) or "sqlite"
	redis     string // ratelimit.redis.addr
	instances bool
}

// start runs one killgate process with its own config file and waits until
// it listens.
func (f *fleet) start(name string, o replicaOpts) *replica {
	t := f.t
	t.Helper()
	if replicaBinErr != nil {
		t.Fatal(replicaBinErr)
	}
	if replicaBin == "" {
		t.Skip("binary not built (-short)")
	}
	dir := t.TempDir()
	r := &replica{name: name, addr: freePort(t), cfgPath: filepath.Join(dir, "killgate.yaml"), logPath: filepath.Join(dir, "killgate.log"), done: make(chan struct{})}
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\n", r.addr)
	if o.store == "mysql" {
		fmt.Fprintf(&b, "store: {driver: mysql, dsn: \"root@tcp(127.0.0.1:3306)/%s\"}\n", f.storeDB)
	} else {
		fmt.Fprintf(&b, "store: {driver: sqlite, dsn: %q}\n", filepath.Join(dir, "killgate.db"))
	}
	fmt.Fprintf(&b, "credentials: [{secret_id: %s, secret_key: %s}]\n", f.secretID, f.secret)
	if o.instances {
		prot, _ := json.Marshal(f.protected())
		fmt.Fprintf(&b, "instances:\n  - {id: %s, product: mysql, dsn: \"root@tcp(127.0.0.1:3306)/\", protected_users: %s}\n", replInstance, prot)
	}
	fmt.Fprintf(&b, "worker: {poll_interval: %s, lease_ttl: %s}\n", replPoll, replTTL)
	fmt.Fprintf(&b, "ratelimit:\n  per_second: 20\n  burst: 20\n")
	if o.redis != "" {
		fmt.Fprintf(&b, "  redis: {addr: %q}\n", o.redis)
	}
	b.WriteString("log: {level: debug, format: json}\nops: {metrics: false}\n")
	if err := os.WriteFile(r.cfgPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(replicaBin, "-config", r.cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); logf.Close(); close(r.done) }()
	t.Cleanup(func() { r.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for r.id == "" {
		select {
		case <-r.done:
			t.Fatalf("replica %s exited at start:\n%s", name, r.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s did not start:\n%s", name, r.logs())
		}
		for _, l := range r.logLines("killgate listening") {
			r.id, _ = l["replica"].(string)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

func (r *replica) logs() string {
	b, _ := os.ReadFile(r.logPath)
	return string(b)
}

// logLines returns the JSON log lines whose message contains msg.
func (r *replica) logLines(msg string) []map[string]any {
	f, err := os.Open(r.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			if s, _ := m["msg"].(string); strings.Contains(s, msg) {
				out = append(out, m)
			}
		}
	}
	return out
}

func (r *replica) signal(sig syscall.Signal) {
	_ = r.cmd.Process.Signal(sig)
}

// stop ends the process: SIGCONT (in case it is stopped), SIGTERM, and
// SIGKILL after 10 s.
func (r *replica) stop(t *testing.T) {
	r.once.Do(func() {
		r.signal(syscall.SIGCONT)
		r.signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Errorf("replica %s did not stop on SIGTERM", r.name)
			r.signal(syscall.SIGKILL)
			<-r.done
		}
	})
}

func (r *replica) kill() {
	r.once.Do(func() {
		r.signal(syscall.SIGKILL)
		<-r.done
	})
}

func (f *fleet) client(r *replica) *common.Client {
	return kgtest.SDKClient(r.addr, f.secretID, f.secret, func(cpf *profile.ClientProfile) { cpf.HttpProfile.ReqTimeout = 10 })
}

func (f *fleet) call(r *replica, action string, params, out any) error {
	return kgtest.CallWith(f.client(r), action, params, out)
}

// victimSession is a session of user waiting on the test's lock.
type victimSession struct {
	id   uint64
	pool *sql.DB
	done chan error
}

func (f *fleet) newVictim(user string) *victimSession {
	t := f.t
	t.Helper()
	pool, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/", user, f.pw))
	if err != nil {
		t.Fatal(err)
	}
	pool.SetMaxOpenConns(1)
	c, err := pool.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v := &victimSession{pool: pool, done: make(chan error, 1)}
	if err := c.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&v.id); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := c.ExecContext(context.Background(), "SELECT GET_LOCK('"+f.lockName+"', 120)")
		v.done <- err
		c.Close()
	}()
	t.Cleanup(func() {
		_, _ = f.root.Exec("KILL " + strconv.FormatUint(v.id, 10))
		<-v.done
		v.done <- nil
		pool.Close()
	})
	// Wait until the server shows it waiting.
	f.eventually(5*time.Second, "victim to start waiting", func() bool {
		var info sql.NullString
		err := f.root.QueryRow("SELECT INFO FROM information_schema.PROCESSLIST WHERE ID = ?", v.id).Scan(&info)
		return err == sql.ErrNoRows || strings.Contains(info.String, "GET_LOCK")
	})
	return v
}

func (f *fleet) alive(v *victimSession) bool {
	var n int
	if err := f.root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", v.id).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n > 0
}

func (f *fleet) eventually(d time.Duration, what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killRow is one kill_records row of the test's victims.
type killRow struct {
	Thread   uint64 `db:"thread_id"`
	Replica  string `db:"replica"`
	Outcome  string `db:"outcome"`
	Source   string `db:"source"`
	TaskID   string `db:"task_id"`
	KilledMS int64  `db:"killed_ms"`
}

func (f *fleet) killRows(threads ...uint64) []killRow {
	f.t.Helper()
	q := "SELECT thread_id, replica, outcome, source, task_id, killed_ms FROM `" + f.storeDB + "`.kill_records WHERE user_name IN (?, ?)"
	rows, err := f.root.Query(q, f.victim, f.manual)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []killRow
	for rows.Next() {
		var k killRow
		if err := rows.Scan(&k.Thread, &k.Replica, &k.Outcome, &k.Source, &k.TaskID, &k.KilledMS); err != nil {
			f.t.Fatal(err)
		}
		if len(threads) == 0 || slices.Contains(threads, k.Thread) {
			out = append(out, k)
		}
	}
	return out
}

// owner returns the replica id holding the instance node's live lease ("" if none).
func (f *fleet) owner() string {
	var owner string
	err := f.root.QueryRow("SELECT owner FROM `"+f.storeDB+"`.node_leases WHERE node_key = ? AND expires_ms > UNIX_TIMESTAMP(NOW(3)) * 1000", replInstance+"/"+replInstance).Scan(&owner)
	if err != nil && err != sql.ErrNoRows {
		f.t.Fatal(err)
	}
	return owner
}

func byID(rs []*replica, id string) *replica {
	for _, r := range rs {
		if r.id == id {
			return r
		}
	}
	return nil
}

func (f *fleet) createTask(r *replica, dur int64) string {
	f.t.Helper()
	var out struct{ TaskId string }
	if err := f.call(r, "CreateKillTask", map[string]any{"InstanceId": replInstance, "Duration": dur, "User": f.victim, "Product": "mysql"}, &out); err != nil {
		f.t.Fatalf("CreateKillTask on %s: %v", r.name, err)
	}
	return out.TaskId
}

func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	f := newFleet(t)
	opts := replicaOpts{store: "mysql", redis: "127.0.0.1:6379", instances: true}
	a, b, c := f.start("A", opts), f.start("B", opts), f.start("C", opts)
	all := []*replica{a, b, c}
	f.eventually(10*time.Second, "a lease owner for the node", func() bool { return byID(all, f.owner()) != nil })

	t.Run("EnforcedOnceByOwner", func(t *testing.T) {
		vs := []*victimSession{f.newVictim(f.victim), f.newVictim(f.victim), f.newVictim(f.victim)}
		task := f.createTask(a, 600)
		f.eventually(5*time.Second, "victims killed", func() bool {
			return !f.alive(vs[0]) && !f.alive(vs[1]) && !f.alive(vs[2])
		})
		ids := []uint64{vs[0].id, vs[1].id, vs[2].id}
		f.eventually(5*time.Second, "history rows", func() bool { return len(f.killRows(ids...)) >= 3 })
		time.Sleep(3 * replPoll) // any extra (double) attempt would show up by now
		rows := f.killRows(ids...)
		owner := f.owner()
		per := map[uint64]int{}
		for _, k := range rows {
			per[k.Thread]++
			if k.Replica != owner || k.Outcome != "killed" || k.TaskID != task {
				t.Errorf("kill row %+v: want replica %s (owner), outcome Killed, task %s", k, owner, task)
			}
		}
		for _, id := range ids {
			if per[id] != 1 {
				t.Errorf("thread %d: %d history rows, want 1", id, per[id])
			}
		}
		var kills int64
		if err := f.root.QueryRow("SELECT kills FROM `"+f.storeDB+"`.tasks WHERE id = ?", task).Scan(&kills); err != nil || kills != 3 {
			t.Errorf("task counter %d %v, want 3", kills, err)
		}
		t.Logf("task created on %s, enforced by %s: 3 victims, 3 history rows", a.name, byID(all, owner).name)
	})

	t.Run("PrepareOnACommitOnB", func(t *testing.T) {
		v := f.newVictim(f.manual)
		var prep struct{ SqlExecId string }
		if err := f.call(a, "KillMySqlThreads", map[string]any{"InstanceId": replInstance, "Stage": "Prepare", "Threads": []uint64{v.id}, "Product": "mysql"}, &prep); err != nil || prep.SqlExecId == "" {
			t.Fatalf("Prepare on A: %v %+v", err, prep)
		}
		var commit struct{ Threads []uint64 }
		if err := f.call(b, "KillMySqlThreads", map[string]any{"InstanceId": replInstance, "Stage": "Commit", "SqlExecId": prep.SqlExecId, "Product": "mysql"}, &commit); err != nil {
			t.Fatalf("Commit on B: %v", err)
		}
		if !slices.Equal(commit.Threads, []uint64{v.id}) {
			t.Errorf("Commit killed %v, want [%d]", commit.Threads, v.id)
		}
		err := f.call(c, "KillMySqlThreads", map[string]any{"InstanceId": replInstance, "Stage": "Commit", "SqlExecId": prep.SqlExecId, "Product": "mysql"}, nil)
		if code := kgtest.Code(err); code == "" {
			t.Error("a second Commit (on C) succeeded")
		} else {
			t.Logf("second Commit on C: %s", code)
		}
		if f.alive(v) {
			t.Error("victim survived the Commit")
		}
		rows := f.killRows(v.id)
		if len(rows) != 1 || rows[0].Replica != b.id || rows[0].Outcome != "killed" {
			t.Errorf("history for the committed thread: %+v, want one Killed row by B (%s)", rows, b.id)
		}
	})

	t.Run("FleetRateLimitRedis", func(t *testing.T) {
		admitted, other := f.burst(all, 60)
		if len(other) > 0 {
			t.Errorf("unexpected answers: %v", other)
		}
		t.Logf("figure: fleet rate limit with Redis: %d of 60 calls over 3 replicas admitted (limit 20/s, burst 20)", admitted)
		if admitted < 18 || admitted > 25 {
			t.Errorf("admitted %d of 60 with a fleet-wide 20/s limit, want about 20", admitted)
		}
	})

	t.Run("CancelOnCStopsOwner", func(t *testing.T) {
		var out struct{ TaskIds []string }
		if err := f.call(c, "CancelKillTask", map[string]any{"InstanceId": replInstance, "Product": "mysql"}, &out); err != nil || len(out.TaskIds) != 1 {
			t.Fatalf("CancelKillTask on C: %v %+v", err, out)
		}
		v := f.newVictim(f.victim)
		time.Sleep(6 * replPoll)
		if !f.alive(v) {
			t.Fatalf("a victim created after CancelKillTask (on C) was killed; history %+v", f.killRows(v.id))
		}
	})

	var owner, survivor *replica
	t.Run("TakeoverAfterSIGKILL", func(t *testing.T) {
		task := f.createTask(b, 600)
		v := f.newVictim(f.victim)
		f.eventually(5*time.Second, "victim killed under the new task", func() bool { return !f.alive(v) })
		f.eventually(5*time.Second, "its history row", func() bool { return len(f.killRows(v.id)) == 1 })
		owner = byID(all, f.killRows(v.id)[0].Replica)
		if owner == nil {
			t.Fatal("kill by an unknown replica")
		}
		var expires int64
		if err := f.root.QueryRow("SELECT expires_ms FROM `"+f.storeDB+"`.tasks WHERE id = ?", task).Scan(&expires); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		owner.kill()
		v2 := f.newVictim(f.victim)
		f.eventually(replTTL+5*time.Second, "the new owner to kill the victim", func() bool { return !f.alive(v2) })
		seen := time.Since(t0)
		f.eventually(5*time.Second, "its history row", func() bool { return len(f.killRows(v2.id)) == 1 })
		k := f.killRows(v2.id)[0]
		newOwner := byID(all, k.Replica)
		if newOwner == nil || newOwner == owner {
			t.Fatalf("victim killed by %q, want a surviving replica", k.Replica)
		}
		takeover := time.UnixMilli(k.KilledMS).Sub(t0)
		t.Logf("figure: takeover after SIGKILL of the owner (%s): first kill by the new owner (%s) %v after the SIGKILL (seen gone after %v); lease_ttl %v, poll_interval %v",
			owner.name, newOwner.name, takeover.Round(time.Millisecond), seen.Round(time.Millisecond), replTTL, replPoll)
		// Expected: lease_ttl + up to one lease round (poll_interval here) +
		// one poll; the bound leaves room for a loaded shared server.
		if limit := replTTL + 1500*time.Millisecond; takeover > limit {
			t.Errorf("takeover took %v, want at most lease_ttl + 1.5s (%v)", takeover, limit)
		}
		var expires2 int64
		if err := f.root.QueryRow("SELECT expires_ms FROM `"+f.storeDB+"`.tasks WHERE id = ?", task).Scan(&expires2); err != nil || expires2 != expires {
			t.Errorf("task expiry %d after takeover, want the original %d (%v)", expires2, expires, err)
		}
		old := owner
		owner = newOwner
		for _, r := range all {
			if r != old && r != newOwner {
				survivor = r
			}
		}
	})

	t.Run("PausedOwnerDoesNotKill", func(t *testing.T) {
		if owner == nil || survivor == nil {
			t.Skip("needs the takeover phase")
		}
		// Let any kill of the running owner settle, then freeze it.
		pauseAt := time.Now()
		owner.signal(syscall.SIGSTOP)
		stopped := true
		defer func() {
			if stopped {
				owner.signal(syscall.SIGCONT)
			}
		}()
		vs := []*victimSession{f.newVictim(f.victim), f.newVictim(f.victim)}
		f.eventually(replTTL+5*time.Second, "the survivor to take over and kill", func() bool { return !f.alive(vs[0]) && !f.alive(vs[1]) })
		if o := f.owner(); o != survivor.id {
			t.Errorf("lease owner %q after the pause, want the survivor %s", o, survivor.id)
		}
		// Keep it stopped a little past its lease, create more victims, resume it.
		time.Sleep(time.Until(pauseAt.Add(replTTL + 500*time.Millisecond)))
		more := []*victimSession{f.newVictim(f.victim), f.newVictim(f.victim)}
		owner.signal(syscall.SIGCONT)
		stopped = false
		resumed := time.Now()
		f.eventually(5*time.Second, "the victims created around the resume to be killed", func() bool { return !f.alive(more[0]) && !f.alive(more[1]) })
		time.Sleep(max(0, time.Until(resumed.Add(replTTL)))) // the resumed replica has had every chance to act
		ids := []uint64{vs[0].id, vs[1].id, more[0].id, more[1].id}
		f.eventually(5*time.Second, "history rows", func() bool { return len(f.killRows(ids...)) >= 4 })
		for _, k := range f.killRows(ids...) {
			if k.Replica != survivor.id {
				t.Errorf("kill %+v not by the new owner %s (the paused replica is %s)", k, survivor.id, owner.id)
			}
		}
		if n := len(f.killRows(ids...)); n != 4 {
			t.Errorf("%d history rows for 4 victims", n)
		}
		var late int
		if err := f.root.QueryRow("SELECT COUNT(*) FROM `"+f.storeDB+"`.kill_records WHERE replica = ? AND killed_ms >= ?", owner.id, pauseAt.UnixMilli()).Scan(&late); err != nil || late != 0 {
			t.Errorf("%d kills by the paused replica after its pause (%v)", late, err)
		}
		if n := len(owner.logLines("lease lost")) + len(owner.logLines("lease lapsed")); n == 0 {
			t.Error("the resumed replica did not log the loss of its lease")
		}
		t.Logf("paused owner %s (SIGSTOP %v, past lease_ttl %v): all %d kills by the new owner %s", owner.name, time.Since(pauseAt).Round(time.Millisecond), replTTL, len(ids), survivor.name)
	})

	// Leave no task running (the store is dropped anyway).
	_ = f.call(survivorOr(all), "CancelKillTask", map[string]any{"InstanceId": replInstance, "Product": "mysql"}, nil)
}

func survivorOr(rs []*replica) *replica {
	for _, r := range rs {
		select {
		case <-r.done:
		default:
			return r
		}
	}
	return rs[0]
}

// burst sends n invalid CreateKillTask calls (Duration 0: refused by the
// handler, after the rate limit) spread over the replicas at once, and
// returns how many passed the limiter and any answer other than
// InvalidParameterValue / RequestLimitExceeded.
func (f *fleet) burst(rs []*replica, n int) (int, []string) {
	var mu sync.Mutex
	admitted := 0
	var other []string
	var wg sync.WaitGroup
	clients := make([]*common.Client, len(rs))
	for i, r := range rs {
		clients[i] = f.client(r)
	}
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			err := kgtest.CallWith(clients[i%len(rs)], "CreateKillTask", map[string]any{"InstanceId": replInstance, "Duration": 0}, nil)
			mu.Lock()
			defer mu.Unlock()
			switch code := kgtest.Code(err); code {
			case "RequestLimitExceeded":
			case "InvalidParameterValue", "ResourceNotFound", "InvalidParameter":
				admitted++
			default:
				other = append(other, code)
			}
		})
	}
	close(start)
	wg.Wait()
	return admitted, other
}

// TestReplicasRedisDown: with their Redis stopped the replicas keep
// answering, each limiting on its own.
func TestReplicasRedisDown(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	f := newFleet(t)
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	redisCmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", t.TempDir())
	if err := redisCmd.Start(); err != nil {
		t.Fatal(err)
	}
	redisDone := make(chan struct{})
	go func() { _ = redisCmd.Wait(); close(redisDone) }()
	stopRedis := sync.OnceFunc(func() { _ = redisCmd.Process.Kill(); <-redisDone })
	t.Cleanup(stopRedis)
	f.eventually(5*time.Second, "own redis-server to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	opts := replicaOpts{store: "sqlite", redis: addr}
	rs := []*replica{f.start("A", opts), f.start("B", opts), f.start("C", opts)}

	admitted, other := f.burst(rs, 60)
	t.Logf("figure: own Redis up: %d of 60 admitted over 3 replicas", admitted)
	if len(other) > 0 || admitted < 18 || admitted > 25 {
		t.Errorf("Redis up: admitted %d, other answers %v", admitted, other)
	}
	stopRedis()
	time.Sleep(1100 * time.Millisecond) // a fresh second for every bucket
	start := time.Now()
	admitted, other = f.burst(rs, 90)
	el := time.Since(start)
	t.Logf("figure: own Redis stopped: %d of 90 admitted over 3 replicas in %v (each replica limits locally: up to 3 × 20)", admitted, el.Round(time.Millisecond))
	if len(other) > 0 {
		t.Errorf("Redis down: unexpected answers %v", other)
	}
	if admitted < 57 || admitted > 66 {
		t.Errorf("Redis down: admitted %d of 90, want about 60 (20 per replica)", admitted)
	}
	for _, r := range rs {
		if n := len(r.logLines("Redis unavailable")); n != 1 {
			t.Errorf("replica %s logged the fall-back %d times, want once", r.name, n)
		}
	}
}
