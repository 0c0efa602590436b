package gateway_test

import (
	"time"

	"testing"

	"killgate/gateway/kgtest"
	"killgate/killtask"
)

// TestKillMySqlThreadsMultiNode: on a TDSQL-C instance thread ids are per
// node. A Prepare for an id that exists on two nodes is refused (nothing is
// stored, nothing killed); on a single node the same victim is killed.
func TestKillMySqlThreadsMultiNode(t *testing.T) {
	root := kgtest.Root(t)
	user, pw := kgtest.User(t, root)
	dsn := kgtest.MySQLDSN()
	s := kgtest.Start(t, kgtest.Options{Instances: []killtask.InstanceConfig{
		// Both nodes reach the same server, so every thread id is on both.
		{ID: "cynosdbmysql-2n", Product: "cynosdb", Nodes: []killtask.NodeConfig{{ID: "node-rw", DSN: dsn}, {ID: "node-ro", DSN: dsn}},
			ProtectedUsers: kgtest.ProtectAllBut(t, root, user)},
		{ID: kgtest.Instance, Product: "mysql", DSN: dsn, ProtectedUsers: kgtest.ProtectAllBut(t, root, user)},
	}})
	lock := kgtest.Lock(t, root)
	v := kgtest.NewVictim(t, user, pw, user, kgtest.LockQuery(lock))

	err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": "cynosdbmysql-2n", "Product": "cynosdb", "Stage": "Prepare", "Threads": []uint64{v.ID}}, nil)
	if got := kgtest.Code(err); got != "InvalidParameterValue" {
		t.Fatalf("ambiguous prepare: %q (%v)", got, err)
	}
	if !v.Exists(t, root) {
		t.Fatal("victim killed by a refused prepare")
	}

	var prep struct{ SqlExecId string }
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Prepare", "Threads": []uint64{v.ID}}, &prep); err != nil {
		t.Fatal(err)
	}
	var commit struct{ Threads []int64 }
	if err := s.Call("KillMySqlThreads", map[string]any{"InstanceId": kgtest.Instance, "Stage": "Commit", "SqlExecId": prep.SqlExecId}, &commit); err != nil {
		t.Fatal(err)
	}
	if len(commit.Threads) != 1 || uint64(commit.Threads[0]) != v.ID {
		t.Fatalf("commit killed %v, want [%d]", commit.Threads, v.ID)
	}
	kgtest.Eventually(t, 5*time.Second, "victim gone", func() bool { return !v.Exists(t, root) })
}
