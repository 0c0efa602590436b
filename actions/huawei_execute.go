package actions

import "context"

// ExecuteIntelligentKillSessionRequest is POST
// /v3/{project_id}/instances/{instance_id}/intelligent-kill-session with
// body {"node_id": "…"} (SDK IntelligentKillSessionsReq).
type ExecuteIntelligentKillSessionRequest struct {
	ProjectID  string `json:"project_id"`  // path; checked by the door
	InstanceID string `json:"instance_id"` // path
	NodeID     string `json:"node_id"`     // body
}

// ExecuteIntelligentKillSessionResponse is the task started (its id is a
// string in the SDK model).
type ExecuteIntelligentKillSessionResponse struct {
	TaskID string `json:"task_id"`
}

// ExecuteIntelligentKillSession kills, at once, every session of the groups
// ShowIntelligentKillSessionStatistic would show now (ExecuteIntelligentKill).
func (s *Service) ExecuteIntelligentKillSession(ctx context.Context, r *ExecuteIntelligentKillSessionRequest) (*ExecuteIntelligentKillSessionResponse, error) {
	res, err := s.ExecuteIntelligentKill(ctx, &IntelligentNodeRequest{InstanceID: r.InstanceID, NodeID: r.NodeID})
	if err != nil {
		return nil, err
	}
	return &ExecuteIntelligentKillSessionResponse{TaskID: res.TaskID}, nil
}
