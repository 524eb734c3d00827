package rpmmd

import (
	"fmt"
	"strings"
)

// SetRepoOption returns the .repo file data with key set to value in the
// section of repo id, changing nothing else: an existing assignment (the
// last one, which is the one dnf reads) is rewritten in place, a new one
// goes after the section's last option. name is used in error messages.
func SetRepoOption(name string, data []byte, id, key, value string) ([]byte, error) {
	sections, err := parseINI(name, data)
	if err != nil {
		return nil, err
	}
	var sec *section
	for _, s := range sections {
		if s.name == id {
			sec = s
		}
	}
	if sec == nil {
		return nil, fmt.Errorf("%s: no [%s] section", name, id)
	}
	crlf := strings.Contains(string(data), "\r\n")
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	entry := key + "=" + value
	key = strings.ToLower(key)
	if v, ok := sec.keys[key]; ok {
		// Continuation lines belong to the old value.
		end := v.line
		for end < len(lines) && lines[end] != "" && (lines[end][0] == ' ' || lines[end][0] == '\t') {
			end++
		}
		lines = append(lines[:v.line-1], append([]string{entry}, lines[end:]...)...)
	} else {
		at := sec.line // 1-based line of the header: insert after it
		for _, v := range sec.keys {
			if v.line > at {
				at = v.line
			}
		}
		for at < len(lines) && lines[at] != "" && (lines[at][0] == ' ' || lines[at][0] == '\t') {
			at++
		}
		lines = append(lines[:at], append([]string{entry}, lines[at:]...)...)
	}
	out := strings.Join(lines, "\n")
	if crlf {
		out = strings.ReplaceAll(out, "\n", "\r\n")
	}
	return []byte(out), nil
}
