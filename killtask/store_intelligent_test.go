package killtask

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStoreIntelligentTasks(t *testing.T) {
	storeUnderTest(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		inst := "cdb-" + randHex(4)
		base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		for i, node := range []string{"n1", "n1", "n2", "n1"} {
			tk := IntelligentTask{ID: "ik-" + inst + string(rune('a'+i)), InstanceID: inst, NodeID: node, CreatedAt: base.Add(time.Duration(i) * time.Minute)}
			if err := st.PutIntelligentTask(ctx, tk); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.PutIntelligentTask(ctx, IntelligentTask{ID: "x"}); err == nil {
			t.Fatal("incomplete task stored")
		}
		sum := IntelligentSummary{Creator: "ak", Groups: StatsOf(PickGroups([]SessionGroup{group("select ?", 3, 4)}))}
		sum.Count(OutcomeKilled)
		sum.Count(OutcomeGone)
		sum.Count(OutcomeFailed)
		end := base.Add(90 * time.Second)
		if err := st.FinishIntelligentTask(ctx, "ik-"+inst+"a", end, sum); err != nil {
			t.Fatal(err)
		}
		if err := st.FinishIntelligentTask(ctx, "nope", end, sum); !errors.Is(err, ErrNotFound) {
			t.Fatalf("finish unknown: %v", err)
		}
		got, err := st.GetIntelligentTask(ctx, "ik-"+inst+"a")
		if err != nil {
			t.Fatal(err)
		}
		if !got.EndedAt.Equal(end) || !got.CreatedAt.Equal(base) || got.Summary.Killed != 1 || got.Summary.Gone != 1 || got.Summary.Failed != 1 ||
			len(got.Summary.Groups) != 1 || got.Summary.Groups[0].Strategy != StrategyMaxTime || got.Summary.Groups[0].AvgTime != 3.5 ||
			len(got.Summary.Groups[0].IDs) != 2 {
			t.Fatalf("got %+v", got)
		}
		if _, err := st.GetIntelligentTask(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get unknown: %v", err)
		}
		// node filter, newest first, paging, inclusive time range
		list, total, err := st.ListIntelligentTasks(ctx, IntelligentQuery{InstanceID: inst, NodeID: "n1"})
		if err != nil || total != 3 || len(list) != 3 || list[0].ID != "ik-"+inst+"d" || list[2].ID != "ik-"+inst+"a" {
			t.Fatalf("list %v %d %+v", err, total, list)
		}
		list, total, err = st.ListIntelligentTasks(ctx, IntelligentQuery{InstanceID: inst, NodeID: "n1", Limit: 1, Offset: 1})
		if err != nil || total != 3 || len(list) != 1 || list[0].ID != "ik-"+inst+"b" {
			t.Fatalf("page %v %d %+v", err, total, list)
		}
		list, total, err = st.ListIntelligentTasks(ctx, IntelligentQuery{InstanceID: inst, Since: base.Add(time.Minute), Until: base.Add(2 * time.Minute)})
		if err != nil || total != 2 || len(list) != 2 || list[0].NodeID != "n2" {
			t.Fatalf("range %v %d %+v", err, total, list)
		}
		// per-session rows come from the kill history, oldest first
		recs := []KillRecord{
			{Source: SourceIntelligent, TaskID: "ik-" + inst + "a", InstanceID: inst, NodeID: "n1", ThreadID: 7, Outcome: OutcomeKilled},
			{Source: SourceIntelligent, TaskID: "ik-" + inst + "a", InstanceID: inst, NodeID: "n1", ThreadID: 8, Outcome: OutcomeGone},
			{Source: SourceManual, TaskID: "ik-" + inst + "a", InstanceID: inst, NodeID: "n1", ThreadID: 9, Outcome: OutcomeKilled},
		}
		if err := st.AddKillRecords(ctx, recs); err != nil {
			t.Fatal(err)
		}
		rows, err := st.IntelligentRecords(ctx, "ik-"+inst+"a")
		if err != nil || len(rows) != 2 || rows[0].ThreadID != 7 || rows[1].ThreadID != 8 {
			t.Fatalf("records %v %+v", err, rows)
		}
	})
}
