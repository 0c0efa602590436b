package gateway_test

import (
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"killgate/gateway/kgtest"
	"killgate/killtask"
	"killgate/ratelimit"
)

// victimTime returns the processlist TIME of a thread (-1 when gone).
func victimTime(t *testing.T, root *sql.DB, id uint64) int64 {
	t.Helper()
	var tm int64
	err := root.QueryRow("SELECT TIME FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&tm)
	if err == sql.ErrNoRows {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

type hwStat struct {
	Keyword        string   `json:"keyword"`
	ExampleSQLText string   `json:"example_sql_text"`
	IDs            []int64  `json:"ids"`
	Count          int32    `json:"count"`
	TotalTime      *float64 `json:"total_time"`
	AvgTime        *float64 `json:"avg_time"`
	MaxTime        *float64 `json:"max_time"`
	Strategy       string   `json:"strategy"`
}

// TestHuaweiIntelligentKill runs victims in four SQL templates on the real
// MariaDB, all parked on a user lock held by the test:
//
//	B: 1 session, started first and left to run ≥ 2 s  → longest (top3_time)
//	A: 3 sessions, then ≥ 1 s wait                      → best average of the rest (top3_avg_time)
//	C: 5 sessions                                       → most sessions (top3_count)
//	D: 2 sessions, started last                         → not chosen
//
// The statistic must name exactly A, B and C; execute must kill exactly
// their sessions and leave D alive; history and the download must show the
// task and its per-session rows.
func TestHuaweiIntelligentKill(t *testing.T) {
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	st := hwStack(t, ratelimit.DefaultConfig(), user) // every other user is protected; the engine only sees user
	lock := kgtest.Lock(t, root)
	q := func(alias string, timeout int) string {
		return fmt.Sprintf("SELECT GET_LOCK('%s', %d) AS %s", lock, timeout, alias)
	}
	start := func(n int, alias string) []*kgtest.Victim {
		var vs []*kgtest.Victim
		for i := range n {
			stmt := q(alias, 60+i) // different literals, one template
			if i%2 == 1 {
				stmt = strings.ToLower(strings.Replace(stmt, " AS ", "  as\n ", 1))
			}
			vs = append(vs, kgtest.NewVictim(t, user, pw, user, stmt))
		}
		for _, v := range vs {
			kgtest.Eventually(t, 10*time.Second, "victim running", func() bool { return victimTime(t, root, v.ID) >= 0 && isLocked(t, root, v.ID) })
		}
		return vs
	}
	testStart := time.Now()
	B := start(1, "tmpl_b")
	kgtest.Eventually(t, 10*time.Second, "B runs ≥ 2 s", func() bool { return victimTime(t, root, B[0].ID) >= 2 })
	A := start(3, "tmpl_a")
	kgtest.Eventually(t, 10*time.Second, "A runs ≥ 1 s", func() bool {
		for _, v := range A {
			if victimTime(t, root, v.ID) < 1 {
				return false
			}
		}
		return true
	})
	C := start(5, "tmpl_c")
	D := start(2, "tmpl_d")
	t.Cleanup(func() { // survivors: end them before their connections close (LIFO)
		for _, v := range D {
			_, _ = root.Exec(fmt.Sprintf("KILL CONNECTION %d", v.ID))
		}
	})

	ids := func(vs []*kgtest.Victim) []int64 {
		var out []int64
		for _, v := range vs {
			out = append(out, int64(v.ID))
		}
		slices.Sort(out)
		return out
	}
	token := func(r *http.Request) *http.Request { r.Header.Set("X-Auth-Token", hwToken); return r }

	// 1. Statistic: exactly B, C, A with their strategies.
	a := hwDo(t, token(hwReq(t, st, "GET", hwPath(hwProject, hwInst, "/statistic?node_id="+hwInst), nil)))
	if a.status != 200 {
		t.Fatalf("statistic: %d %s", a.status, a.body)
	}
	var stat struct {
		Statistics []hwStat `json:"statistics"`
	}
	if err := json.Unmarshal(a.body, &stat); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		vs       []*kgtest.Victim
		alias    string
		strategy string
	}{{B, "tmpl_b", "top3_time"}, {C, "tmpl_c", "top3_count"}, {A, "tmpl_a", "top3_avg_time"}}
	if len(stat.Statistics) != 3 {
		t.Fatalf("statistics: %s", a.body)
	}
	for i, w := range want {
		g := stat.Statistics[i]
		wantKeyword := "select get_lock(?) as " + w.alias
		if g.Keyword != wantKeyword || g.Strategy != w.strategy || !slices.Equal(g.IDs, ids(w.vs)) || int(g.Count) != len(w.vs) ||
			g.MaxTime == nil || g.AvgTime == nil || g.TotalTime == nil || !strings.Contains(strings.ToLower(g.ExampleSQLText), "get_lock") {
			t.Fatalf("statistic %d = %+v, want %s %s %v (body %s)", i, g, wantKeyword, w.strategy, ids(w.vs), a.body)
		}
	}
	if !(*stat.Statistics[0].MaxTime >= 2 && *stat.Statistics[2].AvgTime >= 1) {
		t.Fatalf("times: %s", a.body)
	}

	// 2. Execute: exactly those sessions die, D survives.
	a = hwDo(t, token(hwReq(t, st, "POST", hwPath(hwProject, hwInst, ""), []byte(`{"node_id":"`+hwInst+`"}`))))
	if a.status != 200 {
		t.Fatalf("execute: %d %s", a.status, a.body)
	}
	var exec struct {
		TaskID string `json:"task_id"`
	}
	if err := json.Unmarshal(a.body, &exec); err != nil || exec.TaskID == "" {
		t.Fatalf("execute body %s: %v", a.body, err)
	}
	killed := slices.Concat(A, B, C)
	kgtest.Eventually(t, 10*time.Second, "chosen groups gone", func() bool {
		for _, v := range killed {
			if v.Exists(t, root) {
				return false
			}
		}
		return true
	})
	for _, v := range D {
		if !v.Exists(t, root) {
			t.Fatalf("victim %d of the unchosen group was killed", v.ID)
		}
	}

	// 3. History lists the task; its download has one row per session.
	from, to := testStart.Add(-time.Second).UnixMilli(), time.Now().Add(time.Second).UnixMilli()
	a = hwDo(t, token(hwReq(t, st, "GET", hwPath(hwProject, hwInst, fmt.Sprintf("/history?node_id=%s&start_time=%d&end_time=%d&limit=10&offset=0", hwInst, from, to)), nil)))
	if a.status != 200 {
		t.Fatalf("history: %d %s", a.status, a.body)
	}
	var hist struct {
		Tasks []struct {
			TaskID       string `json:"task_id"`
			StartTime    int64  `json:"start_time"`
			EndTime      int64  `json:"end_time"`
			DownloadLink string `json:"download_link"`
		} `json:"intelligent_kill_session_histories"`
		Total int32 `json:"total_count"`
	}
	if err := json.Unmarshal(a.body, &hist); err != nil {
		t.Fatal(err)
	}
	if hist.Total != 1 || len(hist.Tasks) != 1 || hist.Tasks[0].TaskID != exec.TaskID ||
		hist.Tasks[0].StartTime < testStart.Unix()-1 || hist.Tasks[0].EndTime < hist.Tasks[0].StartTime {
		t.Fatalf("history %s", a.body)
	}
	// Outside the range: nothing.
	a = hwDo(t, token(hwReq(t, st, "GET", hwPath(hwProject, hwInst, fmt.Sprintf("/history?node_id=%s&start_time=%d&end_time=%d", hwInst, from-10000, from-5000)), nil)))
	if a.status != 200 || !strings.Contains(string(a.body), `"total_count":0`) {
		t.Fatalf("empty history: %d %s", a.status, a.body)
	}
	link := hist.Tasks[0].DownloadLink
	if !strings.HasPrefix(link, "http://"+st.Addr+"/v3/"+hwProject+"/instances/"+hwInst+"/intelligent-kill-session/history/"+exec.TaskID+"/download") {
		t.Fatalf("link %s", link)
	}
	r, _ := http.NewRequest("GET", link, nil)
	if a = hwDo(t, r); a.status != 401 {
		t.Fatalf("download without auth: %d", a.status)
	}
	r, _ = http.NewRequest("GET", link, nil)
	a = hwDo(t, token(r))
	if a.status != 200 {
		t.Fatalf("download: %d %s", a.status, a.body)
	}
	var dl struct {
		TaskID   string `json:"task_id"`
		Killed   int    `json:"killed"`
		Groups   []hwStat
		Sessions []struct {
			ThreadID uint64 `json:"thread_id"`
			User     string `json:"user"`
			SQLText  string `json:"sql_text"`
			Keyword  string `json:"keyword"`
			Strategy string `json:"strategy"`
			Outcome  string `json:"outcome"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal(a.body, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.TaskID != exec.TaskID || dl.Killed != len(killed) || len(dl.Sessions) != len(killed) || len(dl.Groups) != 3 {
		t.Fatalf("download %s", a.body)
	}
	var got []int64
	for _, s := range dl.Sessions {
		if s.User != user || s.Outcome != string(killtask.OutcomeKilled) || s.Keyword == "" || s.Strategy == "" || s.SQLText == "" {
			t.Fatalf("session row %+v", s)
		}
		got = append(got, int64(s.ThreadID))
	}
	slices.Sort(got)
	if !slices.Equal(got, ids(killed)) {
		t.Fatalf("download rows %v, want %v", got, ids(killed))
	}
	// CSV form: header + one line per session.
	r, _ = http.NewRequest("GET", link+"?format=csv", nil)
	a = hwDo(t, token(r))
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", a.status, a.header.Get("Content-Type"))
	}
	lines, err := csv.NewReader(strings.NewReader(string(a.body))).ReadAll()
	if err != nil || len(lines) != len(killed)+1 || lines[0][0] != "task_id" || lines[1][0] != exec.TaskID {
		t.Fatalf("csv %v: %q", err, a.body)
	}
	// The kill history holds only the test user's sessions for this task.
	recs, err := st.Store.IntelligentRecords(t.Context(), exec.TaskID)
	if err != nil || len(recs) != len(killed) {
		t.Fatalf("records %v %d", err, len(recs))
	}
	for _, rec := range recs {
		if rec.User != user || rec.Source != killtask.SourceIntelligent || rec.TaskID != exec.TaskID {
			t.Fatalf("record %+v", rec)
		}
	}
}

// isLocked reports whether the thread is waiting on the user lock.
func isLocked(t *testing.T, root *sql.DB, id uint64) bool {
	t.Helper()
	var state sql.NullString
	if err := root.QueryRow("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&state); err != nil {
		return false
	}
	return strings.Contains(strings.ToLower(state.String), "lock")
}
