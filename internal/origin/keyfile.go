package origin

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file is the GLib keyfile layer: lines kept verbatim, plus the parsing,
// escaping and editing rules of g_key_file. origin.go gives the keys meaning.

type lineKind int

const (
	lineOther lineKind = iota // blank or comment: kept, never interpreted
	lineGroup                 // "[name]"
	lineEntry                 // "key=value"
)

// line is one line of the file. text is what Bytes writes back; it is the
// line as read, or the line as Set rendered it.
type line struct {
	kind  lineKind
	text  string
	group string // lineGroup: the group's name
	key   string // lineEntry
	value string // lineEntry: the value as written, still escaped
}

// parseLines splits data into lines and classifies them, checking the syntax
// GLib's keyfile parser requires. n is 1-based for error messages.
func parseLines(data []byte) ([]line, error) {
	text := string(data)
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil, nil
	}
	raw := strings.Split(text, "\n")
	lines := make([]line, 0, len(raw))
	inGroup := false
	for i, s := range raw {
		n := i + 1
		// CRLF files are read as LF; Bytes writes LF.
		s = strings.TrimRight(s, "\r")
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("origin line %d: not valid UTF-8", n)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("origin line %d: contains a NUL byte", n)
		}
		l, err := parseLine(s)
		if err != nil {
			return nil, fmt.Errorf("origin line %d: %w", n, err)
		}
		switch l.kind {
		case lineGroup:
			inGroup = true
		case lineEntry:
			if !inGroup {
				return nil, fmt.Errorf("origin line %d: %q comes before any [group]", n, l.key)
			}
		}
		lines = append(lines, l)
	}
	return lines, nil
}

func parseLine(s string) (line, error) {
	trimmed := strings.TrimLeft(s, " \t\v\f\r")
	switch {
	case trimmed == "" || trimmed[0] == '#':
		return line{kind: lineOther, text: s}, nil
	case trimmed[0] == '[':
		inner, ok := strings.CutSuffix(strings.TrimRight(trimmed, " \t\v\f\r"), "]")
		name := strings.TrimPrefix(inner, "[")
		if !ok || !validGroupName(name) {
			return line{}, fmt.Errorf("invalid group header %q", s)
		}
		return line{kind: lineGroup, text: s, group: name}, nil
	}
	k, v, ok := strings.Cut(trimmed, "=")
	if !ok {
		return line{}, fmt.Errorf("expected key=value, [group] or #comment, got %q", s)
	}
	k = strings.TrimRight(k, " \t\v\f\r")
	if !validKeyName(k) {
		return line{}, fmt.Errorf("invalid key name %q", k)
	}
	// GLib drops whitespace after '='; a value that starts with a space
	// is written with "\s". (GLib also drops \v and \f here, which no
	// escape can protect; we keep them so every value can be written.)
	v = strings.TrimLeft(v, " \t")
	if err := checkEscapes(v); err != nil {
		return line{}, fmt.Errorf("value of %s: %w", k, err)
	}
	return line{kind: lineEntry, text: s, key: k, value: v}, nil
}

// validGroupName follows g_key_file_is_group_name: not empty, no brackets,
// no control characters.
func validGroupName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r == '[' || r == ']' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// validKeyName follows g_key_file_is_key_name, plus what our line parser
// needs to read the key back: "name" or "name[locale]", no '=', no leading
// or trailing whitespace, not starting like a comment or group.
func validKeyName(key string) bool {
	if key == "" || key[0] == '#' || key[0] == '[' || strings.TrimSpace(key) != key {
		return false
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	name, locale, hasLocale := strings.Cut(key, "[")
	if strings.ContainsAny(name, "=]") || strings.TrimRight(name, " \t") != name {
		return false
	}
	if !hasLocale {
		return true
	}
	locale, ok := strings.CutSuffix(locale, "]")
	return ok && locale != "" && !strings.ContainsAny(locale, "[]=")
}

// checkEscapes accepts the escapes GLib understands in values: \s \n \t \r
// \\ and, in lists, \; (GLib reads that one as ';' in any value).
func checkEscapes(v string) error {
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		if i+1 == len(v) {
			return fmt.Errorf("escape character at end of line")
		}
		switch v[i+1] {
		case 's', 'n', 't', 'r', '\\', ';':
			i++
		default:
			return fmt.Errorf("invalid escape sequence \\%c", v[i+1])
		}
	}
	return nil
}

// unescape decodes a value already accepted by checkEscapes.
func unescape(v string) string {
	if strings.IndexByte(v, '\\') < 0 {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			switch v[i] {
			case 's':
				c = ' '
			case 'n':
				c = '\n'
			case 't':
				c = '\t'
			case 'r':
				c = '\r'
			default: // '\\' and ';'
				c = v[i]
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// escape encodes s as a keyfile value. In a list element ';' and spaces are
// escaped too, so that neither is taken for a separator when read back.
func escape(s string, listElem bool) string {
	// Keyfiles are UTF-8 without NUL; anything else could not be read back.
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' && (listElem || i == 0 || i == len(s)-1):
			// Leading spaces would be dropped by the parser; trailing ones
			// are easy to lose when the file is edited by hand.
			b.WriteString(`\s`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == ';' && listElem:
			b.WriteString(`\;`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitList splits a raw (escaped) list value on unescaped ';' as
// g_key_file_get_string_list does, and also on unescaped spaces and tabs,
// which hand-written origins use; empty elements are dropped.
func splitList(raw string) []string {
	var out []string
	start := 0
	flush := func(end int) {
		if end > start {
			out = append(out, unescape(raw[start:end]))
		}
	}
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++ // the escaped character is part of the element
		case ';', ' ', '\t':
			flush(i)
			start = i + 1
		}
	}
	flush(len(raw))
	return out
}

// joinList renders a list the way g_key_file_set_string_list does: each
// element followed by ';'.
func joinList(vals []string) string {
	var b strings.Builder
	for _, v := range vals {
		if v == "" {
			continue // it would read back as nothing anyway
		}
		b.WriteString(escape(v, true))
		b.WriteByte(';')
	}
	return b.String()
}
