package actions

import (
	"context"
	"time"
)

// InstanceReadiness is a configured instance as the gateway's /readyz lists
// it: no error text, host or DSN (they could name hosts and users an
// operator did not mean to publish); the log has the causes.
type InstanceReadiness struct {
	ID          string          `json:"id"`
	Product     string          `json:"product"`
	ActiveTasks int             `json:"active_tasks"`
	Nodes       []NodeReadiness `json:"nodes"`
}

// NodeReadiness is a node's last known state: ok, degraded (reachable, but
// cannot kill: Problem names missing grants or the failure class of its
// last KILL), failing (unreachable) or unknown (never checked).
type NodeReadiness struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Problem   string `json:"problem,omitempty"`
	CheckedAt string `json:"checked_at,omitempty"` // RFC 3339, UTC
}

// Readiness lists every configured instance with its nodes' states
// (Engine.Instances: nodes never polled are probed, bounded by ctx).
func (s *Service) Readiness(ctx context.Context) ([]InstanceReadiness, error) {
	infos, err := s.eng.Instances(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]InstanceReadiness, 0, len(infos))
	for _, in := range infos {
		ir := InstanceReadiness{ID: in.ID, Product: in.Product, ActiveTasks: in.ActiveTasks, Nodes: []NodeReadiness{}}
		for _, id := range in.Nodes {
			h := in.Health[id]
			n := NodeReadiness{ID: id, State: "unknown"}
			if !h.CheckedAt.IsZero() {
				n.CheckedAt = h.CheckedAt.UTC().Format(time.RFC3339)
				n.State = "failing"
				if h.OK {
					n.State = "ok"
					if n.Problem = h.Problem(); n.Problem != "" {
						n.State = "degraded"
					}
				}
			}
			ir.Nodes = append(ir.Nodes, n)
		}
		out = append(out, ir)
	}
	return out, nil
}
