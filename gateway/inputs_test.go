package gateway_test

// Longer than 400 lines on purpose: one table of malformed, oversized and mistyped inputs per door
// stage; the table is long by nature.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"killgate/actions"
	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
	"killgate/ratelimit"
	"killgate/tc3"
)

// newGatewayWith is newGateway with a caller's limiter and body budget.
func newGatewayWith(t *testing.T, cfg gateway.Config) *httptest.Server {
	t.Helper()
	cfg.Registry = actions.NewRegistry([]actions.Action{
		actions.Bind("Echo", func(ctx context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Echo: *r}, nil }),
	})
	if cfg.Credentials == nil {
		cfg.Credentials = []gateway.Credential{{SecretID: testID, SecretKey: testKey}}
	}
	cfg.Log = zap.NewNop()
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// TestRateLimitMessage: RequestLimitExceeded quotes the configured rate,
// not a fixed 20 (issue 12 item 5).
func TestRateLimitMessage(t *testing.T) {
	for _, tt := range []struct {
		name      string
		perSecond float64
		burst     int
		want      string
	}{
		{"2 per second", 2, 2, "frequency limit `2` for a second"},
		{"half per second", 0.5, 1, "frequency limit `0.5` for a second"},
		{"default 20", 20, 20, "frequency limit `20` for a second"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lim := ratelimit.New(ratelimit.Config{PerSecond: tt.perSecond, Burst: tt.burst, MaxKeys: 10, IdleTTL: time.Hour})
			srv := newGatewayWith(t, gateway.Config{Limiter: lim})
			for i := 0; ; i++ {
				env := do(t, tc3Request(t, srv, "Echo", `{"Name":"a"}`, nil))
				if code(env) == "" {
					if i > tt.burst {
						t.Fatalf("request %d admitted past a burst of %d", i, tt.burst)
					}
					continue
				}
				if code(env) != actions.RequestLimitExceeded || !strings.Contains(env.Response.Error.Message, tt.want) {
					t.Fatalf("got %s %q, want RequestLimitExceeded with %q", code(env), env.Response.Error.Message, tt.want)
				}
				return
			}
		})
	}
}

// TestUnparsableContentType: a Content-Type that does not parse is
// UnsupportedProtocol, not read as JSON (issue 12 item 5).
func TestUnparsableContentType(t *testing.T) {
	srv := newGatewayWith(t, gateway.Config{})
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, ct := range []string{"@@@", "application/json; charset", "/json", "application/json;;"} {
		t.Run(ct, func(t *testing.T) {
			body := `{"Name":"a"}`
			env := do(t, tc3Request(t, srv, "Echo", body, func(r *http.Request) {
				r.Header.Set("Content-Type", ct)
				r.Header.Set("Authorization", tc3.Sign(testID, testKey, "dbbrain", tc3.Request{Method: "POST", Host: host, RawQuery: "", ContentType: ct, Body: []byte(body)}, mustAtoi(r.Header.Get("X-TC-Timestamp"))))
			}))
			if code(env) != actions.UnsupportedProtocol {
				t.Fatalf("Content-Type %q: code %q, want UnsupportedProtocol", ct, code(env))
			}
		})
	}
	// What the SDKs and curl send still works.
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
		t.Run(ct, func(t *testing.T) {
			env := do(t, tc3Request(t, srv, "Echo", `{"Name":"a"}`, func(r *http.Request) {
				r.Header.Set("Content-Type", ct)
				r.Header.Set("Authorization", tc3.Sign(testID, testKey, "dbbrain", tc3.Request{Method: "POST", Host: host, RawQuery: "", ContentType: ct, Body: []byte(`{"Name":"a"}`)}, mustAtoi(r.Header.Get("X-TC-Timestamp"))))
			}))
			if code(env) != "" {
				t.Fatalf("Content-Type %q: %s", ct, code(env))
			}
		})
	}
}

func mustAtoi(s string) int64 {
	var n int64
	for _, c := range s {
		n = n*10 + int64(c-'0')
	}
	return n
}

// TestHuaweiStrictBody: the Huawei door decodes its body as strictly as the
// Tencent door: exact-case keys, no duplicate key, no unknown key (issue 12
// item 5: {"NODE_ID":…} ran a kill).
func TestHuaweiStrictBody(t *testing.T) {
	st := hwStack(t, ratelimit.DefaultConfig(), "") // no session is in scope: an Execute kills nothing
	path := hwPath(hwProject, hwInst, "")
	for _, c := range []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"exact key", `{"node_id":"` + hwInst + `"}`, 200, "", ""},
		{"upper-case key", `{"NODE_ID":"` + hwInst + `"}`, 400, "DBS.200001", "NODE_ID"},
		{"mixed-case key", `{"Node_Id":"` + hwInst + `"}`, 400, "DBS.200001", "Node_Id"},
		{"duplicate key, valid last", `{"node_id":"nosuchnode","node_id":"` + hwInst + `"}`, 400, "DBS.200001", "more than once"},
		{"duplicate key, same value", `{"node_id":"` + hwInst + `","node_id":"` + hwInst + `"}`, 400, "DBS.200001", "more than once"},
		{"exact and case-folded key", `{"node_id":"` + hwInst + `","NODE_ID":"x"}`, 400, "DBS.200001", "NODE_ID"},
		{"null body", `null`, 400, "DBS.200001", ""},
		{"node_id null", `{"node_id":null}`, 400, "DBS.200001", "node_id"},
		{"not UTF-8", "{\"node_id\":\"\xff\"}", 400, "DBS.200001", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := hwReq(t, st, "POST", path, []byte(c.body))
			r.Header.Set("X-Auth-Token", hwToken)
			a := hwDo(t, r)
			if a.status != c.status || a.code(t) != c.code || !strings.Contains(string(a.body), c.msg) {
				t.Fatalf("%s: %d %s, want %d %s mentioning %q", c.body, a.status, a.body, c.status, c.code, c.msg)
			}
		})
	}
}

// TestKillMySqlThreadsOwnConnection: KillMySqlThreads on one of killgate's
// own thread ids kills nothing and records a `skipped` history row with the
// reason, as the docs say (issue 12 item 5: it wrote no row).
func TestKillMySqlThreadsOwnConnection(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	// Make sure the instance's read pool holds a connection, then pick one
	// of killgate's connections that the server lists.
	if err := s.Call("DescribeMySqlProcessList", map[string]any{"InstanceId": kgtest.Instance}, nil); err != nil {
		t.Fatal(err)
	}
	var host, port, serverID string
	if err := root.QueryRow("SELECT @@hostname, @@port, @@server_id").Scan(&host, &port, &serverID); err != nil {
		t.Fatal(err)
	}
	own := killtask.OwnConnections(host + ":" + port + "/" + serverID)
	rows, err := root.Query("SELECT ID FROM information_schema.PROCESSLIST ORDER BY ID")
	if err != nil {
		t.Fatal(err)
	}
	var ownID uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if own[id] {
			ownID = id
		}
	}
	rows.Close()
	if ownID == 0 {
		t.Fatalf("no connection of killgate's is listed (registry %v)", own)
	}

	var prep sdkKillMySqlThreadsResponseParams
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Prepare", "Threads": []uint64{ownID}}, &prep); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	var commit sdkKillMySqlThreadsResponseParams
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Commit", "SqlExecId": *prep.SqlExecId}, &commit); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if len(commit.Threads) != 0 {
		t.Fatalf("Commit killed %v, one of killgate's own connections", commit.Threads)
	}
	var recs describeKillRecordsOut
	if err := s.Call("DescribeKillRecords", map[string]any{"TaskId": *prep.SqlExecId}, &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs.Records) != 1 {
		t.Fatalf("history for own thread %d: %+v, want one skipped row", ownID, recs)
	}
	r := recs.Records[0]
	if r.Outcome != "skipped" || r.ThreadId != int64(ownID) || r.Source != "manual" || !strings.Contains(r.Error, killtask.ExclOwn) {
		t.Fatalf("history row %+v, want skipped: %s", r, killtask.ExclOwn)
	}
	var alive int
	if err := root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", ownID).Scan(&alive); err != nil || alive != 1 {
		t.Fatalf("own connection %d gone (%d, %v)", ownID, alive, err)
	}
}

// TestListingsBounded: DescribeKillTasks, DescribeKillRecords and
// DescribeMySqlProcessList answers are bounded in bytes: long texts are cut
// at actions.ListTextMax with a marker, a page stops before
// actions.ListByteBudget and TotalCount stays the count of every match, so
// paging with Offset reaches every row (issue 12 item 4: DescribeKillTasks
// with Limit 10 returned 65 MB).
func TestListingsBounded(t *testing.T) {
	s := familyStack(t)
	root := kgtest.Root(t)
	const maxAnswer = actions.ListByteBudget + 1024 // rows + the envelope's few fields
	marker := func(full int) string { return "…[truncated, " + strconv.Itoa(full) + " bytes]" }

	// Tasks stored before the filter limits: 20 of 100 Infos × 5 KB.
	const nTasks, itemLen = 20, 5 << 10
	now := time.Now()
	ids := map[string]bool{}
	for i := range nTasks {
		f := killtask.Filter{User: "kg_nobody_legacy"}
		for j := range 100 {
			f.Infos = append(f.Infos, fmt.Sprintf("select %03d %s", j, strings.Repeat("x", itemLen-11)))
		}
		fj, _ := json.Marshal(f)
		id := fmt.Sprintf("kt-legacy%07d", i)
		ids[id] = true
		if _, err := s.Store.DB().Exec(`INSERT INTO tasks (id, instance_id, product, filter_json, duration_s, created_ms, expires_ms, status, ended_ms, creator, kills, last_error)
			VALUES (?,?,'mysql',?,-1,?,0,'Cancelled',?,'legacy',0,'')`, id, kgtest.Instance, string(fj), now.Add(time.Duration(i)*time.Millisecond).UnixMilli(), now.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for offset, pages := 0, 0; offset < nTasks; pages++ {
		var raw json.RawMessage
		if err := s.Call("DescribeKillTasks", map[string]any{"InstanceId": kgtest.Instance, "Limit": nTasks, "Offset": offset}, &raw); err != nil {
			t.Fatal(err)
		}
		var page describeKillTasksOut
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatal(err)
		}
		t.Logf("figure: DescribeKillTasks Limit %d Offset %d: %d bytes, %d tasks, TotalCount %d", nTasks, offset, len(raw), len(page.Tasks), page.TotalCount)
		if len(raw) > maxAnswer || page.TotalCount != nTasks || len(page.Tasks) == 0 {
			t.Fatalf("page at %d: %d bytes (max %d), %d tasks, TotalCount %d", offset, len(raw), maxAnswer, len(page.Tasks), page.TotalCount)
		}
		if pages == 0 && len(page.Tasks) == nTasks {
			t.Fatalf("the first page holds all %d tasks of %d MB: the byte budget did not stop it", nTasks, nTasks*100*itemLen>>20)
		}
		for _, tk := range page.Tasks {
			if seen[tk.TaskId] || !ids[tk.TaskId] {
				t.Fatalf("task %s listed twice or unknown", tk.TaskId)
			}
			seen[tk.TaskId] = true
			if len(tk.Infos) != 100 || !strings.HasSuffix(tk.Infos[7], marker(itemLen)) || !strings.HasPrefix(tk.Infos[7], "select 007 xxx") ||
				len(tk.Infos[7]) != actions.ListTextMax+len(marker(itemLen)) {
				t.Fatalf("task %s: %d infos, item 7 %d bytes ending %q", tk.TaskId, len(tk.Infos), len(tk.Infos[7]), tk.Infos[7][len(tk.Infos[7])-40:])
			}
		}
		offset += len(page.Tasks)
	}
	if len(seen) != nTasks {
		t.Fatalf("paging listed %d of %d tasks", len(seen), nTasks)
	}

	// History rows with 128 KB statement texts.
	const nRecs, infoLen = 50, 128 << 10
	var recs []killtask.KillRecord
	for i := range nRecs {
		recs = append(recs, killtask.KillRecord{Source: killtask.SourceManual, TaskID: "sx-bounded", InstanceID: kgtest.Instance, NodeID: kgtest.Instance,
			Product: "mysql", ThreadID: uint64(1000 + i), User: "app", Host: "10.0.0.5:5000", Command: "Query",
			Info: "INSERT INTO t VALUES " + strings.Repeat("(1,'é'),", (infoLen-21)/9) + strings.Repeat(" ", (infoLen-21)%9), Outcome: killtask.OutcomeGone})
	}
	if err := s.Store.AddKillRecords(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	var raw json.RawMessage
	if err := s.Call("DescribeKillRecords", map[string]any{"TaskId": "sx-bounded", "Limit": 100}, &raw); err != nil {
		t.Fatal(err)
	}
	var hist describeKillRecordsOut
	if err := json.Unmarshal(raw, &hist); err != nil {
		t.Fatal(err)
	}
	t.Logf("figure: DescribeKillRecords Limit 100 over %d rows of %d KB statements: %d bytes", nRecs, infoLen>>10, len(raw))
	if hist.TotalCount != nRecs || len(hist.Records) != nRecs || len(raw) > nRecs*(actions.ListTextMax+1024) {
		t.Fatalf("history: %d bytes, %d records, TotalCount %d", len(raw), len(hist.Records), hist.TotalCount)
	}
	for _, r := range hist.Records {
		full := len(recs[0].Info)
		if !strings.HasSuffix(r.Info, marker(full)) || !strings.HasPrefix(recs[0].Info, strings.TrimSuffix(r.Info, marker(full))) ||
			len(r.Info) > actions.ListTextMax+len(marker(full)) || !utf8.ValidString(r.Info) {
			t.Fatalf("record %d: Info of %d bytes ends %q", r.RecordId, len(r.Info), r.Info[max(0, len(r.Info)-40):])
		}
	}

	// A live session with a long statement.
	user, pw := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	v := kgtest.NewVictim(t, user, pw, user, "/* "+strings.Repeat("y", 20000)+" */ "+kgtest.LockQuery(lock))
	reap(t, root, user, v)
	waitLocked(t, root, user, 1)
	var pl struct{ ProcessList []processOut }
	if err := s.Call("DescribeMySqlProcessList", map[string]any{"InstanceId": kgtest.Instance, "User": user}, &pl); err != nil {
		t.Fatal(err)
	}
	if len(pl.ProcessList) != 1 || !strings.Contains(pl.ProcessList[0].Info, "…[truncated, ") || len(pl.ProcessList[0].Info) > actions.ListTextMax+64 ||
		!strings.HasPrefix(pl.ProcessList[0].Info, "/* yyyy") {
		t.Fatalf("processlist: %+v", pl.ProcessList)
	}
}

// stalledBody is a request body that sends nothing until closed: an answer
// that arrives while it is open was given without reading the body.
func stalledBody(t *testing.T, req *http.Request, length int64) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
	req.Body, req.ContentLength = pr, length
	req.GetBody = nil
}

// doWithin sends req and fails the test if no answer comes within d.
func doWithin(t *testing.T, req *http.Request, d time.Duration) *http.Response {
	t.Helper()
	type result struct {
		resp *http.Response
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		ch <- result{resp, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.resp
	case <-time.After(d):
		t.Fatalf("no answer within %s: the server waits for the body", d)
		return nil
	}
}

func envelopeOf(t *testing.T, resp *http.Response) envelope {
	t.Helper()
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP %d, not an envelope: %v", resp.StatusCode, err)
	}
	return env
}

// TestBodyReadAfterIdentity: what needs no body is checked before the body
// is read — declared size, Action, Version, SecretId, token, timestamp
// window — so such a request is answered while its body has not even been
// sent (issue 12 item 4).
func TestBodyReadAfterIdentity(t *testing.T) {
	srv := newGatewayWith(t, gateway.Config{})
	for _, tt := range []struct {
		name   string
		length int64
		mod    func(*http.Request)
		code   actions.Code
	}{
		{"unknown SecretId", 1 << 20, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testID, "AKIDnobody", 1))
		}, actions.AuthFailureSecretIdNotFound},
		{"no Authorization", 1 << 20, func(r *http.Request) { r.Header.Del("Authorization") }, actions.AuthFailureInvalidAuthorization},
		{"unknown action", 1 << 20, func(r *http.Request) { r.Header.Set("X-TC-Action", "Nope") }, actions.InvalidAction},
		{"wrong version", 1 << 20, func(r *http.Request) { r.Header.Set("X-TC-Version", "2019-01-01") }, actions.NoSuchVersion},
		{"session token", 1 << 20, func(r *http.Request) { r.Header.Set("X-TC-Token", "t") }, actions.AuthFailureTokenFailure},
		{"old timestamp", 1 << 20, func(r *http.Request) {
			r.Header.Set("X-TC-Timestamp", strconv.FormatInt(time.Now().Unix()-3600, 10))
		}, actions.AuthFailureSignatureExpire},
		{"declared size over 10 MB", 10<<20 + 1, nil, actions.RequestSizeLimitExceeded},
		{"form POST declared over 1 MB", 1<<20 + 1, func(r *http.Request) {
			r.Header.Del("Authorization")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}, actions.RequestSizeLimitExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := tc3Request(t, srv, "Echo", `{"Name":"a"}`, tt.mod)
			stalledBody(t, req, tt.length)
			if got := code(envelopeOf(t, doWithin(t, req, 10*time.Second))); got != tt.code {
				t.Fatalf("code %q, want %q", got, tt.code)
			}
		})
	}
}

// TestBodyBudget: bodies over 64 KB share a process-wide budget; a request
// that cannot get its bytes within the wait gets RequestLimitExceeded in
// the envelope (no hang), small bodies never wait, and the budget comes
// back when requests end (issue 12 item 4).
func TestBodyBudget(t *testing.T) {
	srv := newGatewayWith(t, gateway.Config{BodyBudget: gateway.MinBodyBudget, BodyWait: 100 * time.Millisecond})
	// Three signed 10 MB bodies that stall after their headers hold 30 of
	// the 32 MB.
	var stalled []*http.Request
	for range 3 {
		req := tc3Request(t, srv, "Echo", `{"Name":"a"}`, nil)
		stalledBody(t, req, 10<<20)
		stalled = append(stalled, req)
	}
	done := make(chan string, len(stalled))
	for _, req := range stalled {
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- "transport: " + err.Error()
				return
			}
			resp.Body.Close()
			done <- "answered"
		}()
	}
	// A fourth large body cannot get its 10 MB: refused after the wait.
	large := `{"Name":"` + strings.Repeat("b", 10<<20-20) + `"}`
	kgtest.Eventually(t, 10*time.Second, "a large body refused for lack of budget", func() bool {
		env := envelopeOf(t, doWithin(t, tc3Request(t, srv, "Echo", large, nil), 10*time.Second))
		if c := code(env); c != actions.RequestLimitExceeded {
			return false
		}
		if !strings.Contains(env.Response.Error.Message, "request bodies") {
			t.Fatalf("message %q", env.Response.Error.Message)
		}
		return true
	})
	// Small bodies do not wait for the budget.
	if got := code(envelopeOf(t, doWithin(t, tc3Request(t, srv, "Echo", `{"Name":"small"}`, nil), 5*time.Second))); got != "" {
		t.Fatalf("a small request while the budget is taken: %q", got)
	}
	body := `{"Name":"` + strings.Repeat("m", 200<<10) + `"}` // 200 KB: takes budget, and there is 2 MB left
	if got := code(envelopeOf(t, doWithin(t, tc3Request(t, srv, "Echo", body, nil), 5*time.Second))); got != actions.InvalidParameterValue {
		t.Fatalf("a 200 KB request while 30 MB are taken: %q, want InvalidParameterValue (read, then over 64 KB)", got)
	}
	// The stalled requests end (their clients give up): the budget is back.
	for _, req := range stalled {
		req.Body.(*io.PipeReader).CloseWithError(errors.New("client gave up"))
	}
	for range stalled {
		<-done
	}
	kgtest.Eventually(t, 10*time.Second, "the budget given back", func() bool {
		return code(envelopeOf(t, doWithin(t, tc3Request(t, srv, "Echo", large, nil), 10*time.Second))) == actions.InvalidParameterValue
	})
}

// TestHuaweiBodyReadAfterIdentity: the Huawei door also checks the declared
// size and the credentials that need no body (token, AK, X-Sdk-Date)
// before reading the body.
func TestHuaweiBodyReadAfterIdentity(t *testing.T) {
	st := hwStack(t, ratelimit.DefaultConfig(), "")
	now := time.Now()
	for _, tt := range []struct {
		name   string
		length int64
		auth   func(r *http.Request)
		status int
		code   string
	}{
		{"wrong token", 1 << 20, func(r *http.Request) { r.Header.Set("X-Auth-Token", "not-the-token") }, 401, "APIGW.0301"},
		{"unknown AK", 1 << 20, func(r *http.Request) { testSign(t, r, "HWAKUNKNOWN", hwSK, nil, now) }, 401, "APIGW.0301"},
		{"expired X-Sdk-Date", 1 << 20, func(r *http.Request) { testSign(t, r, hwAK, hwSK, nil, now.Add(-time.Hour)) }, 401, "APIGW.0301"},
		{"declared size over 1 MB", 1<<20 + 1, func(r *http.Request) { r.Header.Set("X-Auth-Token", hwToken) }, 413, "APIGW.0201"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := hwReq(t, st, "POST", hwPath(hwProject, hwInst, ""), nil)
			tt.auth(r)
			stalledBody(t, r, tt.length)
			resp := doWithin(t, r, 10*time.Second)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a := hwAnswer{resp.StatusCode, resp.Header, b}
			if a.status != tt.status || a.code(t) != tt.code {
				t.Fatalf("%d %s, want %d %s", a.status, b, tt.status, tt.code)
			}
		})
	}
}
