package actions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"killgate/killtask"
)

// TestNumberSyntax: numbers sent as strings must be JSON numbers; the Go
// literal forms strconv also parses ("0x1p4", "1_0", "+5") are type
// errors, as "0x10" always was (issue 12 item 5).
func TestNumberSyntax(t *testing.T) {
	type req struct {
		I int64   `json:"I"`
		U uint64  `json:"U"`
		F float64 `json:"F"`
	}
	tests := []struct {
		name  string
		field string
		value any
		code  Code
	}{
		{"int string", "I", "20", ""},
		{"int string blanks", "I", " 20 ", ""},
		{"int exact float string", "I", "5.0", ""},
		{"int exponent string", "I", "1e3", ""},
		{"int negative string", "I", "-1", ""},
		{"int hex float", "I", "0x1p4", InvalidParameter},
		{"int underscore", "I", "1_0", InvalidParameter},
		{"int hex", "I", "0x10", InvalidParameter},
		{"int plus", "I", "+5", InvalidParameter},
		{"int leading zero", "I", "010", InvalidParameter},
		{"int dot first", "I", ".5e1", InvalidParameter},
		{"int dot last", "I", "5.", InvalidParameter},
		{"int inf", "I", "Inf", InvalidParameter},
		{"int empty", "I", "", InvalidParameter},
		{"uint string", "U", "7", ""},
		{"uint hex float", "U", "0x1p4", InvalidParameter},
		{"uint underscore", "U", "1_0", InvalidParameter},
		{"uint negative", "U", "-3", InvalidParameterValue},
		{"float string", "F", "2.5", ""},
		{"float hex float", "F", "0x1p-2", InvalidParameter},
		{"float underscore", "F", "1_000.5", InvalidParameter},
		{"float infinity", "F", "Infinity", InvalidParameter},
		{"float nan", "F", "NaN", InvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r req
			err := Decode(map[string]any{tt.field: tt.value}, &r)
			if got := CodeOf(err); got != tt.code {
				t.Fatalf("Decode(%s=%q): code %q (%v), want %q", tt.field, tt.value, got, err, tt.code)
			}
		})
	}
	var r req
	if err := Decode(map[string]any{"I": "0x1p4"}, &r); err == nil || !strings.Contains(err.Error(), "`I`") {
		t.Fatalf("the error must name the parameter: %v", err)
	}
}

// TestListingHelpers: cutText cuts at a UTF-8 boundary with the marker;
// jsonStringLen is never below what the gateway's encoder writes; a
// processlist of many long statements stops at the byte budget.
func TestListingHelpers(t *testing.T) {
	long := strings.Repeat("é", ListTextMax) // 2 bytes each
	for _, tt := range []struct {
		name, in string
		want     string
	}{
		{"short", "select 1", "select 1"},
		{"at limit", strings.Repeat("x", ListTextMax), strings.Repeat("x", ListTextMax)},
		{"over", strings.Repeat("x", ListTextMax+1), strings.Repeat("x", ListTextMax) + "…[truncated, 4097 bytes]"},
		{"multibyte boundary", "x" + long, "x" + strings.Repeat("é", ListTextMax/2-1) + "…[truncated, 8193 bytes]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := cutText(tt.in); got != tt.want {
				t.Errorf("cutText = %q… (%d bytes), want %d bytes", got[:min(len(got), 20)], len(got), len(tt.want))
			}
		})
	}
	if got := cutTextOf(strings.Repeat("x", ListTextMax+1), 1<<20); got != strings.Repeat("x", ListTextMax)+"…[truncated, 1048576 bytes]" {
		t.Errorf("cutTextOf with a longer full text: %q", got[ListTextMax:])
	}
	for _, s := range []string{"", "plain", "quote\" back\\slash", "ctl\x00\x01\n\t\x1f", "bad\xff\xfe utf8", "sep\u2028\u2029", "é✓🙂", "<html>&"} {
		t.Run(fmt.Sprintf("jsonStringLen/%q", s), func(t *testing.T) {
			b, err := jsonMarshalNoHTML(s)
			if err != nil {
				t.Fatal(err)
			}
			if n := jsonStringLen(s); n < len(b) {
				t.Errorf("jsonStringLen(%q) = %d < encoded %d (%s)", s, n, len(b), b)
			}
		})
	}
	ps := make([]killtask.Process, 3000)
	for i := range ps {
		ps[i] = killtask.Process{ID: uint64(i + 1), User: "app", Host: "10.0.0.5:5000", Command: "Query", Info: "SELECT '" + strings.Repeat("\n", 8000) + "'"}
	}
	out := toMySqlProcesses(ps)
	b, err := jsonMarshalNoHTML(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 || len(out) == len(ps) || len(b) > ListByteBudget {
		t.Fatalf("%d of %d sessions listed in %d bytes (budget %d)", len(out), len(ps), len(b), ListByteBudget)
	}
	if out[0].ID != "1" || out[len(out)-1].ID != strconv.Itoa(len(out)) {
		t.Fatalf("not the first sessions in order: %s … %s", out[0].ID, out[len(out)-1].ID)
	}
}

func jsonMarshalNoHTML(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return bytes.TrimRight(b.Bytes(), "\n"), err
}

// TestHostFilterIPv6: a Host filter is an address; a bare IPv6 address is
// never read as address:port, and "[v6]:port" is the only IPv6 form with a
// port (issue 12 item 5).
func TestHostFilterIPv6(t *testing.T) {
	tests := []struct {
		host string
		code Code
		want string // stored Host when accepted
	}{
		{"2001:db8::8a2e:370", "", "2001:db8::8a2e:370"},
		{"::1", "", "::1"},
		{"fe80::1", "", "fe80::1"},
		{"2001:db8::1:5000", "", "2001:db8::1:5000"},
		{"::ffff:10.0.0.5", "", "::ffff:10.0.0.5"},
		{"[2001:db8::8a2e:370]", "", "2001:db8::8a2e:370"},
		{" 10.0.0.5 ", "", "10.0.0.5"},
		{"app-1.example.com", "", "app-1.example.com"},
		{"localhost", "", "localhost"},
		{"[2001:db8::8a2e:370]:5000", InvalidParameterValue, ""},
		{"10.0.0.5:5000", InvalidParameterValue, ""},
		{"db.example.com:3306", InvalidParameterValue, ""},
		{"[10.0.0.5]", InvalidParameterValue, ""},
		{"[::1", InvalidParameterValue, ""},
		{"[::1]x", InvalidParameterValue, ""},
		{"2001:db8:::1", InvalidParameterValue, ""},
		{"a:b:c", InvalidParameterValue, ""},
		{"host:", InvalidParameterValue, ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			for _, v := range []Validator{
				&CreateKillTaskRequest{InstanceId: "i", Duration: 60, TaskFilter: TaskFilter{Host: tt.host}},
				&PreviewKillTaskRequest{InstanceId: "i", TaskFilter: TaskFilter{Host: tt.host}},
			} {
				if got := CodeOf(v.Validate()); got != tt.code {
					t.Fatalf("%T Host %q: code %q, want %q", v, tt.host, got, tt.code)
				}
			}
			if tt.code == "" {
				if f := (&TaskFilter{Host: tt.host}).Filter(); f.Host != tt.want {
					t.Fatalf("stored Host %q, want %q", f.Host, tt.want)
				}
			}
		})
	}
	// The same rule on DescribeMySqlProcessList's Host (which may carry a
	// port, then compared with the whole HOST column).
	p := killtask.Process{ID: 1, User: "app", Host: "2001:db8::8a2e:370:51234"}
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"2001:db8::8a2e:370", true},
		{"[2001:db8::8a2e:370]", true},
		{"[2001:db8::8a2e:370]:51234", true},
		{"[2001:db8::8a2e:370]:1", false},
		{"2001:db8::8a2e", false},
	} {
		t.Run("processlist/"+tt.host, func(t *testing.T) {
			r := &DescribeMySqlProcessListRequest{InstanceId: "i", Host: tt.host}
			if err := r.Validate(); err != nil {
				t.Fatalf("DescribeMySqlProcessList Host %q: %v", tt.host, err)
			}
			if got := (&processFilter{host: tt.host}).match(&p); got != tt.want {
				t.Errorf("processlist Host %q on %q: match %v, want %v", tt.host, p.Host, got, tt.want)
			}
		})
	}
}

// TestFilterLimits: filters beyond the documented limits are refused with
// InvalidParameterValue naming the parameter and the limit; filters at the
// limits pass (issue 12 item 4).
func TestFilterLimits(t *testing.T) {
	rep := strings.Repeat
	list := func(n int, item string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = item
		}
		return strings.Join(items, ",")
	}
	infos := func(n, size int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "select " + rep("x", size-len("select "))
		}
		return out
	}
	tests := []struct {
		name string
		f    TaskFilter
		want string // "" = accepted; else a text the message must contain
	}{
		{"host at limit", TaskFilter{Host: rep("h", MaxFilterHostBytes)}, ""},
		{"host over", TaskFilter{Host: rep("h", MaxFilterHostBytes+1)}, "`Host` is 256 bytes; at most 255"},
		{"user at limit", TaskFilter{User: rep("ü", MaxFilterUserChars)}, ""},
		{"user over", TaskFilter{User: rep("u", MaxFilterUserChars+1)}, "`User` is 81 characters; at most 80"},
		{"db items at limit", TaskFilter{DB: list(MaxFilterDBItems, "shop")}, ""},
		{"db items over", TaskFilter{DB: list(MaxFilterDBItems+1, "shop")}, "`DB` lists 33 databases; at most 32"},
		{"db name over", TaskFilter{DB: "a," + rep("d", MaxFilterDBChars+1)}, "`DB` is 65 characters; at most 64"},
		{"command items over", TaskFilter{Command: list(MaxFilterCommandItems+1, "Query")}, "`Command` lists 41 commands; at most 40"},
		{"command name over", TaskFilter{Command: rep("c", MaxFilterCommandBytes+1)}, "`Command` is 33 bytes; at most 32"},
		{"info at limit", TaskFilter{Info: rep("i", MaxFilterInfoBytes)}, ""},
		{"info over", TaskFilter{Info: rep("i", MaxFilterInfoBytes+1)}, "`Info` is 1025 bytes; at most 1024"},
		{"infos count at limit", TaskFilter{Infos: infos(MaxFilterInfos, 10)}, ""},
		{"infos count over", TaskFilter{Infos: infos(MaxFilterInfos+1, 10)}, "`Infos` has 21 items; at most 20"},
		{"infos item over", TaskFilter{Infos: infos(2, MaxFilterInfoBytes+1)}, "`Infos.0` is 1025 bytes; at most 1024"},
		{"whole filter at limit", TaskFilter{Infos: infos(4, MaxFilterBytes/4)}, ""},
		{"whole filter over", TaskFilter{User: "u", Infos: infos(4, MaxFilterBytes/4)}, "total 4097 bytes; at most 4096"},
		{"the 100 x 64 KB of the report", TaskFilter{Infos: infos(100, 64<<10)}, "`Infos` has 100 items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := CreateKillTaskRequest{InstanceId: "cdb-1", Duration: 60, TaskFilter: tt.f}
			err := r.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			} else if CodeOf(err) != InvalidParameterValue || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want InvalidParameterValue with %q", err, tt.want)
			}
			// PreviewKillTask applies the same limits.
			p := PreviewKillTaskRequest{InstanceId: "cdb-1", TaskFilter: tt.f}
			if got, want := CodeOf(p.Validate()), CodeOf(err); got != want {
				t.Fatalf("PreviewKillTask: code %q, CreateKillTask %q", got, want)
			}
		})
	}
}
