package main

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const minimal = `
credentials: [{secret_id: AKID1, secret_key: "${KEY}"}]
instances:
  - id: cdb-1
    dsn: "killer:${PW}@tcp(127.0.0.1:3306)/"
`

func TestParseConfig(t *testing.T) {
	cfg, err := parseConfig([]byte(minimal), env(map[string]string{"KEY": "k-from-env", "PW": "p:w@/x"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Credentials[0].SecretKey != "k-from-env" || cfg.Instances[0].DSN != "killer:p:w@/x@tcp(127.0.0.1:3306)/" {
		t.Fatalf("expansion: %+v", cfg)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Store.Driver != "sqlite" || cfg.Worker.PollInterval != 500*time.Millisecond ||
		cfg.Worker.MaxTasksPerInstance != 5 || cfg.RateLimit.PerSecond != 20 || cfg.Instances[0].Product != "mysql" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown-top-key", minimal + "\nlistn: x\n", "listn"},
		{"unknown-nested-key", minimal + "\nworker: {poll_intervall: 1s}\n", "line 7: unknown key worker.poll_intervall"},
		{"unknown-list-key", minimal + "    protected: [x]\n", "unknown key instances[0].protected"},
		{"unset-env", strings.ReplaceAll(minimal, "${PW}", "${NOPE_UNSET}"), "NOPE_UNSET"},
		{"no-credentials", "instances: []\n", "credentials"},
		{"bad-driver", minimal + "\nstore: {driver: postgres, dsn: x}\n", "store.driver"},
		{"bad-product", strings.ReplaceAll(minimal, "id: cdb-1", "id: cdb-1\n    product: redis"), "product"},
		{"dsn-and-nodes", strings.ReplaceAll(minimal, "id: cdb-1", "id: cdb-1\n    nodes: [{id: n1, dsn: x}]"), "exactly one of dsn and nodes"},
		{"duplicate-instance", minimal + "  - {id: cdb-1, dsn: x}\n", "appears twice"},
		{"tiny-interval", minimal + "\nworker: {poll_interval: 1ms}\n", "poll_interval"},
		{"bad-duration", minimal + "\nworker: {poll_interval: soon}\n", "line 7"},
		{"not-yaml", "credentials: [", "config"},
		{"ratelimit-nan", minimal + "\nratelimit: {per_second: .nan}\n", "ratelimit.per_second must be a finite number"},
		{"ratelimit-inf", minimal + "\nratelimit: {per_second: .inf}\n", "ratelimit.per_second must be a finite number"},
		{"ratelimit-minus-inf", minimal + "\nratelimit: {per_second: -.Inf}\n", "ratelimit.per_second must be a finite number"},
		{"body-memory-too-small", minimal + "\nrequests: {body_memory_mb: 16}\n", "requests.body_memory_mb"},
		{"body-wait-zero", minimal + "\nrequests: {body_wait: 0s}\n", "requests.body_wait"},
		{"ratelimit-negative", minimal + "\nratelimit: {per_second: -1}\n", "must not be negative"},
		{"credential-unknown-instance", strings.ReplaceAll(minimal, `secret_key: "${KEY}"}`, `secret_key: "${KEY}", instances: [cdb-nope]}`), `instances: "cdb-nope" is not a configured instance`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.yaml), env(map[string]string{"KEY": "k", "PW": "secret-pw"}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

// A credential's action allow-list names actions of the API; "*" is all.
func TestCredentialActionsKnown(t *testing.T) {
	known := []string{"CreateKillTask", "DescribeKillRecords"}
	cfg, err := parseConfig([]byte(strings.ReplaceAll(minimal, `secret_key: "${KEY}"}`, `secret_key: "${KEY}", actions: [DescribeKillRecords, "*"], instances: [cdb-1, "*"]}`)), env(map[string]string{"KEY": "k", "PW": "p"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.checkCredentialActions(known); err != nil {
		t.Fatalf("known actions refused: %v", err)
	}
	cfg.Credentials[0].Actions = []string{"DescribeKillRecordz"}
	if err := cfg.checkCredentialActions(known); err == nil || !strings.Contains(err.Error(), `"DescribeKillRecordz" is not an action of the API`) {
		t.Fatalf("a typo in actions: %v", err)
	}
}

// TestExampleConfig: the README's config loads as shipped.
func TestExampleConfig(t *testing.T) {
	raw, err := os.ReadFile("../../docs/killgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(raw, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Store.Driver != "sqlite" || len(cfg.Instances) != 1 || cfg.Credentials[0].SecretID != demoSecretID {
		t.Fatalf("%+v", cfg)
	}
}

func TestVersionFlag(t *testing.T) {
	if err := run([]string{"-version"}); err != nil {
		t.Fatal(err)
	}
	if err := run(nil); err == nil || !strings.Contains(err.Error(), "-config") {
		t.Fatalf("no config: %v", err)
	}
}

// TestSharedStoreProtectsOwnAccounts: with a MySQL store (replicas), the
// accounts killgate connects with are protected on every instance; with the
// embedded store they are not added.
func TestSharedStoreProtectsOwnAccounts(t *testing.T) {
	cfg, err := parseConfig([]byte(minimal+"\n  - {id: cdb-2, nodes: [{id: n1, dsn: \"other:pw@tcp(10.0.0.2:3306)/\"}], protected_users: [app_admin]}\n"),
		env(map[string]string{"KEY": "k", "PW": "p"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, ic := range instanceConfigs(cfg) {
		if len(ic.ProtectedUsers) > 1 || (len(ic.ProtectedUsers) == 1 && ic.ProtectedUsers[0] != "app_admin") {
			t.Fatalf("embedded store: %s protects %v", ic.ID, ic.ProtectedUsers)
		}
	}
	cfg.Store = StoreConfig{Driver: "mysql", DSN: "kgstore:pw@tcp(127.0.0.1:3306)/killgate"}
	want := map[string][]string{"cdb-1": {"kgstore", "killer", "other"}, "cdb-2": {"app_admin", "kgstore", "killer", "other"}}
	for _, ic := range instanceConfigs(cfg) {
		got := slices.Sorted(slices.Values(ic.ProtectedUsers))
		if !slices.Equal(got, want[ic.ID]) {
			t.Fatalf("shared store: %s protects %v, want %v", ic.ID, got, want[ic.ID])
		}
	}
}
