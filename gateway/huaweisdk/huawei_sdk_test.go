// Package huawei_test drives killgate's Huawei GaussDB door with the real
// Huawei Cloud Go SDK (huaweicloud-sdk-go-v3, services/gaussdb/v3). It is a
// separate module so that the 47 MB SDK stays out of killgate's go.mod.
package huawei_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	gaussdb "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/gaussdb/v3"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/gaussdb/v3/model"

	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
)

const (
	project = "054e292c9880d4992f02c0196d3ea468"
	ak      = "HWSDKTESTAK0123456789"
	sk      = "hw-sdk-test-sk-0123456789abcdef"
	inst    = "17b6bbb64d2f4c14a83a88f19da8dcc8in07"
	node    = "fb301dc800444b1cbea48efba97e94ebno07"
)

func client(t *testing.T, st *kgtest.Stack, secret string) *gaussdb.GaussDBClient {
	t.Helper()
	cred, err := basic.NewCredentialsBuilder().WithAk(ak).WithSk(secret).WithProjectId(project).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := gaussdb.GaussDBClientBuilder().
		WithEndpoints([]string{"http://" + st.Addr}).
		WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithTimeout(60 * time.Second).WithIgnoreSSLVerification(true)).
		SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	return gaussdb.NewGaussDBClient(hc)
}

func procTime(t *testing.T, root *sql.DB, id uint64) int64 {
	t.Helper()
	var tm int64
	if err := root.QueryRow("SELECT TIME FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&tm); err != nil {
		return -1
	}
	return tm
}

func TestSDKIntelligentKillSession(t *testing.T) {
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	st := kgtest.Start(t, kgtest.Options{
		Instances: []killtask.InstanceConfig{{ID: inst, Product: "cynosdb",
			Nodes:          []killtask.NodeConfig{{ID: node, DSN: kgtest.MySQLDSN()}},
			ProtectedUsers: kgtest.ProtectAllBut(t, root, user)}},
		Huawei: gateway.HuaweiConfig{ProjectID: project, Keys: map[string]string{ak: sk}},
		Scope:  func(p *killtask.Process) bool { return p.User == user },
	})
	lock := kgtest.Lock(t, root)
	start := func(n int, alias string) []*kgtest.Victim {
		var vs []*kgtest.Victim
		for i := range n {
			vs = append(vs, kgtest.NewVictim(t, user, pw, user, fmt.Sprintf("SELECT GET_LOCK('%s', %d) AS %s", lock, 60+i, alias)))
		}
		for _, v := range vs {
			kgtest.Eventually(t, 10*time.Second, "victim running", func() bool { return procTime(t, root, v.ID) >= 0 })
		}
		return vs
	}
	began := time.Now()
	long := start(1, "long_one")
	kgtest.Eventually(t, 10*time.Second, "long runs ≥ 2 s", func() bool { return procTime(t, root, long[0].ID) >= 2 })
	avg := start(2, "avg_two")
	kgtest.Eventually(t, 10*time.Second, "avg runs ≥ 1 s", func() bool { return procTime(t, root, avg[0].ID) >= 1 && procTime(t, root, avg[1].ID) >= 1 })
	many := start(4, "many_four")
	spared := start(1, "spared_one")
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("KILL CONNECTION %d", spared[0].ID)) })

	c := client(t, st, sk)

	// Preview.
	stat, err := c.ShowIntelligentKillSessionStatistic(&model.ShowIntelligentKillSessionStatisticRequest{InstanceId: inst, NodeId: node})
	if err != nil {
		t.Fatal(err)
	}
	if stat.HttpStatusCode != 200 || stat.Statistics == nil || len(*stat.Statistics) != 3 {
		t.Fatalf("statistic %+v", stat)
	}
	wantStrategy := map[string]string{"long_one": "top3_time", "many_four": "top3_count", "avg_two": "top3_avg_time"}
	var previewIDs []int64
	for _, g := range *stat.Statistics {
		alias := (*g.Keyword)[strings.LastIndex(*g.Keyword, " ")+1:]
		if *g.Strategy != wantStrategy[alias] || g.Ids == nil || int(*g.Count) != len(*g.Ids) || g.MaxTime == nil || g.AvgTime == nil || g.TotalTime == nil || g.ExampleSqlText == nil {
			t.Fatalf("group %s strategy %s count %d", *g.Keyword, *g.Strategy, *g.Count)
		}
		previewIDs = append(previewIDs, *g.Ids...)
	}
	slices.Sort(previewIDs)

	// Execute.
	exec, err := c.ExecuteIntelligentKillSession(&model.ExecuteIntelligentKillSessionRequest{InstanceId: inst, Body: &model.IntelligentKillSessionsReq{NodeId: node}})
	if err != nil {
		t.Fatal(err)
	}
	if exec.TaskId == nil || *exec.TaskId == "" {
		t.Fatalf("execute %+v", exec)
	}
	var killedIDs []int64
	for _, v := range slices.Concat(long, avg, many) {
		killedIDs = append(killedIDs, int64(v.ID))
	}
	slices.Sort(killedIDs)
	if !slices.Equal(previewIDs, killedIDs) {
		t.Fatalf("preview %v, want %v", previewIDs, killedIDs)
	}
	kgtest.Eventually(t, 10*time.Second, "chosen sessions gone", func() bool {
		for _, v := range slices.Concat(long, avg, many) {
			if v.Exists(t, root) {
				return false
			}
		}
		return true
	})
	if !spared[0].Exists(t, root) {
		t.Fatal("the unchosen session was killed")
	}

	// History.
	limit, offset := "10", "0"
	hist, err := c.ListIntelligentKillSessionHistory(&model.ListIntelligentKillSessionHistoryRequest{
		InstanceId: inst, NodeId: node, StartTime: began.Add(-time.Second).UnixMilli(), EndTime: time.Now().Add(time.Second).UnixMilli(),
		Limit: &limit, Offset: &offset,
	})
	if err != nil {
		t.Fatal(err)
	}
	if hist.TotalCount == nil || *hist.TotalCount != 1 || hist.IntelligentKillSessionHistories == nil || len(*hist.IntelligentKillSessionHistories) != 1 {
		t.Fatalf("history %+v", hist)
	}
	h := (*hist.IntelligentKillSessionHistories)[0]
	if *h.TaskId != *exec.TaskId || h.StartTime == nil || h.EndTime == nil || *h.EndTime < *h.StartTime || h.DownloadLink == nil ||
		!strings.Contains(*h.DownloadLink, "/history/"+*exec.TaskId+"/download") {
		t.Fatalf("history item %+v", h)
	}

	// Errors come back as ServiceResponseError with Huawei codes.
	_, err = client(t, st, "wrong-secret").ShowIntelligentKillSessionStatistic(&model.ShowIntelligentKillSessionStatisticRequest{InstanceId: inst, NodeId: node})
	assertSDKError(t, err, 401, "APIGW.0301")
	_, err = c.ShowIntelligentKillSessionStatistic(&model.ShowIntelligentKillSessionStatisticRequest{InstanceId: inst, NodeId: "nosuchnode"})
	assertSDKError(t, err, 404, "DBS.200013")
	_, err = c.ExecuteIntelligentKillSession(&model.ExecuteIntelligentKillSessionRequest{InstanceId: "nosuchinstance", Body: &model.IntelligentKillSessionsReq{NodeId: node}})
	assertSDKError(t, err, 404, "DBS.200002")
	_, err = c.ListIntelligentKillSessionHistory(&model.ListIntelligentKillSessionHistoryRequest{InstanceId: inst, NodeId: node}) // start = end = 0
	assertSDKError(t, err, 400, "DBS.200001")
}

func assertSDKError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var se *sdkerr.ServiceResponseError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a ServiceResponseError", err, err)
	}
	if se.StatusCode != status || se.ErrorCode != code || se.ErrorMessage == "" || se.RequestId == "" {
		t.Fatalf("got %d %s %q (request %q), want %d %s", se.StatusCode, se.ErrorCode, se.ErrorMessage, se.RequestId, status, code)
	}
}
