package killtask

// Longer than 400 lines on purpose: the store's tests for both drivers run the same cases; they are
// kept together so a case added runs on both.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// storeUnderTest runs the same suite on SQLite and on the MySQL driver
// (a schema of the local MariaDB).
func storeUnderTest(t *testing.T, fn func(t *testing.T, st *Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newStore(t)) })
	t.Run("mysql", func(t *testing.T) { fn(t, mysqlStore(t)) })
}

// mysqlStore opens the MySQL store in the test schema, emptied before and
// after the test.
func mysqlStore(t *testing.T) *Store {
	t.Helper()
	needDB(t)
	st, err := OpenStore(context.Background(), StoreConfig{Driver: "mysql", DSN: "root@tcp(127.0.0.1:3306)/" + fx.storeDB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, tbl := range []string{"tasks", "kill_records", "sql_execs", "instance_locks"} {
			_, _ = st.DB().Exec("DELETE FROM " + tbl)
		}
		st.Close()
	})
	for _, tbl := range []string{"tasks", "kill_records", "sql_execs", "instance_locks"} {
		if _, err := st.DB().Exec("DELETE FROM " + tbl); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestStoreCreateTaskLimitAndDuplicates(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		inst := "cdb-" + randHex(3)
		// 20 concurrent creates of distinct tasks with a limit of 5: exactly
		// 5 commit, the others fail with ErrLimitExceeded (never another error).
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, limited := 0, 0
		var other []error
		for i := range 20 {
			wg.Go(func() {
				err := st.CreateTask(ctx, newTask(inst, Filter{User: fmt.Sprintf("u%d", i)}, 60), 5)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrLimitExceeded):
					limited++
				default:
					other = append(other, err)
				}
			})
		}
		wg.Wait()
		if ok != 5 || limited != 15 || len(other) > 0 {
			t.Fatalf("ok=%d limited=%d other=%v", ok, limited, other)
		}
		active, err := st.ActiveTasks(ctx, time.Now())
		if err != nil || len(active) != 5 {
			t.Fatalf("active=%d err=%v", len(active), err)
		}

		// Duplicates (same filter after normalisation, lists as sets) are
		// refused even under the limit; concurrent identical creates: one wins.
		inst2 := inst + "-dup"
		f := Filter{DBs: []string{"a", "b"}, Commands: []string{"Sleep"}}
		if err := st.CreateTask(ctx, newTask(inst2, f, Forever), 5); err != nil {
			t.Fatal(err)
		}
		g := Filter{DBs: []string{" b", "a "}, Commands: []string{"sleep"}}
		if err := st.CreateTask(ctx, newTask(inst2, g, 10), 5); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate: %v", err)
		}
		inst3 := inst + "-race"
		wins := 0
		for range 8 {
			wg.Go(func() {
				if st.CreateTask(ctx, newTask(inst3, Filter{User: "same"}, 60), 5) == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("identical concurrent creates: %d won", wins)
		}
		// A finished task does not count against the limit nor as a duplicate.
		old := newTask(inst2, Filter{User: "old"}, 1)
		old.CreatedAt = time.Now().Add(-time.Hour)
		if err := st.CreateTask(ctx, old, 5); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateTask(ctx, newTask(inst2, Filter{User: "old"}, 1), 5); err != nil {
			t.Fatalf("expired task counted as duplicate: %v", err)
		}
	})
}

func TestStoreCancelAndExpiry(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		inst := "cdb-" + randHex(3)
		a, b := newTask(inst, Filter{User: "a"}, Forever), newTask(inst, Filter{User: "b"}, 3600)
		exp := newTask(inst, Filter{User: "c"}, 5)
		exp.CreatedAt = time.Now().Add(-time.Minute)
		for _, tk := range []*Task{a, b, exp} {
			if err := st.CreateTask(ctx, tk, 5); err != nil {
				t.Fatal(err)
			}
		}
		n, err := st.FinishExpired(ctx, time.Now())
		if err != nil || n != 1 {
			t.Fatalf("FinishExpired = %d, %v", n, err)
		}
		got, err := st.GetTask(ctx, exp.ID)
		if err != nil || got.Status != StatusFinished || !got.EndedAt.Equal(exp.ExpiresAt) {
			t.Fatalf("expired task: %+v %v (want EndedAt %v)", got, err, exp.ExpiresAt)
		}
		ids, err := st.CancelTasks(ctx, inst, time.Now())
		if err != nil || len(ids) != 2 {
			t.Fatalf("CancelTasks = %v, %v", ids, err)
		}
		if _, err := st.CancelTasks(ctx, inst, time.Now()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second cancel: %v", err)
		}
		got, _ = st.GetTask(ctx, a.ID)
		if got.Status != StatusCancelled || got.EndedAt.IsZero() {
			t.Fatalf("cancelled task: %+v", got)
		}
		if _, err := st.GetTask(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetTask unknown: %v", err)
		}
	})
}

func TestStoreTakePreparedKillOnce(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		now := time.Now()
		e := PreparedKill{ID: "x-" + randHex(4), InstanceID: "i1", Product: "mysql", Threads: []uint64{1, 2, 3}, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := st.SavePreparedKill(ctx, e); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, used := 0, 0
		for range 12 {
			wg.Go(func() {
				got, err := st.TakePreparedKill(ctx, e.ID, "i1", time.Now())
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
					if len(got.Threads) != 3 {
						t.Errorf("threads %v", got.Threads)
					}
				case errors.Is(err, ErrUsed):
					used++
				default:
					t.Errorf("TakePreparedKill: %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 || used != 11 {
			t.Fatalf("wins=%d used=%d", wins, used)
		}
		if _, err := st.TakePreparedKill(ctx, e.ID, "other", time.Now()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("other instance: %v", err)
		}
		x := PreparedKill{ID: "y-" + randHex(4), InstanceID: "i1", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}
		if err := st.SavePreparedKill(ctx, x); err != nil {
			t.Fatal(err)
		}
		if _, err := st.TakePreparedKill(ctx, x.ID, "i1", time.Now()); !errors.Is(err, ErrExpired) {
			t.Fatalf("expired: %v", err)
		}
	})
}

func TestStoreListPaging(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		base := time.Now().Add(-time.Minute)
		var ids []string
		for i := range 7 {
			tk := newTask("inst-p", Filter{User: fmt.Sprintf("u%d", i)}, Forever)
			tk.CreatedAt = base.Add(time.Duration(i) * time.Second)
			if err := st.CreateTask(ctx, tk, 0); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, tk.ID)
		}
		if err := st.CreateTask(ctx, newTask("inst-q", Filter{}, Forever), 0); err != nil {
			t.Fatal(err)
		}
		var seen []string
		for off := 0; off < 9; off += 3 {
			page, total, err := st.ListTasks(ctx, TaskQuery{InstanceID: "inst-p", Offset: off, Limit: 3}, time.Now())
			if err != nil || total != 7 {
				t.Fatalf("ListTasks: total=%d err=%v", total, err)
			}
			for _, tk := range page {
				seen = append(seen, tk.ID)
			}
		}
		if len(seen) != 7 {
			t.Fatalf("paged %d tasks", len(seen))
		}
		for i := range seen { // newest first
			if seen[i] != ids[6-i] {
				t.Fatalf("order: got %v want reverse of %v", seen, ids)
			}
		}

		recs := make([]KillRecord, 0, 450)
		for i := range 450 {
			src := SourceTask
			if i%3 == 0 {
				src = SourceManual
			}
			recs = append(recs, KillRecord{Source: src, TaskID: ids[0], InstanceID: "inst-p", NodeID: "inst-p", Product: "mysql",
				ThreadID: uint64(1000 + i), User: "u", Host: "h:1", Command: "Query", Outcome: OutcomeKilled, KilledAt: base.Add(time.Duration(i) * time.Millisecond)})
		}
		if err := st.AddKillRecords(ctx, recs); err != nil { // more than one INSERT chunk
			t.Fatal(err)
		}
		page, total, err := st.ListKillRecords(ctx, RecordQuery{InstanceID: "inst-p", Source: SourceManual, Offset: 10, Limit: 5})
		if err != nil || total != 150 || len(page) != 5 {
			t.Fatalf("ListKillRecords: %d rows, total %d, %v", len(page), total, err)
		}
		if page[0].ThreadID != uint64(1000+449-2-30) { // manual rows are i%3==0, newest first: 447, 444, …
			t.Fatalf("first row of page: thread %d", page[0].ThreadID)
		}
		tk, _ := st.GetTask(ctx, ids[0])
		if tk.Kills != 300 {
			t.Fatalf("task kills = %d, want 300 (task-sourced killed rows)", tk.Kills)
		}
		_, total, _ = st.ListKillRecords(ctx, RecordQuery{Since: base.Add(100 * time.Millisecond), Until: base.Add(200 * time.Millisecond)})
		if total != 100 {
			t.Fatalf("time range total = %d", total)
		}
	})
}

func TestStorePruneHistory(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		now := time.Now()
		var recs []KillRecord
		for i := range 10 {
			at := now.Add(-time.Duration(i) * time.Minute)
			if i >= 7 {
				at = now.Add(-48 * time.Hour)
			}
			recs = append(recs, KillRecord{Source: SourceManual, InstanceID: "i", ThreadID: uint64(i), Outcome: OutcomeKilled, KilledAt: at})
		}
		// Insert oldest first so ids follow time.
		for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
			recs[i], recs[j] = recs[j], recs[i]
		}
		if err := st.AddKillRecords(ctx, recs); err != nil {
			t.Fatal(err)
		}
		n, err := st.PruneHistory(ctx, now.Add(-24*time.Hour), 0)
		if err != nil || n != 3 {
			t.Fatalf("prune by age: %d %v", n, err)
		}
		n, err = st.PruneHistory(ctx, time.Time{}, 4)
		if err != nil || n != 3 {
			t.Fatalf("prune by count: %d %v", n, err)
		}
		left, total, _ := st.ListKillRecords(ctx, RecordQuery{Limit: 100})
		if total != 4 || left[0].ThreadID != 0 || left[3].ThreadID != 3 {
			t.Fatalf("left %d rows: %+v", total, left)
		}
	})
}

// TestStoreListScope: InstanceIn restricts listings to a caller's scope;
// nil means no restriction and an empty slice selects nothing.
func TestStoreListScope(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		for _, inst := range []string{"scope-a", "scope-b", "scope-c"} {
			if err := st.CreateTask(ctx, newTask(inst, Filter{User: "u"}, Forever), 0); err != nil {
				t.Fatal(err)
			}
			if err := st.AddKillRecords(ctx, []KillRecord{{Source: SourceManual, InstanceID: inst, ThreadID: 1, Outcome: OutcomeKilled}}); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			in   []string
			want int64
		}{
			{"nil-is-everything", nil, 3},
			{"empty-is-nothing", []string{}, 0},
			{"subset", []string{"scope-a", "scope-c"}, 2},
			{"unknown", []string{"scope-z"}, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, n, err := st.ListTasks(ctx, TaskQuery{InstanceIn: tt.in, Limit: 100}, time.Now())
				if err != nil || n != tt.want {
					t.Fatalf("tasks: %d %v, want %d", n, err, tt.want)
				}
				_, n, err = st.ListKillRecords(ctx, RecordQuery{InstanceIn: tt.in, Limit: 100})
				if err != nil || n != tt.want {
					t.Fatalf("records: %d %v, want %d", n, err, tt.want)
				}
			})
		}
	})
}

// TestStoreRecordReplica: the replica that wrote a history row is listed.
func TestStoreRecordReplica(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		st.SetReplica("replica-7")
		if err := st.AddKillRecords(ctx, []KillRecord{{Source: SourceManual, InstanceID: "rep-a", ThreadID: 9, Outcome: OutcomeKilled}}); err != nil {
			t.Fatal(err)
		}
		recs, _, err := st.ListKillRecords(ctx, RecordQuery{InstanceID: "rep-a"})
		if err != nil || len(recs) != 1 || recs[0].Replica != "replica-7" || recs[0].ThreadID != 9 {
			t.Fatalf("%+v %v", recs, err)
		}
	})
}

// TestStoreModesAndObserved: a task's kill mode and observe-only flag are
// stored and reloaded; duplicates compare filter, mode and observe-only;
// observed records count in their task; records keep the KILL sent and the
// filter that matched.
func TestStoreModesAndObserved(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		inst := "cdb-" + randHex(3)
		f := Filter{User: "app", Commands: []string{"Sleep"}, MinTrxTime: 60}
		conn := newTask(inst, f, Forever)
		query := newTask(inst, f, Forever)
		query.Mode = KillQuery
		obs := newTask(inst, f, Forever)
		obs.Observe = true
		for _, tk := range []*Task{conn, query, obs} {
			if err := st.CreateTask(ctx, tk, 5); err != nil {
				t.Fatalf("%s observe=%v: %v", tk.Mode, tk.Observe, err)
			}
		}
		for _, tk := range []*Task{conn, query, obs} {
			again := newTask(inst, f, 60)
			again.Mode, again.Observe = tk.Mode, tk.Observe
			if err := st.CreateTask(ctx, again, 5); !errors.Is(err, ErrDuplicate) {
				t.Fatalf("duplicate of %s observe=%v: %v", tk.Mode, tk.Observe, err)
			}
		}
		active, err := st.ActiveTasks(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Task{}
		for _, a := range active {
			got[a.ID] = a
		}
		if g := got[conn.ID]; g.Mode != KillConnection || g.Observe || g.Filter.MinTrxTime != 60 {
			t.Errorf("connection task %+v", g)
		}
		if g := got[query.ID]; g.Mode != KillQuery || g.Observe {
			t.Errorf("query task %+v", g)
		}
		if g := got[obs.ID]; g.Mode != KillConnection || !g.Observe {
			t.Errorf("observe task %+v", g)
		}
		recs := []KillRecord{
			{Source: SourceTask, TaskID: obs.ID, InstanceID: inst, ThreadID: 1, Outcome: OutcomeObserved, KillMode: KillConnection, Matched: f.matchedJSON()},
			{Source: SourceTask, TaskID: obs.ID, InstanceID: inst, ThreadID: 2, Outcome: OutcomeObserved, KillMode: KillConnection, Matched: f.matchedJSON()},
			{Source: SourceTask, TaskID: query.ID, InstanceID: inst, ThreadID: 3, Outcome: OutcomeKilled, KillMode: KillQuery, Matched: f.matchedJSON()},
			{Source: SourceManual, TaskID: "sx-1", InstanceID: inst, ThreadID: 4, Outcome: OutcomeKilled, KillMode: KillConnection},
		}
		if err := st.AddKillRecords(ctx, recs); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string][2]int64{obs.ID: {0, 2}, query.ID: {1, 0}, conn.ID: {0, 0}} {
			tk, err := st.GetTask(ctx, id)
			if err != nil || tk.Kills != want[0] || tk.Observed != want[1] {
				t.Errorf("task %s: kills %d observed %d (%v), want %v", id, tk.Kills, tk.Observed, err, want)
			}
		}
		list, _, err := st.ListKillRecords(ctx, RecordQuery{InstanceID: inst, Limit: 10})
		if err != nil || len(list) != 4 {
			t.Fatalf("records %+v %v", list, err)
		}
		for _, r := range list {
			mf, ok := ParseMatched(r.Matched)
			switch r.ThreadID {
			case 1, 2, 3:
				if !ok || mf.Key() != f.Key() {
					t.Errorf("record %d: matched %q", r.ThreadID, r.Matched)
				}
			case 4:
				if ok || r.Matched != "" || r.KillMode != KillConnection {
					t.Errorf("manual record %+v", r)
				}
			}
			if want := map[uint64]KillMode{1: KillConnection, 2: KillConnection, 3: KillQuery, 4: KillConnection}[r.ThreadID]; r.KillMode != want {
				t.Errorf("record %d: kill mode %q, want %q", r.ThreadID, r.KillMode, want)
			}
		}
	})
}

// TestStoreFromBeforeModes: a store written before kill modes (migrations
// 1-15) opens, and its tasks and records read as they were: CONNECTION
// tasks that kill, records without a kill mode or matched filter; the
// tasks' stored duplicate keys still hold.
func TestStoreFromBeforeModes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	saved := migrations
	migrations = migrations[:15]
	old, err := OpenStore(ctx, StoreConfig{Driver: "sqlite", DSN: path})
	migrations = saved
	if err != nil {
		t.Fatal(err)
	}
	f := Filter{User: "app"}
	if _, err := old.DB().ExecContext(ctx, `INSERT INTO tasks (id, instance_id, product, filter_json, filter_key, duration_s, created_ms, expires_ms, status, creator, last_error)
		VALUES ('kt-old', 'cdb-1', 'mysql', '{"user":"app"}', ?, -1, ?, 0, 'Running', 'test', '')`, f.Key(), ms(time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := old.DB().ExecContext(ctx, `INSERT INTO kill_records (source, task_id, instance_id, node_id, product, thread_id, user_name, host, db, command, time_s, state, info, outcome, error, killed_ms)
		VALUES ('task', 'kt-old', 'cdb-1', 'cdb-1', 'mysql', 7, 'app', 'h', '', 'Sleep', 1, '', '', 'killed', '', ?)`, ms(time.Now())); err != nil {
		t.Fatal(err)
	}
	old.Close()
	st := openStoreAt(t, path)
	active, err := st.ActiveTasks(ctx, time.Now())
	if err != nil || len(active) != 1 || active[0].Mode != KillConnection || active[0].Observe || active[0].Observed != 0 {
		t.Fatalf("old task %+v %v", active, err)
	}
	if err := st.CreateTask(ctx, newTask("cdb-1", f, Forever), 5); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("a CONNECTION task identical to the old one: %v, want ErrDuplicate", err)
	}
	q := newTask("cdb-1", f, Forever)
	q.Mode = KillQuery
	if err := st.CreateTask(ctx, q, 5); err != nil {
		t.Fatalf("a QUERY task beside the old one: %v", err)
	}
	recs, _, err := st.ListKillRecords(ctx, RecordQuery{TaskID: "kt-old"})
	if err != nil || len(recs) != 1 || recs[0].KillMode != "" || recs[0].Matched != "" || recs[0].Outcome != OutcomeKilled {
		t.Fatalf("old record %+v %v", recs, err)
	}
}
