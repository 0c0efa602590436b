package killtask

import (
	"context"
	"fmt"
	"sync"
	"time"
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
