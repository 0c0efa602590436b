package gateway_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"killgate/gateway/kgtest"
	"killgate/killtask"
)

const faultInst = "cdb-fault"

func nodeHealth(t *testing.T, st *kgtest.Stack) killtask.Health {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	infos, err := st.Engine.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.ID == faultInst {
			return in.Health[faultInst]
		}
	}
	t.Fatalf("instance %s not listed", faultInst)
	return killtask.Health{}
}

// diagHealth is the instance's health as DescribeDiagDBInstances reports it.
func diagHealth(t *testing.T, st *kgtest.Stack) string {
	t.Helper()
	var out struct {
		Items []struct{ InstanceId, Health string }
	}
	if err := st.Call("DescribeDiagDBInstances", map[string]any{"IsSupported": true, "Product": "mysql"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		if it.InstanceId == faultInst {
			return it.Health
		}
	}
	return "missing"
}

// TestTargetDatabaseFaults: while a task is enforced, the target MariaDB
// (a throwaway server) is stopped cleanly, crashed (SIGKILL), and has every
// connection killed from outside. Each time the worker survives, reports
// the instance unhealthy (Engine.Instances and DescribeDiagDBInstances)
// while it is down, and once it is back a new victim dies within a few poll
// intervals.
func TestTargetDatabaseFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a throwaway MariaDB")
	}
	m := kgtest.StartMariaDB(t)
	root := m.Root(t)
	const user, pw = "kgfault", "kgfault-pw"
	kgtest.CreateUser(t, root, user, pw)
	ec := killtask.DefaultConfig()
	ec.PollInterval = 100 * time.Millisecond
	ec.KillTimeout = 3 * time.Second
	st := kgtest.Start(t, kgtest.Options{
		Instances: []killtask.InstanceConfig{{ID: faultInst, Product: "mysql", DSN: m.DSN("", "", "")}},
		Engine:    ec,
		RateLimit: fastLimits(),
	})
	lockName := "kgfault-lock"
	kgtest.LockNamed(t, root, lockName)
	victimDSN := m.DSN(user, pw, user)
	if err := st.Call("CreateKillTask", map[string]any{"InstanceId": faultInst, "Duration": -1, "User": user}, nil); err != nil {
		t.Fatal(err)
	}
	killed := func(what string) time.Duration {
		t.Helper()
		start := time.Now()
		v := kgtest.NewVictimOn(t, victimDSN, kgtest.LockQuery(lockName))
		kgtest.Eventually(t, 15*time.Second, what+": victim killed", func() bool { return !v.Exists(t, root) })
		return time.Since(start)
	}
	first := killed("before any fault")
	figures := []string{fmt.Sprintf("baseline kill %s", first.Round(time.Millisecond))}

	faults := []struct {
		name  string
		fault func()
		down  bool // the server is down afterwards until restarted
	}{
		{"clean stop (SIGTERM)", m.Stop, true},
		{"crash (SIGKILL)", m.Kill, true},
		{"all connections killed from outside", func() {
			rows, err := root.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon'")
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for rows.Next() {
				var id int64
				_ = rows.Scan(&id)
				ids = append(ids, id)
			}
			rows.Close()
			for _, id := range ids {
				_, _ = root.Exec(fmt.Sprintf("KILL CONNECTION %d", id))
			}
			if len(ids) < 2 {
				t.Fatalf("only %d connections to kill: the engine's were expected", len(ids))
			}
		}, false},
	}
	for _, f := range faults {
		polls := st.Engine.PollCount(faultInst, faultInst)
		start := time.Now()
		f.fault()
		var detect time.Duration
		if f.down {
			kgtest.Eventually(t, 15*time.Second, f.name+": reported unhealthy", func() bool { return !nodeHealth(t, st).OK })
			detect = time.Since(start)
			if h := diagHealth(t, st); !strings.HasPrefix(h, "unreachable") {
				t.Fatalf("%s: DescribeDiagDBInstances health %q", f.name, h)
			}
			if h := nodeHealth(t, st); strings.Contains(h.Error, "@tcp(") {
				t.Fatalf("%s: health error carries a DSN: %q", f.name, h.Error)
			}
			// Reads that do not need the target keep working.
			if err := st.Call("DescribeKillTasks", map[string]any{"InstanceId": faultInst}, nil); err != nil {
				t.Fatalf("%s: DescribeKillTasks while the target is down: %v", f.name, err)
			}
			if err := st.Call("DescribeMySqlProcessList", map[string]any{"InstanceId": faultInst}, nil); kgtest.Code(err) != "FailedOperation" {
				t.Fatalf("%s: DescribeMySqlProcessList while the target is down: %q", f.name, kgtest.Code(err))
			}
			time.Sleep(300 * time.Millisecond) // a few failing polls
			m.Start()
			kgtest.LockNamed(t, root, lockName)
		}
		took := killed("after " + f.name)
		kgtest.Eventually(t, 10*time.Second, f.name+": healthy again", func() bool { return nodeHealth(t, st).OK })
		if st.Engine.PollCount(faultInst, faultInst) <= polls {
			t.Fatalf("%s: the worker stopped polling", f.name)
		}
		if f.down {
			figures = append(figures, fmt.Sprintf("%s: unhealthy reported after %s, victim killed %s after restart", f.name, detect.Round(time.Millisecond), took.Round(time.Millisecond)))
		} else {
			figures = append(figures, fmt.Sprintf("%s: next victim killed after %s", f.name, took.Round(time.Millisecond)))
		}
	}
	var recs struct {
		TotalCount int64
		Records    []struct {
			ThreadId       int64
			Outcome, Error string
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := st.Call("DescribeKillRecords", map[string]any{"InstanceId": faultInst, "Limit": 100}, &recs)
		if err == nil && recs.TotalCount >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kill records %d %v, want >= 4: %+v", recs.TotalCount, err, recs.Records)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("figure: target DB faults survived %d/%d: %s", len(faults), len(faults), strings.Join(figures, "; "))
}

// chattr sets or clears the immutable flag: root ignores file modes, not
// this flag, so writes really fail.
func chattr(t *testing.T, flag string, paths ...string) {
	t.Helper()
	var existing []string
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			existing = append(existing, p)
		}
	}
	if out, err := exec.Command("chattr", append([]string{flag}, existing...)...).CombinedOutput(); err != nil {
		t.Skipf("chattr %s not supported here: %v %s", flag, err, out)
	}
}

// TestStoreFaults: with the store unable to write — a SQLite file made
// immutable, or a MySQL store whose server is stopped — CreateKillTask
// fails with FailedOperation, nothing of it appears later, reads that do
// not need the store keep working, running tasks keep being enforced, and
// their kill history is written once the store is back.
func TestStoreFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Skip("chattr not installed")
	}
	t.Run("sqlite-unwritable", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "killgate.db")
		// Not the -shm file: SQLite memory-maps it, and a write fault on an
		// immutable mapping is a SIGBUS, which no Go program (nor SQLite in
		// C) survives. Disk faults hit the database and WAL files, whose
		// writes fail with an error, as here.
		files := []string{path, path + "-wal", dir}
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", dir, path, path+"-wal", path+"-shm").Run() })
		storeFault(t, kgtest.Options{StorePath: path},
			func() { chattr(t, "+i", files...) },
			func() { chattr(t, "-i", files...) })
	})
	t.Run("mysql-store-down", func(t *testing.T) {
		m := kgtest.StartMariaDB(t)
		if _, err := m.Root(t).Exec("CREATE DATABASE kgstore"); err != nil {
			t.Fatal(err)
		}
		storeFault(t, kgtest.Options{Store: killtask.StoreConfig{Driver: "mysql", DSN: m.DSN("", "", "kgstore")}},
			m.Stop, m.Start)
	})
}

func storeFault(t *testing.T, o kgtest.Options, breakStore, fixStore func()) {
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	o.RateLimit = fastLimits()
	o.Scope = func(p *killtask.Process) bool { return p.User == user }
	st := kgtest.Start(t, o)
	// A running task, acknowledged before the fault.
	var running struct{ TaskId string }
	if err := st.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": user}, &running); err != nil {
		t.Fatal(err)
	}
	breakStore()
	fixed := false
	defer func() {
		if !fixed {
			fixStore()
		}
	}()
	// Writes fail cleanly.
	start := time.Now()
	err := st.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": 600, "User": "kg_never_" + user}, nil)
	if c := kgtest.Code(err); c != "FailedOperation" && c != "InternalError" {
		t.Fatalf("CreateKillTask with the store broken: %q (%v)", c, err)
	}
	failIn := time.Since(start)
	// The running task is still enforced from memory.
	v := kgtest.NewVictim(t, user, pw, user, kgtest.LockQuery(lock))
	reap(t, root, user, v)
	kgtest.Eventually(t, 15*time.Second, "victim killed while the store is broken", func() bool { return !v.Exists(t, root) })
	// Reads that need only the target keep working.
	if err := st.Call("DescribeMySqlProcessList", map[string]any{"InstanceId": kgtest.Instance, "User": user}, nil); err != nil {
		t.Fatalf("DescribeMySqlProcessList with the store broken: %v", err)
	}
	fixStore()
	fixed = true
	// Nothing of the failed write appears, then or later; the kill made
	// during the outage is in the history once the store is back.
	var tasks struct {
		Tasks []struct{ TaskId, User string }
	}
	kgtest.Eventually(t, 20*time.Second, "store readable again", func() bool {
		return st.Call("DescribeKillTasks", map[string]any{"InstanceId": kgtest.Instance, "Limit": 100}, &tasks) == nil
	})
	kgtest.Eventually(t, 20*time.Second, "the outage's kill record written", func() bool {
		var recs struct{ TotalCount int64 }
		return st.Call("DescribeKillRecords", map[string]any{"TaskId": running.TaskId}, &recs) == nil && recs.TotalCount >= 1
	})
	for _, tk := range tasks.Tasks {
		if strings.HasPrefix(tk.User, "kg_never_") {
			t.Fatalf("the failed CreateKillTask left task %s", tk.TaskId)
		}
	}
	if len(tasks.Tasks) != 1 || tasks.Tasks[0].TaskId != running.TaskId {
		t.Fatalf("tasks after the fault: %+v", tasks.Tasks)
	}
	// And writes work again.
	if err := st.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": 60, "User": "kg_after_" + user}, nil); err != nil {
		t.Fatalf("CreateKillTask after the store is back: %v", err)
	}
	t.Logf("figure: store fault: CreateKillTask failed cleanly in %s; 0 half-written tasks; enforcement continued; outage kill recorded after recovery", failIn.Round(time.Millisecond))
}
