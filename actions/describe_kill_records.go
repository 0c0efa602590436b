package actions

import (
	"context"
	"strings"
	"time"

	"killgate/killtask"
)

// DescribeKillRecordsRequest is killgate's DescribeKillRecords input.
type DescribeKillRecordsRequest struct {
	InstanceId string `json:"InstanceId"`
	TaskId     string `json:"TaskId"`
	Source     string `json:"Source"`
	StartTime  string `json:"StartTime"`
	EndTime    string `json:"EndTime"`
	Offset     int64  `json:"Offset"`
	Limit      *int64 `json:"Limit"`

	since, until time.Time
}

// KillRecord is one kill attempt of the history. TaskId is the kill task's
// id for Source "task", the SqlExecId for "manual" (KillMySqlThreads) and
// the intelligent-kill task id for "intelligent".
type KillRecord struct {
	RecordId   int64  `json:"RecordId"`
	Source     string `json:"Source"`
	TaskId     string `json:"TaskId"`
	InstanceId string `json:"InstanceId"`
	NodeId     string `json:"NodeId"`
	Product    string `json:"Product"`
	ThreadId   int64  `json:"ThreadId"`
	User       string `json:"User"`
	Host       string `json:"Host"`
	DB         string `json:"DB"`
	Command    string `json:"Command"`
	Time       int64  `json:"Time"`
	State      string `json:"State"`
	Info       string `json:"Info"`
	Outcome    string `json:"Outcome"`
	Error      string `json:"Error"`
	KillTime   string `json:"KillTime"`
	Replica    string `json:"Replica"` // replica that made the kill; empty with the embedded store
	// KillMode is the KILL sent: CONNECTION or QUERY; for Outcome
	// observed, the one the task would have sent; "" when none was sent
	// (changed, skipped) and in records written before it was recorded.
	KillMode string `json:"KillMode"`
	// MatchedFilter is the filter of the task the record is for, in one
	// line with CreateKillTask's names ("User=app Command=Sleep
	// TrxTime=60"); "" for manual and intelligent kills, for a task
	// without filters, and in records written before it was recorded.
	MatchedFilter string `json:"MatchedFilter"`
}

// DescribeKillRecordsResponse is its output.
type DescribeKillRecordsResponse struct {
	Records    []KillRecord `json:"Records"`
	TotalCount int64        `json:"TotalCount"`
}

// Validate checks the source, the time range and the paging.
func (r *DescribeKillRecordsRequest) Validate() error {
	switch r.Source {
	case "", killtask.SourceTask, killtask.SourceManual, killtask.SourceIntelligent:
	default:
		return E(InvalidParameterValue, "The parameter `Source` must be task, manual or intelligent; got `%s`.", r.Source)
	}
	var err error
	if r.since, err = parseAPITime("StartTime", r.StartTime, false); err != nil {
		return err
	}
	if r.until, err = parseAPITime("EndTime", r.EndTime, true); err != nil {
		return err
	}
	if !r.since.IsZero() && !r.until.IsZero() && !r.since.Before(r.until) {
		return E(InvalidParameterValue, "The parameter `EndTime` must not be before `StartTime`.")
	}
	return checkPage(r.Offset, r.Limit)
}

// parseAPITime reads a time parameter: ISO 8601 with an offset
// ("2024-05-01T08:00:00+08:00", "…Z", fractions allowed) or
// "YYYY-MM-DD HH:MM:SS", read as UTC. For an end bound (inclusive), the
// returned instant is just past the given second so that a KillTime copied
// from a record includes that record.
func parseAPITime(name, v string, end bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t, err = time.ParseInLocation(time.DateTime, v, time.UTC)
	}
	if err != nil {
		return time.Time{}, E(InvalidParameterValue, "The parameter `%s` must be like `2006-01-02T15:04:05+00:00` or `2006-01-02 15:04:05` (UTC); got `%s`.", name, v)
	}
	if end {
		if t.Nanosecond() == 0 {
			t = t.Add(time.Second)
		} else {
			t = t.Add(time.Millisecond)
		}
	}
	return t, nil
}

// DescribeKillRecords lists the kill history (task, manual and intelligent
// kills), newest first. A caller scoped to some instances sees only theirs.
func (s *Service) DescribeKillRecords(ctx context.Context, r *DescribeKillRecordsRequest) (*DescribeKillRecordsResponse, error) {
	scope, err := s.listScope(ctx, r.InstanceId)
	if err != nil {
		return nil, err
	}
	recs, total, err := s.eng.ListKillRecords(ctx, killtask.RecordQuery{
		InstanceID: r.InstanceId, InstanceIn: scope, TaskID: r.TaskId, Source: r.Source, Since: r.since, Until: r.until,
		Offset: int(r.Offset), Limit: pageLimit(r.Limit), MaxInfo: ListTextMax,
	})
	if err != nil {
		return nil, engineError(err, "Listing the kill history")
	}
	// Statement texts are cut at ListTextMax and the page stops before
	// ListByteBudget (listing.go); TotalCount still counts every row.
	out := &DescribeKillRecordsResponse{Records: make([]KillRecord, 0, len(recs)), TotalCount: total}
	var budget pageBudget
	for _, k := range recs {
		kr := KillRecord{
			RecordId: k.ID, Source: k.Source, TaskId: k.TaskID, InstanceId: k.InstanceID, NodeId: k.NodeID,
			Product: k.Product, ThreadId: int64(k.ThreadID), User: cutText(k.User), Host: cutText(k.Host), DB: cutText(k.DB),
			Command: cutText(k.Command), Time: k.Time, State: cutText(k.State), Info: cutTextOf(k.Info, max(k.InfoLen, len(k.Info))),
			Outcome: string(k.Outcome), Error: cutText(k.Error), KillTime: formatTime(k.KilledAt), Replica: k.Replica,
			KillMode: string(k.KillMode),
		}
		if f, ok := killtask.ParseMatched(k.Matched); ok {
			kr.MatchedFilter = cutText(filterSummary(f))
		}
		if !budget.fits(recordSizer.size(kr.Source, kr.TaskId, kr.InstanceId, kr.NodeId, kr.Product, kr.User, kr.Host, kr.DB,
			kr.Command, kr.State, kr.Info, kr.Outcome, kr.Error, kr.KillTime, kr.Replica, kr.KillMode, kr.MatchedFilter)) {
			break
		}
		out.Records = append(out.Records, kr)
	}
	return out, nil
}

var recordSizer = newRowSizer(KillRecord{})
