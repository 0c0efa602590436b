package killtask

import (
	"errors"
	"fmt"
	"time"
)

// NodeConfig is one database node of an instance (an instance may list
// several, each polled and killed on separately).
type NodeConfig struct {
	ID  string
	DSN string
}

// InstanceConfig is one managed instance. Either DSN (a single node whose id
// is the instance id) or Nodes is set.
type InstanceConfig struct {
	ID string
	// Product is the caller's name for the kind of instance (stored with
	// tasks and history rows and reported back; killtask does not read it).
	Product        string
	DSN            string
	Nodes          []NodeConfig
	ProtectedUsers []string // sessions of these users are never killed
	// KillMethod is how KILLs are sent on the instance's nodes ("" =
	// MethodKill; MethodRDS on managed servers without the kill privilege).
	KillMethod KillMethod
	// DefaultKillMode is the mode of a task created without one ("" =
	// KillConnection).
	DefaultKillMode KillMode
}

// Config tunes the engine.
type Config struct {
	PollInterval time.Duration // default 500ms: the read interval while a task without Time is active
	// MaxReadInterval is the slowest a node is read while every active task
	// carries a Time threshold (read about every T/2, kills at the crossing
	// itself; see worker.go readEvery). Default 15s; at least PollInterval.
	MaxReadInterval     time.Duration
	MaxTasksPerInstance int           // default 5
	KillConcurrency     int           // concurrent KILLs per node, default 8
	KillTimeout         time.Duration // per KILL, default 5s (MariaDB can stall ~2s on SLEEP victims)
	HistoryMaxAge       time.Duration // 0 = keep forever; default 30 days
	HistoryMaxRows      int64         // 0 = unbounded; default 1,000,000

	// LeaseTTL > 0 turns on node leases (several replicas sharing a MySQL
	// store; see lease.go and docs/scale-out.md): a node is enforced only
	// by the replica holding its lease. 0 (the default, single process):
	// this engine enforces every node.
	LeaseTTL time.Duration
	// ReplicaID names this process in leases, heartbeats and the kill
	// history's replica column; empty = NewReplicaID().
	ReplicaID string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		PollInterval:        500 * time.Millisecond,
		MaxReadInterval:     15 * time.Second,
		MaxTasksPerInstance: 5,
		KillConcurrency:     8,
		KillTimeout:         5 * time.Second,
		HistoryMaxAge:       30 * 24 * time.Hour,
		HistoryMaxRows:      1_000_000,
	}
}

// MinLeaseTTL is the shortest LeaseTTL NewEngine accepts.
const MinLeaseTTL = 300 * time.Millisecond

// withDefaults fills the zero tunables from DefaultConfig (the history
// retention keeps its zero: it means "keep forever") and checks the rest.
func (c Config) withDefaults() (Config, error) {
	def := DefaultConfig()
	if c.PollInterval <= 0 {
		c.PollInterval = def.PollInterval
	}
	if c.MaxReadInterval <= 0 {
		c.MaxReadInterval = def.MaxReadInterval
	}
	c.MaxReadInterval = max(c.MaxReadInterval, c.PollInterval)
	if c.MaxTasksPerInstance <= 0 {
		c.MaxTasksPerInstance = def.MaxTasksPerInstance
	}
	if c.KillConcurrency <= 0 {
		c.KillConcurrency = def.KillConcurrency
	}
	if c.KillTimeout <= 0 {
		c.KillTimeout = def.KillTimeout
	}
	if c.ReplicaID == "" {
		c.ReplicaID = NewReplicaID()
	}
	if len(c.ReplicaID) > 128 {
		return c, errors.New("killtask: replica id longer than 128 bytes")
	}
	if c.LeaseTTL < 0 || (c.LeaseTTL > 0 && c.LeaseTTL < MinLeaseTTL) {
		return c, fmt.Errorf("killtask: lease TTL must be 0 (off) or at least %s", MinLeaseTTL)
	}
	return c, nil
}
