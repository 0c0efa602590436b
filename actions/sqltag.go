package actions

import (
	"sort"
	"strings"
)

// SQL tags are key=value pairs that applications put in a comment of their
// statements, as DBbrain's SqlTag statistics expect:
//
//	/* p=position, c=idCard */ SELECT ...
//
// Every /* ... */ comment of the statement text is looked at; a comment whose
// whole content is a comma-separated list of key=value items (spaces around
// keys, values and '=' are ignored) contributes its tags. Other comments
// (/* killgate */, optimizer hints /*+ ... */, version comments /*! ... */)
// are ignored. Keys are letters, digits, '_', '-', '.', ':'; values are
// non-empty. The first occurrence of a key wins.

// SqlTags is the tag set of one statement.
type SqlTags map[string]string

// ParseSqlTags extracts the SQL tags of a statement text; nil if it has none.
func ParseSqlTags(info string) SqlTags {
	var tags SqlTags
	rest := info
	for {
		i := strings.Index(rest, "/*")
		if i < 0 {
			return tags
		}
		rest = rest[i+2:]
		j := strings.Index(rest, "*/")
		if j < 0 {
			return tags
		}
		body := rest[:j]
		rest = rest[j+2:]
		if strings.HasPrefix(body, "+") || strings.HasPrefix(body, "!") {
			continue
		}
		items, ok := parseTagList(body)
		if !ok {
			continue
		}
		for _, kv := range items {
			if tags == nil {
				tags = SqlTags{}
			}
			if _, dup := tags[kv[0]]; !dup {
				tags[kv[0]] = kv[1]
			}
		}
	}
}

// parseTagList parses "k=v, k2=v2"; ok is false unless every item is a tag.
func parseTagList(body string) ([][2]string, bool) {
	if strings.TrimSpace(body) == "" {
		return nil, false
	}
	var out [][2]string
	for item := range strings.SplitSeq(body, ",") {
		k, v, found := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !found || !validTagKey(k) || v == "" {
			return nil, false
		}
		out = append(out, [2]string{k, v})
	}
	return out, true
}

func validTagKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// Name is the canonical name of a tag set: "k=v" items sorted by key and
// joined by ",", as DBbrain shows it ("f=abd,p=2342").
func (t SqlTags) Name() string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(t[k])
	}
	return b.String()
}

// TagCond is one StatDimension Data condition: "k=v" (tag k with value v)
// or "k" (tag k with any value).
type TagCond struct {
	Key, Value string
	AnyValue   bool
}

// ParseTagCond parses one Data item; ok is false when it is malformed.
func ParseTagCond(s string) (TagCond, bool) {
	k, v, found := strings.Cut(s, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !validTagKey(k) || (found && v == "") {
		return TagCond{}, false
	}
	return TagCond{Key: k, Value: v, AnyValue: !found}, true
}

// Match reports whether the tag set satisfies every condition (an empty
// condition list matches any non-empty tag set).
func (t SqlTags) Match(conds []TagCond) bool {
	if len(t) == 0 {
		return false
	}
	for _, c := range conds {
		v, ok := t[c.Key]
		if !ok || (!c.AnyValue && v != c.Value) {
			return false
		}
	}
	return true
}

// TagStat is the statistic of one tag set.
type TagStat struct {
	Name    string
	Count   int64
	TimeSum float64
	TimeAvg float64
}

// TagSample is one session's tags and running time in seconds.
type TagSample struct {
	Tags SqlTags
	Time int64
}

// SqlTagStats groups the samples that satisfy conds by tag set name. The
// result is sorted by TimeSum descending, then by name.
func SqlTagStats(samples []TagSample, conds []TagCond) []TagStat {
	idx := map[string]int{}
	var out []TagStat
	for _, s := range samples {
		if !s.Tags.Match(conds) {
			continue
		}
		name := s.Tags.Name()
		i, ok := idx[name]
		if !ok {
			i = len(out)
			idx[name] = i
			out = append(out, TagStat{Name: name})
		}
		out[i].Count++
		out[i].TimeSum += float64(s.Time)
	}
	for i := range out {
		out[i].TimeAvg = out[i].TimeSum / float64(out[i].Count)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].TimeSum != out[b].TimeSum {
			return out[a].TimeSum > out[b].TimeSum
		}
		return out[a].Name < out[b].Name
	})
	return out
}
