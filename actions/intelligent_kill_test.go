package actions

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"killgate/killtask"
)

func intelligentService(t *testing.T) *Service {
	t.Helper()
	ctx := context.Background()
	st, err := killtask.OpenStore(ctx, killtask.StoreConfig{DSN: filepath.Join(t.TempDir(), "kg.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dsn := os.Getenv("KILLGATE_TEST_MYSQL")
	if dsn == "" {
		dsn = "root:@tcp(127.0.0.1:3306)/"
	}
	// Nothing on the shared server is ever in scope: these tests must not kill.
	nothing := killtask.WithScope(func(*killtask.Process) bool { return false })
	eng, err := killtask.NewEngine(killtask.DefaultConfig(), st, []killtask.InstanceConfig{
		{ID: "single", Product: "mysql", DSN: dsn},
		{ID: "multi", Product: "cynosdb", Nodes: []killtask.NodeConfig{{ID: "n1", DSN: dsn}, {ID: "n2", DSN: dsn}}},
	}, zap.NewNop(), nothing)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return NewService(eng, zap.NewNop())
}

func TestIntelligentNodeResolution(t *testing.T) {
	s := intelligentService(t)
	ctx := context.Background()
	cases := []struct {
		inst, node string
		code       Code
		cause      error
	}{
		{"single", "single", "", nil},
		{"multi", "n1", "", nil},
		{"multi", "n2", "", nil},
		{"", "n1", MissingParameter, nil},
		{"multi", "", MissingParameter, nil},
		{"nope", "n1", ResourceNotFound, killtask.ErrUnknownInstance},
		{"multi", "n3", ResourceNotFound, killtask.ErrUnknownNode},
		{"multi", "single", ResourceNotFound, killtask.ErrUnknownNode}, // node of another instance
		{"single", "n1", ResourceNotFound, killtask.ErrUnknownNode},
	}
	for _, c := range cases {
		t.Run(c.inst+"/"+c.node, func(t *testing.T) {
			_, err := s.IntelligentNode(ctx, c.inst, c.node)
			if CodeOf(err) != c.code || (c.cause != nil && !errors.Is(err, c.cause)) {
				t.Errorf("%v, want %s %v", err, c.code, c.cause)
			}
		})
	}
	scoped := WithCaller(ctx, Caller{ID: "x", Instances: []string{"single"}})
	if _, err := s.IntelligentNode(scoped, "multi", "n1"); CodeOf(err) != UnauthorizedOperation {
		t.Fatalf("scoped caller: %v", err)
	}
}

func TestIntelligentHistoryValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		r    IntelligentHistoryRequest
		okay bool
	}{
		{"smallest-range", IntelligentHistoryRequest{StartMS: 0, EndMS: 1}, true},
		{"full-page", IntelligentHistoryRequest{StartMS: 0, EndMS: 1, Limit: 100, Offset: 5}, true},
		{"negative-start", IntelligentHistoryRequest{StartMS: -1, EndMS: 1}, false},
		{"zero-end", IntelligentHistoryRequest{StartMS: 0, EndMS: 0}, false},
		{"empty-range", IntelligentHistoryRequest{StartMS: 5, EndMS: 5}, false},
		{"reversed-range", IntelligentHistoryRequest{StartMS: 6, EndMS: 5}, false},
		{"limit-101", IntelligentHistoryRequest{StartMS: 0, EndMS: 1, Limit: 101}, false},
		{"negative-limit", IntelligentHistoryRequest{StartMS: 0, EndMS: 1, Limit: -1}, false},
		{"negative-offset", IntelligentHistoryRequest{StartMS: 0, EndMS: 1, Offset: -1}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.r.Validate()
			if (err == nil) != c.okay || (err != nil && CodeOf(err) != InvalidParameterValue) {
				t.Errorf("%+v: %v", c.r, err)
			}
		})
	}
}

// With nothing in scope, an intelligent kill still records a task with no
// groups, which the history and the task lookup then show.
func TestIntelligentExecuteEmptyAndHistory(t *testing.T) {
	s := intelligentService(t)
	ctx := WithCaller(context.Background(), Caller{ID: "HWAK"})
	stat, err := s.IntelligentKillStatistic(ctx, &IntelligentNodeRequest{InstanceID: "multi", NodeID: "n2"})
	if err != nil || len(stat.Groups) != 0 {
		t.Fatalf("statistic %v %+v", err, stat)
	}
	before := time.Now().Add(-time.Second)
	res, err := s.ExecuteIntelligentKill(ctx, &IntelligentNodeRequest{InstanceID: "multi", NodeID: "n2"})
	if err != nil || res.TaskID == "" || len(res.Groups) != 0 || len(res.Result) != 0 {
		t.Fatalf("execute %v %+v", err, res)
	}
	after := time.Now().Add(time.Second)
	h, err := s.IntelligentKillHistory(ctx, &IntelligentHistoryRequest{InstanceID: "multi", NodeID: "n2", StartMS: before.UnixMilli(), EndMS: after.UnixMilli()})
	if err != nil || h.Total != 1 || len(h.Tasks) != 1 || h.Tasks[0].ID != res.TaskID || h.Tasks[0].EndedAt.IsZero() || h.Tasks[0].Summary.Creator != "HWAK" {
		t.Fatalf("history %v %+v", err, h)
	}
	// Other node of the same instance: nothing.
	h, err = s.IntelligentKillHistory(ctx, &IntelligentHistoryRequest{InstanceID: "multi", NodeID: "n1", StartMS: before.UnixMilli(), EndMS: after.UnixMilli()})
	if err != nil || h.Total != 0 {
		t.Fatalf("other node %v %+v", err, h)
	}
	if _, err := s.IntelligentKillHistory(ctx, &IntelligentHistoryRequest{InstanceID: "multi", NodeID: "n1", StartMS: 5, EndMS: 1}); CodeOf(err) != InvalidParameterValue {
		t.Fatalf("bad range: %v", err)
	}
	task, err := s.IntelligentKillTask(ctx, &IntelligentTaskRequest{InstanceID: "multi", TaskID: res.TaskID})
	if err != nil || task.Task.ID != res.TaskID || len(task.Records) != 0 {
		t.Fatalf("task %v %+v", err, task)
	}
	for _, r := range []IntelligentTaskRequest{{InstanceID: "single", TaskID: res.TaskID}, {InstanceID: "multi", TaskID: "ik-nope"}} {
		if _, err := s.IntelligentKillTask(ctx, &r); CodeOf(err) != ResourceNotFound {
			t.Fatalf("%+v: %v", r, err)
		}
	}
	if _, err := s.IntelligentKillTask(ctx, &IntelligentTaskRequest{InstanceID: "nope", TaskID: res.TaskID}); !errors.Is(err, killtask.ErrUnknownInstance) {
		t.Fatalf("unknown instance: %v", err)
	}
}
