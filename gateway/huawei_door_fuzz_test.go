package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
	"killgate/ratelimit"
)

// FuzzHuaweiDoor sends arbitrary paths, queries and bodies, properly
// authenticated, to the Huawei door of a real stack whose instance cannot be
// reached (nothing can be killed). Every answer must be a Huawei-style JSON
// answer with an expected status: a JSON object on 200, {"error_code",
// "error_msg"} otherwise, and a 500 only as DBS.200005 (database or store
// failure). Never a panic, a hang or an HTML page.
func FuzzHuaweiDoor(f *testing.F) {
	const node = "fb301dc800444b1cbea48efba97e94ebno07"
	st := kgtest.Start(f, kgtest.Options{
		Instances: []killtask.InstanceConfig{
			{ID: hwInst, Product: "mysql", DSN: "root:@tcp(127.0.0.1:1)/?timeout=200ms"},
			{ID: hwMulti, Product: "cynosdb", Nodes: []killtask.NodeConfig{{ID: node, DSN: "root:@tcp(127.0.0.1:1)/?timeout=200ms"}}},
		},
		RateLimit: ratelimit.Config{PerSecond: -1}, // unlimited (the zero Config means the 20/s default)
		Huawei:    gateway.HuaweiConfig{ProjectID: hwProject, Tokens: []string{hwToken}},
	})
	client := &http.Client{Timeout: 10 * time.Second}
	base := "/v3/" + hwProject + "/instances/"
	for _, s := range []struct {
		post        bool
		path, query string
		body        string
	}{
		{true, base + hwInst + "/intelligent-kill-session", "", `{"node_id":"` + hwInst + `"}`},
		{true, base + hwMulti + "/intelligent-kill-session", "", `{"node_id":"` + node + `","x":1}`},
		{true, base + hwInst + "/intelligent-kill-session", "", `{"node_id":null}`},
		{true, base + hwInst + "/intelligent-kill-session", "", `[{"node_id":1}]`},
		{false, base + hwInst + "/intelligent-kill-session/statistic", "node_id=" + hwInst, ""},
		{false, base + hwInst + "/intelligent-kill-session/history", "node_id=" + hwInst + "&limit=5&offset=0&start_time=0&end_time=99999999999999", ""},
		{false, base + hwInst + "/intelligent-kill-session/history", "node_id=x&limit=-1&offset=1e9&start_time=abc", ""},
		{false, base + hwInst + "/intelligent-kill-session/history/ik-0000000000000000/download", "format=csv", ""},
		{false, "/v3/" + strings.Repeat("z", 32) + "/instances/a/b", "%zz", ""},
	} {
		f.Add(s.post, s.path, s.query, []byte(s.body))
	}
	allowed := map[int]bool{200: true, 400: true, 401: true, 403: true, 404: true, 413: true, 429: true, 500: true}
	f.Fuzz(func(t *testing.T, post bool, path, query string, body []byte) {
		if !strings.HasPrefix(path, "/v3/") {
			path = "/v3/" + path
		}
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		req, err := http.NewRequest(method, "http://"+st.Addr+path, bytes.NewReader(body))
		if err != nil || req.URL.Host != st.Addr {
			return // not a request a client could send
		}
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }) {
			return // not a valid request line: net/http refuses it before any handler
		}
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Auth-Token", hwToken)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s?%s: %v", method, path, query, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !allowed[resp.StatusCode] {
			t.Fatalf("%s %s?%s: status %d: %s", method, path, query, resp.StatusCode, out)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("content type %q: %s", ct, out)
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("status %d, not a JSON object: %s", resp.StatusCode, out)
		}
		if resp.StatusCode != 200 {
			code, _ := m["error_code"].(string)
			if _, ok := m["error_msg"].(string); !ok || code == "" {
				t.Fatalf("status %d without error_code/error_msg: %s", resp.StatusCode, out)
			}
			if resp.StatusCode == 500 && code != "DBS.200005" {
				t.Fatalf("500 with %s: %s", code, out)
			}
		}
	})
}
