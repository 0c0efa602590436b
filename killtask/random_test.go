package killtask

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// oracleMatch is an independent, deliberately naive statement of the task
// semantics, used to check the engine: lower-case everything that is
// case-insensitive, compare whole strings.
func oracleMatch(f Filter, user, host, db, command, info string, tm int64) bool {
	if f.Host != "" && strings.ToLower(f.Host) != strings.ToLower(host) {
		return false
	}
	if f.User != "" && f.User != user {
		return false
	}
	if len(f.DBs) > 0 {
		found := false
		for _, d := range f.DBs {
			found = found || strings.TrimSpace(d) == db
		}
		if !found {
			return false
		}
	}
	if len(f.Commands) > 0 {
		found := false
		for _, c := range f.Commands {
			found = found || strings.ToLower(strings.TrimSpace(c)) == strings.ToLower(command)
		}
		if !found {
			return false
		}
	}
	if len(f.Infos) > 0 {
		stmt := strings.ToLower(strings.TrimLeft(info, " \t\r\n"))
		found := false
		for _, p := range f.Infos {
			p = strings.ToLower(strings.TrimLeft(p, " \t\r\n"))
			found = found || (p != "" && strings.HasPrefix(stmt, p))
		}
		if !found {
			return false
		}
	}
	return tm >= f.MinTime
}

// TestRandomizedAgainstOracle runs rounds of random filters over a random
// population of sessions; the set the engine kills (history rows and dead
// sessions) must equal the oracle's, and every other session survives.
func TestRandomizedAgainstOracle(t *testing.T) {
	needDB(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KILLGATE_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (KILLGATE_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	ctx := context.Background()
	lk := holdLock(t)
	eng := startEngine(t, testConfig(), newStore(t), []InstanceConfig{rootInstance("inst")}, false)

	infos := []string{"SELECT ", "select 'alpha', ", "  DO ", "SELECT 'beta', "}
	dbs := []string{"", fx.dbs[0], fx.dbs[1]}
	randSpec := func(i int) victimSpec {
		s := victimSpec{
			name:   fmt.Sprintf("r%d", i),
			user:   fx.users[rng.IntN(len(fx.users))],
			db:     dbs[rng.IntN(len(dbs))],
			socket: rng.IntN(2) == 0,
			mode:   "idle",
		}
		if rng.IntN(3) > 0 {
			s.mode = "lock"
			s.info = infos[rng.IntN(len(infos))]
		}
		return s
	}
	pick := func(from []string) []string {
		var out []string
		for _, x := range from {
			if rng.IntN(2) == 0 {
				out = append(out, x)
			}
		}
		if len(out) == 0 {
			out = append(out, from[rng.IntN(len(from))])
		}
		return out
	}
	randFilter := func() Filter {
		var f Filter
		if rng.IntN(4) == 0 {
			f.Host = []string{"localhost", "127.0.0.1", "LOCALHOST", "10.0.0.1"}[rng.IntN(4)]
		}
		if rng.IntN(3) == 0 {
			f.User = fx.users[rng.IntN(len(fx.users))]
		}
		if rng.IntN(3) == 0 {
			f.DBs = pick([]string{fx.dbs[0], fx.dbs[1], fx.dbs[2]})
		}
		if rng.IntN(3) == 0 {
			f.Commands = pick([]string{"Sleep", "Query", "QUERY", " query ", "Connect"})
		}
		if rng.IntN(3) == 0 {
			f.Infos = pick([]string{"select", "SELECT 'ALPHA'", "do get", "sel", "select 'beta', get_lock", "update"})
		}
		if rng.IntN(6) == 0 {
			f.MinTime = 100000
		}
		return f
	}

	const population, rounds = 10, 20
	vs := make([]*victim, population)
	specs := make([]victimSpec, population)
	next := 0
	for i := range vs {
		specs[i] = randSpec(next)
		vs[i] = startVictim(t, lk, specs[i])
		next++
	}
	totalKilled := 0
	for round := range rounds {
		f := randFilter()
		var kill, keep []*victim
		var killIdx []int
		for i, v := range vs {
			if oracleMatch(f, v.user, v.host(), v.db, v.command(), v.info(), 0) {
				kill, killIdx = append(kill, v), append(killIdx, i)
			} else {
				keep = append(keep, v)
			}
		}
		tk := newTask("inst", f, Forever)
		created := time.Now()
		if err := eng.CreateTask(ctx, tk); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		addReactions(created, waitGone(t, 5*time.Second, kill...))
		waitPolls(t, eng.Engine, "inst", "inst", 3)
		assertAlive(t, keep...)
		if _, err := eng.CancelTasks(ctx, "inst"); err != nil {
			t.Fatal(err)
		}
		if len(kill) > 0 {
			assertHistory(t, eng.store, tk.ID, kill)
		} else {
			if _, n, _ := eng.store.ListKillRecords(ctx, RecordQuery{TaskID: tk.ID}); n != 0 {
				t.Fatalf("round %d: %d kills for a filter the oracle says matches nothing", round, n)
			}
		}
		if t.Failed() {
			t.Fatalf("round %d filter %+v: killed %v kept %v", round, f, kill, keep)
		}
		totalKilled += len(kill)
		for _, i := range killIdx {
			vs[i].stop()
			specs[i] = randSpec(next)
			vs[i] = startVictim(t, lk, specs[i])
			next++
		}
	}
	t.Logf("%d rounds, %d sessions killed, %d sessions used", rounds, totalKilled, next)
}
