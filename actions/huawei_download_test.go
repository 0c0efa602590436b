package actions

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"killgate/killtask"
)

// TestIntelligentDownloadFiles: the download's JSON and CSV files carry
// every session with its group's keyword and strategy; CSV cells a
// spreadsheet would evaluate are defused with a leading apostrophe, and the
// JSON keeps SQL text as it is (no HTML escaping).
func TestIntelligentDownloadFiles(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res := &IntelligentTaskResponse{
		Task: killtask.IntelligentTask{ID: "ik-1", InstanceID: "i", NodeID: "n", CreatedAt: created,
			Summary: killtask.IntelligentSummary{Killed: 1, Failed: 1, Groups: []killtask.IntelligentGroupStats{
				{Keyword: "select ?", Strategy: "top3_time", Example: "select 1", IDs: []uint64{7, 8}, Count: 2, TotalTime: 3, MaxTime: 2, AvgTime: 1.5},
			}}},
		Records: []killtask.KillRecord{
			{ThreadID: 7, User: "=cmd|' /C calc'!A0", Host: "+h", DB: "-d", Command: "@q", State: "\tx", Info: "select 1 where a<b & c>d", Outcome: killtask.OutcomeKilled, KilledAt: created},
			{ThreadID: 8, User: "u", Info: "\rselect 2", Outcome: killtask.OutcomeFailed, Error: "=HYPERLINK()", KilledAt: created},
		},
	}
	d := intelligentDownload(res)
	if len(d.Sessions) != 2 || d.Sessions[0].Keyword != "select ?" || d.Sessions[1].Strategy != "top3_time" || d.EndTime != nil {
		t.Fatalf("download %+v", d)
	}
	t.Run("csv", func(t *testing.T) {
		f, err := d.csv()
		if err != nil {
			t.Fatal(err)
		}
		if f.ContentType != "text/csv; charset=utf-8" || f.Name != "intelligent-kill-ik-1.csv" {
			t.Fatalf("file %s %s", f.Name, f.ContentType)
		}
		rows, err := csv.NewReader(strings.NewReader(string(f.Data))).ReadAll()
		if err != nil || len(rows) != 3 || strings.Join(rows[0], ",") != strings.Join(csvHeader, ",") {
			t.Fatalf("rows %q: %v", rows, err)
		}
		for _, tc := range []struct {
			name      string
			row, col  int
			wantValue string
		}{
			{"user formula", 1, 2, "'=cmd|' /C calc'!A0"},
			{"host plus", 1, 3, "'+h"},
			{"db minus", 1, 4, "'-d"},
			{"command at", 1, 5, "'@q"},
			{"state tab", 1, 7, "'\tx"},
			{"plain sql", 1, 13, "select 1 where a<b & c>d"},
			{"error formula", 2, 11, "'=HYPERLINK()"},
			{"sql carriage return", 2, 13, "'\rselect 2"},
			{"plain user", 2, 2, "u"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := rows[tc.row][tc.col]; got != tc.wantValue {
					t.Errorf("row %d col %s = %q, want %q", tc.row, csvHeader[tc.col], got, tc.wantValue)
				}
			})
		}
	})
	t.Run("json", func(t *testing.T) {
		f, err := d.json()
		if err != nil {
			t.Fatal(err)
		}
		if f.ContentType != "application/json" || f.Name != "intelligent-kill-ik-1.json" {
			t.Fatalf("file %s %s", f.Name, f.ContentType)
		}
		if !strings.Contains(string(f.Data), `"sql_text":"select 1 where a<b & c>d"`) || strings.HasSuffix(string(f.Data), "\n") {
			t.Fatalf("JSON escapes HTML or ends in a newline: %s", f.Data)
		}
		var back IntelligentKillDownload
		if err := json.Unmarshal(f.Data, &back); err != nil || len(back.Sessions) != 2 || back.Groups[0].AvgTime != 1.5 || back.StartTime != created.Unix() {
			t.Fatalf("round trip %+v: %v", back, err)
		}
	})
}
