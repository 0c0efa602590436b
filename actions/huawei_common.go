package actions

import (
	"context"
	"math"

	"killgate/killtask"
)

// The Huawei GaussDB(for MySQL) v3 intelligent kill-session family
// (docs/huawei.md), registered by HuaweiActions. Each action is a plain
// func(ctx, *Req) (*Resp, error) like the Tencent ones; its request fields
// are bound by the gateway from the route's path parameters and, for a GET,
// the query or, for a POST, the JSON body, and decoded strictly (Decode). Its
// response is a struct with the Huawei SDK model's JSON field names, or a
// *File. Errors carry the API codes of this package; the gateway's Huawei
// renderer turns them into Huawei's {"error_code","error_msg"} and HTTP
// status, telling apart ErrUnknownInstance and ErrUnknownNode causes.

// HuaweiKillSessionPath is the route of the family, with {name} marking a
// path parameter; the other routes extend it.
const HuaweiKillSessionPath = "/v3/{project_id}/instances/{instance_id}/intelligent-kill-session"

// huaweiDownloadPath is the route of one task's per-session results (the
// history's download_link).
const huaweiDownloadPath = HuaweiKillSessionPath + "/history/{task_id}/download"

// Causes the Huawei door answers with codes of their own (404 DBS.200002,
// DBS.200013): unknown instances and nodes are ResourceNotFound errors
// wrapping them.
var (
	ErrUnknownInstance = killtask.ErrUnknownInstance
	ErrUnknownNode     = killtask.ErrUnknownNode
)

// File is a response sent as a file to download: Data as it is, with its
// content type, as an attachment named Name. Actions return it where the
// answer is not a JSON object (the Huawei door's download).
type File struct {
	Name        string
	ContentType string
	Data        []byte
}

// origin is the scheme and host a request came in on.
type origin string

// WithOrigin returns ctx carrying the scheme and host the request came in on
// ("http://127.0.0.1:8080"), for absolute links in answers.
func WithOrigin(ctx context.Context, o string) context.Context { return withValue(ctx, origin(o)) }

// OriginFrom returns the origin in ctx ("" if none).
func OriginFrom(ctx context.Context) string { return string(valueFrom[origin](ctx)) }

// IntelligentKillSessionStatistic is one group an intelligent kill picks
// (SDK model IntelligentKillSessionStatistic). Times are seconds; avg_time
// is rounded to 3 decimals.
type IntelligentKillSessionStatistic struct {
	Keyword        string  `json:"keyword"`
	ExampleSQLText string  `json:"example_sql_text"`
	IDs            []int64 `json:"ids"`
	Count          int32   `json:"count"`
	TotalTime      float64 `json:"total_time"`
	AvgTime        float64 `json:"avg_time"`
	MaxTime        float64 `json:"max_time"`
	Strategy       string  `json:"strategy"`
}

// huaweiStatistics shapes picked groups as the SDK model has them.
func huaweiStatistics(groups []killtask.IntelligentGroupStats) []IntelligentKillSessionStatistic {
	out := make([]IntelligentKillSessionStatistic, 0, len(groups))
	for _, g := range groups {
		ids := make([]int64, len(g.IDs))
		for i, id := range g.IDs {
			ids[i] = int64(id)
		}
		out = append(out, IntelligentKillSessionStatistic{
			Keyword: g.Keyword, ExampleSQLText: g.Example, IDs: ids, Count: clampInt32(int64(g.Count)),
			TotalTime: float64(g.TotalTime), AvgTime: math.Round(g.AvgTime*1000) / 1000, MaxTime: float64(g.MaxTime),
			Strategy: string(g.Strategy),
		})
	}
	return out
}

// clampInt32 is n, or MaxInt32 past it (the SDK's int32 fields).
func clampInt32(n int64) int32 { return int32(min(n, math.MaxInt32)) }

// endTime is a task's end in Unix seconds, or nil while it runs.
func endTime(t killtask.IntelligentTask) *int64 {
	if t.EndedAt.IsZero() {
		return nil
	}
	end := t.EndedAt.Unix()
	return &end
}
