package gateway

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"killgate/actions"
	"killgate/killtask"
)

// The Huawei GaussDB(for MySQL)/TaurusDB v3 door: the intelligent
// kill-session family (docs/huawei.md). Pipeline per request: recover →
// access log → route → read body (1 MB) → authenticate (token or
// SDK-HMAC-SHA256) → project id (shape, then the configured one, and
// X-Project-Id) → rate limit per (caller, route) → parameters → action →
// JSON answer. Errors are {"error_code","error_msg"} with Huawei's HTTP
// status codes; every answer carries X-Request-Id.

const (
	hwMaxBody    = 1 << 20
	hwBase       = "/v3/:project_id/instances/:instance_id/intelligent-kill-session"
	hwTimeout    = 10 * time.Second
	hwKillTimout = 60 * time.Second
)

// Huawei action names (access log, rate-limit keys).
const (
	hwActExecute   = "ExecuteIntelligentKillSession"
	hwActStatistic = "ShowIntelligentKillSessionStatistic"
	hwActHistory   = "ListIntelligentKillSessionHistory"
	hwActDownload  = "DownloadIntelligentKillSessionHistory"
)

// mountHuawei adds the Huawei routes.
func (s *Server) mountHuawei(e *gin.Engine) {
	e.POST(hwBase, s.huawei(hwActExecute, s.hwExecute))
	e.GET(hwBase+"/statistic", s.huawei(hwActStatistic, s.hwStatistic))
	e.GET(hwBase+"/history", s.huawei(hwActHistory, s.hwHistory))
	e.GET(hwBase+"/history/:task_id/download", s.huawei(hwActDownload, s.hwDownload))
}

// hwCall is what a route handler gets after the common stages.
type hwCall struct {
	c        *gin.Context
	ctx      context.Context
	body     []byte
	project  string
	instance string
}

type hwHandler func(*hwCall) (status int, contentType string, body []byte, err error)

// huawei wraps a route handler in the door's pipeline.
func (s *Server) huawei(action string, h hwHandler) gin.HandlerFunc {
	return func(c *gin.Context) {
		ri := info(c)
		ri.Door, ri.Action = "huawei", action
		c.Header("X-Request-Id", ri.RequestID)
		status, ctype, body, err := s.serveHuawei(c, ri, h)
		if err != nil {
			s.writeHuaweiErr(c, ri, err)
			return
		}
		c.Data(status, ctype, body)
	}
}

func (s *Server) serveHuawei(c *gin.Context, ri *reqInfo, h hwHandler) (int, string, []byte, error) {
	r := c.Request
	// What needs no body is checked first (declared size, token, or AK
	// and X-Sdk-Date); the body is read within the process-wide budget
	// (body.go), then the signature over it is verified.
	tooLarge := &hwError{status: http.StatusRequestEntityTooLarge, code: hwCodeTooLarge, msg: fmt.Sprintf("Request entity too large: the body exceeds %d bytes.", hwMaxBody)}
	if r.ContentLength > hwMaxBody {
		return 0, "", nil, tooLarge
	}
	id, herr := s.huaweiIdentify(r)
	if herr != nil {
		return 0, "", nil, herr
	}
	body, release, err := s.bodies.readBody(r.Context(), r.Body, r.ContentLength, hwMaxBody)
	defer release()
	switch {
	case errors.Is(err, errBodyTooLarge):
		return 0, "", nil, tooLarge
	case errors.Is(err, errBodyBudget):
		return 0, "", nil, &hwError{status: http.StatusTooManyRequests, code: hwCodeThrottled, msg: "The throttling threshold has been reached: too many large request bodies at once; retry later.", cause: err}
	case err != nil:
		return 0, "", nil, &hwError{status: http.StatusBadRequest, code: hwCodeParam, msg: "Parameter error: the request body could not be read.", cause: err}
	}
	if herr := huaweiVerify(r, id, body); herr != nil {
		return 0, "", nil, herr
	}
	ri.Caller = id.caller
	project := c.Param("project_id")
	if !reProjectID.MatchString(project) {
		return 0, "", nil, &hwError{status: http.StatusBadRequest, code: hwCodeParam, msg: "Parameter error: project_id must be 32 letters or digits."}
	}
	if project != s.cfg.Huawei.ProjectID {
		return 0, "", nil, &hwError{status: http.StatusForbidden, code: hwCodeForbidden, msg: fmt.Sprintf("The operation is not authorized: project %s is not served here.", project)}
	}
	if p := r.Header.Get(hwHeaderProject); p != "" && p != project {
		return 0, "", nil, &hwError{status: http.StatusForbidden, code: hwCodeForbidden, msg: "The operation is not authorized: X-Project-Id does not match the project in the path."}
	}
	if s.cfg.Limiter != nil && !s.cfg.Limiter.Allow(r.Context(), "hw\x00"+id.caller+"\x00"+ri.Action) {
		return 0, "", nil, &hwError{status: http.StatusTooManyRequests, code: hwCodeThrottled, msg: "The throttling threshold has been reached: too many requests for this API; retry later."}
	}
	ctx := context.WithValue(r.Context(), requestIDKey{}, ri.RequestID)
	ctx = actions.WithCaller(ctx, actions.Caller{ID: id.caller})
	return h(&hwCall{c: c, ctx: ctx, body: body, project: project, instance: c.Param("instance_id")})
}

// writeHuaweiErr renders err in Huawei's style and records it for the log.
func (s *Server) writeHuaweiErr(c *gin.Context, ri *reqInfo, err error) {
	var he *hwError
	if !errors.As(err, &he) {
		he = huaweiErrorOf(err)
	}
	if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
		ri.Code = "ClientClosed"
	} else {
		ri.Code = he.code
	}
	ri.Err = err
	writeHuaweiError(c, he.status, he.code, he.msg)
}

// huaweiErrorOf maps an action error to the door's status and code.
func huaweiErrorOf(err error) *hwError {
	var ae *actions.Error
	if !errors.As(err, &ae) {
		return &hwError{status: http.StatusInternalServerError, code: hwCodeServerFailure, msg: "Server failure.", cause: err}
	}
	switch {
	case errors.Is(err, killtask.ErrUnknownInstance):
		return &hwError{status: http.StatusNotFound, code: hwCodeNoInstance, msg: ae.Message, cause: err}
	case errors.Is(err, killtask.ErrUnknownNode):
		return &hwError{status: http.StatusNotFound, code: hwCodeNoNode, msg: ae.Message, cause: err}
	}
	switch ae.Code {
	case actions.InvalidParameter, actions.InvalidParameterValue, actions.MissingParameter, actions.UnknownParameter:
		return &hwError{status: http.StatusBadRequest, code: hwCodeParam, msg: "Parameter error: " + ae.Message, cause: err}
	case actions.ResourceNotFound:
		return &hwError{status: http.StatusNotFound, code: hwCodeParam, msg: ae.Message, cause: err}
	case actions.UnauthorizedOperation:
		return &hwError{status: http.StatusForbidden, code: hwCodeForbidden, msg: ae.Message, cause: err}
	}
	return &hwError{status: http.StatusInternalServerError, code: hwCodeServerFailure, msg: "Server failure: " + ae.Message, cause: err}
}

func paramErr(format string, args ...any) *hwError {
	return &hwError{status: http.StatusBadRequest, code: hwCodeParam, msg: "Parameter error: " + fmt.Sprintf(format, args...)}
}

func hwJSON(v any) (int, string, []byte, error) {
	b, err := jsonMarshal(v)
	if err != nil {
		return 0, "", nil, err
	}
	return http.StatusOK, "application/json", b, nil
}

// --- POST …/intelligent-kill-session -------------------------------------

// hwExecuteBody is IntelligentKillSessionsReq.
type hwExecuteBody struct {
	NodeID string `json:"node_id"`
}

func (s *Server) hwExecute(hc *hwCall) (int, string, []byte, error) {
	if len(bytes.TrimSpace(hc.body)) == 0 {
		return 0, "", nil, &hwError{status: http.StatusBadRequest, code: hwCodeEmpty, msg: "The request is null. Enter a request parameter: {\"node_id\": \"…\"}."}
	}
	// As strict as the Tencent door: exact-case keys, no duplicate and no
	// unknown key, UTF-8 only (errors map to Huawei's parameter error).
	m, err := actions.ParseJSON(hc.body)
	if err != nil {
		return 0, "", nil, err
	}
	var b hwExecuteBody
	if err := actions.Decode(m, &b); err != nil {
		return 0, "", nil, err
	}
	if b.NodeID == "" {
		return 0, "", nil, paramErr("node_id is required.")
	}
	ctx, cancel := context.WithTimeout(hc.ctx, hwKillTimout)
	defer cancel()
	res, err := s.cfg.Service.ExecuteIntelligentKill(ctx, &actions.IntelligentNodeRequest{InstanceID: hc.instance, NodeID: b.NodeID})
	if err != nil {
		return 0, "", nil, err
	}
	return hwJSON(struct {
		TaskID string `json:"task_id"`
	}{res.TaskID})
}

// --- GET …/statistic ------------------------------------------------------

// hwStatistic is IntelligentKillSessionStatistic.
type hwStatisticItem struct {
	Keyword        string  `json:"keyword"`
	ExampleSQLText string  `json:"example_sql_text"`
	IDs            []int64 `json:"ids"`
	Count          int32   `json:"count"`
	TotalTime      float64 `json:"total_time"`
	AvgTime        float64 `json:"avg_time"`
	MaxTime        float64 `json:"max_time"`
	Strategy       string  `json:"strategy"`
}

// hwQuery returns the single value of a query parameter.
func hwQuery(q url.Values, name string) (string, bool, *hwError) {
	vs, ok := q[name]
	if !ok {
		return "", false, nil
	}
	if len(vs) != 1 {
		return "", true, paramErr("%s is given more than once.", name)
	}
	return vs[0], true, nil
}

// hwNodeParam parses the query and returns it with its required node_id.
func hwNodeParam(hc *hwCall) (url.Values, string, *hwError) {
	q, perr := url.ParseQuery(hc.c.Request.URL.RawQuery)
	if perr != nil {
		return nil, "", paramErr("the query string is malformed.")
	}
	node, _, err := hwQuery(q, "node_id")
	if err != nil {
		return nil, "", err
	}
	if node == "" {
		return nil, "", paramErr("node_id is required.")
	}
	return q, node, nil
}

func (s *Server) hwStatistic(hc *hwCall) (int, string, []byte, error) {
	_, node, herr := hwNodeParam(hc)
	if herr != nil {
		return 0, "", nil, herr
	}
	ctx, cancel := context.WithTimeout(hc.ctx, hwTimeout)
	defer cancel()
	res, err := s.cfg.Service.IntelligentKillStatistic(ctx, &actions.IntelligentNodeRequest{InstanceID: hc.instance, NodeID: node})
	if err != nil {
		return 0, "", nil, err
	}
	items := make([]hwStatisticItem, 0, len(res.Groups))
	for _, g := range res.Groups {
		items = append(items, statItem(killtask.StatsOf([]killtask.SessionGroup{g})[0]))
	}
	return hwJSON(struct {
		Statistics []hwStatisticItem `json:"statistics"`
	}{items})
}

func statItem(g killtask.IntelligentGroupStats) hwStatisticItem {
	ids := make([]int64, len(g.IDs))
	for i, id := range g.IDs {
		ids[i] = int64(id)
	}
	return hwStatisticItem{
		Keyword: g.Keyword, ExampleSQLText: g.Example, IDs: ids, Count: int32(min(g.Count, math.MaxInt32)),
		TotalTime: float64(g.TotalTime), AvgTime: math.Round(g.AvgTime*1000) / 1000, MaxTime: float64(g.MaxTime),
		Strategy: string(g.Strategy),
	}
}

// --- GET …/history --------------------------------------------------------

// hwHistoryItem is IntelligentKillSessionHistory (times in Unix seconds,
// as the SDK model documents).
type hwHistoryItem struct {
	TaskID       string `json:"task_id"`
	StartTime    int64  `json:"start_time"`
	EndTime      *int64 `json:"end_time,omitempty"` // absent while the task has not finished
	DownloadLink string `json:"download_link"`
}

func intParam(q url.Values, name string, required bool, def int64) (int64, *hwError) {
	v, ok, herr := hwQuery(q, name)
	if herr != nil {
		return 0, herr
	}
	if !ok || v == "" {
		if required {
			return 0, paramErr("%s is required.", name)
		}
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, paramErr("%s must be an integer; got %q.", name, v)
	}
	return n, nil
}

func (s *Server) hwHistory(hc *hwCall) (int, string, []byte, error) {
	q, node, herr := hwNodeParam(hc)
	if herr != nil {
		return 0, "", nil, herr
	}
	req := actions.IntelligentHistoryRequest{InstanceID: hc.instance, NodeID: node}
	var n [4]int64
	for i, p := range []struct {
		name     string
		required bool
		def      int64
	}{{"start_time", true, 0}, {"end_time", true, 0}, {"limit", false, 100}, {"offset", false, 0}} {
		if n[i], herr = intParam(q, p.name, p.required, p.def); herr != nil {
			return 0, "", nil, herr
		}
	}
	if n[2] < 1 || n[2] > 100 {
		return 0, "", nil, paramErr("limit must be between 1 and 100; got %d.", n[2])
	}
	if n[3] < 0 || n[3] > math.MaxInt32 {
		return 0, "", nil, paramErr("offset must be a non-negative integer; got %d.", n[3])
	}
	req.StartMS, req.EndMS, req.Limit, req.Offset = n[0], n[1], int(n[2]), int(n[3])
	ctx, cancel := context.WithTimeout(hc.ctx, hwTimeout)
	defer cancel()
	res, err := s.cfg.Service.IntelligentKillHistory(ctx, &req)
	if err != nil {
		return 0, "", nil, err
	}
	items := make([]hwHistoryItem, 0, len(res.Tasks))
	for _, t := range res.Tasks {
		it := hwHistoryItem{TaskID: t.ID, StartTime: t.CreatedAt.Unix(), DownloadLink: downloadLink(hc, t.ID)}
		if !t.EndedAt.IsZero() {
			end := t.EndedAt.Unix()
			it.EndTime = &end
		}
		items = append(items, it)
	}
	return hwJSON(struct {
		Histories  []hwHistoryItem `json:"intelligent_kill_session_histories"`
		TotalCount int32           `json:"total_count"`
	}{items, int32(min(res.Total, math.MaxInt32))})
}

// downloadLink is the absolute URL of a task's per-session results, on the
// host and scheme the request came in on.
func downloadLink(hc *hwCall, taskID string) string {
	r := hc.c.Request
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/v3/" + url.PathEscape(hc.project) + "/instances/" + url.PathEscape(hc.instance) +
		"/intelligent-kill-session/history/" + url.PathEscape(taskID) + "/download"
}

// --- GET …/history/{task_id}/download -------------------------------------

// hwDownloadSession is one per-session result of a task.
type hwDownloadSession struct {
	ThreadID   uint64 `json:"thread_id"`
	User       string `json:"user"`
	Host       string `json:"host"`
	DB         string `json:"db"`
	Command    string `json:"command"`
	Time       int64  `json:"time"`
	State      string `json:"state"`
	SQLText    string `json:"sql_text"`
	Keyword    string `json:"keyword"`
	Strategy   string `json:"strategy"`
	Outcome    string `json:"outcome"`
	Error      string `json:"error"`
	KilledAtMS int64  `json:"killed_at"`
}

type hwDownload struct {
	TaskID     string              `json:"task_id"`
	InstanceID string              `json:"instance_id"`
	NodeID     string              `json:"node_id"`
	StartTime  int64               `json:"start_time"`
	EndTime    *int64              `json:"end_time,omitempty"`
	Groups     []hwStatisticItem   `json:"groups"`
	Killed     int                 `json:"killed"`
	Gone       int                 `json:"gone"`
	Changed    int                 `json:"changed"`
	Skipped    int                 `json:"skipped"`
	Failed     int                 `json:"failed"`
	Sessions   []hwDownloadSession `json:"sessions"`
}

var csvHeader = []string{"task_id", "thread_id", "user", "host", "db", "command", "time", "state", "keyword", "strategy", "outcome", "error", "killed_at", "sql_text"}

func (s *Server) hwDownload(hc *hwCall) (int, string, []byte, error) {
	q, err := url.ParseQuery(hc.c.Request.URL.RawQuery)
	if err != nil {
		return 0, "", nil, paramErr("the query string is malformed.")
	}
	format, _, herr := hwQuery(q, "format")
	if herr != nil {
		return 0, "", nil, herr
	}
	if format != "" && format != "json" && format != "csv" {
		return 0, "", nil, paramErr("format must be json or csv; got %q.", format)
	}
	ctx, cancel := context.WithTimeout(hc.ctx, hwTimeout)
	defer cancel()
	res, err := s.cfg.Service.IntelligentKillTask(ctx, &actions.IntelligentTaskRequest{InstanceID: hc.instance, TaskID: hc.c.Param("task_id")})
	if err != nil {
		return 0, "", nil, err
	}
	t := res.Task
	d := hwDownload{TaskID: t.ID, InstanceID: t.InstanceID, NodeID: t.NodeID, StartTime: t.CreatedAt.Unix(),
		Killed: t.Summary.Killed, Gone: t.Summary.Gone, Changed: t.Summary.Changed, Skipped: t.Summary.Skipped, Failed: t.Summary.Failed,
		Groups: []hwStatisticItem{}, Sessions: []hwDownloadSession{}}
	if !t.EndedAt.IsZero() {
		end := t.EndedAt.Unix()
		d.EndTime = &end
	}
	groupOf := map[uint64]killtask.IntelligentGroupStats{}
	for _, g := range t.Summary.Groups {
		d.Groups = append(d.Groups, statItem(g))
		for _, id := range g.IDs {
			groupOf[id] = g
		}
	}
	for _, r := range res.Records {
		g := groupOf[r.ThreadID]
		d.Sessions = append(d.Sessions, hwDownloadSession{
			ThreadID: r.ThreadID, User: r.User, Host: r.Host, DB: r.DB, Command: r.Command, Time: r.Time, State: r.State,
			SQLText: r.Info, Keyword: g.Keyword, Strategy: string(g.Strategy), Outcome: string(r.Outcome), Error: r.Error,
			KilledAtMS: r.KilledAt.UnixMilli(),
		})
	}
	if format != "csv" {
		hc.c.Header("Content-Disposition", `attachment; filename="intelligent-kill-`+t.ID+`.json"`)
		return hwJSON(d)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(csvHeader)
	for _, ss := range d.Sessions {
		_ = w.Write([]string{t.ID, strconv.FormatUint(ss.ThreadID, 10), csvCell(ss.User), csvCell(ss.Host), csvCell(ss.DB),
			csvCell(ss.Command), strconv.FormatInt(ss.Time, 10), csvCell(ss.State), csvCell(ss.Keyword), ss.Strategy, ss.Outcome,
			csvCell(ss.Error), strconv.FormatInt(ss.KilledAtMS, 10), csvCell(ss.SQLText)})
	}
	w.Flush()
	hc.c.Header("Content-Disposition", `attachment; filename="intelligent-kill-`+t.ID+`.csv"`)
	return http.StatusOK, "text/csv; charset=utf-8", buf.Bytes(), w.Error()
}

// csvCell defuses spreadsheet formulas: text that a spreadsheet would
// evaluate (starting with = + - @ tab or CR) gets a leading apostrophe.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// huaweiNotFound answers unknown paths under /v3/.
func (s *Server) huaweiNotFound(c *gin.Context) {
	ri := info(c)
	ri.Door, ri.Code = "huawei", hwCodeNotFoundAPI
	c.Header("X-Request-Id", ri.RequestID)
	writeHuaweiError(c, http.StatusNotFound, hwCodeNotFoundAPI, "The API does not exist or has not been published in the environment.")
}
