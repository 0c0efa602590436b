package gateway_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
	"killgate/ratelimit"
)

// Huawei door test fixtures.
const (
	hwProject = "054e292c9880d4992f02c0196d3ea468"
	hwToken   = "hw-test-token-0123456789"
	hwAK      = "HWAKTEST0123456789"
	hwSK      = "hw-test-sk-abcdefghijklmnop"
	hwInst    = "17b6bbb64d2f4c14a83a88f19da8dcc8in07" // single dsn: node id = instance id
	hwMulti   = "0a1b2c3d4e5f60718293a4b5c6d7e8f9in07"
	hwNode1   = "fb301dc800444b1cbea48efba97e94ebno07"
	hwNode2   = "aa301dc800444b1cbea48efba97e94ebno07"
)

// hwStack starts killgate with the Huawei door: one single-dsn instance and
// one two-node instance, every user but testUser protected and the engine
// scoped to testUser's sessions ("" = no session at all).
func hwStack(t *testing.T, rl ratelimit.Config, testUser string) *kgtest.Stack {
	t.Helper()
	root := kgtest.Root(t)
	protected := kgtest.ProtectAllBut(t, root, testUser)
	dsn := kgtest.MySQLDSN()
	return kgtest.Start(t, kgtest.Options{
		Instances: []killtask.InstanceConfig{
			{ID: hwInst, Product: "mysql", DSN: dsn, ProtectedUsers: protected},
			{ID: hwMulti, Product: "cynosdb", Nodes: []killtask.NodeConfig{{ID: hwNode1, DSN: dsn}, {ID: hwNode2, DSN: dsn}}, ProtectedUsers: protected},
		},
		RateLimit: rl,
		Huawei:    gateway.HuaweiConfig{ProjectID: hwProject, Tokens: []string{hwToken}, Keys: map[string]string{hwAK: hwSK}},
		Scope:     func(p *killtask.Process) bool { return testUser != "" && p.User == testUser },
	})
}

// testSign signs r the way the Huawei Go SDK does (written independently of
// the gateway's verifier): every header but Content-Type, lower-cased and
// sorted, is signed.
func testSign(t *testing.T, r *http.Request, ak, sk string, body []byte, at time.Time) {
	t.Helper()
	r.Header.Set("X-Sdk-Date", at.UTC().Format("20060102T150405Z"))
	var names []string
	for k := range r.Header {
		if strings.EqualFold(k, "Content-Type") || strings.EqualFold(k, "Authorization") {
			continue
		}
		names = append(names, strings.ToLower(k))
	}
	sort.Strings(names)
	esc := func(s string) string {
		var b strings.Builder
		for _, c := range []byte(s) {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		return b.String()
	}
	var segs []string
	for _, s := range strings.Split(r.URL.Path, "/") {
		segs = append(segs, esc(s))
	}
	uri := strings.Join(segs, "/") + "/"
	q := r.URL.Query()
	var keys []string
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var qs []string
	for _, k := range keys {
		for _, v := range q[k] {
			qs = append(qs, esc(k)+"="+esc(v))
		}
	}
	var hs []string
	for _, n := range names {
		hs = append(hs, n+":"+strings.TrimSpace(r.Header.Get(n)))
	}
	sum := sha256.Sum256(body)
	cr := strings.Join([]string{r.Method, uri, strings.Join(qs, "&"), strings.Join(hs, "\n") + "\n", strings.Join(names, ";"), hex.EncodeToString(sum[:])}, "\n")
	crSum := sha256.Sum256([]byte(cr))
	sts := "SDK-HMAC-SHA256\n" + at.UTC().Format("20060102T150405Z") + "\n" + hex.EncodeToString(crSum[:])
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte(sts))
	r.Header.Set("Authorization", fmt.Sprintf("SDK-HMAC-SHA256 Access=%s, SignedHeaders=%s, Signature=%s", ak, strings.Join(names, ";"), hex.EncodeToString(m.Sum(nil))))
}

type hwAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a hwAnswer) code(t *testing.T) string {
	t.Helper()
	var e struct {
		Code string `json:"error_code"`
		Msg  string `json:"error_msg"`
	}
	if a.status >= 300 {
		if err := json.Unmarshal(a.body, &e); err != nil || e.Code == "" || e.Msg == "" {
			t.Fatalf("error body %q is not {error_code, error_msg}: %v", a.body, err)
		}
	}
	return e.Code
}

func hwDo(t *testing.T, r *http.Request) hwAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return hwAnswer{resp.StatusCode, resp.Header, b}
}

func hwPath(project, instance, suffix string) string {
	return "/v3/" + project + "/instances/" + instance + "/intelligent-kill-session" + suffix
}

func hwReq(t *testing.T, st *kgtest.Stack, method, path string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, "http://"+st.Addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json;charset=UTF-8")
	return r
}

func TestHuaweiErrors(t *testing.T) {
	st := hwStack(t, ratelimit.DefaultConfig(), "")
	now := time.Now()
	stat := hwPath(hwProject, hwInst, "/statistic?node_id="+hwInst)
	hist := func(q string) string { return hwPath(hwProject, hwInst, "/history?node_id="+hwInst+q) }
	token := func(r *http.Request) { r.Header.Set("X-Auth-Token", hwToken) }
	signed := func(r *http.Request, body []byte) { testSign(t, r, hwAK, hwSK, body, now) }
	cases := []struct {
		name         string
		method, path string
		body         string
		auth         func(r *http.Request, body []byte) // nil = token
		status       int
		code         string
	}{
		// authentication
		{"no credentials", "GET", stat, "", func(*http.Request, []byte) {}, 401, "APIGW.0301"},
		{"wrong token", "GET", stat, "", func(r *http.Request, _ []byte) { r.Header.Set("X-Auth-Token", "not-the-token") }, 401, "APIGW.0301"},
		{"token ok", "GET", stat, "", nil, 200, ""},
		{"aksk ok", "GET", stat, "", signed, 200, ""},
		{"aksk ok with X-Project-Id", "GET", stat, "", func(r *http.Request, b []byte) { r.Header.Set("X-Project-Id", hwProject); signed(r, b) }, 200, ""},
		{"bad AK", "GET", stat, "", func(r *http.Request, b []byte) { testSign(t, r, "HWAKUNKNOWN", hwSK, b, now) }, 401, "APIGW.0301"},
		{"bad signature", "GET", stat, "", func(r *http.Request, b []byte) { testSign(t, r, hwAK, "wrong-sk", b, now) }, 401, "APIGW.0301"},
		{"query changed after signing", "GET", stat, "", func(r *http.Request, b []byte) { signed(r, b); r.URL.RawQuery = "node_id=" + hwMulti }, 401, "APIGW.0301"},
		{"body changed after signing", "POST", hwPath(hwProject, hwInst, ""), `{"node_id":"x"}`, func(r *http.Request, b []byte) { signed(r, []byte(`{"node_id":"y"}`)) }, 401, "APIGW.0301"},
		{"expired X-Sdk-Date", "GET", stat, "", func(r *http.Request, b []byte) { testSign(t, r, hwAK, hwSK, b, now.Add(-16*time.Minute)) }, 401, "APIGW.0301"},
		{"future X-Sdk-Date", "GET", stat, "", func(r *http.Request, b []byte) { testSign(t, r, hwAK, hwSK, b, now.Add(16*time.Minute)) }, 401, "APIGW.0301"},
		{"skew within 15 min", "GET", stat, "", func(r *http.Request, b []byte) { testSign(t, r, hwAK, hwSK, b, now.Add(-14*time.Minute)) }, 200, ""},
		{"malformed Authorization", "GET", stat, "", func(r *http.Request, _ []byte) { r.Header.Set("Authorization", "SDK-HMAC-SHA256 Access=x") }, 401, "APIGW.0301"},
		{"other algorithm", "GET", stat, "", func(r *http.Request, _ []byte) { r.Header.Set("Authorization", "Bearer abc") }, 401, "APIGW.0301"},
		{"X-Sdk-Date missing", "GET", stat, "", func(r *http.Request, b []byte) { signed(r, b); r.Header.Del("X-Sdk-Date") }, 401, "APIGW.0301"},
		{"security token", "GET", stat, "", func(r *http.Request, b []byte) { r.Header.Set("X-Security-Token", "t"); signed(r, b) }, 401, "APIGW.0301"},
		// project
		{"X-Project-Id mismatch", "GET", stat, "", func(r *http.Request, b []byte) { r.Header.Set("X-Project-Id", strings.Repeat("a", 32)); signed(r, b) }, 403, "DBS.200010"},
		{"wrong project", "GET", hwPath(strings.Repeat("b", 32), hwInst, "/statistic?node_id="+hwInst), "", nil, 403, "DBS.200010"},
		{"malformed project", "GET", hwPath("not-a-project", hwInst, "/statistic?node_id="+hwInst), "", nil, 400, "DBS.200001"},
		// instance and node
		{"unknown instance", "GET", hwPath(hwProject, "nosuchinstance", "/statistic?node_id=x"), "", nil, 404, "DBS.200002"},
		{"unknown node", "GET", hwPath(hwProject, hwMulti, "/statistic?node_id=nosuchnode"), "", nil, 404, "DBS.200013"},
		{"node of another instance", "GET", hwPath(hwProject, hwMulti, "/statistic?node_id="+hwInst), "", nil, 404, "DBS.200013"},
		{"node of another instance (execute)", "POST", hwPath(hwProject, hwInst, ""), `{"node_id":"` + hwNode1 + `"}`, nil, 404, "DBS.200013"},
		{"multi-node instance, node ok", "GET", hwPath(hwProject, hwMulti, "/statistic?node_id="+hwNode2), "", nil, 200, ""},
		{"statistic node_id missing", "GET", hwPath(hwProject, hwInst, "/statistic"), "", nil, 400, "DBS.200001"},
		{"statistic node_id twice", "GET", stat + "&node_id=" + hwInst, "", nil, 400, "DBS.200001"},
		// execute body
		{"empty body", "POST", hwPath(hwProject, hwInst, ""), "", nil, 400, "DBS.200006"},
		{"node_id missing", "POST", hwPath(hwProject, hwInst, ""), `{}`, nil, 400, "DBS.200001"},
		{"node_id empty", "POST", hwPath(hwProject, hwInst, ""), `{"node_id":""}`, nil, 400, "DBS.200001"},
		{"node_id not a string", "POST", hwPath(hwProject, hwInst, ""), `{"node_id":5}`, nil, 400, "DBS.200001"},
		{"bad JSON", "POST", hwPath(hwProject, hwInst, ""), `{"node_id":`, nil, 400, "DBS.200001"},
		{"JSON array", "POST", hwPath(hwProject, hwInst, ""), `["x"]`, nil, 400, "DBS.200001"},
		{"unknown field", "POST", hwPath(hwProject, hwInst, ""), `{"node_id":"` + hwInst + `","force":true}`, nil, 400, "DBS.200001"},
		{"trailing data", "POST", hwPath(hwProject, hwInst, ""), `{"node_id":"` + hwInst + `"} {}`, nil, 400, "DBS.200001"},
		{"oversize body", "POST", hwPath(hwProject, hwInst, ""), `{"node_id":"` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, "APIGW.0201"},
		// history parameters
		{"history ok", "GET", hist("&start_time=0&end_time=1&limit=1&offset=0"), "", nil, 200, ""},
		{"history start missing", "GET", hist("&end_time=1"), "", nil, 400, "DBS.200001"},
		{"history end missing", "GET", hist("&start_time=0"), "", nil, 400, "DBS.200001"},
		{"history start not a number", "GET", hist("&start_time=abc&end_time=1"), "", nil, 400, "DBS.200001"},
		{"history start negative", "GET", hist("&start_time=-5&end_time=1"), "", nil, 400, "DBS.200001"},
		{"history start after end", "GET", hist("&start_time=10&end_time=5"), "", nil, 400, "DBS.200001"},
		{"history start equals end", "GET", hist("&start_time=5&end_time=5"), "", nil, 400, "DBS.200001"},
		{"history limit 0", "GET", hist("&start_time=0&end_time=1&limit=0"), "", nil, 400, "DBS.200001"},
		{"history limit 101", "GET", hist("&start_time=0&end_time=1&limit=101"), "", nil, 400, "DBS.200001"},
		{"history limit not a number", "GET", hist("&start_time=0&end_time=1&limit=ten"), "", nil, 400, "DBS.200001"},
		{"history offset negative", "GET", hist("&start_time=0&end_time=1&offset=-1"), "", nil, 400, "DBS.200001"},
		{"history node missing", "GET", hwPath(hwProject, hwInst, "/history?start_time=0&end_time=1"), "", nil, 400, "DBS.200001"},
		// routes
		{"unknown route", "GET", hwPath(hwProject, hwInst, "/nope"), "", nil, 404, "APIGW.0101"},
		{"unknown route, no auth", "GET", "/v3/" + hwProject + "/whatever", "", func(*http.Request, []byte) {}, 404, "APIGW.0101"},
		{"wrong method", "PUT", hwPath(hwProject, hwInst, ""), `{"node_id":"x"}`, nil, 404, "APIGW.0101"},
		{"download unknown task", "GET", hwPath(hwProject, hwInst, "/history/ik-0000000000000000/download"), "", nil, 404, "DBS.200001"},
		{"download bad format", "GET", hwPath(hwProject, hwInst, "/history/ik-0000000000000000/download?format=xml"), "", nil, 400, "DBS.200001"},
		{"download without auth", "GET", hwPath(hwProject, hwInst, "/history/ik-0000000000000000/download"), "", func(*http.Request, []byte) {}, 401, "APIGW.0301"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := []byte(c.body)
			r := hwReq(t, st, c.method, c.path, body)
			if c.auth == nil {
				token(r)
			} else {
				c.auth(r, body)
			}
			a := hwDo(t, r)
			if a.status != c.status || a.code(t) != c.code {
				t.Fatalf("got %d %s, want %d %s", a.status, a.body, c.status, c.code)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if a.header.Get("X-Request-Id") == "" {
				t.Fatal("no X-Request-Id")
			}
		})
	}
	// Secrets never reach the log; every request has one access line with
	// door=huawei (or none for unknown routes outside any door).
	for _, e := range st.Logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		for _, sec := range []string{hwToken, hwSK} {
			if strings.Contains(line, sec) {
				t.Fatalf("secret in log: %s", line)
			}
		}
	}
	if n := st.Logs.FilterField(zap.String("door", "huawei")).Len(); n < len(cases)-1 {
		t.Fatalf("only %d huawei access lines for %d requests", n, len(cases))
	}
}

func TestHuaweiRateLimit(t *testing.T) {
	st := hwStack(t, ratelimit.Config{PerSecond: 0.001, Burst: 2, MaxKeys: 10, IdleTTL: time.Hour}, "")
	path := hwPath(hwProject, hwInst, "/statistic?node_id="+hwInst)
	for i, want := range []int{200, 200, 429} {
		r := hwReq(t, st, "GET", path, nil)
		r.Header.Set("X-Auth-Token", hwToken)
		a := hwDo(t, r)
		if a.status != want {
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
		if want == 429 && a.code(t) != "APIGW.0308" {
			t.Fatalf("code %s", a.body)
		}
	}
	// Another route has its own bucket; so has another caller.
	r := hwReq(t, st, "GET", hwPath(hwProject, hwInst, "/history?node_id="+hwInst+"&start_time=0&end_time=1"), nil)
	r.Header.Set("X-Auth-Token", hwToken)
	if a := hwDo(t, r); a.status != 200 {
		t.Fatalf("history: %d %s", a.status, a.body)
	}
	r = hwReq(t, st, "GET", path, nil)
	testSign(t, r, hwAK, hwSK, nil, time.Now())
	if a := hwDo(t, r); a.status != 200 {
		t.Fatalf("other caller: %d %s", a.status, a.body)
	}
}

func TestHuaweiConfigValidation(t *testing.T) {
	reg := kgtestRegistry(t)
	for _, tc := range []struct {
		name string
		hw   gateway.HuaweiConfig
	}{
		{"short project id", gateway.HuaweiConfig{ProjectID: "short", Tokens: []string{hwToken}}},
		{"short token", gateway.HuaweiConfig{ProjectID: hwProject, Tokens: []string{"tiny"}}},
		{"empty sk", gateway.HuaweiConfig{ProjectID: hwProject, Keys: map[string]string{"ak": ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := gateway.New(gateway.Config{Registry: reg.Registry, HuaweiActions: reg.Huawei, Huawei: tc.hw}); err == nil {
				t.Errorf("config %+v accepted", tc.hw)
			}
		})
	}
}

// kgtestRegistry returns a running stack's registry and service (for
// building extra gateways in tests).
func kgtestRegistry(t *testing.T) *kgtest.Stack {
	return kgtest.Start(t, kgtest.Options{})
}
