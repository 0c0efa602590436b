package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// startServe runs serve with a config built from yaml until the test ends and
// returns the main listener's address.
func startServe(t *testing.T, yaml string) string {
	t.Helper()
	cfg, err := parseConfig([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, zap.NewNop(), ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return addr
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	return ""
}

func opsGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func wiringConfig(t *testing.T, ops string) string {
	return fmt.Sprintf(`
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: %q}
credentials: [{secret_id: AKIDwiring, secret_key: wiring-key}]
instances:
  - {id: cdb-wired, dsn: "wired:wired-secret-pw@tcp(127.0.0.1:1)/"}
log: {level: error}
%s
`, filepath.Join(t.TempDir(), "kg.db"), ops)
}

// TestServeOpsOnMainListener: by default /metrics, /healthz and /readyz are
// on the main listener, and the request metrics are wired.
func TestServeOpsOnMainListener(t *testing.T) {
	addr := startServe(t, wiringConfig(t, ""))
	base := "http://" + addr
	if code, body := opsGet(t, base+"/healthz"); code != http.StatusOK || body != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", code, body)
	}
	code, body := opsGet(t, base+"/readyz")
	if code != http.StatusOK || !strings.Contains(body, `"id":"cdb-wired"`) {
		t.Fatalf("readyz: %d %s", code, body)
	}
	if strings.Contains(body, "wired-secret-pw") || strings.Contains(body, "127.0.0.1:1") {
		t.Fatalf("readyz leaks the DSN: %s", body)
	}
	code, body = opsGet(t, base+"/metrics")
	for _, want := range []string{
		`killgate_requests_total{action="readyz",code="ok",door="ops"} 1`,
		`killgate_active_tasks{instance="cdb-wired"} 0`,
		`killgate_build_info{version="dev"} 1`,
		`killgate_store_up 1`,
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
}

// TestServeOpsListener: with ops.listen the ops endpoints move there and
// leave the API listener.
func TestServeOpsListener(t *testing.T) {
	opsAddr := freePort(t)
	addr := startServe(t, wiringConfig(t, "ops: {listen: "+opsAddr+"}"))
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		t.Run(p, func(t *testing.T) {
			if code, _ := opsGet(t, "http://"+addr+p); code != http.StatusNotFound {
				t.Errorf("main listener %s: %d, want 404", p, code)
			}
			if code, _ := opsGet(t, "http://"+opsAddr+p); code != http.StatusOK {
				t.Errorf("ops listener %s: %d, want 200", p, code)
			}
		})
	}
}

// TestServeMetricsOff: ops.metrics false removes /metrics only.
func TestServeMetricsOff(t *testing.T) {
	addr := startServe(t, wiringConfig(t, "ops: {metrics: false}"))
	if code, _ := opsGet(t, "http://"+addr+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics with metrics off: %d", code)
	}
	if code, _ := opsGet(t, "http://"+addr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with metrics off: %d", code)
	}
}
