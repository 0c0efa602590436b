package main

import (
	"strings"
	"testing"

	"killgate/killtask"
)

// TestInstanceKillMethodAndMode: instances.kill_method and
// instances.default_kill_mode are read, normalised, checked and handed to
// the engine.
func TestInstanceKillMethodAndMode(t *testing.T) {
	vars := env(map[string]string{"KEY": "k", "PW": "p"})
	with := func(lines string) string {
		return strings.ReplaceAll(minimal, "id: cdb-1", "id: cdb-1\n"+lines)
	}
	for _, tt := range []struct {
		name, yaml string
		method     killtask.KillMethod
		mode       killtask.KillMode
	}{
		{"defaults", minimal, killtask.MethodKill, ""},
		{"rds and query", with("    kill_method: rds\n    default_kill_mode: query"), killtask.MethodRDS, killtask.KillQuery},
		{"upper-case method", with("    kill_method: RDS"), killtask.MethodRDS, ""},
		{"connection", with("    kill_method: kill\n    default_kill_mode: CONNECTION"), killtask.MethodKill, killtask.KillConnection},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig([]byte(tt.yaml), vars)
			if err != nil {
				t.Fatal(err)
			}
			ic := instanceConfigs(cfg)[0]
			if ic.KillMethod != tt.method || ic.DefaultKillMode != tt.mode {
				t.Fatalf("engine instance %+v", ic)
			}
		})
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"bad method", with("    kill_method: super"), `instances[0] (cdb-1): kill_method must be kill or rds, not "super"`},
		{"bad mode", with("    default_kill_mode: observe"), `instances[0] (cdb-1): default_kill_mode must be CONNECTION or QUERY, not "observe"`},
		{"method is not a list", with("    kill_method: [rds]"), "line 5"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.yaml), vars)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
