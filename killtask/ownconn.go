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

// killgate's own connections.
//
// Every MySQL connection killgate opens (store, pollers, killers, API reads)
// goes through ownConnector, which asks the server for the connection's id
// and the server's identity and records both in a process-wide registry
// until the connection closes (and for ownGrace after, while the server may
// still list it). The killer never kills an id in the registry for the same
// server, whatever instance (DSN, address) it reached it through.
//
// Ownership is never read from what a session shows (its statement text or
// its account name): any database user can type killgate's statements. The
// only gap is the few milliseconds between the moment a new connection
// exists on the server and the moment its id is registered. It is closed
// without trusting text:
//
//   - the connection's TCP/unix stream is wrapped from the dial on, and the
//     server's greeting (the first packet, which carries the connection id)
//     is read off the wire before the driver sees it; from then on the
//     connection is pending with that id;
//   - every processlist read (see readList) ends with settle: a pending
//     connection whose address is known to lead straight to the server that
//     was read (its greeting id equalled its CONNECTION_ID() before) is
//     excluded by its greeting id; any other pending connection that has
//     greeted (first connection to an address, a proxy in between) is
//     waited for until it is registered or gone, bounded by the read's
//     deadline. A read that cannot settle fails, and nothing is killed on it.
//
// A peer that accepts TCP but never greets (a wrong port) never blocks a
// read: only greeted connections can be in a processlist.
var own = newOwnRegistry()

// ownGrace is how long a closed connection's id stays registered: the
// server may list it for a moment after the client hung up.
const ownGrace = 5 * time.Second

type ownRegistry struct {
	mu      sync.Mutex
	m       map[string]map[uint64]int // server identity → connection id → refs
	pending map[*pendingConn]struct{}
	addrs   map[string]addrFacts // dial address → what identification learned
}

// pendingConn is a connection between its dial and its registration.
type pendingConn struct {
	addr    string // dial network and address, the key of addrs
	greeted bool   // the server's greeting was read: the session exists there
	greetID uint32 // connection id of the greeting (the proxy's, behind a proxy)
	done    chan struct{}
}

// addrFacts is what the last identification through an address learned.
type addrFacts struct {
	server string // server identity reached
	direct bool   // the greeting's id was the session's CONNECTION_ID(): no proxy
}

func newOwnRegistry() *ownRegistry {
	return &ownRegistry{m: map[string]map[uint64]int{}, pending: map[*pendingConn]struct{}{}, addrs: map[string]addrFacts{}}
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

// begin records a connection about to be dialled.
func (r *ownRegistry) begin(addr string) *pendingConn {
	pc := &pendingConn{addr: addr, done: make(chan struct{})}
	r.mu.Lock()
	r.pending[pc] = struct{}{}
	r.mu.Unlock()
	return pc
}

// greet records the connection id of a pending connection's greeting.
func (r *ownRegistry) greet(pc *pendingConn, id uint32) {
	r.mu.Lock()
	pc.greeted, pc.greetID = true, id
	r.mu.Unlock()
}

// end forgets a pending connection (registered or failed). On success the
// registration (add) has already happened, and what the identification
// learned about its address is kept.
func (r *ownRegistry) end(pc *pendingConn, server string, id uint64, ok bool) {
	r.mu.Lock()
	delete(r.pending, pc)
	if ok {
		r.addrs[pc.addr] = addrFacts{server: server, direct: pc.greeted && uint64(pc.greetID) == id&0xffffffff}
	}
	r.mu.Unlock()
	close(pc.done)
}

// ownView is this process's connections on one server as a processlist read
// must see them: registered ids, and greeting ids of pending connections
// known to lead straight there.
type ownView struct {
	ids     map[uint64]bool
	greeted map[uint32]bool
}

// Has reports whether id is one of this process's connections.
func (v ownView) Has(id uint64) bool {
	return v.ids[id] || (id <= 0xffffffff && v.greeted[uint32(id)])
}

// view returns the registry's view of server.
func (r *ownRegistry) view(server string) ownView {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := ownView{ids: make(map[uint64]bool, len(r.m[server]))}
	for id := range r.m[server] {
		v.ids[id] = true
	}
	for pc := range r.pending {
		if f, ok := r.addrs[pc.addr]; ok && pc.greeted && f.direct && f.server == server {
			if v.greeted == nil {
				v.greeted = map[uint32]bool{}
			}
			v.greeted[pc.greetID] = true
		}
	}
	return v
}

// settle waits until no pending connection could be an unregistered session
// of server (see the package comment above): it returns once every greeted
// pending connection that is not excluded by its greeting id, and whose
// address led to server or is not known yet, has ended; or ctx's error.
func (r *ownRegistry) settle(ctx context.Context, server string) error {
	r.mu.Lock()
	var wait []chan struct{}
	for pc := range r.pending {
		if !pc.greeted {
			continue
		}
		f, known := r.addrs[pc.addr]
		if known && (f.server != server || f.direct) {
			continue // elsewhere, or excluded by its greeting id (view)
		}
		wait = append(wait, pc.done)
	}
	r.mu.Unlock()
	for _, ch := range wait {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("killtask: waiting for killgate's own new connection to register: %w", ctx.Err())
		}
	}
	return nil
}

// IsOwnConnection reports whether the connection id on the server identified
// by server belongs to this process.
func IsOwnConnection(server string, id uint64) bool { return own.view(server).Has(id) }

// OwnConnections returns a snapshot of this process's registered connection
// ids on server.
func OwnConnections(server string) map[uint64]bool { return own.view(server).ids }

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

// redactDSNError keeps a DSN parse error from echoing the DSN (and its
// password) back to logs or callers.
func redactDSNError(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return err
	}
	return errors.New("invalid DSN (value not shown)")
}
