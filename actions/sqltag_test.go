package actions

import (
	"fmt"
	"reflect"
	"testing"
)

func TestParseSqlTags(t *testing.T) {
	tests := []struct {
		info string
		want SqlTags
	}{
		{"/* p=position, c=idCard */ SELECT GET_LOCK('x', 60)", SqlTags{"p": "position", "c": "idCard"}},
		{"/* p = 2342 , f=abd */  select sleep(1000)", SqlTags{"p": "2342", "f": "abd"}},
		{"SELECT 1 /* trailing=yes */", SqlTags{"trailing": "yes"}},
		{"/* a=1 */ /* b=2 */ SELECT 1", SqlTags{"a": "1", "b": "2"}},
		{"/* a=1, a=2 */ SELECT 1", SqlTags{"a": "1"}},
		{"/* app.mod-x:y=v_1 */ SELECT 1", SqlTags{"app.mod-x:y": "v_1"}},
		{"/* killgate */ SELECT 1", nil},
		{"/*+ MAX_EXECUTION_TIME(1000) */ SELECT 1", nil},
		{"/*!40101 SET x=1 */", nil},
		{"/* a=1, junk */ SELECT 1", nil},
		{"/* a= */ SELECT 1", nil},
		{"/* =v */ SELECT 1", nil},
		{"/* a b=1 */ SELECT 1", nil},
		{"/* */ SELECT 1", nil},
		{"/* a=1 SELECT 1", nil},
		{"SELECT 1", nil},
		{"", nil},
		{"/* bad */ /* good=1 */", SqlTags{"good": "1"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.info), func(t *testing.T) {
			if got := ParseSqlTags(tt.info); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSqlTags(%q) = %v, want %v", tt.info, got, tt.want)
			}
		})
	}
}

func TestSqlTagsName(t *testing.T) {
	if got := (SqlTags{"p": "2342", "f": "abd"}).Name(); got != "f=abd,p=2342" {
		t.Fatalf("Name = %q", got)
	}
	if got := (SqlTags{}).Name(); got != "" {
		t.Fatalf("empty Name = %q", got)
	}
}

func TestParseTagCond(t *testing.T) {
	tests := []struct {
		in   string
		want TagCond
		ok   bool
	}{
		{"p=position", TagCond{Key: "p", Value: "position"}, true},
		{" p = position ", TagCond{Key: "p", Value: "position"}, true},
		{"p", TagCond{Key: "p", AnyValue: true}, true},
		{"p=", TagCond{}, false},
		{"", TagCond{}, false},
		{"=x", TagCond{}, false},
		{"a b", TagCond{}, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, ok := ParseTagCond(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseTagCond(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSqlTagStats(t *testing.T) {
	pc := SqlTags{"p": "position", "c": "idCard"}
	p := SqlTags{"p": "position"}
	q := SqlTags{"p": "other", "c": "idCard"}
	samples := []TagSample{{pc, 10}, {pc, 20}, {p, 5}, {q, 1}, {nil, 100}}
	cond := func(ss ...string) []TagCond {
		var out []TagCond
		for _, s := range ss {
			c, ok := ParseTagCond(s)
			if !ok {
				t.Fatalf("bad cond %q", s)
			}
			out = append(out, c)
		}
		return out
	}
	tests := []struct {
		name  string
		conds []TagCond
		want  []TagStat
	}{
		{"all tagged", nil, []TagStat{
			{Name: "c=idCard,p=position", Count: 2, TimeSum: 30, TimeAvg: 15},
			{Name: "p=position", Count: 1, TimeSum: 5, TimeAvg: 5},
			{Name: "c=idCard,p=other", Count: 1, TimeSum: 1, TimeAvg: 1},
		}},
		{"p=position", cond("p=position"), []TagStat{
			{Name: "c=idCard,p=position", Count: 2, TimeSum: 30, TimeAvg: 15},
			{Name: "p=position", Count: 1, TimeSum: 5, TimeAvg: 5},
		}},
		{"any p", cond("p"), []TagStat{
			{Name: "c=idCard,p=position", Count: 2, TimeSum: 30, TimeAvg: 15},
			{Name: "p=position", Count: 1, TimeSum: 5, TimeAvg: 5},
			{Name: "c=idCard,p=other", Count: 1, TimeSum: 1, TimeAvg: 1},
		}},
		{"both", cond("p=position", "c=idCard"), []TagStat{
			{Name: "c=idCard,p=position", Count: 2, TimeSum: 30, TimeAvg: 15},
		}},
		{"none", cond("zzz"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SqlTagStats(samples, tt.conds); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
