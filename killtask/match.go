package killtask

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// infoSpace is the leading whitespace ignored before an Info prefix, on both
// the filter side (trimInfos) and the session side (Match).
const infoSpace = " \t\r\n"

// Match reports whether the session p satisfies every non-empty field of f
// (AND); an empty filter matches every session. It does not apply the
// safety exclusions (see Exclusion): callers check those first. The rules:
//
//   - Host: ClientHost(p.Host) equals Host, case-insensitive;
//   - User: exact;
//   - DBs: p.DB equals one of them, exact (a session without a database
//     never matches a DB list);
//   - Commands: p.Command equals one of them, case-insensitive;
//   - Infos: p.Info, after leading whitespace, starts with one of them,
//     case-insensitive;
//   - MinTime: p.Time >= MinTime;
//   - MinTrxTime: p has an InnoDB transaction open for at least MinTrxTime
//     seconds (a session without one never matches);
//   - MinBlocked, MinBlockTime: p is the head of a lock-wait chain (it
//     blocks others and waits for no lock itself) with at least MinBlocked
//     sessions behind it and BlockTime >= MinBlockTime (see
//     applyLockWaits).
//
// The last two read fields that enrich fills only when a task needs them.
//
// f is expected in normalised form (Filter.Normalize; the store normalises on
// create). Match does not allocate.
func (f Filter) Match(p *Process) bool {
	return f.match(p, ClientHost(p.Host), strings.TrimLeft(p.Info, infoSpace))
}

// match is Match with the session's client host and trimmed statement
// computed once by the caller (the worker matches each session against
// every task). Cheap checks come first.
func (f *Filter) match(p *Process, host, info string) bool {
	if f.MinTime > 0 && p.Time < f.MinTime {
		return false
	}
	return f.matchButTime(p, host, info)
}

// paced reports whether a task with this filter can be enforced by Time
// crossings (deadline.go): it has a Time threshold and nothing that a
// processlist read cannot predict (open transactions, lock waits).
func (f *Filter) paced() bool {
	return f.MinTime > 0 && f.MinTrxTime == 0 && f.MinBlocked == 0 && f.MinBlockTime == 0
}

// matchButTime is match without the Time threshold: the session matches
// every other field and will match the filter once it has run MinTime
// (deadline.go).
func (f *Filter) matchButTime(p *Process, host, info string) bool {
	if f.User != "" && p.User != f.User {
		return false
	}
	if f.MinTrxTime > 0 && (!p.InTrx || p.TrxTime < f.MinTrxTime) {
		return false
	}
	if f.MinBlocked > 0 && (p.Waiting || int64(len(p.Blocked)) < f.MinBlocked || p.BlockTime < f.MinBlockTime) {
		return false
	}
	if len(f.DBs) > 0 {
		ok := false
		for _, d := range f.DBs {
			if p.DB == d {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.Commands) > 0 {
		ok := false
		for _, c := range f.Commands {
			if len(c) == len(p.Command) && strings.EqualFold(p.Command, c) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if f.Host != "" && (len(host) != len(f.Host) || !strings.EqualFold(host, f.Host)) {
		return false
	}
	if len(f.Infos) > 0 {
		ok := false
		for _, pre := range f.Infos {
			if hasPrefixFold(info, pre) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether s starts with prefix under Unicode simple
// case folding, without allocating.
func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		a, b := s[0], prefix[0]
		if a < utf8.RuneSelf && b < utf8.RuneSelf {
			if a != b && lowerASCII(a) != lowerASCII(b) {
				return false
			}
			s, prefix = s[1:], prefix[1:]
			continue
		}
		r1, n1 := utf8.DecodeRuneInString(s)
		r2, n2 := utf8.DecodeRuneInString(prefix)
		if !equalFoldRune(r1, r2) {
			return false
		}
		s, prefix = s[n1:], prefix[n2:]
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// Exclusion reasons: a session with one of these is never killed, whatever
// the filter.
const (
	ExclOwn          = "killgate's own connection"
	ExclSystemUser   = "system thread"
	ExclDaemon       = "daemon thread"
	ExclReplication  = "replication thread"
	ExclBeingKilled  = "already being killed"
	ExclProtected    = "protected user"
	ExclOutsideScope = "outside test scope"
)

// Exclusion returns why the session must never be killed, or "" when it may
// be. Every rule reads what the server decides, never what a client chose:
//
//   - server threads have no client host: an empty HOST (system user
//     threads, replica I/O and SQL threads, InnoDB and other background
//     threads); an account that merely calls itself `system user` or
//     `event_scheduler` connects from a host and is killable like any other;
//   - Command `Daemon` (the event scheduler, background threads) is set by
//     the server only;
//   - Command `Binlog Dump`, `Binlog Dump GTID`, `Register Slave` (a replica
//     on its primary: needs the REPLICATION SLAVE grant) and `Slave_*`;
//   - sessions already being killed (Command `Killed`, or a State saying so);
//   - users listed as protected by the operator.
//
// Statement text never excludes a session. killgate's own connections are
// checked by server identity and connection id (IsOwnConnection, ownconn.go).
func Exclusion(p *Process, protected map[string]struct{}) string {
	switch {
	case p.Host == "":
		return ExclSystemUser
	case strings.EqualFold(p.Command, "Daemon"):
		return ExclDaemon
	case hasPrefixFold(p.Command, "Binlog Dump"), hasPrefixFold(p.Command, "Slave_"),
		hasPrefixFold(p.Command, "Register Slave"):
		return ExclReplication
	case strings.EqualFold(p.Command, "Killed"), containsFoldASCII(p.State, "killed"):
		return ExclBeingKilled
	}
	if len(protected) > 0 {
		if _, ok := protected[p.User]; ok {
			return ExclProtected
		}
	}
	return ""
}

// containsFoldASCII reports whether s contains the lower-case ASCII word sub,
// ignoring ASCII case, without allocating.
func containsFoldASCII(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lowerASCII(s[i+j]) == sub[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// candidate is a session that matched a task in a poll.
type candidate struct {
	p    Process
	task int   // index into the poll's task slice (oldest first)
	t    *Task // that task
}

// matchProcesses appends to out every session of ps that is not excluded and
// matches one of tasks (oldest first), attributed to the oldest matching
// task that kills, and once more for each observe-only task that matches it.
// skip reports sessions not to consider now (own connections, kills in
// flight); it may be nil. It allocates only when out grows.
func matchProcesses(ps []Process, tasks []*Task, protected map[string]struct{}, skip func(id uint64) bool, scope func(*Process) bool, out []candidate) []candidate {
	observing := slices.ContainsFunc(tasks, func(t *Task) bool { return t.Observe })
	for i := range ps {
		p := &ps[i]
		if skip != nil && skip(p.ID) {
			continue
		}
		if Exclusion(p, protected) != "" {
			continue
		}
		if scope != nil && !scope(p) {
			continue
		}
		host, info := ClientHost(p.Host), strings.TrimLeft(p.Info, infoSpace)
		for ti, t := range tasks {
			if !t.Observe && t.match(p, host, info) {
				out = append(out, candidate{p: *p, task: ti, t: t})
				break
			}
		}
		// Each observe-only task records what it would kill, whatever the
		// other tasks do (it never takes a session from an armed one).
		for ti, t := range tasks {
			if observing && t.Observe && t.match(p, host, info) {
				out = append(out, candidate{p: *p, task: ti, t: t})
			}
		}
	}
	return out
}
