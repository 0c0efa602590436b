package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestKgbenchServe runs a whole killgate from the config file named by
// KGBENCH_SERVE_CONFIG until SIGTERM; it is skipped otherwise. cmd/kgbench
// (BENCH_PROFILE=dir) runs killgate this way, as `killgate.test
// -test.cpuprofile=…`, to profile each benchmark scenario: the binary itself
// has no pprof endpoint.
func TestKgbenchServe(t *testing.T) {
	path := os.Getenv("KGBENCH_SERVE_CONFIG")
	if path == "" {
		t.Skip("KGBENCH_SERVE_CONFIG not set (only cmd/kgbench runs this)")
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	log, err := newLogger(cfg.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Sync() //nolint:errcheck
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log, nil); err != nil {
		t.Fatal(err)
	}
}
