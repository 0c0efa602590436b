package main

// Longer than 400 lines on purpose: every scenario of the main benchmark (gateway, kills, history,
// processlist) with its floor beside it, so each ratio's two sides are read together.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"killgate/internal/procfs"
)

const unreachableDSN = "root:@tcp(127.0.0.1:1)/?timeout=1s"

// startKG starts killgate (or its profiling test binary) for scenario name.
func (o *options) startKG(name string, kc kgConfig) (*kgProc, error) {
	if o.profile == "" {
		return startKillgate(o.killgate, nil, kc)
	}
	prof := filepath.Join(o.profile, name+".cpu.pprof")
	return startKillgate(o.testBin, []string{"-test.run=^TestKgbenchServe$", "-test.cpuprofile=" + prof, "-test.count=1"}, kc)
}

// ---------------------------------------------------------------------------
// 1. Gateway throughput

type gwRun struct {
	Floor, Read, Create, Reject loadResult
	HWM                         map[string]float64 // MiB by workload
}

type gwResult struct {
	Runs []gwRun
}

func (o *options) gateway() (*gwResult, error) {
	res := &gwResult{}
	for r := range o.runs {
		run := gwRun{HWM: map[string]float64{}}
		// Floor: bare net/http, same load generator, same request bytes.
		fs, err := startFloorServer()
		if err != nil {
			return nil, err
		}
		req := signed(fs.Addr, "DescribeDiagDBInstances", `{"Product":"mysql","IsSupported":true}`, time.Now().Unix())
		run.Floor, err = runLoad(fs.Addr, fs.pid(), &reqSource{repeat: req}, o.conns, o.warm, o.dur, nil, false)
		run.HWM["floor"] = fs.hwmMiB()
		fs.stop()
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		logf("gateway run %d: floor %.0f req/s, server CPU %s/req", r+1, run.Floor.RPS, run.Floor.CPUPerReq)

		// Cheap read, rate limit lifted.
		kg, err := o.startKG(fmt.Sprintf("gateway-read-%d", r+1), kgConfig{
			Instances: []kgInstance{{ID: "cdb-gw-000", DSN: unreachableDSN}}, PollInterval: time.Second, MaxTasks: 5, PerSecond: 0,
		})
		if err != nil {
			return nil, err
		}
		req = signed(kg.Addr, "DescribeDiagDBInstances", `{"Product":"mysql","IsSupported":true}`, time.Now().Unix())
		run.Read, err = runLoad(kg.Addr, kg.pid(), &reqSource{repeat: req}, o.conns, o.warm, o.dur, []byte(`"TotalCount":1`), true)
		run.HWM["read"] = kg.hwmMiB()
		kg.stop()
		kg.cleanup()
		if err != nil {
			return nil, fmt.Errorf("DescribeDiagDBInstances: %w", err)
		}
		logf("gateway run %d: DescribeDiagDBInstances %.0f req/s, server CPU %s/req", r+1, run.Read.RPS, run.Read.CPUPerReq)

		// CreateKillTask, distinct bodies, 100 unreachable instances.
		var insts []kgInstance
		for i := range 100 {
			insts = append(insts, kgInstance{ID: fmt.Sprintf("cdb-gw-%03d", i), DSN: unreachableDSN})
		}
		kg, err = o.startKG(fmt.Sprintf("gateway-create-%d", r+1), kgConfig{Instances: insts, PollInterval: time.Second, MaxTasks: 1_000_000, PerSecond: 0})
		if err != nil {
			return nil, err
		}
		n := int(float64(o.createPerSec()) * (o.dur + o.warm).Seconds())
		ts := time.Now().Unix()
		reqs := make([][]byte, n)
		for i := range reqs {
			reqs[i] = signed(kg.Addr, "CreateKillTask", fmt.Sprintf(`{"InstanceId":"cdb-gw-%03d","Duration":3600,"User":"kgb_nobody_%d"}`, i%100, i), ts)
		}
		run.Create, err = runLoad(kg.Addr, kg.pid(), &reqSource{distinct: reqs}, o.conns, o.warm, o.dur, []byte(`"Status":1`), true)
		run.HWM["create"] = kg.hwmMiB()
		kg.stop()
		kg.cleanup()
		if err != nil {
			return nil, fmt.Errorf("CreateKillTask: %w", err)
		}
		logf("gateway run %d: CreateKillTask %.0f req/s (exhausted=%v)", r+1, run.Create.RPS, run.Create.Exhausted)

		// Rejected: the normal 20/s limit, one hot key.
		kg, err = o.startKG(fmt.Sprintf("gateway-reject-%d", r+1), kgConfig{
			Instances: []kgInstance{{ID: "cdb-gw-000", DSN: unreachableDSN}}, PollInterval: time.Second, MaxTasks: 5, PerSecond: 20, Burst: 20,
		})
		if err != nil {
			return nil, err
		}
		req = signed(kg.Addr, "DescribeDiagDBInstances", `{"Product":"mysql","IsSupported":true}`, time.Now().Unix())
		run.Reject, err = runLoad(kg.Addr, kg.pid(), &reqSource{repeat: req}, o.conns, o.warm, o.dur, []byte(`RequestLimitExceeded`), false)
		run.HWM["reject"] = kg.hwmMiB()
		kg.stop()
		kg.cleanup()
		if err != nil {
			return nil, fmt.Errorf("rejection: %w", err)
		}
		logf("gateway run %d: rejected %.0f req/s (%d of %d rejected), server CPU %s/req", r+1, run.Reject.RPS, run.Reject.Matched, run.Reject.Requests, run.Reject.CPUPerReq)
		res.Runs = append(res.Runs, run)
	}
	return res, nil
}

// createPerSec bounds the pre-signed CreateKillTask requests per second of
// load (more than killgate's SQLite store can commit on this machine).
func (o *options) createPerSec() int { return 6000 }

// ---------------------------------------------------------------------------
// 2. Kill reaction

type reactionSize struct {
	Others       int // idle sessions opened by the bench
	Rows         int // processlist rows at the time
	ReadP50      time.Duration
	ReadP99      time.Duration
	Victims      int
	Missing      int // victims without a history row
	KillP50      time.Duration
	KillP99      time.Duration
	GoneP50      time.Duration
	GoneP99      time.Duration
	RunKillP99   []time.Duration // per run
	Target       time.Duration
	PollsPerTick float64
	// pt-kill at 1 s on the same size (victims of another user, killgate
	// still polling for its own).
	PTVictims, PTMissing int
	PTGoneP50, PTGoneP99 time.Duration
}

type reactionResult struct {
	Interval time.Duration
	Sizes    []reactionSize
	HWM      float64
}

func (o *options) reaction(b *benchDB) (*reactionResult, error) {
	const interval = 200 * time.Millisecond
	res := &reactionResult{Interval: interval}
	lock, err := b.holdLock(b.prefix + "lock")
	if err != nil {
		return nil, err
	}
	defer lock.release()
	kg, err := o.startKG("reaction", kgConfig{Instances: []kgInstance{{ID: "cdb-bench", DSN: b.rootDSN}}, PollInterval: interval, MaxTasks: 5})
	if err != nil {
		return nil, err
	}
	defer kg.cleanup()
	defer kg.stop()
	if _, err := kg.call("CreateKillTask", fmt.Sprintf(`{"InstanceId":"cdb-bench","Duration":3600,"User":%q,"Info":"SELECT GET_LOCK"}`, b.victimUser)); err != nil {
		return nil, err
	}
	type victim struct {
		size       int
		t0, goneAt time.Time
	}
	victims := map[uint64]*victim{}
	var bystanders []*sessions
	defer func() {
		for _, s := range bystanders {
			s.close()
		}
	}()
	opened := 0
	query := "SELECT GET_LOCK('" + lock.name + "', 60)"
	for _, size := range o.sizes {
		if size > opened {
			s, err := b.openSessions(b.idleUser, "", size-opened)
			if err != nil {
				return nil, err
			}
			bystanders = append(bystanders, s)
			opened = size
		}
		time.Sleep(300 * time.Millisecond)
		reads, rows, err := b.timeProcesslist(30)
		if err != nil {
			return nil, err
		}
		rs := reactionSize{Others: size, Rows: rows, ReadP50: pct2(reads, 50), ReadP99: pct2(reads, 99)}
		polls0, _ := kg.metric("killgate_processlist_polls_total", `result="ok"`)
		p0 := time.Now()
		for run := range o.runs {
			vs, err := b.openSessions(b.victimUser, "", o.victims)
			if err != nil {
				return nil, err
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			for i, c := range vs.conns {
				time.Sleep(50*time.Millisecond + rand.N(100*time.Millisecond))
				v := &victim{size: size}
				mu.Lock()
				victims[vs.ids[i]] = v
				mu.Unlock()
				wg.Go(func() {
					t0 := time.Now()
					_, _ = c.ExecContext(context.Background(), query)
					gone := time.Now()
					mu.Lock()
					v.t0, v.goneAt = t0, gone
					mu.Unlock()
				})
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = b.exec(fmt.Sprintf("KILL CONNECTION USER '%s'", b.victimUser))
				<-done
				vs.close()
				return nil, fmt.Errorf("reaction: victims (size %d, run %d) not killed within 15s", size, run+1)
			}
			vs.close()
		}
		polls1, _ := kg.metric("killgate_processlist_polls_total", `result="ok"`)
		rs.PollsPerTick = (polls1 - polls0) / (time.Since(p0).Seconds() / interval.Seconds())
		if o.pt.Path != "" && size == o.others {
			if err := o.ptReaction(b, query, &rs); err != nil {
				return nil, err
			}
		}
		res.Sizes = append(res.Sizes, rs)
		logf("reaction: %d others (%d rows): processlist read p50 %s p99 %s", size, rows, rs.ReadP50, rs.ReadP99)
	}
	res.HWM = kg.hwmMiB()
	kg.stop()
	recs, err := kg.killRecords()
	if err != nil {
		return nil, err
	}
	killed := map[uint64]time.Time{}
	for _, r := range recs {
		killed[r.ThreadID] = r.KilledAt
	}
	for i := range res.Sizes {
		rs := &res.Sizes[i]
		var ks, gs []time.Duration
		for id, v := range victims {
			if v.size != rs.Others {
				continue
			}
			rs.Victims++
			gs = append(gs, v.goneAt.Sub(v.t0))
			if at, ok := killed[id]; ok {
				ks = append(ks, at.Sub(v.t0.Truncate(time.Millisecond)))
			} else {
				rs.Missing++
			}
		}
		slices.Sort(ks)
		slices.Sort(gs)
		rs.KillP50, rs.KillP99, rs.GoneP50, rs.GoneP99 = pct2(ks, 50), pct2(ks, 99), pct2(gs, 50), pct2(gs, 99)
		// Target: poll interval + 2 × the processlist read time (median)
		// at this size.
		rs.Target = interval + 2*rs.ReadP50
		logf("reaction: %d others: KILL p50 %s p99 %s, gone p50 %s p99 %s (target %s), %.2f reads/interval",
			rs.Others, rs.KillP50, rs.KillP99, rs.GoneP50, rs.GoneP99, rs.Target, rs.PollsPerTick)
	}
	return res, nil
}

// ptReaction runs pt-kill (1 s) on the reaction workload: o.victims
// sessions of the sleeper user start query at random phases; the rule is
// the task's (User + Info prefix).
func (o *options) ptReaction(b *benchDB, query string, rs *reactionSize) error {
	pk, err := o.startPtKill(b, "--match-user", "^"+b.sleeperUser+"$", "--match-command", "Query", "--match-info", "^SELECT GET_LOCK")
	if err != nil {
		return err
	}
	defer pk.stop()
	vs, err := b.openSessions(b.sleeperUser, "", o.victims)
	if err != nil {
		return err
	}
	defer vs.close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var gs []time.Duration
	for _, c := range vs.conns {
		time.Sleep(50*time.Millisecond + rand.N(100*time.Millisecond))
		wg.Go(func() {
			t0 := time.Now()
			_, err := c.ExecContext(context.Background(), query)
			d := time.Since(t0)
			mu.Lock()
			if err != nil && d < 14*time.Second {
				gs = append(gs, d)
			}
			mu.Unlock()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = b.exec(fmt.Sprintf("KILL CONNECTION USER '%s'", b.sleeperUser))
		<-done
	}
	slices.Sort(gs)
	rs.PTVictims, rs.PTMissing = o.victims, o.victims-len(gs)
	rs.PTGoneP50, rs.PTGoneP99 = pct2(gs, 50), pct2(gs, 99)
	logf("reaction: %d others: pt-kill (1 s) gone p50 %s p99 %s (%d missed)", rs.Others, rs.PTGoneP50, rs.PTGoneP99, rs.PTMissing)
	return nil
}

func pct2(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// nearest rank
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// ---------------------------------------------------------------------------
// 3. Kill burst

type burstRun struct {
	Floor, FloorKills, KG, KGWith, Sleepers time.Duration
	KGp50, KGWithp50                        time.Duration
	SleepersKilled                          int
	FirstKill, LastKill                     time.Duration // killgate history, from task creation
	PT, PTp50, PTFromRead                   time.Duration // pt-kill: from its start; from its first read
	FloorRead                               time.Duration // the floor's processlist read
	FloorFresh                              time.Duration // the floor under killgate's 10 ms re-check rule
	FloorFreshRounds                        int           // its re-check rounds
}

// readIDs reads the processlist once with killgate's query and returns the
// ids of the sessions in database db.
func readIDs(c *sql.Conn, db string) ([]uint64, error) {
	return queryIDs(c, db, killgateQuery)
}

// queryIDs runs q (killgate's columns) and returns the ids of the sessions
// in database db.
func queryIDs(c *sql.Conn, db, q string) ([]uint64, error) {
	rows, err := c.QueryContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []uint64
	var id uint64
	var user, host, dbn, cmd, state, info sql.NullString
	var tm sql.NullInt64
	for rows.Next() {
		if err := rows.Scan(&id, &user, &host, &dbn, &cmd, &tm, &state, &info); err != nil {
			return nil, err
		}
		if dbn.String == db {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

type burstResult struct {
	N, Sleepers int
	Interval    time.Duration
	Runs        []burstRun
	HWM         float64
}

// waitAll waits for every gone channel and returns the times relative to t0
// (sorted); after timeout the remaining ones are reported as missing.
func waitAll(gone []chan time.Time, t0 time.Time, timeout time.Duration) ([]time.Duration, int) {
	deadline := time.After(timeout)
	var out []time.Duration
	for i, ch := range gone {
		select {
		case t := <-ch:
			out = append(out, t.Sub(t0))
		case <-deadline:
			return out, len(gone) - i
		}
	}
	slices.Sort(out)
	return out, 0
}

func (o *options) burstScenario(b *benchDB) (*burstResult, error) {
	const interval = i15Interval // killgate's default
	res := &burstResult{N: o.burst, Sleepers: o.sleepers, Interval: interval}
	lock, err := b.holdLock(b.prefix + "burst")
	if err != nil {
		return nil, err
	}
	defer lock.release()
	prefix := "SELECT GET_LOCK"
	query := "SELECT GET_LOCK('" + lock.name + "', 60)"
	openVictims := victimOpener(func() (*sessions, []chan time.Time, error) {
		vs, err := b.openSessions(b.victimUser, b.schema, o.burst)
		if err != nil {
			return nil, nil, err
		}
		g := vs.blocked(query)
		if err := b.waitRunning(b.victimUser, prefix, o.burst, 20*time.Second); err != nil {
			vs.close()
			return nil, nil, err
		}
		return vs, g, nil
	})
	kg, err := o.startKG("burst", kgConfig{Instances: []kgInstance{{ID: "cdb-bench", DSN: b.rootDSN}}, PollInterval: interval, MaxTasks: 5})
	if err != nil {
		return nil, err
	}
	defer kg.cleanup()
	defer kg.stop()
	task := fmt.Sprintf(`{"InstanceId":"cdb-bench","Duration":3600,"DB":%q}`, b.schema)
	// The floor and killgate alternate which goes first, so neither always
	// follows the pt-kill teardown of the run before; the burst is the
	// noisiest figure (its floor alone spans 20–60 ms on this machine), so
	// it takes more runs than the others.
	runs := o.runs
	if !o.quick {
		runs = max(runs, burstRuns)
	}
	for r := range runs {
		var run burstRun
		floorFirst := r%2 == 0
		for _, floor := range []bool{floorFirst, !floorFirst} {
			var err error
			if floor {
				err = o.burstFloor(b, openVictims, &run)
				if err == nil {
					err = o.burstFloorFresh(b, openVictims, &run)
				}
			} else {
				err = o.burstKG(b, kg, task, openVictims, r, &run)
			}
			if err != nil {
				return nil, err
			}
		}

		// killgate with SLEEP() victims among them (opened first).
		sl, err := b.openSessions(b.sleeperUser, b.schema, o.sleepers)
		if err != nil {
			return nil, err
		}
		sgone := sl.blocked("SELECT SLEEP(60)")
		if err := b.waitRunning(b.sleeperUser, "SELECT SLEEP", o.sleepers, 10*time.Second); err != nil {
			sl.close()
			return nil, err
		}
		vs, gone, err := openVictims()
		if err != nil {
			sl.close()
			return nil, err
		}
		t0 := time.Now()
		if _, err := kg.call("CreateKillTask", task); err != nil {
			vs.close()
			sl.close()
			return nil, err
		}
		ds, missing := waitAll(gone, t0, 20*time.Second)
		sds, smissing := waitAll(sgone, t0, 20*time.Second)
		vs.close()
		if smissing > 0 {
			_ = b.exec(fmt.Sprintf("KILL CONNECTION USER '%s'", b.sleeperUser))
		}
		sl.close()
		if _, err := kg.call("CancelKillTask", `{"InstanceId":"cdb-bench","Product":"mysql"}`); err != nil {
			return nil, err
		}
		if missing > 0 {
			return nil, fmt.Errorf("burst with sleepers: %d of %d sessions not killed within 20s", missing, o.burst)
		}
		run.KGWith, run.KGWithp50 = ds[len(ds)-1], pct2(ds, 50)
		run.SleepersKilled = len(sds)
		if len(sds) > 0 {
			run.Sleepers = sds[len(sds)-1]
		}

		// pt-kill, started when the sessions are there (its start-up is
		// part of its figure, as the task creation is part of killgate's).
		if o.pt.Path != "" {
			vs, gone, err = openVictims()
			if err != nil {
				return nil, err
			}
			t0 = time.Now()
			pk, err := o.startPtKill(b, "--match-db", "^"+b.schema+"$")
			if err != nil {
				vs.close()
				return nil, err
			}
			ds, missing = waitAll(gone, t0, 20*time.Second)
			pk.stop()
			vs.close()
			if missing > 0 {
				return nil, fmt.Errorf("burst: %d of %d sessions not killed by pt-kill within 20s", missing, o.burst)
			}
			run.PT, run.PTp50 = ds[len(ds)-1], pct2(ds, 50)
			if first, ok := pk.reads.first(); ok {
				run.PTFromRead = t0.Add(run.PT).Sub(first)
			}
			logf("burst run %d: pt-kill %s from its start, %s from its first read", r+1, run.PT, run.PTFromRead)
		}
		logf("burst run %d: floor %s (read %s, read+KILLs %s), floor with 10 ms re-checks %s (%d rounds), killgate %s, with %d SLEEP victims %s (SLEEP victims gone: %d, last %s)",
			r+1, run.Floor, run.FloorRead, run.FloorKills, run.FloorFresh, run.FloorFreshRounds, run.KG, o.sleepers, run.KGWith, run.SleepersKilled, run.Sleepers)
		res.Runs = append(res.Runs, run)
	}
	res.HWM = kg.hwmMiB()
	return res, nil
}

// burstRuns is how many runs the burst takes in a full bench.
const burstRuns = 7

// victimOpener opens the burst's victims and waits until they all run.
type victimOpener func() (*sessions, []chan time.Time, error)

// floorSetup opens the burst's victims and the 8 root connections a floor
// KILLs over (opened beforehand: the floor's figure has no dial in it).
func floorSetup(b *benchDB, openVictims victimOpener) (*sessions, []chan time.Time, []*sql.Conn, error) {
	vs, gone, err := openVictims()
	if err != nil {
		return nil, nil, nil, err
	}
	conns := make([]*sql.Conn, 8)
	for i := range conns {
		if conns[i], err = b.root.Conn(context.Background()); err != nil {
			closeConns(conns[:i])
			vs.close()
			return nil, nil, nil, err
		}
	}
	return vs, gone, conns, nil
}

func closeConns(conns []*sql.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// burstFloor is the burst's floor: one processlist read (killgate's query),
// the sessions of the schema picked from it, KILLed by the bench over 8
// connections opened beforehand.
func (o *options) burstFloor(b *benchDB, openVictims victimOpener, run *burstRun) error {
	vs, gone, conns, err := floorSetup(b, openVictims)
	if err != nil {
		return err
	}
	defer vs.close()
	defer closeConns(conns)
	t0 := time.Now()
	ids, err := readIDs(conns[0], b.schema)
	if err != nil {
		return err
	}
	run.FloorRead = time.Since(t0)
	var wg sync.WaitGroup
	for w, c := range conns {
		wg.Go(func() {
			for i := w; i < len(ids); i += len(conns) {
				_, _ = c.ExecContext(context.Background(), fmt.Sprintf("KILL CONNECTION %d", ids[i]))
			}
		})
	}
	wg.Wait()
	run.FloorKills = time.Since(t0)
	ds, missing := waitAll(gone, t0, 20*time.Second)
	if missing > 0 {
		return fmt.Errorf("burst floor: %d sessions survived their KILL", missing)
	}
	run.Floor = ds[len(ds)-1]
	return nil
}

// freshWindow is killgate's rule for how long a re-check is good for
// (killtask's killFresh): no KILL starts later than that after the read
// that confirmed it.
const freshWindow = 10 * time.Millisecond

// burstFloorFresh is the burst's floor under killgate's re-check rule: one
// read, KILLs over 8 connections for at most freshWindow after it, then a
// re-read (by id) of the sessions left and another round, until none is
// left. It is what a bare program that never kills on a reading older than
// 10 ms does, one step after another.
func (o *options) burstFloorFresh(b *benchDB, openVictims victimOpener, run *burstRun) error {
	vs, gone, conns, err := floorSetup(b, openVictims)
	if err != nil {
		return err
	}
	defer vs.close()
	defer closeConns(conns)
	t0 := time.Now()
	left, err := readIDs(conns[0], b.schema)
	if err != nil {
		return err
	}
	rounds := 0
	for len(left) > 0 {
		if rounds > 0 {
			if left, err = readIDsIn(conns[0], b.schema, left); err != nil {
				return err
			}
		}
		rounds++
		until := time.Now().Add(freshWindow)
		var next atomic.Int64
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() {
				for time.Now().Before(until) {
					i := next.Add(1) - 1
					if i >= int64(len(left)) {
						return
					}
					_, _ = c.ExecContext(context.Background(), fmt.Sprintf("KILL CONNECTION %d", left[i]))
				}
			})
		}
		wg.Wait()
		left = left[min(next.Load(), int64(len(left))):]
	}
	ds, missing := waitAll(gone, t0, 20*time.Second)
	if missing > 0 {
		return fmt.Errorf("burst floor (fresh): %d sessions survived their KILL", missing)
	}
	run.FloorFresh, run.FloorFreshRounds = ds[len(ds)-1], rounds
	return nil
}

// readIDsIn re-reads the sessions ids with killgate's query and returns
// those still in database db.
func readIDsIn(c *sql.Conn, db string, ids []uint64) ([]uint64, error) {
	var q strings.Builder
	q.WriteString(killgateQuery + " WHERE ID IN (")
	for i, id := range ids {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(strconv.FormatUint(id, 10))
	}
	q.WriteByte(')')
	return queryIDs(c, db, q.String())
}

// burstKG is killgate's burst: the sessions are there, then the task is
// created; the figure runs from the CreateKillTask request to the last
// victim's connection error.
func (o *options) burstKG(b *benchDB, kg *kgProc, task string, openVictims victimOpener, r int, run *burstRun) error {
	vs, gone, err := openVictims()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := kg.call("CreateKillTask", task); err != nil {
		vs.close()
		return err
	}
	ds, missing := waitAll(gone, t0, 20*time.Second)
	vs.close()
	if _, err := kg.call("CancelKillTask", `{"InstanceId":"cdb-bench","Product":"mysql"}`); err != nil {
		return err
	}
	if missing > 0 {
		return fmt.Errorf("burst: %d of %d sessions not killed by killgate within 20s", missing, o.burst)
	}
	run.KG, run.KGp50 = ds[len(ds)-1], pct2(ds, 50)
	time.Sleep(400 * time.Millisecond) // history flush (every 200 ms)
	recs, err := kg.killRecords()
	if err != nil {
		return nil // the history is information only
	}
	want := map[uint64]bool{}
	for _, id := range vs.ids {
		want[id] = true
	}
	var ks []time.Duration
	for _, rec := range recs {
		if want[rec.ThreadID] {
			ks = append(ks, rec.KilledAt.Sub(t0.Truncate(time.Millisecond)))
		}
	}
	slices.Sort(ks)
	if len(ks) > 0 {
		run.FirstKill, run.LastKill = ks[0], ks[len(ks)-1]
	}
	logf("burst run %d: killgate history: %d kills, first %s, p50 %s, last %s after task creation", r+1, len(ks), run.FirstKill, pct2(ks, 50), run.LastKill)
	return nil
}

// ---------------------------------------------------------------------------
// 4. Scale of enforcement

type scaleResult struct {
	Interval                 time.Duration
	ReadsPerTick1            float64 // one task
	ReadsPerTick100          float64 // 100 tasks
	CPU1, CPU100             float64 // killgate CPU % of one core
	Rows                     int
	FleetInstances, FleetPer int
	FleetCPU, FloorCPU       float64 // % of one core
	FleetReadsPerSec         float64
	FloorReadsPerSec         float64
	FleetRSS, FleetHWM       float64 // MiB
	HWM100                   float64
}

func (o *options) window2(kg *kgProc) (readsPerSec, cpu float64, err error) {
	p0, err := kg.metric("killgate_processlist_polls_total", `result="ok"`)
	if err != nil {
		return 0, 0, err
	}
	c0, t0 := cpuTicks(kg.pid()), time.Now()
	time.Sleep(o.window)
	p1, err := kg.metric("killgate_processlist_polls_total", `result="ok"`)
	if err != nil {
		return 0, 0, err
	}
	c1, el := cpuTicks(kg.pid()), time.Since(t0).Seconds()
	return (p1 - p0) / el, 100 * float64(c1-c0) / userHZ / el, nil
}

func (o *options) scale(b *benchDB) (*scaleResult, error) {
	const interval = 200 * time.Millisecond
	res := &scaleResult{Interval: interval, FleetInstances: 50, FleetPer: 5}
	// 200 idle bystanders so that every read returns a few hundred rows.
	by, err := b.openSessions(b.idleUser, "", 200)
	if err != nil {
		return nil, err
	}
	defer by.close()
	_, rows, err := b.timeProcesslist(3)
	if err != nil {
		return nil, err
	}
	res.Rows = rows

	// (a) one task vs 100 tasks on one instance: reads per interval.
	kg, err := o.startKG("scale-100tasks", kgConfig{Instances: []kgInstance{{ID: "cdb-bench", DSN: b.rootDSN}}, PollInterval: interval, MaxTasks: 100})
	if err != nil {
		return nil, err
	}
	defer kg.cleanup()
	defer kg.stop()
	task := func(inst string, i int) error {
		var f string
		switch i % 4 { // a mix of filters; none matches a session of the server
		case 0:
			f = fmt.Sprintf(`"User":"kgb_nobody_%d"`, i)
		case 1:
			f = fmt.Sprintf(`"User":"kgb_nobody_%d","DB":"a,b,c","Command":"Query"`, i)
		case 2:
			f = fmt.Sprintf(`"User":"kgb_nobody_%d","Infos":["update t%d","delete from t%d"],"Time":5`, i, i, i)
		case 3:
			f = fmt.Sprintf(`"User":"kgb_nobody_%d","Host":"10.9.9.%d"`, i, i%250)
		}
		_, err := kg.call("CreateKillTask", fmt.Sprintf(`{"InstanceId":%q,"Duration":3600,%s}`, inst, f))
		return err
	}
	if err := task("cdb-bench", 0); err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	rps, cpu, err := o.window2(kg)
	if err != nil {
		return nil, err
	}
	res.ReadsPerTick1, res.CPU1 = rps*interval.Seconds(), cpu
	for i := 1; i < 100; i++ {
		if err := task("cdb-bench", i); err != nil {
			return nil, err
		}
	}
	time.Sleep(time.Second)
	rps, cpu, err = o.window2(kg)
	if err != nil {
		return nil, err
	}
	res.ReadsPerTick100, res.CPU100 = rps*interval.Seconds(), cpu
	res.HWM100 = kg.hwmMiB()
	kg.stop()
	logf("scale: reads per interval: 1 task %.2f (CPU %.1f%%), 100 tasks %.2f (CPU %.1f%%)", res.ReadsPerTick1, res.CPU1, res.ReadsPerTick100, res.CPU100)

	// (c) 50 instances × 5 tasks in one process, all on this MariaDB.
	var insts []kgInstance
	for i := range res.FleetInstances {
		insts = append(insts, kgInstance{ID: fmt.Sprintf("cdb-fleet-%02d", i), DSN: b.rootDSN})
	}
	kg2, err := o.startKG("scale-fleet", kgConfig{Instances: insts, PollInterval: interval, MaxTasks: 5})
	if err != nil {
		return nil, err
	}
	defer kg2.cleanup()
	defer kg2.stop()
	kg = kg2
	for _, in := range insts {
		for j := range res.FleetPer {
			if err := task(in.ID, j); err != nil {
				return nil, err
			}
		}
	}
	time.Sleep(time.Second)
	rps, cpu, err = o.window2(kg2)
	if err != nil {
		return nil, err
	}
	res.FleetReadsPerSec, res.FleetCPU = rps, cpu
	rss, hwm := procfs.Mem(kg2.pid())
	res.FleetRSS, res.FleetHWM = float64(rss)/1024, float64(hwm)/1024
	kg2.stop()

	// Floor: the same reads by a bare Go program (50 pinned connections,
	// one full processlist read each per interval, rows scanned).
	self, _ := os.Executable()
	fp, fout, err := startProc(self, "poll-floor", fmt.Sprint(res.FleetInstances), interval.String(), b.rootDSN, killgateQuery)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	time.Sleep(time.Second)
	c0, t0 := cpuTicks(fp.pid()), time.Now()
	time.Sleep(o.window)
	c1, el := cpuTicks(fp.pid()), time.Since(t0).Seconds()
	fp.stop()
	res.FloorCPU = 100 * float64(c1-c0) / userHZ / el
	var okN, errN int64
	var first string
	fmt.Sscan(fout.String(), &okN, &errN, &first)
	if errN > 0 || okN == 0 {
		return nil, fmt.Errorf("bare poller: %d reads ok, %d failed: %s", okN, errN, fout.String())
	}
	res.FloorReadsPerSec = float64(okN) / time.Since(start).Seconds()
	logf("scale: 50×5: killgate CPU %.1f%% (%.0f reads/s), bare poller %.1f%%; RSS %.1f MiB, HWM %.1f MiB",
		res.FleetCPU, res.FleetReadsPerSec, res.FloorCPU, res.FleetRSS, res.FleetHWM)
	return res, nil
}

func startProc(bin string, args ...string) (*kgProc, *bytes.Buffer, error) {
	p := &kgProc{exited: make(chan error, 1)}
	p.cmd = execCommand(bin, args...)
	var out bytes.Buffer
	p.cmd.Stdout = &out
	if err := p.cmd.Start(); err != nil {
		return nil, nil, err
	}
	track(p)
	go func() { p.exited <- p.cmd.Wait() }()
	return p, &out, nil
}

// pollFloor runs n pollers that read the full processlist with query every
// interval (timer reset after each read, as killgate's worker does), until
// SIGTERM. With KGBENCH_FLOOR_TRACE=1 it prints "r <rows>" after each read;
// with KGBENCH_FLOOR_CPUPROFILE=<file> it writes a CPU profile there.
func pollFloor(dsn string, n int, interval time.Duration, query string) error {
	if path := os.Getenv("KGBENCH_FLOOR_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	trace := os.Getenv("KGBENCH_FLOOR_TRACE") == "1"
	var outMu sync.Mutex
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(n)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var wg sync.WaitGroup
	var okReads, errReads atomic.Int64
	var firstErr atomic.Value
	type proc struct {
		ID                               uint64
		User, Host, DB, Cmd, State, Info string
		Time                             int64
	}
	for range n {
		wg.Go(func() {
			c, err := db.Conn(ctx)
			if err != nil {
				errReads.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			defer c.Close()
			var buf []proc
			var generic []sql.NullString
			t := time.NewTimer(interval)
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				rows, err := c.QueryContext(ctx, query)
				if err != nil && ctx.Err() == nil {
					errReads.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				if err == nil {
					buf = buf[:0]
					cols, _ := rows.Columns()
					var user, host, dbn, cmd, state, info sql.NullString
					var tm sql.NullInt64
					for rows.Next() {
						var p proc
						if len(cols) == 8 {
							if rows.Scan(&p.ID, &user, &host, &dbn, &cmd, &tm, &state, &info) == nil {
								p.User, p.Host, p.DB, p.Cmd, p.Time, p.State, p.Info = user.String, host.String, dbn.String, cmd.String, tm.Int64, state.String, info.String
								buf = append(buf, p)
							}
							continue
						}
						// Another column list (a -floor-query): every column as text.
						generic = slices.Grow(generic[:0], len(cols))[:len(cols)]
						dest := make([]any, len(cols))
						for i := range generic {
							dest[i] = &generic[i]
						}
						if rows.Scan(dest...) == nil {
							p.Info = generic[len(generic)-1].String
							buf = append(buf, p)
						}
					}
					err = rows.Err()
					rows.Close()
					if err != nil && ctx.Err() == nil {
						errReads.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					} else if err == nil {
						okReads.Add(1)
						if trace {
							outMu.Lock()
							fmt.Printf("r %d\n", len(buf))
							outMu.Unlock()
						}
					}
					// the match step of a task that matches nothing
					for i := range buf {
						if strings.EqualFold(buf[i].User, "kgb_nobody") {
							buf[i].ID = 0
						}
					}
				}
				t.Reset(interval)
			}
		})
	}
	wg.Wait()
	fmt.Printf("%d %d %v\n", okReads.Load(), errReads.Load(), firstErr.Load())
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}
