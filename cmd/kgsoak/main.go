// Command kgsoak holds killgate under sustained mixed load on loopback and
// reports what it served and what it cost (docs/reliability.md):
//
//	kgsoak -killgate bin/killgate -time 3m
//
// It starts its own throwaway MariaDB (mariadbd on a free loopback port, a
// temp datadir) as the target, and killgate on a free port with a SQLite
// store in a temp dir. Workers send freshly TC3-signed requests — valid
// reads and writes, invalid ones (bad signature, unknown action, bad
// parameters) and deliberate over-limit bursts — while victims are created
// and killed continuously by a running kill task. At the end it prints
// requests served, answers by code, latencies, kills, killgate's VmRSS and
// VmHWM and its goroutines (from /metrics) at start and end. Everything
// stops and is removed when it returns.
//
// It imports the standard library, killgate/tc3, killgate/internal/procfs,
// the MySQL driver, and killgate/gateway for its API version only: like
// kgbench it drives killgate as a separate process.
package main

// Longer than 400 lines on purpose: a single-file soak tool (load generator, checker and report);
// it is run, not imported.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"killgate/gateway"
	"killgate/internal/procfs"
	"killgate/tc3"
)

const (
	instance  = "cdb-soak"
	victimU   = "kgsoak"
	victimPW  = "kgsoak-pw"
	nCreds    = 16
	lockName  = "kgsoak-lock"
	overLimit = "AKIDsoak-hot" // the credential the over-limit worker hammers
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kgsoak:", err)
		os.Exit(1)
	}
}

type stats struct {
	mu        sync.Mutex
	codes     map[string]int64
	kinds     map[string]int64
	lat       []time.Duration // sampled
	requests  atomic.Int64
	transport atomic.Int64 // requests that got no HTTP answer
}

func (s *stats) add(kind, code string, d time.Duration) {
	s.requests.Add(1)
	s.mu.Lock()
	if code == "" {
		code = "OK"
	}
	s.codes[code]++
	s.kinds[kind]++
	if len(s.lat) < 2_000_000 {
		s.lat = append(s.lat, d)
	}
	s.mu.Unlock()
}

func run() error {
	bin := flag.String("killgate", "bin/killgate", "killgate binary")
	dur := flag.Duration("time", envDuration("SOAK_TIME", 3*time.Minute), "soak duration (or $SOAK_TIME)")
	workers := flag.Int("workers", 8, "concurrent request workers")
	victimRate := flag.Int("victims", 20, "victim sessions created per second")
	out := flag.String("out", "", "also write the report (markdown) to this file")
	flag.Parse()
	_ = mysql.SetLogger(log.New(io.Discard, "", 0)) // killed victims make the driver log EOFs
	if *workers < 1 || *workers > 64 || *victimRate < 0 || *victimRate > 200 {
		return errors.New("-workers must be 1..64 and -victims 0..200")
	}
	dir, err := os.MkdirTemp("", "kgsoak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Target: a throwaway MariaDB.
	db, err := startMariaDB(dir)
	if err != nil {
		return err
	}
	defer db.stop()
	root, err := sql.Open("mysql", db.dsn("root", "", ""))
	if err != nil {
		return err
	}
	defer root.Close()
	root.SetMaxOpenConns(4)
	for _, q := range []string{
		"CREATE USER '" + victimU + "'@'%' IDENTIFIED BY '" + victimPW + "'",
		"CREATE DATABASE " + victimU, "GRANT ALL ON " + victimU + ".* TO '" + victimU + "'@'%'",
	} {
		if _, err := root.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	lockConn, err := root.Conn(context.Background())
	if err != nil {
		return err
	}
	defer lockConn.Close()
	if _, err := lockConn.ExecContext(context.Background(), "SELECT GET_LOCK(?, 5)", lockName); err != nil {
		return err
	}

	// killgate.
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	var creds strings.Builder
	for i := range nCreds {
		fmt.Fprintf(&creds, "  - {secret_id: AKIDsoak%d, secret_key: soak-key-%d}\n", i, i)
	}
	fmt.Fprintf(&creds, "  - {secret_id: %s, secret_key: soak-key-hot}\n", overLimit)
	cfg := fmt.Sprintf(`listen: %s
store: {driver: sqlite, dsn: %s}
credentials:
%sinstances: [{id: %s, product: mysql, dsn: "%s", protected_users: [root]}]
worker: {poll_interval: 200ms, max_tasks_per_instance: 5}
ratelimit: {per_second: 50, burst: 50}
log: {level: warn}
`, addr, filepath.Join(dir, "killgate.db"), creds.String(), instance, db.dsn("root", "", ""))
	cfgPath := filepath.Join(dir, "killgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "killgate.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	kg := exec.Command(*bin, "-config", cfgPath)
	kg.Stdout, kg.Stderr = logf, logf
	kg.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := kg.Start(); err != nil {
		return err
	}
	kgDone := make(chan error, 1)
	go func() { kgDone <- kg.Wait() }()
	defer func() {
		_ = kg.Process.Signal(syscall.SIGTERM)
		select {
		case <-kgDone:
		case <-time.After(30 * time.Second):
			_ = kg.Process.Kill()
			<-kgDone
		}
	}()
	base := "http://" + addr
	if err := waitHTTP(base+"/healthz", 20*time.Second); err != nil {
		return err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *workers + 4, MaxConnsPerHost: *workers + 4}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()

	// The kill task that kills every victim.
	if code, _, err := call(client, addr, "AKIDsoak0", "soak-key-0", "CreateKillTask",
		fmt.Sprintf(`{"InstanceId":%q,"Duration":-1,"User":%q}`, instance, victimU), false); err != nil || code != "" {
		return fmt.Errorf("CreateKillTask: %s %v", code, err)
	}
	time.Sleep(2 * time.Second) // warm up before the start figures
	startRSS, startHWM := procfs.Mem(kg.Process.Pid)
	startG := goroutines(client, base)
	startFD := fds(kg.Process.Pid)
	fmt.Printf("kgsoak: %s of load against killgate pid %d on %s (target MariaDB %s)\n", *dur, kg.Process.Pid, addr, db.addr)

	st := &stats{codes: map[string]int64{}, kinds: map[string]int64{}}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Go(func() { worker(ctx, w, client, addr, st) })
	}
	var victims, victimErrs atomic.Int64
	wg.Go(func() { spawnVictims(ctx, db, *victimRate, &victims, &victimErrs) })
	var maxG int
	var maxRSS int64
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				maxG = max(maxG, goroutines(client, base))
				rss, _ := procfs.Mem(kg.Process.Pid)
				maxRSS = max(maxRSS, rss)
				fmt.Printf("  %s: %d requests, %d victims, goroutines %d, VmRSS %d kB\n",
					(*dur - ctxRemaining(ctx)).Round(time.Second),
					st.requests.Load(), victims.Load(), goroutines(client, base), rss)
			}
		}
	})
	wg.Wait()
	select {
	case err := <-kgDone:
		return fmt.Errorf("killgate exited during the soak: %v", err)
	default:
	}
	select {
	case <-db.done:
		tail, _ := os.ReadFile(filepath.Join(dir, "mariadb.err"))
		return fmt.Errorf("the target MariaDB exited during the soak (not killgate's doing to judge from its log):\n%s", tail)
	default:
	}
	time.Sleep(2 * time.Second) // in-flight kills finish and flush
	endRSS, endHWM := procfs.Mem(kg.Process.Pid)
	endG := goroutines(client, base)
	endFD := fds(kg.Process.Pid)
	_, body, _ := call(client, addr, "AKIDsoak1", "soak-key-1", "DescribeKillRecords", fmt.Sprintf(`{"InstanceId":%q,"Limit":1}`, instance), false)
	var recs struct {
		Response struct{ TotalCount int64 }
	}
	_ = json.Unmarshal(body, &recs)
	var alive int
	_ = root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", victimU).Scan(&alive)

	// Report.
	st.mu.Lock()
	lat := slices.Clone(st.lat)
	codes := st.codes
	kinds := st.kinds
	st.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	n := st.requests.Load()
	var b strings.Builder
	fmt.Fprintf(&b, "| Soak figure | Value |\n|---|---|\n")
	fmt.Fprintf(&b, "| duration, workers, victim rate | %s, %d workers, %d victims/s |\n", *dur, *workers, *victimRate)
	fmt.Fprintf(&b, "| requests answered | %d (%.0f req/s); %d without an HTTP answer |\n", n, float64(n)/dur.Seconds(), st.transport.Load())
	fmt.Fprintf(&b, "| request mix | %s |\n", mapText(kinds))
	fmt.Fprintf(&b, "| answers by code | %s |\n", mapText(codes))
	fmt.Fprintf(&b, "| latency p50 / p99 / max | %s / %s / %s |\n", pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	fmt.Fprintf(&b, "| victims created / killed and recorded / alive at end | %d (%d failed to connect) / %d / %d |\n", victims.Load(), victimErrs.Load(), recs.Response.TotalCount, alive)
	fmt.Fprintf(&b, "| killgate VmRSS start → end (max sampled) | %d kB → %d kB (%d kB) |\n", startRSS, endRSS, max(maxRSS, endRSS))
	fmt.Fprintf(&b, "| killgate VmHWM start → end | %d kB → %d kB |\n", startHWM, endHWM)
	fmt.Fprintf(&b, "| goroutines start → end (max sampled) | %d → %d (%d) |\n", startG, endG, max(maxG, endG))
	fmt.Fprintf(&b, "| open fds start → end | %d → %d |\n", startFD, endFD)
	fmt.Print(b.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if codes["InternalError"] > 0 || st.transport.Load() > 0 {
		return fmt.Errorf("%d InternalError answers, %d requests without an answer", codes["InternalError"], st.transport.Load())
	}
	return nil
}

func ctxRemaining(ctx context.Context) time.Duration {
	d, _ := ctx.Deadline()
	return time.Until(d)
}

func mapText(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// worker sends a weighted mix until ctx ends.
func worker(ctx context.Context, w int, client *http.Client, addr string, st *stats) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
	for ctx.Err() == nil {
		i := rng.IntN(nCreds)
		id, key := "AKIDsoak"+strconv.Itoa(i), "soak-key-"+strconv.Itoa(i)
		var kind, action, body string
		badSig := false
		switch r := rng.IntN(100); {
		case r < 55:
			kind = "valid-read"
			switch rng.IntN(4) {
			case 0:
				action, body = "DescribeKillTasks", `{"Limit":20}`
			case 1:
				action, body = "DescribeKillRecords", fmt.Sprintf(`{"InstanceId":%q,"Limit":20}`, instance)
			case 2:
				action, body = "DescribeMySqlProcessList", fmt.Sprintf(`{"InstanceId":%q,"User":%q}`, instance, victimU)
			default:
				action, body = "DescribeDiagDBInstances", `{"IsSupported":true,"Product":"mysql"}`
			}
		case r < 65:
			kind = "valid-write"
			// Short tasks that select nothing: they come and go (some
			// hit LimitExceeded or HasDuplicatedTask, both correct).
			action, body = "CreateKillTask", fmt.Sprintf(`{"InstanceId":%q,"Duration":2,"User":"kgsoak-nobody-%d"}`, instance, rng.IntN(8))
			if rng.IntN(4) == 0 {
				action, body = "PreviewKillTask", fmt.Sprintf(`{"InstanceId":%q,"User":%q}`, instance, victimU)
			}
		case r < 80:
			kind = "invalid"
			switch rng.IntN(5) {
			case 0:
				action, body, badSig = "DescribeKillTasks", `{}`, true
			case 1:
				action, body = "NoSuchAction", `{}`
			case 2:
				action, body = "CreateKillTask", fmt.Sprintf(`{"InstanceId":%q,"Duration":0}`, instance)
			case 3:
				action, body = "DescribeKillTasks", `{"Limit":"many"}`
			default:
				action, body = "CreateKillTask", `{"InstanceId":`
			}
		default:
			kind = "over-limit"
			id, key, action, body = overLimit, "soak-key-hot", "DescribeKillTasks", `{"Limit":1}`
		}
		start := time.Now()
		code, _, err := call(client, addr, id, key, action, body, badSig)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			st.transport.Add(1)
			continue
		}
		st.add(kind, code, time.Since(start))
	}
}

// call sends one freshly signed TC3 request and returns the error code.
func call(client *http.Client, addr, id, key, action, body string, badSig bool) (string, []byte, error) {
	ts := time.Now().Unix()
	req, err := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader(body))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", gateway.Version)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	if badSig {
		key += "-wrong"
	}
	req.Header.Set("Authorization", tc3.Sign(id, key, tc3.ServiceDBbrain,
		tc3.Request{Method: "POST", Host: addr, ContentType: "application/json", Body: []byte(body)}, ts))
	resp, err := client.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != 200 {
		return "HTTP" + strconv.Itoa(resp.StatusCode), b, nil
	}
	var env struct {
		Response struct {
			Error *struct{ Code string }
		}
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "NotJSON", b, nil
	}
	if env.Response.Error != nil {
		return env.Response.Error.Code, b, nil
	}
	return "", b, nil
}

// spawnVictims opens rate sessions a second, each blocking on the soak
// lock, bounded to 200 open at once; the kill task kills them.
func spawnVictims(ctx context.Context, db *mariaDB, rate int, n, errs *atomic.Int64) {
	if rate == 0 {
		return
	}
	sem := make(chan struct{}, 200)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // 200 victims alive: the killer is behind; do not pile up
		}
		wg.Go(func() {
			defer func() { <-sem }()
			conn, err := sql.Open("mysql", db.dsn(victimU, victimPW, victimU))
			if err != nil {
				errs.Add(1)
				return
			}
			defer conn.Close()
			conn.SetMaxOpenConns(1)
			qctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := conn.PingContext(qctx); err != nil {
				errs.Add(1)
				return
			}
			n.Add(1)
			_, _ = conn.ExecContext(qctx, "SELECT GET_LOCK('"+lockName+"', 25)") // ends when killed
		})
	}
}

func fds(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// goroutines scrapes go_goroutines from killgate's /metrics.
func goroutines(client *http.Client, base string) int {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	return -1
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHTTP(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v", url, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mariaDB is a throwaway server (as kgtest.StartMariaDB, without testing).
type mariaDB struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func (m *mariaDB) dsn(user, pw, db string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?timeout=5s", user, pw, m.addr, db)
}

func startMariaDB(dir string) (*mariaDB, error) {
	data := filepath.Join(dir, "mariadb")
	if out, err := exec.Command("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("/usr/sbin/mariadbd", "--no-defaults", "--datadir="+data, "--port="+port,
		"--bind-address=127.0.0.1", "--socket="+filepath.Join(dir, "mariadb.sock"), "--pid-file="+filepath.Join(dir, "mariadb.pid"),
		"--user=root", "--skip-log-bin", "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--max-connections=1000",
		"--log-error="+filepath.Join(dir, "mariadb.err"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m := &mariaDB{addr: addr, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(m.done) }()
	db, err := sql.Open("mysql", m.dsn("root", "", ""))
	if err != nil {
		m.stop()
		return nil, err
	}
	defer db.Close()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err = db.Ping(); err == nil {
			return m, nil
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("throwaway MariaDB not answering: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *mariaDB) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}
