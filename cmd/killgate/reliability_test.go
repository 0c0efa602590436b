package main

// Longer than 400 lines on purpose: the reliability suite (crash, restart, store and database
// outages) drives one real killgate binary through a sequence of faults.

// Reliability tests against the real killgate binary (docs/reliability.md):
// SIGKILL crash rounds, SIGTERM drain, and a secret-leak scan of a whole
// scripted session. Targets and MySQL stores are throwaway MariaDB servers
// (kgtest.StartMariaDB), never the shared one.
//
//	CRASH_ROUNDS=50 go test -run TestCrashRecovery -v ./cmd/killgate   (make crash)

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
	"killgate/tc3"
)

// relBinary returns the killgate binary TestMain built (replicas_test.go)
// for this package's process-level tests.
func relBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the killgate binary")
	}
	if replicaBinErr != nil {
		t.Fatal(replicaBinErr)
	}
	return replicaBin
}

// relProc is one killgate process; its stdout and stderr go to one file
// that outlives it.
type relProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

func relStart(t *testing.T, cfgPath, logPath, addr string) *relProc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(relBinary(t), "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	p := &relProc{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.signal(syscall.SIGKILL) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("killgate exited at start: %v\n%s", p.err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("killgate not ready after 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig and waits (up to 30s) for the process to exit.
func (p *relProc) signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

func relClient(addr, id, key string) *common.Client {
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = addr
	cpf.HttpProfile.Scheme = "HTTP"
	cpf.HttpProfile.ReqTimeout = 30
	cpf.Language = "en-US"
	return common.NewCommonClient(common.NewCredential(id, key), "ap-guangzhou", cpf)
}

type relTask struct {
	ID, Info           string
	CreateTime, Expire string // as answered right after creation
	Duration           int64
}

type relRecord struct {
	RecordId int64
	TaskId   string
	ThreadId int64
	Outcome  string
	KillTime string
	User     string
}

func relRecords(t *testing.T, c *common.Client, inst string) []relRecord {
	t.Helper()
	var all []relRecord
	for off := 0; ; off += 100 {
		var out struct {
			Records    []relRecord
			TotalCount int
		}
		if err := kgtest.CallWith(c, "DescribeKillRecords", map[string]any{"InstanceId": inst, "Offset": off, "Limit": 100}, &out); err != nil {
			t.Fatalf("DescribeKillRecords: %v", err)
		}
		all = append(all, out.Records...)
		if len(out.Records) < 100 {
			return all
		}
	}
}

// TestCrashRecovery: rounds of SIGKILL at a random moment while tasks are
// being created and victims killed, then a restart on the same store. After
// every restart: every acknowledged task (Status 1 answered) is there with
// its original CreateTime and ExpireTime; every kill record seen through
// the API before the crash (hence committed) is there exactly once,
// unchanged; no (task, thread) pair has two records; and enforcement
// resumes (a new victim of a surviving task dies). Kills in flight at the
// crash may lose their record (the victim is gone, the row was never
// committed): they are counted, not failed. CRASH_ROUNDS (default 5) sets
// the number of rounds.
func TestCrashRecovery(t *testing.T) {
	relBinary(t)
	rounds := 5
	if s := os.Getenv("CRASH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	m := kgtest.StartMariaDB(t)
	root := m.Root(t)
	const inst, user, pw, id, key = "cdb-crash", "kgcrash", "kgcrash-pw", "AKIDcrash", "crash-secret-key"
	kgtest.CreateUser(t, root, user, pw)
	dir := t.TempDir()
	addr := freePort(t)
	cfgPath := filepath.Join(dir, "killgate.yaml")
	cfg := fmt.Sprintf(`listen: %s
store: {driver: sqlite, dsn: %s}
credentials: [{secret_id: %s, secret_key: %s}]
instances: [{id: %s, product: mysql, dsn: "%s"}]
worker: {poll_interval: 50ms, max_tasks_per_instance: 1000, kill_timeout: 3s}
ratelimit: {per_second: 100000, burst: 100000}
log: {level: info}
`, addr, filepath.Join(dir, "killgate.db"), id, key, inst, m.DSN("", "", ""))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "killgate.log")
	c := relClient(addr, id, key)
	lock := kgtest.Lock(t, root) // GET_LOCK on the throwaway server's root pool
	victimDSN := m.DSN(user, pw, user)

	acked := map[string]relTask{} // every task answered Status 1
	seen := map[int64]relRecord{} // every record seen before a crash
	var victims sync.Map          // thread id → task info (every victim started)
	var lostInFlight, killsTotal int
	var mu sync.Mutex
	taskSeq := 0
	start := time.Now()
	for round := 1; round <= rounds; round++ {
		p := relStart(t, cfgPath, logPath, addr)
		// After a restart: everything acknowledged is intact.
		if round > 1 {
			verifyAfterCrash(t, c, inst, acked, seen, round)
		}
		// Load: a task creator and victim spawners, until the crash.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				taskSeq++
				n := taskSeq
				mu.Unlock()
				info := fmt.Sprintf("/*kgcrash-%d*/", n)
				dur := int64(30 + rand.IntN(600))
				var out struct {
					Status int64
					TaskId string
				}
				err := kgtest.CallWith(c, "CreateKillTask", map[string]any{"InstanceId": inst, "Duration": dur, "User": user, "Info": info}, &out)
				if err != nil || out.Status != 1 {
					continue // not acknowledged (the crash cut it): no promise
				}
				var tasks struct {
					Tasks []struct{ TaskId, CreateTime, ExpireTime string }
				}
				// Original times, read back while the process lives (it
				// may die right now: then the creation answer alone is
				// the acknowledgement, and times are checked for tasks
				// whose read succeeded).
				rt := relTask{ID: out.TaskId, Info: info, Duration: dur}
				if kgtest.CallWith(c, "DescribeKillTasks", map[string]any{"TaskId": out.TaskId}, &tasks) == nil && len(tasks.Tasks) == 1 {
					rt.CreateTime, rt.Expire = tasks.Tasks[0].CreateTime, tasks.Tasks[0].ExpireTime
				}
				mu.Lock()
				acked[out.TaskId] = rt
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			}
		})
		for range 3 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					var infos []string
					for _, tk := range acked {
						infos = append(infos, tk.Info)
					}
					mu.Unlock()
					if len(infos) == 0 {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					info := infos[rand.IntN(len(infos))]
					v := kgtest.NewVictimOn(t, victimDSN, info+" "+kgtest.LockQuery(lock))
					victims.Store(v.ID, info)
					time.Sleep(time.Duration(5+rand.IntN(30)) * time.Millisecond)
				}
			})
		}
		// Observe committed records until the crash.
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var out struct{ Records []relRecord }
				if kgtest.CallWith(c, "DescribeKillRecords", map[string]any{"InstanceId": inst, "Limit": 100}, &out) == nil {
					mu.Lock()
					for _, r := range out.Records {
						seen[r.RecordId] = r
					}
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
		time.Sleep(time.Duration(150+rand.IntN(1500)) * time.Millisecond)
		_ = p.signal(syscall.SIGKILL)
		close(stop)
		wg.Wait()
	}
	// Final restart: verify, then enforcement resumes for a surviving task.
	relStart(t, cfgPath, logPath, addr)
	verifyAfterCrash(t, c, inst, acked, seen, rounds+1)
	var survivor relTask
	for _, tk := range acked {
		survivor = tk
		break
	}
	if survivor.ID == "" {
		t.Fatal("no task was acknowledged in any round")
	}
	v := kgtest.NewVictimOn(t, victimDSN, survivor.Info+" "+kgtest.LockQuery(lock))
	kgtest.Eventually(t, 15*time.Second, "enforcement resumed after the last restart", func() bool { return !v.Exists(t, root) })
	// Which victims died without a record: kills in flight at a crash.
	time.Sleep(500 * time.Millisecond) // the last kills' rows flush
	recs := relRecords(t, c, inst)
	recorded := map[int64]bool{}
	for _, r := range recs {
		recorded[r.ThreadId] = true
	}
	var alive []uint64
	victims.Range(func(k, _ any) bool {
		tid := k.(uint64)
		var n int
		_ = root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", tid).Scan(&n)
		switch {
		case n > 0:
			alive = append(alive, tid)
		case !recorded[int64(tid)]:
			lostInFlight++
		default:
			killsTotal++
		}
		return true
	})
	// Victims still alive belong to tasks that were not acknowledged or
	// whose pollers have not come round yet: they must die shortly.
	for _, tid := range alive {
		kgtest.Eventually(t, 15*time.Second, fmt.Sprintf("victim %d killed after the last restart", tid), func() bool {
			var n int
			_ = root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", tid).Scan(&n)
			return n == 0
		})
	}
	t.Logf("figure: crash rounds %d survived in %s: %d acknowledged tasks intact (original expiry), %d committed kill records intact and unduplicated, %d victims killed and recorded, %d kills in flight at a crash left no record (allowed), 0 lost acknowledged tasks or rows",
		rounds, time.Since(start).Round(time.Second), len(acked), len(seen), killsTotal, lostInFlight)
}

func verifyAfterCrash(t *testing.T, c *common.Client, inst string, acked map[string]relTask, seen map[int64]relRecord, round int) {
	t.Helper()
	var tasks []struct {
		TaskId, CreateTime, ExpireTime, Status, Info string
		Duration                                     int64
	}
	for off := 0; ; off += 100 {
		var out struct {
			Tasks []struct {
				TaskId, CreateTime, ExpireTime, Status, Info string
				Duration                                     int64
			}
		}
		if err := kgtest.CallWith(c, "DescribeKillTasks", map[string]any{"InstanceId": inst, "Offset": off, "Limit": 100}, &out); err != nil {
			t.Fatalf("round %d: DescribeKillTasks: %v", round, err)
		}
		tasks = append(tasks, out.Tasks...)
		if len(out.Tasks) < 100 {
			break
		}
	}
	byID := map[string]int{}
	for i, tk := range tasks {
		byID[tk.TaskId] = i
	}
	for id, want := range acked {
		i, ok := byID[id]
		if !ok {
			t.Fatalf("round %d: acknowledged task %s lost", round, id)
		}
		got := tasks[i]
		if got.Info != want.Info || got.Duration != want.Duration {
			t.Fatalf("round %d: task %s changed: %+v vs %+v", round, id, got, want)
		}
		if want.CreateTime != "" && (got.CreateTime != want.CreateTime || got.ExpireTime != want.Expire) {
			t.Fatalf("round %d: task %s times changed: %s/%s, acknowledged %s/%s", round, id, got.CreateTime, got.ExpireTime, want.CreateTime, want.Expire)
		}
	}
	recs := relRecords(t, c, inst)
	byRec := map[int64]relRecord{}
	pairs := map[string]int64{}
	for _, r := range recs {
		if _, again := byRec[r.RecordId]; again {
			continue // pages shift while new rows arrive
		}
		byRec[r.RecordId] = r
		k := r.TaskId + "/" + strconv.FormatInt(r.ThreadId, 10)
		if prev, dup := pairs[k]; dup && r.Outcome == "killed" && byRec[prev].Outcome == "killed" {
			t.Fatalf("round %d: thread %d killed twice for task %s (records %d and %d)", round, r.ThreadId, r.TaskId, prev, r.RecordId)
		}
		pairs[k] = r.RecordId
	}
	for id, want := range seen {
		got, ok := byRec[id]
		if !ok {
			t.Fatalf("round %d: committed kill record %d (thread %d) lost", round, id, want.ThreadId)
		}
		if got != want {
			t.Fatalf("round %d: record %d changed: %+v vs %+v", round, id, got, want)
		}
	}
}

// TestShutdownDrains: SIGTERM lets a slow request in flight finish (its
// body still arriving), stops the worker, writes the history of the kills
// made just before it, and exits 0.
func TestShutdownDrains(t *testing.T) {
	relBinary(t)
	m := kgtest.StartMariaDB(t)
	root := m.Root(t)
	const inst, user, pw, id, key = "cdb-term", "kgterm", "kgterm-pw", "AKIDterm", "term-secret-key"
	kgtest.CreateUser(t, root, user, pw)
	dir := t.TempDir()
	addr := freePort(t)
	storePath := filepath.Join(dir, "killgate.db")
	cfgPath := filepath.Join(dir, "killgate.yaml")
	cfg := fmt.Sprintf(`listen: %s
store: {driver: sqlite, dsn: %s}
credentials: [{secret_id: %s, secret_key: %s}]
instances: [{id: %s, product: mysql, dsn: "%s"}]
worker: {poll_interval: 50ms}
`, addr, storePath, id, key, inst, m.DSN("", "", ""))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := relStart(t, cfgPath, filepath.Join(dir, "killgate.log"), addr)
	c := relClient(addr, id, key)
	var task struct{ TaskId string }
	if err := kgtest.CallWith(c, "CreateKillTask", map[string]any{"InstanceId": inst, "Duration": -1, "User": user}, &task); err != nil {
		t.Fatal(err)
	}
	lock := kgtest.Lock(t, root)
	const n = 20
	var vs []*kgtest.Victim
	for range n {
		vs = append(vs, kgtest.NewVictimOn(t, m.DSN(user, pw, user), kgtest.LockQuery(lock)))
	}
	// A slow request: headers now, body over 1.5 s.
	body := `{"InstanceId":"` + inst + `","Limit":10}`
	pr, pw2 := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+addr+"/", pr)
	req.ContentLength = int64(len(body))
	signTC3(req, id, key, "DescribeKillTasks", []byte(body))
	type answer struct {
		status int
		body   string
		err    error
	}
	ans := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ans <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ans <- answer{status: resp.StatusCode, body: string(b)}
	}()
	go func() {
		for i := 0; i < len(body); i++ {
			_, _ = pw2.Write([]byte{body[i]})
			time.Sleep(1500 * time.Millisecond / time.Duration(len(body)))
		}
		pw2.Close()
	}()
	// Victims die; SIGTERM at once (before the 200 ms history flush).
	for _, v := range vs {
		kgtest.Eventually(t, 10*time.Second, "victim killed", func() bool { return !v.Exists(t, root) })
	}
	time.Sleep(100 * time.Millisecond) // the slow request is well under way
	termAt := time.Now()
	err := p.signal(syscall.SIGTERM)
	exitIn := time.Since(termAt)
	if err != nil {
		b, _ := os.ReadFile(p.log)
		t.Fatalf("killgate exited with %v after SIGTERM\n%s", err, b)
	}
	a := <-ans
	if a.err != nil || a.status != 200 || !strings.Contains(a.body, `"Tasks"`) {
		t.Fatalf("the slow request in flight at SIGTERM: %d %v %.300s", a.status, a.err, a.body)
	}
	logs, _ := os.ReadFile(p.log)
	if !strings.Contains(string(logs), `"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", logs)
	}
	// The history of every kill is in the store.
	st, err := killtask.OpenStore(context.Background(), killtask.StoreConfig{Driver: "sqlite", DSN: storePath})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, total, err := st.ListKillRecords(context.Background(), killtask.RecordQuery{TaskID: task.TaskId, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	killed := map[uint64]bool{}
	for _, r := range recs {
		if r.Outcome == killtask.OutcomeKilled {
			killed[r.ThreadID] = true
		}
	}
	for _, v := range vs {
		if !killed[v.ID] {
			t.Fatalf("victim %d killed before SIGTERM has no history row (%d rows)", v.ID, total)
		}
	}
	t.Logf("figure: SIGTERM: slow request in flight answered 200; %d/%d kills made just before have their rows; exit 0 in %s", len(killed), n, exitIn.Round(time.Millisecond))
}

// signTC3 signs req (POST JSON) for the door.
func signTC3(req *http.Request, id, key, action string, body []byte) {
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", "2021-05-27")
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("Authorization", tc3.Sign(id, key, tc3.ServiceDBbrain,
		tc3.Request{Method: "POST", Host: req.URL.Host, ContentType: "application/json", Body: body}, ts))
}

// TestNoSecretLeaks runs a scripted session through the real binary with
// distinctive secrets in its config — both doors, successes and errors, a
// kill, an intelligent kill, unreachable and wrongly-authenticated
// instances, the ops endpoints, and finally a MySQL store outage — and
// scans every response (headers and body) and every log line for each
// secret.
func TestNoSecretLeaks(t *testing.T) {
	relBinary(t)
	m := kgtest.StartMariaDB(t)
	root := m.Root(t)
	const (
		tcKey     = "SKleakTC-8e1f0a77"
		hwToken   = "HWTOKleak-3c9d51aa"
		hwSK      = "HWSKleak-77b2e0c4"
		dsnPW     = "DSNPWleak-5a5a5a"
		wrongPW   = "DSNPWwrong-9f9f9f"
		downPW    = "DSNPWdown-1234abcd"
		storePW   = "STOREPWleak-e4e4e4"
		project   = "054e292c9880d4992f02c0196d3ea468"
		victimPW  = "kgvictim-pw"
		inst      = "cdb-leak"
		instWrong = "cdb-leak-wrongpw"
		instDown  = "cdb-leak-down"
	)
	secrets := []string{tcKey, hwToken, hwSK, dsnPW, wrongPW, downPW, storePW}
	for _, q := range []string{
		"CREATE USER 'kgleak'@'%' IDENTIFIED BY '" + dsnPW + "'", "GRANT ALL PRIVILEGES ON *.* TO 'kgleak'@'%'",
		"CREATE USER 'kgstore'@'%' IDENTIFIED BY '" + storePW + "'", "CREATE DATABASE kgstore", "GRANT ALL ON kgstore.* TO 'kgstore'@'%'",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	kgtest.CreateUser(t, root, "kgvictim", victimPW)
	dir := t.TempDir()
	addr := freePort(t)
	cfgPath := filepath.Join(dir, "killgate.yaml")
	cfg := fmt.Sprintf(`listen: %[1]s
store: {driver: mysql, dsn: "kgstore:%[2]s@tcp(%[3]s)/kgstore?timeout=2s"}
credentials:
  - {secret_id: AKIDleak, secret_key: %[4]s}
  - {secret_id: AKIDleakScoped, secret_key: %[4]s-scoped, instances: [%[5]s]}
huawei:
  project_id: %[6]s
  tokens: ["%[7]s"]
  keys: [{ak: HWAKleak, sk: "%[8]s"}]
instances:
  - {id: %[9]s, product: mysql, dsn: "kgleak:%[10]s@tcp(%[3]s)/?timeout=2s", protected_users: [root, kgleak, kgstore]}
  - {id: %[11]s, product: mysql, dsn: "kgleak:%[12]s@tcp(%[3]s)/?timeout=2s"}
  - {id: %[13]s, product: mysql, dsn: "root:%[14]s@tcp(127.0.0.1:1)/?timeout=1s"}
worker: {poll_interval: 100ms}
log: {level: debug}
`, addr, storePW, m.Addr(), tcKey, instWrong, project, hwToken, hwSK, inst, dsnPW, instWrong, wrongPW, instDown, downPW)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "killgate.log")
	p := relStart(t, cfgPath, logPath, addr)

	var responses []string // every answer: status, headers, body
	raw := func(r *http.Request) (int, string) {
		t.Helper()
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", r.Method, r.URL, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var h strings.Builder
		_ = resp.Header.Write(&h)
		responses = append(responses, fmt.Sprintf("%s %s -> %d\n%s\n%s", r.Method, r.URL, resp.StatusCode, h.String(), b))
		return resp.StatusCode, string(b)
	}
	tc := func(id, key, action, body string, mod func(*http.Request)) string {
		t.Helper()
		r, _ := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader(body))
		signTC3(r, id, key, action, []byte(body))
		if mod != nil {
			mod(r)
		}
		_, b := raw(r)
		return b
	}
	hw := func(method, path, body string, auth func(*http.Request, []byte)) (int, string) {
		t.Helper()
		r, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		auth(r, []byte(body))
		return raw(r)
	}
	token := func(tok string) func(*http.Request, []byte) {
		return func(r *http.Request, _ []byte) { r.Header.Set("X-Auth-Token", tok) }
	}
	aksk := func(sk string) func(*http.Request, []byte) {
		return func(r *http.Request, body []byte) {
			r.Header.Set("X-Sdk-Date", time.Now().UTC().Format(gateway.HuaweiDateFormat))
			signed := []string{"host", "x-sdk-date"}
			sig, err := gateway.HuaweiSignature(sk, r, signed, body)
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Authorization", gateway.HuaweiAlgorithm+" Access=HWAKleak, SignedHeaders=host;x-sdk-date, Signature="+sig)
		}
	}
	hwBase := "/v3/" + project + "/instances/" + inst + "/intelligent-kill-session"

	// Tencent door: a task and its kill, reads, every kind of error.
	lock := kgtest.Lock(t, root)
	if b := tc("AKIDleak", tcKey, "CreateKillTask", `{"InstanceId":"`+inst+`","Duration":-1,"User":"kgvictim"}`, nil); !strings.Contains(b, `"Status":1`) {
		t.Fatalf("CreateKillTask: %s", b)
	}
	v := kgtest.NewVictimOn(t, m.DSN("kgvictim", victimPW, "kgvictim"), kgtest.LockQuery(lock))
	kgtest.Eventually(t, 10*time.Second, "victim killed", func() bool { return !v.Exists(t, root) })
	for _, c := range []struct{ id, key, action, body string }{
		{"AKIDleak", tcKey, "DescribeKillRecords", `{}`},
		{"AKIDleak", tcKey, "DescribeKillTasks", `{}`},
		{"AKIDleak", tcKey, "DescribeDiagDBInstances", `{"IsSupported":true,"Product":"mysql"}`},
		{"AKIDleak", tcKey, "DescribeMySqlProcessList", `{"InstanceId":"` + instWrong + `"}`},
		{"AKIDleak", tcKey, "DescribeMySqlProcessList", `{"InstanceId":"` + instDown + `"}`},
		{"AKIDleak", tcKey, "PreviewKillTask", `{"InstanceId":"` + instDown + `","User":"x"}`},
		{"AKIDleak", tcKey, "KillMySqlThreads", `{"InstanceId":"` + instWrong + `","Stage":"Prepare","Threads":[1]}`},
		{"AKIDleak", tcKey, "CreateKillTask", `{"InstanceId":"` + instWrong + `","Duration":5,"User":"x"}`},
		{"AKIDleak", "wrong-" + tcKey, "DescribeKillTasks", `{}`},
		{"AKIDnobody", tcKey, "DescribeKillTasks", `{}`},
		{"AKIDleakScoped", tcKey + "-scoped", "DescribeMySqlProcessList", `{"InstanceId":"` + inst + `"}`},
		{"AKIDleak", tcKey, "NoSuchAction", `{}`},
		{"AKIDleak", tcKey, "CreateKillTask", `{"InstanceId":`},
		{"AKIDleak", tcKey, "CreateKillTask", `{"InstanceId":"` + inst + `","Duration":0}`},
	} {
		tc(c.id, c.key, c.action, c.body, nil)
	}
	tc("AKIDleak", tcKey, "DescribeKillTasks", `{}`, func(r *http.Request) { r.Header.Set("X-TC-Timestamp", "1") })
	tc("AKIDleak", tcKey, "DescribeKillTasks", `{}`, func(r *http.Request) { r.Header.Set("X-TC-Token", "sts-token") })
	// Prepare + Commit.
	v2 := kgtest.NewVictimOn(t, m.DSN("kgvictim", victimPW, "kgvictim"), "")
	b := tc("AKIDleak", tcKey, "KillMySqlThreads", fmt.Sprintf(`{"InstanceId":"%s","Stage":"Prepare","Threads":[%d]}`, inst, v2.ID), nil)
	if i := strings.Index(b, `"SqlExecId":"`); i > 0 {
		execID := b[i+len(`"SqlExecId":"`):]
		execID = execID[:strings.IndexByte(execID, '"')]
		tc("AKIDleak", tcKey, "KillMySqlThreads", `{"InstanceId":"`+inst+`","Stage":"Commit","SqlExecId":"`+execID+`"}`, nil)
	}
	// Huawei door: token and AK/SK, success and refusals.
	hw("GET", hwBase+"/statistic?node_id="+inst, "", token(hwToken))
	_ = kgtest.NewVictimOn(t, m.DSN("kgvictim", victimPW, "kgvictim"), kgtest.LockQuery(lock))
	if st, body := hw("POST", hwBase, `{"node_id":"`+inst+`"}`, aksk(hwSK)); st != 200 {
		t.Fatalf("intelligent kill: %d %s", st, body)
	}
	hw("GET", hwBase+"/history?node_id="+inst+"&start_time=0&end_time="+strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10), "", token(hwToken))
	hw("GET", hwBase+"/statistic?node_id="+inst, "", token("wrong-"+hwToken))
	hw("POST", hwBase, `{"node_id":"`+inst+`"}`, aksk("wrong-"+hwSK))
	hw("GET", "/v3/"+project+"/instances/"+instWrong+"/intelligent-kill-session/statistic?node_id="+instWrong, "", token(hwToken))
	hw("GET", "/v3/"+project+"/instances/"+instDown+"/intelligent-kill-session/statistic?node_id="+instDown, "", token(hwToken))
	// Ops.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		r, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		raw(r)
	}
	// Store outage: writes and store reads fail; readiness says so.
	m.Stop()
	tc("AKIDleak", tcKey, "CreateKillTask", `{"InstanceId":"`+inst+`","Duration":5,"User":"y"}`, nil)
	tc("AKIDleak", tcKey, "DescribeKillTasks", `{}`, nil)
	tc("AKIDleak", tcKey, "DescribeKillRecords", `{}`, nil)
	hw("GET", hwBase+"/history?node_id="+inst+"&start_time=0&end_time=1", "", token(hwToken))
	r, _ := http.NewRequest("GET", "http://"+addr+"/readyz", nil)
	if st, _ := raw(r); st != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the store down: %d", st)
	}
	time.Sleep(700 * time.Millisecond) // a few failing polls and history flushes get logged
	if err := p.signal(syscall.SIGTERM); err != nil {
		t.Logf("exit after SIGTERM with the store down: %v", err)
	}
	logs, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(responses, "\n") + "\n" + string(logs)
	for _, s := range secrets {
		if i := strings.Index(all, s); i >= 0 {
			t.Errorf("secret %q leaked: …%s…", s, all[max(0, i-200):min(len(all), i+100)])
		}
	}
	if !strings.Contains(string(logs), "Access denied") && !strings.Contains(all, "Access denied") {
		t.Errorf("the wrong-password instance's error never showed: the scan may have missed the paths it meant to cover")
	}
	t.Logf("figure: secret-leak scan: %d secrets × %d responses + %d log bytes (%d log lines): 0 leaks",
		len(secrets), len(responses), len(logs), strings.Count(string(logs), "\n"))
}
