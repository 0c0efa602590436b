package actions

import (
	"encoding/json"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// Listings (DescribeKillTasks, DescribeKillRecords, DescribeMySqlProcessList,
// PreviewKillTask) are bounded in bytes, whatever the rows hold (a statement
// text can be megabytes; a task stored before the filter limits can carry
// hundreds of KB of filters). Documented in docs/actions/*.md ("Size").
const (
	// ListTextMax bounds each text field of a listed row (statement texts,
	// errors, filter values). Longer text is cut at a UTF-8 boundary and
	// ends with "…[truncated, N bytes]", N being its full length. Filters
	// within the limits (limits.go) are never cut.
	ListTextMax = 4096
	// ListByteBudget bounds the JSON of a listing's rows: a page stops
	// before the row that would pass it (the first row is always listed).
	// TotalCount still counts every match, so a caller pages on from
	// Offset + the rows it got.
	ListByteBudget = 4 << 20
)

// cutText applies ListTextMax to s.
func cutText(s string) string { return cutTextOf(s, len(s)) }

// cutTextOf applies ListTextMax to s, the start of a text of full bytes
// (the store may return only the start of a long text; then s holds more
// than ListTextMax bytes).
func cutTextOf(s string, full int) string {
	if full <= ListTextMax && len(s) <= ListTextMax {
		return s
	}
	n := min(ListTextMax, len(s))
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…[truncated, " + strconv.Itoa(max(full, len(s))) + " bytes]"
}

// jsonStringLen is an upper bound of the bytes s takes as a JSON string,
// quotes included, as the gateway encodes it (HTML escaping off): control
// characters, invalid bytes and U+2028/U+2029 count 6 (\uXXXX), quote and
// backslash 2.
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20:
				n += 6
			case c == '"' || c == '\\':
				n += 2
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// rowSizer estimates the JSON size of rows of one struct type: the size of
// its zero value (field names, punctuation) plus, per string field, its
// content, and per numeric field the widest number.
type rowSizer struct {
	base int
}

func newRowSizer(zero any) rowSizer {
	b, _ := json.Marshal(zero)
	base := len(b) + 1 // the comma between rows
	// VisibleFields: the fields of embedded structs (TaskFilter) count too.
	for _, f := range reflect.VisibleFields(reflect.TypeOf(zero)) {
		if f.Anonymous {
			continue
		}
		switch f.Type.Kind() {
		case reflect.Int64, reflect.Int, reflect.Uint64, reflect.Float64:
			base += 24
		case reflect.Pointer: // optional strings (times, SqlType): absent in the zero value
			base += len(f.Name) + 4
		}
	}
	return rowSizer{base: base}
}

// size returns the estimate for a row whose strings (every string and
// string-list item of the row) are given.
func (r rowSizer) size(strs ...string) int {
	n := r.base
	for _, s := range strs {
		n += jsonStringLen(s) + 1 // - 2 quotes of the zero value, + a comma in lists: rounded up
	}
	return n
}

// pageBudget counts the bytes of a listing as rows are added.
type pageBudget struct {
	used, rows int
}

// fits reports whether a row of n bytes may still be listed, and counts it
// if so. The first row always fits.
func (b *pageBudget) fits(n int) bool {
	if b.rows > 0 && b.used+n > ListByteBudget {
		return false
	}
	b.used += n
	b.rows++
	return true
}
