package actions

import (
	"context"
)

// PreviewKillTaskRequest is killgate's PreviewKillTask input: CreateKillTask's
// filters, with the same names and validation, without Duration.
type PreviewKillTaskRequest struct {
	InstanceId string `json:"InstanceId" kg:"required"`
	TaskFilter
	Product string `json:"Product"`
}

// PreviewKillTaskResponse lists the sessions a task with these filters would
// kill now.
type PreviewKillTaskResponse struct {
	ProcessList []MySqlProcess `json:"ProcessList"`
	TotalCount  int64          `json:"TotalCount"`
}

// Validate checks the filters exactly as CreateKillTask does.
func (r *PreviewKillTaskRequest) Validate() error { return r.TaskFilter.Validate() }

// PreviewKillTask answers which sessions a kill task with the given filters
// would kill right now, through the worker's own matching and exclusions
// (killgate's connections, system threads, protected users). It kills
// nothing and stores nothing.
func (s *Service) PreviewKillTask(ctx context.Context, r *PreviewKillTaskRequest) (*PreviewKillTaskResponse, error) {
	inst, err := s.instance(ctx, r.InstanceId, r.Product, mysqlProducts)
	if err != nil {
		return nil, err
	}
	ps, err := s.eng.Preview(ctx, inst.ID, r.Filter())
	if err != nil {
		return nil, engineError(err, "Reading the processlist")
	}
	sortProcesses(ps)
	return &PreviewKillTaskResponse{ProcessList: toMySqlProcesses(ps), TotalCount: int64(len(ps))}, nil
}
