package main

// Longer than 400 lines on purpose: the whole config contract (keys, defaults, ${VAR} expansion,
// line-numbered errors, validation) in one place, as docs/configuration.md describes it.

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"killgate/gateway"
	"killgate/killtask"
	"killgate/ratelimit"
)

// Config is killgate's one YAML file. Every key is documented in
// docs/configuration.md; a test keeps the two in step.
type Config struct {
	Listen      string             `yaml:"listen"`
	Store       StoreConfig        `yaml:"store"`
	Credentials []CredentialConfig `yaml:"credentials"`
	Huawei      HuaweiConfig       `yaml:"huawei"`
	Instances   []InstanceConfig   `yaml:"instances"`
	Worker      WorkerConfig       `yaml:"worker"`
	History     HistoryConfig      `yaml:"history"`
	RateLimit   RateLimitConfig    `yaml:"ratelimit"`
	Requests    RequestsConfig     `yaml:"requests"`
	Log         LogConfig          `yaml:"log"`
	Ops         OpsConfig          `yaml:"ops"`
}

// StoreConfig says where tasks and history live.
type StoreConfig struct {
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
}

// CredentialConfig is one Tencent API key pair and its scope.
type CredentialConfig struct {
	SecretID  string   `yaml:"secret_id"`
	SecretKey string   `yaml:"secret_key"`
	Actions   []string `yaml:"actions"`
	Instances []string `yaml:"instances"`
}

// HuaweiConfig configures the Huawei GaussDB door.
type HuaweiConfig struct {
	ProjectID string         `yaml:"project_id"`
	Tokens    []string       `yaml:"tokens"`
	Keys      []HuaweiKeyCfg `yaml:"keys"`
}

// HuaweiKeyCfg is one AK/SK pair.
type HuaweiKeyCfg struct {
	AK string `yaml:"ak"`
	SK string `yaml:"sk"`
}

// InstanceConfig is one managed database instance.
type InstanceConfig struct {
	ID             string       `yaml:"id"`
	Product        string       `yaml:"product"`
	DSN            string       `yaml:"dsn"`
	Nodes          []NodeConfig `yaml:"nodes"`
	ProtectedUsers []string     `yaml:"protected_users"`
	// KillMethod: kill (KILL statements, the default) or rds (CALL
	// mysql.rds_kill / mysql.rds_kill_query, for managed servers whose
	// accounts may not KILL). DefaultKillMode: the kill mode of tasks
	// created without KillMode, CONNECTION (default) or QUERY.
	KillMethod      string `yaml:"kill_method"`
	DefaultKillMode string `yaml:"default_kill_mode"`
}

// NodeConfig is one node of an instance.
type NodeConfig struct {
	ID  string `yaml:"id"`
	DSN string `yaml:"dsn"`
}

// WorkerConfig tunes enforcement.
type WorkerConfig struct {
	PollInterval        time.Duration `yaml:"poll_interval"`
	MaxReadInterval     time.Duration `yaml:"max_read_interval"` // slowest read while every task has Time (docs/matching-and-safety.md)
	MaxTasksPerInstance int           `yaml:"max_tasks_per_instance"`
	KillConcurrency     int           `yaml:"kill_concurrency"`
	KillTimeout         time.Duration `yaml:"kill_timeout"`
	LeaseTTL            time.Duration `yaml:"lease_ttl"` // node leases, store.driver mysql only (docs/scale-out.md)
}

// HistoryConfig sets kill-history retention.
type HistoryConfig struct {
	MaxAge  time.Duration `yaml:"max_age"`
	MaxRows int64         `yaml:"max_rows"`
}

// RateLimitConfig sets the per (SecretId, Action) limit.
type RateLimitConfig struct {
	PerSecond float64           `yaml:"per_second"`
	Burst     int               `yaml:"burst"`
	Redis     RateLimitRedisCfg `yaml:"redis"` // fleet-wide limit when addr is set (docs/scale-out.md)
}

// RateLimitRedisCfg is the Redis shared by the replicas for the limit.
type RateLimitRedisCfg struct {
	Addr     string        `yaml:"addr"` // host:port; empty = per-replica limit
	Password string        `yaml:"password"`
	DB       int           `yaml:"db"`
	Timeout  time.Duration `yaml:"timeout"` // per decision; past it the local limiter decides
}

// RequestsConfig bounds the memory request bodies take before and while
// they are authenticated (docs/operations.md#request-bodies).
type RequestsConfig struct {
	BodyMemoryMB int           `yaml:"body_memory_mb"` // MiB of bodies over 64 KB held at once, all requests together
	BodyWait     time.Duration `yaml:"body_wait"`      // how long a request waits for that memory before it is refused
}

// LogConfig sets logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | console
}

// OpsConfig sets the operator endpoints (/metrics, /healthz, /readyz).
type OpsConfig struct {
	Listen  string `yaml:"listen"`  // separate listener for them; "" = the main listener
	Metrics bool   `yaml:"metrics"` // serve /metrics (default true)
}

// defaultLeaseTTL is worker.lease_ttl's default: killgate's own choice for
// a shared store (the engine's default is no leases at all).
const defaultLeaseTTL = 3 * time.Second

// defaultConfig returns the values used for keys the file leaves out. Each
// package's defaults come from that package (killtask.DefaultConfig,
// ratelimit, gateway), so that a default lives in one place; the file's own
// are the listener, store, log and ops settings and the lease TTL.
func defaultConfig() Config {
	ec := killtask.DefaultConfig()
	return Config{
		Listen: "127.0.0.1:8080",
		Store:  StoreConfig{Driver: "sqlite", DSN: "killgate.db"},
		Worker: WorkerConfig{
			PollInterval: ec.PollInterval, MaxReadInterval: ec.MaxReadInterval, MaxTasksPerInstance: ec.MaxTasksPerInstance,
			KillConcurrency: ec.KillConcurrency, KillTimeout: ec.KillTimeout, LeaseTTL: defaultLeaseTTL,
		},
		History: HistoryConfig{MaxAge: ec.HistoryMaxAge, MaxRows: ec.HistoryMaxRows},
		RateLimit: RateLimitConfig{PerSecond: ratelimit.DefaultPerSecond, Burst: ratelimit.DefaultBurst,
			Redis: RateLimitRedisCfg{Timeout: ratelimit.DefaultRedisTimeout}},
		Requests: RequestsConfig{BodyMemoryMB: gateway.DefaultBodyBudget >> 20, BodyWait: gateway.DefaultBodyWait},
		Log:      LogConfig{Level: "info", Format: "json"},
		Ops:      OpsConfig{Metrics: true},
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// loadConfig reads and validates a config file. ${VAR} in any value is
// replaced from the environment (an unset variable is an error naming it);
// an unknown key is an error naming the key and its line.
func loadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return parseConfig(raw, os.LookupEnv)
}

func parseConfig(raw []byte, lookup func(string) (string, bool)) (Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg := defaultConfig()
	if len(doc.Content) == 0 {
		return cfg, cfg.validate()
	}
	if err := checkKeys(doc.Content[0], reflect.TypeFor[Config](), ""); err != nil {
		return Config{}, err
	}
	if err := expandNode(&doc, lookup); err != nil {
		return Config{}, err
	}
	if err := doc.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("config: %s", strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:\n  ", ""))
	}
	return cfg, cfg.validate()
}

// checkKeys reports the first mapping key that names no field of t, with its
// dotted path and line (yaml's own strict mode loses both once values are
// expanded).
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			f, ok := yamlField(t, key)
			name := key
			if path != "" {
				name = path + "." + key
			}
			if !ok {
				return fmt.Errorf("config: line %d: unknown key %s", n.Content[i].Line, name)
			}
			if err := checkKeys(n.Content[i+1], f.Type, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func yamlField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// expandNode replaces ${VAR} in scalar values (never in keys).
func expandNode(n *yaml.Node, lookup func(string) (string, bool)) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := expandNode(c, lookup); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := expandNode(n.Content[i], lookup); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		var missing string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			v, ok := lookup(name)
			if !ok && missing == "" {
				missing = name
			}
			return v
		})
		if missing != "" {
			return fmt.Errorf("config: line %d: environment variable %s is not set", n.Line, missing)
		}
	}
	return nil
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	if c.Listen == "" {
		bad("listen is empty")
	}
	switch c.Store.Driver {
	case "sqlite", "mysql":
	default:
		bad("store.driver must be sqlite or mysql, not %q", c.Store.Driver)
	}
	if c.Store.DSN == "" {
		bad("store.dsn is empty")
	}
	if len(c.Credentials) == 0 {
		bad("credentials: at least one secret_id/secret_key is needed")
	}
	seenCred := map[string]bool{}
	for i, cr := range c.Credentials {
		if cr.SecretID == "" || cr.SecretKey == "" {
			bad("credentials[%d]: secret_id and secret_key are required", i)
		}
		if seenCred[cr.SecretID] {
			bad("credentials[%d]: secret_id %s appears twice", i, cr.SecretID)
		}
		seenCred[cr.SecretID] = true
	}
	seenInst := map[string]bool{}
	for i, in := range c.Instances {
		if in.ID == "" {
			bad("instances[%d]: id is required", i)
		}
		if seenInst[in.ID] {
			bad("instances[%d]: id %s appears twice", i, in.ID)
		}
		seenInst[in.ID] = true
		switch in.Product {
		case "mysql", "cynosdb":
		case "":
			c.Instances[i].Product = "mysql"
		default:
			bad("instances[%d] (%s): product must be mysql or cynosdb, not %q", i, in.ID, in.Product)
		}
		if (in.DSN == "") == (len(in.Nodes) == 0) {
			bad("instances[%d] (%s): set exactly one of dsn and nodes", i, in.ID)
		}
		for j, n := range in.Nodes {
			if n.ID == "" || n.DSN == "" {
				bad("instances[%d] (%s): nodes[%d] needs id and dsn", i, in.ID, j)
			}
		}
		if m, ok := killtask.ParseKillMethod(in.KillMethod); ok {
			c.Instances[i].KillMethod = string(m)
		} else {
			bad("instances[%d] (%s): kill_method must be kill or rds, not %q", i, in.ID, in.KillMethod)
		}
		if m, ok := killtask.ParseKillMode(in.DefaultKillMode); ok && m != "" {
			c.Instances[i].DefaultKillMode = string(m)
		} else if !ok {
			bad("instances[%d] (%s): default_kill_mode must be CONNECTION or QUERY, not %q", i, in.ID, in.DefaultKillMode)
		}
	}
	// A credential's instance allow-list names configured instances: a typo
	// would otherwise leave the key answering UnauthorizedOperation.
	for i, cr := range c.Credentials {
		for _, id := range cr.Instances {
			if id != "*" && !seenInst[id] {
				bad("credentials[%d] (%s): instances: %q is not a configured instance", i, cr.SecretID, id)
			}
		}
	}
	if c.Worker.PollInterval < 10*time.Millisecond {
		bad("worker.poll_interval must be at least 10ms")
	}
	if c.Worker.MaxReadInterval < c.Worker.PollInterval {
		bad("worker.max_read_interval must be at least worker.poll_interval")
	}
	if c.Worker.MaxTasksPerInstance < 1 {
		bad("worker.max_tasks_per_instance must be at least 1")
	}
	if c.Worker.KillConcurrency < 1 {
		bad("worker.kill_concurrency must be at least 1")
	}
	if c.Worker.KillTimeout < time.Second {
		bad("worker.kill_timeout must be at least 1s (a MariaDB KILL can take ~2s)")
	}
	if c.Worker.LeaseTTL < time.Second {
		bad("worker.lease_ttl must be at least 1s")
	}
	switch ps := c.RateLimit.PerSecond; {
	case math.IsNaN(ps) || math.IsInf(ps, 0):
		// .nan and .inf are YAML floats; either would turn limiting off.
		bad("ratelimit.per_second must be a finite number (0 = unlimited), not %v", ps)
	case c.RateLimit.Burst < 0 || ps < 0:
		bad("ratelimit.per_second and burst must not be negative")
	}
	if c.RateLimit.Redis.Timeout < time.Millisecond || c.RateLimit.Redis.Timeout > 5*time.Second {
		bad("ratelimit.redis.timeout must be between 1ms and 5s")
	}
	if c.RateLimit.Redis.DB < 0 {
		bad("ratelimit.redis.db must not be negative")
	}
	if c.Requests.BodyMemoryMB < 32 || c.Requests.BodyMemoryMB > 1<<16 {
		bad("requests.body_memory_mb must be between 32 and 65536 (a 10 MB body sent without a Content-Length needs about 26 MB)")
	}
	if c.Requests.BodyWait < 10*time.Millisecond || c.Requests.BodyWait > 30*time.Second {
		bad("requests.body_wait must be between 10ms and 30s")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		bad("log.format must be json or console")
	}
	if c.Ops.Listen != "" && c.Ops.Listen == c.Listen {
		bad("ops.listen must differ from listen (leave it empty to serve ops endpoints on the main listener)")
	}
	return errors.Join(errs...)
}

// checkCredentialActions reports a credential whose action allow-list names
// an action the API does not have (known: the registry's names).
func (c *Config) checkCredentialActions(known []string) error {
	var errs []error
	for i, cr := range c.Credentials {
		for _, a := range cr.Actions {
			if a != "*" && !slices.Contains(known, a) {
				errs = append(errs, fmt.Errorf("config: credentials[%d] (%s): actions: %q is not an action of the API", i, cr.SecretID, a))
			}
		}
	}
	return errors.Join(errs...)
}
