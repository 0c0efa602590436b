package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"killgate/gateway"
	"killgate/tc3"
)

// TestUnauthenticatedUploadMemory sends 40 concurrent 10 MB bodies (400 of
// 1 MB to the Huawei door) that will never authenticate to the real binary and measures its peak RSS
// (VmHWM) against its RSS before them (issue 12 item 4: they took the
// process from 90 MB to ~950 MB). killgate checks what needs no body first
// (size, Action, Version, SecretId, timestamp window), so a body with an
// unknown SecretId is never read, and bounds the bodies it does read by
// requests.body_memory_mb (64 MiB by default): a request that cannot get
// that memory within requests.body_wait gets RequestLimitExceeded (429 on
// the Huawei door). Every request gets its answer; none hangs.
func TestUnauthenticatedUploadMemory(t *testing.T) {
	relBinary(t)
	const (
		id, key   = "AKIDupload", "upload-secret-key"
		project   = "054e292c9880d4992f02c0196d3ea468"
		hwAK      = "HWAKUPLOAD0123"
		hwSK      = "hw-upload-sk-0123456789"
		n         = 40
		bigBody   = 10 << 20
		hwBody    = 1 << 20
		maxGrowth = 256 << 20 // 4 × the default body memory: bodies, garbage not yet collected, connections
	)
	tencent := func(secretID string, chunked bool) func(addr string) *http.Request {
		return func(addr string) *http.Request {
			body := bytes.Repeat([]byte("x"), bigBody)
			var r io.Reader = bytes.NewReader(body)
			if chunked {
				r = io.MultiReader(r) // hides the length: sent chunked
			}
			req, _ := http.NewRequest("POST", "http://"+addr+"/", r)
			ts := time.Now().Unix()
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-TC-Action", "DescribeKillTasks")
			req.Header.Set("X-TC-Version", gateway.Version)
			req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
			// Signed over another body: never valid.
			req.Header.Set("Authorization", tc3.Sign(secretID, "not-the-key", "dbbrain", tc3.Request{Method: "POST", Host: addr, RawQuery: "", ContentType: "application/json", Body: []byte("{}")}, ts))
			return req
		}
	}
	huaweiAs := func(ak string) func(addr string) *http.Request {
		return func(addr string) *http.Request {
			req, _ := http.NewRequest("POST", "http://"+addr+"/v3/"+project+"/instances/i1/intelligent-kill-session", bytes.NewReader(bytes.Repeat([]byte("x"), hwBody)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Sdk-Date", time.Now().UTC().Format(gateway.HuaweiDateFormat))
			req.Header.Set("Authorization", "SDK-HMAC-SHA256 Access="+ak+", SignedHeaders=host;x-sdk-date, Signature="+strings.Repeat("0", 64))
			return req
		}
	}
	for _, sc := range []struct {
		name  string
		n     int
		req   func(addr string) *http.Request
		codes []string // acceptable answers
	}{
		{"tencent, unknown SecretId, 40 x 10 MB", n, tencent("AKIDnobody", false), []string{"AuthFailure.SecretIdNotFound"}},
		{"tencent, known SecretId, bad signature, 40 x 10 MB", n, tencent(id, false), []string{"AuthFailure.SignatureFailure", "RequestLimitExceeded"}},
		{"tencent, known SecretId, bad signature, 40 x 10 MB chunked", n, tencent(id, true), []string{"AuthFailure.SignatureFailure", "RequestLimitExceeded"}},
		{"huawei, unknown AK, 400 x 1 MB", 400, huaweiAs("HWAKNOBODY"), []string{"APIGW.0301"}},
		{"huawei, known AK, bad signature, 400 x 1 MB", 400, huaweiAs(hwAK), []string{"APIGW.0301", "APIGW.0308"}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			dir := t.TempDir()
			addr := freePort(t)
			cfg := fmt.Sprintf("listen: %s\nstore: {driver: sqlite, dsn: %q}\ncredentials: [{secret_id: %s, secret_key: %s}]\n"+
				"huawei: {project_id: %s, keys: [{ak: %s, sk: %s}]}\nlog: {level: warn}\n",
				addr, filepath.Join(dir, "killgate.db"), id, key, project, hwAK, hwSK)
			cfgPath := filepath.Join(dir, "killgate.yaml")
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			p := relStart(t, cfgPath, filepath.Join(dir, "killgate.log"), addr)
			pid := p.cmd.Process.Pid
			before := procStatusKB(t, pid, "VmRSS")

			client := &http.Client{Timeout: 2 * time.Minute}
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				counts = map[string]int{}
			)
			for range sc.n {
				wg.Go(func() {
					code := uploadAnswer(client, sc.req(addr))
					mu.Lock()
					counts[code]++
					mu.Unlock()
				})
			}
			wg.Wait()
			peak := procStatusKB(t, pid, "VmHWM")
			growth := (peak - before) << 10
			t.Logf("figure: %s: RSS %d MB before, peak %d MB (+%d MB); answers %v", sc.name, before>>10, peak>>10, growth>>20, counts)
			for code, c := range counts {
				ok := false
				for _, want := range sc.codes {
					ok = ok || code == want
				}
				if !ok {
					t.Errorf("%d requests answered %q, want one of %v", c, code, sc.codes)
				}
			}
			if growth > maxGrowth {
				t.Errorf("peak RSS grew by %d MB under %d unauthenticated uploads; the bound is %d MB", growth>>20, sc.n, maxGrowth>>20)
			}
		})
	}
}

// uploadAnswer sends req and returns the error code of its answer (the
// Tencent envelope's Error.Code, Huawei's error_code), or a description of
// what went wrong instead.
func uploadAnswer(c *http.Client, req *http.Request) string {
	resp, err := c.Do(req)
	if err != nil {
		return "transport error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Response struct {
			Error struct{ Code string }
		}
		Code string `json:"error_code"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Sprintf("HTTP %d, not JSON", resp.StatusCode)
	}
	if env.Code != "" {
		return env.Code
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return env.Response.Error.Code
}

// procStatusKB reads a "kB" field of /proc/<pid>/status.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
