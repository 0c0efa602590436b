package killtask

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// What a task's KILL ends (its mode) and how the KILL is sent on an
// instance (its method).

// KillMode is what a kill ends.
type KillMode string

// Kill modes.
const (
	// KillConnection ends the session (KILL CONNECTION): its statement and
	// its transaction, which rolls back. The default, as on DBbrain.
	KillConnection KillMode = "CONNECTION"
	// KillQuery ends only the running statement (KILL QUERY): the
	// connection stays usable, and a transaction it is in stays open (the
	// statement's changes roll back, earlier ones do not). pt-kill's
	// --kill-query.
	KillQuery KillMode = "QUERY"
)

// ParseKillMode reads a kill mode, ignoring case; "" is "".
func ParseKillMode(s string) (KillMode, bool) {
	switch m := KillMode(strings.ToUpper(strings.TrimSpace(s))); m {
	case "", KillConnection, KillQuery:
		return m, true
	}
	return "", false
}

// orDefault returns m, or KillConnection when m is "" (tasks and instances
// from before modes).
func (m KillMode) orDefault() KillMode {
	if m == "" {
		return KillConnection
	}
	return m
}

// KillMethod is how an instance's KILLs are sent.
type KillMethod string

// Kill methods.
const (
	// MethodKill sends KILL statements: the account needs CONNECTION ADMIN
	// (MariaDB ≥ 10.5.2), CONNECTION_ADMIN (MySQL 8) or SUPER to end other
	// accounts' sessions.
	MethodKill KillMethod = "kill"
	// MethodRDS calls mysql.rds_kill(id) and mysql.rds_kill_query(id), the
	// procedures managed servers (Amazon RDS and Aurora MySQL, some hosted
	// MariaDB) give accounts that may not KILL: the account needs EXECUTE on
	// them instead (and PROCESS, as always).
	MethodRDS KillMethod = "rds"
)

// ParseKillMethod reads a kill method; "" is MethodKill.
func ParseKillMethod(s string) (KillMethod, bool) {
	switch m := KillMethod(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return MethodKill, true
	case MethodKill, MethodRDS:
		return m, true
	}
	return "", false
}

// Procedures of MethodRDS.
const (
	rdsKillProc      = "mysql.rds_kill"
	rdsKillQueryProc = "mysql.rds_kill_query"
)

// killStatement is the statement that ends thread id (or, with queryID > 0,
// exactly the statement queryID of it) by method and mode. Ids are
// formatted from integers, never interpolated strings.
//
//   - kill, CONNECTION: KILL CONNECTION id
//   - kill, QUERY: KILL QUERY ID queryID where the server names statements
//     (MariaDB: it ends exactly the statement that was matched, and fails
//     with 1957 when that one has ended), else KILL QUERY id
//   - rds: CALL mysql.rds_kill(id) / CALL mysql.rds_kill_query(id)
func killStatement(method KillMethod, mode KillMode, id, queryID uint64) string {
	ids := strconv.FormatUint(id, 10)
	switch {
	case method == MethodRDS && mode == KillQuery:
		return "CALL /* killgate */ " + rdsKillQueryProc + "(" + ids + ")"
	case method == MethodRDS:
		return "CALL /* killgate */ " + rdsKillProc + "(" + ids + ")"
	case mode == KillQuery && queryID > 0:
		return "KILL /* killgate */ QUERY ID " + strconv.FormatUint(queryID, 10)
	case mode == KillQuery:
		return "KILL /* killgate */ QUERY " + ids
	}
	return "KILL /* killgate */ CONNECTION " + ids
}

// Matches reports whether the task acts on p: its filter matches, and a
// QUERY task only acts on a session that runs a statement (not Sleep) that
// no KILL QUERY of this process has ended already. Observe-only tasks match
// like the task they try out. Safety exclusions are the caller's.
func (t *Task) Matches(p *Process) bool {
	return t.modeAllows(p) && t.Filter.Match(p)
}

// match is Matches with the session's client host and trimmed statement
// computed by the caller (see Filter.match).
func (t *Task) match(p *Process, host, info string) bool {
	return t.modeAllows(p) && t.Filter.match(p, host, info)
}

func (t *Task) modeAllows(p *Process) bool {
	if t.Mode != KillQuery {
		return true
	}
	return !p.queryEnded && !strings.EqualFold(p.Command, "Sleep")
}

// kills reports whether the task kills p (it matches and is not
// observe-only).
func (t *Task) kills(p *Process) bool { return !t.Observe && t.Matches(p) }

// Key is the task's duplicate key: its filter's Key for a task that kills
// connections (so keys stored before modes stay valid), else a digest of
// the filter's key, the mode and observe-only. Two active tasks of one
// instance never share a key.
func (t *Task) Key() string {
	fk := t.Filter.Key()
	mode := t.Mode.orDefault()
	if mode == KillConnection && !t.Observe {
		return fk
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|mode=%s|observe=%t", fk, mode, t.Observe))
	return hex.EncodeToString(sum[:])
}

// matchedJSON is the filter as the kill history's Matched column keeps
// it: the stored form of the filter (as in the task's filter_json).
func (f Filter) matchedJSON() string {
	b, err := json.Marshal(f)
	if err != nil {
		return ""
	}
	return string(b)
}

// ParseMatched reads a kill record's Matched column back into the filter
// that matched ("" or unreadable: the empty filter and false).
func ParseMatched(s string) (Filter, bool) {
	var f Filter
	if s == "" || json.Unmarshal([]byte(s), &f) != nil {
		return Filter{}, false
	}
	return f, true
}
