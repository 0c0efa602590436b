package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// pt-kill (percona-toolkit) side by side with killgate. The bench runs it
// when it is on PATH (or -ptkill names it) and says loudly in the report
// when it is not.
//
// Every run uses the same options: --kill --victims all --interval 1
// (pt-kill takes whole seconds only: 0.5 silently means 5 s), --verbose
// (one "Checking processlist" line per read, flushed at once: that is how
// its reads are counted and timed) and --print, plus a rule. It connects
// with its own account (kgb<pid>_p: PROCESS, CONNECTION ADMIN) through a
// 0600 defaults file, so no password is on its command line.

type ptInfo struct {
	Path    string // "" = not found
	Version string
	Reason  string // why it is absent
}

func findPtKill(flagVal string) ptInfo {
	switch flagVal {
	case "off", "none", "0":
		return ptInfo{Reason: "disabled with -ptkill=off"}
	case "":
		flagVal = "pt-kill"
	}
	path, err := exec.LookPath(flagVal)
	if err != nil {
		return ptInfo{Reason: fmt.Sprintf("%s not found on PATH", flagVal)}
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return ptInfo{Reason: fmt.Sprintf("%s --version: %v", path, err)}
	}
	return ptInfo{Path: path, Version: strings.TrimSpace(string(out))}
}

// ptKill is one running pt-kill.
type ptKill struct {
	proc    *kgProc
	started time.Time
	reads   stamps // "Checking processlist" lines
	kills   stamps // "Killed <id>" lines
	mu      sync.Mutex
	tail    []string
}

// ptDefaults writes the defaults file of the pt-kill account once.
func (o *options) ptDefaults(b *benchDB) (string, error) {
	if o.ptCnf != "" {
		return o.ptCnf, nil
	}
	dir, err := os.MkdirTemp("", "kgbench-pt-")
	if err != nil {
		return "", err
	}
	atCleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "pt-kill.cnf")
	body := fmt.Sprintf("[client]\nuser=%s\npassword=%s\n", b.ptUser, b.pw)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return "", err
	}
	o.ptCnf = path
	return path, nil
}

// startPtKill starts pt-kill with rule (its match options) and waits for
// its first processlist read.
func (o *options) startPtKill(b *benchDB, rule ...string) (*ptKill, error) {
	cnf, err := o.ptDefaults(b)
	if err != nil {
		return nil, err
	}
	args := []string{"--kill", "--victims", "all", "--interval", "1", "--verbose", "--print"}
	args = append(args, rule...)
	args = append(args, "F="+cnf+",h=127.0.0.1,P=3306")
	pk := &ptKill{started: time.Now()}
	pk.proc, err = startLines(o.pt.Path, args, nil, func(t time.Time, l string) {
		switch {
		case strings.HasSuffix(l, " Checking processlist"):
			pk.reads.add(t)
		case strings.Contains(l, " Killed "):
			pk.kills.add(t)
		}
		pk.mu.Lock()
		if pk.tail = append(pk.tail, l); len(pk.tail) > 20 {
			pk.tail = pk.tail[1:]
		}
		pk.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	if !waitFor(15*time.Second, func() bool { _, ok := pk.reads.first(); return ok }) {
		pk.stop()
		return nil, fmt.Errorf("pt-kill did not read the processlist within 15s: %s", pk.lastLines())
	}
	return pk, nil
}

func (pk *ptKill) lastLines() string {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	return strings.Join(pk.tail, " | ")
}

func (pk *ptKill) stop() {
	if pk != nil && pk.proc != nil {
		_ = pk.proc.stop()
	}
}

// ptRule is the pt-kill twin of a killgate task "User u, Command Query,
// Time ≥ t": --busy-time also selects idle sessions unless --match-command
// Query; pt-kill keeps a session when Time >= --busy-time, as killgate does
// (Processlist.pm find). Its --match-* options are regular expressions:
// anchor them.
func ptRule(user string, busy int) []string {
	return []string{"--busy-time", fmt.Sprint(busy), "--match-command", "Query", "--match-user", "^" + user + "$"}
}
