package killtask

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseGreeting(t *testing.T) {
	greeting := func(version string, id uint32) []byte {
		payload := append([]byte{10}, version...)
		payload = append(payload, 0)
		payload = binary.LittleEndian.AppendUint32(payload, id)
		payload = append(payload, "12345678\x00"...) // auth data part 1 and filler
		b := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), 0}
		return append(b, payload...)
	}
	full := greeting("10.11.19-MariaDB-0+deb12u1", 4242)
	tests := []struct {
		name      string
		in        []byte
		id        uint32
		ok, final bool
	}{
		{"mariadb-greeting", full, 4242, true, true},
		{"mysql-greeting", greeting("8.0.36", 0xfffffffe), 0xfffffffe, true, true},
		{"header-only", full[:4], 0, false, false},
		{"version-cut", full[:10], 0, false, false},
		{"id-cut", full[:4+1+len("10.11.19-MariaDB-0+deb12u1")+1+2], 0, false, false},
		{"error-packet", []byte{0x17, 0, 0, 0, 0xff, 0x10, 0x04, 'T', 'o', 'o'}, 0, false, true},
		{"not-mysql", []byte("SSH-2.0-OpenSSH_9.2\r\n"), 0, false, true},
		{"empty", nil, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok, final := parseGreeting(tt.in)
			if id != tt.id || ok != tt.ok || final != tt.final {
				t.Errorf("parseGreeting = (%d, %v, %v), want (%d, %v, %v)", id, ok, final, tt.id, tt.ok, tt.final)
			}
		})
	}
}

// A session cannot make itself look like one of killgate's own connections:
// running killgate's identification statement buys it nothing. Tasks,
// Preview, a manual kill and intelligent kill all treat it as any session.
func TestOwnStatementTextBuysNothing(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)
	const mimic = "SELECT /* killgate */ CONNECTION_ID(), "
	spec := victimSpec{name: "mimic", user: fx.users[0], mode: "lock", info: mimic}

	// Preview and intelligent kill list it.
	v := startVictim(t, lk, spec)
	pv, err := eng.Preview(ctx, "inst", Filter{User: fx.users[0]})
	if err != nil {
		t.Fatal(err)
	}
	if !containsID(pv, v.id) {
		t.Fatalf("preview does not list the session that mimics killgate: %v", pv)
	}
	is, err := eng.IntelligentSessions(ctx, "inst", "")
	if err != nil {
		t.Fatal(err)
	}
	if !containsID(is, v.id) {
		t.Fatalf("intelligent kill does not consider the session that mimics killgate")
	}
	// A manual kill kills it and records a kill, not a skip.
	res, err := eng.Kill(ctx, KillRequest{Instance: "inst", Sessions: threads(v.id), Match: MatchID, Record: true, Ref: "manual-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != OutcomeKilled {
		t.Fatalf("manual kill of the mimic: %+v", res)
	}
	waitGone(t, 5*time.Second, v)

	// A task kills it.
	v2 := startVictim(t, lk, victimSpec{name: "mimic-2", user: fx.users[0], mode: "lock", info: mimic})
	if err := eng.CreateTask(ctx, newTask("inst", Filter{User: fx.users[0]}, Forever)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, 5*time.Second, v2)
	if _, err := eng.CancelTasks(ctx, "inst"); err != nil {
		t.Fatal(err)
	}
}

// Accounts that call themselves after server threads (`system user`,
// `event_scheduler`) and connect like any client are killable: only an
// empty client host makes a server thread.
func TestSystemAccountNamesBuyNothing(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	lk := holdLock(t)
	names := []string{"system user", "event_scheduler"}
	for _, u := range names {
		for _, h := range []string{"%", "localhost"} {
			if _, err := fx.root.Exec(fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s'", u, h, userPW)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() {
		for _, u := range names {
			for _, h := range []string{"%", "localhost"} {
				_, _ = fx.root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", u, h))
			}
		}
	})
	var victims []*victim
	ids := map[uint64]bool{}
	for _, u := range names {
		for _, sock := range []bool{false, true} {
			v := startVictim(t, lk, victimSpec{name: u, user: u, mode: "lock", socket: sock})
			victims = append(victims, v)
			ids[v.id] = true
		}
	}
	onlyOurs := func(p *Process) bool { return ids[p.ID] } // only this test's sessions
	e, err := NewEngine(testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, testLogger(t), WithScope(onlyOurs))
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })

	pv, err := e.Preview(ctx, "inst", Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range victims {
		if !containsID(pv, v.id) {
			t.Errorf("preview does not offer %s", v)
		}
	}
	for _, u := range names {
		if err := e.CreateTask(ctx, newTask("inst", Filter{User: u}, Forever)); err != nil {
			t.Fatal(err)
		}
	}
	waitGone(t, 5*time.Second, victims...)
}

// killgate's own new connection is never killed in the moment between its
// handshake and its registration, even by a task that matches it, and
// without any statement text deciding it.
func TestOwnConnectionRegistrationWindow(t *testing.T) {
	needDB(t)
	ctx := context.Background()
	tcpDSN := fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/", fx.engUser, userPW)
	sockDSN := fmt.Sprintf("%s:%s@unix(%s)/", fx.engUser, userPW, socketPath)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{{ID: "inst", Product: "mysql", DSN: tcpDSN}}, false)
	if err := eng.CreateTask(ctx, newTask("inst", Filter{User: fx.engUser}, Forever)); err != nil {
		t.Fatal(err)
	}
	waitPolls(t, eng.Engine, "inst", "inst", 2)

	type stallKey struct{}
	var stalled atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	unstall := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unstall) // never leave a connection stalled, whatever fails
	hook := func(ctx context.Context) {
		if ctx.Value(stallKey{}) != nil {
			stalled.Add(1)
			<-release
		}
	}
	identifyHook.Store(&hook)
	t.Cleanup(func() { identifyHook.Store(nil) })

	// One stall at a time: each subtest arms a fresh release channel.
	arm := func() {
		release = make(chan struct{})
		once = sync.Once{}
	}
	for _, c := range []struct{ name, dsn string }{
		{"tcp-known-address", tcpDSN},   // excluded by its greeting id
		{"socket-new-address", sockDSN}, // first connection to the address: reads wait for it
	} {
		t.Run(c.name, func(t *testing.T) {
			mc, err := parseDSN(c.dsn)
			if err != nil {
				t.Fatal(err)
			}
			db, err := OpenDB(mc)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			arm()
			before := stalled.Load()
			got := make(chan error, 1)
			var id uint64
			go func() {
				cctx := context.WithValue(ctx, stallKey{}, true)
				conn, err := db.Conn(cctx)
				if err == nil {
					_, id, err = connInfo(conn)
					conn.Close()
				}
				got <- err
			}()
			waitFor(t, 5*time.Second, func() bool { return stalled.Load() > before }, "the new connection to stall before its registration")
			// The connection exists on the server, idle, as the engine's user:
			// the task matches it. Let several polls pass over it.
			polls := eng.PollCount("inst", "inst")
			deadline := time.Now().Add(3 * time.Second)
			for eng.PollCount("inst", "inst") < polls+5 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			unstall()
			if err := <-got; err != nil {
				t.Fatalf("killgate's own connection failed (killed during its registration?): %v", err)
			}
			if id == 0 {
				t.Fatal("no connection id")
			}
			st, _, _ := eng.store.ListKillRecords(ctx, RecordQuery{})
			for _, r := range st {
				if r.ThreadID == id {
					t.Fatalf("a kill of killgate's own connection was attempted: %+v", r)
				}
			}
		})
	}
	identifyHook.Store(nil)
	if _, err := eng.CancelTasks(ctx, "inst"); err != nil {
		t.Fatal(err)
	}
}

func containsID(ps []Process, id uint64) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}
