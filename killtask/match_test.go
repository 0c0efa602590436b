package killtask

import (
	"fmt"
	"testing"
)

func TestClientHost(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":       "127.0.0.1",
		"localhost":            "localhost",
		"db1.example:33":       "db1.example",
		"[::1]:5000":           "::1",
		"::1":                  "::1",
		"fe80::1":              "fe80::1",
		"":                     "",
		"10.0.0.1":             "10.0.0.1",
		"host.with:colon":      "host.with",
		"::1:40918":            "::1",
		"fe80::1:5000":         "fe80::1",
		"2001:db8::7:443":      "2001:db8::7",
		"2001:db8::12":         "2001:db8::12",
		"::ffff:10.0.0.1:3306": "::ffff:10.0.0.1",
	} {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			if got := ClientHost(in); got != want {
				t.Errorf("ClientHost(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	p := Process{ID: 7, User: "app", Host: "10.1.2.3:50412", DB: "shop", Command: "Query", Time: 30, State: "Sending data",
		Info: "  \n\tSELECT * FROM orders WHERE id = 1"}
	sock := Process{ID: 8, User: "app", Host: "localhost", DB: "", Command: "Sleep", Time: 0}
	cases := []struct {
		name string
		f    Filter
		p    Process
		want bool
	}{
		{"empty matches all", Filter{}, p, true},
		{"empty matches idle", Filter{}, sock, true},

		{"host exact", Filter{Host: "10.1.2.3"}, p, true},
		{"host case-insensitive", Filter{Host: "LOCALHOST"}, sock, true},
		{"host other", Filter{Host: "10.1.2.4"}, p, false},
		{"host prefix is not a match", Filter{Host: "10.1.2"}, p, false},
		{"host with port never matches", Filter{Host: "10.1.2.3:50412"}, p, false},
		{"host localhost vs ip", Filter{Host: "127.0.0.1"}, sock, false},

		{"user exact", Filter{User: "app"}, p, true},
		{"user case-sensitive", Filter{User: "APP"}, p, false},
		{"user other", Filter{User: "ap"}, p, false},

		{"db one", Filter{DBs: []string{"shop"}}, p, true},
		{"db any of", Filter{DBs: []string{"x", "shop"}}, p, true},
		{"db exact case", Filter{DBs: []string{"SHOP"}}, p, false},
		{"db none", Filter{DBs: []string{"x", "y"}}, p, false},
		{"db null session never matches a db list", Filter{DBs: []string{"shop"}}, sock, false},

		{"command", Filter{Commands: []string{"Query"}}, p, true},
		{"command case-insensitive", Filter{Commands: []string{"sleep"}}, sock, true},
		{"command any of", Filter{Commands: []string{"Sleep", "QUERY"}}, p, true},
		{"command none", Filter{Commands: []string{"Sleep", "Execute"}}, p, false},
		{"command is not a prefix match", Filter{Commands: []string{"Que"}}, p, false},

		{"info prefix after whitespace", Filter{Infos: []string{"select"}}, p, true},
		{"info prefix longer", Filter{Infos: []string{"SELECT * from ORDERS"}}, p, true},
		{"info any of", Filter{Infos: []string{"update", "select *"}}, p, true},
		{"info not prefix", Filter{Infos: []string{"from orders"}}, p, false},
		{"info longer than statement", Filter{Infos: []string{"SELECT * FROM orders WHERE id = 1 AND x"}}, p, false},
		{"info on idle session", Filter{Infos: []string{"select"}}, sock, false},
		{"info unicode fold", Filter{Infos: []string{"sélect ÉTÉ"}}, Process{Info: "SÉLECT été"}, true},
		{"info unicode mismatch", Filter{Infos: []string{"sélect"}}, Process{Info: "select"}, false},

		{"time equal", Filter{MinTime: 30}, p, true},
		{"time above", Filter{MinTime: 29}, p, true},
		{"time below", Filter{MinTime: 31}, p, false},

		{"and all match", Filter{Host: "10.1.2.3", User: "app", DBs: []string{"shop"}, Commands: []string{"query"}, Infos: []string{"select"}, MinTime: 10}, p, true},
		{"and one fails (time)", Filter{Host: "10.1.2.3", User: "app", DBs: []string{"shop"}, Commands: []string{"query"}, Infos: []string{"select"}, MinTime: 100}, p, false},
		{"and one fails (db)", Filter{User: "app", DBs: []string{"other"}}, p, false},
		{"and one fails (host)", Filter{User: "app", Host: "localhost"}, p, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.f.Normalize()
			if got := f.Match(&c.p); got != c.want {
				t.Errorf("Match(%+v) = %v, want %v", c.f, got, c.want)
			}
		})
	}
}

func TestNormalizeThenMatch(t *testing.T) {
	// Lists from the API ("test, test1") are trimmed; Info prefixes lose
	// leading whitespace only.
	f := Filter{DBs: SplitList(" shop , ,x "), Commands: SplitList("Sleep, Query"), Infos: []string{"  select "}}.Normalize()
	if !f.Match(&Process{DB: "shop", Command: "query", Info: "select  1"}) {
		t.Error("normalised filter should match")
	}
	if f.Match(&Process{DB: "shop", Command: "query", Info: "select1"}) {
		t.Error("trailing space of the Info prefix is significant")
	}
}

func TestExclusion(t *testing.T) {
	prot := map[string]struct{}{"backup": {}}
	const tcp = "10.0.0.5:40123"
	cases := []struct {
		name string
		p    Process
		want string
	}{
		// Server threads: no client host, whatever the user column says.
		{"system-user-replica-thread", Process{User: "system user", Command: "Connect"}, ExclSystemUser},
		{"system-user-applying-events", Process{User: "system user", Command: "Query", Info: "INSERT INTO t VALUES (1)"}, ExclSystemUser},
		{"background-thread-no-user", Process{User: "", Command: "Sleep"}, ExclSystemUser},
		{"event-scheduler", Process{User: "event_scheduler", Host: "localhost", Command: "Daemon"}, ExclDaemon},
		{"daemon-command", Process{User: "app", Host: tcp, Command: "Daemon"}, ExclDaemon},
		{"binlog-dump", Process{User: "repl", Host: tcp, Command: "Binlog Dump"}, ExclReplication},
		{"binlog-dump-gtid", Process{User: "repl", Host: tcp, Command: "Binlog Dump GTID"}, ExclReplication},
		{"register-slave", Process{User: "repl", Host: tcp, Command: "Register Slave"}, ExclReplication},
		{"slave-io", Process{User: "system user", Command: "Slave_IO"}, ExclSystemUser},
		{"slave-sql-with-host", Process{User: "x", Host: "localhost", Command: "Slave_SQL"}, ExclReplication},
		{"slave-worker", Process{User: "x", Host: tcp, Command: "Slave_worker"}, ExclReplication},
		{"killed-command", Process{User: "app", Host: tcp, Command: "Killed"}, ExclBeingKilled},
		{"killed-state", Process{User: "app", Host: tcp, Command: "Query", State: "Killed"}, ExclBeingKilled},
		{"killed-in-state", Process{User: "app", Host: tcp, Command: "Query", State: "query end (killed)"}, ExclBeingKilled},
		{"protected-user", Process{User: "backup", Host: tcp, Command: "Query"}, ExclProtected},
		// What a client chooses never buys protection.
		{"account-named-system-user", Process{User: "system user", Host: tcp, Command: "Query", Info: "SELECT GET_LOCK('l', 30)"}, ""},
		{"account-named-system-user-socket", Process{User: "system user", Host: "localhost", Command: "Sleep"}, ""},
		{"account-named-event-scheduler", Process{User: "event_scheduler", Host: tcp, Command: "Query"}, ""},
		{"killgate-identify-text", Process{User: "app", Host: tcp, Command: "Query", Info: "SELECT /* killgate */ CONNECTION_ID(), GET_LOCK('l',30)"}, ""},
		{"killgate-comment", Process{User: "app", Host: tcp, Command: "Query", Info: "SELECT /* killgate */ ID FROM information_schema.PROCESSLIST"}, ""},
		{"state-mentions-nothing", Process{User: "app", Host: tcp, Command: "Query", Info: "select 'killed'"}, ""},
		{"plain-query", Process{User: "app", Host: tcp, Command: "Query", Info: "select 1"}, ""},
		{"plain-sleep", Process{User: "app", Host: tcp, Command: "Sleep"}, ""},
		{"users-are-exact", Process{User: "Backup", Host: tcp, Command: "Sleep"}, ""},
		{"connect-phase", Process{User: "unauthenticated user", Host: tcp, Command: "Connect"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Exclusion(&c.p, prot); got != c.want {
				t.Errorf("Exclusion(%+v) = %q, want %q", c.p, got, c.want)
			}
		})
	}
}

func TestMatchProcessesOldestTaskWins(t *testing.T) {
	tasks := []*Task{
		{ID: "old", Filter: Filter{User: "a"}},
		{ID: "new", Filter: Filter{Commands: []string{"Sleep"}}},
	}
	ps := []Process{
		{ID: 1, User: "a", Host: "h:1", Command: "Sleep"}, // both: oldest wins
		{ID: 2, User: "b", Host: "h:2", Command: "Sleep"}, // new only
		{ID: 3, User: "b", Host: "h:3", Command: "Query"}, // none
		{ID: 4, User: "system user", Command: "Sleep"},    // excluded: server thread
		{ID: 5, User: "a", Host: "h:5", Command: "Query"}, // skipped (in flight)
		{ID: 6, User: "p", Host: "h:6", Command: "Sleep"}, // protected
	}
	got := matchProcesses(ps, tasks, map[string]struct{}{"p": {}}, func(id uint64) bool { return id == 5 }, nil, nil)
	want := map[uint64]string{1: "old", 2: "new"}
	if len(got) != len(want) {
		t.Fatalf("got %d candidates, want %d: %+v", len(got), len(want), got)
	}
	for _, c := range got {
		if tasks[c.task].ID != want[c.p.ID] {
			t.Errorf("thread %d attributed to %s, want %s", c.p.ID, tasks[c.task].ID, want[c.p.ID])
		}
	}
}

// benchPopulation builds n sessions and m tasks; most tasks match nothing,
// so every session is compared with every task (the worst case).
func benchPopulation(n, m int) ([]Process, []*Task) {
	ps := make([]Process, n)
	cmds := []string{"Sleep", "Query", "Execute"}
	for i := range ps {
		ps[i] = Process{
			ID: uint64(i + 10), User: fmt.Sprintf("app%d", i%20), Host: fmt.Sprintf("10.0.%d.%d:%d", i%7, i%250, 40000+i),
			DB: fmt.Sprintf("db%d", i%30), Command: cmds[i%3], Time: int64(i % 100), State: "executing",
			Info: fmt.Sprintf("  SELECT c%d FROM t%d WHERE id = %d", i%9, i%13, i),
		}
	}
	tasks := make([]*Task, m)
	for j := range tasks {
		f := Filter{}
		switch j % 5 {
		case 0:
			f.User = fmt.Sprintf("nobody%d", j)
		case 1:
			f.DBs = []string{fmt.Sprintf("db%d", j%30), "other"}
			f.MinTime = 1000
		case 2:
			f.Commands = []string{"Query", "Execute"}
			f.Infos = []string{"update", "delete from", "insert"}
		case 3:
			f.Host = fmt.Sprintf("10.9.9.%d", j)
		case 4:
			f.Infos = []string{"select zzz", "SELECT C99"}
			f.MinTime = 5
		}
		tasks[j] = &Task{ID: fmt.Sprintf("t%03d", j), Filter: f.Normalize()}
	}
	return ps, tasks
}

// BenchmarkMatch matches 4,000 sessions against 100 tasks per op, the
// worker's hot path (exclusions + oldest-first matching).
func BenchmarkMatch(b *testing.B) {
	ps, tasks := benchPopulation(4000, 100)
	prot := map[string]struct{}{"admin": {}}
	out := make([]candidate, 0, 64)
	skip := func(uint64) bool { return false }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out = matchProcesses(ps, tasks, prot, skip, nil, out[:0])
	}
	b.ReportMetric(float64(len(ps)*len(tasks)), "pairs/op")
}

func TestMatchAllocationFree(t *testing.T) {
	ps, tasks := benchPopulation(500, 20)
	out := make([]candidate, 0, 500)
	allocs := testing.AllocsPerRun(20, func() {
		out = matchProcesses(ps, tasks, nil, nil, nil, out[:0])
	})
	if allocs != 0 {
		t.Errorf("matchProcesses allocates %.1f times per run", allocs)
	}
}
