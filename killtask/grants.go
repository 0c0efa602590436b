package killtask

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// What killgate's account may do on a node. An account without PROCESS
// sees only its own sessions (tasks then match nothing, silently); one
// without the kill privilege gets error 1095 for every KILL. Both are
// reported, not discovered in the history: the node's account is checked
// when the node is first reached, and again while a problem stands.

// Grants is the result of checking the account of a node.
type Grants struct {
	CheckedAt time.Time
	// Missing names what the account lacks ("PROCESS", "CONNECTION ADMIN
	// (or SUPER)"); empty when it may read and kill every session.
	Missing []string
	// Unknown is set when the grants could not be read or parsed; Missing
	// is then empty and only failing KILLs can tell.
	Unknown string
}

// Problem describes what the account cannot do, or "".
func (g Grants) Problem() string {
	if len(g.Missing) == 0 {
		return ""
	}
	return "the account lacks " + strings.Join(g.Missing, " and ") + " (see docs/grants.md)"
}

// grantsRecheck is how often the grants of a node with a standing problem
// (a missing privilege, or KILLs denied) are read again.
const grantsRecheck = time.Minute

// checkGrants reads the grants of the connection's account (with its active
// roles: MariaDB's and MySQL's SHOW GRANTS include them) and the server
// version, and names what is missing to read and kill every session with
// the instance's kill method.
func checkGrants(ctx context.Context, c *sql.Conn, method KillMethod) Grants {
	g := Grants{CheckedAt: time.Now()}
	var version string
	if err := c.QueryRowContext(ctx, "SELECT /* killgate */ VERSION()").Scan(&version); err != nil {
		g.Unknown = "reading the server version failed"
		return g
	}
	rows, err := c.QueryContext(ctx, "SHOW /* killgate */ GRANTS")
	if err != nil {
		g.Unknown = "SHOW GRANTS failed"
		return g
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			g.Unknown = "SHOW GRANTS failed"
			return g
		}
		lines = append(lines, l)
	}
	if rows.Err() != nil {
		g.Unknown = "SHOW GRANTS failed"
		return g
	}
	g.Missing = missingGrants(version, lines, method)
	if method == MethodRDS && len(g.Missing) == 0 {
		// Granted, but do the procedures exist? (An account sees a routine
		// in information_schema.ROUTINES once it may execute it.)
		missing, err := missingProcedures(ctx, c)
		if err != nil {
			g.Unknown = "reading information_schema.ROUTINES failed"
			return g
		}
		g.Missing = missing
	}
	return g
}

// missingProcedures names the rds procedures the account cannot see.
func missingProcedures(ctx context.Context, c *sql.Conn) ([]string, error) {
	names, err := queryRows(ctx, c, "SELECT /* killgate */ LOWER(ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'mysql' AND ROUTINE_TYPE = 'PROCEDURE' AND ROUTINE_NAME IN ('rds_kill', 'rds_kill_query')",
		func(r *sql.Rows, name *string) error { return r.Scan(name) })
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	for _, name := range names {
		found["mysql."+name] = true
	}
	var missing []string
	for _, p := range []string{rdsKillProc, rdsKillQueryProc} {
		if !found[p] {
			missing = append(missing, "the procedure "+p+" (not found)")
		}
	}
	return missing, nil
}

// missingGrants names the privileges the account of lines (SHOW GRANTS
// output) lacks to read and kill every session on a server of the given
// version: PROCESS, and to kill, with MethodKill (or "") CONNECTION ADMIN
// (MariaDB ≥ 10.5.2), CONNECTION_ADMIN (MySQL 8) or SUPER, with MethodRDS
// EXECUTE on mysql.rds_kill and mysql.rds_kill_query (globally, on the
// mysql schema or on each procedure). ALL PRIVILEGES has them all.
func missingGrants(version string, lines []string, method KillMethod) []string {
	have := map[string]bool{}
	for _, l := range lines {
		privs, ok := globalPrivileges(l)
		if !ok {
			continue
		}
		for _, p := range privs {
			have[p] = true
		}
	}
	if have["ALL PRIVILEGES"] || have["ALL"] {
		return nil
	}
	var missing []string
	if !have["PROCESS"] {
		missing = append(missing, "PROCESS")
	}
	if method == MethodRDS {
		if have["EXECUTE"] {
			return missing
		}
		for _, proc := range []string{rdsKillProc, rdsKillQueryProc} {
			if !mayExecute(lines, proc) {
				missing = append(missing, "EXECUTE on "+proc)
			}
		}
		return missing
	}
	if !have["SUPER"] && !have["CONNECTION ADMIN"] && !have["CONNECTION_ADMIN"] {
		switch {
		case strings.Contains(strings.ToLower(version), "mariadb") && !versionBelow(version, 10, 5, 2):
			missing = append(missing, "CONNECTION ADMIN (or SUPER)")
		case strings.Contains(strings.ToLower(version), "mariadb"):
			missing = append(missing, "SUPER")
		case versionBelow(version, 8, 0, 0):
			missing = append(missing, "SUPER")
		default:
			missing = append(missing, "CONNECTION_ADMIN (or SUPER)")
		}
	}
	return missing
}

// globalPrivileges returns the privileges of a "GRANT … ON *.* TO …" line,
// upper-cased, and false for any other line (grants on schemas, role grants,
// SET DEFAULT ROLE).
func globalPrivileges(line string) ([]string, bool) {
	rest, ok := strings.CutPrefix(line, "GRANT ")
	if !ok {
		return nil, false
	}
	list, target, ok := strings.Cut(rest, " ON ")
	if !ok || !strings.HasPrefix(strings.TrimSpace(target), "*.* TO ") {
		return nil, false
	}
	var out []string
	for p := range strings.SplitSeq(list, ",") {
		if p = strings.ToUpper(strings.TrimSpace(p)); p != "" {
			out = append(out, p)
		}
	}
	return out, true
}

// mayExecute reports whether lines grant EXECUTE (or ALL PRIVILEGES) on
// the procedure proc ("schema.name") itself or on its whole schema.
func mayExecute(lines []string, proc string) bool {
	schema, name, _ := strings.Cut(proc, ".")
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, "GRANT ")
		if !ok {
			continue
		}
		list, target, ok := strings.Cut(rest, " ON ")
		if !ok {
			continue
		}
		target, _, ok = strings.Cut(strings.TrimSpace(target), " TO ")
		if !ok {
			continue
		}
		target = strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(target, "`", ""), "'", ""))
		if routine, ok := strings.CutPrefix(target, "procedure "); ok {
			if routine != schema+"."+name {
				continue
			}
		} else if target != schema+".*" {
			continue
		}
		for p := range strings.SplitSeq(list, ",") {
			if p = strings.ToUpper(strings.TrimSpace(p)); p == "EXECUTE" || p == "ALL PRIVILEGES" || p == "ALL" {
				return true
			}
		}
	}
	return false
}

// versionBelow reports whether a server version string ("10.11.19-MariaDB-…",
// "8.0.36", "5.5.5-10.4.1-MariaDB") is below major.minor.patch. An
// unparsable version is not below anything.
func versionBelow(v string, major, minor, patch int) bool {
	// MariaDB behind old clients may prefix "5.5.5-".
	if rest, ok := strings.CutPrefix(v, "5.5.5-"); ok {
		v = rest
	}
	var nums [3]int
	i := 0
	for _, part := range strings.SplitN(v, ".", 3) {
		n, digits := 0, 0
		for _, c := range part {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
			digits++
		}
		if digits == 0 {
			return false
		}
		nums[i] = n
		i++
	}
	want := [3]int{major, minor, patch}
	for j := range 3 {
		if nums[j] != want[j] {
			return nums[j] < want[j]
		}
	}
	return false
}

// Kill failure reasons (the history's error text starts with the reason's
// description; metrics count by reason).
const (
	FailDenied     = "denied"     // 1095 / 1227 / 1979 (KILL QUERY ID) / 1370 (rds procedure): the account may not kill this session
	FailTimeout    = "timeout"    // the KILL did not return within kill_timeout
	FailConnection = "connection" // no kill connection, or it broke
	FailOther      = "other"
)

// killFailure classifies a failed KILL.
func killFailure(err error) string {
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me) && (me.Number == 1095 || me.Number == 1227 || me.Number == 1979 || me.Number == 1370):
		return FailDenied // 1979: KILL QUERY ID; 1370: EXECUTE denied on a kill procedure (rds)
	case errors.Is(err, context.DeadlineExceeded):
		return FailTimeout
	case errors.As(err, &me):
		return FailOther
	case errors.Is(err, errOtherServer):
		return FailOther
	}
	return FailConnection
}

// deniedThread is a session whose KILL the server refused for lack of
// privilege. The poller does not retry it every poll: the first refusal is
// recorded in the history, later attempts wait for a growing back-off and a
// repeated refusal is not recorded again.
type deniedThread struct {
	user, host string // the connection (an id reused by another one starts afresh)
	next       time.Time
	backoff    time.Duration
}

const (
	deniedFirstBackoff = 5 * time.Second
	deniedMaxBackoff   = 5 * time.Minute
)

// deniedSnapshot returns the sessions under back-off at now (nil when none).
func (n *node) deniedSnapshot(now time.Time) map[uint64]deniedThread {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	if len(n.denied) == 0 {
		return nil
	}
	out := make(map[uint64]deniedThread, len(n.denied))
	for id, d := range n.denied {
		if now.Before(d.next) {
			out[id] = d
		}
	}
	return out
}

// pruneDenied forgets refused sessions that left the processlist or whose id
// now belongs to another connection.
func (n *node) pruneDenied(ps []Process) {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	if len(n.denied) == 0 {
		return
	}
	present := make(map[uint64]*Process, len(n.denied))
	for i := range ps {
		if _, ok := n.denied[ps[i].ID]; ok {
			present[ps[i].ID] = &ps[i]
		}
	}
	for id, d := range n.denied {
		if p, ok := present[id]; !ok || p.User != d.user || p.Host != d.host {
			delete(n.denied, id)
		}
	}
}

// noteKill records the result of a KILL of p on the node's state: a success
// clears the node's kill error; a failure sets it, and a refusal for lack of
// privilege starts or extends p's back-off. It returns whether the attempt
// goes into the history (not when the same session was refused before) and
// the history's error text.
func (n *node) noteKill(p Process, outcome Outcome, err error, backoff bool) (record bool, msg string) {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	switch outcome {
	case OutcomeKilled:
		if len(n.grants.Missing) > 0 {
			n.grants.CheckedAt = time.Time{} // a KILL worked: read the grants again
		}
		fallthrough
	case OutcomeGone:
		n.killErr = ""
		delete(n.denied, p.ID)
		return true, ""
	case OutcomeFailed:
	default:
		return true, ""
	}
	reason := killFailure(err)
	msg = reason + ": " + err.Error()
	switch reason {
	case FailDenied:
		n.killErr = "KILL refused by the server (the account lacks CONNECTION ADMIN or SUPER, or the session's account is protected by SYSTEM_USER); see docs/grants.md"
		if n.inst.cfg.KillMethod == MethodRDS {
			n.killErr = "kill procedure refused by the server (the account lacks EXECUTE on mysql.rds_kill or mysql.rds_kill_query, or the procedure refuses the session); see docs/grants.md"
		}
		n.deniedAt = time.Now()
	case FailTimeout:
		n.killErr = "KILL timed out (worker.kill_timeout)"
	default:
		n.killErr = "KILL failed (" + reason + ")"
	}
	if reason != FailDenied || !backoff {
		return true, msg
	}
	d, seen := n.denied[p.ID]
	if seen && d.user == p.User && d.host == p.Host {
		d.backoff = min(2*d.backoff, deniedMaxBackoff)
		d.next = time.Now().Add(d.backoff)
		n.denied[p.ID] = d
		return false, msg
	}
	n.denied[p.ID] = deniedThread{user: p.User, host: p.Host, backoff: deniedFirstBackoff, next: time.Now().Add(deniedFirstBackoff)}
	return true, msg + " (recorded once; retried with back-off while the session lasts)"
}

// anonymousAccounts counts the server's anonymous accounts (”@host), whose
// clients may send any user name, or returns 0 when the account may not
// read mysql.user (a killer account usually may not: nothing is known).
func anonymousAccounts(ctx context.Context, c *sql.Conn) int {
	var k int
	if err := c.QueryRowContext(ctx, "SELECT /* killgate */ COUNT(*) FROM mysql.user WHERE User = ''").Scan(&k); err != nil {
		return 0
	}
	return k
}
