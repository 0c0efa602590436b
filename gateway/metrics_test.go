package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"killgate/actions"
	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
	"killgate/ratelimit"
)

// opsStack is a kgtest stack with metrics and ops endpoints on the main
// listener, as cmd/killgate serve wires them.
type opsStack struct {
	*kgtest.Stack
	Metrics *gateway.Metrics
	URL     string
}

type opsOptions struct {
	Instances []killtask.InstanceConfig
	RateLimit ratelimit.Config
	NoMetrics bool
}

func startOps(t *testing.T, o opsOptions) *opsStack {
	t.Helper()
	st := kgtest.Start(t, kgtest.Options{Instances: o.Instances, RateLimit: o.RateLimit, Ops: true, NoMetrics: o.NoMetrics})
	return &opsStack{Stack: st, Metrics: st.Metrics, URL: "http://" + st.Addr}
}

// scrape fetches /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + gateway.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// series finds the metric of family name whose labels are exactly labels.
func series(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		return m
	}
	return nil
}

func describe(fams map[string]*dto.MetricFamily, name string) string {
	f := fams[name]
	if f == nil {
		return name + ": absent"
	}
	var lines []string
	for _, m := range f.GetMetric() {
		var ls []string
		for _, lp := range m.GetLabel() {
			ls = append(ls, lp.GetName()+"="+lp.GetValue())
		}
		var v float64
		switch {
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Histogram != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		}
		lines = append(lines, fmt.Sprintf("{%s} %g", strings.Join(ls, ","), v))
	}
	sort.Strings(lines)
	return name + ":\n  " + strings.Join(lines, "\n  ")
}

func counterValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := series(fams, name, labels)
	if m == nil {
		t.Fatalf("no series %s%v in /metrics\n%s", name, labels, describe(fams, name))
	}
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	if m.Gauge != nil {
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s%v is not a counter or gauge", name, labels)
	return 0
}

func histogramCount(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	t.Helper()
	m := series(fams, name, labels)
	if m == nil || m.Histogram == nil {
		t.Fatalf("no histogram %s%v in /metrics\n%s", name, labels, describe(fams, name))
	}
	return m.GetHistogram().GetSampleCount()
}

func wantCounter(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	if got := counterValue(t, fams, name, labels); got != want {
		t.Errorf("%s%v = %g, want %g\n%s", name, labels, got, want, describe(fams, name))
	}
}

// TestMetricsScriptedRun drives a stack through successes, API errors, a
// rate-limited request, a task and a real kill on MariaDB, then checks the
// scraped series and their counts.
func TestMetricsScriptedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB")
	}
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	lock := kgtest.Lock(t, root)
	s := startOps(t, opsOptions{
		Instances: []killtask.InstanceConfig{
			{ID: kgtest.Instance, Product: "mysql", DSN: kgtest.MySQLDSN()},
			{ID: "cdb-idle", Product: "mysql", DSN: "idle:idle-pw@tcp(127.0.0.1:1)/"},
		},
		// Four CreateKillTask calls pass the limiter, the fifth is rejected.
		RateLimit: ratelimit.Config{PerSecond: 0.001, Burst: 4, MaxKeys: 100, IdleTTL: 2 * time.Hour},
	})

	call := func(action string, params any) string {
		return kgtest.Code(s.Call(action, params, nil))
	}
	task := map[string]any{"InstanceId": kgtest.Instance, "Duration": 600, "User": user}
	steps := []struct {
		action string
		params any
		want   actions.Code
	}{
		{"CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": 0}, actions.InvalidParameterValue},
		{"CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": 60, "Foo": 1}, actions.UnknownParameter},
		{"CreateKillTask", task, ""},
		{"CreateKillTask", task, actions.UnsupportedOperationDuplicate},
		{"CreateKillTask", task, actions.RequestLimitExceeded},
		{"NoSuchAction", nil, actions.InvalidAction},
	}
	for i, st := range steps {
		if got := actions.Code(call(st.action, st.params)); got != st.want {
			t.Fatalf("step %d %s: code %q, want %q", i, st.action, got, st.want)
		}
	}
	bad := s.Client(kgtest.SecretID, "wrong-key")
	if got := kgtest.Code(kgtest.CallWith(bad, "CreateKillTask", task, nil)); actions.Code(got) != actions.AuthFailureSignatureFailure {
		t.Fatalf("wrong key: code %q", got)
	}
	if resp, err := http.Get(s.URL + gateway.PathHealthz); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	victim := kgtest.NewVictim(t, user, pw, user, kgtest.LockQuery(lock))
	kgtest.Eventually(t, 10*time.Second, "victim killed", func() bool { return !victim.Exists(t, root) })
	// The history row and the Killed event follow the KILL's return.
	kgtest.Eventually(t, 5*time.Second, "kill counted", func() bool {
		m := series(scrape(t, s.URL), "killgate_kills_total", map[string]string{"instance": kgtest.Instance, "node": kgtest.Instance, "outcome": "killed"})
		return m != nil && m.GetCounter().GetValue() == 1
	})
	// History rows are written in batches (every ~200 ms).
	kgtest.Eventually(t, 5*time.Second, "history row counted", func() bool {
		m := series(scrape(t, s.URL), "killgate_history_rows_written_total", map[string]string{})
		return m != nil && m.GetCounter().GetValue() == 1
	})
	if resp, err := http.Get(s.URL + gateway.PathReadyz); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	fams := scrape(t, s.URL)
	req := func(door, action string, code actions.Code) map[string]string {
		return map[string]string{"door": door, "action": action, "code": string(code)}
	}
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{req("tencent", "CreateKillTask", "ok"), 1},
		{req("tencent", "CreateKillTask", actions.InvalidParameterValue), 1},
		{req("tencent", "CreateKillTask", actions.UnknownParameter), 1},
		{req("tencent", "CreateKillTask", actions.UnsupportedOperationDuplicate), 1},
		{req("tencent", "CreateKillTask", actions.RequestLimitExceeded), 1},
		{req("tencent", "CreateKillTask", actions.AuthFailureSignatureFailure), 1},
		{req("tencent", "unknown", actions.InvalidAction), 1},
		{req("ops", "healthz", "ok"), 1},
		{req("ops", "readyz", "ok"), 1},
	} {
		t.Run(c.labels["door"]+"/"+c.labels["action"]+"/"+c.labels["code"], func(t *testing.T) {
			wantCounter(t, fams, "killgate_requests_total", c.labels, c.want)
		})
	}
	if n := len(fams["killgate_requests_total"].GetMetric()); n < 9 {
		t.Errorf("killgate_requests_total has %d series, want at least 9", n)
	}
	if got := histogramCount(t, fams, "killgate_request_duration_seconds", map[string]string{"door": "tencent", "action": "CreateKillTask"}); got != 6 {
		t.Errorf("request duration count for CreateKillTask = %d, want 6", got)
	}
	wantCounter(t, fams, "killgate_ratelimit_rejections_total", map[string]string{"action": "CreateKillTask"}, 1)
	wantCounter(t, fams, "killgate_active_tasks", map[string]string{"instance": kgtest.Instance}, 1)
	wantCounter(t, fams, "killgate_active_tasks", map[string]string{"instance": "cdb-idle"}, 0)
	wantCounter(t, fams, "killgate_store_up", map[string]string{}, 1)
	wantCounter(t, fams, "killgate_kills_total", map[string]string{"instance": kgtest.Instance, "node": kgtest.Instance, "outcome": "killed"}, 1)
	if n := len(fams["killgate_kills_total"].GetMetric()); n != 1 {
		t.Errorf("killgate_kills_total has %d series, want only the one kill\n%s", n, describe(fams, "killgate_kills_total"))
	}
	if got := histogramCount(t, fams, "killgate_kill_reaction_seconds", map[string]string{}); got != 1 {
		t.Errorf("kill reaction count = %d, want 1", got)
	}
	wantCounter(t, fams, "killgate_history_rows_written_total", map[string]string{}, 1)
	polls := counterValue(t, fams, "killgate_processlist_polls_total", map[string]string{"instance": kgtest.Instance, "node": kgtest.Instance, "result": "ok"})
	if polls < 1 {
		t.Errorf("processlist polls = %g, want >= 1", polls)
	}
	pollErrs := 0.0
	if m := series(fams, "killgate_processlist_polls_total", map[string]string{"instance": kgtest.Instance, "node": kgtest.Instance, "result": "error"}); m != nil {
		pollErrs = m.GetCounter().GetValue()
	}
	if got := histogramCount(t, fams, "killgate_processlist_poll_duration_seconds", map[string]string{"instance": kgtest.Instance, "node": kgtest.Instance}); float64(got) != polls+pollErrs {
		t.Errorf("poll duration count %d != polls %g + errors %g", got, polls, pollErrs)
	}
	if series(fams, "killgate_processlist_polls_total", map[string]string{"instance": "cdb-idle", "node": "cdb-idle", "result": "ok"}) != nil {
		t.Error("the idle instance (no task) was polled")
	}
	// Scrapes before this one ran the active-tasks query; readiness pinged.
	if got := histogramCount(t, fams, "killgate_store_operation_duration_seconds", map[string]string{"op": "active_tasks"}); got < 1 {
		t.Errorf("store active_tasks observations = %d", got)
	}
	if got := histogramCount(t, fams, "killgate_store_operation_duration_seconds", map[string]string{"op": "ping"}); got != 1 {
		t.Errorf("store ping observations = %d, want 1", got)
	}
	wantCounter(t, fams, "killgate_build_info", map[string]string{"version": "test"}, 1)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("%s missing: Go/process collectors not registered", name)
		}
	}
}

// TestMetricsLabelsBounded: unknown actions, doors and codes collapse into
// fixed label values.
func TestMetricsLabelsBounded(t *testing.T) {
	m := gateway.NewMetrics(gateway.MetricsConfig{Actions: []string{"CreateKillTask", "ExecuteIntelligentKillSession"}})
	for i := range 50 {
		m.Request("tencent", fmt.Sprintf("Evil%d", i), fmt.Sprintf("Made.Up%d", i), time.Millisecond)
		m.Request(fmt.Sprintf("door%d", i), "CreateKillTask", "", time.Millisecond)
	}
	m.Request("huawei", "CreateKillTask", "DBS.200001", time.Millisecond)
	m.Request("huawei", "ExecuteIntelligentKillSession", "APIGW.0308", time.Millisecond)
	m.Request("tencent", "CreateKillTask", "ClientClosed", time.Millisecond)
	fams := gatherText(t, m)
	wantCounter(t, fams, "killgate_requests_total", map[string]string{"door": "tencent", "action": "unknown", "code": "other"}, 50)
	wantCounter(t, fams, "killgate_requests_total", map[string]string{"door": "none", "action": "CreateKillTask", "code": "ok"}, 50)
	wantCounter(t, fams, "killgate_requests_total", map[string]string{"door": "huawei", "action": "CreateKillTask", "code": "DBS.200001"}, 1)
	wantCounter(t, fams, "killgate_requests_total", map[string]string{"door": "tencent", "action": "CreateKillTask", "code": "ClientClosed"}, 1)
	wantCounter(t, fams, "killgate_requests_total", map[string]string{"door": "huawei", "action": "ExecuteIntelligentKillSession", "code": "APIGW.0308"}, 1)
	wantCounter(t, fams, "killgate_ratelimit_rejections_total", map[string]string{"action": "ExecuteIntelligentKillSession"}, 1)
	if n := len(fams["killgate_requests_total"].GetMetric()); n != 5 {
		t.Errorf("%d series, want 4\n%s", n, describe(fams, "killgate_requests_total"))
	}
}

// TestMetricsHistoryHook: the history counter counts rows written, not kill
// attempts.
func TestMetricsHistoryHook(t *testing.T) {
	m := gateway.NewMetrics(gateway.MetricsConfig{})
	m.Killed("i", "n", string(killtask.OutcomeKilled), time.Millisecond)
	m.HistoryWritten(3)
	m.Killed("i", "n", string(killtask.OutcomeGone), time.Millisecond)
	fams := gatherText(t, m)
	wantCounter(t, fams, "killgate_history_rows_written_total", map[string]string{}, 3)
	wantCounter(t, fams, "killgate_kills_total", map[string]string{"instance": "i", "node": "n", "outcome": "gone"}, 1)
}

// gatherText renders the registry through the HTTP handler and parses it.
func gatherText(t *testing.T, m *gateway.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

type fakeRL struct {
	degraded bool
	n        int64
}

func (f *fakeRL) Degraded() bool       { return f.degraded }
func (f *fakeRL) FallbackCount() int64 { return f.n }

// TestMetricsRateLimitAndLeases: the fleet limiter's state and the leases
// held are read at scrape time.
func TestMetricsRateLimitAndLeases(t *testing.T) {
	m := gateway.NewMetrics(gateway.MetricsConfig{})
	rl := &fakeRL{}
	held := 2
	m.WatchRateLimit(rl)
	m.WatchLeases(func() int { return held })
	fams := gatherText(t, m)
	wantCounter(t, fams, "killgate_ratelimit_degraded", map[string]string{}, 0)
	wantCounter(t, fams, "killgate_leases_held", map[string]string{}, 2)
	rl.degraded, rl.n, held = true, 7, 3
	fams = gatherText(t, m)
	wantCounter(t, fams, "killgate_ratelimit_degraded", map[string]string{}, 1)
	wantCounter(t, fams, "killgate_ratelimit_local_decisions_total", map[string]string{}, 7)
	wantCounter(t, fams, "killgate_leases_held", map[string]string{}, 3)
}
