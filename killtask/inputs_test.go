package killtask

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestFilterKey: Key is equal exactly when two filters select the same
// sessions by construction (the old item-by-item Equal's semantics).
func TestFilterKey(t *testing.T) {
	tests := []struct {
		name string
		a, b Filter
		same bool
	}{
		{"empty", Filter{}, Filter{}, true},
		{"host case", Filter{Host: "LocalHost"}, Filter{Host: " localhost "}, true},
		{"host differs", Filter{Host: "10.0.0.1"}, Filter{Host: "10.0.0.2"}, false},
		{"user exact", Filter{User: "App"}, Filter{User: "app"}, false},
		{"dbs as a set", Filter{DBs: []string{"a", "b", "a"}}, Filter{DBs: []string{" b", "a "}}, true},
		{"dbs exact case", Filter{DBs: []string{"Shop"}}, Filter{DBs: []string{"shop"}}, false},
		{"commands fold", Filter{Commands: []string{"Sleep", "QUERY"}}, Filter{Commands: []string{"query", "sleep"}}, true},
		{"infos fold", Filter{Infos: []string{"SELECT", "  update"}}, Filter{Infos: []string{"Update", "select"}}, true},
		{"infos unicode fold", Filter{Infos: []string{"ſelect"}}, Filter{Infos: []string{"SELECT"}}, true}, // ſ folds to s, as EqualFold says
		{"kelvin sign", Filter{Host: "\u212a"}, Filter{Host: "k"}, true},
		{"infos differ", Filter{Infos: []string{"select"}}, Filter{Infos: []string{"selec"}}, false},
		{"min time", Filter{MinTime: 5}, Filter{MinTime: 6}, false},
		{"field boundaries", Filter{User: "ab", Host: "c"}, Filter{User: "a", Host: "bc"}, false},
		{"list boundaries", Filter{DBs: []string{"a,b"}}, Filter{DBs: []string{"a", "b"}}, false},
		{"lists are not interchangeable", Filter{DBs: []string{"x"}}, Filter{Commands: []string{"x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Key() == tt.b.Key(); got != tt.same {
				t.Fatalf("Key equal = %v, want %v", got, tt.same)
			}
			if got := tt.a.Equal(tt.b); got != tt.same {
				t.Fatalf("Equal = %v, want %v", got, tt.same)
			}
			for _, s := range []string{tt.a.Host, tt.b.Host} {
				if !strings.EqualFold(foldKey(s), s) {
					t.Fatalf("foldKey(%q) = %q is not EqualFold to it", s, foldKey(s))
				}
			}
		})
	}
}

// bigFilter is a filter far beyond the limits, as killgate accepted them
// before (100 Infos; 16 KB each here, up to 64 KB then); prefix is its last
// item.
func bigFilter(user, prefix string) Filter {
	f := Filter{User: user}
	for i := range 99 {
		f.Infos = append(f.Infos, "/* junk "+strings.Repeat(string(rune('a'+i%26)), 16<<10)+" */")
	}
	f.Infos = append(f.Infos, prefix)
	return f
}

// insertLegacyTask stores t as a release before the limits did: no
// filter_key, whatever the filter's size.
func insertLegacyTask(t *testing.T, st *Store, tk *Task) {
	t.Helper()
	fj, err := json.Marshal(tk.Filter.Normalize())
	if err != nil {
		t.Fatal(err)
	}
	tk.CreatedAt = tk.CreatedAt.UTC().Truncate(time.Millisecond)
	var exp int64
	if tk.Duration != Forever {
		exp = ms(tk.CreatedAt.Add(time.Duration(tk.Duration) * time.Second))
	}
	if _, err := st.DB().Exec(`INSERT INTO tasks (id, instance_id, product, filter_json, duration_s, created_ms, expires_ms, status, ended_ms, creator, kills, last_error)
		VALUES (?,?,?,?,?,?,?,'Running',0,'legacy',0,'')`, tk.ID, tk.InstanceID, "mysql", string(fj), tk.Duration, ms(tk.CreatedAt), exp); err != nil {
		t.Fatal(err)
	}
}

// TestStoreDuplicateByKey: the duplicate check inside the instance's write
// transaction compares stored keys and parses no filter (issue 12 item 4:
// it was O(n²) in the filters' items, on every create, for every active
// task); rows stored without a key (before it existed) are still compared,
// through their filter.
func TestStoreDuplicateByKey(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		inst := "cdb-" + randHex(3)
		for i, f := range []Filter{{User: "a", Commands: []string{"Query", "Sleep"}}, {User: "b"}, {User: "c", Infos: []string{"select"}}} {
			if err := st.CreateTask(ctx, newTask(inst, f, Forever), 10); err != nil {
				t.Fatalf("task %d: %v", i, err)
			}
		}
		before := filterParses.Load()
		err := st.CreateTask(ctx, newTask(inst, Filter{User: "A", Commands: []string{"sleep", "query"}}, 60), 10)
		if err != nil {
			t.Fatalf("distinct filter: %v", err)
		}
		if err := st.CreateTask(ctx, newTask(inst, Filter{User: "a", Commands: []string{" SLEEP", "query"}}, 60), 10); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate: %v", err)
		}
		if n := filterParses.Load() - before; n != 0 {
			t.Fatalf("the duplicate check parsed %d stored filters; it must compare keys", n)
		}

		// A row stored without a key, of the size accepted before the limits.
		legacy := newTask(inst, bigFilter("legacy", "select"), Forever)
		insertLegacyTask(t, st, legacy)
		dup := bigFilter("legacy", "SELECT")
		for i, j := 0, len(dup.Infos)-1; i < j; i, j = i+1, j-1 { // another order, same set
			dup.Infos[i], dup.Infos[j] = dup.Infos[j], dup.Infos[i]
		}
		if err := st.CreateTask(ctx, newTask(inst, dup, 60), 10); !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), legacy.ID) {
			t.Fatalf("duplicate of the legacy task: %v", err)
		}
		if err := st.CreateTask(ctx, newTask(inst, bigFilter("legacy", "update"), 60), 10); err != nil {
			t.Fatalf("distinct from the legacy task: %v", err)
		}
		got, err := st.GetTask(ctx, legacy.ID)
		if err != nil || len(got.Filter.Infos) != 100 {
			t.Fatalf("legacy task: %d infos, %v", len(got.Filter.Infos), err)
		}
	})
}

// TestActiveTasksParseOnce: ActiveTasks (every reload, every metrics
// scrape) parses each task's filter once, not on every call (issue 12 item
// 4: five large tasks kept a core busy re-parsing every interval).
func TestActiveTasksParseOnce(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		inst := "cdb-" + randHex(3)
		var want []Filter
		for _, u := range []string{"a", "b", "c"} {
			tk := newTask(inst, Filter{User: u, DBs: []string{"d1", "d2"}}, Forever)
			if err := st.CreateTask(ctx, tk, 10); err != nil {
				t.Fatal(err)
			}
			want = append(want, tk.Filter)
		}
		legacy := newTask(inst, bigFilter("legacy", "select"), Forever)
		insertLegacyTask(t, st, legacy)
		want = append(want, legacy.Filter.Normalize())
		check := func(ts []Task, n int) {
			t.Helper()
			if len(ts) != n {
				t.Fatalf("%d active tasks, want %d", len(ts), n)
			}
			for i, f := range want[:min(n, len(want))] {
				if !ts[i].Filter.Equal(f) {
					t.Fatalf("task %d filter %+v, want %+v", i, ts[i].Filter.User, f.User)
				}
			}
		}
		before := filterParses.Load()
		ts, err := st.ActiveTasks(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		check(ts, 4)
		if n := filterParses.Load() - before; n != 4 {
			t.Fatalf("first load parsed %d filters, want 4", n)
		}
		for range 5 {
			ts, err = st.ActiveTasks(ctx, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			check(ts, 4)
		}
		if n := filterParses.Load() - before; n != 4 {
			t.Fatalf("six loads parsed %d filters; unchanged tasks must not be parsed again", n)
		}
		// A new task: only its filter is parsed. A cancelled one leaves.
		if err := st.CreateTask(ctx, newTask(inst, Filter{User: "d"}, Forever), 10); err != nil {
			t.Fatal(err)
		}
		if ts, err = st.ActiveTasks(ctx, time.Now()); err != nil || len(ts) != 5 {
			t.Fatalf("%d tasks, %v", len(ts), err)
		}
		// 6: the new task's, and the legacy row's in the duplicate check
		// (which then stores its key, so it is the last time).
		if n := filterParses.Load() - before; n != 6 {
			t.Fatalf("after a new task: %d parses, want 6", n)
		}
		if err := st.CreateTask(ctx, newTask(inst, Filter{User: "e"}, Forever), 10); err != nil {
			t.Fatal(err)
		}
		if ts, err = st.ActiveTasks(ctx, time.Now()); err != nil || len(ts) != 6 {
			t.Fatalf("%d tasks, %v", len(ts), err)
		}
		if n := filterParses.Load() - before; n != 7 {
			t.Fatalf("after another new task: %d parses, want 7", n)
		}
		if _, err := st.CancelTasks(ctx, inst, time.Now()); err != nil {
			t.Fatal(err)
		}
		if ts, err = st.ActiveTasks(ctx, time.Now()); err != nil || len(ts) != 0 {
			t.Fatalf("%d tasks after cancel, %v", len(ts), err)
		}
	})
}

// TestLegacyOversizedTaskEnforced: a task stored before the filter limits,
// far beyond them (100 Infos of 16 KB, no filter key), still loads and kills
// what it matches (it was acknowledged).
func TestLegacyOversizedTaskEnforced(t *testing.T) {
	needDB(t)
	lk := holdLock(t)
	st := newStore(t)
	a := fx.users[0]
	tk := newTask("inst", bigFilter(a, "select"), Forever)
	insertLegacyTask(t, st, tk)
	v := startVictim(t, lk, victimSpec{name: "v", user: a, mode: "lock"})
	keep := startVictim(t, lk, victimSpec{name: "keep", user: fx.users[1], mode: "lock"})
	eng := startEngine(t, testConfig(), st, []InstanceConfig{rootInstance("inst")}, false)
	waitGone(t, 5*time.Second, v)
	waitPolls(t, eng.Engine, "inst", "inst", 3)
	assertAlive(t, keep)
	assertHistory(t, eng.store, tk.ID, []*victim{v})
}

// TestRetentionTasks: the history retention (max age, max rows) applies to
// kill tasks that have ended and to intelligent-kill tasks, never to a
// running task (issue 12 item 4: both tables grew without bound).
func TestRetentionTasks(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		if _, err := st.DB().Exec("DELETE FROM intelligent_tasks"); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		day := 24 * time.Hour
		inst := "cdb-" + randHex(3)
		// task makes a task created at created, in the given state, ended at ended.
		task := func(user string, created time.Time, status Status, ended time.Time) string {
			tk := newTask(inst, Filter{User: user}, Forever)
			tk.CreatedAt = created
			if err := st.CreateTask(ctx, tk, 100); err != nil {
				t.Fatal(err)
			}
			if status != StatusRunning {
				if _, err := st.DB().Exec(`UPDATE tasks SET status = ?, ended_ms = ? WHERE id = ?`, string(status), ms(ended), tk.ID); err != nil {
					t.Fatal(err)
				}
			}
			return tk.ID
		}
		intel := func(created, ended time.Time) string {
			it := IntelligentTask{ID: "ik-" + randHex(6), InstanceID: inst, NodeID: inst, CreatedAt: created, EndedAt: ended}
			if err := st.PutIntelligentTask(ctx, it); err != nil {
				t.Fatal(err)
			}
			return it.ID
		}
		running := task("running-for-90-days", now.Add(-90*day), StatusRunning, time.Time{})
		oldFinished := task("finished-40-days-ago", now.Add(-41*day), StatusFinished, now.Add(-40*day))
		oldCancelled := task("cancelled-40-days-ago", now.Add(-41*day), StatusCancelled, now.Add(-40*day))
		var recent []string // ended 1..5 hours ago, oldest first
		for i := 5; i >= 1; i-- {
			recent = append(recent, task("recent-"+randHex(2), now.Add(-2*day), StatusCancelled, now.Add(-time.Duration(i)*time.Hour)))
		}
		intOld := intel(now.Add(-40*day), now.Add(-40*day))
		intAbandoned := intel(now.Add(-40*day), time.Time{}) // its process died mid-run
		intRunning := intel(now.Add(-time.Minute), time.Time{})
		var intRecent []string // oldest first
		for i := 5; i >= 1; i-- {
			intRecent = append(intRecent, intel(now.Add(-time.Duration(i)*time.Hour), now.Add(-time.Duration(i)*time.Hour+time.Second)))
		}

		cfg := DefaultConfig()
		cfg.HistoryMaxAge, cfg.HistoryMaxRows = 30*day, 2
		e, err := NewEngine(cfg, st, nil, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		e.prune(ctx)

		exists := func(table, id string) bool {
			var n int
			if err := st.DB().Get(&n, `SELECT COUNT(*) FROM `+table+` WHERE id = ?`, id); err != nil {
				t.Fatal(err)
			}
			return n == 1
		}
		for _, c := range []struct {
			name, table, id string
			keep            bool
		}{
			{"running task, 90 days old", "tasks", running, true},
			{"finished 40 days ago", "tasks", oldFinished, false},
			{"cancelled 40 days ago", "tasks", oldCancelled, false},
			{"ended 5 h ago, beyond max_rows", "tasks", recent[0], false},
			{"ended 3 h ago, beyond max_rows", "tasks", recent[2], false},
			{"ended 2 h ago, within max_rows", "tasks", recent[3], true},
			{"ended 1 h ago, within max_rows", "tasks", recent[4], true},
			{"intelligent, 40 days ago", "intelligent_tasks", intOld, false},
			{"intelligent, abandoned 40 days ago", "intelligent_tasks", intAbandoned, false},
			{"intelligent, running", "intelligent_tasks", intRunning, true},
			{"intelligent, 5 h ago, beyond max_rows", "intelligent_tasks", intRecent[0], false},
			{"intelligent, 3 h ago, beyond max_rows", "intelligent_tasks", intRecent[2], false},
			{"intelligent, 2 h ago, within max_rows", "intelligent_tasks", intRecent[3], true},
			{"intelligent, 1 h ago, within max_rows", "intelligent_tasks", intRecent[4], true},
		} {
			t.Run(c.name, func(t *testing.T) {
				if got := exists(c.table, c.id); got != c.keep {
					t.Errorf("kept = %v, want %v", got, c.keep)
				}
			})
		}
	})
}
