package actions

import (
	"context"

	"killgate/killtask"
)

// ShowIntelligentKillSessionStatisticRequest is GET
// …/intelligent-kill-session/statistic?node_id=.
type ShowIntelligentKillSessionStatisticRequest struct {
	ProjectID  string `json:"project_id"`  // path; checked by the door
	InstanceID string `json:"instance_id"` // path
	NodeID     string `json:"node_id"`     // query
}

// ShowIntelligentKillSessionStatisticResponse lists the groups an
// intelligent kill would pick now ([] on an idle node).
type ShowIntelligentKillSessionStatisticResponse struct {
	Statistics []IntelligentKillSessionStatistic `json:"statistics"`
}

// ShowIntelligentKillSessionStatistic is the intelligent kill's choice
// without the kills (IntelligentKillStatistic).
func (s *Service) ShowIntelligentKillSessionStatistic(ctx context.Context, r *ShowIntelligentKillSessionStatisticRequest) (*ShowIntelligentKillSessionStatisticResponse, error) {
	res, err := s.IntelligentKillStatistic(ctx, &IntelligentNodeRequest{InstanceID: r.InstanceID, NodeID: r.NodeID})
	if err != nil {
		return nil, err
	}
	return &ShowIntelligentKillSessionStatisticResponse{Statistics: huaweiStatistics(killtask.StatsOf(res.Groups))}, nil
}
