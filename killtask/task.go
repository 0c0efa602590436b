package killtask

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Status is the lifecycle state of a kill task.
type Status string

// Task states. A task is created Running and ends either Finished (its Duration
// elapsed, measured from creation) or Cancelled.
const (
	StatusRunning   Status = "Running"
	StatusFinished  Status = "Finished"
	StatusCancelled Status = "Cancelled"
)

// Forever is the Duration of a task that runs until it is cancelled.
const Forever int64 = -1

// Filter selects sessions. Every non-empty field must match (AND); an empty
// Filter matches every user session. See Match for the exact rules.
type Filter struct {
	Host     string   `json:"host,omitempty"`     // client host, port stripped; exact, case-insensitive
	User     string   `json:"user,omitempty"`     // exact
	DBs      []string `json:"dbs,omitempty"`      // any of; exact
	Commands []string `json:"commands,omitempty"` // any of; case-insensitive exact
	Infos    []string `json:"infos,omitempty"`    // any of; case-insensitive prefix after leading whitespace
	MinTime  int64    `json:"min_time,omitempty"` // TIME >= MinTime seconds; 0 = any

	// Beyond the processlist (read only while a task needs them, see
	// enrich.go). Zero = no filter; tasks stored before them have none.

	// MinTrxTime: the session's InnoDB transaction has been open at least
	// this many seconds (information_schema.innodb_trx.trx_started).
	MinTrxTime int64 `json:"min_trx_time,omitempty"`
	// MinBlocked: the session is the head of a lock-wait chain (it waits
	// for no lock itself) with at least this many sessions waiting on it,
	// directly or through others. MinBlockTime: it has held them up at
	// least this many seconds (see Process.BlockTime).
	MinBlocked   int64 `json:"min_blocked,omitempty"`
	MinBlockTime int64 `json:"min_block_time,omitempty"`
}

// Normalize trims list items, drops empty ones and returns the canonical form
// used to compare tasks for duplicates.
func (f Filter) Normalize() Filter {
	f.Host = strings.TrimSpace(f.Host)
	f.DBs = trimList(f.DBs)
	f.Commands = trimList(f.Commands)
	f.Infos = trimInfos(f.Infos)
	if f.MinBlockTime > 0 && f.MinBlocked == 0 {
		f.MinBlocked = 1 // "blocking someone for T seconds"
	}
	return f
}

// Equal reports whether two filters select exactly the same sessions by
// construction (same fields after normalisation, lists compared as sets):
// their Keys are equal.
func (f Filter) Equal(g Filter) bool { return f.Key() == g.Key() }

// Key returns a canonical digest of the normalised filter (64 hex digits):
// two filters have the same Key exactly when they select the same sessions
// by construction — Host compared case-insensitively, User and DBs exactly,
// Commands and Infos case-insensitively, lists as sets. The store keeps it
// with each task, so the duplicate check compares one string per active
// task instead of the filters' lists item by item. It costs O(n log n) in
// the filter's items.
func (f Filter) Key() string {
	f = f.Normalize()
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	set := func(tag string, items []string, fold bool) {
		c := make([]string, len(items))
		for i, s := range items {
			if fold {
				s = foldKey(s)
			}
			c[i] = s
		}
		slices.Sort(c)
		c = slices.Compact(c)
		put(tag)
		binary.BigEndian.PutUint64(n[:], uint64(len(c)))
		h.Write(n[:])
		for _, s := range c {
			put(s)
		}
	}
	put("host")
	put(foldKey(f.Host))
	put("user")
	put(f.User)
	put("min_time")
	put(strconv.FormatInt(f.MinTime, 10))
	set("dbs", f.DBs, false)
	set("commands", f.Commands, true)
	set("infos", f.Infos, true)
	// The filters beyond the processlist enter the key only when set, so
	// the keys of tasks stored before them are unchanged.
	for _, x := range []struct {
		tag string
		v   int64
	}{{"min_trx_time", f.MinTrxTime}, {"min_blocked", f.MinBlocked}, {"min_block_time", f.MinBlockTime}} {
		if x.v != 0 {
			put(x.tag)
			put(strconv.FormatInt(x.v, 10))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// foldKey maps s to a canonical representative under Unicode simple case
// folding (each rune to the smallest rune of its folding orbit), so that
// strings.EqualFold(a, b) exactly when foldKey(a) == foldKey(b).
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s { // invalid bytes read as U+FFFD, as EqualFold does
		m := r
		for x := unicode.SimpleFold(r); x != r; x = unicode.SimpleFold(x) {
			m = min(m, x)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// SplitList splits a comma-separated filter value ("test, test1") into trimmed,
// non-empty items.
func SplitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return trimList(strings.Split(s, ","))
}

func trimList(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func trimInfos(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimLeft(s, " \t\r\n"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Task is a kill task: a filter enforced on one instance until it expires or
// is cancelled.
type Task struct {
	ID         string
	InstanceID string
	Product    string
	Filter     Filter
	Duration   int64     // seconds; Forever (-1) = until cancelled
	CreatedAt  time.Time // UTC
	ExpiresAt  time.Time // zero when Duration == Forever
	Status     Status
	EndedAt    time.Time // zero while running
	Creator    string    // the caller identity that created it (as the API layer names callers)
	Kills      int64     // sessions killed so far
	LastError  string

	// Mode is what the task's KILL ends: the connection (KillConnection,
	// also "" in tasks stored before modes) or the running statement
	// (KillQuery). Engine.CreateTask fills "" with the instance's default.
	Mode KillMode
	// Observe makes the task observe-only: it matches and records each
	// session it would kill once (OutcomeObserved), and never sends a KILL.
	Observe bool
	// Observed counts the sessions an observe-only task recorded.
	Observed int64
}

// Expired reports whether a running task's duration has elapsed at now.
func (t *Task) Expired(now time.Time) bool {
	return t.Duration != Forever && !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// Process is one row of a server's processlist.
type Process struct {
	ID      uint64
	User    string
	Host    string // as the server shows it, usually "ip:port" or "localhost"
	DB      string
	Command string
	Time    int64 // seconds
	State   string
	Info    string
	// Elapsed is the time in the current statement (or idle): TIME_MS where
	// the server has it, else Time seconds. QueryID names the statement
	// (MariaDB's QUERY_ID; 0 when the server has none).
	Elapsed time.Duration `json:",omitempty"`
	QueryID uint64        `json:",omitempty"`

	// Read beside the processlist only when a task (or a preview) needs
	// them (enrich.go); zero otherwise.

	// InTrx: the session has an open InnoDB transaction (a row in
	// information_schema.innodb_trx), open for TrxTime seconds.
	InTrx   bool
	TrxTime int64
	// Waiting: the session waits for a row or metadata lock. Blocked lists
	// the sessions waiting on it, directly or through others (ascending);
	// BlockTime is how long it has held them up: the longest wait of a
	// session waiting on it directly, but at most its own TIME (see
	// applyLockWaits).
	Waiting   bool
	Blocked   []uint64
	BlockTime int64

	// queryEnded: the row's statement is one a KILL QUERY of this process
	// already ended (it may linger while it rolls back); see querykill.go.
	queryEnded bool
}

// ClientHost returns the host part of the HOST column with any port removed.
// IPv6 hosts may appear bracketed ("[::1]:5000") or bare.
func (p *Process) ClientHost() string { return ClientHost(p.Host) }

// ClientHost strips the port from a processlist HOST value.
func ClientHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]"); i > 0 {
			return h[1:i]
		}
		return h
	}
	i := strings.LastIndexByte(h, ':')
	if i < 0 {
		return h
	}
	if strings.IndexByte(h, ':') == i {
		return h[:i] // ipv4:port, name:port
	}
	// IPv6 is printed "%s:%u" without brackets ("::1:40918"): strip a
	// numeric port only when what is left is itself an IPv6 address, so a
	// bare address ("fe80::1") is left whole.
	if port := h[i+1:]; port != "" && len(port) <= 5 && strings.Trim(port, "0123456789") == "" && net.ParseIP(h[:i]) != nil {
		return h[:i]
	}
	return h
}

// Outcome of one kill attempt, as recorded in the history.
type Outcome string

// Kill outcomes.
const (
	OutcomeKilled  Outcome = "killed"  // KILL succeeded
	OutcomeGone    Outcome = "gone"    // session ended before the KILL (1094 or vanished at re-check)
	OutcomeChanged Outcome = "changed" // id now belongs to a session that no longer matches; not killed
	OutcomeFailed  Outcome = "failed"  // KILL returned another error
	OutcomeSkipped Outcome = "skipped" // protected/system session asked for by id; not killed
	// OutcomeObserved: an observe-only task matched the session; nothing
	// was sent.
	OutcomeObserved Outcome = "observed"
)

// Source of a kill.
const (
	SourceTask        = "task"
	SourceManual      = "manual"
	SourceIntelligent = "intelligent"
)

// KillRecord is one row of the kill history.
type KillRecord struct {
	ID         int64     `db:"id"`
	Source     string    `db:"source"`
	TaskID     string    `db:"task_id"`
	InstanceID string    `db:"instance_id"`
	NodeID     string    `db:"node_id"`
	Product    string    `db:"product"`
	ThreadID   uint64    `db:"thread_id"`
	User       string    `db:"user_name"`
	Host       string    `db:"host"`
	DB         string    `db:"db"`
	Command    string    `db:"command"`
	Time       int64     `db:"time_s"`
	State      string    `db:"state"`
	Info       string    `db:"info"`
	Outcome    Outcome   `db:"outcome"`
	Error      string    `db:"error"`
	KilledAt   time.Time `db:"killed_at"`
	Replica    string    `db:"replica"` // the process that made the kill (Config.ReplicaID, set by the engine)
	// KillMode is the KILL sent (KillConnection or KillQuery); for an
	// observed session, the one the task would send; "" when nothing was
	// sent (changed, skipped) and in rows written before it was recorded.
	KillMode KillMode `db:"kill_mode"`
	// Matched is the filter of the task the record is for, in its stored
	// JSON form (ParseMatched reads it); "" for manual and intelligent kills.
	Matched string `db:"matched"`
	// InfoLen is the full length in bytes of a statement text that a
	// listing read only the start of (RecordQuery.MaxInfo); 0 when Info
	// is whole.
	InfoLen int `db:"-"`
}
