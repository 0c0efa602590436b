package killtask

import (
	"strings"
	"testing"
)

var benchStatements = []string{
	"SELECT c1, c2 FROM orders WHERE id = 42 AND status = 'open'",
	"select * from t where a in (1, 2, 3, 4, 5, 6, 7, 8) and b = 'x' /* comment */",
	"INSERT INTO log (a, b, c) VALUES (1, 'a', 0x1f), (2, 'b', 0x2f), (3, 'c', NULL)",
	"UPDATE accounts SET balance = balance - 10.5 WHERE user_id = 991 LIMIT 1",
	"SELECT /*+ MAX_EXECUTION_TIME(1000) */ `x`.`name` FROM `db`.`users` x WHERE x.`email` LIKE '%@example.com' ORDER BY 1 DESC",
}

// BenchmarkSQLTemplate normalises a mix of statements (one per op, in turn).
func BenchmarkSQLTemplate(b *testing.B) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = SQLTemplate(benchStatements[i%len(benchStatements)])
		i++
	}
}

// BenchmarkFloorToLower is a floor for SQLTemplate: one pass over the same
// text (lower-casing), the least any normaliser does.
func BenchmarkFloorToLower(b *testing.B) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = strings.ToLower(benchStatements[i%len(benchStatements)])
		i++
	}
}

// BenchmarkGroupSessions groups 4,000 sessions (two thirds active) by
// template, as an intelligent kill does after its read.
func BenchmarkGroupSessions(b *testing.B) {
	ps, _ := benchPopulation(4000, 1)
	b.ReportAllocs()
	for b.Loop() {
		_ = GroupSessions(ps)
	}
}
