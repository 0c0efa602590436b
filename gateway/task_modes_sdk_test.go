package gateway_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	"killgate/gateway/kgtest"
)

// killgate's kill-task extensions (issue 16) through the real Tencent SDK:
// a caller who uses none of them sees DBbrain's behaviour unchanged; one
// who does gets KILL QUERY, observe-only tasks and the extra preview fields.

type taskModeOut struct {
	TaskId, KillMode string
	Observe          bool
	ObserveCount     int64
	KillCount        int64
	TrxTime          int64
	BlockingCount    int64
	BlockingTime     int64
}

type recordModeOut struct {
	ThreadId                         int64
	Outcome, KillMode, MatchedFilter string
}

func sdkMessage(err error) string {
	var e *tcerr.TencentCloudSDKError
	if errors.As(err, &e) {
		return e.GetMessage()
	}
	return ""
}

// TestSDKTaskWithoutExtensions: a DBbrain caller who sends none of the
// extensions gets what it always got: the session (not just its statement)
// killed, the SDK's exact preview shape, the same error codes and messages
// for bad input, and UnknownParameter for anything else.
func TestSDKTaskWithoutExtensions(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	v := kgtest.NewVictim(t, user, pw, user, kgtest.LockQuery(lock))
	reap(t, root, user, v)
	waitLocked(t, root, user, 1)

	var raw json.RawMessage
	if err := s.Call("PreviewKillTask", map[string]any{"InstanceId": kgtest.Instance, "User": user}, &raw); err != nil {
		t.Fatal(err)
	}
	var prev struct {
		ProcessList []*sdkMySqlProcess
		TotalCount  *int64
		RequestId   *string
	}
	strict(t, raw, &prev) // no extension field, no LockWaits
	if len(prev.ProcessList) != 1 || *prev.ProcessList[0].ID != strconv.FormatUint(v.ID, 10) {
		t.Fatalf("preview %s", raw)
	}

	var created struct {
		Status *int64
		TaskId *string
	}
	if err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": user}, &created); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Call("CancelKillTask", map[string]any{"InstanceId": kgtest.Instance}, nil) })
	if created.Status == nil || *created.Status != 1 {
		t.Fatalf("CreateKillTask answered %+v", created)
	}
	waitGone(t, root, v) // the connection, not only its statement

	var recs struct{ Records []recordModeOut }
	kgtest.Eventually(t, 5*time.Second, "the kill recorded", func() bool {
		if err := s.Call("DescribeKillRecords", map[string]any{"TaskId": *created.TaskId}, &recs); err != nil {
			t.Fatal(err)
		}
		return len(recs.Records) == 1
	})
	if r := recs.Records[0]; r.Outcome != "killed" || r.KillMode != "CONNECTION" || r.MatchedFilter != "User="+user {
		t.Fatalf("record %+v", r)
	}
	var tasks struct{ Tasks []taskModeOut }
	if err := s.Call("DescribeKillTasks", map[string]any{"TaskId": *created.TaskId}, &tasks); err != nil {
		t.Fatal(err)
	}
	if tk := tasks.Tasks[0]; tk.KillMode != "CONNECTION" || tk.Observe || tk.ObserveCount != 0 || tk.KillCount != 1 ||
		tk.TrxTime != 0 || tk.BlockingCount != 0 || tk.BlockingTime != 0 {
		t.Fatalf("task %+v", tk)
	}

	// The answers DBbrain callers got before the extensions, word for word.
	for _, tt := range []struct {
		name   string
		params map[string]any
		code   string
		msg    string
	}{
		{"negative time", map[string]any{"Time": -1}, "InvalidParameterValue", "The parameter `Time` must not be negative; got -1."},
		{"bad duration", map[string]any{"Duration": 0}, "InvalidParameterValue", "The parameter `Duration` must be -1 (until CancelKillTask) or a positive number of seconds; got 0."},
		{"unknown", map[string]any{"Foo": 1}, "UnknownParameter", "The parameter `Foo` is not recognized."},
		{"info and infos", map[string]any{"Info": "a", "Infos": []string{"b"}}, "InvalidParameterValue", "The parameters `Info` and `Infos` cannot be used together."},
		{"duplicate", map[string]any{"User": user}, "UnsupportedOperation.HasDuplicatedTask", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := map[string]any{"InstanceId": kgtest.Instance, "Duration": -1}
			for k, v := range tt.params {
				p[k] = v
			}
			err := s.Call("CreateKillTask", p, nil)
			if got := kgtest.Code(err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
			if tt.msg != "" && sdkMessage(err) != tt.msg {
				t.Fatalf("message %q, want %q", sdkMessage(err), tt.msg)
			}
		})
	}
}

// TestSDKTaskExtensions: KillMode QUERY ends the statement and keeps the
// connection; an observe-only task records and kills nothing; the preview
// of a TrxTime filter shows each session's transaction age.
func TestSDKTaskExtensions(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	userQ, pwQ := kgtest.User(t, root)
	userO, pwO := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	q := kgtest.NewVictim(t, userQ, pwQ, userQ, kgtest.LockQuery(lock))
	o1 := kgtest.NewVictim(t, userO, pwO, userO, kgtest.LockQuery(lock))
	o2 := kgtest.NewVictim(t, userO, pwO, userO, "")
	reap(t, root, userQ, q)
	reap(t, root, userO, o1, o2)
	waitLocked(t, root, userQ, 1)
	waitLocked(t, root, userO, 1)
	t.Cleanup(func() { _ = s.Call("CancelKillTask", map[string]any{"InstanceId": kgtest.Instance}, nil) })

	var tq struct{ TaskId string }
	if err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": userQ, "KillMode": "QUERY"}, &tq); err != nil {
		t.Fatal(err)
	}
	kgtest.Eventually(t, 10*time.Second, "the statement ended", func() bool {
		var cmd string
		if err := root.QueryRow("SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = ?", q.ID).Scan(&cmd); err != nil {
			t.Fatalf("the session is gone: %v", err)
		}
		return cmd == "Sleep"
	})
	var to struct{ TaskId string }
	if err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": userO, "Observe": true}, &to); err != nil {
		t.Fatal(err)
	}
	waitPolls(t, s, kgtest.Instance, 5)
	for _, v := range []*kgtest.Victim{q, o1, o2} {
		if !v.Exists(t, root) {
			t.Fatalf("session %d was killed", v.ID)
		}
	}
	var tasks struct{ Tasks []taskModeOut }
	kgtest.Eventually(t, 5*time.Second, "the counts", func() bool {
		if err := s.Call("DescribeKillTasks", map[string]any{"InstanceId": kgtest.Instance, "Status": "Running"}, &tasks); err != nil {
			t.Fatal(err)
		}
		return len(tasks.Tasks) == 2 && tasks.Tasks[0].ObserveCount == 2 && tasks.Tasks[1].KillCount == 1
	})
	if o, k := tasks.Tasks[0], tasks.Tasks[1]; o.TaskId != to.TaskId || !o.Observe || o.KillMode != "CONNECTION" || o.KillCount != 0 ||
		k.TaskId != tq.TaskId || k.Observe || k.KillMode != "QUERY" {
		t.Fatalf("tasks %+v", tasks.Tasks)
	}
	var recs struct{ Records []recordModeOut }
	if err := s.Call("DescribeKillRecords", map[string]any{"TaskId": to.TaskId}, &recs); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs.Records {
		if r.Outcome != "observed" || r.KillMode != "CONNECTION" || r.MatchedFilter != "User="+userO {
			t.Fatalf("observed record %+v", r)
		}
	}
	if err := s.Call("DescribeKillRecords", map[string]any{"TaskId": tq.TaskId}, &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs.Records) != 1 || recs.Records[0].KillMode != "QUERY" || recs.Records[0].ThreadId != int64(q.ID) {
		t.Fatalf("query records %+v", recs.Records)
	}

	// The victims have no transaction: a TrxTime filter previews nothing.
	// LockWaits is present only when the filter reads lock waits.
	var raw json.RawMessage
	if err := s.Call("PreviewKillTask", map[string]any{"InstanceId": kgtest.Instance, "User": userO, "TrxTime": 1}, &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"ProcessList":[]`) || strings.Contains(string(raw), "LockWaits") {
		t.Fatalf("TrxTime preview of sessions without a transaction: %s", raw)
	}
	if err := s.Call("PreviewKillTask", map[string]any{"InstanceId": kgtest.Instance, "User": userO, "BlockingTime": 1}, &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"ProcessList":[]`) || !strings.Contains(string(raw), `"LockWaits":[`) {
		t.Fatalf("Blocking preview: %s", raw)
	}
}
