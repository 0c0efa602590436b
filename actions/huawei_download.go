package actions

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"

	"killgate/killtask"
)

// DownloadIntelligentKillSessionHistoryRequest is GET
// …/intelligent-kill-session/history/{task_id}/download[?format=json|csv]
// (the history's download_link; a killgate addition to the Huawei API).
type DownloadIntelligentKillSessionHistoryRequest struct {
	ProjectID  string `json:"project_id"`  // path; checked by the door
	InstanceID string `json:"instance_id"` // path
	TaskID     string `json:"task_id"`     // path
	Format     string `json:"format"`      // json (default) | csv
}

// Validate checks the format.
func (r *DownloadIntelligentKillSessionHistoryRequest) Validate() error {
	switch r.Format {
	case "", "json", "csv":
		return nil
	}
	return E(InvalidParameterValue, "The parameter `format` must be json or csv; got %q.", r.Format)
}

// IntelligentKillDownload is a task with its per-session results (the JSON
// download).
type IntelligentKillDownload struct {
	TaskID     string                            `json:"task_id"`
	InstanceID string                            `json:"instance_id"`
	NodeID     string                            `json:"node_id"`
	StartTime  int64                             `json:"start_time"`
	EndTime    *int64                            `json:"end_time,omitempty"`
	Groups     []IntelligentKillSessionStatistic `json:"groups"`
	Killed     int                               `json:"killed"`
	Gone       int                               `json:"gone"`
	Changed    int                               `json:"changed"`
	Skipped    int                               `json:"skipped"`
	Failed     int                               `json:"failed"`
	Sessions   []IntelligentKillSession          `json:"sessions"`
}

// IntelligentKillSession is one per-session result of a task.
type IntelligentKillSession struct {
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

// csvHeader is the CSV download's first line.
var csvHeader = []string{"task_id", "thread_id", "user", "host", "db", "command", "time", "state", "keyword", "strategy", "outcome", "error", "killed_at", "sql_text"}

// DownloadIntelligentKillSessionHistory returns a task's per-session results
// as a JSON or CSV file (IntelligentKillTask).
func (s *Service) DownloadIntelligentKillSessionHistory(ctx context.Context, r *DownloadIntelligentKillSessionHistoryRequest) (*File, error) {
	res, err := s.IntelligentKillTask(ctx, &IntelligentTaskRequest{InstanceID: r.InstanceID, TaskID: r.TaskID})
	if err != nil {
		return nil, err
	}
	d := intelligentDownload(res)
	if r.Format == "csv" {
		return d.csv()
	}
	return d.json()
}

// intelligentDownload shapes a task and its kill-history rows; each session
// carries the keyword and strategy of the group it was picked in.
func intelligentDownload(res *IntelligentTaskResponse) IntelligentKillDownload {
	t := res.Task
	d := IntelligentKillDownload{TaskID: t.ID, InstanceID: t.InstanceID, NodeID: t.NodeID, StartTime: t.CreatedAt.Unix(), EndTime: endTime(t),
		Killed: t.Summary.Killed, Gone: t.Summary.Gone, Changed: t.Summary.Changed, Skipped: t.Summary.Skipped, Failed: t.Summary.Failed,
		Groups: huaweiStatistics(t.Summary.Groups), Sessions: []IntelligentKillSession{}}
	groupOf := map[uint64]killtask.IntelligentGroupStats{}
	for _, g := range t.Summary.Groups {
		for _, id := range g.IDs {
			groupOf[id] = g
		}
	}
	for _, rec := range res.Records {
		g := groupOf[rec.ThreadID]
		d.Sessions = append(d.Sessions, IntelligentKillSession{
			ThreadID: rec.ThreadID, User: rec.User, Host: rec.Host, DB: rec.DB, Command: rec.Command, Time: rec.Time, State: rec.State,
			SQLText: rec.Info, Keyword: g.Keyword, Strategy: string(g.Strategy), Outcome: string(rec.Outcome), Error: rec.Error,
			KilledAtMS: rec.KilledAt.UnixMilli(),
		})
	}
	return d
}

// json renders the download as one JSON object.
func (d IntelligentKillDownload) json() (*File, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // SQL text stays readable: < > & as they are
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return &File{Name: "intelligent-kill-" + d.TaskID + ".json", ContentType: "application/json", Data: bytes.TrimRight(b.Bytes(), "\n")}, nil
}

// csv renders the sessions as CSV, one line each after csvHeader.
func (d IntelligentKillDownload) csv() (*File, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(csvHeader)
	for _, ss := range d.Sessions {
		_ = w.Write([]string{d.TaskID, strconv.FormatUint(ss.ThreadID, 10), csvCell(ss.User), csvCell(ss.Host), csvCell(ss.DB),
			csvCell(ss.Command), strconv.FormatInt(ss.Time, 10), csvCell(ss.State), csvCell(ss.Keyword), ss.Strategy, ss.Outcome,
			csvCell(ss.Error), strconv.FormatInt(ss.KilledAtMS, 10), csvCell(ss.SQLText)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, err
	}
	return &File{Name: "intelligent-kill-" + d.TaskID + ".csv", ContentType: "text/csv; charset=utf-8", Data: buf.Bytes()}, nil
}

// csvCell defuses spreadsheet formulas: text that a spreadsheet would
// evaluate (starting with = + - @ tab or CR) gets a leading apostrophe.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
