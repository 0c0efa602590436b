package killtask

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzSQLTemplate: the intelligent-kill normaliser returns, for any text
// (processlist INFO is arbitrary, possibly truncated or not UTF-8), a
// deterministic, valid UTF-8, lower-case, whitespace-collapsed template and
// a bounded keyword — quickly, and without panicking. Two statements that
// differ only in a trailing integer literal share a template.
func FuzzSQLTemplate(f *testing.F) {
	for _, s := range []string{
		"select * from t where id = 1", "SELECT * FROM t WHERE id IN (1,2,3)",
		"insert into t (a,b) values (1,'x'),(2,'y')", "update t set a = a + 1 where id = 7",
		"/* c */ select a -- x\n from t where b = 1", "SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t",
		"select 'unterminated", "select \"dq\" from `t``x`", "select 0b0101, 0x1f, b'01', x'ff'",
		"call p(1, 'a')", "select * from t where a = 'a''b' and b = \"c\\\"d\"", ";", "   ", "\xff\xfe select 1",
		"select * from t where id in (select id from u where v in (1,2)) limit 10, 20",
		strings.Repeat("select (", 200), strings.Repeat("'", 1000), "SELECT SLEEP(60)", "select $1, :name, @v, @@global.x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		start := time.Now()
		tpl := SQLTemplate(sql)
		if d := time.Since(start); d > 2*time.Second && len(sql) < 1<<16 {
			t.Fatalf("SQLTemplate took %s on %d bytes", d, len(sql))
		}
		if strings.TrimSpace(sql) == "" && tpl != "" {
			t.Fatalf("blank statement has template %q", tpl)
		}
		if !utf8.ValidString(tpl) {
			t.Fatalf("template is not valid UTF-8: %q", tpl)
		}
		if strings.ToLower(tpl) != tpl {
			t.Fatalf("template is not lower case: %q", tpl)
		}
		if strings.TrimSpace(tpl) != tpl || strings.Contains(tpl, "  ") || strings.ContainsAny(tpl, "\t\n\r") {
			t.Fatalf("template whitespace not collapsed: %q", tpl)
		}
		if again := SQLTemplate(sql); again != tpl {
			t.Fatalf("not deterministic: %q then %q", tpl, again)
		}
		kw := Keyword(tpl)
		if len(kw) > MaxKeywordLen || !utf8.ValidString(kw) {
			t.Fatalf("keyword %d bytes or invalid UTF-8: %q", len(kw), kw)
		}
	})
}
