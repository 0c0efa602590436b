package killtask

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The driver side of the own-connection registry (ownconn.go): a connector
// that wraps every connection killgate opens, reads its id off the server's
// greeting, identifies it and keeps it registered until it closes.

type ownConnector struct {
	base driver.Connector
	addr string
}

func newOwnConnector(cfg *mysql.Config) (*ownConnector, error) {
	cfg = cfg.Clone()
	c := &ownConnector{addr: cfg.Net + "(" + cfg.Addr + ")"}
	cfg.DialFunc = dialOwn
	base, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	c.base = base
	return c, nil
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

type pendingKey struct{}

// identifyHook, when set (tests only), runs between a connection's
// handshake and its identification: the window settle closes.
var identifyHook atomic.Pointer[func(context.Context)]

func (c *ownConnector) Connect(ctx context.Context) (driver.Conn, error) {
	pc := own.begin(c.addr)
	conn, err := c.base.Connect(context.WithValue(ctx, pendingKey{}, pc))
	if err != nil {
		own.end(pc, "", 0, false)
		return nil, err
	}
	if h := identifyHook.Load(); h != nil {
		(*h)(ctx)
	}
	id, server, err := identify(ctx, conn)
	if err != nil {
		own.end(pc, "", 0, false)
		conn.Close()
		return nil, fmt.Errorf("killtask: identify connection: %w", err)
	}
	own.add(server, id)
	own.end(pc, server, id, true)
	return &ownConn{conn: conn, server: server, id: id}, nil
}

// dialOwn dials like the driver does and, for a connection being opened by
// ownConnector, reads the connection id off the server's greeting.
func dialOwn(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	pc, _ := ctx.Value(pendingKey{}).(*pendingConn)
	if pc == nil {
		return nc, nil
	}
	return &greetConn{Conn: nc, pc: pc}, nil
}

// greetConn passes a connection through, parsing the first packet the server
// sends (Protocol::HandshakeV10: 4-byte header, protocol version 10, the
// server version NUL-terminated, then the 4-byte connection id).
type greetConn struct {
	net.Conn
	pc   *pendingConn
	buf  []byte
	done bool
}

const maxGreetSniff = 512

func (g *greetConn) Read(b []byte) (int, error) {
	n, err := g.Conn.Read(b)
	if !g.done && n > 0 {
		g.buf = append(g.buf, b[:n]...)
		id, ok, final := parseGreeting(g.buf)
		if ok {
			own.greet(g.pc, id)
		}
		if final || len(g.buf) >= maxGreetSniff {
			g.done, g.buf = true, nil
		}
	}
	return n, err
}

// parseGreeting extracts the connection id from the start of a server's
// greeting. final reports that no more bytes are needed (parsed, or not a
// greeting: an error packet or another protocol).
func parseGreeting(b []byte) (id uint32, ok, final bool) {
	const hdr = 4
	if len(b) < hdr+1 {
		return 0, false, false
	}
	if b[hdr] != 10 { // 0xff: an error packet ("Too many connections"); else not MySQL
		return 0, false, true
	}
	end := -1
	for i := hdr + 1; i < len(b); i++ {
		if b[i] == 0 {
			end = i
			break
		}
	}
	if end < 0 || len(b) < end+1+4 {
		return 0, false, false
	}
	return binary.LittleEndian.Uint32(b[end+1 : end+5]), true, true
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
	err := c.conn.Close()
	// The server may list the session for a moment after the client hung
	// up: keep the id registered a little longer (ids are not reused soon).
	c.once.Do(func() { time.AfterFunc(ownGrace, func() { own.remove(c.server, c.id) }) })
	return err
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
