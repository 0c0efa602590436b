package main

import (
	"bufio"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The process's logger (newLogger) and its buffer.
//
// Log lines (one access line per request, one line per kill attempt) are
// buffered: writing each to stderr as it comes was the largest cost of a
// cheap request after the request itself (docs/benchmarks.md). A line is
// written out at most logFlushEvery after it was logged, when the buffer
// fills, and on Sync (shutdown). No timer runs while nothing is buffered.
const (
	logFlushEvery = time.Second
	logBufferSize = 256 << 10
)

// bufferedSink is a zapcore.WriteSyncer that buffers writes to out.
type bufferedSink struct {
	mu    sync.Mutex
	out   zapcore.WriteSyncer
	w     *bufio.Writer
	every time.Duration
	armed bool // a flush is scheduled
}

func newBufferedSink(out zapcore.WriteSyncer, size int, every time.Duration) *bufferedSink {
	return &bufferedSink{out: out, w: bufio.NewWriterSize(out, size), every: every}
}

// Write buffers p (a whole log line) and schedules a flush if none is.
func (b *bufferedSink) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p) // writes through when the buffer is full
	if !b.armed && b.w.Buffered() > 0 {
		b.armed = true
		time.AfterFunc(b.every, b.flushScheduled)
	}
	return n, err
}

func (b *bufferedSink) flushScheduled() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	_ = b.w.Flush()
}

// Sync writes out what is buffered and syncs out.
func (b *bufferedSink) Sync() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.w.Flush(); err != nil {
		return err
	}
	return b.out.Sync()
}

// flushingCore writes warnings and errors out at once (an operator tailing
// the log sees a failure when it happens); info lines (access, kills) wait
// for the buffer.
type flushingCore struct{ zapcore.Core }

func (c flushingCore) With(fields []zapcore.Field) zapcore.Core {
	return flushingCore{c.Core.With(fields)}
}

func (c flushingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c flushingCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	err := c.Core.Write(e, fields)
	if e.Level >= zapcore.WarnLevel {
		if serr := c.Core.Sync(); err == nil {
			err = serr
		}
	}
	return err
}

// newLogger builds the process's logger: JSON (or console) lines on stderr,
// buffered (logbuf.go; flushed within a second, at once for warnings and
// errors, and on shutdown), never sampled — every request and every kill
// attempt gets its line.
func newLogger(c LogConfig) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	var enc zapcore.Encoder
	if c.Format == "console" {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		if colorTerminal(os.Stderr) {
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	sink := newBufferedSink(zapcore.Lock(os.Stderr), logBufferSize, logFlushEvery)
	return zap.New(flushingCore{zapcore.NewCore(enc, sink, zap.NewAtomicLevelAt(lvl))},
		zap.AddCaller(), zap.ErrorOutput(zapcore.Lock(os.Stderr))), nil
}

// colorTerminal reports whether f is a terminal that should get colours:
// not when it is redirected to a file or pipe, nor when NO_COLOR is set.
func colorTerminal(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
