package actions

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// field describes one decodable struct field: its wire name and where it
// sits (an index path, as reflect.Value.FieldByIndex takes it).
type field struct {
	name     string
	index    []int
	required bool
}

var fieldCache sync.Map // reflect.Type → []field

// fieldsOf lists the wire fields of a request struct in declaration order
// (see collectFields).
func fieldsOf(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	fs := collectFields(t, nil)
	fieldCache.Store(t, fs)
	return fs
}

// collectFields lists t's wire fields, found at the index path at. An
// embedded struct without a json name is flattened: its fields are wire
// parameters of t itself, at its place in the order (so requests can share
// a group of parameters, like TaskFilter, without nesting them on the
// wire). As in encoding/json, a field of t itself wins over an embedded
// one of the same name. Two embedded fields of one name, or an embedded
// pointer, are programming errors and panic (Bind lists the fields at
// start-up).
func collectFields(t reflect.Type, at []int) []field {
	flattened := func(sf reflect.StructField) (bool, string) {
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.Anonymous || name != "" {
			return false, name
		}
		if sf.Type.Kind() != reflect.Struct {
			panic(fmt.Sprintf("actions: %s embeds %s: only structs are flattened", t, sf.Type))
		}
		return true, ""
	}
	own := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		if flat, name := flattened(t.Field(i)); !flat {
			own[name] = true
		}
	}
	var fs []field
	embedded := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		index := append(slices.Clip(at), i)
		flat, name := flattened(sf)
		if flat {
			for _, f := range collectFields(sf.Type, index) {
				if own[f.name] {
					continue
				}
				if embedded[f.name] {
					panic(fmt.Sprintf("actions: %s: parameter %s is embedded twice", t, f.name))
				}
				embedded[f.name] = true
				fs = append(fs, f)
			}
			continue
		}
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		fs = append(fs, field{name: name, index: index, required: strings.Contains(sf.Tag.Get("kg"), "required")})
	}
	return fs
}

// Decode fills dst (a pointer to a request struct) from a generic map
// produced by ParseJSON or by unflattening a query or form. Field names come
// from `json` tags (fields of embedded structs are flattened, see
// collectFields); `kg:"required"` marks required ones. Unknown keys are
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
		if err := decodeValue(raw, v.FieldByIndex(f.index), join(path, f.name)); err != nil {
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
