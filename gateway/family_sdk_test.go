package gateway_test

// Longer than 400 lines on purpose: every DBbrain session action through the real Tencent Go SDK,
// one section per action, in the order of docs/actions.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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

// The DBbrain session family and killgate's read APIs, driven through the
// real Tencent SDK common client against the real MariaDB. Every task these
// tests create is scoped by a User filter to a throwaway test user.

const instanceB = "cdb-kgtest-b" // a second instance on the same MariaDB

// Response shapes copied from tencentcloud-sdk-go dbbrain/v20210527
// models.go with their exact field types: a type mismatch in killgate's
// output fails the decode, as it would fail the SDK's typed client.
type sdkMySqlProcess struct {
	ID      *string `json:"ID"`
	User    *string `json:"User"`
	Host    *string `json:"Host"`
	DB      *string `json:"DB"`
	State   *string `json:"State"`
	Command *string `json:"Command"`
	Time    *string `json:"Time"`
	Info    *string `json:"Info"`
	SqlType *string `json:"SqlType"`
}

type sdkStatisticDataInfo struct {
	Name    *string  `json:"Name"`
	TimeAvg *float64 `json:"TimeAvg"`
	TimeSum *float64 `json:"TimeSum"`
	Count   *int64   `json:"Count"`
}

type sdkStatisticInfo struct {
	Dimension *string                 `json:"Dimension"`
	Data      []*sdkStatisticDataInfo `json:"Data"`
}

type sdkDescribeMySqlProcessListResponseParams struct {
	ProcessList []*sdkMySqlProcess  `json:"ProcessList"`
	Statistics  []*sdkStatisticInfo `json:"Statistics"`
	RequestId   *string             `json:"RequestId"`
}

type sdkKillMySqlThreadsResponseParams struct {
	Threads   []*int64 `json:"Threads"`
	SqlExecId *string  `json:"SqlExecId"`
	RequestId *string  `json:"RequestId"`
}

type sdkCancelKillTaskResponseParams struct {
	Status    *int64  `json:"Status"`
	RequestId *string `json:"RequestId"`
}

type sdkInstanceInfo struct {
	InstanceId   *string `json:"InstanceId"`
	InstanceName *string `json:"InstanceName"`
	Region       *string `json:"Region"`
	HealthScore  *int64  `json:"HealthScore"`
	Product      *string `json:"Product"`
	Status       *int64  `json:"Status"`
	IsSupported  *bool   `json:"IsSupported"`
}

type sdkDescribeDiagDBInstancesResponseParams struct {
	TotalCount   *int64             `json:"TotalCount"`
	DbScanStatus *int64             `json:"DbScanStatus"`
	Items        []*sdkInstanceInfo `json:"Items"`
	RequestId    *string            `json:"RequestId"`
}

// killgate's own output shapes for the extension actions.
type killTaskOut struct {
	TaskId, InstanceId, Product, Host, DB, Command, Info string
	Infos                                                []string
	User                                                 string
	Time, Duration                                       int64
	Status, CreateTime                                   string
	ExpireTime, EndTime                                  *string
	KillCount                                            int64
	LastError, Creator                                   string
}

type describeKillTasksOut struct {
	Tasks      []killTaskOut
	TotalCount int64
}

type killRecordOut struct {
	RecordId                                    int64
	Source, TaskId, InstanceId, NodeId, Product string
	ThreadId                                    int64
	User, Host, DB, Command                     string
	Time                                        int64
	State, Info, Outcome, Error, KillTime       string
}

type describeKillRecordsOut struct {
	Records    []killRecordOut
	TotalCount int64
}

type processOut struct {
	ID, User, Host, DB, State, Command, Time, Info string
	SqlType                                        *string
}

type previewOut struct {
	ProcessList []processOut
	TotalCount  int64
}

func fastLimits() ratelimit.Config {
	return ratelimit.Config{PerSecond: 1000, Burst: 1000, MaxKeys: 100, IdleTTL: time.Minute}
}

// familyStack starts a stack with instances cdb-kgtest and cdb-kgtest-b on
// the test MariaDB (plus extra), a generous rate limit, the full-scope test
// credential and "AKIDscoped" limited to instance B.
func familyStack(t *testing.T, extra ...killtask.InstanceConfig) *kgtest.Stack {
	t.Helper()
	insts := append([]killtask.InstanceConfig{
		{ID: kgtest.Instance, Product: "mysql", DSN: kgtest.MySQLDSN()},
		{ID: instanceB, Product: "mysql", DSN: kgtest.MySQLDSN()},
	}, extra...)
	return kgtest.Start(t, kgtest.Options{
		Instances: insts,
		RateLimit: fastLimits(),
		Credentials: []gateway.Credential{
			{SecretID: kgtest.SecretID, SecretKey: kgtest.SecretKey},
			{SecretID: scopedID, SecretKey: scopedKey, Instances: []string{instanceB}},
		},
	})
}

const (
	scopedID  = "AKIDscoped"
	scopedKey = "scoped-secret-key"
)

func (c callAs) call(t *testing.T, action string, params any, out any) error {
	t.Helper()
	return kgtest.CallWith(c.s.Client(c.id, c.key), action, params, out)
}

type callAs struct {
	s       *kgtest.Stack
	id, key string
}

// strict decodes raw into out, refusing fields out does not have.
func strict(t *testing.T, raw json.RawMessage, out any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("response does not decode into the SDK shape: %v\n%s", err, raw)
	}
}

// waitLocked waits until n sessions of user wait on a user lock.
func waitLocked(t *testing.T, root *sql.DB, user string, n int) {
	t.Helper()
	kgtest.Eventually(t, 10*time.Second, fmt.Sprintf("%d sessions of %s waiting on the lock", n, user), func() bool {
		var got int
		if err := root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND STATE = 'User lock'", user).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got == n
	})
}

// reap ends the victims still alive when the test ends, so that their
// connections close at once instead of after their 60 s GET_LOCK. Only a
// thread that still belongs to user is killed.
func reap(t *testing.T, root *sql.DB, user string, vs ...*kgtest.Victim) {
	t.Cleanup(func() {
		for _, v := range vs {
			var u string
			if err := root.QueryRow("SELECT USER FROM information_schema.PROCESSLIST WHERE ID = ?", v.ID).Scan(&u); err == nil && u == user {
				_, _ = root.Exec("KILL CONNECTION " + strconv.FormatUint(v.ID, 10))
			}
		}
	})
}

func waitGone(t *testing.T, root *sql.DB, vs ...*kgtest.Victim) {
	t.Helper()
	for _, v := range vs {
		kgtest.Eventually(t, 10*time.Second, fmt.Sprintf("victim %d killed", v.ID), func() bool { return !v.Exists(t, root) })
	}
}

// waitPolls waits until the node's poller completed n more processlist reads.
func waitPolls(t *testing.T, s *kgtest.Stack, instance string, n int64) {
	t.Helper()
	start := s.Engine.PollCount(instance, instance)
	kgtest.Eventually(t, 15*time.Second, fmt.Sprintf("%d polls of %s", n, instance), func() bool {
		return s.Engine.PollCount(instance, instance) >= start+n
	})
}

// TestSDKKillMySqlThreads: Prepare + Commit kills the victim and records a
// manual history row under the SqlExecId; an expired, reused or
// other-instance SqlExecId kills nothing; RecordHistory=false records nothing.
func TestSDKKillMySqlThreads(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	v1 := kgtest.NewVictim(t, user, pw, user, kgtest.LockQuery(lock))
	reap(t, root, user, v1)
	waitLocked(t, root, user, 1)

	var raw json.RawMessage
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Prepare", "Threads": []uint64{v1.ID, v1.ID}}, &raw); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	var prep sdkKillMySqlThreadsResponseParams
	strict(t, raw, &prep)
	if prep.SqlExecId == nil || *prep.SqlExecId == "" || len(prep.Threads) != 1 || *prep.Threads[0] != int64(v1.ID) {
		t.Fatalf("Prepare answered %s", raw)
	}
	if !v1.Exists(t, root) {
		t.Fatal("Prepare killed the victim")
	}
	execID := *prep.SqlExecId

	// Commit naming the other instance: unknown there; nothing killed.
	err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": instanceB, "Stage": "Commit", "SqlExecId": execID}, nil)
	if got := kgtest.Code(err); got != "ResourceNotFound" {
		t.Fatalf("commit on another instance: %q (%v)", got, err)
	}
	if !v1.Exists(t, root) {
		t.Fatal("a commit on another instance killed the victim")
	}

	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Commit", "SqlExecId": execID}, &raw); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	var commit sdkKillMySqlThreadsResponseParams
	strict(t, raw, &commit)
	if len(commit.Threads) != 1 || *commit.Threads[0] != int64(v1.ID) {
		t.Fatalf("Commit answered %s", raw)
	}
	waitGone(t, root, v1)

	var recs describeKillRecordsOut
	if err := s.Call("DescribeKillRecords", map[string]any{"TaskId": execID}, &recs); err != nil {
		t.Fatal(err)
	}
	if recs.TotalCount != 1 || len(recs.Records) != 1 {
		t.Fatalf("history for %s: %+v", execID, recs)
	}
	r := recs.Records[0]
	if r.Source != "manual" || r.ThreadId != int64(v1.ID) || r.Outcome != "killed" || r.User != user || r.InstanceId != kgtest.Instance ||
		!strings.Contains(r.Info, "GET_LOCK") {
		t.Fatalf("history row = %+v", r)
	}

	// A second Commit of the same id fails and kills nothing.
	v2 := kgtest.NewVictim(t, user, pw, user, kgtest.LockQuery(lock))
	reap(t, root, user, v2)
	waitLocked(t, root, user, 1)
	err = s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Commit", "SqlExecId": execID}, nil)
	if got := kgtest.Code(err); got != "UnsupportedOperation" {
		t.Fatalf("second commit: %q (%v)", got, err)
	}

	// An expired SqlExecId kills nothing.
	s.Service.SetSqlExecTTL(time.Nanosecond)
	var prep2 struct{ SqlExecId string }
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Prepare", "Threads": []uint64{v2.ID}}, &prep2); err != nil {
		t.Fatal(err)
	}
	s.Service.SetSqlExecTTL(0)
	err = s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Commit", "SqlExecId": prep2.SqlExecId}, nil)
	if got := kgtest.Code(err); got != "ResourceNotFound" {
		t.Fatalf("expired commit: %q (%v)", got, err)
	}
	if !v2.Exists(t, root) {
		t.Fatal("a refused commit killed a victim")
	}
	if err := s.Call("DescribeKillRecords", map[string]any{"InstanceId": kgtest.Instance}, &recs); err != nil || recs.TotalCount != 1 {
		t.Fatalf("history after refused commits: %+v, %v", recs, err)
	}

	// RecordHistory=false: killed, not recorded; a gone thread is not in Threads.
	var prep3 struct{ SqlExecId string }
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Prepare", "Threads": []uint64{v2.ID, v1.ID}}, &prep3); err != nil {
		t.Fatal(err)
	}
	var commit3 struct{ Threads []int64 }
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Commit", "SqlExecId": prep3.SqlExecId, "RecordHistory": false}, &commit3); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(commit3.Threads, []int64{int64(v2.ID)}) {
		t.Fatalf("Commit without history killed %v, want [%d]", commit3.Threads, v2.ID)
	}
	waitGone(t, root, v2)
	if err := s.Call("DescribeKillRecords", map[string]any{"TaskId": prep3.SqlExecId}, &recs); err != nil || recs.TotalCount != 0 {
		t.Fatalf("RecordHistory=false wrote history: %+v, %v", recs, err)
	}

	// A commit that kills nothing answers Threads: [] (never null).
	var prep4 struct{ SqlExecId string }
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Prepare", "Threads": []uint64{v1.ID}}, &prep4); err != nil {
		t.Fatal(err)
	}
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Commit", "SqlExecId": prep4.SqlExecId}, &raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"Threads":[]`)) {
		t.Fatalf("empty commit answered %s", raw)
	}
}

// TestSDKDescribeMySqlProcessList: the output decodes into the SDK's types;
// filters select as documented; SqlTag statistics count the tagged victims;
// killgate's own connections are never listed.
func TestSDKDescribeMySqlProcessList(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	both := "/* p=position, c=idCard */ " + kgtest.LockQuery(lock)
	onlyP := "/* p = position */ " + kgtest.LockQuery(lock)
	var tagged []*kgtest.Victim
	for range 3 {
		tagged = append(tagged, kgtest.NewVictim(t, user, pw, user, both))
	}
	pOnly := kgtest.NewVictim(t, user, pw, user, onlyP)
	idle := kgtest.NewVictim(t, user, pw, user, "")
	reap(t, root, user, append(tagged, pOnly, idle)...)
	waitLocked(t, root, user, 4)

	var raw json.RawMessage
	err := s.Call("DescribeMySqlProcessList", map[string]any{
		"InstanceId": kgtest.Instance, "User": user, "Product": "mariadb",
		"StatDimensions": []map[string]any{
			{"Dimension": "SqlTag", "Data": []string{"p=position"}},
			{"Dimension": "SqlTag", "Data": []string{"p=position", "c=idCard"}},
			{"Dimension": "SqlTag"},
		},
	}, &raw)
	if err != nil {
		t.Fatalf("DescribeMySqlProcessList: %v", err)
	}
	var out sdkDescribeMySqlProcessListResponseParams
	strict(t, raw, &out)
	if len(out.ProcessList) != 5 {
		t.Fatalf("listed %d sessions of %s, want 5: %s", len(out.ProcessList), user, raw)
	}
	byID := map[string]*sdkMySqlProcess{}
	timeSum := map[string]float64{}
	for _, p := range out.ProcessList {
		if p.ID == nil || p.User == nil || p.Host == nil || p.DB == nil || p.State == nil || p.Command == nil || p.Time == nil || p.Info == nil {
			t.Fatalf("missing field in %s", raw)
		}
		sec, err := strconv.ParseInt(*p.Time, 10, 64)
		if err != nil || sec < 0 {
			t.Fatalf("Time %q is not decimal seconds", *p.Time)
		}
		byID[*p.ID] = p
		switch {
		case strings.Contains(*p.Info, "p=position, c=idCard"):
			timeSum["c=idCard,p=position"] += float64(sec)
		case strings.Contains(*p.Info, "p = position"):
			timeSum["p=position"] += float64(sec)
		}
	}
	for _, v := range append(tagged, pOnly) {
		p := byID[strconv.FormatUint(v.ID, 10)]
		if p == nil || *p.User != user || *p.DB != user || *p.Command != "Query" || p.SqlType == nil || *p.SqlType != "SQLSelectStatement" {
			t.Fatalf("victim %d listed as %+v", v.ID, p)
		}
	}
	if p := byID[strconv.FormatUint(idle.ID, 10)]; p == nil || *p.Command != "Sleep" || *p.Info != "" || p.SqlType != nil {
		t.Fatalf("idle victim listed as %+v", p)
	}
	stat := func(si *sdkStatisticInfo) map[string]sdkStatisticDataInfo {
		m := map[string]sdkStatisticDataInfo{}
		for _, d := range si.Data {
			m[*d.Name] = *d
		}
		return m
	}
	if len(out.Statistics) != 3 {
		t.Fatalf("Statistics: %s", raw)
	}
	for i, want := range []map[string]int64{
		{"c=idCard,p=position": 3, "p=position": 1},
		{"c=idCard,p=position": 3},
		{"c=idCard,p=position": 3, "p=position": 1},
	} {
		got := stat(out.Statistics[i])
		if *out.Statistics[i].Dimension != "SqlTag" || len(got) != len(want) {
			t.Fatalf("Statistics[%d] = %+v, want counts %v", i, got, want)
		}
		for name, n := range want {
			d, ok := got[name]
			if !ok || *d.Count != n || *d.TimeSum != timeSum[name] || *d.TimeAvg != timeSum[name]/float64(n) {
				t.Fatalf("Statistics[%d][%s] = %+v, want count %d sum %v", i, name, d, n, timeSum[name])
			}
		}
	}

	// Filters.
	list := func(t *testing.T, extra map[string]any) []processOut {
		t.Helper()
		p := map[string]any{"InstanceId": kgtest.Instance, "User": user}
		for k, v := range extra {
			p[k] = v
		}
		var o struct {
			ProcessList []processOut
			Statistics  []any
		}
		if err := s.Call("DescribeMySqlProcessList", p, &o); err != nil {
			t.Fatalf("DescribeMySqlProcessList %v: %v", extra, err)
		}
		if o.Statistics != nil {
			t.Fatalf("Statistics without StatDimensions: %v", o.Statistics)
		}
		return o.ProcessList
	}
	ids := func(ps []processOut) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		slices.Sort(out)
		return out
	}
	idsOf := func(vs ...*kgtest.Victim) []string {
		var out []string
		for _, v := range vs {
			out = append(out, strconv.FormatUint(v.ID, 10))
		}
		slices.Sort(out)
		return out
	}
	hostOfIdle := *byID[strconv.FormatUint(idle.ID, 10)].Host
	for _, tt := range []struct {
		name   string
		filter map[string]any
		want   []string
	}{
		{"ID", map[string]any{"ID": idle.ID}, idsOf(idle)},
		{"User upper case", map[string]any{"User": strings.ToUpper(user)}, idsOf(append(tagged, pOnly, idle)...)},
		{"Info substring", map[string]any{"Info": "C=IDCARD"}, idsOf(tagged...)},
		{"State substring", map[string]any{"State": "user LOCK"}, idsOf(append(tagged, pOnly)...)},
		{"Command", map[string]any{"Command": "sleep"}, idsOf(idle)},
		{"DB", map[string]any{"DB": strings.ToUpper(user)}, idsOf(append(tagged, pOnly, idle)...)},
		{"Host with port", map[string]any{"Host": hostOfIdle}, idsOf(idle)},
		{"Host without port", map[string]any{"Host": killtask.ClientHost(hostOfIdle)}, idsOf(append(tagged, pOnly, idle)...)},
		{"Time", map[string]any{"Time": 100000}, nil},
		{"Limit", map[string]any{"Limit": 2, "Command": "Query"}, nil}, // checked by count below
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(list(t, tt.filter))
			if tt.name == "Limit" {
				if len(got) != 2 {
					t.Fatalf("Limit 2 listed %d", len(got))
				}
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("listed %v, want %v", got, tt.want)
			}
		})
	}

	// killgate's own connections (store, pollers, this listing) are never listed.
	var host, port, serverID string
	if err := root.QueryRow("SELECT @@hostname, @@port, @@server_id").Scan(&host, &port, &serverID); err != nil {
		t.Fatal(err)
	}
	server := host + ":" + port + "/" + serverID
	var all struct{ ProcessList []processOut }
	if err := s.Call("DescribeMySqlProcessList", map[string]any{"InstanceId": kgtest.Instance, "Limit": 10000}, &all); err != nil {
		t.Fatal(err)
	}
	own := killtask.OwnConnections(server)
	if len(own) == 0 {
		t.Fatalf("no own connections registered for %s", server)
	}
	for _, p := range all.ProcessList {
		id, _ := strconv.ParseUint(p.ID, 10, 64)
		if own[id] {
			t.Fatalf("own connection %d listed: %+v", id, p)
		}
	}
}

// TestSDKPreviewKillTask: the preview lists exactly the sessions a task with
// the same filters then kills; the others survive.
func TestSDKPreviewKillTask(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	userA, pwA := kgtest.User(t, root)
	userB, pwB := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	a1 := kgtest.NewVictim(t, userA, pwA, userA, kgtest.LockQuery(lock))
	a2 := kgtest.NewVictim(t, userA, pwA, userA, "  "+kgtest.LockQuery(lock))
	a3 := kgtest.NewVictim(t, userA, pwA, userA, "/* not a prefix match */ "+kgtest.LockQuery(lock))
	aIdle := kgtest.NewVictim(t, userA, pwA, userA, "")
	b1 := kgtest.NewVictim(t, userB, pwB, userB, kgtest.LockQuery(lock))
	reap(t, root, userA, a1, a2, a3, aIdle)
	reap(t, root, userB, b1)
	waitLocked(t, root, userA, 3)
	waitLocked(t, root, userB, 1)

	filters := map[string]any{"InstanceId": kgtest.Instance, "User": userA, "Info": "select get_lock", "DB": userA + ",other"}
	var raw json.RawMessage
	if err := s.Call("PreviewKillTask", filters, &raw); err != nil {
		t.Fatalf("PreviewKillTask: %v", err)
	}
	var prev struct {
		ProcessList []*sdkMySqlProcess
		TotalCount  *int64
		RequestId   *string
	}
	strict(t, raw, &prev)
	var previewed []int64
	for _, p := range prev.ProcessList {
		id, _ := strconv.ParseInt(*p.ID, 10, 64)
		previewed = append(previewed, id)
	}
	slices.Sort(previewed)
	want := []int64{int64(min(a1.ID, a2.ID)), int64(max(a1.ID, a2.ID))}
	if !slices.Equal(previewed, want) || *prev.TotalCount != 2 {
		t.Fatalf("preview = %v (TotalCount %d), want %v", previewed, *prev.TotalCount, want)
	}
	for _, v := range []*kgtest.Victim{a1, a2} {
		if !v.Exists(t, root) {
			t.Fatal("PreviewKillTask killed a session")
		}
	}

	create := map[string]any{"Duration": -1}
	for k, v := range filters {
		create[k] = v
	}
	var task struct{ TaskId string }
	if err := s.Call("CreateKillTask", create, &task); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Call("CancelKillTask", map[string]any{"InstanceId": kgtest.Instance}, nil) })
	waitGone(t, root, a1, a2)
	waitPolls(t, s, kgtest.Instance, 3)
	for _, v := range []*kgtest.Victim{a3, aIdle, b1} {
		if !v.Exists(t, root) {
			t.Fatalf("victim %d outside the preview was killed", v.ID)
		}
	}
	var recs describeKillRecordsOut
	kgtest.Eventually(t, 5*time.Second, "task history written", func() bool {
		if err := s.Call("DescribeKillRecords", map[string]any{"TaskId": task.TaskId}, &recs); err != nil {
			t.Fatal(err)
		}
		return recs.TotalCount >= 2
	})
	var killed []int64
	for _, r := range recs.Records {
		if r.Outcome == "killed" {
			killed = append(killed, r.ThreadId)
		}
		if r.Source != "task" {
			t.Fatalf("task history row %+v", r)
		}
	}
	slices.Sort(killed)
	if !slices.Equal(killed, previewed) {
		t.Fatalf("task killed %v, preview said %v", killed, previewed)
	}
}

// TestSDKCancelKillTask: after CancelKillTask a session the task would have
// matched survives while the poller keeps polling (another task is active);
// a second cancel is ResourceNotFound; the task shows Cancelled.
func TestSDKCancelKillTask(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	userA, pwA := kgtest.User(t, root)
	userB, _ := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)

	var task struct{ TaskId string }
	if err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": userA}, &task); err != nil {
		t.Fatal(err)
	}
	v1 := kgtest.NewVictim(t, userA, pwA, userA, kgtest.LockQuery(lock))
	reap(t, root, userA, v1)
	waitGone(t, root, v1)

	var raw json.RawMessage
	if err := s.Call("CancelKillTask", map[string]any{"InstanceId": kgtest.Instance, "Product": "mysql"}, &raw); err != nil {
		t.Fatalf("CancelKillTask: %v", err)
	}
	var cancel sdkCancelKillTaskResponseParams
	if err := json.Unmarshal(raw, &cancel); err != nil || cancel.Status == nil || *cancel.Status != 1 {
		t.Fatalf("CancelKillTask answered %s (%v)", raw, err)
	}
	var ext struct{ TaskIds []string }
	_ = json.Unmarshal(raw, &ext)
	if !slices.Equal(ext.TaskIds, []string{task.TaskId}) {
		t.Fatalf("cancelled %v, want [%s]", ext.TaskIds, task.TaskId)
	}

	v2 := kgtest.NewVictim(t, userA, pwA, userA, kgtest.LockQuery(lock))
	reap(t, root, userA, v2)
	waitLocked(t, root, userA, 1)
	// Keep the poller busy with a task that matches nothing of userA.
	if err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": userB}, nil); err != nil {
		t.Fatal(err)
	}
	waitPolls(t, s, kgtest.Instance, 3)
	if !v2.Exists(t, root) {
		t.Fatal("a session matching only the cancelled task was killed")
	}
	if err := s.Call("CancelKillTask", map[string]any{"InstanceId": kgtest.Instance}, nil); err != nil {
		t.Fatal(err)
	}
	err := s.Call("CancelKillTask", map[string]any{"InstanceId": kgtest.Instance}, nil)
	if got := kgtest.Code(err); got != "ResourceNotFound" {
		t.Fatalf("cancel with none active: %q (%v)", got, err)
	}

	var tasks describeKillTasksOut
	kgtest.Eventually(t, 5*time.Second, "cancelled task with its kill counted", func() bool {
		if err := s.Call("DescribeKillTasks", map[string]any{"TaskId": task.TaskId}, &tasks); err != nil {
			t.Fatal(err)
		}
		return tasks.TotalCount == 1 && tasks.Tasks[0].KillCount == 1
	})
	if tk := tasks.Tasks[0]; tk.Status != "Cancelled" || tk.EndTime == nil || tk.TaskId != task.TaskId {
		t.Fatalf("cancelled task listed as %+v", tk)
	}
}

// TestSDKDescribeKillTasks: fields, status filter, paging, caller scope.
func TestSDKDescribeKillTasks(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	user, _ := kgtest.User(t, root)
	ctx := context.Background()

	var cancelled []string
	for i := range 5 {
		var out struct{ TaskId string }
		if err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": user, "Time": 1000 + i}, &out); err != nil {
			t.Fatal(err)
		}
		cancelled = append(cancelled, out.TaskId)
	}
	if err := s.Call("CancelKillTask", map[string]any{"InstanceId": kgtest.Instance}, nil); err != nil {
		t.Fatal(err)
	}
	var full struct{ TaskId string }
	if err := s.Call("CreateKillTask", map[string]any{
		"InstanceId": kgtest.Instance, "Duration": 3600, "User": user, "Host": "10.9.8.7", "DB": "a, b",
		"Command": "Query,Execute", "Info": "select", "Time": 7,
	}, &full); err != nil {
		t.Fatal(err)
	}
	var short struct{ TaskId string }
	if err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": 1, "User": user, "Infos": []string{"update", "delete"}}, &short); err != nil {
		t.Fatal(err)
	}
	var onB struct{ TaskId string }
	if err := s.Call("CreateKillTask", map[string]any{"InstanceId": instanceB, "Duration": -1, "User": user}, &onB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = s.Engine.CancelTasks(ctx, kgtest.Instance)
		_, _ = s.Engine.CancelTasks(ctx, instanceB)
	})

	var one describeKillTasksOut
	if err := s.Call("DescribeKillTasks", map[string]any{"TaskId": full.TaskId}, &one); err != nil {
		t.Fatal(err)
	}
	if one.TotalCount != 1 || len(one.Tasks) != 1 {
		t.Fatalf("by TaskId: %+v", one)
	}
	g := one.Tasks[0]
	created, err := time.Parse(time.RFC3339, g.CreateTime)
	if err != nil || !strings.HasSuffix(g.CreateTime, "+00:00") || time.Since(created) > time.Minute {
		t.Fatalf("CreateTime %q (%v)", g.CreateTime, err)
	}
	expire, err := time.Parse(time.RFC3339, deref(g.ExpireTime))
	if err != nil || expire.Sub(created) != time.Hour {
		t.Fatalf("ExpireTime %v for CreateTime %s", g.ExpireTime, g.CreateTime)
	}
	if g.InstanceId != kgtest.Instance || g.Product != "mysql" || g.Host != "10.9.8.7" || g.DB != "a,b" || g.Command != "Query,Execute" ||
		g.Info != "select" || !slices.Equal(g.Infos, []string{"select"}) || g.User != user || g.Time != 7 || g.Duration != 3600 ||
		g.Status != "Running" || g.EndTime != nil || g.KillCount != 0 || g.Creator != kgtest.SecretID {
		t.Fatalf("task = %+v", g)
	}

	// The one-second task finishes, with EndTime = its expiry.
	kgtest.Eventually(t, 10*time.Second, "short task Finished", func() bool {
		var o describeKillTasksOut
		if err := s.Call("DescribeKillTasks", map[string]any{"TaskId": short.TaskId}, &o); err != nil {
			t.Fatal(err)
		}
		return len(o.Tasks) == 1 && o.Tasks[0].Status == "Finished" && o.Tasks[0].EndTime != nil && deref(o.Tasks[0].EndTime) == deref(o.Tasks[0].ExpireTime)
	})

	count := func(t *testing.T, p map[string]any) int64 {
		t.Helper()
		var o describeKillTasksOut
		if err := s.Call("DescribeKillTasks", p, &o); err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		return o.TotalCount
	}
	for _, tt := range []struct {
		name string
		p    map[string]any
		want int64
	}{
		{"all", map[string]any{}, 8},
		{"instance", map[string]any{"InstanceId": kgtest.Instance}, 7},
		{"instance cancelled", map[string]any{"InstanceId": kgtest.Instance, "Status": "Cancelled"}, 5},
		{"instance running", map[string]any{"InstanceId": kgtest.Instance, "Status": "Running"}, 1},
		{"running", map[string]any{"Status": "Running"}, 2},
		{"finished", map[string]any{"Status": "Finished"}, 1},
		{"unknown task", map[string]any{"TaskId": "kt-none"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := count(t, tt.p); got != tt.want {
				t.Fatalf("DescribeKillTasks %v: TotalCount %d, want %d", tt.p, got, tt.want)
			}
		})
	}

	// Paging: pages of 3 over 7 tasks, newest first, no repeats, all found.
	var seen []string
	for off := 0; off < 9; off += 3 {
		var o describeKillTasksOut
		if err := s.Call("DescribeKillTasks", map[string]any{"InstanceId": kgtest.Instance, "Offset": off, "Limit": 3}, &o); err != nil {
			t.Fatal(err)
		}
		if o.TotalCount != 7 || len(o.Tasks) != min(3, 7-off) {
			t.Fatalf("page at %d: %d tasks, TotalCount %d", off, len(o.Tasks), o.TotalCount)
		}
		for _, tk := range o.Tasks {
			seen = append(seen, tk.TaskId)
		}
	}
	if newest := []string{seen[0], seen[1]}; !slices.Contains(newest, short.TaskId) || !slices.Contains(newest, full.TaskId) {
		t.Fatalf("not newest first: %v", seen)
	}
	all := append([]string{full.TaskId, short.TaskId}, cancelled...)
	slices.Sort(all)
	slices.Sort(seen)
	if !slices.Equal(seen, all) {
		t.Fatalf("paged %v, want %v", seen, all)
	}

	// A caller scoped to instance B sees only B's task.
	scoped := callAs{s, scopedID, scopedKey}
	var o describeKillTasksOut
	if err := scoped.call(t, "DescribeKillTasks", map[string]any{}, &o); err != nil {
		t.Fatal(err)
	}
	if o.TotalCount != 1 || o.Tasks[0].TaskId != onB.TaskId {
		t.Fatalf("scoped caller sees %+v", o)
	}
	if err := scoped.call(t, "DescribeKillTasks", map[string]any{"TaskId": full.TaskId}, &o); err != nil || o.TotalCount != 0 {
		t.Fatalf("scoped caller sees another instance's task by id: %+v %v", o, err)
	}
	if got := kgtest.Code(scoped.call(t, "DescribeKillTasks", map[string]any{"InstanceId": kgtest.Instance}, nil)); got != "UnauthorizedOperation" {
		t.Fatalf("scoped caller on instance A: %q", got)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestSDKDescribeKillRecords: paging, time range in both formats, filters,
// caller scope.
func TestSDKDescribeKillRecords(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	var vs []*kgtest.Victim
	var ids []uint64
	for range 5 {
		v := kgtest.NewVictim(t, user, pw, user, kgtest.LockQuery(lock))
		vs = append(vs, v)
		ids = append(ids, v.ID)
	}
	reap(t, root, user, vs...)
	waitLocked(t, root, user, 5)
	var prep struct{ SqlExecId string }
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Prepare", "Threads": ids}, &prep); err != nil {
		t.Fatal(err)
	}
	var commit struct{ Threads []int64 }
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Commit", "SqlExecId": prep.SqlExecId}, &commit); err != nil {
		t.Fatal(err)
	}
	if len(commit.Threads) != 5 {
		t.Fatalf("killed %v", commit.Threads)
	}
	waitGone(t, root, vs...)

	// Pages of 2: 2, 2, 1, newest first, every thread once.
	var got []int64
	var lastID int64 = 1 << 62
	for off := 0; off < 6; off += 2 {
		var o describeKillRecordsOut
		if err := s.Call("DescribeKillRecords", map[string]any{"InstanceId": kgtest.Instance, "TaskId": prep.SqlExecId, "Offset": off, "Limit": 2}, &o); err != nil {
			t.Fatal(err)
		}
		if o.TotalCount != 5 || len(o.Records) != min(2, 5-off) {
			t.Fatalf("page at %d: %d records, TotalCount %d", off, len(o.Records), o.TotalCount)
		}
		for _, r := range o.Records {
			if r.RecordId >= lastID {
				t.Fatalf("records not newest first")
			}
			lastID = r.RecordId
			if r.Source != "manual" || r.TaskId != prep.SqlExecId || r.NodeId != kgtest.Instance || r.Product != "mysql" ||
				r.User != user || r.DB != user || r.Outcome != "killed" || r.Error != "" {
				t.Fatalf("record %+v", r)
			}
			got = append(got, r.ThreadId)
		}
	}
	slices.Sort(got)
	want := make([]int64, len(ids))
	for i, id := range ids {
		want[i] = int64(id)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("paged threads %v, want %v", got, want)
	}

	var o describeKillRecordsOut
	if err := s.Call("DescribeKillRecords", map[string]any{"TaskId": prep.SqlExecId, "Limit": 1}, &o); err != nil {
		t.Fatal(err)
	}
	kt, err := time.Parse(time.RFC3339, o.Records[0].KillTime)
	if err != nil || !strings.HasSuffix(o.Records[0].KillTime, "+00:00") || time.Since(kt) > time.Minute {
		t.Fatalf("KillTime %q (%v)", o.Records[0].KillTime, err)
	}
	plain := kt.UTC().Format(time.DateTime)
	count := func(t *testing.T, p map[string]any) int64 {
		t.Helper()
		p["TaskId"] = prep.SqlExecId
		var o describeKillRecordsOut
		if err := s.Call("DescribeKillRecords", p, &o); err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		return o.TotalCount
	}
	for _, tt := range []struct {
		name string
		p    map[string]any
		want int64
	}{
		{"around the kill, RFC 3339", map[string]any{"StartTime": kt.Add(-time.Minute).Format(time.RFC3339), "EndTime": kt.Add(time.Minute).Format(time.RFC3339)}, 5},
		{"ends before", map[string]any{"EndTime": "2000-01-01 00:00:00"}, 0},
		{"starts after, other zone", map[string]any{"StartTime": kt.Add(time.Hour).In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339)}, 0},
		{"starts before, other zone", map[string]any{"StartTime": kt.Add(-time.Hour).In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339)}, 5},
		{"source manual", map[string]any{"Source": "manual"}, 5},
		{"source task", map[string]any{"Source": "task"}, 0},
		{"other instance", map[string]any{"InstanceId": instanceB}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := count(t, tt.p); got != tt.want {
				t.Fatalf("DescribeKillRecords %v: TotalCount %d, want %d", tt.p, got, tt.want)
			}
		})
	}
	// The record's own second, in the plain format, as both bounds, finds it.
	var inSecond describeKillRecordsOut
	if err := s.Call("DescribeKillRecords", map[string]any{"StartTime": plain, "EndTime": plain, "TaskId": prep.SqlExecId}, &inSecond); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(inSecond.Records, func(r killRecordOut) bool { return r.RecordId == o.Records[0].RecordId }) {
		t.Fatalf("StartTime=EndTime=%q does not find the record at %s", plain, o.Records[0].KillTime)
	}

	scoped := callAs{s, scopedID, scopedKey}
	if err := scoped.call(t, "DescribeKillRecords", map[string]any{"TaskId": prep.SqlExecId}, &o); err != nil || o.TotalCount != 0 || len(o.Records) != 0 {
		t.Fatalf("scoped caller sees another instance's history: %+v %v", o, err)
	}
	if got := kgtest.Code(scoped.call(t, "DescribeKillRecords", map[string]any{"InstanceId": kgtest.Instance}, nil)); got != "UnauthorizedOperation" {
		t.Fatalf("scoped caller on instance A: %q", got)
	}
}

// TestSDKDescribeDiagDBInstances: the configured instances with health (an
// unreachable one says so), active task counts, filters, paging and scope.
func TestSDKDescribeDiagDBInstances(t *testing.T) {
	s := familyStack(t,
		killtask.InstanceConfig{ID: "cdb-kgtest-down", Product: "mysql", DSN: "root:@tcp(127.0.0.1:1)/?timeout=2s"},
		killtask.InstanceConfig{ID: "cynosdbmysql-kgtest", Product: "cynosdb", Nodes: []killtask.NodeConfig{{ID: "cynosdbmysql-ins-kgtest", DSN: kgtest.MySQLDSN()}}},
	)
	root := kgtest.Root(t)
	user, _ := kgtest.User(t, root)
	if err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": user}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.Engine.CancelTasks(context.Background(), kgtest.Instance) })

	var raw json.RawMessage
	if err := s.Call("DescribeDiagDBInstances", map[string]any{"IsSupported": true, "Product": "mysql"}, &raw); err != nil {
		t.Fatalf("DescribeDiagDBInstances: %v", err)
	}
	var sdk sdkDescribeDiagDBInstancesResponseParams
	if err := json.Unmarshal(raw, &sdk); err != nil {
		t.Fatalf("does not decode into the SDK shape: %v\n%s", err, raw)
	}
	if *sdk.TotalCount != 3 || len(sdk.Items) != 3 || sdk.DbScanStatus == nil {
		t.Fatalf("answered %s", raw)
	}
	var ext struct {
		Items []struct {
			InstanceId, Health string
			ActiveTaskCount    int64
			Nodes              []struct{ NodeId, Health string }
		}
	}
	if err := json.Unmarshal(raw, &ext); err != nil {
		t.Fatal(err)
	}
	byID := map[string]int{}
	for i, it := range ext.Items {
		byID[it.InstanceId] = i
		si := sdk.Items[i]
		if *si.InstanceName != it.InstanceId || *si.Product != "mysql" || *si.Status != 1 || !*si.IsSupported || *si.Region == "" {
			t.Fatalf("item %s", raw)
		}
	}
	a, down := ext.Items[byID[kgtest.Instance]], ext.Items[byID["cdb-kgtest-down"]]
	if a.Health != "ok" || a.ActiveTaskCount != 1 || len(a.Nodes) != 1 || a.Nodes[0].NodeId != kgtest.Instance {
		t.Fatalf("healthy instance: %+v", a)
	}
	if !strings.HasPrefix(down.Health, "unreachable: ") || down.ActiveTaskCount != 0 || strings.Contains(down.Health, "password") {
		t.Fatalf("unreachable instance: %+v", down)
	}
	if b := ext.Items[byID[instanceB]]; b.Health != "ok" || b.ActiveTaskCount != 0 {
		t.Fatalf("instance B: %+v", b)
	}

	list := func(t *testing.T, c callAs, p map[string]any) (int64, []string) {
		t.Helper()
		var o struct {
			TotalCount int64
			Items      []struct{ InstanceId string }
		}
		if err := c.call(t, "DescribeDiagDBInstances", p, &o); err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		var ids []string
		for _, it := range o.Items {
			ids = append(ids, it.InstanceId)
		}
		return o.TotalCount, ids
	}
	full := callAs{s, kgtest.SecretID, kgtest.SecretKey}
	for _, tt := range []struct {
		name  string
		c     callAs
		p     map[string]any
		total int64
		ids   []string
	}{
		{"by id", full, map[string]any{"IsSupported": true, "Product": "mysql", "InstanceIds": []string{instanceB}}, 1, []string{instanceB}},
		{"by name, mariadb, region", full, map[string]any{"IsSupported": true, "Product": "mariadb", "InstanceNames": []string{kgtest.Instance}, "Regions": []string{"ap-guangzhou"}}, 1, []string{kgtest.Instance}},
		{"page", full, map[string]any{"IsSupported": true, "Product": "mysql", "Offset": 1, "Limit": 1}, 3, []string{"cdb-kgtest-b"}},
		{"past the end", full, map[string]any{"IsSupported": true, "Product": "mysql", "Offset": 5}, 3, nil},
		{"cynosdb", full, map[string]any{"IsSupported": true, "Product": "cynosdb"}, 1, []string{"cynosdbmysql-kgtest"}},
		{"unsupported", full, map[string]any{"IsSupported": false, "Product": "mysql"}, 0, nil},
		{"scoped credential", callAs{s, scopedID, scopedKey}, map[string]any{"IsSupported": true, "Product": "mysql"}, 1, []string{instanceB}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			total, ids := list(t, tt.c, tt.p)
			if total != tt.total || !slices.Equal(ids, tt.ids) {
				t.Fatalf("%v: TotalCount %d items %v, want %d %v", tt.p, total, ids, tt.total, tt.ids)
			}
		})
	}
}

// TestSDKFamilyErrors: every error path of the new actions reaches the SDK
// with the expected code and a RequestId.
func TestSDKFamilyErrors(t *testing.T) {
	s := familyStack(t)
	scoped := callAs{s, scopedID, scopedKey}
	in := func(kv ...any) map[string]any {
		m := map[string]any{"InstanceId": kgtest.Instance}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	threads101 := make([]int, 101)
	for i := range threads101 {
		threads101[i] = i + 1
	}
	diag := func(kv ...any) map[string]any {
		m := map[string]any{"IsSupported": true, "Product": "mysql"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name   string
		action string
		params map[string]any
		want   string
		as     *callAs
	}{
		{"cancel/missing-instance", "CancelKillTask", in("InstanceId", nil), "MissingParameter", nil},
		{"cancel/wrong-type", "CancelKillTask", in("InstanceId", 42), "InvalidParameter", nil},
		{"cancel/unknown-instance", "CancelKillTask", in("InstanceId", "cdb-nope"), "InvalidParameterValue", nil},
		{"cancel/bad-product", "CancelKillTask", in("Product", "redis"), "InvalidParameterValue", nil},
		{"cancel/wrong-product", "CancelKillTask", in("Product", "cynosdb"), "InvalidParameterValue", nil},
		{"cancel/unknown-parameter", "CancelKillTask", in("TaskId", "x"), "UnknownParameter", nil},
		{"cancel/none-active", "CancelKillTask", in(), "ResourceNotFound", nil},
		{"cancel/out-of-scope", "CancelKillTask", in(), "UnauthorizedOperation", &scoped},

		{"kill/missing-stage", "KillMySqlThreads", in("Threads", []int{1}), "MissingParameter", nil},
		{"kill/bad-stage", "KillMySqlThreads", in("Stage", "Execute", "Threads", []int{1}), "InvalidParameterValue", nil},
		{"kill/stage-wrong-type", "KillMySqlThreads", in("Stage", 1), "InvalidParameter", nil},
		{"kill/prepare-no-threads", "KillMySqlThreads", in("Stage", "Prepare"), "MissingParameter", nil},
		{"kill/prepare-empty-threads", "KillMySqlThreads", in("Stage", "Prepare", "Threads", []int{}), "InvalidParameterValue", nil},
		{"kill/prepare-101-threads", "KillMySqlThreads", in("Stage", "Prepare", "Threads", threads101), "InvalidParameterValue", nil},
		{"kill/prepare-zero-id", "KillMySqlThreads", in("Stage", "Prepare", "Threads", []int{0}), "InvalidParameterValue", nil},
		{"kill/prepare-negative-id", "KillMySqlThreads", in("Stage", "Prepare", "Threads", []int{-3}), "InvalidParameterValue", nil},
		{"kill/threads-wrong-type", "KillMySqlThreads", in("Stage", "Prepare", "Threads", "1,2"), "InvalidParameter", nil},
		{"kill/thread-wrong-type", "KillMySqlThreads", in("Stage", "Prepare", "Threads", []string{"x"}), "InvalidParameter", nil},
		{"kill/prepare-with-sqlexecid", "KillMySqlThreads", in("Stage", "Prepare", "Threads", []int{1}, "SqlExecId", "abc"), "InvalidParameterValue", nil},
		{"kill/commit-no-sqlexecid", "KillMySqlThreads", in("Stage", "Commit"), "MissingParameter", nil},
		{"kill/commit-with-threads", "KillMySqlThreads", in("Stage", "Commit", "SqlExecId", "abc", "Threads", []int{1}), "InvalidParameterValue", nil},
		{"kill/commit-unknown-id", "KillMySqlThreads", in("Stage", "Commit", "SqlExecId", "NoSuchExecId"), "ResourceNotFound", nil},
		{"kill/record-history-wrong-type", "KillMySqlThreads", in("Stage", "Commit", "SqlExecId", "x", "RecordHistory", "yes"), "InvalidParameter", nil},
		{"kill/unknown-instance", "KillMySqlThreads", in("InstanceId", "cdb-nope", "Stage", "Prepare", "Threads", []int{1}), "InvalidParameterValue", nil},
		{"kill/bad-product", "KillMySqlThreads", in("Product", "mariadb", "Stage", "Prepare", "Threads", []int{1}), "InvalidParameterValue", nil},
		{"kill/out-of-scope", "KillMySqlThreads", in("Stage", "Prepare", "Threads", []int{1}), "UnauthorizedOperation", &scoped},

		{"plist/missing-instance", "DescribeMySqlProcessList", in("InstanceId", nil), "MissingParameter", nil},
		{"plist/unknown-instance", "DescribeMySqlProcessList", in("InstanceId", "cdb-nope"), "InvalidParameterValue", nil},
		{"plist/id-negative", "DescribeMySqlProcessList", in("ID", -1), "InvalidParameterValue", nil},
		{"plist/id-wrong-type", "DescribeMySqlProcessList", in("ID", "abc"), "InvalidParameter", nil},
		{"plist/time-negative", "DescribeMySqlProcessList", in("Time", -5), "InvalidParameterValue", nil},
		{"plist/limit-zero", "DescribeMySqlProcessList", in("Limit", 0), "InvalidParameterValue", nil},
		{"plist/limit-too-big", "DescribeMySqlProcessList", in("Limit", 10001), "InvalidParameterValue", nil},
		{"plist/bad-product", "DescribeMySqlProcessList", in("Product", "dcdb"), "InvalidParameterValue", nil},
		{"plist/wrong-product", "DescribeMySqlProcessList", in("Product", "cynosdb"), "InvalidParameterValue", nil},
		{"plist/bad-dimension", "DescribeMySqlProcessList", in("StatDimensions", []map[string]any{{"Dimension": "User"}}), "InvalidParameterValue", nil},
		{"plist/missing-dimension", "DescribeMySqlProcessList", in("StatDimensions", []map[string]any{{"Data": []string{"p"}}}), "MissingParameter", nil},
		{"plist/dimensions-wrong-type", "DescribeMySqlProcessList", in("StatDimensions", "SqlTag"), "InvalidParameter", nil},
		{"plist/bad-data", "DescribeMySqlProcessList", in("StatDimensions", []map[string]any{{"Dimension": "SqlTag", "Data": []string{"p="}}}), "InvalidParameterValue", nil},
		{"plist/unknown-parameter", "DescribeMySqlProcessList", in("Offset", 1), "UnknownParameter", nil},
		{"plist/out-of-scope", "DescribeMySqlProcessList", in(), "UnauthorizedOperation", &scoped},

		{"preview/missing-instance", "PreviewKillTask", in("InstanceId", nil, "User", "x"), "MissingParameter", nil},
		{"preview/unknown-instance", "PreviewKillTask", in("InstanceId", "cdb-nope"), "InvalidParameterValue", nil},
		{"preview/duration", "PreviewKillTask", in("Duration", 60), "UnknownParameter", nil},
		{"preview/info-and-infos", "PreviewKillTask", in("Info", "select", "Infos", []string{"update"}), "InvalidParameterValue", nil},
		{"preview/host-with-port", "PreviewKillTask", in("Host", "10.0.0.1:3306"), "InvalidParameterValue", nil},
		{"preview/negative-time", "PreviewKillTask", in("Time", -1), "InvalidParameterValue", nil},
		{"preview/empty-infos-item", "PreviewKillTask", in("Infos", []string{" "}), "InvalidParameterValue", nil},
		{"preview/wrong-type", "PreviewKillTask", in("Infos", "select"), "InvalidParameter", nil},
		{"preview/out-of-scope", "PreviewKillTask", in(), "UnauthorizedOperation", &scoped},

		{"tasks/bad-status", "DescribeKillTasks", map[string]any{"Status": "Done"}, "InvalidParameterValue", nil},
		{"tasks/limit-zero", "DescribeKillTasks", map[string]any{"Limit": 0}, "InvalidParameterValue", nil},
		{"tasks/limit-too-big", "DescribeKillTasks", map[string]any{"Limit": 101}, "InvalidParameterValue", nil},
		{"tasks/negative-offset", "DescribeKillTasks", map[string]any{"Offset": -1}, "InvalidParameterValue", nil},
		{"tasks/limit-wrong-type", "DescribeKillTasks", map[string]any{"Limit": "ten"}, "InvalidParameter", nil},
		{"tasks/unknown-instance", "DescribeKillTasks", map[string]any{"InstanceId": "cdb-nope"}, "InvalidParameterValue", nil},
		{"tasks/unknown-parameter", "DescribeKillTasks", map[string]any{"Product": "mysql"}, "UnknownParameter", nil},
		{"tasks/out-of-scope", "DescribeKillTasks", in(), "UnauthorizedOperation", &scoped},

		{"records/bad-start", "DescribeKillRecords", map[string]any{"StartTime": "yesterday"}, "InvalidParameterValue", nil},
		{"records/bad-end", "DescribeKillRecords", map[string]any{"EndTime": "2024-13-01 00:00:00"}, "InvalidParameterValue", nil},
		{"records/reversed", "DescribeKillRecords", map[string]any{"StartTime": "2024-01-02 00:00:00", "EndTime": "2024-01-01T00:00:00Z"}, "InvalidParameterValue", nil},
		{"records/bad-source", "DescribeKillRecords", map[string]any{"Source": "cron"}, "InvalidParameterValue", nil},
		{"records/limit-too-big", "DescribeKillRecords", map[string]any{"Limit": 101}, "InvalidParameterValue", nil},
		{"records/time-wrong-type", "DescribeKillRecords", map[string]any{"StartTime": 1700000000}, "InvalidParameter", nil},
		{"records/unknown-instance", "DescribeKillRecords", map[string]any{"InstanceId": "cdb-nope"}, "InvalidParameterValue", nil},
		{"records/out-of-scope", "DescribeKillRecords", in(), "UnauthorizedOperation", &scoped},

		{"diag/missing-is-supported", "DescribeDiagDBInstances", diag("IsSupported", nil), "MissingParameter", nil},
		{"diag/missing-product", "DescribeDiagDBInstances", diag("Product", nil), "MissingParameter", nil},
		{"diag/bad-product", "DescribeDiagDBInstances", diag("Product", "redis"), "InvalidParameterValue", nil},
		{"diag/is-supported-wrong-type", "DescribeDiagDBInstances", diag("IsSupported", "maybe"), "InvalidParameter", nil},
		{"diag/limit-too-big", "DescribeDiagDBInstances", diag("Limit", 101), "InvalidParameterValue", nil},
		{"diag/negative-offset", "DescribeDiagDBInstances", diag("Offset", -1), "InvalidParameterValue", nil},
		{"diag/ids-wrong-type", "DescribeDiagDBInstances", diag("InstanceIds", kgtest.Instance), "InvalidParameter", nil},
		{"diag/unknown-parameter", "DescribeDiagDBInstances", diag("InstanceId", kgtest.Instance), "UnknownParameter", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := callAs{s, kgtest.SecretID, kgtest.SecretKey}
			if tt.as != nil {
				c = *tt.as
			}
			err := c.call(t, tt.action, tt.params, nil)
			if got := kgtest.Code(err); got != tt.want {
				t.Fatalf("code = %q, want %q (err %v)", got, tt.want, err)
			}
			if kgtest.RequestID(err) == "" {
				t.Fatalf("no RequestId in %v", err)
			}
		})
	}
	// Nothing above created a task or a prepared kill that could act.
	tasks, total, err := s.Store.ListTasks(context.Background(), killtask.TaskQuery{Limit: 100}, time.Now())
	if err != nil || total != 0 || len(tasks) != 0 {
		t.Fatalf("error paths left %d tasks (%v)", total, err)
	}
}

// TestSDKMimicOfKillgateIsKillable: a session that runs killgate's own
// identification statement is an ordinary session for every door: preview
// lists it, KillMySqlThreads kills it (history outcome killed, not
// skipped), and a task kills it (issue 12.1).
func TestSDKMimicOfKillgateIsKillable(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	mimic := "SELECT /* killgate */ CONNECTION_ID(), GET_LOCK('" + lock + "', 60)"
	v1 := kgtest.NewVictim(t, user, pw, user, mimic)
	v2 := kgtest.NewVictim(t, user, pw, user, mimic)
	reap(t, root, user, v1, v2)
	waitLocked(t, root, user, 2)

	var prev struct {
		ProcessList []processOut
		TotalCount  int64
	}
	if err := s.Call("PreviewKillTask", map[string]any{"InstanceId": kgtest.Instance, "User": user}, &prev); err != nil {
		t.Fatal(err)
	}
	if prev.TotalCount != 2 {
		t.Fatalf("preview lists %d of the 2 sessions that mimic killgate: %+v", prev.TotalCount, prev.ProcessList)
	}

	var prep sdkKillMySqlThreadsResponseParams
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Prepare", "Threads": []uint64{v1.ID}}, &prep); err != nil {
		t.Fatal(err)
	}
	var commit sdkKillMySqlThreadsResponseParams
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Commit", "SqlExecId": *prep.SqlExecId}, &commit); err != nil {
		t.Fatal(err)
	}
	if len(commit.Threads) != 1 || uint64(*commit.Threads[0]) != v1.ID {
		t.Fatalf("Commit killed %v, want [%d]", commit.Threads, v1.ID)
	}
	waitGone(t, root, v1)
	var recs describeKillRecordsOut
	if err := s.Call("DescribeKillRecords", map[string]any{"TaskId": *prep.SqlExecId}, &recs); err != nil {
		t.Fatal(err)
	}
	if recs.TotalCount != 1 || recs.Records[0].Outcome != "killed" {
		t.Fatalf("history of the manual kill: %+v", recs.Records)
	}

	if err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": -1, "User": user}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Call("CancelKillTask", map[string]any{"InstanceId": kgtest.Instance}, nil) })
	waitGone(t, root, v2)
}
