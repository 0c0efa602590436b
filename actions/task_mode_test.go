package actions

import (
	"strings"
	"testing"

	"killgate/killtask"
)

// TestTaskExtensionsDecode: the issue-16 parameters of CreateKillTask and
// PreviewKillTask decode and validate with Tencent's error codes; anything
// else stays UnknownParameter.
func TestTaskExtensionsDecode(t *testing.T) {
	s := &Service{}
	reg := NewRegistry(s.Actions())
	tests := []struct {
		name  string
		json  string // parameters beside InstanceId (and Duration)
		code  Code
		names string // the parameter the error message must name
	}{
		{"none", ``, "", ""},
		{"kill mode query", `"KillMode":"QUERY"`, "", ""},
		{"kill mode lower case", `"KillMode":"query"`, "", ""},
		{"kill mode connection", `"KillMode":"Connection"`, "", ""},
		{"kill mode empty", `"KillMode":""`, "", ""},
		{"kill mode observe is a separate flag", `"KillMode":"OBSERVE"`, InvalidParameterValue, "KillMode"},
		{"kill mode number", `"KillMode":1`, InvalidParameter, "KillMode"},
		{"observe", `"Observe":true`, "", ""},
		{"observe string", `"Observe":"false"`, "", ""},
		{"observe yes", `"Observe":"yes"`, InvalidParameter, "Observe"},
		{"observe number", `"Observe":1`, InvalidParameter, "Observe"},
		{"trx time", `"TrxTime":60,"Command":"Sleep"`, "", ""},
		{"trx time string", `"TrxTime":"60"`, "", ""},
		{"trx time negative", `"TrxTime":-1`, InvalidParameterValue, "TrxTime"},
		{"trx time text", `"TrxTime":"a minute"`, InvalidParameter, "TrxTime"},
		{"trx time fraction", `"TrxTime":1.5`, InvalidParameter, "TrxTime"},
		{"blocking", `"BlockingCount":10,"BlockingTime":30`, "", ""},
		{"blocking time alone", `"BlockingTime":30`, "", ""},
		{"blocking count negative", `"BlockingCount":-1`, InvalidParameterValue, "BlockingCount"},
		{"time huge", `"Time":9223372036854775807`, InvalidParameterValue, "Time"},
		{"time past ten years", `"Time":315360001`, InvalidParameterValue, "Time"},
		{"time ten years", `"Time":315360000`, "", ""},
		{"trx time huge", `"TrxTime":9223372036`, InvalidParameterValue, "TrxTime"},
		{"blocking time huge", `"BlockingTime":18446744074`, InvalidParameterValue, "BlockingTime"},
		{"blocking count huge", `"BlockingCount":9223372036854775807`, InvalidParameterValue, "BlockingCount"},
		{"blocking time negative", `"BlockingTime":-2`, InvalidParameterValue, "BlockingTime"},
		{"blocking count list", `"BlockingCount":[1]`, InvalidParameter, "BlockingCount"},
		{"unknown stays strict", `"KillModes":"QUERY"`, UnknownParameter, "KillModes"},
		{"unknown lower case", `"observe":true`, UnknownParameter, "observe"},
	}
	for _, action := range []string{"CreateKillTask", "PreviewKillTask"} {
		a, ok := reg.Lookup(action)
		if !ok {
			t.Fatalf("%s not registered", action)
		}
		for _, tt := range tests {
			t.Run(action+"/"+tt.name, func(t *testing.T) {
				body := `{"InstanceId":"cdb-1"`
				if action == "CreateKillTask" {
					body += `,"Duration":600`
				}
				if tt.json != "" {
					body += "," + tt.json
				}
				m, err := ParseJSON([]byte(body + "}"))
				if err != nil {
					t.Fatal(err)
				}
				_, err = a.decode(m)
				if got := CodeOf(err); got != tt.code {
					t.Fatalf("code %q (%v), want %q", got, err, tt.code)
				}
				if tt.names != "" && !strings.Contains(err.Error(), "`"+tt.names+"`") {
					t.Fatalf("the message must name `%s`: %v", tt.names, err)
				}
			})
		}
	}
}

// TestTaskExtensionsMapping: decoded extensions reach the engine's task,
// and listings show them back with the API's names.
func TestTaskExtensionsMapping(t *testing.T) {
	r := &CreateKillTaskRequest{InstanceId: "cdb-1", Duration: 60,
		TaskFilter: TaskFilter{User: "app", Command: "Sleep", TrxTime: 60, BlockingTime: 30},
		TaskMode:   TaskMode{KillMode: "query", Observe: true}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	f := r.Filter()
	if f.MinTrxTime != 60 || f.MinBlocked != 1 || f.MinBlockTime != 30 || r.mode() != killtask.KillQuery {
		t.Fatalf("filter %+v mode %q", f, r.mode())
	}
	if got, want := filterSummary(f), "Command=Sleep User=app TrxTime=60 BlockingCount=1 BlockingTime=30"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got := filterSummary(killtask.Filter{}); got != "" {
		t.Errorf("empty filter summary %q", got)
	}
	if got, want := filterSummary(killtask.Filter{Infos: []string{"select", `a "b"`}, Host: "10.0.0.1"}), `Host=10.0.0.1 Infos=["select","a \"b\""]`; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	ti := taskInfo(&killtask.Task{ID: "kt-1", Filter: f, Mode: killtask.KillQuery, Observe: true, Observed: 3, Kills: 0})
	if ti.KillMode != "QUERY" || !ti.Observe || ti.ObserveCount != 3 || ti.TrxTime != 60 || ti.BlockingCount != 1 || ti.BlockingTime != 30 {
		t.Errorf("task info %+v", ti)
	}
	// A task stored before modes shows CONNECTION.
	if ti := taskInfo(&killtask.Task{ID: "kt-2"}); ti.KillMode != "CONNECTION" || ti.Observe {
		t.Errorf("old task info %+v", ti)
	}
}
