package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"killgate/actions"
	"killgate/gateway"
	"killgate/killtask"
)

// The docs drift tests: every action has its page, every config key, error
// code and metric is documented. KILLGATE_UPDATE_DOCS=1 regenerates the
// generated part of docs/errors.md.

const docsDir = "../../docs"

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(docsDir, name))
	if err != nil {
		t.Fatalf("docs/%s: %v", name, err)
	}
	return string(b)
}

// TestDocsEveryActionHasAPage: docs/actions/<Name>.md exists for every
// registered action.
func TestDocsEveryActionHasAPage(t *testing.T) {
	reg := actions.NewRegistry(actions.NewService(nil, zap.NewNop()).Actions())
	for _, name := range reg.Names() {
		if _, err := os.Stat(filepath.Join(docsDir, "actions", name+".md")); err != nil {
			t.Errorf("action %s has no page docs/actions/%s.md", name, name)
		}
	}
}

// configKeys walks the Config struct's yaml tags: "worker.poll_interval",
// and "instances.nodes.dsn" for fields of list items.
func configKeys(typ reflect.Type, prefix string) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		out = append(out, key)
		ft := f.Type
		for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Map {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == typ.PkgPath() {
			out = append(out, configKeys(ft, key)...)
		}
	}
	return out
}

// TestDocsEveryConfigKey: every key of the Config struct is in the key
// table of docs/configuration.md, written as `key`.
func TestDocsEveryConfigKey(t *testing.T) {
	doc := readDoc(t, "configuration.md")
	keys := configKeys(reflect.TypeFor[Config](), "")
	if len(keys) < 20 {
		t.Fatalf("found only %d config keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(doc, "| `"+k+"` |") {
			t.Errorf("config key %s is not documented in docs/configuration.md (a table row starting | `%s` |)", k, k)
		}
	}
}

const (
	errorsBegin = "<!-- BEGIN GENERATED from actions.Catalog by cmd/killgate/docs_test.go (KILLGATE_UPDATE_DOCS=1 go test ./cmd/killgate -run TestDocsErrors); do not edit -->"
	errorsEnd   = "<!-- END GENERATED -->"
)

// errorsTable renders the catalog as a Markdown table.
func errorsTable() string {
	var b strings.Builder
	b.WriteString("| Code | When |\n|---|---|\n")
	for _, code := range actions.Codes() {
		b.WriteString("| `" + string(code) + "` | " + strings.ReplaceAll(actions.Catalog[code], "|", `\|`) + " |\n")
	}
	return b.String()
}

// TestDocsErrors: docs/errors.md lists every code of actions.Catalog, in a
// generated table that matches the catalog.
func TestDocsErrors(t *testing.T) {
	path := filepath.Join(docsDir, "errors.md")
	doc := readDoc(t, "errors.md")
	start := strings.Index(doc, errorsBegin)
	end := strings.Index(doc, errorsEnd)
	if start < 0 || end < start {
		t.Fatalf("docs/errors.md lacks the generated-table markers")
	}
	want := doc[:start+len(errorsBegin)] + "\n" + errorsTable() + doc[end:]
	if os.Getenv("KILLGATE_UPDATE_DOCS") == "1" && want != doc {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		doc = want
		t.Log("regenerated docs/errors.md")
	}
	for _, code := range actions.Codes() {
		if !strings.Contains(doc, "| `"+string(code)+"` |") {
			t.Errorf("error code %s is not in docs/errors.md", code)
		}
	}
	if want != doc {
		t.Errorf("the generated table in docs/errors.md is stale; run KILLGATE_UPDATE_DOCS=1 go test ./cmd/killgate -run TestDocsErrors")
	}
}

type docsStore struct{}

func (docsStore) ActiveTaskCounts(context.Context, time.Time) (map[string]int, error) {
	return nil, nil
}
func (docsStore) Ping(context.Context) error { return nil }

// TestDocsEveryMetric: every killgate_* metric is in docs/operations.md and
// used by the example Grafana dashboard or documented as not charted.
func TestDocsEveryMetric(t *testing.T) {
	m := gateway.NewMetrics(gateway.MetricsConfig{Actions: []string{"A"}, Instances: []string{"i"}, Store: docsStore{}})
	m.Request("tencent", "A", "", time.Millisecond)
	m.Request("tencent", "A", string(actions.RequestLimitExceeded), time.Millisecond)
	m.PollDone("i", "n", time.Millisecond, nil)
	m.Killed("i", "n", string(killtask.OutcomeKilled), time.Millisecond)
	m.ObserveStore("ping", time.Millisecond)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	ops := readDoc(t, "operations.md")
	dash := readDoc(t, "grafana-dashboard.json")
	var names []string
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "killgate_") {
			names = append(names, f.GetName())
		}
	}
	sort.Strings(names)
	if len(names) < 12 {
		t.Fatalf("only %d killgate metrics gathered: %v", len(names), names)
	}
	for _, n := range names {
		if !strings.Contains(ops, "| `"+n+"` |") {
			t.Errorf("metric %s is not in the table of docs/operations.md", n)
		}
		if n != "killgate_build_info" && !strings.Contains(dash, n) {
			t.Errorf("metric %s is not used by docs/grafana-dashboard.json", n)
		}
	}
}
