package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The lifecycle tests run killgate's real main() in a child process (this
// test binary, re-executed with KILLGATE_LIFECYCLE set) whose listener is
// wrapped and whose shutdown bounds are shortened through main.go's seams,
// and judge it from outside: exit code, stderr and log. No MariaDB needed.

const lifecycleEnv = "KILLGATE_LIFECYCLE"

// errInjectedAccept is what the wrapped listener's Accept returns once told
// to fail.
var errInjectedAccept = errors.New("injected accept failure")

// lifecycleListener wraps the main listener: after SIGUSR1 its Accept fails
// (mode accept-fails); its Close never returns (mode hung-close).
type lifecycleListener struct {
	net.Listener
	fail     atomic.Bool
	hangStop bool
}

func (l *lifecycleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if l.fail.Load() {
		if c != nil {
			c.Close()
		}
		return nil, errInjectedAccept
	}
	return c, err
}

func (l *lifecycleListener) Close() error {
	if l.hangStop {
		select {} // a listener that never closes: shutdown hangs
	}
	return l.Listener.Close()
}

// TestLifecycleChild is the child process's body; it is skipped unless the
// parent test sets KILLGATE_LIFECYCLE (accept-fails or hung-close). It runs
// main() with KILLGATE_CONFIG and never returns (main exits).
func TestLifecycleChild(t *testing.T) {
	mode := os.Getenv(lifecycleEnv)
	if mode == "" {
		t.Skip("run by TestListenerFailureEndsProcess and TestShutdownWatchdog in a child process")
	}
	drainTimeout, watchdogTimeout = 500*time.Millisecond, 2*time.Second
	listen = func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, addr)
		if err != nil {
			return nil, err
		}
		wl := &lifecycleListener{Listener: ln, hangStop: mode == "hung-close"}
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() {
			<-usr1
			wl.fail.Store(true)
			if c, err := net.Dial(network, ln.Addr().String()); err == nil { // wake the Accept in progress
				c.Close()
			}
		}()
		return wl, nil
	}
	os.Args = []string{"killgate"}
	main()
	t.Fatal("main returned")
}

// lockedBuffer collects a child's output; it may be read while written.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lifecycleChild is a running child killgate.
type lifecycleChild struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

func startLifecycleChild(t *testing.T, mode string) *lifecycleChild {
	t.Helper()
	dir := t.TempDir()
	addr := freePort(t)
	cfg := fmt.Sprintf("listen: %s\nstore: {driver: sqlite, dsn: %q}\ncredentials: [{secret_id: AKIDlifecycle, secret_key: lifecycle-key}]\n",
		addr, filepath.Join(dir, "kg.db"))
	cfgPath := filepath.Join(dir, "killgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &lifecycleChild{addr: addr, stderr: &lockedBuffer{}, done: make(chan struct{})}
	// -test.short: the child's TestMain need not build the killgate binary.
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestLifecycleChild$", "-test.short", "-test.count=1")
	c.cmd.Env = append(os.Environ(), lifecycleEnv+"="+mode, "KILLGATE_CONFIG="+cfgPath)
	c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		select {
		case <-c.done:
			t.Fatalf("child exited at start: %v\n%s", c.err, c.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("child not serving after 20s\n%s", c.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitCode waits (at most within) for the child to exit on its own and
// returns its exit code.
func (c *lifecycleChild) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(within):
		t.Fatalf("the process still runs %s later\n%s", within, c.stderr)
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return ee.ExitCode()
	}
	if c.err != nil {
		t.Fatalf("wait: %v", c.err)
	}
	return 0
}

// TestListenerFailureEndsProcess: a main listener whose Accept fails after
// start-up ends the whole process, without any signal: the engine is
// stopped, the cause is on stderr, and the exit code is 1. (Before, the
// process lived on without HTTP until someone sent it a signal.)
func TestListenerFailureEndsProcess(t *testing.T) {
	c := startLifecycleChild(t, "accept-fails")
	if err := c.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if code := c.exitCode(t, 30*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1\n%s", code, c.stderr)
	}
	out := c.stderr.String()
	for _, want := range []string{
		"shutting down: a part failed",
		"engine stopped",
		`"stopped"`,
		"killgate: listen " + c.addr + ": " + errInjectedAccept.Error(),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out, "shutdown did not finish") {
		t.Errorf("the watchdog fired on a shutdown that finished\n%s", out)
	}
}

// TestShutdownWatchdog: a shutdown that hangs (here a listener whose Close
// never returns) ends the process once the watchdog's bound (2s in the
// child) has passed, with a message saying so and exit code 2.
func TestShutdownWatchdog(t *testing.T) {
	c := startLifecycleChild(t, "hung-close")
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.exitCode(t, 30*time.Second); code != watchdogExitCode {
		t.Fatalf("exit code %d, want %d\n%s", code, watchdogExitCode, c.stderr)
	}
	out := c.stderr.String()
	for _, want := range []string{"shutting down: draining requests", "killgate: shutdown did not finish within 2s; exiting with code 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
}
