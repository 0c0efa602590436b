package main

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	synced int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) Sync() error    { s.mu.Lock(); defer s.mu.Unlock(); s.synced++; return nil }
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestBufferedSink(t *testing.T) {
	t.Run("flushed-within-the-interval", func(t *testing.T) {
		out := &syncBuffer{}
		b := newBufferedSink(out, 1<<10, 50*time.Millisecond)
		if _, err := b.Write([]byte("line 1\n")); err != nil {
			t.Fatal(err)
		}
		if out.String() != "" {
			t.Fatal("written through at once")
		}
		deadline := time.Now().Add(5 * time.Second)
		for out.String() != "line 1\n" {
			if time.Now().After(deadline) {
				t.Fatalf("not flushed: %q", out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.mu.Lock()
		armed := b.armed
		b.mu.Unlock()
		if armed {
			t.Error("a flush is still scheduled with nothing buffered")
		}
	})
	t.Run("sync-flushes", func(t *testing.T) {
		out := &syncBuffer{}
		b := newBufferedSink(out, 1<<10, time.Hour)
		_, _ = b.Write([]byte("a\n"))
		_, _ = b.Write([]byte("b\n"))
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		if out.String() != "a\nb\n" || out.synced != 1 {
			t.Fatalf("after Sync: %q, synced %d", out.String(), out.synced)
		}
	})
	t.Run("full-buffer-writes-through", func(t *testing.T) {
		out := &syncBuffer{}
		b := newBufferedSink(out, 64, time.Hour)
		line := strings.Repeat("x", 40) + "\n"
		_, _ = b.Write([]byte(line))
		_, _ = b.Write([]byte(line))
		if !strings.HasPrefix(out.String(), line) {
			t.Fatalf("a full buffer was not written out: %q", out.String())
		}
	})
}

// Console logs get colours on a terminal only: redirected to a file (make
// run > log) they are plain text, and NO_COLOR turns them off anywhere.
func TestColorTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if colorTerminal(f) {
		t.Error("a regular file is taken for a terminal")
	}
	// A character device (as a terminal is; /dev/null is one on every
	// machine, a terminal is not) gets colours unless NO_COLOR is set.
	dev, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	t.Setenv("NO_COLOR", "")
	if !colorTerminal(dev) {
		t.Error("a character device gets no colours")
	}
	t.Setenv("NO_COLOR", "1")
	if colorTerminal(dev) {
		t.Error("NO_COLOR is ignored")
	}
}
