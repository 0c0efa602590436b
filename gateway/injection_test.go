package gateway_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"killgate/gateway/kgtest"
	"killgate/killtask"
)

// TestInjectionShapedFilters: filter values shaped like SQL injection are
// matched literally by CreateKillTask, PreviewKillTask and
// DescribeMySqlProcessList. A session whose user, database and statement
// literally are such strings is listed and killed; a neighbour session is
// not; a filter that would be "always true" if interpolated selects nothing;
// nothing errors, and the stored task reads back byte for byte.
func TestInjectionShapedFilters(t *testing.T) {
	root := kgtest.Root(t)
	tag := fmt.Sprintf("%d", time.Now().UnixNano()%1e6)
	injUser := "kgi" + tag + "' OR '1'='1"          // a real user name with quotes
	injDB := "kgi" + tag + "`db`; DROP TABLE t; --" // a real schema name with backticks
	injInfo := "/*'; KILL 1; --*/"                  // the statement's literal start
	ctlUser, ctlPW := kgtest.User(t, root)
	q := func(s string) string { return strings.ReplaceAll(s, "'", "''") }
	bq := func(s string) string { return strings.ReplaceAll(s, "`", "``") }
	for _, s := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'pw'", q(injUser)),
		fmt.Sprintf("CREATE USER '%s'@'localhost' IDENTIFIED BY 'pw'", q(injUser)),
		fmt.Sprintf("CREATE DATABASE `%s`", bq(injDB)),
		fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%%'", bq(injDB), q(injUser)),
		fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'localhost'", bq(injDB), q(injUser)),
	} {
		if _, err := root.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		_, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", q(injUser)))
		_, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'localhost'", q(injUser)))
		_, _ = root.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS `%s`", bq(injDB)))
	})
	users := []string{injUser, ctlUser}
	st := kgtest.Start(t, kgtest.Options{
		RateLimit: fastLimits(),
		Scope: func(p *killtask.Process) bool {
			for _, u := range users {
				if p.User == u {
					return true
				}
			}
			return false
		},
	})
	lock := kgtest.Lock(t, root)
	stmt := injInfo + " SELECT GET_LOCK('" + lock + "', 60)"
	vInj := pinned(t, injUser, "pw", injDB, stmt)
	vCtl := pinned(t, ctlUser, ctlPW, ctlUser, stmt) // same statement, other user and schema
	reapIDs(t, root, vInj, vCtl)
	waitLocked(t, root, injUser, 1)
	waitLocked(t, root, ctlUser, 1)

	type proc struct{ ID, User, DB, Info string }
	list := func(t *testing.T, action string, p map[string]any) []proc {
		t.Helper()
		p["InstanceId"] = kgtest.Instance
		var out struct{ ProcessList []proc }
		if err := st.Call(action, p, &out); err != nil {
			t.Fatalf("%s %v: %v", action, p, err)
		}
		var mine []proc
		for _, x := range out.ProcessList {
			if x.User == injUser || x.User == ctlUser {
				mine = append(mine, x)
			}
		}
		return mine
	}
	only := func(got []proc, want uint64) bool {
		return len(got) == 1 && got[0].ID == fmt.Sprint(want)
	}
	literal := []map[string]any{
		{"User": injUser},
		{"DB": injDB},
		{"User": injUser, "DB": injDB, "Info": injInfo},
	}
	alwaysTrue := []map[string]any{
		{"User": "x' OR '1'='1"},
		{"User": "' OR 1=1 -- "},
		{"DB": "`) OR 1=1 -- "},
		{"Host": "127.0.0.1' OR '1'='1"},
		{"Info": "' OR ''='"}, // (DescribeMySqlProcessList matches Info as a substring: "'; KILL 1" would rightly match)
		{"Command": "Query' OR '1'='1"},
		{"User": injUser + "%"},
		{"User": "kgi%"},
	}
	cases := 0
	for _, action := range []string{"DescribeMySqlProcessList", "PreviewKillTask"} {
		t.Run(action, func(t *testing.T) {
			for _, f := range literal {
				if got := list(t, action, copyMap(f)); !only(got, vInj.id) {
					t.Errorf("%v: %+v, want only thread %d", f, got, vInj.id)
				}
			}
			for _, f := range alwaysTrue {
				if got := list(t, action, copyMap(f)); len(got) != 0 {
					t.Errorf("%v selected %+v", f, got)
				}
			}
		})
		cases += len(literal) + len(alwaysTrue)
	}
	// Tasks with always-true-if-interpolated filters kill nothing.
	for _, f := range alwaysTrue[:4] {
		p := copyMap(f)
		p["InstanceId"], p["Duration"] = kgtest.Instance, 60
		var out struct{ TaskId string }
		if err := st.Call("CreateKillTask", p, &out); err != nil {
			t.Fatalf("CreateKillTask %v: %v", f, err)
		}
		cases++
	}
	waitPolls(t, st, kgtest.Instance, 3)
	if !existsID(t, root, vInj.id) || !existsID(t, root, vCtl.id) {
		t.Fatal("an injection-shaped filter killed a session")
	}
	if err := st.Call("CancelKillTask", map[string]any{"InstanceId": kgtest.Instance}, nil); err != nil {
		t.Fatal(err)
	}
	// The literal filter kills exactly the literal session; the task reads
	// back byte for byte.
	var created struct{ TaskId string }
	if err := st.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": 60, "User": injUser, "DB": injDB, "Info": injInfo}, &created); err != nil {
		t.Fatal(err)
	}
	kgtest.Eventually(t, 10*time.Second, "the literal session killed", func() bool { return !existsID(t, root, vInj.id) })
	waitPolls(t, st, kgtest.Instance, 3)
	if !existsID(t, root, vCtl.id) {
		t.Fatal("the neighbour session was killed")
	}
	var tasks struct {
		Tasks []struct{ TaskId, User, DB, Info string }
	}
	if err := st.Call("DescribeKillTasks", map[string]any{"TaskId": created.TaskId}, &tasks); err != nil || len(tasks.Tasks) != 1 {
		t.Fatalf("%+v %v", tasks, err)
	}
	if got := tasks.Tasks[0]; got.User != injUser || got.DB != injDB || got.Info != injInfo {
		t.Fatalf("task reads back as %+v", got)
	}
	var recs struct {
		Records []struct{ User, DB, Info string }
	}
	kgtest.Eventually(t, 5*time.Second, "the kill record", func() bool {
		return st.Call("DescribeKillRecords", map[string]any{"TaskId": created.TaskId}, &recs) == nil && len(recs.Records) == 1
	})
	if r := recs.Records[0]; r.User != injUser || r.DB != injDB || !strings.HasPrefix(r.Info, injInfo) {
		t.Fatalf("record %+v", r)
	}
	// Thread ids are integers: text is refused before anything runs.
	for _, th := range []any{"1; KILL 2", "1 OR 1=1", -1, "0x10"} {
		t.Run(fmt.Sprintf("Threads [%v]", th), func(t *testing.T) {
			err := st.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Prepare", "Threads": []any{th}}, nil)
			if c := kgtest.Code(err); c != "InvalidParameter" && c != "InvalidParameterValue" {
				t.Errorf("code %q", c)
			}
		})
		cases++
	}
	t.Logf("figure: %d injection-shaped filter cases matched literally, 0 errors, 0 wrong kills", cases+3)
}

type pinnedVictim struct {
	id   uint64
	user string
	pool *sql.DB
}

// pinned opens one session as user (names may hold any character) and
// starts stmt on it.
func pinned(t *testing.T, user, pw, db, stmt string) *pinnedVictim {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, pw, "tcp", "127.0.0.1:3306", db
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := sql.OpenDB(connector)
	pool.SetMaxOpenConns(1)
	conn, err := pool.Conn(context.Background())
	if err != nil {
		t.Fatalf("connect as %q: %v", user, err)
	}
	v := &pinnedVictim{pool: pool, user: user}
	if err := conn.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&v.id); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _, _ = conn.ExecContext(context.Background(), stmt) }()
	t.Cleanup(func() { <-done; conn.Close(); pool.Close() })
	return v
}

func existsID(t *testing.T, root *sql.DB, id uint64) bool {
	t.Helper()
	var n int
	if err := root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// reapIDs kills the victims left at the end (registered after pinned, so
// it runs before their cleanups wait for the statement to end).
func reapIDs(t *testing.T, root *sql.DB, vs ...*pinnedVictim) {
	t.Cleanup(func() {
		for _, v := range vs {
			var u string
			if root.QueryRow("SELECT USER FROM information_schema.PROCESSLIST WHERE ID = ?", v.id).Scan(&u) == nil && u == v.user {
				_, _ = root.Exec(fmt.Sprintf("KILL CONNECTION %d", v.id))
			}
		}
	})
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
