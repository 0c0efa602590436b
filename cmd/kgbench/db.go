package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

const processlistQuery = "SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE, INFO FROM information_schema.PROCESSLIST"

// killgateQuery is killgate's full processlist read as of writing
// (killtask/node.go readList). The bare poller of the per-poll CPU figure
// uses the text observed from the running killgate when it can catch it
// (observeQueries), else this one; -floor-query overrides both.
const killgateQuery = "SELECT /* killgate */ ID, USER, HOST, DB, COMMAND, TIME, STATE, INFO FROM information_schema.PROCESSLIST"

// benchDB is the bench's own view of the shared MariaDB.
type benchDB struct {
	rootDSN string
	root    *sql.DB
	prefix  string // kgb<pid>_
	pw      string

	victimUser, sleeperUser, idleUser string
	schema                            string
	// Accounts with PROCESS + CONNECTION ADMIN, one per reader, so that the
	// server can count each one's statements apart (USER_STATISTICS):
	// killgate enforcing (kg), killgate at rest (rest), pt-kill (pt) and
	// the bare poller (floor).
	kgUser, restUser, ptUser, floorUser string
	nobody                              string // a user name no session has

	oldMaxConn int64
	raised     bool

	oldUserstat string // @@userstat before the bench turned it on; "" = untouched
}

func openBenchDB(rootDSN string, prefix string) (*benchDB, error) {
	db, err := sql.Open("mysql", rootDSN)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(16)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("MariaDB at %s: %w", rootDSN, err)
	}
	b := &benchDB{rootDSN: rootDSN, root: db, prefix: prefix, pw: "pw-" + prefix}
	b.victimUser, b.sleeperUser, b.idleUser, b.schema = prefix+"v", prefix+"s", prefix+"i", prefix+"db"
	b.kgUser, b.restUser, b.ptUser, b.floorUser, b.nobody = prefix+"k", prefix+"r", prefix+"p", prefix+"f", prefix+"nobody"
	return b, nil
}

func (b *benchDB) exec(q string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := b.root.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

// setup creates the throwaway users and schema and raises max_connections
// to want (if the open-files limit allows), returning the value in force.
func (b *benchDB) setup(want int64) (int64, error) {
	for _, u := range b.users() {
		priv := "USAGE"
		switch u {
		case b.kgUser, b.restUser, b.ptUser, b.floorUser:
			priv = "PROCESS, CONNECTION ADMIN"
		}
		for _, h := range []string{"%", "localhost"} {
			if err := b.exec(fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s'", u, h, b.pw)); err != nil {
				return 0, err
			}
			if err := b.exec(fmt.Sprintf("GRANT %s ON *.* TO '%s'@'%s'", priv, u, h)); err != nil {
				return 0, err
			}
		}
	}
	if err := b.exec("CREATE DATABASE IF NOT EXISTS `" + b.schema + "`"); err != nil {
		return 0, err
	}
	for _, u := range []string{b.victimUser, b.sleeperUser} {
		for _, h := range []string{"%", "localhost"} {
			if err := b.exec(fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%s'", b.schema, u, h)); err != nil {
				return 0, err
			}
		}
	}
	var cur, files int64
	if err := b.root.QueryRow("SELECT @@max_connections, @@open_files_limit").Scan(&cur, &files); err != nil {
		return 0, err
	}
	b.oldMaxConn = cur
	// MariaDB needs a few descriptors per connection beyond the socket
	// (table cache etc.); keep a margin.
	if lim := files - 1000; want > lim {
		want = lim
	}
	if want > cur {
		if err := b.exec(fmt.Sprintf("SET GLOBAL max_connections = %d", want)); err != nil {
			return cur, err
		}
		b.raised = true
		return want, nil
	}
	return cur, nil
}

// teardown drops the users and schema (killing their sessions first) and
// restores max_connections.
func (b *benchDB) teardown() {
	b.restoreUserstat()
	for _, u := range b.users() {
		_ = b.exec(fmt.Sprintf("KILL CONNECTION USER '%s'", u))
		for _, h := range []string{"%", "localhost"} {
			_ = b.exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", u, h))
		}
	}
	_ = b.exec("DROP DATABASE IF EXISTS `" + b.schema + "`")
	if b.raised {
		_ = b.exec(fmt.Sprintf("SET GLOBAL max_connections = %d", b.oldMaxConn))
		b.raised = false
	}
	b.root.Close()
}

func (b *benchDB) users() []string {
	return []string{b.victimUser, b.sleeperUser, b.idleUser, b.kgUser, b.restUser, b.ptUser, b.floorUser}
}

// enableUserstat turns MariaDB's per-account statistics on (userstat; off on
// this server) so that the statements of each reader's account can be
// counted from information_schema.USER_STATISTICS. It only adds counters;
// the previous value is restored by restoreUserstat (also at teardown).
func (b *benchDB) enableUserstat() error {
	var cur string
	if err := b.root.QueryRow("SELECT @@userstat").Scan(&cur); err != nil {
		return err
	}
	if cur == "1" || strings.EqualFold(cur, "ON") {
		return nil
	}
	if err := b.exec("SET GLOBAL userstat = 1"); err != nil {
		return err
	}
	b.oldUserstat = cur
	return nil
}

func (b *benchDB) restoreUserstat() {
	if b.oldUserstat != "" {
		_ = b.exec("SET GLOBAL userstat = " + b.oldUserstat)
		b.oldUserstat = ""
	}
}

// userStats returns SELECT_COMMANDS and ROWS_SENT of user from
// USER_STATISTICS (every SELECT the account ran while userstat was on and
// the rows they returned; 0 before its first). SHOW statements count in
// neither.
func (b *benchDB) userStats(user string) (selects, rowsSent int64) {
	_ = b.root.QueryRow("SELECT SELECT_COMMANDS, ROWS_SENT FROM information_schema.USER_STATISTICS WHERE USER = ?", user).Scan(&selects, &rowsSent)
	return selects, rowsSent
}

// comShowProcesslist returns the server-wide Com_show_processlist counter
// (pt-kill reads with SHOW FULL PROCESSLIST, which USER_STATISTICS does
// not count).
func (b *benchDB) comShowProcesslist() int64 {
	var name string
	var n int64
	_ = b.root.QueryRow("SHOW GLOBAL STATUS LIKE 'Com_show_processlist'").Scan(&name, &n)
	return n
}

func (b *benchDB) userDSN(user, db string) string {
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr, mc.DBName = user, b.pw, "tcp", "127.0.0.1:3306", db
	mc.Timeout = 10 * time.Second
	return mc.FormatDSN()
}

// sessions is a set of pinned connections of one user.
type sessions struct {
	db    *sql.DB
	conns []*sql.Conn
	ids   []uint64
}

// openSessions opens n idle sessions as user (to database db) with par
// concurrent dials.
func (b *benchDB) openSessions(user, db string, n int) (*sessions, error) {
	pool, err := sql.Open("mysql", b.userDSN(user, db))
	if err != nil {
		return nil, err
	}
	pool.SetMaxOpenConns(0)
	pool.SetMaxIdleConns(0)
	s := &sessions{db: pool, conns: make([]*sql.Conn, n), ids: make([]uint64, n)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range min(n, 32) {
		wg.Go(func() {
			for i := range next {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, err := pool.Conn(ctx)
				if err == nil {
					err = c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&s.ids[i])
				}
				cancel()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					if c != nil {
						c.Close()
					}
					continue
				}
				s.conns[i] = c
			}
		})
	}
	wg.Wait()
	if first != nil {
		s.close()
		return nil, fmt.Errorf("opening %d sessions as %s: %w", n, user, first)
	}
	return s, nil
}

func (s *sessions) close() {
	if s == nil {
		return
	}
	for _, c := range s.conns {
		if c != nil {
			c.Close()
		}
	}
	s.db.Close()
}

// timeProcesslist reads the processlist n times on one connection and
// returns the sorted durations and the row count of the last read.
func (b *benchDB) timeProcesslist(n int) ([]time.Duration, int, error) {
	ctx := context.Background()
	c, err := b.root.Conn(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	var out []time.Duration
	rowsN := 0
	for i := 0; i < n+2; i++ {
		t0 := time.Now()
		rows, err := c.QueryContext(ctx, processlistQuery)
		if err != nil {
			return nil, 0, err
		}
		var id uint64
		var user, host, db, cmd, state, info sql.NullString
		var tm sql.NullInt64
		rowsN = 0
		for rows.Next() {
			if err := rows.Scan(&id, &user, &host, &db, &cmd, &tm, &state, &info); err != nil {
				rows.Close()
				return nil, 0, err
			}
			rowsN++
		}
		rows.Close()
		if i >= 2 { // two warm-up reads
			out = append(out, time.Since(t0))
		}
		time.Sleep(5 * time.Millisecond)
	}
	slices.Sort(out)
	return out, rowsN, nil
}

// countRunning counts the sessions of user running a statement that starts
// with prefix.
func (b *benchDB) countRunning(user, prefix string) (int, error) {
	var n int
	err := b.root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND INFO LIKE CONCAT(?, '%')", user, prefix).Scan(&n)
	return n, err
}

// blocked runs query on every session of s; gone[i] receives the time the
// statement of session i returned (with the connection error of its KILL).
func (s *sessions) blocked(query string) []chan time.Time {
	gone := make([]chan time.Time, len(s.conns))
	for i, c := range s.conns {
		gone[i] = make(chan time.Time, 1)
		go func() {
			_, _ = c.ExecContext(context.Background(), query)
			gone[i] <- time.Now()
		}()
	}
	return gone
}

// waitRunning waits until n sessions of user run a statement starting with
// prefix.
func (b *benchDB) waitRunning(user, prefix string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := b.countRunning(user, prefix)
		if err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d sessions of %s run %q after %s", got, n, user, prefix, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockHolder holds a named user lock on its own root connection.
type lockHolder struct {
	name string
	conn *sql.Conn
}

func (b *benchDB) holdLock(name string) (*lockHolder, error) {
	ctx := context.Background()
	c, err := b.root.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var got sql.NullInt64
	if err := c.QueryRowContext(ctx, "SELECT GET_LOCK(?, 5)", name).Scan(&got); err != nil || got.Int64 != 1 {
		c.Close()
		return nil, fmt.Errorf("GET_LOCK(%s): %v %v", name, err, got)
	}
	return &lockHolder{name: name, conn: c}, nil
}

func (l *lockHolder) release() {
	_, _ = l.conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK(?)", l.name)
	l.conn.Close()
}
