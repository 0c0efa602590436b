package kgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries of a throwaway MariaDB server.
const (
	mariadbd         = "/usr/sbin/mariadbd"
	mariadbInstallDB = "/usr/bin/mariadb-install-db"
)

// MariaDB is a throwaway MariaDB server owned by one test: its own datadir
// and loopback port, started as a child process that the test may stop
// (SIGTERM), kill (SIGKILL) and start again on the same datadir and port.
// It is never the shared server on 127.0.0.1:3306.
type MariaDB struct {
	Port int
	Dir  string
	t    testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMariaDB installs a fresh datadir in a temp dir and starts a server on
// a free loopback port (root@127.0.0.1 with an empty password). It skips the
// test if the MariaDB binaries are not installed. The server is killed when
// the test ends.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	for _, b := range []string{mariadbd, mariadbInstallDB} {
		if _, err := os.Stat(b); err != nil {
			t.Skipf("throwaway MariaDB needs %s: %v", b, err)
		}
	}
	dir, err := os.MkdirTemp("", "kg-mariadb-")
	if err != nil {
		t.Fatal(err)
	}
	m := &MariaDB{Dir: dir, t: t}
	t.Cleanup(func() {
		m.Kill()
		os.RemoveAll(dir)
	})
	out, err := exec.Command(mariadbInstallDB, "--no-defaults", "--user=root", "--datadir="+filepath.Join(dir, "data"),
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	m.Start()
	return m
}

// Addr is the server's host:port.
func (m *MariaDB) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.Port) }

// DSN returns a go-sql-driver DSN for user (root if empty) with password pw
// and short connect/read timeouts.
func (m *MariaDB) DSN(user, pw, db string) string {
	if user == "" {
		user = "root"
	}
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?timeout=2s&readTimeout=10s&writeTimeout=10s", user, pw, m.Addr(), db)
}

// Start starts the server (again) and waits until it answers.
func (m *MariaDB) Start() {
	m.t.Helper()
	m.mu.Lock()
	if m.cmd != nil {
		m.mu.Unlock()
		m.t.Fatal("kgtest: MariaDB already running")
	}
	cmd := exec.Command(mariadbd, "--no-defaults", "--datadir="+filepath.Join(m.Dir, "data"),
		"--port="+strconv.Itoa(m.Port), "--bind-address=127.0.0.1", "--socket="+filepath.Join(m.Dir, "s.sock"),
		"--pid-file="+filepath.Join(m.Dir, "pid"), "--user=root", "--skip-log-bin", "--skip-name-resolve",
		"--innodb-buffer-pool-size=16M", "--max-connections=500", "--log-error="+filepath.Join(m.Dir, "error.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		m.t.Fatalf("start mariadbd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	db, err := sql.Open("mysql", m.DSN("", "", ""))
	if err != nil {
		m.t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(m.Dir, "error.log"))
			m.t.Fatalf("mariadbd exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("throwaway MariaDB not answering after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down cleanly (SIGTERM) and waits for it to exit.
func (m *MariaDB) Stop() { m.signal(syscall.SIGTERM) }

// Kill kills the server (SIGKILL), as a crash would, and waits for it.
func (m *MariaDB) Kill() { m.signal(syscall.SIGKILL) }

func (m *MariaDB) signal(sig syscall.Signal) {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd, m.done = nil, nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Root opens a root pool on the server, closed when the test ends.
func (m *MariaDB) Root(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", m.DSN("", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// CreateUser creates user@'%' and user@localhost with password pw and all
// rights on a schema of the same name, on the server root points at.
func CreateUser(t testing.TB, root *sql.DB, user, pw string) {
	t.Helper()
	for _, q := range []string{
		fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'", user, pw),
		fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'localhost' IDENTIFIED BY '%s'", user, pw),
		fmt.Sprintf("CREATE DATABASE IF NOT EXISTS `%s`", user),
		fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%%'", user, user),
		fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'localhost'", user, user),
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
