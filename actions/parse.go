package actions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
