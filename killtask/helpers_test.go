package killtask

// Longer than 400 lines on purpose: the killtask tests' shared fixture (MariaDB users, victims,
// locks, engines), one place for every test file of the package.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// victim is a session the test opens on a pinned connection.
type victim struct {
	name   string
	user   string
	db     string
	socket bool
	mode   string // "idle", "lock" (GET_LOCK held by the test), "sleep"
	query  string
	id     uint64
	pool   *sql.DB
	conn   *sql.Conn
	done   chan error   // busy victims: the blocking query's result
	sent   time.Time    // when the blocking statement was sent
	ended  atomic.Int64 // when it returned (Unix ns); 0 while it runs
	once   sync.Once
}

func (v *victim) host() string {
	if v.socket {
		return "localhost"
	}
	return "127.0.0.1"
}

func (v *victim) command() string {
	if v.mode == "idle" {
		return "Sleep"
	}
	return "Query"
}

func (v *victim) info() string {
	if v.mode == "idle" {
		return ""
	}
	return strings.TrimLeft(v.query, infoSpace) // the server may drop leading whitespace
}

func (v *victim) String() string {
	return fmt.Sprintf("%s(id=%d %s@%s db=%q %s %q)", v.name, v.id, v.user, v.host(), v.db, v.command(), v.info())
}

// lockHolder holds a user lock on its own (root) connection so that
// victims running GET_LOCK on it wait until killed.
type lockHolder struct {
	name string
	conn *sql.Conn
}

func holdLock(t testing.TB) *lockHolder {
	t.Helper()
	ctx := context.Background()
	c, err := fx.root.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := "kgt_lock_" + randHex(4)
	var got int
	if err := c.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK: %v %d", err, got)
	}
	h := &lockHolder{name: name, conn: c}
	t.Cleanup(func() {
		_, _ = c.ExecContext(ctx, "DO RELEASE_LOCK(?)", name)
		c.Close()
	})
	return h
}

type victimSpec struct {
	name   string
	user   string
	db     string
	socket bool
	mode   string
	// info is the start of the blocking statement for "lock" victims: the
	// statement is info + GET_LOCK('<lock>', 60); default "SELECT ".
	info string
}

// startVictim opens a session and, for busy modes, starts its blocking
// statement and waits until the server shows it.
func startVictim(t testing.TB, lk *lockHolder, s victimSpec) *victim {
	t.Helper()
	ctx := context.Background()
	var dsn string
	if s.socket {
		dsn = fmt.Sprintf("%s:%s@unix(%s)/%s", s.user, userPW, socketPath, s.db)
	} else {
		dsn = fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/%s", s.user, userPW, s.db)
	}
	pool, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	pool.SetMaxOpenConns(1)
	conn, err := pool.Conn(ctx)
	if err != nil {
		pool.Close()
		t.Fatalf("victim %s: %v", s.name, err)
	}
	v := &victim{name: s.name, user: s.user, db: s.db, socket: s.socket, mode: s.mode, pool: pool, conn: conn}
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&v.id); err != nil {
		t.Fatal(err)
	}
	switch s.mode {
	case "idle":
	case "lock":
		info := s.info
		if info == "" {
			info = "SELECT "
		}
		v.query = info + "GET_LOCK('" + lk.name + "', 60)"
	case "sleep":
		v.query = "SELECT SLEEP(30)"
	default:
		t.Fatalf("mode %q", s.mode)
	}
	t.Cleanup(v.stop)
	if v.query != "" {
		v.done = make(chan error, 1)
		v.sent = time.Now()
		go func() {
			_, err := conn.ExecContext(ctx, v.query)
			v.ended.Store(time.Now().UnixNano())
			v.done <- err
		}()
		waitFor(t, 5*time.Second, func() bool {
			select {
			case err := <-v.done: // already killed (a task was active before it started)
				v.done <- err
				return true
			default:
			}
			var cmd, info sql.NullString
			err := fx.root.QueryRow("SELECT COMMAND, INFO FROM information_schema.PROCESSLIST WHERE ID = ?", v.id).Scan(&cmd, &info)
			return err == nil && strings.TrimLeft(info.String, infoSpace) == v.info()
		}, "victim %s to start its statement", s.name)
	}
	return v
}

// diedAt waits for a busy victim's statement to return and says when it did.
func (v *victim) diedAt(t testing.TB) time.Time {
	t.Helper()
	waitFor(t, 5*time.Second, func() bool { return v.ended.Load() != 0 }, "statement of %s to return", v)
	return time.Unix(0, v.ended.Load())
}

// stop ends the victim (KILL from the test's root connection when still
// alive) and waits for its goroutine.
func (v *victim) stop() {
	v.once.Do(func() {
		_, _ = fx.root.Exec(fmt.Sprintf("KILL %d", v.id))
		if v.done != nil {
			select {
			case <-v.done:
			case <-time.After(15 * time.Second):
			}
		}
		v.conn.Close()
		v.pool.Close()
	})
}

// processIDs returns the ids the server currently lists among ids.
func processIDs(t testing.TB, ids []uint64) map[uint64]Process {
	t.Helper()
	out := map[uint64]Process{}
	rows, err := fx.root.Query("SELECT ID, USER, HOST, IFNULL(DB,''), COMMAND, TIME, IFNULL(STATE,''), IFNULL(INFO,'') FROM information_schema.PROCESSLIST")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := map[uint64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for rows.Next() {
		var p Process
		if err := rows.Scan(&p.ID, &p.User, &p.Host, &p.DB, &p.Command, &p.Time, &p.State, &p.Info); err != nil {
			t.Fatal(err)
		}
		if ids == nil || want[p.ID] {
			out[p.ID] = p
		}
	}
	return out
}

func waitFor(t testing.TB, d time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	waitEvery(t, d, 5*time.Millisecond, cond, what, args...)
}

// waitEvery is waitFor checking cond every interval.
func waitEvery(t testing.TB, d, interval time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for "+what, append([]any{d}, args...)...)
		}
		time.Sleep(interval)
	}
}

// waitGone waits until every victim has left the processlist (and, for busy
// ones, its statement returned an error), and returns when each was seen gone.
func waitGone(t testing.TB, d time.Duration, vs ...*victim) map[*victim]time.Time {
	t.Helper()
	seen := map[*victim]time.Time{}
	ids := make([]uint64, len(vs))
	for i, v := range vs {
		ids[i] = v.id
	}
	waitFor(t, d, func() bool {
		present := processIDs(t, ids)
		for _, v := range vs {
			if _, ok := seen[v]; !ok {
				if _, alive := present[v.id]; !alive {
					seen[v] = time.Now()
				}
			}
		}
		return len(seen) == len(vs)
	}, "victims to die: %v", vs)
	for _, v := range vs {
		if v.done != nil {
			select {
			case err := <-v.done:
				if err == nil {
					t.Errorf("victim %s: statement returned without error after its kill", v)
				}
				v.done <- err // keep it for stop
			case <-time.After(5 * time.Second):
				t.Errorf("victim %s: statement did not return after its kill", v)
			}
		}
	}
	return seen
}

// assertAlive checks that each victim's session still exists and, for idle
// ones, still answers SELECT 1.
func assertAlive(t testing.TB, vs ...*victim) {
	t.Helper()
	ids := make([]uint64, len(vs))
	for i, v := range vs {
		ids[i] = v.id
	}
	present := processIDs(t, ids)
	for _, v := range vs {
		if _, ok := present[v.id]; !ok {
			t.Errorf("victim %s was killed but must survive", v)
			continue
		}
		if v.done != nil {
			select {
			case err := <-v.done:
				t.Errorf("victim %s: statement ended: %v", v, err)
				v.done <- err
			default:
			}
		} else {
			var one int
			if err := v.conn.QueryRowContext(context.Background(), "SELECT 1").Scan(&one); err != nil {
				t.Errorf("victim %s does not answer: %v", v, err)
			}
		}
	}
}

// newStore opens a SQLite store in a temp dir.
func newStore(t testing.TB) *Store {
	t.Helper()
	return openStoreAt(t, filepath.Join(t.TempDir(), "killgate.db"))
}

func openStoreAt(t testing.TB, path string) *Store {
	t.Helper()
	st, err := OpenStore(context.Background(), StoreConfig{Driver: "sqlite", DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testConfig polls every 50 ms, and at that pace whatever the tasks' Time
// thresholds (MaxReadInterval = PollInterval): tests that count polls rely
// on it; the read pacing has tests of its own.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.PollInterval = 50 * time.Millisecond
	cfg.MaxReadInterval = cfg.PollInterval
	cfg.KillTimeout = 4 * time.Second
	return cfg
}

func rootInstance(id string, protected ...string) InstanceConfig {
	return InstanceConfig{ID: id, Product: "mysql", DSN: rootDSN, ProtectedUsers: protected}
}

type runningEngine struct {
	*Engine
	cancel context.CancelFunc
	done   chan error
}

// stop cancels Run and waits for it.
func (r *runningEngine) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		r.done <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
}

// startEngine builds and runs an engine scoped to the test's users (unless
// unscoped), with the extra options, and stops it at cleanup.
func startEngine(t testing.TB, cfg Config, st *Store, insts []InstanceConfig, unscoped bool, extra ...Option) *runningEngine {
	t.Helper()
	opts := extra
	if !unscoped {
		opts = append(opts, WithScope(inScope))
	}
	e, err := NewEngine(cfg, st, insts, testLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningEngine{Engine: e, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func testLogger(t testing.TB) *zap.Logger {
	if testing.Verbose() {
		return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	}
	return zap.NewNop()
}

var taskSeq sync.Mutex

func newTask(inst string, f Filter, dur int64) *Task {
	taskSeq.Lock()
	defer taskSeq.Unlock()
	return &Task{ID: "kt-" + randHex(6), InstanceID: inst, Filter: f, Duration: dur, CreatedAt: time.Now(), Creator: "test"}
}

// waitPolls waits until the node completed n more processlist reads.
func waitPolls(t testing.TB, e *Engine, inst, node string, n int64) {
	t.Helper()
	start := e.PollCount(inst, node)
	waitFor(t, 5*time.Second, func() bool { return e.PollCount(inst, node) >= start+n }, "%d polls of %s/%s", n, inst, node)
}

// reactions collects task-create → victim-gone times for the report.
var reactions struct {
	sync.Mutex
	d []time.Duration
}

func addReactions(created time.Time, seen map[*victim]time.Time) {
	reactions.Lock()
	defer reactions.Unlock()
	for _, at := range seen {
		reactions.d = append(reactions.d, at.Sub(created))
	}
}

func reactionSummary() string {
	reactions.Lock()
	defer reactions.Unlock()
	d := append([]time.Duration(nil), reactions.d...)
	if len(d) == 0 {
		return "no samples"
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return fmt.Sprintf("n=%d p50=%v p90=%v max=%v", len(d), d[len(d)/2], d[len(d)*9/10], d[len(d)-1])
}

func isErr(err, target error) bool { return errors.Is(err, target) }

// threads makes the sessions of a MatchID kill request.
func threads(ids ...uint64) []Process {
	out := make([]Process, len(ids))
	for i, id := range ids {
		out[i].ID = id
	}
	return out
}
