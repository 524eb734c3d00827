package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// jsonPathQuery evaluates the JSONPath subset people use with
// `status --jsonpath`: "$", ".name", "['name']", "[N]" (negative counts from
// the end), "[*]", ".*" and "..name" (recursive descent). Like GLib's
// json_path_query, the result is always the array of matches.
func jsonPathQuery(doc any, expr string) ([]any, error) {
	if !strings.HasPrefix(expr, "$") {
		return nil, fmt.Errorf("JSONPath expression must start with '$': %q", expr)
	}
	cur := []any{doc}
	rest := expr[1:]
	for rest != "" {
		var next []any
		switch {
		case strings.HasPrefix(rest, ".."):
			name, r := readName(rest[2:])
			if name == "" {
				return nil, fmt.Errorf("missing member name after '..' in %q", expr)
			}
			for _, n := range cur {
				next = append(next, descend(n, name)...)
			}
			rest = r
		case strings.HasPrefix(rest, "."):
			name, r := readName(rest[1:])
			if name == "" {
				return nil, fmt.Errorf("missing member name after '.' in %q", expr)
			}
			for _, n := range cur {
				next = append(next, member(n, name)...)
			}
			rest = r
		case strings.HasPrefix(rest, "["):
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("missing ']' in %q", expr)
			}
			sel := strings.TrimSpace(rest[1:end])
			rest = rest[end+1:]
			switch {
			case sel == "*":
				for _, n := range cur {
					next = append(next, member(n, "*")...)
				}
			case len(sel) >= 2 && (sel[0] == '\'' || sel[0] == '"') && sel[len(sel)-1] == sel[0]:
				for _, n := range cur {
					next = append(next, member(n, sel[1:len(sel)-1])...)
				}
			default:
				i, err := strconv.Atoi(sel)
				if err != nil {
					return nil, fmt.Errorf("unsupported selector [%s] in %q", sel, expr)
				}
				for _, n := range cur {
					if a, ok := n.([]any); ok {
						if i < 0 {
							i += len(a)
						}
						if i >= 0 && i < len(a) {
							next = append(next, a[i])
						}
					}
				}
			}
		default:
			return nil, fmt.Errorf("unexpected %q in %q", rest, expr)
		}
		cur = next
	}
	if cur == nil {
		cur = []any{}
	}
	return cur, nil
}

func readName(s string) (string, string) {
	i := strings.IndexAny(s, ".[")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// member selects a named member ("*" selects all members or elements).
func member(n any, name string) []any {
	switch x := n.(type) {
	case map[string]any:
		if name == "*" {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out := make([]any, 0, len(keys))
			for _, k := range keys {
				out = append(out, x[k])
			}
			return out
		}
		if v, ok := x[name]; ok {
			return []any{v}
		}
	case []any:
		if name == "*" {
			return append([]any{}, x...)
		}
	}
	return nil
}

// descend finds name at any depth, parents before children.
func descend(n any, name string) []any {
	out := member(n, name)
	if name == "*" {
		out = nil
	}
	switch x := n.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if name == "*" {
				out = append(out, x[k])
			}
			out = append(out, descend(x[k], name)...)
		}
	case []any:
		for _, e := range x {
			if name == "*" {
				out = append(out, e)
			}
			out = append(out, descend(e, name)...)
		}
	}
	return out
}
