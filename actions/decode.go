package actions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Limits on decoded input, beyond the transport's size limits.
const (
	maxJSONDepth   = 16
	maxListLen     = 10000
	maxStringBytes = 65536
)

// ParseJSON reads an API 3.0 JSON body into a generic map. Numbers stay
// json.Number (int64 precision); duplicate keys, nesting deeper than 16,
// non-UTF-8 text and anything but a top-level object are InvalidParameter.
// An empty body is an empty object.
func ParseJSON(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	if !utf8.Valid(body) {
		return nil, E(InvalidParameter, "The request body is not valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, E(InvalidParameter, "The request body is not valid JSON.")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, E(InvalidParameter, "The request body must be a JSON object.")
	}
	m, err := parseObject(dec, "", 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, E(InvalidParameter, "The request body has data after the JSON object.")
	}
	return m, nil
}

func parseObject(dec *json.Decoder, path string, depth int) (map[string]any, error) {
	if depth > maxJSONDepth {
		return nil, E(InvalidParameter, "The request body is nested too deeply.")
	}
	m := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, E(InvalidParameter, "The request body is not valid JSON.")
		}
		key, _ := tok.(string)
		name := join(path, key)
		if _, dup := m[key]; dup {
			return nil, E(InvalidParameter, "The parameter `%s` appears more than once.", name)
		}
		v, err := parseValue(dec, name, depth)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, E(InvalidParameter, "The request body is not valid JSON.")
	}
	return m, nil
}

func parseValue(dec *json.Decoder, path string, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, E(InvalidParameter, "The request body is not valid JSON.")
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return parseObject(dec, path, depth+1)
		case '[':
			if depth+1 > maxJSONDepth {
				return nil, E(InvalidParameter, "The request body is nested too deeply.")
			}
			var list []any
			for dec.More() {
				if len(list) >= maxListLen {
					return nil, E(InvalidParameterValue, "The parameter `%s` has more than %d items.", path, maxListLen)
				}
				v, err := parseValue(dec, fmt.Sprintf("%s.%d", path, len(list)), depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, E(InvalidParameter, "The request body is not valid JSON.")
			}
			if list == nil {
				list = []any{}
			}
			return list, nil
		}
		return nil, E(InvalidParameter, "The request body is not valid JSON.")
	default:
		return t, nil // string, json.Number, bool, nil
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// field describes one decodable struct field.
type field struct {
	name     string
	index    int
	required bool
}

var fieldCache sync.Map // reflect.Type → []field

func fieldsOf(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	var fs []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		fs = append(fs, field{name: name, index: i, required: strings.Contains(sf.Tag.Get("kg"), "required")})
	}
	fieldCache.Store(t, fs)
	return fs
}

// Decode fills dst (a pointer to a request struct) from a generic map
// produced by ParseJSON or by unflattening a query or form. Field names come
// from `json` tags; `kg:"required"` marks required ones. Unknown keys are
// UnknownParameter, absent required ones MissingParameter, wrong types
// InvalidParameter, numbers out of range InvalidParameterValue. Integers,
// floats and booleans are also accepted as strings ("20", "true"): flattened
// input has nothing else, and Tencent's own examples send "Limit":"20". A
// number in a string must be written as a JSON number ("20", "5.0", "1e3"),
// never in Go literal syntax ("0x10", "0x1p4", "1_0", "+5").
// A JSON null is the same as an absent key.
func Decode(m map[string]any, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("actions: Decode needs a pointer to a struct, got %T", dst)
	}
	return decodeStruct(m, v.Elem(), "")
}

func decodeStruct(m map[string]any, v reflect.Value, path string) error {
	fs := fieldsOf(v.Type())
	// Report unknown keys in a stable order.
	var unknown []string
	for k := range m {
		found := false
		for i := range fs {
			if fs[i].name == k {
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return E(UnknownParameter, "The parameter `%s` is not recognized.", join(path, unknown[0]))
	}
	for i := range fs {
		f := &fs[i]
		raw, ok := m[f.name]
		if !ok || raw == nil {
			if f.required {
				return E(MissingParameter, "The request is missing a required parameter `%s`.", join(path, f.name))
			}
			continue
		}
		if err := decodeValue(raw, v.Field(f.index), join(path, f.name)); err != nil {
			return err
		}
	}
	return nil
}

func decodeValue(raw any, v reflect.Value, path string) error {
	if v.Kind() == reflect.Pointer {
		nv := reflect.New(v.Type().Elem())
		if err := decodeValue(raw, nv.Elem(), path); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			return typeError(path, "string")
		}
		if len(s) > maxStringBytes {
			return E(InvalidParameterValue, "The parameter `%s` is longer than %d bytes.", path, maxStringBytes)
		}
		v.SetString(s)
	case reflect.Int64, reflect.Int:
		n, err := toInt(raw, path)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Uint64:
		n, err := toUint(raw, path)
		if err != nil {
			return err
		}
		v.SetUint(n)
	case reflect.Float64:
		f, err := toFloat(raw, path)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	case reflect.Bool:
		switch b := raw.(type) {
		case bool:
			v.SetBool(b)
		case string:
			pb, err := strconv.ParseBool(b)
			if err != nil || (b != "true" && b != "false") {
				return typeError(path, "boolean")
			}
			v.SetBool(pb)
		default:
			return typeError(path, "boolean")
		}
	case reflect.Slice:
		list, ok := raw.([]any)
		if !ok {
			return typeError(path, "list")
		}
		out := reflect.MakeSlice(v.Type(), len(list), len(list))
		for i, item := range list {
			if item == nil {
				return E(InvalidParameter, "Parameter `%s.%d` must not be null.", path, i)
			}
			if err := decodeValue(item, out.Index(i), fmt.Sprintf("%s.%d", path, i)); err != nil {
				return err
			}
		}
		v.Set(out)
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return typeError(path, "object")
		}
		return decodeStruct(obj, v, path)
	default:
		return fmt.Errorf("actions: unsupported field kind %s at %s", v.Kind(), path)
	}
	return nil
}

func typeError(path, want string) error {
	return E(InvalidParameter, "Parameter `%s` type error: expected %s.", path, want)
}

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
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

func toInt(raw any, path string) (int64, error) {
	s, ok := numberText(raw)
	if !ok {
		return 0, typeError(path, "integer")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, E(InvalidParameterValue, "Parameter `%s` is out of the 64-bit integer range.", path)
	}
	// 5.0 or 1e3 are integers written as floats: accept exact ones.
	if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f), nil
	}
	return 0, typeError(path, "integer")
}

func toUint(raw any, path string) (uint64, error) {
	s, ok := numberText(raw)
	if !ok {
		return 0, typeError(path, "integer")
	}
	if strings.HasPrefix(s, "-") {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return 0, E(InvalidParameterValue, "Parameter `%s` must not be negative.", path)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, E(InvalidParameterValue, "Parameter `%s` is out of the 64-bit integer range.", path)
	}
	if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f >= 0 && f == math.Trunc(f) && f < 1<<53 {
		return uint64(f), nil
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
