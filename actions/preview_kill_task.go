package actions

import (
	"context"
)

// PreviewKillTaskRequest is killgate's PreviewKillTask input: CreateKillTask's
// filters, with the same names and validation, without Duration.
type PreviewKillTaskRequest struct {
	InstanceId string   `json:"InstanceId" kg:"required"`
	Host       string   `json:"Host"`
	DB         string   `json:"DB"`
	Command    string   `json:"Command"`
	Info       string   `json:"Info"`
	Infos      []string `json:"Infos"`
	User       string   `json:"User"`
	Time       int64    `json:"Time"`
	Product    string   `json:"Product"`
}

// PreviewKillTaskResponse lists the sessions a task with these filters would
// kill now.
type PreviewKillTaskResponse struct {
	ProcessList []MySqlProcess `json:"ProcessList"`
	TotalCount  int64          `json:"TotalCount"`
}

// Validate checks the filters exactly as CreateKillTask does.
func (r *PreviewKillTaskRequest) Validate() error {
	if r.Info != "" && len(r.Infos) > 0 {
		return E(InvalidParameterValue, "The parameters `Info` and `Infos` cannot be used together.")
	}
	return validateFilter(r.Host, r.User, r.DB, r.Command, r.Info, r.Time, r.Infos)
}

// PreviewKillTask answers which sessions a kill task with the given filters
// would kill right now, through the worker's own matching and exclusions
// (killgate's connections, system threads, protected users). It kills
// nothing and stores nothing.
func (s *Service) PreviewKillTask(ctx context.Context, r *PreviewKillTaskRequest) (*PreviewKillTaskResponse, error) {
	inst, err := s.instance(ctx, r.InstanceId, r.Product, mysqlProducts)
	if err != nil {
		return nil, err
	}
	ps, err := s.eng.Preview(ctx, inst.ID, buildFilter(r.Host, r.DB, r.Command, r.Info, r.Infos, r.User, r.Time))
	if err != nil {
		return nil, engineError(err, "Reading the processlist")
	}
	sortProcesses(ps)
	return &PreviewKillTaskResponse{ProcessList: toMySqlProcesses(ps), TotalCount: int64(len(ps))}, nil
}
