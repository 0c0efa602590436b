package killtask

import "time"

// A KILL QUERY ends a statement and leaves its session. While the statement
// lingers (it rolls back, or the server has not noticed the kill yet; MySQL
// still shows it as running) the next poll would see the same statement
// again: the node remembers each statement its KILL QUERY ended and a
// QUERY task does not match it again (Task.modeAllows). A new statement on
// the same connection is a new match.

// stmtKey identifies a session's connection and, with stmt set, one
// statement of it.
type stmtKey struct {
	user, host string
	stmt       bool
	// queryID is the server's statement id where it shows one (MariaDB's
	// QUERY_ID): exact. Elsewhere a statement is its text and its start
	// (read time − TIME), equal within startSlack.
	queryID uint64
	info    string
	start   time.Time
}

// startSlack: TIME is whole seconds, so two reads of one statement put its
// start up to a second apart (plus the reads' own spread). Without a
// statement id, the same text started again within this of the ended one
// counts as the same statement.
const startSlack = 1500 * time.Millisecond

// connKey identifies p's connection.
func connKey(p *Process) stmtKey { return stmtKey{user: p.User, host: p.Host} }

// stmtKeyOf identifies p's statement, p read at about at.
func stmtKeyOf(p *Process, at time.Time) stmtKey {
	k := stmtKey{user: p.User, host: p.Host, stmt: true, queryID: p.QueryID}
	if p.QueryID == 0 {
		k.info, k.start = p.Info, at.Add(-time.Duration(p.Time)*time.Second)
	}
	return k
}

// same reports whether k and o identify the same connection (and statement).
func (k stmtKey) same(o stmtKey) bool {
	if k.user != o.user || k.host != o.host || k.stmt != o.stmt {
		return false
	}
	if !k.stmt {
		return true
	}
	if k.queryID != 0 || o.queryID != 0 {
		return k.queryID == o.queryID
	}
	d := k.start.Sub(o.start)
	return k.info == o.info && -startSlack <= d && d <= startSlack
}

// noteStatements marks the rows whose statement a KILL QUERY of this node
// ended (Process.queryEnded). A full read also forgets the statements whose
// session left or moved on.
func (n *node) noteStatements(ps []Process, full bool) {
	n.qmu.Lock()
	defer n.qmu.Unlock()
	if len(n.queryKilled) == 0 {
		return
	}
	now := time.Now()
	var present map[uint64]bool
	if full {
		present = make(map[uint64]bool, len(n.queryKilled))
	}
	for i := range ps {
		p := &ps[i]
		k, ok := n.queryKilled[p.ID]
		if !ok {
			continue
		}
		switch {
		case k.same(stmtKeyOf(p, now)):
			p.queryEnded = true
			if full {
				present[p.ID] = true
			}
		case full:
			delete(n.queryKilled, p.ID)
		}
	}
	if full {
		for id := range n.queryKilled {
			if !present[id] {
				delete(n.queryKilled, id)
			}
		}
	}
}

// rememberQueryKill notes that a KILL QUERY ended p's statement.
func (n *node) rememberQueryKill(p *Process) {
	n.qmu.Lock()
	defer n.qmu.Unlock()
	n.queryKilled[p.ID] = stmtKeyOf(p, time.Now())
}

// queryKilledBefore reports whether a KILL QUERY of this node already ended
// p's statement.
func (n *node) queryKilledBefore(p *Process) bool {
	n.qmu.Lock()
	defer n.qmu.Unlock()
	k, ok := n.queryKilled[p.ID]
	return ok && k.same(stmtKeyOf(p, time.Now()))
}
