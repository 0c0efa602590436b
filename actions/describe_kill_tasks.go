package actions

import (
	"context"
	"slices"
	"time"

	"killgate/killtask"
)

// DescribeKillTasksRequest is killgate's DescribeKillTasks input.
type DescribeKillTasksRequest struct {
	InstanceId string `json:"InstanceId"`
	TaskId     string `json:"TaskId"`
	Status     string `json:"Status"`
	Offset     int64  `json:"Offset"`
	Limit      *int64 `json:"Limit"`
}

// KillTaskInfo is one kill task as DescribeKillTasks shows it. The filter
// fields carry CreateKillTask's names (see taskFilterOf).
type KillTaskInfo struct {
	TaskId     string `json:"TaskId"`
	InstanceId string `json:"InstanceId"`
	Product    string `json:"Product"`
	TaskFilter
	Duration   int64   `json:"Duration"`
	Status     string  `json:"Status"`
	CreateTime string  `json:"CreateTime"`
	ExpireTime *string `json:"ExpireTime,omitempty"` // absent for Duration -1
	EndTime    *string `json:"EndTime,omitempty"`    // absent while Running
	KillCount  int64   `json:"KillCount"`
	LastError  string  `json:"LastError"`
	Creator    string  `json:"Creator"`
	TaskMode
	// ObserveCount: the sessions an observe-only task recorded (0 for a
	// task that kills).
	ObserveCount int64 `json:"ObserveCount"`
}

// DescribeKillTasksResponse is its output.
type DescribeKillTasksResponse struct {
	Tasks      []KillTaskInfo `json:"Tasks"`
	TotalCount int64          `json:"TotalCount"`
}

const (
	defaultPageLimit = 20
	maxPageLimit     = 100
	// timeLayout is the API's time format: ISO 8601 in UTC with an explicit
	// offset, as DescribeProxySessionKillTasks shows ("2020-09-22T00:00:00+00:00").
	timeLayout = "2006-01-02T15:04:05-07:00"
)

// Validate checks the paging and the status.
func (r *DescribeKillTasksRequest) Validate() error {
	switch killtask.Status(r.Status) {
	case "", killtask.StatusRunning, killtask.StatusFinished, killtask.StatusCancelled:
	default:
		return E(InvalidParameterValue, "The parameter `Status` must be Running, Finished or Cancelled; got `%s`.", r.Status)
	}
	return checkPage(r.Offset, r.Limit)
}

// checkPage validates Offset (>= 0) and Limit (1..100).
func checkPage(offset int64, limit *int64) error {
	if offset < 0 || offset > 1<<31 {
		return E(InvalidParameterValue, "The parameter `Offset` must be 0 or more; got %d.", offset)
	}
	if limit != nil && (*limit < 1 || *limit > maxPageLimit) {
		return E(InvalidParameterValue, "The parameter `Limit` must be 1 to %d; got %d.", maxPageLimit, *limit)
	}
	return nil
}

func pageLimit(limit *int64) int {
	if limit == nil {
		return defaultPageLimit
	}
	return int(*limit)
}

// DescribeKillTasks lists kill tasks, newest first. A caller scoped to some
// instances sees only theirs.
func (s *Service) DescribeKillTasks(ctx context.Context, r *DescribeKillTasksRequest) (*DescribeKillTasksResponse, error) {
	scope, err := s.listScope(ctx, r.InstanceId)
	if err != nil {
		return nil, err
	}
	tasks, total, err := s.eng.ListTasks(ctx, killtask.TaskQuery{
		InstanceID: r.InstanceId, InstanceIn: scope, TaskID: r.TaskId, Status: killtask.Status(r.Status),
		Offset: int(r.Offset), Limit: pageLimit(r.Limit),
	})
	if err != nil {
		return nil, engineError(err, "Listing the kill tasks")
	}
	// Bounded in bytes (listing.go): a page stops early rather than pass
	// ListByteBudget; TotalCount still counts every task.
	out := &DescribeKillTasksResponse{Tasks: make([]KillTaskInfo, 0, len(tasks)), TotalCount: total}
	var budget pageBudget
	for i := range tasks {
		ti := taskInfo(&tasks[i])
		if !budget.fits(ti.size()) {
			break
		}
		out.Tasks = append(out.Tasks, ti)
	}
	return out, nil
}

// taskInfo renders a task for the listing. Text fields longer than
// ListTextMax (only in tasks stored before the filter limits) are cut.
func taskInfo(t *killtask.Task) KillTaskInfo {
	ti := KillTaskInfo{
		TaskId: t.ID, InstanceId: t.InstanceID, Product: t.Product, TaskFilter: taskFilterOf(t.Filter),
		Duration: t.Duration, Status: string(t.Status), CreateTime: formatTime(t.CreatedAt),
		KillCount: t.Kills, LastError: cutText(t.LastError), Creator: t.Creator,
		TaskMode: taskModeOf(t), ObserveCount: t.Observed,
	}
	if !t.ExpiresAt.IsZero() {
		ti.ExpireTime = new(formatTime(t.ExpiresAt))
	}
	if !t.EndedAt.IsZero() {
		ti.EndTime = new(formatTime(t.EndedAt))
	}
	return ti
}

var taskInfoSizer = newRowSizer(KillTaskInfo{})

// size estimates the row's JSON bytes (an upper bound).
func (ti *KillTaskInfo) size() int {
	n := taskInfoSizer.size(ti.TaskId, ti.InstanceId, ti.Product, ti.Host, ti.DB, ti.Command, ti.Info, ti.User,
		ti.Status, ti.CreateTime, ti.LastError, ti.Creator, ti.KillMode)
	for _, s := range ti.Infos {
		n += jsonStringLen(s) + 1
	}
	for _, p := range []*string{ti.ExpireTime, ti.EndTime} {
		if p != nil {
			n += jsonStringLen(*p)
		}
	}
	return n
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// listScope returns the instance restriction of a listing: nil for a caller
// that may see every instance, the caller's instances otherwise. A given
// InstanceId must be configured and within the caller's scope.
func (s *Service) listScope(ctx context.Context, instanceID string) ([]string, error) {
	c := CallerFrom(ctx)
	if instanceID != "" {
		if !c.MayUse(instanceID) { // scope first: existence is not revealed
			return nil, E(UnauthorizedOperation, "The credential may not act on instance `%s`.", instanceID)
		}
		if _, ok := s.eng.Instance(instanceID); !ok {
			return nil, E(InvalidParameterValue, "The instance `%s` in parameter `InstanceId` is not managed by this killgate.", instanceID)
		}
		return nil, nil
	}
	if len(c.Instances) == 0 || slices.Contains(c.Instances, "*") {
		return nil, nil
	}
	return append([]string{}, c.Instances...), nil
}
