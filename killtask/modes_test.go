package killtask

// Longer than 400 lines on purpose: issue 16's kill modes, methods, observe-only, idle-transaction
// and blocker tests share one set of MariaDB fixtures.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// Issue 16 against the real MariaDB: KILL QUERY, the rds kill procedures,
// observe-only tasks, idle transactions and lock-wait chains.

// session is an idle victim (a pinned connection of a test user) that
// runs statements the test chooses (startVictim covers the GET_LOCK ones).
type session struct{ *victim }

func openSession(t *testing.T, name, user, db string) *session {
	t.Helper()
	return &session{startVictim(t, nil, victimSpec{name: name, user: user, db: db, mode: "idle"})}
}

// exec runs statements one after the other and fails the test on an error.
func (s *session) exec(t *testing.T, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := s.conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %s: %v", s, q, err)
		}
	}
}

// run starts a blocking statement; its result arrives on s.done.
func (s *session) run(q string) {
	s.done = make(chan error, 1)
	go func() {
		_, err := s.conn.ExecContext(context.Background(), q)
		s.done <- err
	}()
}

// result waits for the statement started by run and keeps its result for
// the cleanup.
func (s *session) result(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(d):
		t.Fatalf("%s: statement still running after %v", s, d)
		return nil
	}
}

func alive(t *testing.T, ids ...uint64) bool {
	t.Helper()
	present := processIDs(t, ids)
	for _, id := range ids {
		if _, ok := present[id]; !ok {
			return false
		}
	}
	return true
}

// interrupted waits for a victim's GET_LOCK statement to return while the
// test still holds the lock, as it does when a KILL QUERY ends it (GET_LOCK
// then returns NULL, or the server reports 1317), and checks that the
// session is idle afterwards.
func interrupted(t *testing.T, v *victim, done chan error) {
	t.Helper()
	select {
	case err := <-done:
		done <- err
		if err != nil && !isMySQLErr(err, 1317) {
			t.Fatalf("%s: statement ended with %v, want an interruption", v, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: the statement was not ended", v)
	}
	waitFor(t, 5*time.Second, func() bool {
		p, ok := processIDs(t, []uint64{v.id})[v.id]
		if !ok {
			t.Fatalf("%s: the session ended", v)
		}
		return p.Command == "Sleep"
	}, "%s to be idle after its statement ended", v)
}

// waitSlow is waitFor polling every 200 ms, for conditions read from
// information_schema.INNODB_TRX (refreshed only after 100 ms unread).
func waitSlow(t *testing.T, d time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	waitEvery(t, d, 200*time.Millisecond, cond, what, args...)
}

func isMySQLErr(err error, number uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == number
}

// taskRecords waits until the task has at least n history rows and returns
// them (oldest first).
func taskRecords(t *testing.T, st *Store, taskID string, n int) []KillRecord {
	t.Helper()
	var recs []KillRecord
	waitFor(t, 5*time.Second, func() bool {
		var err error
		recs, _, err = st.ListKillRecords(context.Background(), RecordQuery{TaskID: taskID, Limit: 1000})
		return err == nil && len(recs) >= n
	}, "%d history rows for %s", n, taskID)
	slices.Reverse(recs)
	return recs
}

func TestKillQueryKeepsConnection(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	v := startVictim(t, lk, victimSpec{name: "q", user: fx.users[0], db: fx.dbs[0], mode: "lock"})
	other := startVictim(t, lk, victimSpec{name: "other", user: fx.users[1], mode: "lock"})
	idle := startVictim(t, lk, victimSpec{name: "idle", user: fx.users[0], mode: "idle"})

	tk := newTask("inst", Filter{User: fx.users[0]}, Forever)
	tk.Mode = KillQuery
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	// The statement ends (the test still holds the lock it waits for), the
	// connection stays.
	interrupted(t, v, v.done)
	var one int
	if err := v.conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("the connection does not answer after KILL QUERY: %v", err)
	}
	// Not killed again on later polls: one record for the statement; the
	// idle session of the same user (no statement) is never touched.
	waitPolls(t, eng.Engine, "inst", "inst", 5)
	recs := taskRecords(t, eng.store, tk.ID, 1)
	if len(recs) != 1 {
		t.Fatalf("%d records after 5 polls, want 1: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.ThreadID != v.id || r.Outcome != OutcomeKilled || r.KillMode != KillQuery {
		t.Fatalf("record %+v", r)
	}
	if f, ok := ParseMatched(r.Matched); !ok || f.User != fx.users[0] {
		t.Fatalf("matched filter %q", r.Matched)
	}
	assertAlive(t, other, idle)
	if !alive(t, v.id) {
		t.Fatal("KILL QUERY ended the session")
	}

	// A new statement on the same connection is a new match.
	v.done = nil
	(&session{v}).run(v.query)
	interrupted(t, v, v.done)
	if recs := taskRecords(t, eng.store, tk.ID, 2); len(recs) != 2 || recs[1].ThreadID != v.id || recs[1].KillMode != KillQuery {
		t.Fatalf("records %+v", recs)
	}
	if err := v.conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("the connection does not answer after the second KILL QUERY: %v", err)
	}
	if tasks, _, _ := eng.ListTasks(ctx, TaskQuery{TaskID: tk.ID}); len(tasks) != 1 || tasks[0].Mode != KillQuery || tasks[0].Kills != 2 {
		t.Fatalf("task %+v", tasks)
	}
}

// TestKillQueryIDEndsOnlyThatStatement: on MariaDB a QUERY kill names the
// statement it matched (KILL QUERY ID): a statement that has ended is not
// replaced by whatever the session runs now.
func TestKillQueryIDEndsOnlyThatStatement(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	n, err := eng.node("inst", "")
	if err != nil {
		t.Fatal(err)
	}
	v := startVictim(t, lk, victimSpec{name: "v", user: fx.users[0], mode: "lock"})
	c, server, err := n.conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rows, err := n.readList(ctx, c, []uint64{v.id}, nil)
	if err != nil || len(rows) != 1 || rows[0].QueryID == 0 {
		t.Fatalf("read %+v %v: want the victim with its QUERY_ID", rows, err)
	}
	// An ended statement: one of the test's own, finished, its connection
	// on to another one (an idle connection keeps its last statement's id).
	own, err := fx.root.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	var ended uint64
	if err := own.QueryRowContext(ctx, "SELECT QUERY_ID FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()").Scan(&ended); err != nil {
		t.Fatal(err)
	}
	if _, err := own.ExecContext(ctx, "DO 1"); err != nil {
		t.Fatal(err)
	}
	err = n.execKill(ctx, killStatement(MethodKill, KillQuery, v.id, ended), v.id, server, nil)
	if o, _ := classifyKill(err); o != OutcomeGone || !isMySQLErr(err, 1957) {
		t.Fatalf("KILL QUERY ID of an ended statement: %v (%s), want 1957 and gone", err, o)
	}
	assertAlive(t, v)
	if err := n.execKill(ctx, killStatement(MethodKill, KillQuery, v.id, rows[0].QueryID), v.id, server, nil); err != nil {
		t.Fatalf("KILL QUERY ID of the running statement: %v", err)
	}
	interrupted(t, v, v.done)
}

// rdsProcedures are the test's stand-ins for Amazon RDS's procedures: same
// names and signature, SQL SECURITY DEFINER (root), wrapping KILL.
var rdsProcedures = []struct{ name, body string }{
	{"rds_kill", "KILL CONNECTION thread"},
	{"rds_kill_query", "KILL QUERY thread"},
}

// installRDSProcedures creates the procedures unless an identical one is
// there (a concurrent run of this test: replacing it would revoke that
// run's EXECUTE grants), and returns a cleanup that drops them when no
// other run's rds user is left.
func installRDSProcedures(t *testing.T, rdsUser string) {
	t.Helper()
	ctx := context.Background()
	for _, p := range rdsProcedures {
		var def, definer sql.NullString
		err := fx.root.QueryRowContext(ctx, "SELECT ROUTINE_DEFINITION, DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'mysql' AND ROUTINE_NAME = ?", p.name).Scan(&def, &definer)
		if err == nil && def.String == p.body && definer.String == "root@localhost" {
			continue
		}
		q := "CREATE OR REPLACE DEFINER=`root`@`localhost` PROCEDURE mysql." + p.name + "(IN thread BIGINT UNSIGNED) SQL SECURITY DEFINER " + p.body
		if _, err := fx.root.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		// Drop the procedures when no other run uses them (each run has
		// its own kgt_*_rds user; this one's is gone by now).
		var others int
		if err := fx.root.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'kgt\\_%\\_rds' AND User <> ?", rdsUser).Scan(&others); err != nil || others > 0 {
			return
		}
		for _, p := range rdsProcedures {
			_, _ = fx.root.ExecContext(ctx, "DROP PROCEDURE IF EXISTS mysql."+p.name)
		}
	})
}

func TestRDSKillMethod(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	user := fx.prefix + "rds"
	// Cleanups run last-in first-out: the user goes before the procedures'
	// cleanup looks for other runs.
	installRDSProcedures(t, user)
	for _, h := range []string{"%", "localhost"} {
		for _, q := range []string{
			fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", user, h, userPW),
			fmt.Sprintf("GRANT PROCESS ON *.* TO '%s'@'%s'", user, h),
			fmt.Sprintf("GRANT EXECUTE ON PROCEDURE mysql.rds_kill TO '%s'@'%s'", user, h),
			fmt.Sprintf("GRANT EXECUTE ON PROCEDURE mysql.rds_kill_query TO '%s'@'%s'", user, h),
		} {
			if _, err := fx.root.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		t.Cleanup(func() { _, _ = fx.root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", user, h)) })
	}
	dsn := fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/", user, userPW)
	lk := holdLock(t)
	va := startVictim(t, lk, victimSpec{name: "conn", user: fx.users[0], mode: "lock"})
	vb := startVictim(t, lk, victimSpec{name: "query", user: fx.users[1], mode: "lock"})

	// The account lacks CONNECTION ADMIN: a plain KILL of another
	// account's session is refused, so only the procedure can kill.
	acct := openSession(t, "rds-account", user, "")
	if _, err := acct.conn.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", va.id)); !isMySQLErr(err, 1095) {
		t.Fatalf("plain KILL as the rds account: %v, want 1095 (not owner)", err)
	}
	if g := checkGrants(ctx, acct.conn, MethodKill); !slices.Equal(g.Missing, []string{"CONNECTION ADMIN (or SUPER)"}) {
		t.Fatalf("grants for the kill method: %+v", g)
	}
	if g := checkGrants(ctx, acct.conn, MethodRDS); len(g.Missing) != 0 || g.Unknown != "" {
		t.Fatalf("grants for the rds method: %+v", g)
	}
	assertAlive(t, va)

	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{{ID: "rds", Product: "mysql", DSN: dsn, KillMethod: MethodRDS}}, false)
	tc := newTask("rds", Filter{User: fx.users[0]}, Forever)
	tq := newTask("rds", Filter{User: fx.users[1]}, Forever)
	tq.Mode = KillQuery
	for _, tk := range []*Task{tc, tq} {
		if err := eng.CreateTask(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	waitGone(t, 5*time.Second, va)
	interrupted(t, vb, vb.done)
	var one int
	if err := vb.conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("rds_kill_query ended the connection: %v", err)
	}
	for tk, want := range map[*Task]uint64{tc: va.id, tq: vb.id} {
		recs := taskRecords(t, eng.store, tk.ID, 1)
		if len(recs) != 1 || recs[0].ThreadID != want || recs[0].Outcome != OutcomeKilled || recs[0].KillMode != tk.Mode.orDefault() || recs[0].Error != "" {
			t.Fatalf("task %s records %+v", tk.Mode, recs)
		}
	}
	infos, err := eng.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h := infos[0].Health["rds"]; len(h.Missing) != 0 || h.KillError != "" {
		t.Fatalf("health with the rds method: %+v", h)
	}
}

func TestObserveOnlyTask(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	a, b := fx.users[0], fx.users[1]
	match := []*victim{
		startVictim(t, lk, victimSpec{name: "a1", user: a, mode: "lock"}),
		startVictim(t, lk, victimSpec{name: "a2", user: a, db: fx.dbs[1], mode: "lock", socket: true}),
		startVictim(t, lk, victimSpec{name: "a3", user: a, mode: "idle"}),
	}
	keep := []*victim{
		startVictim(t, lk, victimSpec{name: "b1", user: b, mode: "lock"}),
		startVictim(t, lk, victimSpec{name: "b2", user: b, mode: "idle"}),
	}
	f := Filter{User: a}
	obs := newTask("inst", f, Forever)
	obs.Observe = true
	if err := eng.CreateTask(ctx, obs); err != nil {
		t.Fatal(err)
	}
	waitPolls(t, eng.Engine, "inst", "inst", 3)
	// A session that appears later is recorded too, once.
	match = append(match, startVictim(t, lk, victimSpec{name: "a4", user: a, mode: "lock"}))
	waitPolls(t, eng.Engine, "inst", "inst", 6)

	recs := taskRecords(t, eng.store, obs.ID, len(match))
	var got []uint64
	for _, r := range recs {
		if r.Outcome != OutcomeObserved || r.KillMode != KillConnection || r.Source != SourceTask || r.User != a {
			t.Errorf("record %+v", r)
		}
		if mf, ok := ParseMatched(r.Matched); !ok || mf.User != a {
			t.Errorf("matched filter %q", r.Matched)
		}
		got = append(got, r.ThreadID)
	}
	want := victimIDs(match)
	if sortIDs(got); !slices.Equal(got, want) {
		t.Fatalf("observed %v, want each of %v once", got, want)
	}
	// What a normal task would kill now: PreviewKillTask's answer.
	pv, err := eng.Preview(ctx, "inst", f)
	if err != nil {
		t.Fatal(err)
	}
	var previewed []uint64
	for _, p := range pv {
		previewed = append(previewed, p.ID)
	}
	if sortIDs(previewed); !slices.Equal(previewed, want) {
		t.Fatalf("preview %v, observed %v", previewed, want)
	}
	assertAlive(t, append(slices.Clone(match), keep...)...)
	if tasks, _, _ := eng.ListTasks(ctx, TaskQuery{TaskID: obs.ID}); len(tasks) != 1 || !tasks[0].Observe || tasks[0].Observed != int64(len(match)) || tasks[0].Kills != 0 {
		t.Fatalf("observe task %+v", tasks)
	}
	dup := newTask("inst", f, Forever)
	dup.Observe = true
	if err := eng.CreateTask(ctx, dup); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("a second identical observe task: %v, want ErrDuplicate", err)
	}

	// Arming is a new task with the same filter, beside the observe-only
	// one (older, still running: it never shields a session): it kills
	// exactly what was observed.
	armed := newTask("inst", f, Forever)
	if err := eng.CreateTask(ctx, armed); err != nil {
		t.Fatalf("arming: %v", err)
	}
	waitGone(t, 5*time.Second, match...)
	assertHistory(t, eng.store, armed.ID, match)
	waitPolls(t, eng.Engine, "inst", "inst", 3)
	assertAlive(t, keep...)
	if recs, total, _ := eng.store.ListKillRecords(ctx, RecordQuery{TaskID: obs.ID}); total != int64(len(match)) {
		t.Fatalf("the observe task's history changed: %d rows %+v", total, recs)
	}
}

func victimIDs(vs []*victim) []uint64 {
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = v.id
	}
	sortIDs(out)
	return out
}

func sortIDs(ids []uint64) { sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] }) }

// testTable creates a small InnoDB table in the test's first schema.
func testTable(t *testing.T, name string, rows int) string {
	t.Helper()
	tbl := "`" + fx.dbs[0] + "`.`" + name + "_" + randHex(3) + "`"
	stmts := []string{"CREATE TABLE " + tbl + " (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB"}
	var vals []string
	for i := 1; i <= rows; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 0)", i))
	}
	stmts = append(stmts, "INSERT INTO "+tbl+" VALUES "+strings.Join(vals, ","))
	for _, q := range stmts {
		if _, err := fx.root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { _, _ = fx.root.Exec("DROP TABLE IF EXISTS " + tbl) })
	return tbl
}

func TestIdleInTransaction(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	tbl := testTable(t, "trx", 3)
	a := fx.users[0]
	const threshold = 2

	inTrx := openSession(t, "idle-in-trx", a, fx.dbs[0])
	began := time.Now()
	inTrx.exec(t, "BEGIN", "UPDATE "+tbl+" SET v = v + 1 WHERE id = 1")
	noTrx := openSession(t, "idle-no-trx", a, fx.dbs[0])
	noTrx.exec(t, "SELECT COUNT(*) FROM "+tbl) // autocommit: no transaction left open
	// In a transaction but running a statement: not idle (Command filter).
	busy := openSession(t, "busy-in-trx", a, fx.dbs[0])
	busy.exec(t, "BEGIN", "UPDATE "+tbl+" SET v = v + 1 WHERE id = 2")
	busy.run("SELECT GET_LOCK('" + lk.name + "', 60)")
	waitFor(t, 5*time.Second, func() bool {
		p, ok := processIDs(t, []uint64{busy.id})[busy.id]
		return ok && strings.HasPrefix(p.Info, "SELECT GET_LOCK")
	}, "the busy session's statement")

	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	tk := newTask("inst", Filter{User: a, Commands: []string{"Sleep"}, MinTrxTime: threshold}, Forever)
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	var died time.Time
	waitFor(t, 10*time.Second, func() bool {
		if !alive(t, inTrx.id) {
			died = time.Now()
			return true
		}
		return false
	}, "the idle-in-transaction session to die")
	if age := died.Sub(began); age < threshold*time.Second {
		t.Fatalf("killed %v after its transaction began, before the %d s threshold", age, threshold)
	}
	waitPolls(t, eng.Engine, "inst", "inst", 4)
	if !alive(t, noTrx.id, busy.id) {
		t.Fatal("a session without an idle transaction was killed")
	}
	var one int
	if err := noTrx.conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("idle session without a transaction: %v", err)
	}
	recs := taskRecords(t, eng.store, tk.ID, 1)
	if len(recs) != 1 || recs[0].ThreadID != inTrx.id || recs[0].Outcome != OutcomeKilled || recs[0].Command != "Sleep" {
		t.Fatalf("records %+v", recs)
	}
	// Its row lock went with it: the row is free again.
	if _, err := fx.root.ExecContext(ctx, "UPDATE "+tbl+" SET v = 10 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
}

func TestKillTheBlocker(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	tbl := testTable(t, "blk", 3)
	a, b := fx.users[0], fx.users[1]
	const waiters = 20

	head := openSession(t, "head", a, fx.dbs[0])
	head.exec(t, "BEGIN", "UPDATE "+tbl+" SET v = v + 1 WHERE id = 1")
	// In a transaction with a row lock nobody waits for: no blocker.
	bystander := openSession(t, "bystander", a, fx.dbs[0])
	bystander.exec(t, "BEGIN", "UPDATE "+tbl+" SET v = v + 1 WHERE id = 2")
	var ws []*session
	for i := range waiters {
		w := openSession(t, fmt.Sprintf("w%d", i), b, fx.dbs[0])
		w.exec(t, "SET SESSION innodb_lock_wait_timeout = 300")
		w.run("UPDATE " + tbl + " SET v = v + 1 WHERE id = 1")
		ws = append(ws, w)
	}
	wids := make([]uint64, len(ws))
	for i, w := range ws {
		wids[i] = w.id
	}
	sortIDs(wids)
	// Polled slowly: the server refreshes INNODB_TRX only when nobody read
	// it for 100 ms (see trxCacheIdle).
	waitSlow(t, 10*time.Second, func() bool {
		var n int
		q, args, err := sqlx.In("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT' AND trx_mysql_thread_id IN (?)", wids)
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.root.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			select {
			case err := <-w.done:
				t.Fatalf("waiter %s did not wait: %v", w, err)
			default:
			}
		}
		return n == waiters
	}, "%d sessions waiting for the row lock", waiters)

	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	// BlockingCount 1: every waiter queued behind another "blocks" it too,
	// but only the head of the chain, which waits for nothing, matches.
	f := Filter{MinBlocked: 1, MinBlockTime: 1}
	var pv PreviewResult
	waitFor(t, 10*time.Second, func() bool {
		var err error
		pv, err = eng.PreviewTask(ctx, "inst", Task{Filter: f})
		return err == nil && len(pv.Sessions) > 0
	}, "the preview to show the blocker")
	if len(pv.Sessions) != 1 || pv.Sessions[0].ID != head.id {
		t.Fatalf("preview %+v, want only the head %d", pv.Sessions, head.id)
	}
	p := pv.Sessions[0]
	if !slices.Equal(p.Blocked, wids) || p.Waiting || p.BlockTime < 1 {
		t.Fatalf("head: blocked %v (want %v) waiting %v block time %d", p.Blocked, wids, p.Waiting, p.BlockTime)
	}
	direct := map[uint64]bool{}
	for _, w := range pv.Waits {
		if w.Blocking == head.id && w.Kind == LockRow {
			direct[w.Waiting] = true
		}
	}
	if len(direct) != waiters {
		t.Fatalf("lock waits on the head: %d of %d waiters (%+v)", len(direct), waiters, pv.Waits)
	}
	t.Logf("%d lock waits, %d of them on the head", len(pv.Waits), len(pv.Waits)-countIf(pv.Waits, func(w LockWait) bool { return w.Blocking != head.id }))

	tk := newTask("inst", f, Forever)
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return !alive(t, head.id) }, "the head to die")
	// The pile drains: every waiter's UPDATE completes.
	for _, w := range ws {
		if err := w.result(t, 30*time.Second); err != nil {
			t.Errorf("waiter %s: %v", w, err)
		}
	}
	waitPolls(t, eng.Engine, "inst", "inst", 3)
	if !alive(t, append(slices.Clone(wids), bystander.id)...) {
		t.Fatal("a waiter or the bystander was killed")
	}
	recs := taskRecords(t, eng.store, tk.ID, 1)
	if len(recs) != 1 || recs[0].ThreadID != head.id || recs[0].Outcome != OutcomeKilled {
		t.Fatalf("records %+v, want only the head", recs)
	}
	// The head's change rolled back; each waiter's went in.
	var v int
	if err := fx.root.QueryRowContext(ctx, "SELECT v FROM "+tbl+" WHERE id = 1").Scan(&v); err != nil || v != waiters {
		t.Fatalf("v = %d (%v), want %d", v, err, waiters)
	}
}

func countIf[T any](xs []T, f func(T) bool) int {
	n := 0
	for _, x := range xs {
		if f(x) {
			n++
		}
	}
	return n
}

// TestMetadataLockChainHead: an ALTER TABLE waiting behind an open
// transaction, and the queries queued behind the ALTER: only the
// transaction is killed, then the ALTER and the queries run. It needs a
// metadata-lock source (the metadata_lock_info plugin, or performance_schema
// with the mdl instrument); MariaDB has neither by default, so the test
// installs the plugin MariaDB ships for the test's duration.
func TestMetadataLockChainHead(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	c, err := fx.root.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src := detectMDL(ctx, c)
	if src != mdlLockInfo && src != mdlPerfSchema {
		// MariaDB ships the plugin (Debian's mariadb-server has
		// metadata_lock_info.so): install it for this test and remove it
		// after, unless it was there before.
		if _, err := c.ExecContext(ctx, "INSTALL SONAME 'metadata_lock_info'"); err == nil {
			t.Cleanup(func() { _, _ = fx.root.Exec("UNINSTALL SONAME 'metadata_lock_info'") })
			src = detectMDL(ctx, c)
		} else {
			t.Logf("INSTALL SONAME 'metadata_lock_info': %v", err)
		}
	}
	c.Close()
	if src != mdlLockInfo && src != mdlPerfSchema {
		if os.Getenv("CI") != "" {
			t.Fatal("the server shows no metadata locks and the metadata_lock_info plugin could not be installed")
		}
		t.Skip("SKIPPING: the server shows no metadata locks (INSTALL SONAME 'metadata_lock_info' to run this test)")
	}
	tbl := testTable(t, "mdl", 2)
	a, b := fx.users[0], fx.users[1]
	holder := openSession(t, "holder", a, fx.dbs[0])
	holder.exec(t, "BEGIN", "SELECT COUNT(*) FROM "+tbl)
	alter := openSession(t, "alter", b, fx.dbs[0])
	alter.run("ALTER TABLE " + tbl + " ADD COLUMN c INT")
	waitFor(t, 5*time.Second, func() bool {
		p, ok := processIDs(t, []uint64{alter.id})[alter.id]
		return ok && strings.Contains(p.State, "metadata lock")
	}, "the ALTER to wait")
	var queued []*session
	for i := range 3 {
		q := openSession(t, fmt.Sprintf("q%d", i), b, fx.dbs[0])
		q.run("SELECT COUNT(*) FROM " + tbl)
		queued = append(queued, q)
	}
	waitFor(t, 5*time.Second, func() bool {
		n := 0
		for _, p := range processIDs(t, nil) {
			if strings.Contains(p.State, "metadata lock") && p.User == b {
				n++
			}
		}
		return n == 4
	}, "4 sessions waiting for the metadata lock")

	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	f := Filter{MinBlocked: 4, MinBlockTime: 1}
	var pv PreviewResult
	waitFor(t, 10*time.Second, func() bool {
		pv, err = eng.PreviewTask(ctx, "inst", Task{Filter: f})
		return err == nil && len(pv.Sessions) > 0
	}, "the preview to show the holder")
	if len(pv.Sessions) != 1 || pv.Sessions[0].ID != holder.id {
		t.Fatalf("preview %+v, want only the holder %d", pv.Sessions, holder.id)
	}
	if n := countIf(pv.Waits, func(w LockWait) bool { return w.Kind == LockMetadata && w.Blocking == holder.id }); n < 1 {
		t.Fatalf("no metadata-lock wait on the holder: %+v", pv.Waits)
	}
	tk := newTask("inst", f, Forever)
	if err := eng.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return !alive(t, holder.id) }, "the holder to die")
	for _, s := range append([]*session{alter}, queued...) {
		if err := s.result(t, 30*time.Second); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	recs := taskRecords(t, eng.store, tk.ID, 1)
	if len(recs) != 1 || recs[0].ThreadID != holder.id {
		t.Fatalf("records %+v, want only the holder", recs)
	}
}
