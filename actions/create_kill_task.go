package actions

import (
	"context"
	"errors"
	"strings"

	"killgate/killtask"
)

// CreateKillTaskRequest is DBbrain 2021-05-27 CreateKillTask's input.
type CreateKillTaskRequest struct {
	InstanceId string   `json:"InstanceId" kg:"required"`
	Duration   int64    `json:"Duration" kg:"required"`
	Host       string   `json:"Host"`
	DB         string   `json:"DB"`
	Command    string   `json:"Command"`
	Info       string   `json:"Info"`
	Infos      []string `json:"Infos"`
	User       string   `json:"User"`
	Time       int64    `json:"Time"`
	Product    string   `json:"Product"`
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
	if r.Info != "" && len(r.Infos) > 0 {
		return E(InvalidParameterValue, "The parameters `Info` and `Infos` cannot be used together.")
	}
	return validateFilter(r.Host, r.User, r.DB, r.Command, r.Info, r.Time, r.Infos)
}

// validateFilter checks the filter fields shared by CreateKillTask and
// PreviewKillTask. An absent or empty field is no filter (DBbrain's
// semantics); a field that is given but holds only blanks or commas is
// refused rather than read as "no filter", which would widen the task to
// every session. Sizes are bounded (limits.go).
func validateFilter(host, user, db, command, info string, minTime int64, infos []string) error {
	for _, f := range []struct {
		name, value string
		list        bool // a comma list: "," is as blank as "  "
	}{{"Host", host, false}, {"DB", db, true}, {"Command", command, true}, {"Info", info, false}} {
		blank := strings.TrimSpace(f.value) == ""
		if f.list {
			blank = len(killtask.SplitList(f.value)) == 0
		}
		if f.value != "" && blank {
			return E(InvalidParameterValue, "The parameter `%s` is blank; leave it out to filter nothing.", f.name)
		}
	}
	if minTime < 0 {
		return E(InvalidParameterValue, "The parameter `Time` must not be negative; got %d.", minTime)
	}
	if err := checkFilterLimits(host, user, db, command, info, infos); err != nil {
		return err
	}
	if h := strings.TrimSpace(host); h != "" {
		addr, port, ok := hostFilter(h)
		switch {
		case !ok:
			return E(InvalidParameterValue, "The parameter `Host` must be an IPv4 or IPv6 address or a host name; got `%s`.", h)
		case port != "":
			return E(InvalidParameterValue, "The parameter `Host` is a client address without a port (`%s`); a port would select nothing.", addr)
		}
	}
	for i, s := range infos {
		if strings.TrimSpace(s) == "" {
			return E(InvalidParameterValue, "The parameter `Infos.%d` is empty; an empty prefix would match every statement.", i)
		}
	}
	return nil
}

// buildFilter turns wire filters (checked by validateFilter) into the
// engine's Filter. A bracketed IPv6 Host ("[::1]") is stored bare, as the
// processlist shows it.
func buildFilter(host, db, command, info string, infos []string, user string, minTime int64) killtask.Filter {
	host = strings.TrimSpace(host)
	if addr, port, ok := hostFilter(host); ok && port == "" {
		host = addr
	}
	f := killtask.Filter{
		Host:     host,
		User:     user,
		DBs:      killtask.SplitList(db),
		Commands: killtask.SplitList(command),
		Infos:    infos,
		MinTime:  minTime,
	}
	if strings.TrimSpace(info) != "" {
		f.Infos = []string{info}
	}
	return f.Normalize()
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
		Filter:     buildFilter(r.Host, r.DB, r.Command, r.Info, r.Infos, r.User, r.Time),
		Duration:   r.Duration,
		Creator:    CallerFrom(ctx).ID,
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
