package killtask

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewEngineValidation(t *testing.T) {
	st := newStore(t)
	for _, tt := range []struct {
		name  string
		insts []InstanceConfig
	}{
		{"no-id", []InstanceConfig{{ID: "", DSN: rootDSN}}},
		{"id-twice", []InstanceConfig{{ID: "a", DSN: rootDSN}, {ID: "a", DSN: rootDSN}}},
		{"no-dsn-no-nodes", []InstanceConfig{{ID: "a"}}},
		{"dsn-and-nodes", []InstanceConfig{{ID: "a", DSN: rootDSN, Nodes: []NodeConfig{{ID: "n", DSN: rootDSN}}}}},
		{"node-id-twice", []InstanceConfig{{ID: "a", Nodes: []NodeConfig{{ID: "n", DSN: rootDSN}, {ID: "n", DSN: rootDSN}}}}},
		{"bad-dsn-password-not-echoed", []InstanceConfig{{ID: "a", DSN: "u:hunter2@tcp(127.0.0.1:3306)/?badparam=%zz"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEngine(Config{}, st, tt.insts, nil)
			if err == nil {
				t.Error("no error")
			} else if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	e, err := NewEngine(Config{}, st, []InstanceConfig{rootInstance("a")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.Config(); c.PollInterval != 500*time.Millisecond || c.KillConcurrency != 8 || c.KillTimeout != 5*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	n := e.instances["a"].nodes[0]
	if n.mc.Timeout == 0 || n.mc.ReadTimeout == 0 || n.mc.WriteTimeout == 0 {
		t.Fatalf("timeouts not set: %+v", n.mc)
	}
	if _, ok := e.Instance("a"); !ok {
		t.Fatal("Instance(a)")
	}
	if err := e.CreateTask(context.Background(), newTask("zzz", Filter{}, 5)); !errors.Is(err, ErrUnknownInstance) {
		t.Fatalf("unknown instance: %v", err)
	}
}
