// Command kgbench is killgate's benchmark harness: a load generator, a
// scenario driver against the shared MariaDB and a report writer. `make
// bench` runs it and it regenerates docs/benchmarks.md. Every figure is
// quoted with a floor measured in the same run.
//
//	kgbench [-quick] [-out docs/benchmarks.md] [-killgate bin/killgate]
//	kgbench floor-server         (internal: the bare net/http floor)
//	kgbench poll-floor N INTERVAL DSN [QUERY] (internal: N bare processlist pollers)
//
// It imports the standard library, killgate/tc3 (signing),
// killgate/internal/procfs, the MySQL driver and SQLite, and killgate/gateway
// for its API version only: it drives killgate as a separate process
// (bin/killgate), never through killgate's engine or handlers.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

type options struct {
	quick     bool
	out       string
	killgate  string
	mysqlDSN  string
	profile   string // directory for CPU profiles (uses the test binary)
	testBin   string
	only      string
	runs      int
	dur, warm time.Duration
	conns     int
	victims   int
	sizes     []int
	burst     int
	sleepers  int
	window    time.Duration

	// Issue 15.
	pt         ptInfo
	ptFlag     string
	ptCnf      string // pt-kill's defaults file
	floorQuery string // -floor-query: the bare poller's query
	others     int    // idle sessions present in the issue-15 scenarios
	thrVictims int    // victims per threshold round
	thrRounds  int    // T=3 rounds per tool
	spread30   time.Duration
	ptSpread30 time.Duration
	ptT30      bool // run pt-kill at T=30 too
	pollReps   int
	pollWindow time.Duration
}

var (
	childMu  sync.Mutex
	children = map[*kgProc]bool{}
	cleanups []func()
	cleanMu  sync.Mutex
	cleaned  bool
)

func track(p *kgProc)   { childMu.Lock(); children[p] = true; childMu.Unlock() }
func untrack(p *kgProc) { childMu.Lock(); delete(children, p); childMu.Unlock() }

func atCleanup(f func()) { cleanMu.Lock(); cleanups = append(cleanups, f); cleanMu.Unlock() }

// cleanup stops every child this process started (by pid) and runs the
// registered cleanups (users dropped, max_connections restored), once.
func cleanup() {
	cleanMu.Lock()
	defer cleanMu.Unlock()
	if cleaned {
		return
	}
	cleaned = true
	childMu.Lock()
	var ps []*kgProc
	for p := range children {
		ps = append(ps, p)
	}
	childMu.Unlock()
	for _, p := range ps {
		_ = p.stop()
	}
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "floor-server":
			if err := floorServer(); err != nil {
				log.Fatal(err)
			}
			return
		case "poll-floor":
			n, _ := strconv.Atoi(os.Args[2])
			iv, _ := time.ParseDuration(os.Args[3])
			q := processlistQuery
			if len(os.Args) > 5 {
				q = os.Args[5]
			}
			if err := pollFloor(os.Args[4], n, iv, q); err != nil {
				log.Fatal(err)
			}
			return
		}
	}
	var o options
	flag.BoolVar(&o.quick, "quick", os.Getenv("BENCH_QUICK") == "1", "short run (~2 min): one run per figure (also BENCH_QUICK=1)")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "report to write")
	flag.StringVar(&o.killgate, "killgate", "bin/killgate", "killgate binary")
	flag.StringVar(&o.mysqlDSN, "mysql", "root:@tcp(127.0.0.1:3306)/", "root DSN of the MariaDB to use")
	flag.StringVar(&o.profile, "profile", os.Getenv("BENCH_PROFILE"), "directory: run killgate as its test binary and write a CPU profile per scenario there (BENCH_PROFILE_WINDOW=60s lengthens the per-poll windows)")
	flag.StringVar(&o.only, "only", os.Getenv("BENCH_ONLY"), "comma list of scenarios to run (micro,gateway,threshold,poll,reaction,burst,scale); default all")
	flag.StringVar(&o.ptFlag, "ptkill", os.Getenv("BENCH_PTKILL"), "pt-kill binary (default: pt-kill on PATH; off = run killgate alone)")
	flag.StringVar(&o.floorQuery, "floor-query", os.Getenv("BENCH_FLOOR_QUERY"), "the bare poller's processlist query (default: the one observed from killgate, else killgate's as of writing)")
	flag.Parse()
	o.runs, o.dur, o.warm, o.conns, o.victims, o.sizes, o.burst, o.sleepers, o.window =
		3, 5*time.Second, time.Second, 64, 40, []int{30, 1000, 4000}, 500, 16, 6*time.Second
	o.others, o.thrVictims, o.thrRounds, o.spread30, o.ptSpread30, o.ptT30, o.pollReps, o.pollWindow =
		1000, 40, 3, 25*time.Second, 10*time.Second, true, 2, 20*time.Second
	if o.quick {
		o.runs, o.dur, o.warm, o.victims, o.window = 1, 2*time.Second, 500*time.Millisecond, 20, 3*time.Second
		o.thrRounds, o.spread30, o.ptT30, o.pollReps, o.pollWindow = 1, 15*time.Second, false, 1, 10*time.Second
	}
	if w, err := time.ParseDuration(os.Getenv("BENCH_PROFILE_WINDOW")); err == nil && o.profile != "" {
		o.pollWindow = w // enough samples: a poll costs about a millisecond
	}
	o.pt = findPtKill(o.ptFlag)
	_ = mysql.SetLogger(log.New(io.Discard, "", 0)) // killed victims make the driver log EOFs
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "kgbench: %v: cleaning up\n", s)
		cleanup()
		os.Exit(2)
	}()
	start := time.Now()
	// Hard bound: whatever happens, stop, clean up and fail after 16 minutes.
	time.AfterFunc(16*time.Minute, func() {
		fmt.Fprintln(os.Stderr, "kgbench: time limit (16 min) reached: cleaning up")
		cleanup()
		os.Exit(3)
	})
	err := run(o)
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kgbench:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "kgbench: done in %s\n", time.Since(start).Round(time.Second))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s kgbench: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// startFloorServer starts `kgbench floor-server` and returns its address.
func startFloorServer() (*kgProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "floor-server")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &kgProc{cmd: cmd, exited: make(chan error, 1)}
	track(p)
	go func() { p.exited <- cmd.Wait() }()
	var addr string
	if _, err := fmt.Fscanln(out, &addr); err != nil {
		p.stop()
		return nil, fmt.Errorf("floor server: %w", err)
	}
	p.Addr = addr
	return p, nil
}
