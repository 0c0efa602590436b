package gateway_test

import (
	"context"
	"sync"
	"testing"
	"time"

	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"killgate/gateway/kgtest"
	"killgate/killtask"
	"killgate/ratelimit"
)

// TestSDKCreateKillTask: the real SDK creates a task; it is in the store,
// committed, with every filter as sent.
func TestSDKCreateKillTask(t *testing.T) {
	s := kgtest.Start(t, kgtest.Options{})
	var out struct {
		Status    int64
		TaskId    string
		RequestId string
	}
	err := s.Call("CreateKillTask", map[string]any{
		"InstanceId": kgtest.Instance, "Duration": 600, "Product": "mysql",
		"Host": "10.1.2.3", "DB": "app, app2", "Command": "Query,Execute", "Infos": []string{"select", "  UPDATE t"},
		"User": "nobody_sdk", "Time": 5,
	}, &out)
	if err != nil {
		t.Fatalf("CreateKillTask: %v", err)
	}
	if out.Status != 1 || out.TaskId == "" || out.RequestId == "" {
		t.Fatalf("response = %+v", out)
	}
	task, err := s.Store.GetTask(context.Background(), out.TaskId)
	if err != nil {
		t.Fatalf("task not in store: %v", err)
	}
	want := killtask.Filter{Host: "10.1.2.3", User: "nobody_sdk", DBs: []string{"app", "app2"}, Commands: []string{"Query", "Execute"}, Infos: []string{"select", "UPDATE t"}, MinTime: 5}
	if !task.Filter.Equal(want) || task.Status != killtask.StatusRunning || task.Duration != 600 ||
		task.Creator != kgtest.SecretID || task.InstanceID != kgtest.Instance ||
		task.ExpiresAt.Sub(task.CreatedAt) != 600*time.Second {
		t.Fatalf("stored task = %+v", task)
	}
}

// TestSDKErrors: every error class reaches the SDK as a TencentCloudSDKError
// with the expected code and a RequestId.
func TestSDKErrors(t *testing.T) {
	s := kgtest.Start(t, kgtest.Options{RateLimit: ratelimit.Config{PerSecond: 1000, Burst: 1000, MaxKeys: 100, IdleTTL: time.Minute}})
	ok := map[string]any{"InstanceId": kgtest.Instance, "Duration": 60, "User": "nobody_err"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range ok {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	good := s.Client(kgtest.SecretID, kgtest.SecretKey)
	tests := []struct {
		name   string
		client func() error
		want   string
	}{
		{"unsigned", func() error {
			req := tchttp.NewCommonRequest("dbbrain", "2021-05-27", "CreateKillTask")
			req.SetSkipSign(true)
			_ = req.SetActionParameters(ok)
			return good.Send(req, tchttp.NewCommonResponse())
		}, "AuthFailure.InvalidAuthorization"},
		{"bad-signature", func() error {
			return kgtest.CallWith(s.Client(kgtest.SecretID, "wrong-key"), "CreateKillTask", ok, nil)
		}, "AuthFailure.SignatureFailure"},
		{"unknown-secret-id", func() error {
			return kgtest.CallWith(s.Client("AKIDnobody", kgtest.SecretKey), "CreateKillTask", ok, nil)
		}, "AuthFailure.SecretIdNotFound"},
		{"unknown-action", func() error { return s.Call("DropAllTables", ok, nil) }, "InvalidAction"},
		{"wrong-version", func() error {
			req := tchttp.NewCommonRequest("dbbrain", "2019-10-16", "CreateKillTask")
			_ = req.SetActionParameters(ok)
			return good.Send(req, tchttp.NewCommonResponse())
		}, "NoSuchVersion"},
		{"missing-instance-id", func() error { return s.Call("CreateKillTask", with("InstanceId", nil), nil) }, "MissingParameter"},
		{"missing-duration", func() error { return s.Call("CreateKillTask", with("Duration", nil), nil) }, "MissingParameter"},
		{"duration-zero", func() error { return s.Call("CreateKillTask", with("Duration", 0), nil) }, "InvalidParameterValue"},
		{"duration-minus-two", func() error { return s.Call("CreateKillTask", with("Duration", -2), nil) }, "InvalidParameterValue"},
		{"unknown-parameter", func() error { return s.Call("CreateKillTask", with("Hots", "x"), nil) }, "UnknownParameter"},
		{"wrong-type-duration", func() error { return s.Call("CreateKillTask", with("Duration", "soon"), nil) }, "InvalidParameter"},
		{"wrong-type-instance", func() error { return s.Call("CreateKillTask", with("InstanceId", 42), nil) }, "InvalidParameter"},
		{"wrong-type-infos", func() error { return s.Call("CreateKillTask", with("Infos", "select"), nil) }, "InvalidParameter"},
		{"info-and-infos", func() error {
			m := with("Info", "select")
			m["Infos"] = []string{"update"}
			return s.Call("CreateKillTask", m, nil)
		}, "InvalidParameterValue"},
		{"unknown-instance", func() error { return s.Call("CreateKillTask", with("InstanceId", "cdb-nope"), nil) }, "InvalidParameterValue"},
		{"wrong-product", func() error { return s.Call("CreateKillTask", with("Product", "cynosdb"), nil) }, "InvalidParameterValue"},
		{"bad-product", func() error { return s.Call("CreateKillTask", with("Product", "redis"), nil) }, "InvalidParameterValue"},
		{"host-with-port", func() error { return s.Call("CreateKillTask", with("Host", "10.0.0.1:3306"), nil) }, "InvalidParameterValue"},
		{"blank-info", func() error { return s.Call("CreateKillTask", with("Info", "   "), nil) }, "InvalidParameterValue"},
		{"blank-host", func() error { return s.Call("CreateKillTask", with("Host", " "), nil) }, "InvalidParameterValue"},
		{"commas-only-db", func() error { return s.Call("CreateKillTask", with("DB", " , "), nil) }, "InvalidParameterValue"},
		{"commas-only-command", func() error { return s.Call("CreateKillTask", with("Command", ","), nil) }, "InvalidParameterValue"},
		{"negative-time", func() error { return s.Call("CreateKillTask", with("Time", -1), nil) }, "InvalidParameterValue"},
		{"empty-infos-item", func() error { return s.Call("CreateKillTask", with("Infos", []string{"select", " "}), nil) }, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.client()
			if got := kgtest.Code(err); got != tt.want {
				t.Fatalf("code = %q, want %q (err %v)", got, tt.want, err)
			}
			if kgtest.RequestID(err) == "" {
				t.Fatalf("no RequestId in %v", err)
			}
		})
	}
}

// TestSDKExpired: a client clock 10 minutes off gets SignatureExpire.
func TestSDKExpired(t *testing.T) {
	s := kgtest.Start(t, kgtest.Options{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": 60}, nil)
	if got := kgtest.Code(err); got != "AuthFailure.SignatureExpire" {
		t.Fatalf("code = %q (%v)", got, err)
	}
}

// TestSDKDuplicateAndLimit: identical active task → HasDuplicatedTask; the
// sixth distinct task → LimitExceeded; nothing half-written.
func TestSDKDuplicateAndLimit(t *testing.T) {
	s := kgtest.Start(t, kgtest.Options{})
	p := func(user string) map[string]any {
		return map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": user}
	}
	if err := s.Call("CreateKillTask", p("nobody_0"), nil); err != nil {
		t.Fatal(err)
	}
	if got := kgtest.Code(s.Call("CreateKillTask", p("nobody_0"), nil)); got != "UnsupportedOperation.HasDuplicatedTask" {
		t.Fatalf("duplicate: %q", got)
	}
	for i := 1; i < 5; i++ {
		if err := s.Call("CreateKillTask", p("nobody_"+string(rune('0'+i))), nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := kgtest.Code(s.Call("CreateKillTask", p("nobody_9"), nil)); got != "LimitExceeded" {
		t.Fatalf("limit: %q", got)
	}
	tasks, total, err := s.Store.ListTasks(context.Background(), killtask.TaskQuery{InstanceID: kgtest.Instance, Limit: 100}, time.Now())
	if err != nil || total != 5 || len(tasks) != 5 {
		t.Fatalf("store has %d tasks (%v), want 5", total, err)
	}
}

// TestSDKRateLimit: more than 20 calls in a second are refused with exactly
// RequestLimitExceeded; with RateLimitExceededMaxRetries the SDK resends the
// same signed bytes and recovers.
func TestSDKRateLimit(t *testing.T) {
	s := kgtest.Start(t, kgtest.Options{})
	bad := map[string]any{"InstanceId": kgtest.Instance, "Duration": 0} // cheap: refused after the limiter
	limited := 0
	for i := 0; i < 30; i++ {
		switch code := kgtest.Code(s.Call("CreateKillTask", bad, nil)); code {
		case "RequestLimitExceeded":
			limited++
		case "InvalidParameterValue":
		default:
			t.Fatalf("call %d: %q", i, code)
		}
	}
	if limited < 5 {
		t.Fatalf("only %d of 30 calls were rate limited", limited)
	}

	c := s.Client(kgtest.SecretID, kgtest.SecretKey, func(p *profile.ClientProfile) {
		p.RateLimitExceededMaxRetries = 3
		p.RateLimitExceededRetryDuration = profile.ConstantDurationFunc(1100 * time.Millisecond)
	})
	time.Sleep(1100 * time.Millisecond) // let the bucket refill: the next phase starts from full
	var wg sync.WaitGroup
	codes := make([]string, 40)
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i] = kgtest.Code(kgtest.CallWith(c, "CreateKillTask", bad, nil))
		}(i)
	}
	wg.Wait()
	for i, code := range codes {
		if code != "InvalidParameterValue" {
			t.Fatalf("call %d with retries: %q", i, code)
		}
	}
}
