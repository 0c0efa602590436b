package gateway_test

// Longer than 400 lines on purpose: the Go side of every console browser scenario (stack, victims,
// expectations of each scenario's RESULT) in one place.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
	"killgate/ratelimit"
)

// The console's browser tests (docs/console.md): real headless Chromium
// (Debian's /usr/bin/chromium) driven by playwright-core from
// gateway/console/e2e, against a real killgate (kgtest) and real MariaDB
// sessions. Each scenario is one node process; this test prepares the
// sessions, reads the scenario's RESULT line and checks MariaDB itself.

const (
	consoleInst      = "cdb-console"
	consoleInstB     = "cdb-console-b"
	consoleInstNodes = "cynosdbmysql-console" // an instance of two nodes (both on the test MariaDB)
	consoleScopedID  = "AKIDconsolescoped"
	consoleScopedKey = "console-scoped-secret-key"
	consoleHWProject = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	consoleHWToken   = "console-hw-token-0123456789"
	consoleHWAK      = "HWAKconsoletest"
	consoleHWSK      = "console-hw-sk-0123456789"
)

// consoleE2E returns the e2e directory, or skips the test (fails it under
// CI=true) when Chromium, node or playwright-core is missing.
func consoleE2E(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("console", "e2e"))
	if err != nil {
		t.Fatal(err)
	}
	chromium := csOr(os.Getenv("KILLGATE_CHROMIUM"), "/usr/bin/chromium")
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (apt-get install nodejs npm)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "playwright-core (make console-deps: npm ci in gateway/console/e2e)")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set and the console browser tests cannot run: missing " + strings.Join(missing, ", "))
		}
		t.Skip("SKIPPING the console browser tests: missing " + strings.Join(missing, ", "))
	}
	return dir
}

func csOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// consoleShots is where screenshots go: $KILLGATE_CONSOLE_SHOTS (make
// console-screenshots sets docs/console), else bin/console-shots.
func consoleShots(t *testing.T) string {
	if d := os.Getenv("KILLGATE_CONSOLE_SHOTS"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "bin", "console-shots"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// csRun runs one browser scenario and decodes its RESULT line into out.
func csRun(t *testing.T, dir, scenario string, env map[string]string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "console.e2e.mjs", scenario)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		t.Fatalf("scenario %s: %v\n--- stderr\n%s\n--- stdout\n%s", scenario, err, stderr.String(), stdout.String())
	}
	t.Logf("scenario %s: %.1fs", scenario, time.Since(start).Seconds())
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), out); err != nil {
				t.Fatalf("scenario %s: bad RESULT: %v: %s", scenario, err, rest)
			}
			return
		}
	}
	t.Fatalf("scenario %s printed no RESULT line\n--- stdout\n%s\n--- stderr\n%s", scenario, stdout.String(), stderr.String())
}

func csIDList(vs ...*kgtest.Victim) string {
	var s []string
	for _, v := range vs {
		s = append(s, strconv.FormatUint(v.ID, 10))
	}
	return strings.Join(s, ",")
}

func csIDStrings(vs []*kgtest.Victim) []string {
	var s []string
	for _, v := range vs {
		s = append(s, strconv.FormatUint(v.ID, 10))
	}
	slices.Sort(s)
	return s
}

func csSorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

// csWaitLocked waits until every victim is parked on its GET_LOCK.
func csWaitLocked(t *testing.T, root *sql.DB, vs ...*kgtest.Victim) {
	t.Helper()
	for _, v := range vs {
		kgtest.Eventually(t, 10*time.Second, fmt.Sprintf("victim %d waiting on its lock", v.ID), func() bool { return csLocked(t, root, v.ID) })
	}
}

func csWaitGone(t *testing.T, root *sql.DB, vs ...*kgtest.Victim) {
	t.Helper()
	for _, v := range vs {
		kgtest.Eventually(t, 15*time.Second, fmt.Sprintf("victim %d killed", v.ID), func() bool { return !v.Exists(t, root) })
	}
}

func csMustExist(t *testing.T, root *sql.DB, vs ...*kgtest.Victim) {
	t.Helper()
	for _, v := range vs {
		if !v.Exists(t, root) {
			t.Errorf("victim %d was killed but must not be", v.ID)
		}
	}
}

// csEndVictims kills survivors before their connections close (cleanup runs LIFO).
func csEndVictims(t *testing.T, root *sql.DB, vs ...*kgtest.Victim) {
	t.Cleanup(func() {
		for _, v := range vs {
			_, _ = root.Exec(fmt.Sprintf("KILL CONNECTION %d", v.ID))
		}
	})
}

// TestConsoleBrowser drives the console in headless Chromium through every
// page against a real killgate and real MariaDB sessions.
func TestConsoleBrowser(t *testing.T) {
	dir := consoleE2E(t)
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)   // sessions the console kills
	other, opw := kgtest.User(t, root) // bystanders that must survive
	protected := kgtest.ProtectAllBut(t, root, user, other)
	dsn := kgtest.MySQLDSN()
	readOnly := []string{"DescribeDiagDBInstances", "DescribeMySqlProcessList", "DescribeKillRecords", "DescribeKillTasks", "PreviewKillTask"}
	st := kgtest.Start(t, kgtest.Options{
		Instances: []killtask.InstanceConfig{
			{ID: consoleInst, Product: "mysql", DSN: dsn, ProtectedUsers: protected},
			{ID: consoleInstB, Product: "mysql", DSN: dsn, ProtectedUsers: protected},
			{ID: consoleInstNodes, Product: "cynosdb", ProtectedUsers: protected, Nodes: []killtask.NodeConfig{{ID: "node-a", DSN: dsn}, {ID: "node-b", DSN: dsn}}},
		},
		Credentials: []gateway.Credential{
			{SecretID: kgtest.SecretID, SecretKey: kgtest.SecretKey},
			{SecretID: consoleScopedID, SecretKey: consoleScopedKey, Instances: []string{consoleInstB}, Actions: readOnly},
		},
		Huawei: gateway.HuaweiConfig{ProjectID: consoleHWProject, Tokens: []string{consoleHWToken}, Keys: map[string]string{consoleHWAK: consoleHWSK}},
		// The engine never touches another test's sessions on the shared server.
		Scope: func(p *killtask.Process) bool { return p.User == user || p.User == other },
	})
	base := map[string]string{
		"KG_URL": "http://" + st.Addr + "/console/", "KG_ID": kgtest.SecretID, "KG_KEY": kgtest.SecretKey,
		"KG_INSTANCE": consoleInst, "KG_INSTANCES": consoleInst + "," + consoleInstB + "," + consoleInstNodes, "KG_USER": user,
		"KG_SCOPED_ID": consoleScopedID, "KG_SCOPED_KEY": consoleScopedKey, "KG_HW_TOKEN": consoleHWToken,
		"KG_HW_AK": consoleHWAK, "KG_HW_SK": consoleHWSK,
		"KG_SHOTS": consoleShots(t),
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	lock := kgtest.Lock(t, root)
	t.Logf("screenshots: %s", base["KG_SHOTS"])

	t.Run("SignIn", func(t *testing.T) {
		var r struct {
			WrongKey, WrongID   string
			LoadMs, FirstDataMs float64
		}
		csRun(t, dir, "signin", base, &r)
		t.Logf("figure: console first load %.0f ms to the load event, %.0f ms to the first API data shown (median of 5, headless Chromium, loopback)", r.LoadMs, r.FirstDataMs)
	})

	t.Run("ClockSkew", func(t *testing.T) {
		var r struct{ OK bool }
		csRun(t, dir, "skew", base, &r)
		if !consoleLogged(st, "AuthFailure.SignatureExpire") {
			t.Fatal("the skewed browser never got SignatureExpire: the test did not exercise the correction")
		}
	})

	t.Run("ScopedReadOnlyKey", func(t *testing.T) {
		v := kgtest.NewVictim(t, user, pw, user, kgtest.LockQuery(lock))
		csEndVictims(t, root, v)
		csWaitLocked(t, root, v)
		var r struct {
			Shown, Options []string
			Text           string
		}
		csRun(t, dir, "scoped", with(map[string]string{"KG_VICTIMS": csIDList(v)}), &r)
		if !slices.Equal(r.Shown, []string{consoleInstB}) || !slices.Equal(r.Options, []string{consoleInstB}) {
			t.Errorf("scoped key sees instances %v (select: %v), want only %s", r.Shown, r.Options, consoleInstB)
		}
		if !strings.Contains(r.Text, "UnauthorizedOperation") || !strings.Contains(r.Text, "KillMySqlThreads") {
			t.Errorf("kill with a read-only key shows %q, want UnauthorizedOperation naming the action", r.Text)
		}
		csMustExist(t, root, v)
	})

	t.Run("KillFromLiveSessions", func(t *testing.T) {
		q := kgtest.LockQuery(lock)
		k1 := kgtest.NewVictim(t, user, pw, user, q)
		k2 := kgtest.NewVictim(t, user, pw, user, q)
		// Statement text that would be markup if the page ever parsed it.
		k3 := kgtest.NewVictim(t, user, pw, user, "/* <img src=x onerror=alert(1)> */ "+q)
		bystander := kgtest.NewVictim(t, other, opw, other, q)
		csEndVictims(t, root, k3, bystander)
		csWaitLocked(t, root, k1, k2, k3, bystander)
		var r struct {
			UserCount  string
			Templates  int
			Listed     []string
			Title      string
			KilledText string
			Outcomes   [][]string
		}
		csRun(t, dir, "sessions", with(map[string]string{"KG_KILL": csIDList(k1, k2), "KG_KEEP": csIDList(k3)}), &r)
		if r.UserCount != "3" {
			t.Errorf("By user shows %s sessions for the test user, want 3", r.UserCount)
		}
		if r.Templates != 1 {
			t.Errorf("By SQL template shows %d templates, want 1 (three GET_LOCK statements, one with a comment)", r.Templates)
		}
		if want := csIDStrings([]*kgtest.Victim{k1, k2}); !slices.Equal(csSorted(r.Listed), want) || r.Title != "Kill 2 sessions?" {
			t.Errorf("Prepare dialog %q lists %v, want exactly %v", r.Title, r.Listed, want)
		}
		csWaitGone(t, root, k1, k2)
		csMustExist(t, root, k3, bystander)
		for _, v := range []*kgtest.Victim{k1, k2} {
			id := strconv.FormatUint(v.ID, 10)
			if !strings.Contains(r.KilledText, id) || !slices.ContainsFunc(r.Outcomes, func(o []string) bool { return len(o) == 2 && o[0] == id && o[1] == "killed" }) {
				t.Errorf("thread %s: result %q, history rows %v", id, r.KilledText, r.Outcomes)
			}
		}
	})

	t.Run("NodeSessions", func(t *testing.T) {
		v := kgtest.NewVictim(t, user, pw, user, kgtest.LockQuery(lock))
		csEndVictims(t, root, v)
		csWaitLocked(t, root, v)
		var r struct{ All, One []string }
		csRun(t, dir, "nodes", with(map[string]string{"KG_NODES_INSTANCE": consoleInstNodes, "KG_VICTIMS": csIDList(v)}), &r)
		id := strconv.FormatUint(v.ID, 10)
		// Both nodes read the same server here: the session is listed once per node.
		if want := []string{"node-a/" + id, "node-b/" + id}; !slices.Equal(csSorted(r.All), want) {
			t.Errorf("all nodes list %v, want %v", r.All, want)
		}
		if want := []string{"node-b/" + id}; !slices.Equal(r.One, want) {
			t.Errorf("node-b lists %v, want %v", r.One, want)
		}
	})

	t.Run("TaskFromForm", func(t *testing.T) {
		q := kgtest.LockQuery(lock)
		var victims []*kgtest.Victim
		for range 3 {
			victims = append(victims, kgtest.NewVictim(t, user, pw, user, q))
		}
		bystander := kgtest.NewVictim(t, other, opw, other, q) // same statement, other user
		csEndVictims(t, root, bystander)
		csWaitLocked(t, root, append(slices.Clone(victims), bystander)...)
		var r struct {
			PreviewCount string
			PreviewIds   []string
			HostError    string
			TaskId       string
			Kills        string
			CancelTitle  string
		}
		csRun(t, dir, "tasks", with(map[string]string{"KG_VICTIMS": csIDList(victims...)}), &r)
		if want := csIDStrings(victims); r.PreviewCount != "3" || !slices.Equal(csSorted(r.PreviewIds), want) {
			t.Errorf("preview %s sessions %v, want 3: %v", r.PreviewCount, r.PreviewIds, want)
		}
		if !strings.Contains(r.HostError, "InvalidParameterValue") || !strings.Contains(r.HostError, "Host") {
			t.Errorf("Host with a port shows %q under the field, want the API's InvalidParameterValue", r.HostError)
		}
		// Exactly the previewed sessions died.
		csWaitGone(t, root, victims...)
		csMustExist(t, root, bystander)
		var tasks csTasks
		if err := st.Call("DescribeKillTasks", map[string]any{"TaskId": r.TaskId}, &tasks); err != nil {
			t.Fatal(err)
		}
		if len(tasks.Tasks) != 1 || tasks.Tasks[0].Status != "Cancelled" || tasks.Tasks[0].KillCount != 3 || r.Kills != "3" {
			t.Errorf("task %s after cancel: %+v (UI kill count %s), want Cancelled with 3 kills", r.TaskId, tasks.Tasks, r.Kills)
		}
		if r.CancelTitle != "Cancel 1 active task on "+consoleInst+"?" {
			t.Errorf("cancel confirm %q does not name the count", r.CancelTitle)
		}
	})

	t.Run("ObserveTaskFromForm", func(t *testing.T) {
		q := kgtest.LockQuery(lock)
		var victims []*kgtest.Victim
		for range 2 {
			victims = append(victims, kgtest.NewVictim(t, user, pw, user, q))
		}
		csEndVictims(t, root, victims...)
		csWaitLocked(t, root, victims...)
		var r struct {
			Title, TaskId, Observed string
			Chips                   []string
		}
		csRun(t, dir, "observe", with(map[string]string{"KG_VICTIMS": csIDList(victims...)}), &r)
		csMustExist(t, root, victims...)
		if r.Title != "Create an observe-only task on "+consoleInst+"?" || r.Observed != "2 observed" ||
			!slices.Contains(r.Chips, "KILL QUERY") || !slices.Contains(r.Chips, "observe only") {
			t.Errorf("observe-only task in the console: %+v", r)
		}
		var tasks struct {
			Tasks []struct {
				KillMode     string
				Observe      bool
				ObserveCount int64
				KillCount    int64
			}
		}
		if err := st.Call("DescribeKillTasks", map[string]any{"TaskId": r.TaskId}, &tasks); err != nil {
			t.Fatal(err)
		}
		if len(tasks.Tasks) != 1 || tasks.Tasks[0].KillMode != "QUERY" || !tasks.Tasks[0].Observe || tasks.Tasks[0].ObserveCount != 2 || tasks.Tasks[0].KillCount != 0 {
			t.Errorf("task %s: %+v", r.TaskId, tasks.Tasks)
		}
	})

	t.Run("HuaweiTokenOnly", func(t *testing.T) {
		var r struct {
			Nav   []string
			Wrong string
		}
		csRun(t, dir, "huaweiOnly", base, &r)
		if !slices.Equal(r.Nav, []string{"Intelligent kill"}) {
			t.Errorf("a Huawei-only user sees pages %v, want only Intelligent kill", r.Nav)
		}
		if !strings.Contains(r.Wrong, "APIGW.0301") {
			t.Errorf("a wrong token shows %q", r.Wrong)
		}
	})

	t.Run("IntelligentKill", func(t *testing.T) {
		// As TestHuaweiIntelligentKill: B runs longest, A has the best
		// average of the rest, C the most sessions, D is not chosen.
		start := func(n int, alias string) []*kgtest.Victim {
			var vs []*kgtest.Victim
			for i := range n {
				vs = append(vs, kgtest.NewVictim(t, user, pw, user, fmt.Sprintf("SELECT GET_LOCK('%s', %d) AS %s", lock, 60+i, alias)))
			}
			csWaitLocked(t, root, vs...)
			return vs
		}
		B := start(1, "tmpl_b")
		kgtest.Eventually(t, 10*time.Second, "B runs ≥ 2 s", func() bool { return csTime(t, root, B[0].ID) >= 2 })
		A := start(3, "tmpl_a")
		kgtest.Eventually(t, 10*time.Second, "A runs ≥ 1 s", func() bool {
			return !slices.ContainsFunc(A, func(v *kgtest.Victim) bool { return csTime(t, root, v.ID) < 1 })
		})
		C := start(5, "tmpl_c")
		D := start(2, "tmpl_d")
		csEndVictims(t, root, D...)
		var r struct {
			Groups []struct {
				Strategy string
				Ids      string
			}
			ShownIds []string
			TaskId   string
			Outcomes [][]string
		}
		csRun(t, dir, "intelligent", base, &r)
		chosen := slices.Concat(A, B, C)
		if want := csIDStrings(chosen); !slices.Equal(csSorted(r.ShownIds), want) {
			t.Errorf("groups shown hold %v, want A∪B∪C %v", csSorted(r.ShownIds), want)
		}
		csWaitGone(t, root, chosen...)
		csMustExist(t, root, D...)
		var killed []string
		for _, o := range r.Outcomes {
			if len(o) == 2 && o[1] == "killed" {
				killed = append(killed, o[0])
			}
		}
		if want := csIDStrings(chosen); !slices.Equal(csSorted(killed), want) {
			t.Errorf("task %s results: killed %v, want %v", r.TaskId, csSorted(killed), want)
		}
		// The browser signed the execute (POST with a body) with the AK/SK.
		if !consoleLoggedAction(st, "ExecuteIntelligentKillSession", consoleHWAK, "huawei") {
			t.Error("no access-log line of an AK/SK-signed ExecuteIntelligentKillSession")
		}
	})

	t.Run("APIExplorer", func(t *testing.T) {
		var r struct {
			Body, Sent, Params, Auth, Clip, Ctl, GoSnippet, JsonErr, ApiErr string
			Leaked                                                          bool
		}
		csRun(t, dir, "explorer", base, &r)
		var resp struct {
			Response struct {
				TotalCount *int64
				RequestId  string
			}
		}
		if err := json.Unmarshal([]byte(r.Body), &resp); err != nil || resp.Response.TotalCount == nil || resp.Response.RequestId == "" {
			t.Errorf("explorer response %q (%v)", r.Body, err)
		}
		if r.Sent != r.Params {
			t.Errorf("request body %q is not the edited parameters %q", r.Sent, r.Params)
		}
		if !strings.Contains(r.Auth, "Credential="+kgtest.SecretID+"/") || !strings.Contains(r.Auth, "Signature=[redacted]") {
			t.Errorf("request Authorization shown as %q", r.Auth)
		}
		if r.Leaked {
			t.Error("the secret key appears on the page or in a copied snippet")
		}
		if !strings.Contains(r.Clip, "docs/tc3curl DescribeKillTasks '{\"InstanceId\":\""+consoleInst+"\"") {
			t.Errorf("copied tc3curl snippet: %q", r.Clip)
		}
		if !strings.Contains(r.JsonErr, "Not valid JSON") || !strings.Contains(r.ApiErr, "UnknownParameter") {
			t.Errorf("errors shown: %q / %q", r.JsonErr, r.ApiErr)
		}
		// The copied calls work: run the tc3curl and killgatectl snippets with the key filled in.
		consoleRunSnippet(t, "docs/tc3curl", r.Clip)
		ctl := filepath.Join(t.TempDir(), "killgatectl")
		if out, err := exec.Command("go", "build", "-o", ctl, "../cmd/killgatectl").CombinedOutput(); err != nil {
			t.Fatalf("build killgatectl: %v\n%s", err, out)
		}
		consoleRunSnippet(t, "killgatectl", strings.Replace(r.Ctl, "bin/killgatectl", ctl, 1))
		consoleRunGoSnippet(t, r.GoSnippet)
		// The call went through the ordinary pipeline: its audit line names the caller.
		if !consoleLoggedAction(st, "DescribeKillTasks", kgtest.SecretID, "tencent") {
			t.Error("no access-log line for the explorer's DescribeKillTasks")
		}
	})

	t.Run("Overview", func(t *testing.T) {
		var r struct {
			Kills   string
			Matched []string
		}
		csRun(t, dir, "tour", base, &r)
		// 2 manual kills, 3 by the task, 9 by the intelligent kill (when the subtests before ran).
		if r.Kills == "0" {
			t.Errorf("Instances shows %s kills in the last hour after the kills above", r.Kills)
		}
		// The task's kills (TaskFromForm) show the filter that matched them.
		found := false
		for _, m := range r.Matched {
			found = found || strings.Contains(m, "User="+user)
		}
		if !found {
			t.Errorf("History shows no matched filter naming User=%s on the task's kills: %q", user, r.Matched)
		}
	})

	t.Run("RateLimited", func(t *testing.T) {
		limited := kgtest.Start(t, kgtest.Options{
			Instances: []killtask.InstanceConfig{{ID: consoleInst, Product: "mysql", DSN: dsn, ProtectedUsers: protected}},
			RateLimit: ratelimit.Config{PerSecond: 0.2, Burst: 1},
			Scope:     func(p *killtask.Process) bool { return p.User == user },
		})
		var r struct{ Text string }
		csRun(t, dir, "ratelimit", with(map[string]string{"KG_URL": "http://" + limited.Addr + "/console/"}), &r)
		if !strings.Contains(r.Text, "RequestLimitExceeded") {
			t.Errorf("rate-limited answer shown as %q", r.Text)
		}
	})
}

type csTasks struct {
	Tasks []struct {
		TaskId    string
		Status    string
		KillCount int64
	}
}

// consoleLogged reports whether an access-log line carries the code.
func consoleLogged(st *kgtest.Stack, code string) bool {
	for _, e := range st.Logs.All() {
		if e.ContextMap()["code"] == code {
			return true
		}
	}
	return false
}

func consoleLoggedAction(st *kgtest.Stack, action, caller, door string) bool {
	for _, e := range st.Logs.All() {
		m := e.ContextMap()
		if m["action"] == action && m["caller"] == caller && m["door"] == door {
			return true
		}
	}
	return false
}

// TestConsoleJSUnit runs the console's JavaScript unit tests (TC3 signing
// vectors, SQL templates, CSV) with node's test runner.
func TestConsoleJSUnit(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set and the console JavaScript unit tests cannot run: node is missing (apt-get install nodejs)")
		}
		t.Skip("SKIPPING the console JavaScript unit tests: node is missing")
	}
	cmd := exec.Command(node, "--test", "unit.test.mjs")
	cmd.Dir = filepath.Join("console", "e2e")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
}

// consoleRunSnippet runs a copied shell snippet from the repository root
// with the secret key filled in, and wants a successful DescribeKillTasks
// answer.
func consoleRunSnippet(t *testing.T, name, snippet string) {
	t.Helper()
	const placeholder = "TENCENTCLOUD_SECRET_KEY='…'"
	if !strings.Contains(snippet, placeholder) {
		t.Fatalf("%s snippet has no key placeholder: %q", name, snippet)
	}
	cmd := exec.Command("bash", "-c", strings.Replace(snippet, placeholder, "TENCENTCLOUD_SECRET_KEY='"+kgtest.SecretKey+"'", 1))
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"TotalCount"`) || strings.Contains(string(out), `"Error"`) {
		t.Errorf("the copied %s call: %v\n%s\n--- snippet\n%s", name, err, out, snippet)
	}
}

// consoleRunGoSnippet runs the explorer's Go SDK snippet as the body of a
// main function (with the imports it names), in this module, with the key
// in the environment it reads: it must compile and get the answer.
func consoleRunGoSnippet(t *testing.T, snippet string) {
	t.Helper()
	if strings.Contains(snippet, kgtest.SecretKey) {
		t.Fatalf("the Go snippet holds the secret key")
	}
	prog := `package main

import (
	"fmt"
	"log"
	"os"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
)

func main() {
` + snippet + `
}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", filepath.Join(dir, "main.go"))
	cmd.Env = append(os.Environ(), "TENCENTCLOUD_SECRET_ID="+kgtest.SecretID, "TENCENTCLOUD_SECRET_KEY="+kgtest.SecretKey)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"TotalCount"`) {
		t.Errorf("the copied Go SDK snippet: %v\n%s\n--- program\n%s", err, out, prog)
	}
}

// csLocked reports whether thread id waits on a user lock.
func csLocked(t *testing.T, root *sql.DB, id uint64) bool {
	t.Helper()
	var state sql.NullString
	if err := root.QueryRow("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&state); err != nil {
		return false
	}
	return strings.Contains(strings.ToLower(state.String), "lock")
}

// csTime returns the processlist TIME of a thread (-1 when gone).
func csTime(t *testing.T, root *sql.DB, id uint64) int64 {
	t.Helper()
	var tm int64
	switch err := root.QueryRow("SELECT TIME FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&tm); {
	case err == sql.ErrNoRows:
		return -1
	case err != nil:
		t.Fatal(err)
	}
	return tm
}
