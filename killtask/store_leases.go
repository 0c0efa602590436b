package killtask

import (
	"context"
	"time"
)

// Lease and heartbeat rows of the shared store (scale-out; the design is at
// the top of lease.go).

// Lease is one node_leases row as read by Leases.
type Lease struct {
	Key       string
	Owner     string
	ExpiresMS int64 // store clock, Unix milliseconds; 0 = released
	Live      bool  // expires_ms > the store's now at the read
}

// dbNowMS is an SQL expression for the store's clock in Unix milliseconds.
// MySQL/MariaDB: UNIX_TIMESTAMP() and NOW(6) both read the statement's start
// time, and neither the seconds count nor the microsecond part depends on the
// session time zone. SQLite (one process) reads the local clock.
func (s *Store) dbNowMS() string {
	if s.driver == "mysql" {
		return "(UNIX_TIMESTAMP() * 1000 + FLOOR(MICROSECOND(NOW(6)) / 1000))"
	}
	return "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
}

func (s *Store) insertIgnore() string {
	if s.driver == "mysql" {
		return "INSERT IGNORE INTO"
	}
	return "INSERT OR IGNORE INTO"
}

// NowMS returns the store's clock (Unix milliseconds).
func (s *Store) NowMS(ctx context.Context) (int64, error) {
	var now int64
	err := s.db.GetContext(ctx, &now, "SELECT "+s.dbNowMS())
	return now, err
}

// AcquireLease makes owner the holder of the lease key for ttl when the
// lease is free, lapsed or already owner's. It reports whether owner holds it.
func (s *Store) AcquireLease(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if _, err := s.db.ExecContext(ctx, s.insertIgnore()+` node_leases (node_key, owner, expires_ms, acquired_ms, renewals) VALUES (?, '', 0, 0, 0)`, key); err != nil {
		return false, err
	}
	now := s.dbNowMS()
	// renewals always changes, so RowsAffected is 1 whenever the row matched.
	res, err := s.db.ExecContext(ctx, `UPDATE node_leases SET owner = ?, expires_ms = `+now+` + ?, acquired_ms = `+now+`, renewals = renewals + 1
		WHERE node_key = ? AND (expires_ms <= `+now+` OR owner = ?)`, owner, ttl.Milliseconds(), key, owner)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RenewLease extends owner's lease key by ttl if owner still holds it (the
// fencing check): false means the lease lapsed or another replica has it.
func (s *Store) RenewLease(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	now := s.dbNowMS()
	res, err := s.db.ExecContext(ctx, `UPDATE node_leases SET expires_ms = `+now+` + ?, renewals = renewals + 1
		WHERE node_key = ? AND owner = ? AND expires_ms > `+now, ttl.Milliseconds(), key, owner)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RenewLeases extends every lease owner still holds by ttl and returns how
// many it renewed.
func (s *Store) RenewLeases(ctx context.Context, owner string, ttl time.Duration) (int64, error) {
	now := s.dbNowMS()
	res, err := s.db.ExecContext(ctx, `UPDATE node_leases SET expires_ms = `+now+` + ?, renewals = renewals + 1
		WHERE owner = ? AND expires_ms > `+now, ttl.Milliseconds(), owner)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ReleaseLease gives up owner's lease key at once (another replica may take
// it at its next round).
func (s *Store) ReleaseLease(ctx context.Context, key, owner string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE node_leases SET expires_ms = 0, renewals = renewals + 1 WHERE node_key = ? AND owner = ?`, key, owner)
	return err
}

// Leases returns every lease row, with liveness judged by the store's clock.
func (s *Store) Leases(ctx context.Context) ([]Lease, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT node_key, owner, expires_ms, `+s.dbNowMS()+` FROM node_leases ORDER BY node_key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var l Lease
		var now int64
		if err := rows.Scan(&l.Key, &l.Owner, &l.ExpiresMS, &now); err != nil {
			return nil, err
		}
		l.Live = l.ExpiresMS > now
		out = append(out, l)
	}
	return out, rows.Err()
}

// Heartbeat records that replica is alive for ttl.
func (s *Store) Heartbeat(ctx context.Context, replica string, ttl time.Duration) error {
	now := s.dbNowMS()
	q := `INSERT INTO replicas (id, started_ms, expires_ms) VALUES (?, ` + now + `, ` + now + ` + ?) `
	if s.driver == "mysql" {
		q += `ON DUPLICATE KEY UPDATE expires_ms = VALUES(expires_ms)`
	} else {
		q += `ON CONFLICT(id) DO UPDATE SET expires_ms = excluded.expires_ms`
	}
	_, err := s.db.ExecContext(ctx, q, replica, ttl.Milliseconds())
	return err
}

// LiveReplicas returns the ids of replicas whose heartbeat has not expired.
func (s *Store) LiveReplicas(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.db.SelectContext(ctx, &ids, `SELECT id FROM replicas WHERE expires_ms > `+s.dbNowMS()+` ORDER BY id`)
	return ids, err
}

// RemoveReplica deletes a replica's heartbeat (graceful stop), and
// heartbeats that expired more than an hour ago.
func (s *Store) RemoveReplica(ctx context.Context, replica string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM replicas WHERE id = ? OR expires_ms < `+s.dbNowMS()+` - 3600000`, replica)
	return err
}
