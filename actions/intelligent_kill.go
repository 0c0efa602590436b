package actions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"killgate/killtask"
)

// Intelligent kill: the operations behind the Huawei GaussDB door's
// intelligent-kill-session family, in the engine's terms. The registered
// Huawei actions (huawei_*.go, HuaweiActions) decode the wire, call these
// and shape their results. Unknown instances and nodes are ResourceNotFound
// errors whose cause wraps ErrUnknownInstance / ErrUnknownNode.

// IntelligentNodeRequest names a node of an instance.
type IntelligentNodeRequest struct {
	InstanceID string
	NodeID     string
}

// IntelligentKillResponse is the result of one intelligent kill.
type IntelligentKillResponse struct {
	TaskID string
	Groups []killtask.SessionGroup // the groups chosen (as read before the kills)
	Result []killtask.KillResult   // one per session of the chosen groups
}

// IntelligentStatisticResponse lists the groups an intelligent kill would
// pick now.
type IntelligentStatisticResponse struct {
	Groups []killtask.SessionGroup
}

// IntelligentHistoryRequest pages the intelligent tasks of a node. Start
// and End bound the task start time (inclusive, milliseconds UTC).
type IntelligentHistoryRequest struct {
	InstanceID string
	NodeID     string
	StartMS    int64
	EndMS      int64
	Limit      int // 1-100; 0 = 100
	Offset     int
}

// IntelligentHistoryResponse is one page of tasks, newest first.
type IntelligentHistoryResponse struct {
	Total int64
	Tasks []killtask.IntelligentTask
}

// IntelligentTaskRequest names one task of an instance.
type IntelligentTaskRequest struct {
	InstanceID string
	TaskID     string
}

// IntelligentTaskResponse is a task with its per-session results.
type IntelligentTaskResponse struct {
	Task    killtask.IntelligentTask
	Records []killtask.KillRecord
}

// maxIntelligentLimit is the largest history page.
const maxIntelligentLimit = 100

// IntelligentNode resolves and checks an instance and one of its nodes: the
// node id is one of the instance's configured node ids, or the instance id
// itself for an instance configured with a single dsn.
func (s *Service) IntelligentNode(ctx context.Context, instanceID, nodeID string) (killtask.InstanceConfig, error) {
	if instanceID == "" {
		return killtask.InstanceConfig{}, E(MissingParameter, "The parameter `instance_id` must not be empty.")
	}
	if nodeID == "" {
		return killtask.InstanceConfig{}, E(MissingParameter, "The parameter `node_id` is required.")
	}
	inst, ok := s.eng.Instance(instanceID)
	if !ok {
		return inst, Wrap(ResourceNotFound, fmt.Errorf("%w: %s", killtask.ErrUnknownInstance, instanceID), "The DB instance `%s` does not exist.", instanceID)
	}
	if !CallerFrom(ctx).MayUse(instanceID) {
		return inst, E(UnauthorizedOperation, "The credential may not act on instance `%s`.", instanceID)
	}
	nodes := []string{inst.ID}
	if len(inst.Nodes) > 0 {
		nodes = nodes[:0]
		for _, n := range inst.Nodes {
			nodes = append(nodes, n.ID)
		}
	}
	if !slices.Contains(nodes, nodeID) {
		return inst, Wrap(ResourceNotFound, fmt.Errorf("%w: %s", killtask.ErrUnknownNode, nodeID), "The node `%s` does not exist in DB instance `%s`.", nodeID, instanceID)
	}
	return inst, nil
}

// ExecuteIntelligentKill groups the node's active sessions by SQL template,
// picks up to three groups (killtask.PickGroups) and kills every session in
// them through the engine's safe killer (each session re-checked just
// before its KILL; protected and system sessions never killed). The task is
// stored before the first KILL and finished with its summary afterwards;
// each attempt is in the kill history under the task id. A node with no
// active sessions still gets a task (with no groups).
func (s *Service) ExecuteIntelligentKill(ctx context.Context, r *IntelligentNodeRequest) (*IntelligentKillResponse, error) {
	inst, groups, err := s.nodeGroups(ctx, r)
	if err != nil {
		return nil, err
	}
	task := killtask.IntelligentTask{
		ID: newID("ik-"), InstanceID: inst.ID, NodeID: r.NodeID,
		Summary: killtask.IntelligentSummary{Creator: CallerFrom(ctx).ID, Groups: killtask.StatsOf(groups)},
	}
	if err := s.eng.SaveIntelligentTask(ctx, &task); err != nil {
		return nil, engineError(err, "Storing the intelligent kill task")
	}
	var victims []killtask.Process
	for _, g := range groups {
		victims = append(victims, g.Sessions...)
	}
	// The kills run to completion even if the caller goes away: a task
	// half-done because a client timed out would be worse than a late answer.
	kctx := context.WithoutCancel(ctx)
	res, kerr := s.eng.Kill(kctx, killtask.KillRequest{
		Instance: inst.ID, Node: r.NodeID, Sessions: victims, Match: killtask.MatchStatement,
		Record: true, Source: killtask.SourceIntelligent, Ref: task.ID,
	})
	for _, kr := range res {
		task.Summary.Count(kr.Outcome)
	}
	if kerr != nil {
		// Nothing was killed (the node could not be read for the re-check);
		// the task stays, ended, with zero kills.
		for range victims {
			task.Summary.Count(killtask.OutcomeFailed)
		}
	}
	if err := s.eng.FinishIntelligentTask(kctx, task.ID, task.Summary); err != nil {
		s.log.Error("finishing intelligent kill task failed", zap.String("task", task.ID), zap.Error(err))
	}
	if kerr != nil {
		return nil, engineError(kerr, "Killing the sessions")
	}
	s.log.Info("intelligent kill", zap.String("task", task.ID), zap.String("instance", inst.ID), zap.String("node", r.NodeID),
		zap.Int("groups", len(groups)), zap.Int("sessions", len(victims)), zap.Int("killed", task.Summary.Killed))
	return &IntelligentKillResponse{TaskID: task.ID, Groups: groups, Result: res}, nil
}

// nodeGroups resolves the node and reads the groups an intelligent kill
// would pick on it now.
func (s *Service) nodeGroups(ctx context.Context, r *IntelligentNodeRequest) (killtask.InstanceConfig, []killtask.SessionGroup, error) {
	inst, err := s.IntelligentNode(ctx, r.InstanceID, r.NodeID)
	if err != nil {
		return inst, nil, err
	}
	groups, err := s.eng.IntelligentCandidates(ctx, inst.ID, r.NodeID)
	if err != nil {
		return inst, nil, engineError(err, "Reading the node's sessions")
	}
	return inst, groups, nil
}

// IntelligentKillStatistic returns the groups an intelligent kill would pick
// on the node now, without killing anything.
func (s *Service) IntelligentKillStatistic(ctx context.Context, r *IntelligentNodeRequest) (*IntelligentStatisticResponse, error) {
	_, groups, err := s.nodeGroups(ctx, r)
	if err != nil {
		return nil, err
	}
	return &IntelligentStatisticResponse{Groups: groups}, nil
}

// Validate checks the paging and time range.
func (r *IntelligentHistoryRequest) Validate() error {
	switch {
	case r.StartMS < 0:
		return E(InvalidParameterValue, "The parameter `start_time` must be a non-negative Unix time in milliseconds; got %d.", r.StartMS)
	case r.EndMS <= 0:
		return E(InvalidParameterValue, "The parameter `end_time` must be a positive Unix time in milliseconds; got %d.", r.EndMS)
	case r.StartMS >= r.EndMS:
		return E(InvalidParameterValue, "The parameter `start_time` (%d) must be less than `end_time` (%d).", r.StartMS, r.EndMS)
	case r.Limit < 0 || r.Limit > maxIntelligentLimit:
		return E(InvalidParameterValue, "The parameter `limit` must be between 1 and %d; got %d.", maxIntelligentLimit, r.Limit)
	case r.Offset < 0:
		return E(InvalidParameterValue, "The parameter `offset` must not be negative; got %d.", r.Offset)
	}
	return nil
}

// IntelligentKillHistory lists a node's intelligent tasks whose start time
// lies in [StartMS, EndMS], newest first.
func (s *Service) IntelligentKillHistory(ctx context.Context, r *IntelligentHistoryRequest) (*IntelligentHistoryResponse, error) {
	inst, err := s.IntelligentNode(ctx, r.InstanceID, r.NodeID)
	if err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	limit := r.Limit
	if limit == 0 {
		limit = maxIntelligentLimit
	}
	tasks, total, err := s.eng.ListIntelligentTasks(ctx, killtask.IntelligentQuery{
		InstanceID: inst.ID, NodeID: r.NodeID,
		Since: time.UnixMilli(r.StartMS), Until: time.UnixMilli(r.EndMS),
		Limit: limit, Offset: r.Offset,
	})
	if err != nil {
		return nil, engineError(err, "Listing intelligent kill tasks")
	}
	return &IntelligentHistoryResponse{Total: total, Tasks: tasks}, nil
}

// IntelligentKillTask returns one task of the instance and its per-session
// results (kill history rows).
func (s *Service) IntelligentKillTask(ctx context.Context, r *IntelligentTaskRequest) (*IntelligentTaskResponse, error) {
	if r.TaskID == "" {
		return nil, E(MissingParameter, "The parameter `task_id` is required.")
	}
	if _, ok := s.eng.Instance(r.InstanceID); !ok {
		return nil, Wrap(ResourceNotFound, fmt.Errorf("%w: %s", killtask.ErrUnknownInstance, r.InstanceID), "The DB instance `%s` does not exist.", r.InstanceID)
	}
	if !CallerFrom(ctx).MayUse(r.InstanceID) {
		return nil, E(UnauthorizedOperation, "The credential may not act on instance `%s`.", r.InstanceID)
	}
	task, err := s.eng.GetIntelligentTask(ctx, r.TaskID)
	if errors.Is(err, killtask.ErrNotFound) || (err == nil && task.InstanceID != r.InstanceID) {
		return nil, E(ResourceNotFound, "The intelligent kill task `%s` does not exist on DB instance `%s`.", r.TaskID, r.InstanceID)
	}
	if err != nil {
		return nil, engineError(err, "Reading the intelligent kill task")
	}
	recs, err := s.eng.IntelligentRecords(ctx, task.ID)
	if err != nil {
		return nil, engineError(err, "Reading the intelligent kill results")
	}
	return &IntelligentTaskResponse{Task: task, Records: recs}, nil
}
