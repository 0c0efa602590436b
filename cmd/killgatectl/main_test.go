package main

// Longer than 400 lines on purpose: killgatectl's flags, output formats and --watch against a real
// killgate, one test per documented behaviour.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"killgate/actions"
	"killgate/gateway/kgtest"
	"killgate/tc3"
)

// envMap makes an env func for run.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// ctl runs killgatectl in-process.
func ctl(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb, envMap(env))
	return code, out.String(), errb.String()
}

func stackEnv(s *kgtest.Stack) map[string]string {
	return map[string]string{
		"TENCENTCLOUD_SECRET_ID": kgtest.SecretID, "TENCENTCLOUD_SECRET_KEY": kgtest.SecretKey,
		"KILLGATE_ENDPOINT": s.Addr, "HOME": "/nonexistent-home",
	}
}

var errLine = regexp.MustCompile(`^([A-Za-z.]+): (.+) \(([0-9a-f-]{36})\)\n$`)

// TestRoundTripRealServer: CreateKillTask and DescribeKillTasks through a
// real listener; an API error prints "Code: Message (RequestId)" and exits 1.
func TestRoundTripRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB")
	}
	s := kgtest.Start(t, kgtest.Options{})
	env := stackEnv(s)
	user := fmt.Sprintf("nobody_ctl_%d", time.Now().UnixNano()%1e6)

	code, out, errOut := ctl(env, "CreateKillTask", "--InstanceId", kgtest.Instance, "--Duration", "-1",
		"--User", user, "--Infos", `["select","update"]`, "--Time", "5")
	if code != exitOK {
		t.Fatalf("CreateKillTask: exit %d, stderr %s", code, errOut)
	}
	var created struct {
		Status    int64
		TaskId    string
		RequestId string
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Status != 1 || created.TaskId == "" || created.RequestId == "" {
		t.Fatalf("CreateKillTask output %q: %v", out, err)
	}
	if !strings.Contains(out, "\n  \"Status\": 1") {
		t.Errorf("output is not pretty-printed: %q", out)
	}

	// The task is stored with the JSON-typed values (array, numbers).
	if _, ok := s.Registry.Lookup("DescribeKillTasks"); !ok {
		t.Log("DescribeKillTasks is not registered yet: round trip checked through the store only")
		task, err := s.Store.GetTask(t.Context(), created.TaskId)
		if err != nil || task.Filter.User != user || len(task.Filter.Infos) != 2 || task.Filter.MinTime != 5 {
			t.Fatalf("stored task %+v: %v", task, err)
		}
	} else {
		code, out, errOut = ctl(env, "DescribeKillTasks", "--InstanceId", kgtest.Instance, "--TaskId", created.TaskId)
		if code != exitOK {
			t.Fatalf("DescribeKillTasks: exit %d, stderr %s", code, errOut)
		}
		var desc struct {
			TotalCount int64
			Tasks      []struct {
				TaskId, InstanceId, User, Status string
				Infos                            []string
				Time, Duration                   int64
			}
		}
		if err := json.Unmarshal([]byte(out), &desc); err != nil || len(desc.Tasks) != 1 {
			t.Fatalf("DescribeKillTasks output %q: %v", out, err)
		}
		got := desc.Tasks[0]
		if got.TaskId != created.TaskId || got.User != user || got.Duration != -1 || got.Time != 5 ||
			len(got.Infos) != 2 || got.Status != "Running" {
			t.Errorf("DescribeKillTasks task %+v", got)
		}
	}

	// The identical task again: an API error, printed as Code: Message (RequestId).
	code, out, errOut = ctl(env, "CreateKillTask", "--InstanceId", kgtest.Instance, "--Duration", "-1",
		"--User", user, "--Infos", `["select","update"]`, "--Time", "5")
	if code != exitError || out != "" {
		t.Fatalf("duplicate: exit %d, stdout %q", code, out)
	}
	m := errLine.FindStringSubmatch(errOut)
	if m == nil || actions.Code(m[1]) != actions.UnsupportedOperationDuplicate {
		t.Fatalf("duplicate: stderr %q", errOut)
	}

	// Wrong types and unknown actions come back as their codes.
	for _, c := range []struct {
		name string
		args []string
		want actions.Code
	}{
		{"wrong type", []string{"CreateKillTask", "--InstanceId", kgtest.Instance, "--Duration", "soon"}, actions.InvalidParameter},
		{"missing parameter", []string{"CreateKillTask", "--InstanceId", kgtest.Instance}, actions.MissingParameter},
		{"unknown action", []string{"dbbrain", "NoSuchAction"}, actions.InvalidAction},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := ctl(env, c.args...)
			if m := errLine.FindStringSubmatch(errOut); code != exitError || m == nil || actions.Code(m[1]) != c.want {
				t.Errorf("%v: exit %d, stderr %q, want %s", c.args, code, errOut, c.want)
			}
		})
	}

	// A wrong key: the signature fails.
	bad := stackEnv(s)
	bad["TENCENTCLOUD_SECRET_KEY"] = "not-the-key"
	code, _, errOut = ctl(bad, "CreateKillTask", "--InstanceId", kgtest.Instance, "--Duration", "60")
	if m := errLine.FindStringSubmatch(errOut); code != exitError || m == nil || actions.Code(m[1]) != actions.AuthFailureSignatureFailure {
		t.Errorf("wrong key: exit %d, stderr %q", code, errOut)
	}

	if _, ok := s.Registry.Lookup("CancelKillTask"); ok {
		if code, _, errOut := ctl(env, "CancelKillTask", "--InstanceId", kgtest.Instance); code != exitOK {
			t.Errorf("CancelKillTask: exit %d %s", code, errOut)
		}
	}
}

// TestWatchRealKill: --watch prints the kill record of a real victim.
func TestWatchRealKill(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB")
	}
	s := kgtest.Start(t, kgtest.Options{})
	if _, ok := s.Registry.Lookup(watchAction); !ok {
		t.Skip("DescribeKillRecords is not registered yet")
	}
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	env := stackEnv(s)

	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	started := &lineWaiter{want: "killgatectl: watching", ch: make(chan struct{})}
	go func() {
		var out bytes.Buffer
		code := run([]string{"DescribeKillRecords", "--InstanceId", kgtest.Instance, "--watch", "--watch-interval", "50ms",
			"--watch-count", "1", "--output", "json"}, &out, started, envMap(env))
		done <- result{code, out.String(), started.String()}
	}()
	select {
	case <-started.ch:
	case r := <-done:
		t.Fatalf("watch ended early: %d %s", r.code, r.errOut)
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not start")
	}
	if code, _, errOut := ctl(env, "CreateKillTask", "--InstanceId", kgtest.Instance, "--Duration", "600", "--User", user); code != exitOK {
		t.Fatalf("CreateKillTask: %s", errOut)
	}
	victim := kgtest.NewVictim(t, user, pw, user, kgtest.LockQuery(lock))
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("watch printed no record within 15s")
	}
	if r.code != exitOK {
		t.Fatalf("watch: exit %d, stderr %s", r.code, r.errOut)
	}
	var rec struct {
		RecordId         int64
		ThreadId         uint64
		User, Outcome    string
		InstanceId       string
		TaskId, KillTime string
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.out)), &rec); err != nil {
		t.Fatalf("watch output %q: %v", r.out, err)
	}
	if rec.ThreadId != victim.ID || rec.User != user || rec.Outcome != "killed" || rec.InstanceId != kgtest.Instance || rec.RecordId == 0 {
		t.Errorf("watched record %+v, victim %d", rec, victim.ID)
	}
}

// lineWaiter is a stderr that signals when a line starting with want appears.
type lineWaiter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	ch   chan struct{}
	once sync.Once
}

func (w *lineWaiter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.ch) })
	}
	return len(b), nil
}

func (w *lineWaiter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// fakeServer verifies each request's TC3 signature like killgate and hands
// the decoded parameters to answer.
type fakeServer struct {
	t      *testing.T
	mu     sync.Mutex
	reqs   []map[string]any
	hosts  []string
	answer func(action string, params map[string]any) string
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	auth, err := tc3.ParseAuthorization(r.Header.Get("Authorization"))
	if err == nil {
		ts, _ := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
		err = tc3.NewVerifier(tc3.ServiceDBbrain).Verify("fake-key", auth, tc3.Request{
			Method: r.Method, Host: r.Host, RawQuery: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type"),
			Headers: r.Header, Body: body,
		}, ts)
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil || auth.SecretId != "fake-id" || r.Header.Get("X-TC-Version") != apiVersion {
		fmt.Fprint(w, `{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad"},"RequestId":"00000000-0000-0000-0000-000000000000"}}`)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var params map[string]any
	if err := dec.Decode(&params); err != nil {
		f.t.Errorf("body %q: %v", body, err)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, params)
	f.hosts = append(f.hosts, r.Host)
	f.mu.Unlock()
	fmt.Fprint(w, f.answer(r.Header.Get("X-TC-Action"), params))
}

func (f *fakeServer) last() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1]
}

func fakeEnv(addr string) map[string]string {
	return map[string]string{"TENCENTCLOUD_SECRET_ID": "fake-id", "TENCENTCLOUD_SECRET_KEY": "fake-key", "KILLGATE_ENDPOINT": addr, "HOME": "/nonexistent-home"}
}

// TestParamsAsJSON: flag values are JSON when they parse as JSON, else
// strings; --cli-input-json merges under the flags; --Name=value works.
func TestParamsAsJSON(t *testing.T) {
	f := &fakeServer{t: t, answer: func(string, map[string]any) string {
		return `{"Response":{"Status":1,"RequestId":"r-1"}}`
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	code, out, errOut := ctl(fakeEnv(addr), "CreateKillTask",
		"--cli-input-json", `{"InstanceId":"from-json","Product":"mysql","Time":1}`,
		"--InstanceId", "cdb-1", "--Duration", "-1", "--Infos", `["a","b"]`, "--Host", "10.0.0.1",
		"--Command=Query", "--Time", "7", "--DB", `"123"`, "--Flag", "true", "--Obj", `{"k":[1,2]}`, "--Empty", "")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.TrimSpace(out) != "{\n  \"Status\": 1,\n  \"RequestId\": \"r-1\"\n}" {
		t.Errorf("output %q", out)
	}
	got, _ := json.Marshal(f.last())
	want := `{"Command":"Query","DB":"123","Duration":-1,"Empty":"","Flag":true,"Host":"10.0.0.1","Infos":["a","b"],"InstanceId":"cdb-1","Obj":{"k":[1,2]},"Product":"mysql","Time":7}`
	if string(got) != want {
		t.Errorf("sent %s\nwant %s", got, want)
	}
	if f.hosts[0] != addr {
		t.Errorf("Host %q, want %q", f.hosts[0], addr)
	}

	// file:// input.
	path := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(path, []byte(`{"InstanceId":"cdb-file","Duration":60}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := ctl(fakeEnv(addr), "CreateKillTask", "--cli-input-json", "file://"+path); code != exitOK {
		t.Fatalf("file input: %s", errOut)
	}
	if got, _ := json.Marshal(f.last()); string(got) != `{"Duration":60,"InstanceId":"cdb-file"}` {
		t.Errorf("file input sent %s", got)
	}
}

// TestCredentialSources: flags, --profile, env, the default profile, in
// that order; no credentials is a usage error.
func TestCredentialSources(t *testing.T) {
	f := &fakeServer{t: t, answer: func(string, map[string]any) string { return `{"Response":{"RequestId":"r"}}` }}
	srv := httptest.NewServer(f)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	home := t.TempDir()
	writeProfile := func(name, id, key string) {
		dir := filepath.Join(home, ".tccli")
		_ = os.MkdirAll(dir, 0o700)
		b, _ := json.Marshal(map[string]string{"secretId": id, "secretKey": key, "region": "ap-guangzhou"})
		if err := os.WriteFile(filepath.Join(dir, name+".credential"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeProfile("default", "fake-id", "fake-key")
	writeProfile("wrong", "fake-id", "wrong-key")
	env := func(extra map[string]string) map[string]string {
		m := map[string]string{"KILLGATE_ENDPOINT": addr, "HOME": home}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	badEnv := map[string]string{"TENCENTCLOUD_SECRET_ID": "fake-id", "TENCENTCLOUD_SECRET_KEY": "wrong-key"}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"default-profile", env(nil), nil, exitOK},
		{"env-over-default-profile", env(badEnv), nil, exitError},
		{"explicit-profile-over-env", env(badEnv), []string{"--profile", "default"}, exitOK},
		{"explicit-wrong-profile", env(nil), []string{"--profile", "wrong"}, exitError},
		{"missing-profile", env(nil), []string{"--profile", "nope"}, exitUsage},
		{"flags-over-everything", env(badEnv), []string{"--profile", "wrong", "--secretId", "fake-id", "--secretKey", "fake-key"}, exitOK},
		{"none", map[string]string{"KILLGATE_ENDPOINT": addr, "HOME": t.TempDir()}, nil, exitUsage},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := ctl(c.env, append([]string{"DescribeKillTasks"}, c.args...)...)
			if code != c.want {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.want, errOut)
			}
		})
	}
}

// TestHTTPSEndpoint: --https (or an https:// endpoint) talks TLS and signs
// the host it connects to.
func TestHTTPSEndpoint(t *testing.T) {
	f := &fakeServer{t: t, answer: func(string, map[string]any) string { return `{"Response":{"Status":1,"RequestId":"r"}}` }}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	if code, _, errOut := ctl(fakeEnv(addr), "CancelKillTask", "--InstanceId", "x", "--https", "--insecure"); code != exitOK {
		t.Fatalf("--https: exit %d %s", code, errOut)
	}
	if code, _, errOut := ctl(fakeEnv("https://"+addr), "CancelKillTask", "--InstanceId", "x", "--insecure"); code != exitOK {
		t.Fatalf("https:// endpoint: exit %d %s", code, errOut)
	}
	// Without --insecure the test certificate is not trusted: a transport error.
	code, _, errOut := ctl(fakeEnv(addr), "CancelKillTask", "--InstanceId", "x", "--https")
	if code != exitError || !strings.Contains(errOut, "certificate") {
		t.Fatalf("untrusted certificate: exit %d %q", code, errOut)
	}
	// Plain HTTP to a TLS port fails without an envelope.
	if code, _, _ := ctl(fakeEnv(addr), "CancelKillTask", "--InstanceId", "x"); code != exitError {
		t.Fatalf("http to a TLS port: exit %d", code)
	}
}

// TestUsageErrors: bad command lines exit 2 before any request.
func TestUsageErrors(t *testing.T) {
	env := fakeEnv("127.0.0.1:1")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no arguments", []string{}},
		{"flag without value", []string{"CreateKillTask", "--InstanceId"}},
		{"flag twice", []string{"CreateKillTask", "--InstanceId", "a", "--InstanceId", "b"}},
		{"unknown flag", []string{"CreateKillTask", "--bogus", "x"}},
		{"extra argument", []string{"CreateKillTask", "Extra"}},
		{"watch on a write", []string{"CreateKillTask", "--watch"}},
		{"watch count zero", []string{"DescribeKillRecords", "--watch", "--watch-count", "0"}},
		{"input JSON not an object", []string{"CreateKillTask", "--cli-input-json", "[1]"}},
		{"endpoint with a path", []string{"CreateKillTask", "--endpoint", "http://h/path"}},
		{"secret id without key", []string{"CreateKillTask", "--secretId", "only-id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, _ := ctl(env, tc.args...); code != exitUsage {
				t.Errorf("%q: exit %d, want %d", tc.args, code, exitUsage)
			}
		})
	}
	if code, out, _ := ctl(env, "-h"); code != exitOK || !strings.Contains(out, "usage: killgatectl") {
		t.Errorf("-h: %d %q", code, out)
	}
	// Unreachable endpoint: a transport error, exit 1.
	if code, _, errOut := ctl(env, "DescribeKillTasks"); code != exitError || !strings.HasPrefix(errOut, "killgatectl: ") {
		t.Errorf("unreachable: %d %q", code, errOut)
	}
}

// TestWatchFake: the first poll sets the baseline; new records print once,
// oldest first; a burst larger than a page is caught up through Offset;
// --watch-count stops the watch.
func TestWatchFake(t *testing.T) {
	var (
		mu      sync.Mutex
		records []int64 // ids, ascending
		polls   int
	)
	add := func(n int) {
		mu.Lock()
		defer mu.Unlock()
		for range n {
			records = append(records, int64(len(records)+1))
		}
	}
	add(3) // existing before the watch: never printed
	f := &fakeServer{t: t}
	f.answer = func(action string, p map[string]any) string {
		if action != watchAction {
			return `{"Response":{"Error":{"Code":"InvalidAction","Message":"x"},"RequestId":"r"}}`
		}
		if p["InstanceId"] != "cdb-1" {
			t.Errorf("watch params %v", p)
		}
		limit, _ := strconv.Atoi(fmt.Sprint(p["Limit"]))
		offset, _ := strconv.Atoi(fmt.Sprint(p["Offset"]))
		mu.Lock()
		defer mu.Unlock()
		polls++
		// After the baseline poll, a burst of 5 records (more than the page of 2).
		if polls == 2 {
			for range 5 {
				records = append(records, int64(len(records)+1))
			}
		}
		var page []map[string]any
		for i := len(records) - 1 - offset; i >= 0 && len(page) < limit; i-- {
			page = append(page, map[string]any{"RecordId": records[i], "ThreadId": 100 + records[i], "User": "app",
				"Host": "10.0.0.9", "Outcome": "killed", "InstanceId": "cdb-1", "TaskId": "kt-1", "Info": "select 1",
				"KillTime": "2026-01-01T00:00:00+00:00", "Time": 3, "Command": "Query"})
		}
		b, _ := json.Marshal(map[string]any{"Response": map[string]any{"Records": page, "TotalCount": len(records), "RequestId": "r"}})
		return string(b)
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	code, out, errOut := ctl(fakeEnv(addr), "DescribeKillRecords", "--InstanceId", "cdb-1", "--Limit", "2",
		"--watch", "--watch-interval", "10ms", "--watch-count", "5")
	if code != exitOK {
		t.Fatalf("watch: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("watch printed %d lines, want 5:\n%s", len(lines), out)
	}
	for i, l := range lines {
		if !strings.Contains(l, fmt.Sprintf("#%d  killed  cdb-1", 4+i)) || !strings.Contains(l, fmt.Sprintf("thread=%d", 104+i)) {
			t.Errorf("line %d: %q", i, l)
		}
	}
	if !strings.Contains(errOut, "after RecordId 3") {
		t.Errorf("stderr %q", errOut)
	}

	// --watch-from 0 prints what exists, in order.
	code, out, errOut = ctl(fakeEnv(addr), "DescribeKillRecords", "--InstanceId", "cdb-1", "--watch",
		"--watch-from", "0", "--watch-count", "2", "--output", "json")
	if code != exitOK {
		t.Fatalf("watch-from: %d %s", code, errOut)
	}
	var ids []int64
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ RecordId int64 }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("json line %q: %v", l, err)
		}
		ids = append(ids, r.RecordId)
	}
	if fmt.Sprint(ids) != "[1 2]" {
		t.Errorf("watch-from 0 printed %v", ids)
	}
}

// TestHelpListsActions: killgatectl -h names every action killgate serves
// (issue 12 item 6).
func TestHelpListsActions(t *testing.T) {
	code, out, _ := ctl(nil, "-h")
	if code != exitOK {
		t.Fatalf("-h: exit %d", code)
	}
	for _, name := range actions.NewRegistry(actions.NewService(nil, zap.NewNop()).Actions()).Names() {
		if !regexp.MustCompile(`(?m)^  ` + name + ` `).MatchString(out) {
			t.Errorf("-h does not list %s:\n%s", name, out)
		}
	}
}
