package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"killgate/actions"
	"killgate/gateway"
	"killgate/killtask"
	"killgate/ratelimit"
	"killgate/tc3"
)

// fuzzHandler is a whole killgate front (real actions, a real engine over a
// SQLite store, the Huawei door) whose only instance points at a port where
// nothing listens, and whose engine is never started: fuzzed input reaches
// every handler, yet nothing can touch a real database.
func fuzzHandler(tb testing.TB) http.Handler {
	tb.Helper()
	ctx := context.Background()
	store, err := killtask.OpenStore(ctx, killtask.StoreConfig{Driver: "sqlite", DSN: filepath.Join(tb.TempDir(), "fuzz.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	eng, err := killtask.NewEngine(killtask.DefaultConfig(), store, []killtask.InstanceConfig{
		{ID: "cdb-fuzz", Product: "mysql", DSN: "fuzz:fuzz-dsn-pw@tcp(127.0.0.1:1)/?timeout=200ms"},
		{ID: hwInst, Product: "mysql", DSN: "fuzz:fuzz-dsn-pw@tcp(127.0.0.1:1)/?timeout=200ms"},
	}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	// Run the engine (it closes its pools when it stops); it polls a port
	// where nothing listens.
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(rctx) }()
	tb.Cleanup(func() { stop(); <-done })
	svc := actions.NewService(eng, zap.NewNop())
	gw, err := gateway.New(gateway.Config{
		Credentials:   []gateway.Credential{{SecretID: testID, SecretKey: testKey}},
		Registry:      actions.NewRegistry(svc.Actions()),
		HuaweiActions: actions.NewRegistry(svc.HuaweiActions()),
		Limiter:       ratelimit.New(ratelimit.Config{PerSecond: 1e6, Burst: 1e6, MaxKeys: 1000, IdleTTL: time.Minute}),
		Huawei:        gateway.HuaweiConfig{ProjectID: hwProject, Tokens: []string{hwToken}, Keys: map[string]string{hwAK: hwSK}},
		Log:           zap.NewNop(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return gw.Handler()
}

// checkTencentAnswer asserts the door's contract for "/": HTTP 200,
// exactly application/json, an envelope with a RequestId, and either a
// catalogued error code or a result object.
func checkTencentAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d content-type %q body %.300s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
	}
	var env struct {
		Response map[string]json.RawMessage
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Response == nil {
		t.Fatalf("not an envelope (%v): %.300s", err, rec.Body.Bytes())
	}
	var rid string
	if err := json.Unmarshal(env.Response["RequestId"], &rid); err != nil || rid == "" {
		t.Fatalf("no RequestId: %.300s", rec.Body.Bytes())
	}
	if raw, ok := env.Response["Error"]; ok {
		var e struct{ Code, Message string }
		if err := json.Unmarshal(raw, &e); err != nil || e.Message == "" {
			t.Fatalf("bad Error: %.300s", raw)
		}
		if _, ok := actions.Catalog[actions.Code(e.Code)]; !ok {
			t.Fatalf("code %q is not catalogued: %.300s", e.Code, rec.Body.Bytes())
		}
		if len(env.Response) != 2 {
			t.Fatalf("an error envelope carries output fields: %.300s", rec.Body.Bytes())
		}
	}
}

// FuzzTencentPipeline drives random requests through the whole gin handler.
// sign picks whether the harness signs the fuzzed body with a valid TC3
// signature (so that decoding and the handlers are reached) or v1, or not
// at all; path picks "/" or something else.
func FuzzTencentPipeline(f *testing.F) {
	h := fuzzHandler(f)
	seeds := []struct {
		method, path, action, ctype, body, hk, hv string
		sign                                      uint8
	}{
		{"POST", "/", "CreateKillTask", "application/json", `{"InstanceId":"cdb-fuzz","Duration":-1,"User":"x"}`, "", "", 1},
		{"POST", "/", "CreateKillTask", "application/json", `{"InstanceId":"cdb-fuzz","Duration":60,"Infos":["select"],"Time":"5"}`, "", "", 1},
		{"POST", "/", "CancelKillTask", "application/json", `{"InstanceId":"cdb-fuzz"}`, "", "", 1},
		{"POST", "/", "KillMySqlThreads", "application/json", `{"InstanceId":"cdb-fuzz","Stage":"Prepare","Threads":[1,2]}`, "", "", 1},
		{"POST", "/", "KillMySqlThreads", "application/json", `{"InstanceId":"cdb-fuzz","Stage":"Commit","SqlExecId":"x"}`, "", "", 1},
		{"POST", "/", "DescribeMySqlProcessList", "application/json", `{"InstanceId":"cdb-fuzz","User":"a","Limit":"10"}`, "", "", 1},
		{"POST", "/", "PreviewKillTask", "application/json", `{"InstanceId":"cdb-fuzz","DB":"a,b"}`, "", "", 1},
		{"POST", "/", "DescribeKillTasks", "application/json", `{"Limit":100,"Status":"Running"}`, "", "", 1},
		{"POST", "/", "DescribeKillRecords", "application/json", `{"StartTime":"2024-01-01 00:00:00"}`, "", "", 1},
		{"POST", "/", "DescribeDiagDBInstances", "application/json", `{"IsSupported":true,"Product":"mysql"}`, "", "", 1},
		{"GET", "/", "DescribeKillTasks", "application/x-www-form-urlencoded", "Limit=5&Offset=0", "", "", 1},
		{"GET", "/", "DescribeKillTasks", "", "Limit=5", "", "", 2},
		{"POST", "/", "DescribeKillTasks", "application/x-www-form-urlencoded", "Limit=5&InstanceId=cdb-fuzz", "", "", 2},
		{"POST", "/", "Echo", "application/json", `{`, "X-TC-Token", "t", 0},
		{"PUT", "/", "", "", "", "", "", 0},
		{"POST", "/", "CreateKillTask", "multipart/form-data; boundary=x", "--x--", "", "", 1},
		{"POST", "/", "CreateKillTask", "application/json", `{"InstanceId":"cdb-fuzz","Duration":99999999999999999999}`, "", "", 1},
		{"POST", "/", "CreateKillTask", "application/json", "{\"InstanceId\":\"\xff\"}", "", "", 1},
		{"POST", "/", "DescribeKillTasks", "application/json", `{"Limit":1}`, "Authorization", "SKIP", 0},
		{"GET", "/v3/" + hwProject + "/instances/" + hwInst + "/intelligent-kill-session/statistic", "", "", "node_id=" + hwInst, "X-Auth-Token", hwToken, 0},
		{"POST", "/v3/" + hwProject + "/instances/" + hwInst + "/intelligent-kill-session", "", "application/json", `{"node_id":"x"}`, "X-Auth-Token", hwToken, 0},
		{"GET", "/metrics", "", "", "", "", "", 0},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.action, s.ctype, []byte(s.body), s.hk, s.hv, s.sign)
	}
	f.Fuzz(func(t *testing.T, method, path, action, ctype string, body []byte, hk, hv string, sign uint8) {
		if !validMethod(method) || len(path) == 0 || path[0] != '/' {
			return // net/http never hands such a request to a handler
		}
		target := "http://127.0.0.1:9/" // Host for signing
		host := "127.0.0.1:9"
		var req *http.Request
		ts := time.Now().Unix()
		switch {
		case sign%3 == 2 || (method == http.MethodGet && len(body) > 0):
			// v1, or any GET: the body travels as the query string.
			q := string(body)
			if sign%3 == 2 {
				vals, err := url.ParseQuery(q)
				if err != nil {
					return
				}
				vals.Set("Action", action)
				vals.Set("Version", gateway.Version)
				vals.Set("Timestamp", strconv.FormatInt(ts, 10))
				vals.Set("Nonce", "1")
				vals.Set("SecretId", testID)
				vals.Del("Signature")
				vals.Set("Signature", tc3.SignV1(testKey, method, host, "/", vals))
				q = vals.Encode()
			}
			if method == http.MethodGet {
				req = newReq(method, target, path, q, nil)
			} else {
				req = newReq(method, target, path, "", []byte(q))
			}
		default:
			req = newReq(method, target, path, "", body)
		}
		if req == nil {
			return
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if sign%3 != 2 && path == "/" {
			req.Header.Set("X-TC-Action", action)
			req.Header.Set("X-TC-Version", gateway.Version)
			req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
			if sign%3 == 1 {
				var signed []byte
				if method != http.MethodGet {
					signed = body
				}
				req.Header.Set("Authorization", signTC3(testID, testKey, "dbbrain", host, req.Header.Get("Content-Type"), ts, method, req.URL.RawQuery, signed))
			}
		}
		if hk != "" && validHeader(hk, hv) {
			req.Header.Set(hk, hv)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if req.URL.Path == "/" {
			checkTencentAnswer(t, rec)
			return
		}
		if ct := rec.Header().Get("Content-Type"); rec.Code >= 400 && !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s %s: status %d with content-type %q", method, path, rec.Code, ct)
		}
		if rec.Code >= 500 && !strings.HasPrefix(req.URL.Path, "/v3/") {
			t.Fatalf("%s %s: status %d: %.300s", method, path, rec.Code, rec.Body.Bytes())
		}
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, c := range []byte(m) {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func validHeader(k, v string) bool {
	if len(k) > 64 || len(v) > 4096 {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	for _, c := range []byte(v) {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// newReq builds a request as net/http's server would present it, or nil if
// the path could not have come off the wire.
func newReq(method, target, path, rawQuery string, body []byte) *http.Request {
	u := target[:len(target)-1] + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	r, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil || r.URL.Path == "" || r.URL.Host != "127.0.0.1:9" {
		return nil
	}
	r.RequestURI = r.URL.RequestURI()
	return r
}
