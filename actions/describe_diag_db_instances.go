package actions

import (
	"context"
	"slices"
	"sort"
	"strings"

	"killgate/killtask"
)

// DescribeDiagDBInstancesRequest is DBbrain 2021-05-27
// DescribeDiagDBInstances' input. Regions is accepted and ignored (killgate
// has no regions).
type DescribeDiagDBInstancesRequest struct {
	IsSupported   *bool    `json:"IsSupported" kg:"required"`
	Product       string   `json:"Product" kg:"required"`
	Offset        int64    `json:"Offset"`
	Limit         *int64   `json:"Limit"`
	InstanceNames []string `json:"InstanceNames"`
	InstanceIds   []string `json:"InstanceIds"`
	Regions       []string `json:"Regions"`
}

// InstanceInfo is the Go SDK's InstanceInfo, reduced to the fields killgate
// knows, plus killgate's extensions (Health, Nodes, ActiveTaskCount), which
// SDK clients ignore.
type InstanceInfo struct {
	InstanceId      string       `json:"InstanceId"`
	InstanceName    string       `json:"InstanceName"`
	Region          string       `json:"Region"`
	Product         string       `json:"Product"`
	Status          int64        `json:"Status"` // 1: running normally (DBbrain's code); reachability is in Health
	IsSupported     bool         `json:"IsSupported"`
	Health          string       `json:"Health"` // "ok", "unreachable: …", "cannot kill: …" or "kills failing: …" (first node not ok)
	Nodes           []NodeHealth `json:"Nodes"`
	ActiveTaskCount int64        `json:"ActiveTaskCount"`
}

// NodeHealth is the health of one node of an instance (killgate extension).
type NodeHealth struct {
	NodeId string `json:"NodeId"`
	// Health is "ok", "unreachable: <error>" (the processlist cannot be
	// read), "cannot kill: <missing privileges>" or "kills failing:
	// <reason>" (reachable, but KILLs fail).
	Health        string   `json:"Health"`
	MissingGrants []string `json:"MissingGrants"` // privileges the node's account lacks; [] when none
	CheckTime     string   `json:"CheckTime,omitempty"`
}

// DescribeDiagDBInstancesResponse is its output, typed as the SDK's.
type DescribeDiagDBInstancesResponse struct {
	TotalCount   int64          `json:"TotalCount"`
	DbScanStatus int64          `json:"DbScanStatus"`
	Items        []InstanceInfo `json:"Items"`
}

// instanceRegion is what killgate reports as every instance's Region.
const instanceRegion = "local"

// diagProducts are the Product values DescribeDiagDBInstances accepts.
var diagProducts = []string{"mysql", "mariadb", "cynosdb"}

// Validate checks the product and the paging.
func (r *DescribeDiagDBInstancesRequest) Validate() error {
	if !slices.Contains(diagProducts, r.Product) {
		return E(InvalidParameterValue, "The parameter `Product` must be one of %v; got `%s`.", diagProducts, r.Product)
	}
	return checkPage(r.Offset, r.Limit)
}

// DescribeDiagDBInstances lists the configured instances of the product that
// the caller may use, with the health of their connections and the number of
// active kill tasks: what a dashboard may act on. IsSupported=false lists
// nothing (every instance killgate manages is supported).
func (s *Service) DescribeDiagDBInstances(ctx context.Context, r *DescribeDiagDBInstancesRequest) (*DescribeDiagDBInstancesResponse, error) {
	product, _ := productAlias(r.Product, diagProducts)
	out := &DescribeDiagDBInstancesResponse{DbScanStatus: 1, Items: []InstanceInfo{}}
	if !*r.IsSupported {
		return out, nil
	}
	infos, err := s.eng.Instances(ctx)
	if err != nil {
		return nil, engineError(err, "Listing the instances")
	}
	caller := CallerFrom(ctx)
	var items []InstanceInfo
	for _, in := range infos {
		switch {
		case in.Product != product, !caller.MayUse(in.ID):
			continue
		case len(r.InstanceIds) > 0 && !slices.Contains(r.InstanceIds, in.ID):
			continue
		case len(r.InstanceNames) > 0 && !slices.Contains(r.InstanceNames, in.ID):
			continue
		}
		item := InstanceInfo{
			InstanceId: in.ID, InstanceName: in.ID, Region: instanceRegion, Product: in.Product,
			Status: 1, IsSupported: true, Health: "ok", Nodes: []NodeHealth{}, ActiveTaskCount: int64(in.ActiveTasks),
		}
		for _, nid := range in.Nodes {
			h := in.Health[nid]
			nh := NodeHealth{NodeId: nid, Health: healthText(h), MissingGrants: append([]string{}, h.Missing...)}
			if !h.CheckedAt.IsZero() {
				nh.CheckTime = formatTime(h.CheckedAt)
			}
			if item.Health == "ok" && nh.Health != "ok" {
				item.Health = nh.Health
			}
			item.Nodes = append(item.Nodes, nh)
		}
		items = append(items, item)
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].InstanceId < items[j].InstanceId })
	out.TotalCount = int64(len(items))
	start := min(int(r.Offset), len(items))
	end := min(start+pageLimit(r.Limit), len(items))
	out.Items = append(out.Items, items[start:end]...)
	return out, nil
}

func healthText(h killtask.Health) string {
	if h.OK {
		if p := h.Problem(); p != "" {
			return p
		}
		return "ok"
	}
	msg := strings.TrimSpace(h.Error)
	if msg == "" {
		msg = "not checked yet"
	}
	return "unreachable: " + msg
}
