package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"killgate/actions"
	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
	"killgate/ratelimit"
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
				r.Header.Set("Authorization", gateway.SignTC3(testID, testKey, "dbbrain", host, ct, mustAtoi(r.Header.Get("X-TC-Timestamp")), "POST", "", []byte(body)))
			}))
			if code(env) != actions.UnsupportedProtocol {
				t.Fatalf("Content-Type %q: code %q, want UnsupportedProtocol", ct, code(env))
			}
		})
	}
	// What the SDKs and curl send still works.
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
		env := do(t, tc3Request(t, srv, "Echo", `{"Name":"a"}`, func(r *http.Request) {
			r.Header.Set("Content-Type", ct)
			r.Header.Set("Authorization", gateway.SignTC3(testID, testKey, "dbbrain", host, ct, mustAtoi(r.Header.Get("X-TC-Timestamp")), "POST", "", []byte(`{"Name":"a"}`)))
		}))
		if code(env) != "" {
			t.Fatalf("Content-Type %q: %s", ct, code(env))
		}
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
