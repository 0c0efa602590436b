package gateway

// Flattened parameters (GET query / form body, tencent-api3.md §1.4):
// lists as Name.0, Name.1, …; nested objects as Parent.0.Field,
// Parent.0.Data.0. Unflatten turns them back into the JSON-shaped value the
// typed decoder reads; leaf values stay strings.

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const (
	// MaxFlattenDepth is the largest number of dot-separated segments in a
	// flattened key (Parent.0.Data.0 has 4).
	MaxFlattenDepth = 8
	// MaxFlattenIndex is the largest list index accepted.
	MaxFlattenIndex = 1000
)

// ErrFlattenedParam is wrapped by every *FlattenError.
var ErrFlattenedParam = errors.New("bad flattened parameter")

// FlattenError names the parameter key that could not be unflattened.
type FlattenError struct {
	Key    string // the offending key as received (or the list element key for gaps)
	Reason string
}

func (e *FlattenError) Error() string {
	return "gateway: parameter `" + e.Key + "`: " + e.Reason
}

func (e *FlattenError) Unwrap() error { return ErrFlattenedParam }

func flatErr(key, reason string) error { return &FlattenError{Key: key, Reason: reason} }

// fnode is one node of the tree being rebuilt: a leaf string, an object
// (fields) or a list (items, by index until it is checked for gaps).
type fnode struct {
	leaf   bool
	value  string
	fields map[string]*fnode
	items  map[int]*fnode
}

// Unflatten rebuilds nested parameters from flattened keys:
//
//	Name.0=a&Name.1=b&Parent.0.Field=x&Parent.0.Data.0=y&Limit=10
//
// becomes
//
//	{"Name":["a","b"], "Parent":[{"Field":"x","Data":["y"]}], "Limit":"10"}
//
// A segment made only of digits is a list index; any other segment is an
// object field. Leaf values stay strings. Keys for which skip (if non-nil)
// reports true are dropped before any check — use it for the common
// parameters (Action, Version, Signature, …).
//
// Errors (*FlattenError, wrapping ErrFlattenedParam, naming the key): a key
// given more than once, an empty key or segment, more than MaxFlattenDepth
// segments, a top-level name that is a number, an index with leading zeros
// or above MaxFlattenIndex, list indices that do not run 0..n-1 without
// gaps, and one name used as more than one of scalar / list / object.
// Keys are processed in sorted order, so the error reported is deterministic.
func Unflatten(vals url.Values, skip func(key string) bool) (map[string]any, error) {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		if skip != nil && skip(k) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)

	root := &fnode{fields: make(map[string]*fnode, len(keys))}
	for _, key := range keys {
		vs := vals[key]
		if len(vs) != 1 {
			return nil, flatErr(key, "given "+strconv.Itoa(len(vs))+" times; each parameter may appear once")
		}
		if err := root.insert(key, vs[0]); err != nil {
			return nil, err
		}
	}
	out := make(map[string]any, len(root.fields))
	for _, name := range sortedFields(root.fields) {
		v, err := root.fields[name].build(name)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

func (root *fnode) insert(key, value string) error {
	if key == "" {
		return flatErr(key, "empty parameter name")
	}
	if strings.Count(key, ".") >= MaxFlattenDepth {
		return flatErr(key, "nested more than "+strconv.Itoa(MaxFlattenDepth)+" levels deep")
	}
	cur := root
	rest := key
	for first := true; ; first = false {
		seg, tail, more := strings.Cut(rest, ".")
		rest = tail
		if seg == "" {
			return flatErr(key, "empty name segment")
		}
		idx, isIndex, err := parseFlatIndex(seg)
		if err != nil {
			return flatErr(key, err.Error())
		}
		if cur.leaf {
			return flatErr(key, "a scalar value is also given as a list or object")
		}
		var child *fnode
		if isIndex {
			if first {
				return flatErr(key, "a parameter name cannot be a number")
			}
			if cur.fields != nil {
				return flatErr(key, "list index "+seg+" under an object")
			}
			if cur.items == nil {
				cur.items = make(map[int]*fnode)
			}
			child = cur.items[idx]
		} else {
			if cur.items != nil {
				return flatErr(key, "non-numeric index "+strconv.Quote(seg)+" under a list")
			}
			if cur.fields == nil {
				cur.fields = make(map[string]*fnode)
			}
			child = cur.fields[seg]
		}
		switch {
		case child == nil:
			child = &fnode{}
			if !more {
				child.leaf, child.value = true, value
			}
			if isIndex {
				cur.items[idx] = child
			} else {
				cur.fields[seg] = child
			}
		case !more:
			// The node already exists: it is a list or an object (a second
			// scalar would be the same key, which url.Values cannot hold).
			return flatErr(key, "a scalar value is also given as a list or object")
		}
		if !more {
			return nil
		}
		cur = child
	}
}

// parseFlatIndex reports whether seg is a list index and its value.
func parseFlatIndex(seg string) (int, bool, error) {
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return 0, false, nil
		}
	}
	if len(seg) > 1 && seg[0] == '0' {
		return 0, true, errors.New("list index " + strconv.Quote(seg) + " has leading zeros")
	}
	if len(seg) > 4 {
		return 0, true, errors.New("list index " + seg + " is above " + strconv.Itoa(MaxFlattenIndex))
	}
	n, _ := strconv.Atoi(seg) // at most 4 digits: cannot fail
	if n > MaxFlattenIndex {
		return 0, true, errors.New("list index " + seg + " is above " + strconv.Itoa(MaxFlattenIndex))
	}
	return n, true, nil
}

func sortedFields(m map[string]*fnode) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// build converts the node at path into string / []any / map[string]any.
func (n *fnode) build(path string) (any, error) {
	switch {
	case n.leaf:
		return n.value, nil
	case n.items != nil:
		list := make([]any, len(n.items))
		for i := range list {
			child, ok := n.items[i]
			if !ok {
				// Name the first element given beyond the gap.
				next := -1
				for j := range n.items {
					if j > i && (next < 0 || j < next) {
						next = j
					}
				}
				return nil, flatErr(path+"."+strconv.Itoa(next),
					"list index "+strconv.Itoa(next)+" given but "+path+"."+strconv.Itoa(i)+
						" is missing; indices must be contiguous from 0")
			}
			v, err := child.build(path + "." + strconv.Itoa(i))
			if err != nil {
				return nil, err
			}
			list[i] = v
		}
		return list, nil
	default:
		obj := make(map[string]any, len(n.fields))
		for _, name := range sortedFields(n.fields) {
			v, err := n.fields[name].build(path + "." + name)
			if err != nil {
				return nil, err
			}
			obj[name] = v
		}
		return obj, nil
	}
}
