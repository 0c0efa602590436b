package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
)

// Scope fixtures: instance A (kgtest.Instance) and instance Z (scopeOther),
// both on the test MariaDB. onlyA may use A only; readOnly may call
// DescribeKillTasks only.
const (
	scopeOther = "cdb-kgtest-z"
	onlyAID    = "AKIDonlyA"
	onlyAKey   = "only-a-secret-key"
	readOnlyID = "AKIDreadonly"
	readOnlyK  = "read-only-secret-key"
)

// scopeSample returns minimal valid parameters of each action for instance
// inst; a new action must get a row here (the test fails otherwise).
func scopeSample(action, inst, user string, thread uint64) (map[string]any, bool) {
	switch action {
	case "CreateKillTask":
		return map[string]any{"InstanceId": inst, "Duration": -1, "User": user}, true
	case "CancelKillTask":
		return map[string]any{"InstanceId": inst}, true
	case "KillMySqlThreads":
		return map[string]any{"InstanceId": inst, "Stage": "Prepare", "Threads": []uint64{thread}}, true
	case "DescribeMySqlProcessList":
		return map[string]any{"InstanceId": inst}, true
	case "PreviewKillTask":
		return map[string]any{"InstanceId": inst, "User": user}, true
	case "DescribeKillTasks", "DescribeKillRecords":
		return map[string]any{"InstanceId": inst}, true
	case "DescribeDiagDBInstances":
		return map[string]any{"IsSupported": true, "Product": "mysql", "InstanceIds": []string{inst}}, true
	}
	return nil, false
}

// TestAuthorizationScopes: every action in the registry × {action not
// allowed, instance not allowed, instance unknown}: the answer is
// UnauthorizedOperation (listings: nothing of the other instance), and
// nothing happens — no task created or cancelled, no session killed. A
// scoped caller cannot learn whether an instance outside its scope exists,
// and listings without an InstanceId show only its instances' tasks,
// records and health.
func TestAuthorizationScopes(t *testing.T) {
	root := kgtest.Root(t)
	killUser, killPW := kgtest.User(t, root) // sessions Z's task kills
	stayUser, stayPW := kgtest.User(t, root) // sessions that must survive
	users := []string{killUser, stayUser}
	st := kgtest.Start(t, kgtest.Options{
		Instances: []killtask.InstanceConfig{
			{ID: kgtest.Instance, Product: "mysql", DSN: kgtest.MySQLDSN()},
			{ID: scopeOther, Product: "mysql", DSN: kgtest.MySQLDSN()},
		},
		RateLimit: fastLimits(),
		Credentials: []gateway.Credential{
			{SecretID: kgtest.SecretID, SecretKey: kgtest.SecretKey},
			{SecretID: onlyAID, SecretKey: onlyAKey, Instances: []string{kgtest.Instance}},
			{SecretID: readOnlyID, SecretKey: readOnlyK, Actions: []string{"DescribeKillTasks"}},
		},
		Huawei: gateway.HuaweiConfig{ProjectID: hwProject, Tokens: []string{hwToken}, Keys: map[string]string{hwAK: hwSK}},
		Scope:  func(p *killtask.Process) bool { return slices.Contains(users, p.User) },
	})
	full := callAs{st, kgtest.SecretID, kgtest.SecretKey}
	onlyA := callAs{st, onlyAID, onlyAKey}
	readOnly := callAs{st, readOnlyID, readOnlyK}
	lock := kgtest.Lock(t, root)

	// Z gets a running task (by the full credential) and a kill record.
	vk := kgtest.NewVictim(t, killUser, killPW, killUser, kgtest.LockQuery(lock))
	reap(t, root, killUser, vk)
	var zTask struct{ TaskId string }
	if err := full.call(t, "CreateKillTask", map[string]any{"InstanceId": scopeOther, "Duration": -1, "User": killUser}, &zTask); err != nil {
		t.Fatal(err)
	}
	waitGone(t, root, vk)
	kgtest.Eventually(t, 10*time.Second, "Z's kill record", func() bool {
		recs, _, err := st.Store.ListKillRecords(context.Background(), killtask.RecordQuery{InstanceID: scopeOther})
		return err == nil && len(recs) > 0
	})
	// A gets a task from onlyA (filtering a user with no sessions).
	var aTask struct{ TaskId string }
	if err := onlyA.call(t, "CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": "kg_nobody_" + stayUser}, &aTask); err != nil {
		t.Fatal(err)
	}
	// The session every refused call would otherwise affect.
	vs := kgtest.NewVictim(t, stayUser, stayPW, stayUser, kgtest.LockQuery(lock))
	reap(t, root, stayUser, vs)
	waitLocked(t, root, stayUser, 1)

	tasksOf := func(inst string) []killtask.Task {
		ts, _, err := st.Store.ListTasks(context.Background(), killtask.TaskQuery{InstanceID: inst, Limit: 100}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	nothingHappened := func(t *testing.T, what string) {
		t.Helper()
		for _, inst := range []string{kgtest.Instance, scopeOther} {
			for _, tk := range tasksOf(inst) {
				if tk.Filter.User == stayUser {
					t.Fatalf("%s: a task for %s was created on %s", what, stayUser, inst)
				}
				if tk.ID == zTask.TaskId && tk.Status != killtask.StatusRunning {
					t.Fatalf("%s: Z's task is %s", what, tk.Status)
				}
			}
		}
		waitPolls(t, st, scopeOther, 2)
		if !vs.Exists(t, root) {
			t.Fatalf("%s: the surviving session was killed", what)
		}
	}

	cases := 0
	for _, action := range st.Registry.Names() {
		if _, ok := scopeSample(action, "x", "u", 1); !ok {
			t.Fatalf("action %s has no scope sample: add one to scopeSample", action)
		}
		// 1. Action outside the credential's action list (on its own
		//    instance too): UnauthorizedOperation.
		if action != "DescribeKillTasks" {
			p, _ := scopeSample(action, kgtest.Instance, stayUser, vs.ID)
			if code := kgtest.Code(readOnly.call(t, action, p, nil)); code != "UnauthorizedOperation" {
				t.Errorf("%s by an action-scoped caller: %q, want UnauthorizedOperation", action, code)
			}
			cases++
		}
		// 2. Instance outside scope, and 3. unknown instance: the same
		//    answer, so existence is not revealed.
		for _, inst := range []string{scopeOther, "cdb-does-not-exist"} {
			p, _ := scopeSample(action, inst, stayUser, vs.ID)
			var out map[string]any
			err := onlyA.call(t, action, p, &out)
			cases++
			if action == "DescribeDiagDBInstances" {
				if err != nil || out["TotalCount"] != float64(0) {
					t.Errorf("%s for %s by an instance-scoped caller: %v %v, want an empty list", action, inst, err, out)
				}
				continue
			}
			if code := kgtest.Code(err); code != "UnauthorizedOperation" {
				t.Errorf("%s on %s by an instance-scoped caller: %q, want UnauthorizedOperation", action, inst, code)
			}
		}
	}
	nothingHappened(t, "after every refused call")

	// Listings without InstanceId show only A.
	var tasks struct {
		Tasks      []struct{ TaskId, InstanceId string }
		TotalCount int64
	}
	if err := onlyA.call(t, "DescribeKillTasks", map[string]any{"Limit": 100}, &tasks); err != nil {
		t.Fatal(err)
	}
	if tasks.TotalCount != 1 || len(tasks.Tasks) != 1 || tasks.Tasks[0].TaskId != aTask.TaskId {
		t.Errorf("DescribeKillTasks by onlyA: %+v, want only %s", tasks, aTask.TaskId)
	}
	if err := onlyA.call(t, "DescribeKillTasks", map[string]any{"TaskId": zTask.TaskId}, &tasks); err != nil || tasks.TotalCount != 0 {
		t.Errorf("DescribeKillTasks by onlyA for Z's task id: %+v %v, want nothing", tasks, err)
	}
	var recs struct {
		Records    []struct{ InstanceId string }
		TotalCount int64
	}
	for _, p := range []map[string]any{{"Limit": 100}, {"TaskId": zTask.TaskId}, {"Source": "task"}} {
		if err := onlyA.call(t, "DescribeKillRecords", p, &recs); err != nil {
			t.Fatal(err)
		}
		if recs.TotalCount != 0 || len(recs.Records) != 0 {
			t.Errorf("DescribeKillRecords %v by onlyA shows Z's records: %+v", p, recs)
		}
		cases++
	}
	var diag struct {
		Items      []struct{ InstanceId string }
		TotalCount int64
	}
	if err := onlyA.call(t, "DescribeDiagDBInstances", map[string]any{"IsSupported": true, "Product": "mysql"}, &diag); err != nil {
		t.Fatal(err)
	}
	if diag.TotalCount != 1 || len(diag.Items) != 1 || diag.Items[0].InstanceId != kgtest.Instance {
		t.Errorf("DescribeDiagDBInstances by onlyA: %+v, want only %s", diag, kgtest.Instance)
	}
	// The full credential still sees both (the listings above were scoped,
	// not empty).
	if err := full.call(t, "DescribeKillRecords", map[string]any{"TaskId": zTask.TaskId}, &recs); err != nil || recs.TotalCount == 0 {
		t.Errorf("DescribeKillRecords by the full credential: %+v %v", recs, err)
	}
	cases += 4

	// Huawei: the project in the path is the scope.
	for _, tc := range []struct {
		name            string
		project, header string
	}{
		{"project not served", strings.Repeat("b", 32), ""},
		{"X-Project-Id differs", hwProject, strings.Repeat("c", 32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "http://"+st.Addr+hwPath(tc.project, kgtest.Instance, "/statistic")+"?node_id="+kgtest.Instance, nil)
			r.Header.Set("X-Auth-Token", hwToken)
			if tc.header != "" {
				r.Header.Set("X-Project-Id", tc.header)
			}
			if a := hwDo(t, r); a.status != http.StatusForbidden || a.code(t) != "DBS.200010" {
				t.Errorf("Huawei project %s / X-Project-Id %q: %d %s", tc.project, tc.header, a.status, a.body)
			}
		})
		cases++
	}
	nothingHappened(t, "at the end")
	t.Logf("figure: %d scope cases over %d actions, 0 allowed outside scope", cases, len(st.Registry.Names()))
}
