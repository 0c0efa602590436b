package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
)

type readyBody struct {
	Status    string
	Store     string
	Config    string
	Instances []struct {
		ID          string `json:"id"`
		Product     string `json:"product"`
		ActiveTasks int    `json:"active_tasks"`
		Nodes       []struct {
			ID        string `json:"id"`
			State     string `json:"state"`
			CheckedAt string `json:"checked_at"`
		} `json:"nodes"`
	}
}

func get(t *testing.T, h http.Handler, method, url string) (int, string, http.Header) {
	t.Helper()
	if h != nil {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, url, nil))
		return rec.Code, rec.Body.String(), rec.Header()
	}
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// secretDSNPassword is in the DSN of an unreachable instance: no ops answer
// may carry it, nor the DSN's host, user or the store path.
const secretDSNPassword = "TopSecretPw-ops"

func mustNotLeak(t *testing.T, what, body string, forbidden ...string) {
	t.Helper()
	for _, f := range forbidden {
		if f != "" && strings.Contains(body, f) {
			t.Errorf("%s leaks %q: %s", what, f, body)
		}
	}
}

// TestHealthAndReadiness walks the ops endpoints through their states:
// alive, ready with a failing instance (still ready), and store down (503).
func TestHealthAndReadiness(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB")
	}
	downDSN := "kgdown:" + secretDSNPassword + "@tcp(127.0.0.1:1)/"
	s := startOps(t, opsOptions{Instances: []killtask.InstanceConfig{
		{ID: kgtest.Instance, Product: "mysql", DSN: kgtest.MySQLDSN()},
		{ID: "cdb-down", Product: "mysql", DSN: downDSN},
	}})
	forbidden := []string{secretDSNPassword, "kgdown", "127.0.0.1:1", "tcp(", "killgate.db", "root:", "refused", "closed"}

	// Alive, without any credentials.
	code, body, hdr := get(t, nil, http.MethodGet, s.URL+gateway.PathHealthz)
	if code != http.StatusOK || body != `{"status":"ok"}` || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("healthz: %d %s %q", code, body, hdr.Get("Content-Type"))
	}
	if code, _, _ := get(t, nil, http.MethodHead, s.URL+gateway.PathHealthz); code != http.StatusOK {
		t.Fatalf("HEAD healthz: %d", code)
	}

	// Ready: the store answers. The unreachable instance is listed as
	// failing but does not make killgate unready.
	code, body, _ = get(t, nil, http.MethodGet, s.URL+gateway.PathReadyz)
	if code != http.StatusOK {
		t.Fatalf("readyz with a healthy store: %d %s", code, body)
	}
	mustNotLeak(t, "readyz", body, forbidden...)
	var rb readyBody
	if err := json.Unmarshal([]byte(body), &rb); err != nil {
		t.Fatalf("readyz body %s: %v", body, err)
	}
	if rb.Status != "ready" || rb.Store != "ok" || rb.Config != "loaded" || len(rb.Instances) != 2 {
		t.Fatalf("readyz body: %s", body)
	}
	states := map[string]string{}
	for _, in := range rb.Instances {
		for _, n := range in.Nodes {
			states[in.ID+"/"+n.ID] = n.State
		}
	}
	if got := states[kgtest.Instance+"/"+kgtest.Instance]; got != "ok" {
		t.Errorf("reachable instance state %q, want ok (%s)", got, body)
	}
	if got := states["cdb-down/cdb-down"]; got != "failing" {
		t.Errorf("unreachable instance state %q, want failing (%s)", got, body)
	}

	// Store down: not ready, 503, and no error text.
	if err := s.Store.Close(); err != nil {
		t.Fatal(err)
	}
	code, body, hdr = get(t, nil, http.MethodGet, s.URL+gateway.PathReadyz)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the store closed: %d %s", code, body)
	}
	if hdr.Get("Content-Type") != "application/json" {
		t.Errorf("readyz 503 Content-Type %q", hdr.Get("Content-Type"))
	}
	mustNotLeak(t, "readyz (store down)", body, forbidden...)
	rb = readyBody{}
	if err := json.Unmarshal([]byte(body), &rb); err != nil {
		t.Fatalf("readyz body %s: %v", body, err)
	}
	if rb.Status != "unavailable" || rb.Store != "unreachable" {
		t.Fatalf("readyz body (store down): %s", body)
	}
	// Still alive.
	if code, _, _ := get(t, nil, http.MethodGet, s.URL+gateway.PathHealthz); code != http.StatusOK {
		t.Fatalf("healthz with the store down: %d", code)
	}
	// The scrape still works and reports the store down, without error text.
	fams := scrape(t, s.URL)
	wantCounter(t, fams, "killgate_store_up", map[string]string{}, 0)
	wantCounter(t, fams, "killgate_requests_total", map[string]string{"door": "ops", "action": "readyz", "code": "NotReady"}, 1)
}

// TestOpsHandlerAlone: the handler of a separate ops listener serves only the
// ops paths; without metrics there is no /metrics.
func TestOpsHandlerAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB")
	}
	s := startOps(t, opsOptions{NoMetrics: true})
	h := gateway.NewOps(gateway.OpsConfig{Store: s.Store, Instances: s.Service.Readiness}).Handler()
	if code, body, _ := get(t, h, http.MethodGet, gateway.PathHealthz); code != http.StatusOK || body != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", code, body)
	}
	if code, body, _ := get(t, h, http.MethodGet, gateway.PathReadyz); code != http.StatusOK || !strings.Contains(body, `"status":"ready"`) {
		t.Fatalf("readyz: %d %s", code, body)
	}
	for _, p := range []string{gateway.PathMetrics, "/", "/v3/x"} {
		t.Run("GET "+p, func(t *testing.T) {
			if code, _, _ := get(t, h, http.MethodGet, p); code != http.StatusNotFound {
				t.Errorf("GET %s on the ops handler: %d, want 404", p, code)
			}
		})
	}
	// Main listener without metrics: no /metrics either.
	if code, _, _ := get(t, nil, http.MethodGet, s.URL+gateway.PathMetrics); code != http.StatusNotFound {
		t.Errorf("GET /metrics with metrics off: %d, want 404", code)
	}
}
