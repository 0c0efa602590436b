package killtask

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeSQLTemplate(t *testing.T) {
	cases := []struct{ in, want string }{
		// literals, spacing and case
		{"select * from t where id = 1", "select * from t where id = ?"},
		{"SELECT * FROM t WHERE id=2", "select * from t where id = ?"},
		{"select * from t\n\twhere\n id = 1;", "select * from t where id = ?"},
		{"select 1", "select ?"},
		{"select * from t where x = 1.5e3", "select * from t where x = ?"},
		{"select * from t where id = -42", "select * from t where id = ?"},
		{"select * from t where a = true", "select * from t where a = ?"},
		{"select * from t where a is NULL", "select * from t where a is ?"},
		{"select * from t where a between 1 and 10", "select * from t where a between ? and ?"},
		{"SELECT * FROM t LIMIT 10, 20", "select * from t limit ?, ?"},
		{"select * from t where id = ?", "select * from t where id = ?"},
		// IN lists and subqueries
		{"select * from t where id in (1,2,3)", "select * from t where id in (?)"},
		{"SELECT * FROM t WHERE id IN (4)", "select * from t where id in (?)"},
		{"select * from t1 where a in ('a','b') and b in (1)", "select * from t1 where a in (?) and b in (?)"},
		{"SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE v = 3)", "select * from t where id in (select id from u where v = ?)"},
		// inserts, updates, deletes, CALL
		{"insert into t (a,b) values (1,'x'),(2,'y')", "insert into t (a, b) values (?)"},
		{"INSERT INTO t (a,b) VALUES (3,'z')", "insert into t (a, b) values (?)"},
		{"insert into t values(1, 'a''b')", "insert into t values (?)"},
		{"update t set a = a + 1 where id = 7", "update t set a = a + ? where id = ?"},
		{"delete from t where created < '2020-01-01'", "delete from t where created < ?"},
		{"call p(1, 'a')", "call p(?)"},
		{"CALL p(2,'b')", "call p(?)"},
		// comments and hints
		{"/* c */ select a -- x\n from t where b = 1", "select a from t where b = ?"},
		{"# hash comment\nselect 1", "select ?"},
		{"SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t", "select * from t"},
		// quoted strings with escapes, identifiers
		{"SELECT * FROM t WHERE name = 'O\\'Reilly' AND note = \"a \\\"b\\\"\"", "select * from t where name = ? and note = ?"},
		{"SELECT '日本語' FROM t", "select ? from t"},
		{"select `a` from `t` where `b` = 1", "select a from t where b = ?"},
		{"select `a b` from `weird table`", "select `a b` from `weird table`"},
		{"select * from db1.t1 join t2 on t1.id=t2.id where t2.v > 10", "select * from db1.t1 join t2 on t1.id = t2.id where t2.v > ?"},
		// hex, bit, national and charset-introduced literals
		{"select * from t where c = 0x1F", "select * from t where c = ?"},
		{"select x'ABCD'", "select ?"},
		{"select X'ab'", "select ?"},
		{"select b'101'", "select ?"},
		{"select 0b1010", "select ?"},
		{"select N'abc'", "select ?"},
		{"select _utf8mb4'abc'", "select ?"},
		// functions used by victims
		{"SELECT SLEEP(60)", "select sleep(?)"},
		{"select sleep(5)", "select sleep(?)"},
		{"SELECT GET_LOCK('x', 60)", "select get_lock(?)"},
		{"SELECT GET_LOCK('kgtest-lock-123', 60)", "select get_lock(?)"},
		{"select count(*) from t group by a having count(*) > 5", "select count(*) from t group by a having count(*) > ?"},
		// user variables stay, odd input does not panic
		{"set @a = 5", "set @a = ?"},
		{"select 'unterminated", "select ?"},
		{"", ""},
		{"   \n", ""},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.in), func(t *testing.T) {
			if got := SQLTemplate(c.in); got != c.want {
				t.Errorf("SQLTemplate(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
	if len(cases) < 30 {
		t.Fatalf("want at least 30 cases, have %d", len(cases))
	}
	// Pairs the issue names must share a template.
	for _, pair := range [][2]string{
		{"select * from t where id = 1", "SELECT * FROM t WHERE id=2"},
		{"select * from t where id IN (1,2,3)", "select * from t where id in (4)"},
		{"/* a */ select * from t where v = 'x'", "select   *\nfrom t where v='y' -- b"},
		{"insert into t values (1),(2),(3)", "insert into t values (9)"},
	} {
		t.Run(fmt.Sprintf("same/%q", pair[0]), func(t *testing.T) {
			if a, b := SQLTemplate(pair[0]), SQLTemplate(pair[1]); a != b {
				t.Errorf("%q → %q but %q → %q", pair[0], a, pair[1], b)
			}
		})
	}
}

func TestNormalizeKeywordTruncation(t *testing.T) {
	short := "select ?"
	if Keyword(short) != short {
		t.Fatal("short template changed")
	}
	long1 := "select " + strings.Repeat("é", 300) + " from a"
	long2 := "select " + strings.Repeat("é", 300) + " from b"
	k1, k2 := Keyword(long1), Keyword(long2)
	if len(k1) > MaxKeywordLen || !utf8.ValidString(k1) || !strings.Contains(k1, "...#") {
		t.Fatalf("bad keyword %q (%d bytes)", k1, len(k1))
	}
	if k1 == k2 {
		t.Fatal("long templates with a shared prefix got the same keyword")
	}
}

func proc(id uint64, info string, tm int64) Process {
	return Process{ID: id, User: "u", Host: "h:1", Command: "Query", Time: tm, Info: info}
}

func TestIntelligentGroupSessions(t *testing.T) {
	ps := []Process{
		proc(5, "select * from t where id = 1", 3),
		proc(2, "SELECT * FROM t WHERE id=2", 7),
		{ID: 9, User: "u", Command: "Sleep", Time: 100},                    // idle: not grouped
		{ID: 10, User: "u", Command: "Query", Time: 50, Info: "  "},        // no statement
		{ID: 11, User: "u", Command: "Sleep", Time: 100, Info: "select 1"}, // Sleep with stale info
		proc(3, "update t set a = 1", 1),
	}
	gs := GroupSessions(ps)
	if len(gs) != 2 {
		t.Fatalf("groups = %+v", gs)
	}
	g := gs[0] // "select * from t where id = ?" < "update …"
	if g.Template != "select * from t where id = ?" || g.Count != 2 || g.TotalTime != 10 || g.MaxTime != 7 || g.AvgTime() != 5 {
		t.Fatalf("group = %+v", g)
	}
	if !slices.Equal(g.IDs(), []uint64{2, 5}) || g.Example != "SELECT * FROM t WHERE id=2" {
		t.Fatalf("ids %v example %q", g.IDs(), g.Example)
	}
}

// group builds a group with the given per-session times.
func group(tmpl string, times ...int64) SessionGroup {
	g := SessionGroup{Template: tmpl, Keyword: tmpl, Count: len(times)}
	for i, tm := range times {
		g.Sessions = append(g.Sessions, Process{ID: uint64(i + 1), Time: tm})
		g.TotalTime += tm
		g.MaxTime = max(g.MaxTime, tm)
	}
	return g
}

func picked(gs []SessionGroup) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Template+"/"+string(g.Strategy))
	}
	return out
}

func TestIntelligentPickGroups(t *testing.T) {
	cases := []struct {
		name   string
		groups []SessionGroup
		want   []string
	}{
		{"none", nil, nil},
		{"one group", []SessionGroup{group("a", 1, 2)}, []string{"a/top3_time"}},
		{"two groups", []SessionGroup{group("a", 1, 2), group("b", 9)},
			[]string{"b/top3_time", "a/top3_count"}},
		{"distinct winners", []SessionGroup{
			group("long", 30),         // max 30
			group("many", 1, 1, 1, 1), // count 4
			group("avg", 20, 20),      // avg 20
			group("rest", 2, 2),       // never best
		}, []string{"long/top3_time", "many/top3_count", "avg/top3_avg_time"}},
		{"one group best in all three", []SessionGroup{
			group("king", 50, 50, 50, 50, 50), // max 50, count 5, avg 50
			group("b", 40),                    // next by max and by avg
			group("c", 1, 1, 1),               // next by count
			group("d", 30, 1),                 // avg 15.5
		}, []string{"king/top3_time", "c/top3_count", "b/top3_avg_time"}},
		{"count tie broken by total time", []SessionGroup{
			group("x", 100),
			group("p", 1, 1), group("q", 2, 2),
		}, []string{"x/top3_time", "q/top3_count", "p/top3_avg_time"}},
		{"max tie broken by count then total then template", []SessionGroup{
			group("b", 10, 1), group("a", 10, 1), group("c", 10),
		}, []string{"a/top3_time", "b/top3_count", "c/top3_avg_time"}},
		{"avg tie broken by count", []SessionGroup{
			group("z", 99, 99, 99, 99, 99, 99), // takes time and ... count
			group("m", 6, 6), group("n", 6), group("o", 1, 1, 1),
		}, []string{"z/top3_time", "o/top3_count", "m/top3_avg_time"}},
		{"zero times", []SessionGroup{group("a", 0), group("b", 0, 0), group("c", 0)},
			[]string{"b/top3_time", "a/top3_count", "c/top3_avg_time"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := PickGroups(c.groups)
			if !slices.Equal(picked(got), c.want) {
				t.Fatalf("picked %v, want %v", picked(got), c.want)
			}
			if len(got) > 3 {
				t.Fatal("more than three groups")
			}
		})
	}
}

func TestIntelligentPickDoesNotAlias(t *testing.T) {
	in := []SessionGroup{group("a", 1)}
	out := PickGroups(in)
	out[0].Sessions[0].ID = 99
	if in[0].Sessions[0].ID == 99 || in[0].Strategy != "" {
		t.Fatal("PickGroups modified its input")
	}
}

func TestIntelligentEligible(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Process
		want bool
	}{
		{"query", Process{Command: "Query", Info: "select 1"}, true},
		{"execute", Process{Command: "Execute", Info: "select 1"}, true},
		{"sleep-any-case", Process{Command: "sleep", Info: "select 1"}, false},
		{"no-statement", Process{Command: "Query", Info: ""}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := IntelligentEligible(&c.p); got != c.want {
				t.Errorf("%+v: %v", c.p, got)
			}
		})
	}
}
