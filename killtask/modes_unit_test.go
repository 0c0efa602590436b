package killtask

import (
	"slices"
	"testing"
	"time"
)

// Pure parts of issue 16: statements, keys, lock-wait chains, matching.

func TestKillStatement(t *testing.T) {
	tests := []struct {
		name    string
		method  KillMethod
		mode    KillMode
		id, qid uint64
		want    string
	}{
		{"connection", MethodKill, KillConnection, 42, 7, "KILL /* killgate */ CONNECTION 42"},
		{"default-mode", MethodKill, "", 42, 0, "KILL /* killgate */ CONNECTION 42"},
		{"query-by-id", MethodKill, KillQuery, 42, 9001, "KILL /* killgate */ QUERY ID 9001"},
		{"query-without-id", MethodKill, KillQuery, 42, 0, "KILL /* killgate */ QUERY 42"},
		{"rds-connection", MethodRDS, KillConnection, 42, 7, "CALL /* killgate */ mysql.rds_kill(42)"},
		{"rds-query", MethodRDS, KillQuery, 42, 7, "CALL /* killgate */ mysql.rds_kill_query(42)"},
		{"largest-id", MethodKill, KillConnection, 1<<64 - 1, 0, "KILL /* killgate */ CONNECTION 18446744073709551615"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := killStatement(tt.method, tt.mode, tt.id, tt.qid); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseKillModeAndMethod(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want KillMode
		ok   bool
	}{{"", "", true}, {"connection", KillConnection, true}, {" QUERY ", KillQuery, true}, {"Query", KillQuery, true}, {"OBSERVE", "", false}, {"KILL", "", false}} {
		t.Run("mode-"+tt.in, func(t *testing.T) {
			if got, ok := ParseKillMode(tt.in); got != tt.want || ok != tt.ok {
				t.Errorf("ParseKillMode(%q) = %q, %v", tt.in, got, ok)
			}
		})
	}
	for _, tt := range []struct {
		in   string
		want KillMethod
		ok   bool
	}{{"", MethodKill, true}, {"kill", MethodKill, true}, {"RDS", MethodRDS, true}, {"rds_kill", "", false}} {
		t.Run("method-"+tt.in, func(t *testing.T) {
			if got, ok := ParseKillMethod(tt.in); got != tt.want || ok != tt.ok {
				t.Errorf("ParseKillMethod(%q) = %q, %v", tt.in, got, ok)
			}
		})
	}
}

func TestTaskKeys(t *testing.T) {
	f := Filter{User: "app", Commands: []string{"Query"}}
	// Keys stored before modes are filter keys: a CONNECTION task keeps
	// its filter's key, so they stay valid.
	conn := &Task{Filter: f}
	if conn.Key() != f.Key() || (&Task{Filter: f, Mode: KillConnection}).Key() != f.Key() {
		t.Fatal("the key of a CONNECTION task is not its filter's")
	}
	query := &Task{Filter: f, Mode: KillQuery}
	observe := &Task{Filter: f, Observe: true}
	observeQuery := &Task{Filter: f, Mode: KillQuery, Observe: true}
	keys := []string{conn.Key(), query.Key(), observe.Key(), observeQuery.Key()}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[i] == keys[j] {
				t.Errorf("tasks %d and %d share a key", i, j)
			}
		}
	}
	// The filters beyond the processlist change the key only when set.
	for _, g := range []Filter{{User: "app", Commands: []string{"Query"}, MinTrxTime: 60}, {User: "app", Commands: []string{"Query"}, MinBlocked: 3}, {User: "app", Commands: []string{"Query"}, MinBlockTime: 5}} {
		if g.Key() == f.Key() {
			t.Errorf("%+v has the key of %+v", g, f)
		}
	}
	// BlockingTime alone means "blocking at least one session".
	if a, b := (Filter{MinBlockTime: 5}), (Filter{MinBlocked: 1, MinBlockTime: 5}); a.Key() != b.Key() || a.Normalize().MinBlocked != 1 {
		t.Errorf("BlockingTime alone: %+v", a.Normalize())
	}
}

func TestFilterMatchExtras(t *testing.T) {
	head := Process{ID: 1, User: "u", Host: "h:1", Command: "Sleep", Time: 30, InTrx: true, TrxTime: 90, Blocked: []uint64{2, 3, 4}, BlockTime: 20}
	waiter := Process{ID: 2, User: "u", Host: "h:2", Command: "Query", Time: 20, InTrx: true, TrxTime: 20, Waiting: true, Blocked: []uint64{3}, BlockTime: 15}
	noTrx := Process{ID: 5, User: "u", Host: "h:5", Command: "Sleep", Time: 300}
	tests := []struct {
		name string
		f    Filter
		p    Process
		want bool
	}{
		{"trx old enough", Filter{MinTrxTime: 90}, head, true},
		{"trx too young", Filter{MinTrxTime: 91}, head, false},
		{"no trx never matches", Filter{MinTrxTime: 1}, noTrx, false},
		{"idle in trx", Filter{Commands: []string{"Sleep"}, MinTrxTime: 60}, head, true},
		{"head blocks 3", Filter{MinBlocked: 3}, head, true},
		{"head blocks 3, not 4", Filter{MinBlocked: 4}, head, false},
		{"head block time", Filter{MinBlocked: 1, MinBlockTime: 20}, head, true},
		{"head block time too short", Filter{MinBlocked: 1, MinBlockTime: 21}, head, false},
		{"a waiter is never a head", Filter{MinBlocked: 1}, waiter, false},
		{"blocks nobody", Filter{MinBlocked: 1}, noTrx, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Normalize().Match(&tt.p); got != tt.want {
				t.Errorf("Match = %v", got)
			}
		})
	}
}

func TestApplyLockWaits(t *testing.T) {
	rows := func() []Process {
		ps := make([]Process, 9)
		for i := range ps {
			ps[i] = Process{ID: uint64(i + 1), Time: 100}
		}
		ps[0].Time = 4 // the head has been idle 4 s
		return ps
	}
	byID := func(ps []Process) map[uint64]Process {
		m := map[uint64]Process{}
		for _, p := range ps {
			m[p.ID] = p
		}
		return m
	}
	t.Run("chain", func(t *testing.T) {
		// 1 ← 2 ← 3, 1 ← 4 (twice: two locks), 5 ← 6: two chains.
		ps := rows()
		applyLockWaits(ps, []LockWait{
			{Waiting: 2, Blocking: 1, Wait: 10}, {Waiting: 3, Blocking: 2, Wait: 50},
			{Waiting: 4, Blocking: 1, Wait: 3}, {Waiting: 4, Blocking: 1, Wait: 3},
			{Waiting: 6, Blocking: 5, Wait: 7},
		})
		m := byID(ps)
		if p := m[1]; p.Waiting || !slices.Equal(p.Blocked, []uint64{2, 3, 4}) || p.BlockTime != 4 {
			t.Errorf("head 1: %+v (block time capped by its TIME 4)", p)
		}
		if p := m[2]; !p.Waiting || !slices.Equal(p.Blocked, []uint64{3}) || p.BlockTime != 50 {
			t.Errorf("2: %+v", p)
		}
		if p := m[5]; p.Waiting || !slices.Equal(p.Blocked, []uint64{6}) || p.BlockTime != 7 {
			t.Errorf("head 5: %+v", p)
		}
		for _, id := range []uint64{3, 4, 6} {
			if p := m[id]; !p.Waiting || len(p.Blocked) != 0 {
				t.Errorf("%d: %+v", id, p)
			}
		}
		if p := m[9]; p.Waiting || p.Blocked != nil {
			t.Errorf("bystander: %+v", p)
		}
		f := Filter{MinBlocked: 1}
		var heads []uint64
		for i := range ps {
			if f.Match(&ps[i]) {
				heads = append(heads, ps[i].ID)
			}
		}
		if !slices.Equal(heads, []uint64{1, 5}) {
			t.Errorf("heads %v", heads)
		}
	})
	t.Run("cycle has no head", func(t *testing.T) {
		ps := rows()
		applyLockWaits(ps, []LockWait{{Waiting: 7, Blocking: 8, Wait: 9}, {Waiting: 8, Blocking: 7, Wait: 9}, {Waiting: 9, Blocking: 8, Wait: 9}})
		m := byID(ps)
		if p := m[8]; !p.Waiting || !slices.Equal(p.Blocked, []uint64{7, 9}) {
			t.Errorf("8: %+v", p)
		}
		if p := m[7]; !p.Waiting || !slices.Equal(p.Blocked, []uint64{8, 9}) {
			t.Errorf("7: %+v", p)
		}
		for i := range ps {
			if (Filter{MinBlocked: 1}).Match(&ps[i]) {
				t.Errorf("%d matched inside a cycle", ps[i].ID)
			}
		}
	})
	t.Run("waits of absent sessions", func(t *testing.T) {
		ps := rows()[:1]
		applyLockWaits(ps, []LockWait{{Waiting: 77, Blocking: 1, Wait: 2}, {Waiting: 78, Blocking: 77, Wait: 2}})
		if !slices.Equal(ps[0].Blocked, []uint64{77, 78}) || ps[0].BlockTime != 2 {
			t.Errorf("%+v", ps[0])
		}
	})
}

func TestMDLLockInfoWaits(t *testing.T) {
	for _, tt := range []struct {
		stmt, db      string
		schema, table string
		ok            bool
	}{
		{"ALTER TABLE t ADD COLUMN c INT", "app", "app", "t", true},
		{"select * from `Shop`.`Orders` where id = 1", "app", "shop", "orders", true},
		{"SELECT * FROM shop.orders o JOIN shop.items i ON i.o = o.id", "app", "", "", false},
		{"SELECT 1", "app", "", "", false},
		{"TRUNCATE TABLE t", "", "", "", false}, // no schema to resolve it in
		{"", "app", "", "", false},
	} {
		t.Run(tt.stmt, func(t *testing.T) {
			s, tb, ok := singleTable(tt.stmt, tt.db)
			if s != tt.schema || tb != tt.table || ok != tt.ok {
				t.Errorf("singleTable = %q, %q, %v", s, tb, ok)
			}
		})
	}
	ps := []Process{
		{ID: 1, DB: "app", Command: "Sleep", Time: 50}, // holds t in an open transaction
		{ID: 2, DB: "app", Command: "Query", State: "Waiting for table metadata lock", Info: "ALTER TABLE t ADD c INT", Time: 30}, // waits for t
		{ID: 3, DB: "app", Command: "Query", State: "Waiting for table metadata lock", Info: "SELECT * FROM t", Time: 20},         // queued behind the ALTER
		{ID: 4, DB: "app", Command: "Query", State: "Waiting for table metadata lock", Info: "SELECT * FROM a JOIN b", Time: 20},  // two tables: not guessed
		{ID: 5, DB: "app", Command: "Query", State: "Sending data", Info: "SELECT * FROM t", Time: 1},                             // not waiting
	}
	holders := []mdlHolder{{thread: 1, schema: "app", table: "t"}, {thread: 3, schema: "app", table: "other"}, {thread: 5, schema: "APP", table: "T"}}
	waits := mdlLockInfoWaits(ps, holders)
	var got [][2]uint64
	for _, w := range waits {
		if w.Kind != LockMetadata {
			t.Errorf("kind %q", w.Kind)
		}
		got = append(got, [2]uint64{w.Waiting, w.Blocking})
	}
	want := [][2]uint64{{2, 1}, {2, 5}, {3, 1}, {3, 5}}
	if !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

func TestQueryKilledStatementNotMatchedAgain(t *testing.T) {
	n := &node{queryKilled: map[uint64]stmtKey{}}
	task := &Task{Filter: Filter{User: "u"}, Mode: KillQuery}
	conn := &Task{Filter: Filter{User: "u"}}
	for _, tt := range []struct {
		name  string
		after Process // the row read after the KILL QUERY of first
		first Process
		again bool // the QUERY task matches the later row
	}{
		{"same query id", Process{ID: 1, User: "u", Host: "h:1", Command: "Query", QueryID: 10, Time: 9},
			Process{ID: 1, User: "u", Host: "h:1", Command: "Query", QueryID: 10, Time: 5}, false},
		{"next statement", Process{ID: 1, User: "u", Host: "h:1", Command: "Query", QueryID: 11, Time: 0},
			Process{ID: 1, User: "u", Host: "h:1", Command: "Query", QueryID: 10, Time: 5}, true},
		{"no query id: same text and start", Process{ID: 1, User: "u", Host: "h:1", Command: "Query", Info: "select 1", Time: 5},
			Process{ID: 1, User: "u", Host: "h:1", Command: "Query", Info: "select 1", Time: 5}, false},
		{"no query id: same text, later start", Process{ID: 1, User: "u", Host: "h:1", Command: "Query", Info: "select 1", Time: 0},
			Process{ID: 1, User: "u", Host: "h:1", Command: "Query", Info: "select 1", Time: 5}, true},
		{"no query id: other text", Process{ID: 1, User: "u", Host: "h:1", Command: "Query", Info: "select 2", Time: 5},
			Process{ID: 1, User: "u", Host: "h:1", Command: "Query", Info: "select 1", Time: 5}, true},
		{"id reused by another connection", Process{ID: 1, User: "u", Host: "h:2", Command: "Query", QueryID: 10, Time: 9},
			Process{ID: 1, User: "u", Host: "h:1", Command: "Query", QueryID: 10, Time: 5}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clear(n.queryKilled)
			first := tt.first
			if !task.Matches(&first) {
				t.Fatal("the first statement must match")
			}
			n.rememberQueryKill(&first)
			rows := []Process{tt.after}
			n.noteStatements(rows, true)
			if got := task.Matches(&rows[0]); got != tt.again {
				t.Errorf("QUERY task matches the later row: %v, want %v", got, tt.again)
			}
			if !conn.Matches(&rows[0]) {
				t.Error("a CONNECTION task must still match")
			}
			if got := n.queryKilledBefore(&tt.after); got == tt.again {
				t.Errorf("queryKilledBefore = %v", got)
			}
			if _, kept := n.queryKilled[1]; kept == tt.again {
				t.Errorf("memory kept %v after a full read", kept)
			}
		})
	}
	t.Run("sleep never matches a QUERY task", func(t *testing.T) {
		if task.Matches(&Process{ID: 3, User: "u", Command: "Sleep"}) {
			t.Error("QUERY task matched an idle session")
		}
	})
	t.Run("forgotten when the session left", func(t *testing.T) {
		clear(n.queryKilled)
		n.rememberQueryKill(&Process{ID: 4, User: "u", QueryID: 1})
		n.noteStatements(nil, true)
		if len(n.queryKilled) != 0 {
			t.Error("kept a session that left")
		}
	})
}

func TestStmtKeyStartSlack(t *testing.T) {
	now := time.Now()
	p := Process{User: "u", Host: "h", Info: "x", Time: 10}
	k := stmtKeyOf(&p, now)
	if !k.same(stmtKeyOf(&p, now.Add(time.Second))) {
		t.Error("the same statement read a second later (TIME not yet ticked) is another statement")
	}
	if k.same(stmtKeyOf(&p, now.Add(3*time.Second))) {
		t.Error("a statement started 3 s later is the same")
	}
}
