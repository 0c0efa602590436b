package actions

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"killgate/killtask"
)

func TestSqlType(t *testing.T) {
	tests := []struct {
		info string
		want string // "" = nil
	}{
		{"SELECT 1", "SQLSelectStatement"},
		{"  select sleep(1)", "SQLSelectStatement"},
		{"/* p = 2342 , f=abd */  select sleep(1000)", "SQLSelectStatement"},
		{"(SELECT 1) UNION (SELECT 2)", "SQLSelectStatement"},
		{"-- note\nUPDATE t SET a=1", "SQLUpdateStatement"},
		{"# note\ninsert into t values (1)", "SQLInsertStatement"},
		{"DELETE FROM t", "SQLDeleteStatement"},
		{"WITH x AS (SELECT 1) SELECT * FROM x", "SQLSelectStatement"},
		{"", ""},
		{"/* unterminated", ""},
		{"FROBNICATE", ""},
		{"123", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.info), func(t *testing.T) {
			got := SqlType(tt.info)
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("SqlType(%q) = %q, want nil", tt.info, *got)
			case tt.want != "" && (got == nil || *got != tt.want):
				t.Errorf("SqlType(%q) = %v, want %q", tt.info, got, tt.want)
			}
		})
	}
}

func TestProcessFilter(t *testing.T) {
	p := killtask.Process{ID: 42, User: "App", Host: "10.0.0.5:51234", DB: "Shop", Command: "Query", Time: 30, State: "Sending data", Info: "/* a=1 */ SELECT * FROM orders"}
	tests := []struct {
		name string
		f    processFilter
		want bool
	}{
		{"empty", processFilter{}, true},
		{"id", processFilter{id: 42}, true},
		{"other id", processFilter{id: 43}, false},
		{"user case-insensitive", processFilter{user: "app"}, true},
		{"user exact only", processFilter{user: "ap"}, false},
		{"host without port", processFilter{host: "10.0.0.5"}, true},
		{"host with port", processFilter{host: "10.0.0.5:51234"}, true},
		{"host other port", processFilter{host: "10.0.0.5:1"}, false},
		{"host prefix is not a match", processFilter{host: "10.0.0"}, false},
		{"db", processFilter{db: "shop"}, true},
		{"db other", processFilter{db: "shop2"}, false},
		{"command", processFilter{command: "query"}, true},
		{"command other", processFilter{command: "Sleep"}, false},
		{"time equal", processFilter{minTime: 30}, true},
		{"time above", processFilter{minTime: 31}, false},
		{"state substring", processFilter{state: "SENDING"}, true},
		{"state other", processFilter{state: "sorting"}, false},
		{"info substring", processFilter{info: "from ORDERS"}, true},
		{"info other", processFilter{info: "from users"}, false},
		{"all", processFilter{id: 42, user: "app", host: "10.0.0.5", db: "shop", command: "query", minTime: 1, state: "data", info: "select"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.match(&p); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKillMySqlThreadsValidate(t *testing.T) {
	tests := []struct {
		name string
		r    KillMySqlThreadsRequest
		code Code
		ids  []int64
	}{
		{"prepare", KillMySqlThreadsRequest{Stage: "Prepare", Threads: []int64{5, 3, 5}}, "", []int64{5, 3}},
		{"prepare no threads", KillMySqlThreadsRequest{Stage: "Prepare"}, MissingParameter, nil},
		{"prepare empty threads", KillMySqlThreadsRequest{Stage: "Prepare", Threads: []int64{}}, InvalidParameterValue, nil},
		{"prepare zero id", KillMySqlThreadsRequest{Stage: "Prepare", Threads: []int64{0}}, InvalidParameterValue, nil},
		{"prepare negative id", KillMySqlThreadsRequest{Stage: "Prepare", Threads: []int64{-4}}, InvalidParameterValue, nil},
		{"prepare 101", KillMySqlThreadsRequest{Stage: "Prepare", Threads: seq(101)}, InvalidParameterValue, nil},
		{"prepare 100 + duplicates", KillMySqlThreadsRequest{Stage: "Prepare", Threads: append(seq(100), 1, 2)}, "", seq(100)},
		{"prepare with SqlExecId", KillMySqlThreadsRequest{Stage: "Prepare", Threads: []int64{1}, SqlExecId: "x"}, InvalidParameterValue, nil},
		{"commit", KillMySqlThreadsRequest{Stage: "Commit", SqlExecId: "x"}, "", nil},
		{"commit no id", KillMySqlThreadsRequest{Stage: "Commit"}, MissingParameter, nil},
		{"commit with threads", KillMySqlThreadsRequest{Stage: "Commit", SqlExecId: "x", Threads: []int64{1}}, InvalidParameterValue, nil},
		{"empty stage", KillMySqlThreadsRequest{}, MissingParameter, nil},
		{"bad stage", KillMySqlThreadsRequest{Stage: "prepare"}, InvalidParameterValue, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if got := CodeOf(err); got != tt.code {
				t.Fatalf("code %q, want %q (%v)", got, tt.code, err)
			}
			if tt.ids != nil && !slices.Equal(tt.r.Threads, tt.ids) {
				t.Errorf("threads %v, want %v", tt.r.Threads, tt.ids)
			}
		})
	}
}

func seq(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

func TestSqlExecID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := sqlExecID()
		if len(id) != 12 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestParseAPITime(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		in   string
		end  bool
		want time.Time
		bad  bool
	}{
		{"", false, time.Time{}, false},
		{"2024-05-01T08:00:00+08:00", false, utc("2024-05-01T00:00:00Z"), false},
		{"2024-05-01T00:00:00Z", false, utc("2024-05-01T00:00:00Z"), false},
		{"2024-05-01 00:00:00", false, utc("2024-05-01T00:00:00Z"), false},
		{"2024-05-01 00:00:00", true, utc("2024-05-01T00:00:01Z"), false},
		{"2024-05-01T00:00:00.5Z", true, utc("2024-05-01T00:00:00.501Z"), false},
		{"yesterday", false, time.Time{}, true},
		{"2024-05-01", false, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/end=%v", tt.in, tt.end), func(t *testing.T) {
			got, err := parseAPITime("T", tt.in, tt.end)
			if (err != nil) != tt.bad || !got.Equal(tt.want) {
				t.Errorf("parseAPITime(%q, %v) = %v, %v; want %v (bad %v)", tt.in, tt.end, got, err, tt.want, tt.bad)
			}
		})
	}
}

func TestFormatTime(t *testing.T) {
	in := time.Date(2020, 9, 22, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	if got := formatTime(in); got != "2020-09-22T00:00:00+00:00" {
		t.Fatalf("formatTime = %q", got)
	}
}

func TestRequestsValidate(t *testing.T) {
	lim := func(n int64) *int64 { return &n }
	ulim := func(n uint64) *uint64 { return &n }
	tests := []struct {
		name string
		v    Validator
		code Code
	}{
		{"tasks ok", &DescribeKillTasksRequest{Status: "Running", Limit: lim(100)}, ""},
		{"tasks bad status", &DescribeKillTasksRequest{Status: "running"}, InvalidParameterValue},
		{"tasks limit 0", &DescribeKillTasksRequest{Limit: lim(0)}, InvalidParameterValue},
		{"tasks limit 101", &DescribeKillTasksRequest{Limit: lim(101)}, InvalidParameterValue},
		{"tasks negative offset", &DescribeKillTasksRequest{Offset: -1}, InvalidParameterValue},
		{"records ok", &DescribeKillRecordsRequest{Source: "manual", StartTime: "2024-01-01 00:00:00", EndTime: "2024-01-01 00:00:00"}, ""},
		{"records bad source", &DescribeKillRecordsRequest{Source: "cron"}, InvalidParameterValue},
		{"records reversed", &DescribeKillRecordsRequest{StartTime: "2024-01-02 00:00:00", EndTime: "2024-01-01 00:00:00"}, InvalidParameterValue},
		{"records bad time", &DescribeKillRecordsRequest{EndTime: "soon"}, InvalidParameterValue},
		{"process ok", &DescribeMySqlProcessListRequest{Limit: ulim(10000), StatDimensions: []StatDimension{{Dimension: "SqlTag", Data: []string{"p", "c=1"}}}}, ""},
		{"process limit 0", &DescribeMySqlProcessListRequest{Limit: ulim(0)}, InvalidParameterValue},
		{"process limit big", &DescribeMySqlProcessListRequest{Limit: ulim(10001)}, InvalidParameterValue},
		{"process bad dimension", &DescribeMySqlProcessListRequest{StatDimensions: []StatDimension{{Dimension: "User"}}}, InvalidParameterValue},
		{"process bad data", &DescribeMySqlProcessListRequest{StatDimensions: []StatDimension{{Dimension: "SqlTag", Data: []string{"p="}}}}, InvalidParameterValue},
		{"preview info+infos", &PreviewKillTaskRequest{TaskFilter: TaskFilter{Info: "a", Infos: []string{"b"}}}, InvalidParameterValue},
		{"preview host port", &PreviewKillTaskRequest{TaskFilter: TaskFilter{Host: "1.2.3.4:5"}}, InvalidParameterValue},
		{"diag ok", &DescribeDiagDBInstancesRequest{Product: "mariadb"}, ""},
		{"diag bad product", &DescribeDiagDBInstancesRequest{Product: "redis"}, InvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.v.Validate()); got != tt.code {
				t.Errorf("code %q, want %q", got, tt.code)
			}
		})
	}
}
