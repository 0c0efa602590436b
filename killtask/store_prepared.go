package killtask

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Prepared kills: the first stage of a two-stage kill stores the sessions
// to kill; the second consumes it exactly once and kills them.
//
// They live in the table sql_execs (created by migration 1 under the name
// the first API door gave them). The table keeps its name: a rename would
// need a migration step on every store, SQLite and shared MySQL alike, for
// no change in behaviour.

// PreparedKill is a stored first stage of a two-stage kill.
type PreparedKill struct {
	ID         string
	InstanceID string
	Product    string
	Threads    []uint64
	// Targets are the sessions found at preparation: node and connection
	// identity of each thread id (ids not found have no target).
	Targets   []Process
	Nodes     []string // node of each target
	CreatedAt time.Time
	ExpiresAt time.Time
	Creator   string
}

// preparedPayload is what threads_json holds (a bare id list in rows
// written before targets existed).
type preparedPayload struct {
	Threads []uint64  `json:"threads"`
	Targets []Process `json:"targets,omitempty"`
	Nodes   []string  `json:"nodes,omitempty"`
}

// SavePreparedKill stores a prepared kill.
func (s *Store) SavePreparedKill(ctx context.Context, pk PreparedKill) error {
	tj, err := json.Marshal(preparedPayload{Threads: pk.Threads, Targets: pk.Targets, Nodes: pk.Nodes})
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO sql_execs (id, instance_id, product, threads_json, created_ms, expires_ms, committed_ms, creator) VALUES (?,?,?,?,?,?,0,?)`,
		pk.ID, pk.InstanceID, pk.Product, string(tj), ms(pk.CreatedAt), ms(pk.ExpiresAt), pk.Creator)
	return err
}

// TakePreparedKill consumes a prepared kill exactly once: it returns
// ErrNotFound for an unknown id (or one of another instance), ErrExpired
// after its expiry and ErrUsed for a second take. The claim is a single
// conditional UPDATE, so two concurrent takes (on one or several replicas)
// cannot both win.
func (s *Store) TakePreparedKill(ctx context.Context, id, instanceID string, now time.Time) (PreparedKill, error) {
	var row struct {
		ID          string `db:"id"`
		InstanceID  string `db:"instance_id"`
		Product     string `db:"product"`
		ThreadsJSON string `db:"threads_json"`
		CreatedMS   int64  `db:"created_ms"`
		ExpiresMS   int64  `db:"expires_ms"`
		CommittedMS int64  `db:"committed_ms"`
		Creator     string `db:"creator"`
	}
	err := s.get(ctx, &row, `SELECT id, instance_id, product, threads_json, created_ms, expires_ms, committed_ms, creator FROM sql_execs WHERE id = ?`, id)
	if err == nil && row.InstanceID != instanceID {
		err = ErrNotFound // another instance's: as unknown
	}
	if err != nil {
		return PreparedKill{}, err
	}
	if row.CommittedMS != 0 {
		return PreparedKill{}, ErrUsed
	}
	if row.ExpiresMS <= ms(now) {
		return PreparedKill{}, ErrExpired
	}
	res, err := s.db.ExecContext(ctx, `UPDATE sql_execs SET committed_ms = ? WHERE id = ? AND committed_ms = 0 AND expires_ms > ?`, ms(now), id, ms(now))
	if err != nil {
		return PreparedKill{}, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return PreparedKill{}, ErrUsed
	}
	pk := PreparedKill{ID: row.ID, InstanceID: row.InstanceID, Product: row.Product, CreatedAt: fromMS(row.CreatedMS), ExpiresAt: fromMS(row.ExpiresMS), Creator: row.Creator}
	if strings.HasPrefix(row.ThreadsJSON, "[") {
		err = json.Unmarshal([]byte(row.ThreadsJSON), &pk.Threads)
	} else {
		var pl preparedPayload
		err = json.Unmarshal([]byte(row.ThreadsJSON), &pl)
		pk.Threads, pk.Targets, pk.Nodes = pl.Threads, pl.Targets, pl.Nodes
	}
	if err != nil || len(pk.Targets) != len(pk.Nodes) {
		return PreparedKill{}, fmt.Errorf("killtask: prepared kill %s is malformed: %v", row.ID, err)
	}
	return pk, nil
}

// PrunePreparedKills deletes prepared kills that expired before cutoff.
func (s *Store) PrunePreparedKills(ctx context.Context, cutoff time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sql_execs WHERE expires_ms < ?`, ms(cutoff))
	return err
}
