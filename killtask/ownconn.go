package killtask

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/go-sql-driver/mysql"
)

// Every MySQL connection killgate opens (store, pollers, killers) goes through
// ownConnector, which asks the server for the connection's id and the
// server's identity and records both in a process-wide registry until the
// connection closes. The killer refuses to kill any id in the registry for
// the same server, whatever instance (DSN, address) it reached it through.
var own = ownRegistry{m: map[string]map[uint64]int{}}

type ownRegistry struct {
	mu sync.RWMutex
	m  map[string]map[uint64]int // server identity → connection id → refs
}

func (r *ownRegistry) add(server string, id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.m[server]
	if ids == nil {
		ids = map[uint64]int{}
		r.m[server] = ids
	}
	ids[id]++
}

func (r *ownRegistry) remove(server string, id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ids := r.m[server]; ids != nil {
		if ids[id]--; ids[id] <= 0 {
			delete(ids, id)
		}
	}
}

// IsOwnConnection reports whether the connection id on the server identified
// by server belongs to this process.
func IsOwnConnection(server string, id uint64) bool {
	own.mu.RLock()
	defer own.mu.RUnlock()
	_, ok := own.m[server][id]
	return ok
}

// OwnConnections returns a snapshot of this process's connection ids on server.
func OwnConnections(server string) map[uint64]bool {
	own.mu.RLock()
	defer own.mu.RUnlock()
	out := make(map[uint64]bool, len(own.m[server]))
	for id := range own.m[server] {
		out[id] = true
	}
	return out
}

type ownConnector struct {
	base driver.Connector
}

func newOwnConnector(cfg *mysql.Config) (*ownConnector, error) {
	base, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return &ownConnector{base: base}, nil
}

// OpenDB opens a connection pool to a MySQL-compatible server whose every
// connection is registered as killgate's own.
func OpenDB(cfg *mysql.Config) (*sql.DB, error) {
	c, err := newOwnConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func (c *ownConnector) Driver() driver.Driver { return c.base.Driver() }

func (c *ownConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	id, server, err := identify(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("killtask: identify connection: %w", err)
	}
	own.add(server, id)
	return &ownConn{conn: conn, server: server, id: id}, nil
}

// identify reads CONNECTION_ID() and a server identity. Two DSNs that reach
// one server (TCP and socket, two instance ids) yield the same identity.
func identify(ctx context.Context, conn driver.Conn) (uint64, string, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return 0, "", errors.New("driver connection cannot query")
	}
	rows, err := q.QueryContext(ctx, "SELECT /* killgate */ CONNECTION_ID(), @@hostname, @@port, @@server_id", nil)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	vals := make([]driver.Value, 4)
	if err := rows.Next(vals); err != nil {
		if err == io.EOF {
			err = errors.New("no row")
		}
		return 0, "", err
	}
	str := func(v driver.Value) string {
		switch x := v.(type) {
		case []byte:
			return string(x)
		default:
			return fmt.Sprint(x)
		}
	}
	var id uint64
	if _, err := fmt.Sscan(str(vals[0]), &id); err != nil {
		return 0, "", err
	}
	return id, str(vals[1]) + ":" + str(vals[2]) + "/" + str(vals[3]), nil
}

// ownConn passes every call through to the driver's connection and
// unregisters the id when the pool closes it.
type ownConn struct {
	conn   driver.Conn
	server string
	id     uint64
	once   sync.Once
}

// connInfo returns the server identity and connection id of a pinned
// *sql.Conn opened through OpenDB.
func connInfo(c *sql.Conn) (server string, id uint64, err error) {
	err = c.Raw(func(dc any) error {
		oc, ok := dc.(*ownConn)
		if !ok {
			return errors.New("killtask: connection not opened through OpenDB")
		}
		server, id = oc.server, oc.id
		return nil
	})
	return server, id, err
}

func (c *ownConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }
func (c *ownConn) Begin() (driver.Tx, error)                 { return c.conn.Begin() } //nolint:staticcheck // required by driver.Conn
func (c *ownConn) Close() error {
	c.once.Do(func() { own.remove(c.server, c.id) })
	return c.conn.Close()
}

func (c *ownConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return nil, errors.New("killtask: driver lacks BeginTx")
}

func (c *ownConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.conn.Prepare(query)
}

func (c *ownConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := c.conn.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *ownConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if q, ok := c.conn.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *ownConn) Ping(ctx context.Context) error {
	if p, ok := c.conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *ownConn) ResetSession(ctx context.Context) error {
	if r, ok := c.conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *ownConn) IsValid() bool {
	if v, ok := c.conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *ownConn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// redactDSNError keeps a DSN parse error from echoing the DSN (and its
// password) back to logs or callers.
func redactDSNError(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return err
	}
	return errors.New("invalid DSN (value not shown)")
}
