package gateway

import (
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestUnflatten(t *testing.T) {
	common := map[string]bool{"Action": true, "Version": true, "Signature": true, "Nonce": true}
	skip := func(k string) bool { return common[k] }
	tests := []struct {
		name  string
		query string
		want  map[string]any
	}{
		{"empty", "", map[string]any{}},
		{"brief example", "Name.0=a&Name.1=b&Parent.0.Field=x&Parent.0.Data.0=y&Limit=10", map[string]any{
			"Name":   []any{"a", "b"},
			"Parent": []any{map[string]any{"Field": "x", "Data": []any{"y"}}},
			"Limit":  "10",
		}},
		{"Go SDK example", "InstanceId=cdb-1&RecordHistory=true&StatDimensions.0.Data.0=p%3Dposition&StatDimensions.0.Dimension=SqlTag&Threads.0=11&Threads.1=22",
			map[string]any{
				"InstanceId":     "cdb-1",
				"RecordHistory":  "true",
				"StatDimensions": []any{map[string]any{"Data": []any{"p=position"}, "Dimension": "SqlTag"}},
				"Threads":        []any{"11", "22"},
			}},
		{"common params skipped, even repeated", "Action=X&Version=1&Signature=s&Signature=t&Nonce=1&Limit=5",
			map[string]any{"Limit": "5"}},
		{"list ordering is numeric, not lexical", "T.10=k&T.2=c&T.0=a&T.1=b&T.3=d&T.4=e&T.5=f&T.6=g&T.7=h&T.8=i&T.9=j",
			map[string]any{"T": []any{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}}},
		{"empty value", "Info=", map[string]any{"Info": ""}},
		{"nested object without list", "Filter.Name=n&Filter.Values.0=v", map[string]any{
			"Filter": map[string]any{"Name": "n", "Values": []any{"v"}},
		}},
		{"list of lists", "M.0.0=a&M.0.1=b&M.1.0=c", map[string]any{
			"M": []any{[]any{"a", "b"}, []any{"c"}},
		}},
		{"max depth 8", "A.0.B.0.C.0.D.0=x", map[string]any{
			"A": []any{map[string]any{"B": []any{map[string]any{"C": []any{map[string]any{"D": []any{"x"}}}}}}},
		}},
		{"numeric-looking names are fields", "A.x1=1&A.1x=2", map[string]any{"A": map[string]any{"x1": "1", "1x": "2"}}},
		{"special characters kept", "Info=select * from t where a='1'&Host=10.0.0.1", map[string]any{
			"Info": "select * from t where a='1'", "Host": "10.0.0.1",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unflatten(vals, skip)
			if err != nil {
				t.Fatalf("Unflatten(%q) error: %v", tc.query, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Unflatten(%q)\n got %#v\nwant %#v", tc.query, got, tc.want)
			}
		})
	}
}

func TestUnflattenIndexLimit(t *testing.T) {
	vals := url.Values{}
	for i := 0; i <= MaxFlattenIndex; i++ {
		vals.Set("T."+strconv.Itoa(i), strconv.Itoa(i))
	}
	got, err := Unflatten(vals, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := got["T"].([]any); len(l) != MaxFlattenIndex+1 || l[MaxFlattenIndex] != strconv.Itoa(MaxFlattenIndex) {
		t.Fatalf("list of %d", len(l))
	}
}

func TestUnflattenErrors(t *testing.T) {
	tests := []struct {
		name    string
		vals    url.Values
		wantKey string
	}{
		{"gap", url.Values{"Name.0": {"a"}, "Name.2": {"c"}}, "Name.2"},
		{"does not start at 0", url.Values{"Name.1": {"a"}}, "Name.1"},
		{"gap names smallest index beyond it", url.Values{"N.0": {"a"}, "N.5": {"b"}, "N.3": {"c"}}, "N.3"},
		{"nested gap", url.Values{"P.0.D.0": {"a"}, "P.0.D.2": {"b"}}, "P.0.D.2"},
		{"gap in outer list", url.Values{"P.0.F": {"a"}, "P.2.F": {"b"}}, "P.2"},
		{"non-numeric under list", url.Values{"Name.0": {"a"}, "Name.x": {"b"}}, "Name.x"},
		{"list and object mixed (list sorts first)", url.Values{"Name.a": {"a"}, "Name.0": {"b"}}, "Name.a"},
		{"list index under an object", url.Values{"Name.-": {"a"}, "Name.0": {"b"}}, "Name.0"},
		{"scalar then list", url.Values{"Name": {"a"}, "Name.0": {"b"}}, "Name.0"},
		{"scalar then object", url.Values{"Name": {"a"}, "Name.F": {"b"}}, "Name.F"},
		{"list element scalar and object", url.Values{"P.0": {"a"}, "P.0.F": {"b"}}, "P.0.F"},
		{"repeated key", url.Values{"Limit": {"1", "2"}}, "Limit"},
		{"key with no values", url.Values{"Limit": {}}, "Limit"},
		{"index above 1000", url.Values{"T.1001": {"x"}}, "T.1001"},
		{"huge index", url.Values{"T.99999999999999999999999": {"x"}}, "T.99999999999999999999999"},
		{"leading zero", url.Values{"T.00": {"x"}}, "T.00"},
		{"leading zero 01", url.Values{"T.0": {"a"}, "T.01": {"x"}}, "T.01"},
		{"too deep", url.Values{"A.0.B.0.C.0.D.0.E": {"x"}}, "A.0.B.0.C.0.D.0.E"},
		{"empty key", url.Values{"": {"x"}}, ""},
		{"empty leading segment", url.Values{".A": {"x"}}, ".A"},
		{"empty trailing segment", url.Values{"A.": {"x"}}, "A."},
		{"empty middle segment", url.Values{"A..0": {"x"}}, "A..0"},
		{"only dot", url.Values{".": {"x"}}, "."},
		{"numeric top-level name", url.Values{"0": {"x"}}, "0"},
		{"negative index is a field name, clashing with the list", url.Values{"T.0": {"a"}, "T.-1": {"b"}}, "T.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Unflatten(tc.vals, nil)
			if err == nil {
				t.Fatalf("Unflatten(%v) = %#v, want error", tc.vals, got)
			}
			var fe *FlattenError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFlattenedParam) {
				t.Fatalf("error %T %v is not a *FlattenError", err, err)
			}
			if fe.Key != tc.wantKey {
				t.Fatalf("error names key %q, want %q (%v)", fe.Key, tc.wantKey, err)
			}
			if !strings.Contains(err.Error(), "`"+tc.wantKey+"`") {
				t.Fatalf("message %q does not quote the key", err.Error())
			}
		})
	}
}

func TestUnflattenSkipBeforeChecks(t *testing.T) {
	// A skipped key is never inspected, whatever its shape.
	vals := url.Values{"Signature": {"a", "b"}, "X.": {"bad"}, "Ok": {"1"}}
	got, err := Unflatten(vals, func(k string) bool { return k == "Signature" || k == "X." })
	if err != nil || !reflect.DeepEqual(got, map[string]any{"Ok": "1"}) {
		t.Fatalf("got %#v, %v", got, err)
	}
}

func TestUnflattenDeterministicError(t *testing.T) {
	vals := url.Values{"B.1": {"x"}, "A.x": {"y"}, "A.0": {"z"}, "C": {"1", "2"}}
	var first string
	for i := range 50 {
		_, err := Unflatten(vals, nil)
		if err == nil {
			t.Fatal("want error")
		}
		if i == 0 {
			first = err.Error()
		} else if err.Error() != first {
			t.Fatalf("error changed between runs: %q vs %q", first, err.Error())
		}
	}
}

func BenchmarkUnflatten(b *testing.B) {
	vals, _ := url.ParseQuery("InstanceId=cdb-1&Product=mysql&Threads.0=11&Threads.1=22&Threads.2=33&StatDimensions.0.Data.0=p&StatDimensions.0.Dimension=SqlTag&Action=KillMySqlThreads&Version=2021-05-27")
	skip := func(k string) bool { return k == "Action" || k == "Version" }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unflatten(vals, skip); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzUnflatten(f *testing.F) {
	for _, s := range []string{
		"Name.0=a&Name.1=b&Parent.0.Field=x&Parent.0.Data.0=y&Limit=10",
		"A=1&A.0=2", "A.0=1&A.x=2", "A.1=x", "A..B=1", ".=1", "A.1001=1", "A.00=1",
		"A.0.B.0.C.0.D.0.E=1", "A=1&A=2", "0=1", "A.0.0.0=1&A.0.1.0=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		m, err := Unflatten(vals, func(k string) bool { return k == "Action" })
		if err != nil {
			var fe *FlattenError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FlattenError", err)
			}
			return
		}
		// Every non-skipped key's value must be reachable at its path.
		for k, vs := range vals {
			if k == "Action" {
				continue
			}
			var cur any = m
			for seg := range strings.SplitSeq(k, ".") {
				switch c := cur.(type) {
				case map[string]any:
					cur = c[seg]
				case []any:
					i, err := strconv.Atoi(seg)
					if err != nil || i < 0 || i >= len(c) {
						t.Fatalf("key %q: bad index %q", k, seg)
					}
					cur = c[i]
				default:
					t.Fatalf("key %q: walked into a %T", k, cur)
				}
			}
			if s, ok := cur.(string); !ok || s != vs[0] {
				t.Fatalf("key %q: got %#v want %q", k, cur, vs[0])
			}
		}
	})
}
