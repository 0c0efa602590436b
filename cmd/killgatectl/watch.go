package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// --watch: following DescribeKillRecords as kills happen.

// record is one DescribeKillRecords row, kept raw for --output json.
type record struct {
	id  int64
	raw json.RawMessage
	f   map[string]any
}

// fetchRecords reads one page of DescribeKillRecords (newest first).
func (c *client) fetchRecords(ctx context.Context, params map[string]json.RawMessage) ([]record, error) {
	resp, err := c.call(ctx, watchAction, params)
	if err != nil {
		return nil, err
	}
	var page struct {
		Records []json.RawMessage
	}
	if err := json.Unmarshal(resp, &page); err != nil {
		return nil, fmt.Errorf("DescribeKillRecords: unexpected Response: %w", err)
	}
	out := make([]record, 0, len(page.Records))
	for _, raw := range page.Records {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var f map[string]any
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("DescribeKillRecords: bad record: %w", err)
		}
		id, err := strconv.ParseInt(fmt.Sprint(f["RecordId"]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("DescribeKillRecords: record without a numeric RecordId: %s", snippet(raw))
		}
		out = append(out, record{id: id, raw: raw, f: f})
	}
	return out, nil
}

// newRecords returns the records with RecordId > last, oldest first,
// reading further pages (Offset) while a whole page is new, so that a burst
// between two polls is not lost. gap reports that the catch-up stopped
// before reaching last.
func (c *client) newRecords(ctx context.Context, base map[string]json.RawMessage, last int64) (recs []record, gap bool, err error) {
	limit := int64(watchPageLimit)
	params := make(map[string]json.RawMessage, len(base)+2)
	for k, v := range base {
		params[k] = v
	}
	if v, ok := params["Limit"]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64); err == nil && n > 0 {
			limit = n
		}
	} else {
		params["Limit"] = json.RawMessage(strconv.FormatInt(limit, 10))
	}
	offset := int64(0)
	if v, ok := params["Offset"]; ok {
		offset, _ = strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
	}
	seen := map[int64]bool{}
	for page := 0; ; page++ {
		params["Offset"] = json.RawMessage(strconv.FormatInt(offset, 10))
		got, err := c.fetchRecords(ctx, params)
		if err != nil {
			return nil, false, err
		}
		reachedOld := false
		for _, r := range got {
			if r.id <= last {
				reachedOld = true
				continue
			}
			if !seen[r.id] {
				seen[r.id] = true
				recs = append(recs, r)
			}
		}
		if reachedOld || int64(len(got)) < limit || last < 0 {
			break
		}
		if page+1 >= watchMaxPages {
			gap = true
			break
		}
		offset += int64(len(got))
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].id < recs[j].id })
	return recs, gap, nil
}

// retryable errors do not end a watch: the server restarting, a proxy
// hiccup, the rate limit.
func retryable(err error) bool {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code == "RequestLimitExceeded" || ae.Code == "InternalError" || ae.Code == "FailedOperation"
	}
	return !errors.Is(err, context.Canceled)
}

// watch polls DescribeKillRecords and prints records newer than the highest
// RecordId seen, until interrupted or watchCount records were printed.
func watch(ctx context.Context, c *client, o *options, stdout, stderr io.Writer) int {
	last := o.watchFrom
	printed := 0
	failing := false
	first := true
	for {
		recs, gap, err := c.newRecords(ctx, o.params, last)
		switch {
		case ctx.Err() != nil:
			return exitOK
		case err != nil && (first || !retryable(err)):
			printErr(stderr, err)
			return exitError
		case err != nil:
			if !failing {
				fmt.Fprint(stderr, "killgatectl: watch: ")
				printErr(stderr, err)
				fmt.Fprintln(stderr, "killgatectl: watch: retrying every", o.watchInterval)
			}
			failing = true
		default:
			if failing {
				fmt.Fprintln(stderr, "killgatectl: watch: recovered")
			}
			failing = false
			if gap {
				fmt.Fprintf(stderr, "killgatectl: watch: more than %d new records since the last poll; older ones were skipped\n", watchMaxPages*watchPageLimit)
			}
			if last < 0 {
				// First poll without --watch-from: start after what exists.
				last = 0
				for _, r := range recs {
					last = max(last, r.id)
				}
				recs = nil
			}
			if first {
				fmt.Fprintf(stderr, "killgatectl: watching %s after RecordId %d every %s; Ctrl-C stops\n", watchAction, last, o.watchInterval)
				first = false
			}
			for _, r := range recs {
				printRecord(stdout, o.output, r)
				last = max(last, r.id)
				printed++
				if o.watchCount > 0 && printed >= o.watchCount {
					return exitOK
				}
			}
		}
		t := time.NewTimer(o.watchInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return exitOK
		case <-t.C:
		}
	}
}

// printRecord writes one record: JSON on one line, or a readable line.
func printRecord(w io.Writer, format string, r record) {
	if format == "json" {
		var b bytes.Buffer
		if err := json.Compact(&b, r.raw); err != nil {
			b.Reset()
			b.Write(r.raw)
		}
		b.WriteByte('\n')
		_, _ = w.Write(b.Bytes())
		return
	}
	s := func(k string) string {
		if v, ok := r.f[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	parts := []string{s("KillTime"), "#" + strconv.FormatInt(r.id, 10), s("Outcome"), s("InstanceId")}
	for _, kv := range [][2]string{
		{"task", "TaskId"}, {"thread", "ThreadId"}, {"user", "User"}, {"host", "Host"},
		{"db", "DB"}, {"cmd", "Command"}, {"time", "Time"}, {"error", "Error"},
	} {
		if v := s(kv[1]); v != "" {
			if strings.ContainsAny(v, " \t") {
				v = strconv.Quote(v)
			}
			parts = append(parts, kv[0]+"="+v)
		}
	}
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	fmt.Fprintln(w, strings.Join(out, "  "))
}
