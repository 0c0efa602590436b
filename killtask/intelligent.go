package killtask

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/DataDog/go-sqllexer"
)

// Intelligent kill: the node's active sessions are grouped by SQL template,
// up to three groups are picked (one per strategy) and every session in them
// is killed. This file holds the pure parts (template normaliser, grouping,
// picking); intelligent_engine.go holds the engine's reads and task
// bookkeeping, store_intelligent.go the stored tasks.

// Strategy is the ranking that picked a group.
type Strategy string

// The three strategies, in the order they pick. The values are stored in
// intelligent-kill summaries: never change them.
const (
	StrategyMaxTime Strategy = "top3_time"     // longest single execution (max TIME) in the group
	StrategyCount   Strategy = "top3_count"    // most sessions
	StrategyAvgTime Strategy = "top3_avg_time" // longest average TIME
)

// Strategies lists the strategies in picking order.
var Strategies = []Strategy{StrategyMaxTime, StrategyCount, StrategyAvgTime}

// MaxKeywordLen bounds a group keyword in bytes. Longer templates are cut
// (at a UTF-8 boundary) and suffixed with "...#" and 8 hex digits of the
// SHA-256 of the whole template, so two long templates that share a prefix
// still show distinct keywords. Grouping always uses the whole template.
const MaxKeywordLen = 256

var (
	sqlObfuscator = sqllexer.NewObfuscator(
		sqllexer.WithReplaceDigits(false), // keep digits inside identifiers (t1, utf8mb4)
		sqllexer.WithReplaceBoolean(true),
		sqllexer.WithReplaceNull(true),
		sqllexer.WithReplacePositionalParameter(true),
	)
	sqlNormalizer = sqllexer.NewNormalizer(
		sqllexer.WithCollectComments(false),
		sqllexer.WithCollectCommands(false),
		sqllexer.WithCollectTables(false),
		sqllexer.WithCollectProcedures(false),
		sqllexer.WithKeepSQLAlias(true),
		sqllexer.WithKeepIdentifierQuotation(false),
		sqllexer.WithRemoveSpaceBetweenParentheses(true),
	)
	// prefixed literals the lexer splits into a word and a placeholder:
	// b'0101', x'1F', n'text', _utf8mb4'text'.
	reLiteralPrefix = regexp.MustCompile(`(^|[\s(,=<>!+\-*/])(?:b|x|n|_[a-z0-9]+) \?`)
	// multi-row VALUES lists: VALUES (?), (?), (?) → VALUES (?)
	reValueRows = regexp.MustCompile(`\(\?\)(?:\s*,\s*\(\?\))+`)
	reSpace     = regexp.MustCompile(`\s+`)
	// MySQL 0b0101 bit literals, which the lexer reads as 0 then b0101
	reBitLiteral = regexp.MustCompile(`(?i)\b0b[01]+\b`)
	// fallback literals when the lexer cannot read the statement
	reFallbackLit = regexp.MustCompile(`'(?:[^'\\]|\\.|'')*'?|"(?:[^"\\]|\\.|"")*"?|\b0x[0-9a-f]+\b|-?\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b`)
)

// SQLTemplate returns the normalised template of a statement: comments and
// optimizer hints removed; string, number, hex, bit, boolean and NULL
// literals replaced by "?"; IN lists and multi-row VALUES lists collapsed to
// one "(?)"; identifier quotes removed; whitespace collapsed; everything
// lower case. Statements that differ only in literal values share a
// template. It uses DataDog's go-sqllexer (MySQL dialect) and falls back to
// a plain literal scrub for text the lexer rejects (e.g. a truncated
// statement). An empty statement has the empty template.
func SQLTemplate(sql string) string {
	sql = strings.TrimSpace(sql)
	if sql == "" {
		return ""
	}
	if !utf8.ValidString(sql) {
		sql = strings.ToValidUTF8(sql, "?")
	}
	sql = reBitLiteral.ReplaceAllString(sql, "0")
	out, _, err := sqllexer.ObfuscateAndNormalize(sql, sqlObfuscator, sqlNormalizer, sqllexer.WithDBMS(sqllexer.DBMSMySQL))
	if err != nil || strings.TrimSpace(out) == "" {
		out = reFallbackLit.ReplaceAllString(strings.ToLower(sql), "?")
	}
	out = strings.ToLower(out)
	out = reLiteralPrefix.ReplaceAllString(out, "$1?")
	out = reValueRows.ReplaceAllString(out, "(?)")
	out = reSpace.ReplaceAllString(out, " ")
	out = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(out), ";"))
	return out
}

// Keyword returns the display form of a template (see MaxKeywordLen).
func Keyword(template string) string {
	if len(template) <= MaxKeywordLen {
		return template
	}
	sum := sha256.Sum256([]byte(template))
	suffix := "...#" + hex.EncodeToString(sum[:4])
	cut := MaxKeywordLen - len(suffix)
	for cut > 0 && !utf8.RuneStart(template[cut]) {
		cut--
	}
	return template[:cut] + suffix
}

// SessionGroup is the set of active sessions that share one SQL template.
type SessionGroup struct {
	Template  string    // the whole normalised template (the group key)
	Keyword   string    // Keyword(Template)
	Example   string    // statement of the group's longest-running session (lowest id on ties)
	Sessions  []Process // ordered by thread id
	Count     int
	TotalTime int64 // seconds, sum of TIME
	MaxTime   int64 // seconds, largest TIME
	Strategy  Strategy
}

// AvgTime is TotalTime / Count in seconds.
func (g *SessionGroup) AvgTime() float64 {
	if g.Count == 0 {
		return 0
	}
	return float64(g.TotalTime) / float64(g.Count)
}

// IDs returns the thread ids of the group's sessions.
func (g *SessionGroup) IDs() []uint64 {
	out := make([]uint64, len(g.Sessions))
	for i, p := range g.Sessions {
		out[i] = p.ID
	}
	return out
}

// IntelligentEligible reports whether a session takes part in intelligent
// kill grouping: it is running a statement (Command is not Sleep and INFO is
// not empty). Safety exclusions (own, system, protected) are applied by the
// engine before grouping.
func IntelligentEligible(p *Process) bool {
	return !strings.EqualFold(p.Command, "Sleep") && strings.TrimSpace(p.Info) != ""
}

// GroupSessions groups the eligible sessions of ps by SQL template. Groups
// come out ordered by template; sessions inside a group by thread id.
func GroupSessions(ps []Process) []SessionGroup {
	byTemplate := map[string]*SessionGroup{}
	for _, p := range ps {
		if !IntelligentEligible(&p) {
			continue
		}
		t := SQLTemplate(p.Info)
		g := byTemplate[t]
		if g == nil {
			g = &SessionGroup{Template: t, Keyword: Keyword(t)}
			byTemplate[t] = g
		}
		g.Sessions = append(g.Sessions, p)
	}
	out := make([]SessionGroup, 0, len(byTemplate))
	for _, g := range byTemplate {
		slices.SortFunc(g.Sessions, func(a, b Process) int { return cmp.Compare(a.ID, b.ID) })
		g.Count = len(g.Sessions)
		g.MaxTime = -1
		for _, p := range g.Sessions {
			g.TotalTime += max(p.Time, 0)
			if t := max(p.Time, 0); t > g.MaxTime {
				g.MaxTime, g.Example = t, p.Info
			}
		}
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b SessionGroup) int { return strings.Compare(a.Template, b.Template) })
	return out
}

// Ranking comparators: each returns < 0 when a ranks before b. Ties on the
// strategy's metric fall to the next metrics and finally to the template
// (byte order), so the order is total and the pick deterministic:
//
//	top3_time:     max_time ↓, count ↓, total_time ↓, template ↑
//	top3_count:    count ↓, total_time ↓, max_time ↓, template ↑
//	top3_avg_time: avg_time ↓, count ↓, max_time ↓, template ↑
func rankBy(s Strategy) func(a, b *SessionGroup) int {
	switch s {
	case StrategyMaxTime:
		return func(a, b *SessionGroup) int {
			return cmpChain(cmp.Compare(b.MaxTime, a.MaxTime), cmp.Compare(b.Count, a.Count),
				cmp.Compare(b.TotalTime, a.TotalTime), strings.Compare(a.Template, b.Template))
		}
	case StrategyCount:
		return func(a, b *SessionGroup) int {
			return cmpChain(cmp.Compare(b.Count, a.Count), cmp.Compare(b.TotalTime, a.TotalTime),
				cmp.Compare(b.MaxTime, a.MaxTime), strings.Compare(a.Template, b.Template))
		}
	default:
		return func(a, b *SessionGroup) int {
			// Compare averages exactly: a.total/a.count vs b.total/b.count.
			avg := cmp.Compare(b.TotalTime*int64(a.Count), a.TotalTime*int64(b.Count))
			return cmpChain(avg, cmp.Compare(b.Count, a.Count), cmp.Compare(b.MaxTime, a.MaxTime),
				strings.Compare(a.Template, b.Template))
		}
	}
}

func cmpChain(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

// PickGroups chooses at most three distinct groups, one per strategy, in the
// order top3_time, top3_count, top3_avg_time: each strategy takes its best
// ranked group that an earlier strategy has not already taken (so a group
// that is best by every measure is picked once, by top3_time, and the other
// two strategies take their next best). With fewer than three groups, fewer
// are picked. The returned groups carry the strategy that picked them.
func PickGroups(groups []SessionGroup) []SessionGroup {
	var out []SessionGroup
	taken := map[string]bool{}
	for _, s := range Strategies {
		rank := rankBy(s)
		best := -1
		for i := range groups {
			if taken[groups[i].Template] {
				continue
			}
			if best < 0 || rank(&groups[i], &groups[best]) < 0 {
				best = i
			}
		}
		if best < 0 {
			break
		}
		g := groups[best]
		g.Strategy = s
		g.Sessions = slices.Clone(g.Sessions)
		taken[g.Template] = true
		out = append(out, g)
	}
	return out
}
