package actions

import (
	"context"
	"errors"

	"killgate/killtask"
)

// CreateKillTaskRequest is DBbrain 2021-05-27 CreateKillTask's input.
type CreateKillTaskRequest struct {
	InstanceId string `json:"InstanceId" kg:"required"`
	Duration   int64  `json:"Duration" kg:"required"`
	TaskFilter
	Product string `json:"Product"`
	TaskMode
}

// CreateKillTaskResponse is its output; TaskId is killgate's extension.
type CreateKillTaskResponse struct {
	Status int64  `json:"Status"`
	TaskId string `json:"TaskId"`
}

// maxDuration bounds Duration so that creation + Duration stays a sane time.
const maxDuration = 10 * 365 * 24 * 3600

// Validate checks values that do not need the engine.
func (r *CreateKillTaskRequest) Validate() error {
	if r.Duration != killtask.Forever && r.Duration <= 0 {
		return E(InvalidParameterValue, "The parameter `Duration` must be -1 (until CancelKillTask) or a positive number of seconds; got %d.", r.Duration)
	}
	if r.Duration > maxDuration {
		return E(InvalidParameterValue, "The parameter `Duration` must be at most %d seconds; got %d.", maxDuration, r.Duration)
	}
	if err := r.TaskFilter.Validate(); err != nil {
		return err
	}
	return r.TaskMode.Validate()
}

// CreateKillTask starts a kill task on an instance. The task is committed to
// the store before Status 1 is returned.
func (s *Service) CreateKillTask(ctx context.Context, r *CreateKillTaskRequest) (*CreateKillTaskResponse, error) {
	inst, err := s.instance(ctx, r.InstanceId, r.Product, mysqlProducts)
	if err != nil {
		return nil, err
	}
	t := &killtask.Task{
		ID:         newID("kt-"),
		InstanceID: inst.ID,
		Product:    inst.Product,
		Filter:     r.Filter(),
		Duration:   r.Duration,
		Creator:    CallerFrom(ctx).ID,
		Mode:       r.mode(),
		Observe:    r.Observe,
	}
	switch err := s.eng.CreateTask(ctx, t); {
	case errors.Is(err, killtask.ErrDuplicate):
		return nil, Wrap(UnsupportedOperationDuplicate, err, "An identical kill task is already running on instance `%s`.", inst.ID)
	case errors.Is(err, killtask.ErrLimitExceeded):
		return nil, Wrap(LimitExceeded, err, "Instance `%s` already has the maximum of %d active kill tasks.", inst.ID, s.eng.Config().MaxTasksPerInstance)
	case err != nil:
		return nil, engineError(err, "Storing the kill task")
	}
	return &CreateKillTaskResponse{Status: 1, TaskId: t.ID}, nil
}
