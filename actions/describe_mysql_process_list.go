package actions

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"

	"killgate/killtask"
)

// StatDimension is one requested statistic (the SDK's StatDimension).
type StatDimension struct {
	Dimension string   `json:"Dimension" kg:"required"`
	Data      []string `json:"Data"`
}

// DescribeMySqlProcessListRequest is DBbrain 2021-05-27
// DescribeMySqlProcessList's input.
type DescribeMySqlProcessListRequest struct {
	InstanceId     string          `json:"InstanceId" kg:"required"`
	ID             uint64          `json:"ID"`
	User           string          `json:"User"`
	Host           string          `json:"Host"`
	DB             string          `json:"DB"`
	State          string          `json:"State"`
	Command        string          `json:"Command"`
	Time           uint64          `json:"Time"`
	Info           string          `json:"Info"`
	Limit          *uint64         `json:"Limit"`
	Product        string          `json:"Product"`
	StatDimensions []StatDimension `json:"StatDimensions"`
	// NodeId (killgate extension) lists one node of an instance of several
	// (TDSQL-C); absent: every node.
	NodeId string `json:"NodeId"`
}

// MySqlProcess is one session, typed exactly as the Go SDK's MySqlProcess:
// every field is a string (Time in seconds, decimal); SqlType may be absent.
type MySqlProcess struct {
	ID      string  `json:"ID"`
	User    string  `json:"User"`
	Host    string  `json:"Host"`
	DB      string  `json:"DB"`
	State   string  `json:"State"`
	Command string  `json:"Command"`
	Time    string  `json:"Time"`
	Info    string  `json:"Info"`
	SqlType *string `json:"SqlType,omitempty"`
	// NodeId (killgate extension) is the node the session runs on; only
	// for instances of several nodes (thread ids are per node there).
	NodeId string `json:"NodeId,omitempty"`
}

// StatisticDataInfo is the SDK's StatisticDataInfo.
type StatisticDataInfo struct {
	Name    string  `json:"Name"`
	TimeAvg float64 `json:"TimeAvg"`
	TimeSum float64 `json:"TimeSum"`
	Count   int64   `json:"Count"`
}

// StatisticInfo is the SDK's StatisticInfo.
type StatisticInfo struct {
	Dimension string              `json:"Dimension"`
	Data      []StatisticDataInfo `json:"Data"`
}

// DescribeMySqlProcessListResponse is its output. Statistics is present only
// when StatDimensions was sent.
type DescribeMySqlProcessListResponse struct {
	ProcessList []MySqlProcess  `json:"ProcessList"`
	Statistics  []StatisticInfo `json:"Statistics,omitempty"`
}

const (
	defaultProcessLimit = 20
	maxProcessLimit     = 10000
	maxStatDimensions   = 10
	dimensionSqlTag     = "SqlTag"
)

// processListProducts are the Product values DescribeMySqlProcessList
// accepts; mariadb is an alias of mysql.
var processListProducts = []string{"mysql", "mariadb", "cynosdb"}

// Validate checks values that do not need the engine.
func (r *DescribeMySqlProcessListRequest) Validate() error {
	if h := strings.TrimSpace(r.Host); h != "" {
		if _, _, ok := hostFilter(h); !ok {
			return E(InvalidParameterValue, "The parameter `Host` must be an address or host name, optionally with a port (`10.0.0.5:51234`, `[2001:db8::1]:51234`); got `%s`.", h)
		}
	}
	if r.Limit != nil && (*r.Limit == 0 || *r.Limit > maxProcessLimit) {
		return E(InvalidParameterValue, "The parameter `Limit` must be 1 to %d; got %d.", maxProcessLimit, *r.Limit)
	}
	if len(r.StatDimensions) > maxStatDimensions {
		return E(InvalidParameterValue, "The parameter `StatDimensions` has more than %d items.", maxStatDimensions)
	}
	for i, d := range r.StatDimensions {
		if d.Dimension != dimensionSqlTag {
			return E(InvalidParameterValue, "The parameter `StatDimensions.%d.Dimension` must be `%s`; got `%s`.", i, dimensionSqlTag, d.Dimension)
		}
		for j, c := range d.Data {
			if _, ok := ParseTagCond(c); !ok {
				return E(InvalidParameterValue, "The parameter `StatDimensions.%d.Data.%d` must be `key` or `key=value`; got `%s`.", i, j, c)
			}
		}
	}
	return nil
}

// productAlias maps the accepted Product spellings to the configured
// product, checking the value first.
func productAlias(product string, accepted []string) (string, error) {
	if product == "" {
		return "", nil
	}
	if !slices.Contains(accepted, product) {
		return "", E(InvalidParameterValue, "The parameter `Product` must be one of %v; got `%s`.", accepted, product)
	}
	if product == "mariadb" {
		return "mysql", nil
	}
	return product, nil
}

// DescribeMySqlProcessList lists the live sessions of an instance (every
// node), without killgate's own connections, longest-running first.
func (s *Service) DescribeMySqlProcessList(ctx context.Context, r *DescribeMySqlProcessListRequest) (*DescribeMySqlProcessListResponse, error) {
	product, err := productAlias(r.Product, processListProducts)
	if err != nil {
		return nil, err
	}
	inst, err := s.instance(ctx, r.InstanceId, product, mysqlProducts)
	if err != nil {
		return nil, err
	}
	nodes, err := s.listNodes(inst, r.NodeId)
	if err != nil {
		return nil, err
	}
	f := processFilter{
		id: r.ID, user: r.User, host: strings.TrimSpace(r.Host), db: r.DB, state: r.State,
		command: r.Command, minTime: r.Time, info: r.Info,
	}
	var matched []killtask.Process
	var onNode []string // the node of each matched session
	for _, n := range nodes {
		ps, err := s.eng.ProcessList(ctx, inst.ID, n)
		if err != nil {
			return nil, engineError(err, "Reading the processlist")
		}
		for i := range ps {
			if f.match(&ps[i]) {
				matched, onNode = append(matched, ps[i]), append(onNode, n)
			}
		}
	}
	order := make([]int, len(matched))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return processBefore(&matched[order[i]], &matched[order[j]]) })
	sorted := make([]killtask.Process, len(matched))
	for i, k := range order {
		sorted[i] = matched[k]
	}
	matched = sorted
	limit := uint64(defaultProcessLimit)
	if r.Limit != nil {
		limit = *r.Limit
	}
	out := &DescribeMySqlProcessListResponse{ProcessList: toMySqlProcesses(matched[:min(uint64(len(matched)), limit)])}
	if len(inst.Nodes) > 0 {
		for i := range out.ProcessList {
			out.ProcessList[i].NodeId = onNode[order[i]]
		}
	}
	// Statistics below still cover every matching session.
	if len(r.StatDimensions) > 0 {
		samples := make([]TagSample, 0, len(matched))
		for i := range matched {
			if tags := ParseSqlTags(matched[i].Info); tags != nil {
				samples = append(samples, TagSample{Tags: tags, Time: matched[i].Time})
			}
		}
		out.Statistics = make([]StatisticInfo, 0, len(r.StatDimensions))
		for _, d := range r.StatDimensions {
			conds := make([]TagCond, 0, len(d.Data))
			for _, c := range d.Data {
				tc, _ := ParseTagCond(c) // checked by Validate
				conds = append(conds, tc)
			}
			si := StatisticInfo{Dimension: d.Dimension, Data: []StatisticDataInfo{}}
			for _, st := range SqlTagStats(samples, conds) {
				si.Data = append(si.Data, StatisticDataInfo{Name: st.Name, TimeAvg: st.TimeAvg, TimeSum: st.TimeSum, Count: st.Count})
			}
			out.Statistics = append(out.Statistics, si)
		}
	}
	return out, nil
}

// listNodes returns the nodes a listing reads: the one asked for, or every
// node of the instance ("" for an instance of one node).
func (s *Service) listNodes(inst killtask.InstanceConfig, nodeID string) ([]string, error) {
	if nodeID != "" {
		for _, n := range inst.Nodes {
			if n.ID == nodeID {
				return []string{nodeID}, nil
			}
		}
		if len(inst.Nodes) == 0 && nodeID == inst.ID {
			return []string{""}, nil
		}
		return nil, E(InvalidParameterValue, "The node `%s` in parameter `NodeId` is not part of instance `%s`.", nodeID, inst.ID)
	}
	if len(inst.Nodes) == 0 {
		return []string{""}, nil
	}
	out := make([]string, len(inst.Nodes))
	for i, n := range inst.Nodes {
		out[i] = n.ID
	}
	return out, nil
}

// processFilter is DescribeMySqlProcessList's filter: every set field must
// match. User, DB and Command are exact and case-insensitive; Host matches
// the whole HOST column when it carries a port ("v4:port", "name:port",
// "[v6]:port"), else the client host with the port stripped
// (case-insensitive; a bare IPv6 address is an address, never addr:port); State and Info are case-insensitive
// substrings; Time is a minimum.
type processFilter struct {
	id                    uint64
	user, host, db, state string
	command, info         string
	minTime               uint64
}

func (f *processFilter) match(p *killtask.Process) bool {
	switch {
	case f.id != 0 && p.ID != f.id:
		return false
	case f.user != "" && !strings.EqualFold(p.User, f.user):
		return false
	case f.db != "" && !strings.EqualFold(p.DB, f.db):
		return false
	case f.command != "" && !strings.EqualFold(p.Command, f.command):
		return false
	case f.minTime != 0 && (p.Time < 0 || uint64(p.Time) < f.minTime):
		return false
	case f.state != "" && !containsFold(p.State, f.state):
		return false
	case f.info != "" && !containsFold(p.Info, f.info):
		return false
	}
	if f.host != "" {
		addr, port, _ := hostFilter(f.host) // checked by Validate
		// With a port: the whole column, which the server prints with
		// IPv6 clients unbracketed ("::1:40918").
		if port != "" {
			return strings.EqualFold(p.Host, addr+":"+port)
		}
		return strings.EqualFold(p.ClientHost(), addr)
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// sortProcesses orders sessions longest-running first, then by id.
func sortProcesses(ps []killtask.Process) {
	sort.SliceStable(ps, func(i, j int) bool { return processBefore(&ps[i], &ps[j]) })
}

// processBefore orders a listing: longest-running first, then by id.
func processBefore(a, b *killtask.Process) bool {
	if a.Time != b.Time {
		return a.Time > b.Time
	}
	return a.ID < b.ID
}

// toMySqlProcesses renders sessions for a listing, in order, bounded in
// bytes (listing.go): each text is cut at ListTextMax and the list stops
// before ListByteBudget.
func toMySqlProcesses(ps []killtask.Process) []MySqlProcess {
	out := make([]MySqlProcess, 0, len(ps))
	var budget pageBudget
	for _, p := range ps {
		mp := MySqlProcess{
			ID: strconv.FormatUint(p.ID, 10), User: cutText(p.User), Host: cutText(p.Host), DB: cutText(p.DB), State: cutText(p.State),
			Command: cutText(p.Command), Time: strconv.FormatInt(p.Time, 10), Info: cutText(p.Info), SqlType: SqlType(p.Info),
		}
		n := processSizer.size(mp.ID, mp.User, mp.Host, mp.DB, mp.State, mp.Command, mp.Time, mp.Info)
		if mp.SqlType != nil {
			n += jsonStringLen(*mp.SqlType)
		}
		if !budget.fits(n) {
			break
		}
		out = append(out, mp)
	}
	return out
}

var processSizer = newRowSizer(MySqlProcess{})
