package killtask

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"
)

// Reading the processlist. One query per read, explicit columns, tagged
// /* killgate */, integer ids only.

const processCols = "ID, USER, HOST, DB, COMMAND, TIME, STATE, INFO"

// preciseCols adds MariaDB's TIME_MS (the time in the current statement,
// microsecond resolution) and QUERY_ID (a server-wide id of the statement
// being run): with them a session's crossing of a Time threshold is known to
// the millisecond and a new statement on the same connection is told from
// the old one (deadline.go).
const preciseCols = processCols + ", TIME_MS, QUERY_ID"

// source is where a node's processlist is read from.
type source struct {
	table   string // "" until detected
	precise bool   // TIME_MS and QUERY_ID are read
}

// source returns the node's processlist source, detecting it once:
// performance_schema.processlist where the server has performance_schema on
// and the table exists (MySQL 8.0.22+), else information_schema.PROCESSLIST
// — with TIME_MS and QUERY_ID where it has them (MariaDB, Percona Server has
// TIME_MS only and is read without either).
func (n *node) source(ctx context.Context, c *sql.Conn) source {
	n.mu.Lock()
	s := n.src
	n.mu.Unlock()
	if s.table != "" {
		return s
	}
	s = source{table: "information_schema.PROCESSLIST"}
	var on sql.NullString
	if err := c.QueryRowContext(ctx, "SELECT /* killgate */ @@performance_schema").Scan(&on); err != nil {
		return s // transient; detect again next time
	}
	if on.String == "1" || strings.EqualFold(on.String, "ON") {
		if rows, err := c.QueryContext(ctx, "SELECT /* killgate */ "+processCols+" FROM performance_schema.processlist LIMIT 0"); err == nil {
			rows.Close()
			s.table = "performance_schema.processlist"
		}
	}
	if s.table == "information_schema.PROCESSLIST" {
		if rows, err := c.QueryContext(ctx, "SELECT /* killgate */ "+preciseCols+" FROM information_schema.PROCESSLIST LIMIT 0"); err == nil {
			rows.Close()
			s.precise = true
		} else if ctx.Err() != nil {
			return source{table: s.table} // transient; detect again next time
		}
	}
	n.mu.Lock()
	n.src = s
	n.mu.Unlock()
	return s
}

// readStamp times one read on the client's clock.
type readStamp struct {
	sent, recv time.Time
	// self is how long the reading statement itself had run on the server
	// when the rows were computed (its own row's TIME_MS; precise sources
	// only, else -1). MariaDB computes every row's TIME_MS against one
	// instant, so a session's statement started at sent + self − Elapsed
	// (give or take the one-way network delay).
	self time.Duration
}

// readList reads the processlist through c into buf[:0]; with ids, only
// those threads (one query, integers only). It returns once this process's
// own connections among the rows can be told apart (own.settle).
func (n *node) readList(ctx context.Context, c *sql.Conn, ids []uint64, buf []Process) ([]Process, error) {
	ps, _, err := n.readListAt(ctx, c, ids, buf)
	return ps, err
}

// readListAt is readList with the read's timing.
func (n *node) readListAt(ctx context.Context, c *sql.Conn, ids []uint64, buf []Process) ([]Process, readStamp, error) {
	st := readStamp{self: -1}
	src := n.source(ctx, c)
	var b strings.Builder
	b.Grow(96 + 12*len(ids))
	b.WriteString("SELECT /* killgate */ ")
	if src.precise {
		b.WriteString(preciseCols)
	} else {
		b.WriteString(processCols)
	}
	b.WriteString(" FROM ")
	b.WriteString(src.table)
	if ids != nil {
		if len(ids) == 0 {
			return buf[:0], st, nil
		}
		b.WriteString(" WHERE ID IN (")
		var num [20]byte
		for i, id := range ids {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(strconv.AppendUint(num[:0], id, 10))
		}
		b.WriteByte(')')
	}
	server, self, err := connInfo(c)
	if err != nil {
		return buf[:0], st, n.wrap(err)
	}
	st.sent = time.Now()
	n.reads.Add(1)
	rows, err := c.QueryContext(ctx, b.String())
	if err != nil {
		return buf[:0], st, n.wrap(err)
	}
	defer rows.Close()
	out := buf[:0]
	var user, host, db, cmd, state, info sql.NullString
	var tm sql.NullInt64
	var tms sql.NullFloat64
	var qid sql.NullInt64
	dest := []any{nil, &user, &host, &db, &cmd, &tm, &state, &info}
	if src.precise {
		dest = append(dest, &tms, &qid)
	}
	for rows.Next() {
		var p Process
		dest[0] = &p.ID
		if err := rows.Scan(dest...); err != nil {
			return out, st, n.wrap(err)
		}
		p.User, p.Host, p.DB, p.Command, p.Time, p.State, p.Info = user.String, host.String, db.String, cmd.String, tm.Int64, state.String, info.String
		if src.precise {
			p.Elapsed, p.QueryID = time.Duration(tms.Float64*float64(time.Millisecond)), uint64(qid.Int64)
			// TIME counts whole-second boundaries since the statement's
			// start second, so it can be a second ahead of the time really
			// spent: Time is TIME_MS's whole seconds instead, so that a
			// Time filter matches when the session has run Time seconds.
			p.Time = int64(p.Elapsed / time.Second)
			if p.ID == self {
				st.self = p.Elapsed
			}
		} else {
			p.Elapsed = time.Duration(p.Time) * time.Second
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return out, st, n.wrap(err)
	}
	st.recv = time.Now()
	// Every session of ours in the read must be recognisable by the time the
	// caller applies the exclusions (see ownconn.go).
	if err := own.settle(ctx, server); err != nil {
		return out, st, n.wrap(err)
	}
	return out, st, nil
}
