package actions

import (
	"context"
	"math"
	"net/url"
	"strings"
)

// ListIntelligentKillSessionHistoryRequest is GET
// …/intelligent-kill-session/history?node_id=&start_time=&end_time=&limit=&offset=
// (start_time and end_time in Unix milliseconds).
type ListIntelligentKillSessionHistoryRequest struct {
	ProjectID  string `json:"project_id"`  // path; checked by the door, part of the download links
	InstanceID string `json:"instance_id"` // path
	NodeID     string `json:"node_id"`
	StartTime  int64  `json:"start_time" kg:"required"`
	EndTime    int64  `json:"end_time" kg:"required"`
	Limit      *int64 `json:"limit"`  // 1-100; absent = 100
	Offset     *int64 `json:"offset"` // ≥ 0; absent = 0
}

// Validate checks the paging bounds (the time range is checked by
// IntelligentHistoryRequest.Validate).
func (r *ListIntelligentKillSessionHistoryRequest) Validate() error {
	if r.Limit != nil && (*r.Limit < 1 || *r.Limit > maxIntelligentLimit) {
		return E(InvalidParameterValue, "The parameter `limit` must be between 1 and %d; got %d.", maxIntelligentLimit, *r.Limit)
	}
	if r.Offset != nil && (*r.Offset < 0 || *r.Offset > math.MaxInt32) {
		return E(InvalidParameterValue, "The parameter `offset` must be a non-negative integer below 2^31; got %d.", *r.Offset)
	}
	return nil
}

// IntelligentKillSessionHistory is one task (SDK model
// IntelligentKillSessionHistory): times in Unix seconds, end_time absent
// while the task runs, download_link absolute on the origin the request came
// in on.
type IntelligentKillSessionHistory struct {
	TaskID       string `json:"task_id"`
	StartTime    int64  `json:"start_time"`
	EndTime      *int64 `json:"end_time,omitempty"`
	DownloadLink string `json:"download_link"`
}

// ListIntelligentKillSessionHistoryResponse is one page of tasks, newest
// first.
type ListIntelligentKillSessionHistoryResponse struct {
	Histories  []IntelligentKillSessionHistory `json:"intelligent_kill_session_histories"`
	TotalCount int32                           `json:"total_count"`
}

// ListIntelligentKillSessionHistory pages a node's intelligent kill tasks
// (IntelligentKillHistory).
func (s *Service) ListIntelligentKillSessionHistory(ctx context.Context, r *ListIntelligentKillSessionHistoryRequest) (*ListIntelligentKillSessionHistoryResponse, error) {
	req := IntelligentHistoryRequest{InstanceID: r.InstanceID, NodeID: r.NodeID, StartMS: r.StartTime, EndMS: r.EndTime}
	if r.Limit != nil {
		req.Limit = int(*r.Limit)
	}
	if r.Offset != nil {
		req.Offset = int(*r.Offset)
	}
	res, err := s.IntelligentKillHistory(ctx, &req)
	if err != nil {
		return nil, err
	}
	out := &ListIntelligentKillSessionHistoryResponse{Histories: make([]IntelligentKillSessionHistory, 0, len(res.Tasks)), TotalCount: clampInt32(res.Total)}
	origin := OriginFrom(ctx)
	for _, t := range res.Tasks {
		link := origin + strings.NewReplacer("{project_id}", url.PathEscape(r.ProjectID),
			"{instance_id}", url.PathEscape(r.InstanceID), "{task_id}", url.PathEscape(t.ID)).Replace(huaweiDownloadPath)
		out.Histories = append(out.Histories, IntelligentKillSessionHistory{TaskID: t.ID, StartTime: t.CreatedAt.Unix(), EndTime: endTime(t), DownloadLink: link})
	}
	return out, nil
}
