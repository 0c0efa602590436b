package actions

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Request shapes for the embedded-struct tests.
type embInner struct {
	A string `json:"A" kg:"required"`
	B int64  `json:"B"`
}

type embOuter struct {
	ID string `json:"ID" kg:"required"`
	embInner
	C string `json:"C"`
}

type embShadow struct {
	embInner
	A string `json:"A"` // declared here: wins over embInner.A (not required)
}

type embTwice struct {
	embInner
	Other embInnerCopy
}

type embInnerCopy struct {
	embInner
}

// TestDecodeEmbedded: the fields of an embedded struct are top-level
// parameters, and UnknownParameter / MissingParameter / type errors behave
// exactly as for fields declared in the request itself.
func TestDecodeEmbedded(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		code    Code
		msg     string // a text the message must contain
		want    embOuter
		nothing bool // no check of the decoded value
	}{
		{name: "flat-names", in: `{"ID":"x","A":"a","B":7,"C":"c"}`, want: embOuter{ID: "x", embInner: embInner{A: "a", B: 7}, C: "c"}},
		{name: "optional-embedded-absent", in: `{"ID":"x","A":"a"}`, want: embOuter{ID: "x", embInner: embInner{A: "a"}}},
		{name: "number-as-string", in: `{"ID":"x","A":"a","B":"7"}`, want: embOuter{ID: "x", embInner: embInner{A: "a", B: 7}}},
		{name: "null-is-absent", in: `{"ID":"x","A":"a","B":null}`, want: embOuter{ID: "x", embInner: embInner{A: "a"}}},
		{name: "unknown", in: `{"ID":"x","A":"a","Zed":1}`, code: UnknownParameter, msg: "`Zed`", nothing: true},
		{name: "unknown-first-sorted", in: `{"ID":"x","A":"a","Zed":1,"Yak":2}`, code: UnknownParameter, msg: "`Yak`", nothing: true},
		{name: "embedded-type-name-is-no-parameter", in: `{"ID":"x","embInner":{"A":"a"}}`, code: UnknownParameter, msg: "`embInner`", nothing: true},
		{name: "missing-outer-first", in: `{}`, code: MissingParameter, msg: "`ID`", nothing: true},
		{name: "missing-embedded", in: `{"ID":"x"}`, code: MissingParameter, msg: "`A`", nothing: true},
		{name: "embedded-type-error", in: `{"ID":"x","A":"a","B":"seven"}`, code: InvalidParameter, msg: "Parameter `B` type error", nothing: true},
		{name: "embedded-wrong-kind", in: `{"ID":"x","A":5}`, code: InvalidParameter, msg: "Parameter `A` type error: expected string", nothing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseJSON([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got embOuter
			err = Decode(m, &got)
			if CodeOf(err) != tt.code || (tt.msg != "" && !strings.Contains(err.Error(), tt.msg)) {
				t.Fatalf("error %v, want code %q with %q", err, tt.code, tt.msg)
			}
			if !tt.nothing && got != tt.want {
				t.Fatalf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDecodeEmbeddedShadowAndOrder: a field declared in the request wins
// over an embedded one of the same wire name; fields keep declaration order
// (so the first missing required parameter reported does not move); an
// embedded struct that repeats a wire name is refused when listed.
func TestDecodeEmbeddedShadowAndOrder(t *testing.T) {
	t.Run("own-field-wins", func(t *testing.T) {
		var got embShadow
		if err := Decode(map[string]any{"A": "mine"}, &got); err != nil { // embInner.A was required: no longer
			t.Fatal(err)
		}
		if got.A != "mine" || got.embInner.A != "" {
			t.Fatalf("decoded %+v", got)
		}
	})
	t.Run("declaration-order", func(t *testing.T) {
		var names []string
		for _, f := range collectFields(reflect.TypeFor[embOuter](), nil) {
			names = append(names, f.name)
		}
		if want := []string{"ID", "A", "B", "C"}; !slices.Equal(names, want) {
			t.Fatalf("fields %v, want %v", names, want)
		}
	})
	t.Run("nested-struct-field-is-an-object", func(t *testing.T) {
		var names []string
		for _, f := range collectFields(reflect.TypeFor[embTwice](), nil) {
			names = append(names, f.name)
		}
		if want := []string{"A", "B"}; !slices.Equal(names, want) { // Other has no json tag: not a parameter
			t.Fatalf("fields %v, want %v", names, want)
		}
	})
	t.Run("embedded-twice-panics", func(t *testing.T) {
		type twice struct {
			embInner
			embInnerCopy
		}
		defer func() {
			if recover() == nil {
				t.Fatal("a wire name embedded twice was accepted")
			}
		}()
		collectFields(reflect.TypeFor[twice](), nil)
	})
}

// TestTaskFilterWire: the requests that embed TaskFilter have the same flat
// parameters as before plus killgate's extensions (issue 16), and
// DescribeKillTasks renders a task with the same JSON field names and order,
// the extensions after their group.
func TestTaskFilterWire(t *testing.T) {
	filter := []string{"Host", "DB", "Command", "Info", "Infos", "User", "Time",
		"TrxTime", "BlockingCount", "BlockingTime", "KillMode", "Observe"}
	s := &Service{}
	for _, tt := range []struct {
		action   string
		required []string
		optional []string
	}{
		{"CreateKillTask", []string{"InstanceId", "Duration"}, append(slices.Clone(filter), "Product")},
		{"PreviewKillTask", []string{"InstanceId"}, append(slices.Clone(filter), "Product")},
	} {
		t.Run(tt.action, func(t *testing.T) {
			a, ok := NewRegistry(s.Actions()).Lookup(tt.action)
			if !ok {
				t.Fatal("not registered")
			}
			want := map[string]bool{}
			for _, p := range tt.required {
				want[p] = true
			}
			for _, p := range tt.optional {
				want[p] = false
			}
			if got := a.Params(); !maps.Equal(got, want) {
				t.Fatalf("params %v, want %v", got, want)
			}
		})
	}
	t.Run("KillTaskInfo-json", func(t *testing.T) {
		ti := KillTaskInfo{TaskId: "kt-1", InstanceId: "cdb-1", Product: "mysql",
			TaskFilter: TaskFilter{Host: "10.0.0.5", DB: "a,b", Command: "Query", Info: "select", Infos: []string{"select"}, User: "app", Time: 5},
			Duration:   60, Status: "Running", CreateTime: "t"}
		b, err := json.Marshal(ti)
		if err != nil {
			t.Fatal(err)
		}
		const want = `{"TaskId":"kt-1","InstanceId":"cdb-1","Product":"mysql","Host":"10.0.0.5","DB":"a,b","Command":"Query",` +
			`"Info":"select","Infos":["select"],"User":"app","Time":5,"TrxTime":0,"BlockingCount":0,"BlockingTime":0,` +
			`"Duration":60,"Status":"Running","CreateTime":"t",` +
			`"KillCount":0,"LastError":"","Creator":"","KillMode":"","Observe":false,"ObserveCount":0}`
		if string(b) != want {
			t.Fatalf("JSON\n%s\nwant\n%s", b, want)
		}
		if est := ti.size(); est < len(b) {
			t.Fatalf("size estimate %d below the JSON's %d bytes", est, len(b))
		}
	})
}
