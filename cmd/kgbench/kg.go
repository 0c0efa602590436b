package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"killgate/gateway"
	"killgate/internal/procfs"
	"killgate/tc3"
)

const (
	benchSecretID  = "AKIDkgbench"
	benchSecretKey = "kgbench-secret-key-not-a-secret"
)

// kgInstance is one instance entry of a generated config.
type kgInstance struct {
	ID  string
	DSN string
}

// kgConfig is what a scenario varies in killgate's config.
type kgConfig struct {
	Instances    []kgInstance
	PollInterval time.Duration
	MaxTasks     int
	PerSecond    float64 // 0 = unlimited
	Burst        int
}

// kgProc is a running killgate process.
type kgProc struct {
	cmd     *exec.Cmd
	Addr    string
	dir     string
	store   string
	logPath string
	exited  chan error
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startKillgate writes a temp config and store path and starts bin (the
// killgate binary, or the profiling test binary with extra args).
func startKillgate(bin string, extraArgs []string, kc kgConfig) (*kgProc, error) {
	dir, err := os.MkdirTemp("", "kgbench-")
	if err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &kgProc{Addr: addr, dir: dir, store: filepath.Join(dir, "killgate.db"), logPath: filepath.Join(dir, "killgate.log"), exited: make(chan error, 1)}
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nstore:\n  driver: sqlite\n  dsn: %s\n", addr, p.store)
	fmt.Fprintf(&b, "credentials:\n  - secret_id: %s\n    secret_key: %s\n", benchSecretID, benchSecretKey)
	b.WriteString("instances:\n")
	for _, in := range kc.Instances {
		fmt.Fprintf(&b, "  - id: %s\n    product: mysql\n    dsn: %q\n", in.ID, in.DSN)
	}
	fmt.Fprintf(&b, "worker:\n  poll_interval: %s\n  max_tasks_per_instance: %d\n  kill_concurrency: 8\n  kill_timeout: 5s\n", kc.PollInterval, kc.MaxTasks)
	fmt.Fprintf(&b, "ratelimit:\n  per_second: %g\n  burst: %d\n", kc.PerSecond, kc.Burst)
	b.WriteString("log:\n  level: info\n  format: json\n")
	cfgPath := filepath.Join(dir, "killgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	args := append([]string(nil), extraArgs...)
	if len(extraArgs) == 0 {
		args = append(args, "-config", cfgPath)
	} // else: the profiling test binary reads KGBENCH_SERVE_CONFIG
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = append(os.Environ(), "KGBENCH_SERVE_CONFIG="+cfgPath)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	track(p)
	go func() { p.exited <- p.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			logs, _ := os.ReadFile(p.logPath)
			return nil, fmt.Errorf("killgate exited at start-up (%v): %s", err, tail(logs, 2000))
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("killgate did not listen on %s within 20s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// stop sends SIGTERM (SIGKILL after 25 s) and removes the temp directory
// unless keep is set.
func (p *kgProc) stop() error {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-p.exited:
	case <-time.After(25 * time.Second):
		_ = p.cmd.Process.Kill()
		err = <-p.exited
	}
	p.exited <- err
	untrack(p)
	return err
}

func (p *kgProc) cleanup() {
	if os.Getenv("KGBENCH_KEEP") != "" {
		logf("kept %s", p.dir)
		return
	}
	os.RemoveAll(p.dir)
}

// cpuTicks returns utime+stime of pid in clock ticks (USER_HZ, 100/s).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	// fields after ")": state(3) ... utime is field 14, stime 15 (1-based in stat)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

const userHZ = 100

func (p *kgProc) pid() int { return p.cmd.Process.Pid }

// hwmMiB is the peak RSS so far.
func (p *kgProc) hwmMiB() float64 { _, h := procfs.Mem(p.pid()); return float64(h) / 1024 }

// signed builds a raw HTTP/1.1 TC3-signed DBbrain request.
func signed(host, action, body string, ts int64) []byte {
	auth := tc3.Sign(benchSecretID, benchSecretKey, tc3.ServiceDBbrain,
		tc3.Request{Method: "POST", Host: host, ContentType: "application/json", Body: []byte(body)}, ts)
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-TC-Action: %s\r\nX-TC-Version: %s\r\nX-TC-Timestamp: %d\r\nX-TC-Region: ap-guangzhou\r\nX-TC-Language: en-US\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n%s",
		host, action, gateway.Version, ts, auth, len(body), body)
	return b.Bytes()
}

// call sends one signed request and returns the Response object's body.
func (p *kgProc) call(action, body string) (string, error) {
	raw := signed(p.Addr, action, body, time.Now().Unix())
	c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(raw); err != nil {
		return "", err
	}
	out, err := readResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	if bytes.Contains(out, []byte(`"Error":`)) {
		return string(out), fmt.Errorf("%s: %s", action, out)
	}
	return string(out), nil
}

// metric sums a Prometheus counter from /metrics over series whose label
// text contains every filter.
// scrapeClient reads /metrics on a connection of its own per scrape: an idle
// keep-alive connection would be closed by killgate's idle timeout inside a
// measured window (CPU at rest).
var scrapeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

func (p *kgProc) metric(name string, filters ...string) (float64, error) {
	resp, err := scrapeClient.Get("http://" + p.Addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	found := false
lines:
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, name) || (len(l) > len(name) && l[len(name)] != '{' && l[len(name)] != ' ') {
			continue
		}
		for _, f := range filters {
			if !strings.Contains(l, f) {
				continue lines
			}
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			return 0, err
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("metric %s %v not found", name, filters)
	}
	return sum, sc.Err()
}

// killRecord is one row of the kill history read back from the store.
type killRecord struct {
	ThreadID uint64
	KilledAt time.Time
	Outcome  string
}

// killRecords reads the kill history from the (stopped) killgate's store.
func (p *kgProc) killRecords() ([]killRecord, error) {
	db, err := sql.Open("sqlite", "file:"+p.store+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SELECT thread_id, killed_ms, outcome FROM kill_records WHERE source = 'task'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []killRecord
	for rows.Next() {
		var r killRecord
		var ms int64
		if err := rows.Scan(&r.ThreadID, &ms, &r.Outcome); err != nil {
			return nil, err
		}
		r.KilledAt = time.UnixMilli(ms)
		out = append(out, r)
	}
	return out, rows.Err()
}
