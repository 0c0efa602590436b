package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cpuSample is a process's CPU time so far, two ways: the sum of its
// threads' scheduler run time (/proc/<pid>/task/*/schedstat, nanoseconds)
// and utime+stime from /proc/<pid>/stat (clock ticks, 10 ms). Idle and
// per-poll figures need the nanoseconds: a poll costs about a millisecond.
type cpuSample struct {
	sched time.Duration
	ticks int64
}

func procCPU(pid int) cpuSample {
	s := cpuSample{ticks: cpuTicks(pid)}
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		s.sched += time.Duration(ns)
	}
	return s
}

// cpuSince is the CPU time used between two samples: the schedstat
// difference, unless threads exited in between (their run time leaves the
// per-thread sum), in which case the tick difference.
func cpuSince(a, b cpuSample) time.Duration {
	sched := b.sched - a.sched
	ticks := time.Duration(b.ticks-a.ticks) * time.Second / userHZ
	if a.sched == 0 || sched < 0 || sched+3*time.Second/userHZ < ticks {
		return ticks
	}
	return sched
}

// startLines starts bin with args in its own process group and calls
// onLine (from one goroutine) with each line it prints on stdout and the
// time it arrived.
func startLines(bin string, args, env []string, onLine func(time.Time, string)) (*kgProc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &kgProc{cmd: cmd, exited: make(chan error, 1)}
	track(p)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			onLine(time.Now(), sc.Text())
		}
		p.exited <- cmd.Wait()
	}()
	return p, nil
}

// stamps is a list of arrival times, safe for concurrent use.
type stamps struct {
	mu sync.Mutex
	ts []time.Time
}

func (s *stamps) add(t time.Time) { s.mu.Lock(); s.ts = append(s.ts, t); s.mu.Unlock() }

// between counts the stamps in [t0, t1).
func (s *stamps) between(t0, t1 time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.ts {
		if !t.Before(t0) && t.Before(t1) {
			n++
		}
	}
	return n
}

func (s *stamps) first() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ts) == 0 {
		return time.Time{}, false
	}
	return s.ts[0], true
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
