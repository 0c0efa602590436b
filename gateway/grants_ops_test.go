package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"killgate/gateway"
	"killgate/gateway/kgtest"
	"killgate/killtask"
)

// TestGrantProblemsOnTheWire: a node whose account may read the processlist
// but not kill (PROCESS without CONNECTION ADMIN/SUPER) says so where an
// operator looks, through HTTP: before any task, /readyz shows the node
// degraded with the missing grant and DescribeDiagDBInstances names it; once
// a task tries, the refused KILL is counted in killgate_kill_failures_total
// (reason denied), the task's LastError says why it kills nothing and the
// session lives.
func TestGrantProblemsOnTheWire(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB")
	}
	root := kgtest.Root(t)
	weak, weakPW := kgtest.User(t, root)
	for _, h := range []string{"%", "localhost"} {
		if _, err := root.Exec(fmt.Sprintf("GRANT PROCESS ON *.* TO '%s'@'%s'", weak, h)); err != nil {
			t.Fatal(err)
		}
	}
	victimUser, victimPW := kgtest.User(t, root)
	dsn := fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/", weak, weakPW)
	s := startOps(t, opsOptions{Instances: []killtask.InstanceConfig{{ID: kgtest.Instance, Product: "mysql", DSN: dsn}}})

	// Before any task: the start-up probe has read the grants.
	var node struct{ State, Problem string }
	kgtest.Eventually(t, 5*time.Second, "/readyz to show the node degraded", func() bool {
		code, body, _ := get(t, nil, http.MethodGet, s.URL+gateway.PathReadyz)
		var rb struct {
			Instances []struct {
				Nodes []struct {
					State   string `json:"state"`
					Problem string `json:"problem"`
				} `json:"nodes"`
			} `json:"instances"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &rb) != nil || len(rb.Instances) != 1 || len(rb.Instances[0].Nodes) != 1 {
			return false
		}
		node.State, node.Problem = rb.Instances[0].Nodes[0].State, rb.Instances[0].Nodes[0].Problem
		return node.State == "degraded"
	})
	if !strings.Contains(node.Problem, "CONNECTION ADMIN") {
		t.Errorf("/readyz problem %q does not name the missing grant", node.Problem)
	}
	var diag struct {
		Items []struct {
			InstanceId string
			Nodes      []struct {
				NodeId        string
				Health        string
				MissingGrants []string
			}
		}
	}
	if err := s.Call("DescribeDiagDBInstances", map[string]any{"IsSupported": true, "Product": "mysql"}, &diag); err != nil {
		t.Fatal(err)
	}
	if len(diag.Items) != 1 || len(diag.Items[0].Nodes) != 1 || len(diag.Items[0].Nodes[0].MissingGrants) != 1 ||
		!strings.Contains(diag.Items[0].Nodes[0].MissingGrants[0], "CONNECTION ADMIN") {
		t.Fatalf("DescribeDiagDBInstances before any task: %+v", diag)
	}
	if r := s.Engine.PollCount(kgtest.Instance, kgtest.Instance); r != 0 {
		t.Errorf("%d processlist reads before any task", r)
	}

	// A task meets the refusal.
	lock := kgtest.Lock(t, root)
	v := kgtest.NewVictim(t, victimUser, victimPW, victimUser, kgtest.LockQuery(lock))
	var created struct{ TaskId string }
	if err := s.Call("CreateKillTask", map[string]any{"InstanceId": kgtest.Instance, "Duration": 600, "User": victimUser}, &created); err != nil {
		t.Fatal(err)
	}
	kgtest.Eventually(t, 10*time.Second, "a denied KILL in killgate_kill_failures_total", func() bool {
		m := series(scrape(t, s.URL), "killgate_kill_failures_total", map[string]string{"instance": kgtest.Instance, "node": kgtest.Instance, "reason": "denied"})
		return m != nil && m.GetCounter().GetValue() >= 1
	})
	var tasks struct {
		Tasks []struct {
			TaskId    string
			LastError string
		}
	}
	kgtest.Eventually(t, 10*time.Second, "the task's LastError to name the missing grant", func() bool {
		if err := s.Call("DescribeKillTasks", map[string]any{"InstanceId": kgtest.Instance}, &tasks); err != nil {
			t.Fatal(err)
		}
		return len(tasks.Tasks) == 1 && strings.Contains(tasks.Tasks[0].LastError, "CONNECTION ADMIN")
	})
	if !v.Exists(t, root) {
		t.Error("the session died although the account cannot kill it")
	}
}
