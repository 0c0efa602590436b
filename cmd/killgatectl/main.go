// Command killgatectl calls killgate's Tencent API 3.0 door (or DBbrain
// itself) from the shell, in tccli's style, signing with TC3-HMAC-SHA256:
//
//	killgatectl CreateKillTask --InstanceId cdb-1 --Duration -1 --User app
//	killgatectl DescribeKillRecords --InstanceId cdb-1 --watch
//
// Run killgatectl -h for every option.
//
// It imports the standard library and killgate/tc3 only (make deps checks
// that it links no server code: no gin, store, Redis or Prometheus).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// version is stamped by the Makefile (-ldflags -X main.version=…).
var version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the API answered an error, or the call failed
	exitUsage = 2 // bad command line or missing credentials
)

const (
	defaultEndpoint = "127.0.0.1:8080"
	apiVersion      = "2021-05-27"
	watchAction     = "DescribeKillRecords"
	// watchPageLimit is the Limit a watch asks for when none is given (the
	// action's maximum); watchMaxPages bounds the catch-up after a burst.
	watchPageLimit = 100
	watchMaxPages  = 10
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

const usage = `usage: killgatectl [options] [dbbrain] <Action> [--<Param> <value> ...]

Calls one DBbrain 2021-05-27 action on killgate, signed with TC3-HMAC-SHA256,
and prints the Response object. Parameters are PascalCase flags as in tccli:
a value that parses as JSON (60, -1, true, ["a","b"], {"k":1}, "quoted") is
sent as JSON, anything else as a string. Quote a number to send it as a
string: --InstanceId '"123"'.

  killgatectl CreateKillTask --InstanceId cdb-1 --Duration -1 --User app
  killgatectl CreateKillTask --cli-input-json '{"InstanceId":"cdb-1","Duration":60,"Infos":["select"]}'
  killgatectl DescribeKillRecords --InstanceId cdb-1 --watch

Actions (parameters: docs/actions/<Action>.md):
  CreateKillTask            start a kill task: --InstanceId --Duration (seconds, -1 = until cancelled)
                            and filters --User --Host --DB --Command --Info/--Infos --Time
  CancelKillTask            stop every active kill task of --InstanceId
  PreviewKillTask           list the sessions a task with these filters would kill now (kills nothing)
  DescribeKillTasks         list kill tasks, newest first
  DescribeKillRecords       the kill history, newest first (--watch follows it)
  KillMySqlThreads          kill sessions by id: --Stage Prepare --Threads [..], then --Stage Commit --SqlExecId
  DescribeMySqlProcessList  the live sessions of --InstanceId
  DescribeDiagDBInstances   the instances killgate manages, with their health

Options:
  --endpoint HOST[:PORT]   killgate address ($KILLGATE_ENDPOINT, default 127.0.0.1:8080);
                           an https:// prefix implies --https
  --https                  use HTTPS (a TLS proxy in front of killgate)
  --insecure               do not verify the server certificate (test certificates only)
  --profile NAME           credentials from ~/.tccli/NAME.credential ({"secretId","secretKey"})
  --secretId ID --secretKey KEY
                           credentials on the command line (visible in ps; prefer env or a profile)
  --region REGION          X-TC-Region ($TENCENTCLOUD_REGION; default none)
  --language LANG          X-TC-Language: en-US or zh-CN
  --cli-input-json JSON    parameters as one JSON object, or file://PATH; flags override it
  --timeout DURATION       per request (default 30s)
  --watch                  DescribeKillRecords only: poll and print new kill records as they happen
  --watch-interval D       poll interval (default 1s)
  --watch-count N          stop after N new records (default: until interrupted)
  --watch-from ID          print records with RecordId > ID (default: only records newer than the first poll)
  --output text|json       watch output: one line per record (text) or one JSON object per line
  --version                print the version

Credentials: --secretId/--secretKey, else --profile, else $TENCENTCLOUD_SECRET_ID and
$TENCENTCLOUD_SECRET_KEY, else ~/.tccli/default.credential.
Errors print "Code: Message (RequestId)" on stderr and exit 1; usage errors exit 2.
`

// options is the parsed command line.
type options struct {
	action                string
	params                map[string]json.RawMessage
	order                 []string // parameter flags in command-line order (duplicate check)
	endpoint              string
	https, insecure       bool
	profile               string
	secretID, secretKey   string
	region, language      string
	inputJSON             string
	timeout               time.Duration
	watch                 bool
	watchInterval         time.Duration
	watchCount            int
	watchFrom             int64
	output                string
	showVersion, showHelp bool
}

// boolFlags take no value.
var boolFlags = map[string]bool{"https": true, "insecure": true, "watch": true, "version": true, "help": true}

// valueFlags take one value.
var valueFlags = map[string]bool{
	"endpoint": true, "profile": true, "secretId": true, "secretKey": true, "region": true, "language": true,
	"cli-input-json": true, "timeout": true, "watch-interval": true, "watch-count": true, "watch-from": true, "output": true,
}

func parseArgs(args []string, env func(string) string) (*options, error) {
	o := &options{
		params: map[string]json.RawMessage{}, timeout: 30 * time.Second,
		watchInterval: time.Second, watchFrom: -1, output: "text",
	}
	var positional []string
	flagVals := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" || a == "-help" {
			o.showHelp = true
			continue
		}
		if !strings.HasPrefix(a, "--") || len(a) == 2 {
			positional = append(positional, a)
			continue
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		isParam := name != "" && name[0] >= 'A' && name[0] <= 'Z'
		switch {
		case isParam:
		case boolFlags[name]:
			if hasVal {
				b, err := strconv.ParseBool(val)
				if err != nil {
					return nil, fmt.Errorf("--%s takes no value or true/false", name)
				}
				val = strconv.FormatBool(b)
			} else {
				val = "true"
			}
			flagVals[name] = val
			continue
		case valueFlags[name]:
		default:
			return nil, fmt.Errorf("unknown option --%s (action parameters start with a capital letter, e.g. --InstanceId)", name)
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			val = args[i]
		}
		if !isParam {
			flagVals[name] = val
			continue
		}
		if _, dup := o.params[name]; dup {
			return nil, fmt.Errorf("parameter --%s given twice", name)
		}
		o.params[name] = paramValue(val)
		o.order = append(o.order, name)
	}
	if len(positional) > 0 && strings.EqualFold(positional[0], "dbbrain") {
		positional = positional[1:] // tccli's "tccli dbbrain Action" shape
	}
	switch {
	case len(positional) == 1:
		o.action = positional[0]
	case len(positional) > 1:
		return nil, fmt.Errorf("one action expected, got %q", positional)
	}

	o.https = flagVals["https"] == "true"
	o.insecure = flagVals["insecure"] == "true"
	o.watch = flagVals["watch"] == "true"
	o.showVersion = flagVals["version"] == "true"
	o.showHelp = o.showHelp || flagVals["help"] == "true"
	o.profile, o.secretID, o.secretKey = flagVals["profile"], flagVals["secretId"], flagVals["secretKey"]
	o.language, o.inputJSON = flagVals["language"], flagVals["cli-input-json"]
	o.region = firstNonEmpty(flagVals["region"], env("TENCENTCLOUD_REGION"))
	o.endpoint = firstNonEmpty(flagVals["endpoint"], env("KILLGATE_ENDPOINT"), defaultEndpoint)
	if v := flagVals["output"]; v != "" {
		if v != "text" && v != "json" {
			return nil, fmt.Errorf("--output must be text or json")
		}
		o.output = v
	}
	var err error
	if v := flagVals["timeout"]; v != "" {
		if o.timeout, err = time.ParseDuration(v); err != nil || o.timeout <= 0 {
			return nil, fmt.Errorf("--timeout: want a positive duration such as 30s")
		}
	}
	if v := flagVals["watch-interval"]; v != "" {
		if o.watchInterval, err = time.ParseDuration(v); err != nil || o.watchInterval <= 0 {
			return nil, fmt.Errorf("--watch-interval: want a positive duration such as 1s")
		}
	}
	if v := flagVals["watch-count"]; v != "" {
		if o.watchCount, err = strconv.Atoi(v); err != nil || o.watchCount < 1 {
			return nil, fmt.Errorf("--watch-count: want a positive number")
		}
	}
	if v := flagVals["watch-from"]; v != "" {
		if o.watchFrom, err = strconv.ParseInt(v, 10, 64); err != nil || o.watchFrom < 0 {
			return nil, fmt.Errorf("--watch-from: want a RecordId (0 prints every record)")
		}
	}
	if (o.secretID == "") != (o.secretKey == "") {
		return nil, errors.New("--secretId and --secretKey go together")
	}
	if o.inputJSON != "" {
		if err := o.mergeInputJSON(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// paramValue sends val as JSON when it is JSON, else as a JSON string.
func paramValue(val string) json.RawMessage {
	t := strings.TrimSpace(val)
	if t != "" && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(val)
	return b
}

// mergeInputJSON adds --cli-input-json parameters that flags did not set.
func (o *options) mergeInputJSON() error {
	raw := []byte(o.inputJSON)
	if path, ok := strings.CutPrefix(o.inputJSON, "file://"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--cli-input-json: %w", err)
		}
		raw = b
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("--cli-input-json: not a JSON object: %w", err)
	}
	for k, v := range m {
		if _, set := o.params[k]; !set {
			o.params[k] = v
		}
	}
	return nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// credentialFile is tccli's ~/.tccli/<profile>.credential.
type credentialFile struct {
	SecretID  string `json:"secretId"`
	SecretKey string `json:"secretKey"`
}

// credentials resolves the key pair: flags, an explicit profile, the SDK
// environment variables, then the default profile.
func (o *options) credentials(env func(string) string) (id, key string, err error) {
	if o.secretID != "" {
		return o.secretID, o.secretKey, nil
	}
	if o.profile != "" {
		return readProfile(env, o.profile, true)
	}
	if id, key := env("TENCENTCLOUD_SECRET_ID"), env("TENCENTCLOUD_SECRET_KEY"); id != "" && key != "" {
		return id, key, nil
	}
	id, key, err = readProfile(env, "default", false)
	if err == nil && id == "" {
		err = errors.New("no credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, pass --profile, or create ~/.tccli/default.credential")
	}
	return id, key, err
}

func readProfile(env func(string) string, name string, must bool) (string, string, error) {
	home := env("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", "", fmt.Errorf("profile %s: no home directory: %w", name, err)
		}
		home = h
	}
	path := filepath.Join(home, ".tccli", name+".credential")
	b, err := os.ReadFile(path)
	if err != nil {
		if !must && errors.Is(err, os.ErrNotExist) {
			return "", "", nil
		}
		return "", "", fmt.Errorf("profile %s: %w", name, err)
	}
	var c credentialFile
	if err := json.Unmarshal(b, &c); err != nil {
		return "", "", fmt.Errorf("profile %s: %s is not JSON: %w", name, path, err)
	}
	if c.SecretID == "" || c.SecretKey == "" {
		return "", "", fmt.Errorf("profile %s: %s has no secretId/secretKey", name, path)
	}
	return c.SecretID, c.SecretKey, nil
}

func run(args []string, stdout, stderr io.Writer, env func(string) string) int {
	o, err := parseArgs(args, env)
	if err != nil {
		fmt.Fprintln(stderr, "killgatectl:", err)
		fmt.Fprintln(stderr, "run killgatectl -h for help")
		return exitUsage
	}
	if o.showHelp {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if o.showVersion {
		fmt.Fprintln(stdout, "killgatectl", version)
		return exitOK
	}
	if o.action == "" {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if o.watch && o.action != watchAction {
		fmt.Fprintf(stderr, "killgatectl: --watch works with %s only\n", watchAction)
		return exitUsage
	}
	id, key, err := o.credentials(env)
	if err != nil {
		fmt.Fprintln(stderr, "killgatectl:", err)
		return exitUsage
	}
	c, err := newClient(o, id, key)
	if err != nil {
		fmt.Fprintln(stderr, "killgatectl:", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.watch {
		return watch(ctx, c, o, stdout, stderr)
	}
	resp, err := c.call(ctx, o.action, o.params)
	if err != nil {
		printErr(stderr, err)
		return exitError
	}
	var out bytes.Buffer
	if err := json.Indent(&out, resp, "", "  "); err != nil {
		out.Reset()
		out.Write(resp)
	}
	out.WriteByte('\n')
	_, _ = stdout.Write(out.Bytes())
	return exitOK
}
