package main

import (
	"strings"
	"testing"
)

// FuzzParseConfig: any bytes either load or fail with a "config:" error,
// never a panic. (Secret fields never reaching errors is TestParseConfigErrors'
// job: here a fuzzed file may put a secret into an id, which is echoed.)
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("listen: ${X}\n"))
	f.Add([]byte("worker: {poll_interval: 1s, kill_timeout: -5s}\n"))
	f.Add([]byte("instances: [{id: a, nodes: [{id: n, dsn: \"${PW}\"}]}]\n"))
	f.Add([]byte("credentials: &a [{secret_id: x, secret_key: y}]\nhuawei: *a\n"))
	f.Add([]byte("- - - [\n"))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, err := parseConfig(raw, env(map[string]string{"KEY": "k", "PW": "fuzz-secret-pw", "X": "127.0.0.1:1"}))
		if err != nil && !strings.HasPrefix(err.Error(), "config:") {
			t.Fatalf("error without the config: prefix: %v", err)
		}
	})
}
