package killtask

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// The kill history in the store: one row per kill attempt (task, manual and
// intelligent kills), batched writes, listing and retention.

const recordCols = `source, task_id, instance_id, node_id, product, thread_id, user_name, host, db, command, time_s, state, info, outcome, error, killed_ms, kill_mode, matched`

// AddKillRecords writes a batch of history rows in one transaction and adds
// the successful kills and the observed sessions to their tasks' counters.
func (s *Store) AddKillRecords(ctx context.Context, recs []KillRecord) error {
	if len(recs) == 0 {
		return nil
	}
	replica := s.Replica()
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		const chunk = 200
		for start := 0; start < len(recs); start += chunk {
			end := min(start+chunk, len(recs))
			var b strings.Builder
			b.WriteString(`INSERT INTO kill_records (` + recordCols + `, replica) VALUES `)
			args := make([]any, 0, (end-start)*19)
			for i, r := range recs[start:end] {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
				at := r.KilledAt
				if at.IsZero() {
					at = time.Now()
				}
				args = append(args, r.Source, r.TaskID, r.InstanceID, r.NodeID, r.Product, r.ThreadID,
					r.User, r.Host, r.DB, r.Command, r.Time, r.State, r.Info, string(r.Outcome), r.Error, ms(at),
					string(r.KillMode), nullIfEmpty(r.Matched), replica)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return err
			}
		}
		type counts struct{ killed, observed int64 }
		per := map[string]*counts{}
		for _, r := range recs {
			if r.Source != SourceTask || r.TaskID == "" || (r.Outcome != OutcomeKilled && r.Outcome != OutcomeObserved) {
				continue
			}
			c := per[r.TaskID]
			if c == nil {
				c = &counts{}
				per[r.TaskID] = c
			}
			if r.Outcome == OutcomeKilled {
				c.killed++
			} else {
				c.observed++
			}
		}
		for id, c := range per {
			if _, err := tx.ExecContext(ctx, `UPDATE tasks SET kills = kills + ?, observed = observed + ? WHERE id = ?`, c.killed, c.observed, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordQuery selects kill history rows. Zero values do not filter.
type RecordQuery struct {
	InstanceID string
	InstanceIn []string // as TaskQuery.InstanceIn
	TaskID     string
	Source     string
	Since      time.Time // inclusive
	Until      time.Time // exclusive
	Offset     int
	Limit      int // 0 = 20
	// MaxInfo > 0 reads only the start of long statement texts: at most
	// MaxInfo+1 characters, with the full length in KillRecord.InfoLen.
	MaxInfo int
}

type recordRow struct {
	ID int64 `db:"id"`
	KillRecord
	KilledMS int64 `db:"killed_ms"`
}

// ListKillRecords returns a page of history rows, newest first, and the total.
func (s *Store) ListKillRecords(ctx context.Context, q RecordQuery) ([]KillRecord, int64, error) {
	if q.InstanceIn != nil && len(q.InstanceIn) == 0 {
		return []KillRecord{}, 0, nil
	}
	var c conds
	c.scope(q.InstanceIn, q.InstanceID)
	c.add(q.TaskID != "", "task_id = ?", q.TaskID)
	c.add(q.Source != "", "source = ?", q.Source)
	c.add(!q.Since.IsZero(), "killed_ms >= ?", ms(q.Since))
	c.add(!q.Until.IsZero(), "killed_ms < ?", ms(q.Until))
	cond, args, total, err := s.count(ctx, "kill_records", c)
	if err != nil {
		return nil, 0, err
	}
	info, infoLen := "info", "0"
	if q.MaxInfo > 0 {
		// Only the start of each statement text, and its full length in
		// bytes: a listing never holds megabytes of SQL per row.
		info, infoLen = "SUBSTR(info, 1, "+strconv.Itoa(q.MaxInfo+1)+")", s.byteLen("info")
	}
	cols := `id, source, task_id, instance_id, node_id, product, thread_id, user_name, host, db, command, time_s, state, ` +
		info + `, outcome, error, killed_ms, replica, ` + infoLen + `, kill_mode, COALESCE(matched, '')`
	rows, err := s.db.QueryxContext(ctx, `SELECT `+cols+` FROM kill_records`+cond+` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, limitOr(q.Limit, 20), q.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []KillRecord
	for rows.Next() {
		var r KillRecord
		var outcome, mode string
		var killedMS int64
		if err := rows.Scan(&r.ID, &r.Source, &r.TaskID, &r.InstanceID, &r.NodeID, &r.Product, &r.ThreadID,
			&r.User, &r.Host, &r.DB, &r.Command, &r.Time, &r.State, &r.Info, &outcome, &r.Error, &killedMS, &r.Replica, &r.InfoLen,
			&mode, &r.Matched); err != nil {
			return nil, 0, err
		}
		r.KillMode = KillMode(mode)
		if r.InfoLen <= len(r.Info) {
			r.InfoLen = 0 // whole
		}
		r.Outcome, r.KilledAt = Outcome(outcome), fromMS(killedMS)
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// PruneHistory deletes history rows older than cutoff (if not zero) and then
// the oldest rows beyond maxRows (if > 0). It returns the rows deleted.
func (s *Store) PruneHistory(ctx context.Context, cutoff time.Time, maxRows int64) (int64, error) {
	var n int64
	if !cutoff.IsZero() {
		d, err := s.exec(ctx, `DELETE FROM kill_records WHERE killed_ms < ?`, ms(cutoff))
		if err != nil {
			return n, err
		}
		n += d
	}
	if maxRows > 0 {
		// Ids only grow: the newest row beyond the kept ones and every
		// older one go.
		var ids []int64
		if err := s.db.SelectContext(ctx, &ids, `SELECT id FROM kill_records ORDER BY id DESC LIMIT 1 OFFSET ?`, maxRows); err != nil {
			return n, err
		}
		if len(ids) == 1 {
			d, err := s.exec(ctx, `DELETE FROM kill_records WHERE id <= ?`, ids[0])
			if err != nil {
				return n, err
			}
			n += d
		}
	}
	return n, nil
}

// nullIfEmpty stores "" as NULL (the matched column of rows without a
// filter).
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
