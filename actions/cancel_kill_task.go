package actions

import (
	"context"
	"errors"

	"killgate/killtask"
)

// CancelKillTaskRequest is DBbrain 2021-05-27 CancelKillTask's input.
type CancelKillTaskRequest struct {
	InstanceId string `json:"InstanceId" kg:"required"`
	Product    string `json:"Product"`
}

// CancelKillTaskResponse is its output; TaskIds (the tasks stopped) is
// killgate's extension.
type CancelKillTaskResponse struct {
	Status  int64    `json:"Status"`
	TaskIds []string `json:"TaskIds"`
}

// CancelKillTask stops every active kill task of the instance. When it
// returns, no kill for those tasks starts any more on this replica (other
// replicas sharing the store stop at their next reload, within one poll
// interval). With no active task it answers ResourceNotFound.
func (s *Service) CancelKillTask(ctx context.Context, r *CancelKillTaskRequest) (*CancelKillTaskResponse, error) {
	inst, err := s.instance(ctx, r.InstanceId, r.Product, mysqlProducts)
	if err != nil {
		return nil, err
	}
	ids, err := s.eng.CancelTasks(ctx, inst.ID)
	switch {
	case errors.Is(err, killtask.ErrNotFound):
		return nil, Wrap(ResourceNotFound, err, "Instance `%s` has no active kill task.", inst.ID)
	case err != nil:
		return nil, engineError(err, "Cancelling the kill tasks")
	}
	if ids == nil {
		ids = []string{}
	}
	return &CancelKillTaskResponse{Status: 1, TaskIds: ids}, nil
}
