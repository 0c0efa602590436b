package actions

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// Numbers on the wire: JSON numbers, or strings holding one (flattened
// query and form input has nothing else).

// numberText returns the text of a number given as a JSON number or as a
// string. A string must hold a JSON number (optional minus, decimal digits
// without leading zeros, optional fraction and exponent), surrounding blanks
// aside: Go literal forms that strconv would also take ("0x10", "0x1p4",
// "1_0", "+5", ".5", "Inf") are not numbers on this API.
func numberText(raw any) (string, bool) {
	switch n := raw.(type) {
	case json.Number:
		return string(n), true
	case string:
		s := strings.TrimSpace(n)
		return s, isJSONNumber(s)
	}
	return "", false
}

// isJSONNumber reports whether s is a number in JSON syntax (RFC 8259 §6).
func isJSONNumber(s string) bool {
	i := 0
	digits := func() int { // skips decimal digits, returns how many
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		digits()
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

func toInt(raw any, path string) (int64, error) { return toInteger(raw, path, strconv.ParseInt) }

func toUint(raw any, path string) (uint64, error) {
	if s, ok := numberText(raw); ok && strings.HasPrefix(s, "-") {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return 0, E(InvalidParameterValue, "Parameter `%s` must not be negative.", path)
		}
	}
	return toInteger(raw, path, strconv.ParseUint)
}

// toInteger reads a 64-bit integer with parse (strconv.ParseInt or
// ParseUint). An integer written as a float (5.0, 1e3) is accepted when it
// is exact (below 2^53) and, for an unsigned T, not negative.
func toInteger[T int64 | uint64](raw any, path string, parse func(string, int, int) (T, error)) (T, error) {
	s, ok := numberText(raw)
	if !ok {
		return 0, typeError(path, "integer")
	}
	n, err := parse(s, 10, 64)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, E(InvalidParameterValue, "Parameter `%s` is out of the 64-bit integer range.", path)
	}
	signed := ^T(0) < 0
	if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 && (signed || f >= 0) {
		return T(f), nil
	}
	return 0, typeError(path, "integer")
}

func toFloat(raw any, path string) (float64, error) {
	s, ok := numberText(raw)
	if !ok {
		return 0, typeError(path, "number")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, typeError(path, "number")
	}
	return f, nil
}
