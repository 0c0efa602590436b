package actions

import (
	"context"
	"strconv"

	"killgate/killtask"
)

// PreviewKillTaskRequest is killgate's PreviewKillTask input: CreateKillTask's
// filters and mode, with the same names and validation, without Duration.
type PreviewKillTaskRequest struct {
	InstanceId string `json:"InstanceId" kg:"required"`
	TaskFilter
	Product string `json:"Product"`
	TaskMode
}

// PreviewKillTaskResponse lists the sessions a task with these filters would
// kill now.
type PreviewKillTaskResponse struct {
	ProcessList []PreviewProcess `json:"ProcessList"`
	TotalCount  int64            `json:"TotalCount"`
	// LockWaits (killgate extension) lists every lock wait seen on the
	// instance when the filter has BlockingCount or BlockingTime: the chains
	// behind the sessions listed. Absent otherwise.
	LockWaits *[]LockWaitInfo `json:"LockWaits,omitempty"`
}

// PreviewProcess is a session PreviewKillTask lists: DBbrain's MySqlProcess
// and, only when the filter uses them, killgate's extension fields (absent
// otherwise, so a caller who does not use them sees MySqlProcess).
type PreviewProcess struct {
	MySqlProcess
	// TrxTime: seconds the session's transaction has been open (with
	// TrxTime in the filter).
	TrxTime *string `json:"TrxTime,omitempty"`
	// BlockedThreads: the sessions waiting on it, directly or through
	// others; BlockingTime: how long it has held them up (with
	// BlockingCount or BlockingTime in the filter).
	BlockedThreads []string `json:"BlockedThreads,omitempty"`
	BlockingTime   *string  `json:"BlockingTime,omitempty"`
}

// LockWaitInfo is one session waiting for a lock that another holds.
type LockWaitInfo struct {
	NodeId    string `json:"NodeId"`
	ThreadId  string `json:"ThreadId"`  // the waiting session
	BlockedBy string `json:"BlockedBy"` // a session holding what it waits for
	WaitTime  string `json:"WaitTime"`  // seconds it has waited
	LockType  string `json:"LockType"`  // row or metadata
}

// Validate checks the filters and the mode exactly as CreateKillTask does.
func (r *PreviewKillTaskRequest) Validate() error {
	if err := r.TaskFilter.Validate(); err != nil {
		return err
	}
	return r.TaskMode.Validate()
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
	mode := r.mode()
	if mode == "" {
		mode = inst.DefaultKillMode
	}
	f := r.Filter()
	pv, err := s.eng.PreviewTask(ctx, inst.ID, killtask.Task{Filter: f, Mode: mode})
	if err != nil {
		return nil, engineError(err, "Reading the processlist")
	}
	ps := pv.Sessions
	sortProcesses(ps)
	out := &PreviewKillTaskResponse{ProcessList: []PreviewProcess{}, TotalCount: int64(len(ps))}
	trx, locks := r.TrxTime > 0, r.BlockingCount > 0 || r.BlockingTime > 0
	var budget pageBudget
	for i, mp := range toMySqlProcesses(ps) {
		pp := PreviewProcess{MySqlProcess: mp}
		n := processSizer.size(mp.ID, mp.User, mp.Host, mp.DB, mp.State, mp.Command, mp.Time, mp.Info)
		if trx {
			pp.TrxTime = new(strconv.FormatInt(ps[i].TrxTime, 10))
			n += 40
		}
		if locks {
			pp.BlockingTime = new(strconv.FormatInt(ps[i].BlockTime, 10))
			pp.BlockedThreads = make([]string, len(ps[i].Blocked))
			for j, id := range ps[i].Blocked {
				pp.BlockedThreads[j] = strconv.FormatUint(id, 10)
			}
			n += 60 + 23*len(pp.BlockedThreads)
		}
		if !budget.fits(n) {
			break
		}
		out.ProcessList = append(out.ProcessList, pp)
	}
	if locks {
		waits := make([]LockWaitInfo, 0, len(pv.Waits))
		for _, w := range pv.Waits {
			if !budget.fits(120 + len(w.Node)) {
				break
			}
			waits = append(waits, LockWaitInfo{NodeId: w.Node, ThreadId: strconv.FormatUint(w.Waiting, 10),
				BlockedBy: strconv.FormatUint(w.Blocking, 10), WaitTime: strconv.FormatInt(w.Wait, 10), LockType: w.Kind})
		}
		out.LockWaits = &waits
	}
	return out, nil
}
