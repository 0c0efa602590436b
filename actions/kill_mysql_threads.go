package actions

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"killgate/killtask"
)

// KillMySqlThreadsRequest is DBbrain 2021-05-27 KillMySqlThreads' input.
type KillMySqlThreadsRequest struct {
	InstanceId    string  `json:"InstanceId" kg:"required"`
	Stage         string  `json:"Stage" kg:"required"`
	Threads       []int64 `json:"Threads"`
	SqlExecId     string  `json:"SqlExecId"`
	Product       string  `json:"Product"`
	RecordHistory *bool   `json:"RecordHistory"`
}

// KillMySqlThreadsResponse is its output, typed as the Go SDK's
// KillMySqlThreadsResponseParams. Threads is always present ([] when
// nothing was killed); SqlExecId is set by Prepare only.
type KillMySqlThreadsResponse struct {
	Threads   []int64 `json:"Threads"`
	SqlExecId string  `json:"SqlExecId,omitempty"`
}

// Two-stage kill limits.
const (
	// DefaultSqlExecTTL is how long a SqlExecId from Prepare can be
	// committed, as DBbrain documents.
	DefaultSqlExecTTL = 10 * time.Second
	maxKillThreads    = 100
	stagePrepare      = "Prepare"
	stageCommit       = "Commit"
)

// SetSqlExecTTL changes the lifetime of SqlExecIds prepared from now on
// (d <= 0 restores DefaultSqlExecTTL). Safe to call at any time; meant for
// tests and operators who need a longer window.
func (s *Service) SetSqlExecTTL(d time.Duration) { s.sqlExecTTL.Store(int64(d)) }

func (s *Service) execTTL() time.Duration {
	if d := time.Duration(s.sqlExecTTL.Load()); d > 0 {
		return d
	}
	return DefaultSqlExecTTL
}

// Validate checks the stage and the parameters that belong to it.
func (r *KillMySqlThreadsRequest) Validate() error {
	switch r.Stage {
	case stagePrepare:
		if r.SqlExecId != "" {
			return E(InvalidParameterValue, "The parameter `SqlExecId` belongs to Stage `Commit`; Prepare takes `Threads`.")
		}
		if r.Threads == nil {
			return E(MissingParameter, "The request is missing a required parameter `Threads` (Stage `Prepare`).")
		}
		ids, err := threadIDs(r.Threads)
		if err != nil {
			return err
		}
		r.Threads = ids
	case stageCommit:
		if r.Threads != nil {
			return E(InvalidParameterValue, "The parameter `Threads` belongs to Stage `Prepare`; Commit takes `SqlExecId`.")
		}
		if r.SqlExecId == "" {
			return E(MissingParameter, "The request is missing a required parameter `SqlExecId` (Stage `Commit`).")
		}
	case "":
		return E(MissingParameter, "The request is missing a required parameter `Stage`.")
	default:
		return E(InvalidParameterValue, "The parameter `Stage` must be `Prepare` or `Commit`; got `%s`.", r.Stage)
	}
	return nil
}

// threadIDs checks and de-duplicates a Threads list, keeping first-seen order.
func threadIDs(in []int64) ([]int64, error) {
	seen := make(map[int64]bool, len(in))
	out := make([]int64, 0, len(in))
	for i, id := range in {
		if id <= 0 {
			return nil, E(InvalidParameterValue, "The parameter `Threads.%d` must be a positive thread id; got %d.", i, id)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if len(out) == 0 || len(out) > maxKillThreads {
		return nil, E(InvalidParameterValue, "The parameter `Threads` must hold 1 to %d distinct thread ids; got %d.", maxKillThreads, len(out))
	}
	return out, nil
}

// KillMySqlThreads kills sessions by thread id in two stages: Prepare
// stores the ids and returns a SqlExecId valid for 10 s; Commit consumes it
// exactly once (across replicas) and kills the sessions, returning the ids
// actually killed.
func (s *Service) KillMySqlThreads(ctx context.Context, r *KillMySqlThreadsRequest) (*KillMySqlThreadsResponse, error) {
	inst, err := s.instance(ctx, r.InstanceId, r.Product, mysqlProducts)
	if err != nil {
		return nil, err
	}
	if r.Stage == stagePrepare {
		return s.prepareKill(ctx, inst, r.Threads)
	}
	return s.commitKill(ctx, inst, r.SqlExecId, r.RecordHistory == nil || *r.RecordHistory)
}

// prepareKill finds each thread on the instance's nodes and stores its node
// and connection identity (user, client host:port) with the SqlExecId:
// Commit then kills that connection on that node and nothing else. On a
// multi-node instance (TDSQL-C) thread ids are per node, so an id present
// on several nodes is refused as ambiguous.
func (s *Service) prepareKill(ctx context.Context, inst killtask.InstanceConfig, threads []int64) (*KillMySqlThreadsResponse, error) {
	ids := make([]uint64, len(threads))
	want := make(map[uint64]bool, len(threads))
	for i, t := range threads {
		ids[i] = uint64(t)
		want[uint64(t)] = true
	}
	pk := killtask.PreparedKill{
		ID: sqlExecID(), InstanceID: inst.ID, Product: inst.Product, Threads: ids, Creator: CallerFrom(ctx).ID,
	}
	onNode := map[uint64]string{}
	for _, nodeID := range s.eng.NodeIDs(inst.ID) {
		// killgate's own connections are looked up too: Commit never kills
		// one (the killer refuses it) but records it as skipped, as the
		// docs promise, rather than as an id that was not found.
		ps, own, err := s.eng.ProcessListOwn(ctx, inst.ID, nodeID)
		if err != nil {
			return nil, engineError(err, "Reading the process list")
		}
		for _, p := range append(ps, own...) {
			if !want[p.ID] {
				continue
			}
			if other, dup := onNode[p.ID]; dup {
				return nil, E(InvalidParameterValue, "Thread %d exists on nodes `%s` and `%s` of instance `%s`; thread ids are per node, so it cannot be killed unambiguously.", p.ID, other, nodeID, inst.ID)
			}
			onNode[p.ID] = nodeID
			pk.Targets = append(pk.Targets, p)
			pk.Nodes = append(pk.Nodes, nodeID)
		}
	}
	if err := s.eng.SavePreparedKill(ctx, &pk, s.execTTL()); err != nil {
		return nil, engineError(err, "Storing the prepared kill")
	}
	return &KillMySqlThreadsResponse{SqlExecId: pk.ID, Threads: threads}, nil
}

func (s *Service) commitKill(ctx context.Context, inst killtask.InstanceConfig, execID string, record bool) (*KillMySqlThreadsResponse, error) {
	pk, err := s.eng.TakePreparedKill(ctx, execID, inst.ID)
	switch {
	case errors.Is(err, killtask.ErrNotFound), errors.Is(err, killtask.ErrExpired):
		return nil, Wrap(ResourceNotFound, err, "SqlExecId `%s` expired or does not exist for instance `%s`; Prepare again.", execID, inst.ID)
	case errors.Is(err, killtask.ErrUsed):
		return nil, Wrap(UnsupportedOperation, err, "SqlExecId `%s` was already committed.", execID)
	case err != nil:
		return nil, engineError(err, "Reading the prepared kill")
	}
	// Each thread is killed on the node it was found on at Prepare, and only
	// if it is still the same connection (user, client host:port).
	byNode := map[string][]killtask.Process{}
	var order []string
	for i, p := range pk.Targets {
		n := pk.Nodes[i]
		if _, ok := byNode[n]; !ok {
			order = append(order, n)
		}
		byNode[n] = append(byNode[n], p)
	}
	killed := []int64{}
	for _, n := range order {
		res, err := s.eng.Kill(ctx, killtask.KillRequest{
			Instance: inst.ID, Node: n, Sessions: byNode[n], Match: killtask.MatchConnection,
			Record: record, Source: killtask.SourceManual, Ref: pk.ID,
		})
		if err != nil {
			return nil, engineError(err, "Killing the threads")
		}
		for _, kr := range res {
			if kr.Outcome == killtask.OutcomeKilled {
				killed = append(killed, int64(kr.Process.ID))
			}
		}
	}
	return &KillMySqlThreadsResponse{Threads: killed}, nil
}

// sqlExecID returns a 12-character random id like DBbrain's ("ItNrO0i3lvE3").
func sqlExecID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [12]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}
