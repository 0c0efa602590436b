package killtask

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMissingGrants(t *testing.T) {
	const (
		maria   = "10.11.19-MariaDB-0+deb12u1"
		maria10 = "10.4.32-MariaDB"
		mysql8  = "8.0.36"
		mysql57 = "5.7.44-log"
	)
	tests := []struct {
		name    string
		version string
		lines   []string
		want    []string
		method  KillMethod // "" = MethodKill
	}{
		{"all-privileges", maria, []string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"}, nil, ""},
		{"process-connection-admin", maria, []string{"GRANT PROCESS, CONNECTION ADMIN ON *.* TO `kg`@`%` IDENTIFIED BY PASSWORD '*AB'"}, nil, ""},
		{"process-super", maria, []string{"GRANT PROCESS, SUPER ON *.* TO `kg`@`%`"}, nil, ""},
		{"process-only", maria, []string{"GRANT PROCESS ON *.* TO `kg`@`%`"}, []string{"CONNECTION ADMIN (or SUPER)"}, ""},
		{"process-only-old-mariadb", maria10, []string{"GRANT PROCESS ON *.* TO `kg`@`%`"}, []string{"SUPER"}, ""},
		{"nothing", maria, []string{"GRANT USAGE ON *.* TO `kg`@`%`"}, []string{"PROCESS", "CONNECTION ADMIN (or SUPER)"}, ""},
		{"schema-grant-is-not-global", maria, []string{"GRANT ALL PRIVILEGES ON `app`.* TO `kg`@`%`", "GRANT PROCESS ON *.* TO `kg`@`%`"}, []string{"CONNECTION ADMIN (or SUPER)"}, ""},
		{"role-grants-listed", maria, []string{
			"GRANT `kgrole` TO `kg`@`%`", "GRANT PROCESS ON *.* TO `kg`@`%`",
			"GRANT CONNECTION ADMIN ON *.* TO `kgrole`", "SET DEFAULT ROLE `kgrole` FOR `kg`@`%`"}, nil, ""},
		{"mysql8-dynamic", mysql8, []string{"GRANT PROCESS ON *.* TO `kg`@`%`", "GRANT CONNECTION_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `kg`@`%`"}, nil, ""},
		{"mysql8-process-only", mysql8, []string{"GRANT PROCESS ON *.* TO `kg`@`%`"}, []string{"CONNECTION_ADMIN (or SUPER)"}, ""},
		{"mysql57-process-only", mysql57, []string{"GRANT PROCESS ON *.* TO 'kg'@'%'"}, []string{"SUPER"}, ""},
		{"lower-case-privileges", mysql8, []string{"GRANT process, super ON *.* TO `kg`@`%`"}, nil, ""},
		// The rds method: EXECUTE on the procedures instead of the kill privilege.
		{"rds-per-procedure", mysql8, []string{"GRANT PROCESS ON *.* TO `kg`@`%`",
			"GRANT EXECUTE ON PROCEDURE `mysql`.`rds_kill` TO `kg`@`%`", "GRANT EXECUTE ON PROCEDURE `mysql`.`rds_kill_query` TO `kg`@`%`"}, nil, MethodRDS},
		{"rds-mariadb-one-procedure", maria, []string{"GRANT PROCESS ON *.* TO `kg`@`%`",
			"GRANT EXECUTE, ALTER ROUTINE ON PROCEDURE `mysql`.`rds_kill` TO `kg`@`%`"}, []string{"EXECUTE on mysql.rds_kill_query"}, MethodRDS},
		{"rds-schema-grant", mysql57, []string{"GRANT PROCESS ON *.* TO 'kg'@'%'", "GRANT EXECUTE ON `mysql`.* TO 'kg'@'%'"}, nil, MethodRDS},
		{"rds-global-execute", maria, []string{"GRANT PROCESS, EXECUTE ON *.* TO `kg`@`%`"}, nil, MethodRDS},
		{"rds-no-connection-admin-needed", maria, []string{"GRANT PROCESS ON *.* TO `kg`@`%`", "GRANT ALL PRIVILEGES ON `mysql`.* TO `kg`@`%`"}, nil, MethodRDS},
		{"rds-other-schema-or-routine", maria, []string{"GRANT PROCESS ON *.* TO `kg`@`%`", "GRANT EXECUTE ON `app`.* TO `kg`@`%`",
			"GRANT EXECUTE ON PROCEDURE `app`.`rds_kill` TO `kg`@`%`", "GRANT EXECUTE ON FUNCTION `mysql`.`rds_kill_query` TO `kg`@`%`"},
			[]string{"EXECUTE on mysql.rds_kill", "EXECUTE on mysql.rds_kill_query"}, MethodRDS},
		{"rds-nothing", maria, []string{"GRANT USAGE ON *.* TO `kg`@`%`"}, []string{"PROCESS", "EXECUTE on mysql.rds_kill", "EXECUTE on mysql.rds_kill_query"}, MethodRDS},
		{"rds-connection-admin-is-not-execute", maria, []string{"GRANT PROCESS, CONNECTION ADMIN ON *.* TO `kg`@`%`"},
			[]string{"EXECUTE on mysql.rds_kill", "EXECUTE on mysql.rds_kill_query"}, MethodRDS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := missingGrants(tt.version, tt.lines, tt.method); !slices.Equal(got, tt.want) {
				t.Errorf("missingGrants = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVersionBelow(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"10.11.19-MariaDB-0+deb12u1", false},
		{"10.5.2-MariaDB", false},
		{"10.5.1-MariaDB", true},
		{"5.5.5-10.4.1-MariaDB", true},
		{"garbage", false},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			if got := versionBelow(tt.v, 10, 5, 2); got != tt.want {
				t.Errorf("versionBelow(%q, 10.5.2) = %v", tt.v, got)
			}
		})
	}
}

type failureObserver struct {
	NopObserver
	mu      sync.Mutex
	reasons []string
}

func (o *failureObserver) KillFailed(_, _ string, reason string) {
	o.mu.Lock()
	o.reasons = append(o.reasons, reason)
	o.mu.Unlock()
}

func (o *failureObserver) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.reasons)
}

// An account that may read the processlist but not kill other users'
// sessions: the missing grant is reported when the node is first reached
// (log, node health, the task's LastError), a refused KILL is recorded once
// per session and retried with back-off, and every refusal is counted by
// reason. The session stays alive.
func TestKillWithoutPrivilegeIsVisible(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	weak := weakAccount(t, "weak")
	lk := holdLock(t)
	v := startVictim(t, lk, victimSpec{name: "unkillable", user: fx.users[0], mode: "lock"})

	core, logs := observer.New(zap.InfoLevel)
	st := newStore(t)
	e, err := NewEngine(testConfig(), st, []InstanceConfig{{ID: "inst", Product: "mysql",
		DSN: fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/", weak, userPW)}}, zap.New(core), WithScope(inScope))
	if err != nil {
		t.Fatal(err)
	}
	obs := &failureObserver{}
	e.SetObserver(obs)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// Before any task: the start-up probe names the missing grant (log,
	// node health) without reading the processlist.
	waitFor(t, 5*time.Second, func() bool {
		return slices.Equal(e.instances["inst"].nodes[0].getHealth().Missing, []string{"CONNECTION ADMIN (or SUPER)"})
	}, "the start-up probe to name the missing grant")
	if n := logs.FilterMessageSnippet("cannot kill every session").Len(); n != 1 {
		t.Errorf("%d grant warnings after the start-up probe, want 1", n)
	}
	if r := e.instances["inst"].nodes[0].reads.Load(); r != 0 {
		t.Errorf("%d processlist reads with no task", r)
	}

	tk := newTask("inst", Filter{User: fx.users[0]}, Forever)
	if err := e.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	// The missing privilege is known from the first poll on.
	waitFor(t, 5*time.Second, func() bool {
		infos, _ := e.Instances(ctx)
		return len(infos) == 1 && slices.Equal(infos[0].Health["inst"].Missing, []string{"CONNECTION ADMIN (or SUPER)"})
	}, "node health to name the missing grant")
	waitFor(t, 5*time.Second, func() bool {
		got, err := st.GetTask(ctx, tk.ID)
		return err == nil && strings.Contains(got.LastError, "CONNECTION ADMIN")
	}, "the task's LastError to say why it kills nothing")

	// Past the first back-off the session is tried again, refused again,
	// and not recorded again.
	waitFor(t, 3*deniedFirstBackoff, func() bool { return obs.count() >= 2 }, "a second refused KILL after the back-off")
	// Let the second attempt finish and several history flushes pass.
	waitFor(t, 5*time.Second, func() bool { return e.hist.written.Load() >= 1 }, "the first refusal in the history")
	waitPolls(t, e, "inst", "inst", 10)
	recs, total, err := st.ListKillRecords(ctx, RecordQuery{TaskID: tk.ID})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || recs[0].Outcome != OutcomeFailed || !strings.HasPrefix(recs[0].Error, FailDenied+": ") || recs[0].ThreadID != v.id {
		t.Fatalf("want exactly one failed (denied) history row for the session, got %d: %+v", total, recs)
	}
	for _, r := range obs.reasons {
		if r != FailDenied {
			t.Errorf("failure reason %q, want %q", r, FailDenied)
		}
	}
	if n := logs.FilterMessage("kill").Len(); n != 1 {
		t.Errorf("%d kill log lines for one refused session, want 1", n)
	}
	if n := logs.FilterMessageSnippet("cannot kill every session").Len(); n != 1 {
		t.Errorf("%d grant warnings, want 1", n)
	}
	// A first successful read is not a recovery.
	if n := logs.FilterMessage("processlist read recovered").Len(); n != 0 {
		t.Errorf("%d 'recovered' lines without a failure before", n)
	}
	assertAlive(t, v)
	if h := e.instances["inst"].nodes[0].getHealth(); !strings.HasPrefix(h.Problem(), "cannot kill: the account lacks CONNECTION ADMIN") {
		t.Errorf("node problem %q", h.Problem())
	}
	if _, err := e.CancelTasks(ctx, "inst"); err != nil {
		t.Fatal(err)
	}
}

// An anonymous account lets its clients appear under any user name, a
// protected one included: killgate warns of it when it first checks a
// node's grants (with an account that may read mysql.user).
func TestAnonymousAccountsWarned(t *testing.T) {
	needDB(t)
	host := fmt.Sprintf("127.0.0.%d", 100+os.Getpid()%150) // nobody connects from there
	if _, err := fx.root.Exec(fmt.Sprintf("CREATE USER IF NOT EXISTS ''@'%s' IDENTIFIED BY '%s'", host, userPW)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = fx.root.Exec(fmt.Sprintf("DROP USER IF EXISTS ''@'%s'", host)) })
	core, logs := observer.New(zap.InfoLevel)
	e, err := NewEngine(testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, zap.New(core), WithScope(inScope))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 5*time.Second, func() bool { return logs.FilterMessageSnippet("anonymous accounts").Len() == 1 }, "the anonymous-account warning")
}

// A KILL QUERY ID of another account's statement without the kill
// privilege is refused (MariaDB: 1979 "not owner of query") and counted as
// denied, like a refused KILL CONNECTION (1095).
func TestKillQueryIDRefusedIsDenied(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	weak := weakAccount(t, "weakq")
	lk := holdLock(t)
	v := startVictim(t, lk, victimSpec{name: "q", user: fx.users[0], mode: "lock"})
	var qid uint64
	if err := fx.root.QueryRow("SELECT QUERY_ID FROM information_schema.PROCESSLIST WHERE ID = ?", v.id).Scan(&qid); err != nil || qid == 0 {
		t.Fatalf("victim %d's QUERY_ID: %d %v", v.id, qid, err)
	}
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/", weak, userPW))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, killStatement(MethodKill, KillQuery, v.id, qid))
	if !isMySQLErr(err, 1979) && !isMySQLErr(err, 1095) {
		t.Fatalf("KILL QUERY ID without the privilege: %v, want 1979 (or 1095)", err)
	}
	if r := killFailure(err); r != FailDenied {
		t.Fatalf("reason %q for %v, want %q", r, err, FailDenied)
	}
	assertAlive(t, v)
}

// weakAccount creates an account (fx.prefix + suffix, password userPW)
// that may read every session (PROCESS) but kill none of another's, dropped
// when the test ends.
func weakAccount(t *testing.T, suffix string) string {
	t.Helper()
	weak := fx.prefix + suffix
	for _, h := range []string{"%", "localhost"} {
		for _, s := range []string{
			fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", weak, h, userPW),
			fmt.Sprintf("GRANT PROCESS ON *.* TO '%s'@'%s'", weak, h),
		} {
			if _, err := fx.root.Exec(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() {
		for _, h := range []string{"%", "localhost"} {
			_, _ = fx.root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", weak, h))
		}
	})
	return weak
}
