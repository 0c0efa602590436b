package killtask

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"
)

// The integration tests run against the real MariaDB of the test
// environment (127.0.0.1:3306, root, empty password; also the unix socket).
// TestMain creates users and schemas with a unique prefix and drops them at
// the end. Every engine a test starts is scoped to sessions of those users
// (WithScope), so nothing else on the shared server can be killed.
const (
	rootDSN    = "root@tcp(127.0.0.1:3306)/"
	socketPath = "/run/mysqld/mysqld.sock"
	userPW     = "pw"
)

type fixture struct {
	ok      bool
	why     string
	prefix  string   // kgt_<rand>_
	users   []string // victim users a, b, c
	engUser string   // a non-protected user the engine can connect as
	dbs     []string // d1, d2, d3
	storeDB string   // schema for the MySQL store tests
	root    *sql.DB  // the test's own connections (not registered as killgate's)
}

var fx fixture

func TestMain(m *testing.M) {
	_ = mysql.SetLogger(log.New(io.Discard, "", 0)) // killed victims make the driver log EOFs
	code := func() int {
		if err := setupFixture(); err != nil {
			fx.why = err.Error()
			if os.Getenv("CI") != "" {
				fmt.Fprintln(os.Stderr, "killtask: MariaDB fixture:", err)
				return 1
			}
		} else {
			fx.ok = true
			defer teardownFixture()
		}
		code := m.Run()
		if testing.Verbose() {
			fmt.Println("killtask: reaction times (task create → victim gone):", reactionSummary())
		}
		return code
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func setupFixture() error {
	db, err := sql.Open("mysql", rootDSN)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(8)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return err
	}
	fx.root = db
	fx.prefix = "kgt_" + randHex(3) + "_"
	fx.users = []string{fx.prefix + "a", fx.prefix + "b", fx.prefix + "c"}
	fx.engUser = fx.prefix + "eng"
	fx.dbs = []string{fx.prefix + "d1", fx.prefix + "d2", fx.prefix + "d3"}
	fx.storeDB = fx.prefix + "store"
	var stmts []string
	for _, d := range append(append([]string{}, fx.dbs...), fx.storeDB) {
		stmts = append(stmts, "CREATE DATABASE `"+d+"`")
	}
	for _, u := range append(append([]string{}, fx.users...), fx.engUser) {
		for _, h := range []string{"%", "localhost"} {
			stmts = append(stmts, fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", u, h, userPW))
			for _, d := range fx.dbs {
				stmts = append(stmts, fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%s'", d, u, h))
			}
		}
	}
	for _, h := range []string{"%", "localhost"} {
		stmts = append(stmts, fmt.Sprintf("GRANT PROCESS, CONNECTION ADMIN ON *.* TO '%s'@'%s'", fx.engUser, h))
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			teardownFixture()
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

func teardownFixture() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// End any session of ours that a test left behind, then drop everything.
	rows, err := fx.root.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER LIKE ?", fx.prefix+"%")
	if err == nil {
		var ids []uint64
		for rows.Next() {
			var id uint64
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		rows.Close()
		for _, id := range ids {
			_, _ = fx.root.ExecContext(ctx, fmt.Sprintf("KILL %d", id))
		}
	}
	for _, u := range append(append([]string{}, fx.users...), fx.engUser) {
		for _, h := range []string{"%", "localhost"} {
			_, _ = fx.root.ExecContext(ctx, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", u, h))
		}
	}
	for _, d := range append(append([]string{}, fx.dbs...), fx.storeDB) {
		_, _ = fx.root.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+d+"`")
	}
	fx.root.Close()
}

func needDB(t testing.TB) {
	t.Helper()
	if !fx.ok {
		t.Skip("MariaDB not available: " + fx.why)
	}
}

// inScope accepts only sessions of this run's test users.
func inScope(p *Process) bool { return strings.HasPrefix(p.User, fx.prefix) }
