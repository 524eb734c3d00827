package main

import (
	"fmt"
	"strings"
)

// option describes one command-line option, GLib style: a long name, an
// optional one-letter short name, and a metavar when it takes a value.
type option struct {
	long   string
	short  byte   // 0 when none
	arg    string // metavar; "" for a flag
	help   string
	hidden bool // accepted but not shown in --help
}

// parsedArgs is the result of parsing: flags that were given, option values
// (the last one wins, as in GLib), every value of repeatable options (GLib's
// string arrays, e.g. --install A --install B), and positionals in order.
type parsedArgs struct {
	flags  map[string]bool
	values map[string]string
	lists  map[string][]string
	args   []string
}

func (p *parsedArgs) flag(name string) bool { return p.flags[name] }

func (p *parsedArgs) value(name string) (string, bool) {
	v, ok := p.values[name]
	return v, ok
}

// all returns every value given for a repeatable option, in order.
func (p *parsedArgs) all(name string) []string { return p.lists[name] }

func (p *parsedArgs) set(name, val string) {
	p.values[name] = val
	p.lists[name] = append(p.lists[name], val)
}

// usageError is a command-line mistake; it is printed after the command's
// help, as rpm-ostree does.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// parseOptions parses argv the way GLib's GOptionContext does: "--flag",
// "--opt=value", "--opt value", "-x", grouped short flags "-rb", a short
// option's value attached ("-Jexpr") or separate, options anywhere among
// positionals, and "--" ending option parsing.
func parseOptions(opts []option, argv []string) (*parsedArgs, error) {
	p := &parsedArgs{flags: map[string]bool{}, values: map[string]string{}, lists: map[string][]string{}}
	byLong := map[string]*option{}
	byShort := map[byte]*option{}
	for i := range opts {
		byLong[opts[i].long] = &opts[i]
		if opts[i].short != 0 {
			byShort[opts[i].short] = &opts[i]
		}
	}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--":
			p.args = append(p.args, argv[i+1:]...)
			return p, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o := byLong[name]
			if o == nil {
				return nil, &usageError{fmt.Sprintf("Unknown option %s", "--"+name)}
			}
			if o.arg == "" {
				if hasVal {
					return nil, &usageError{fmt.Sprintf("Unexpected argument for --%s", name)}
				}
				p.flags[o.long] = true
				continue
			}
			if !hasVal {
				if i+1 >= len(argv) {
					return nil, &usageError{fmt.Sprintf("Missing argument for --%s", name)}
				}
				i++
				val = argv[i]
			}
			p.set(o.long, val)
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				o := byShort[a[j]]
				if o == nil {
					return nil, &usageError{fmt.Sprintf("Unknown option -%c", a[j])}
				}
				if o.arg == "" {
					p.flags[o.long] = true
					continue
				}
				if j+1 < len(a) {
					p.set(o.long, a[j+1:])
				} else if i+1 < len(argv) {
					i++
					p.set(o.long, argv[i])
				} else {
					return nil, &usageError{fmt.Sprintf("Missing argument for -%c", a[j])}
				}
				break
			}
		default:
			p.args = append(p.args, a)
		}
	}
	return p, nil
}

// splitCommand finds the command name: the first argument that is not an
// option (before "--"). The other arguments keep their order, so global
// options may come before the command ("strata -q upgrade").
func splitCommand(argv []string) (string, []string) {
	rest := make([]string, 0, len(argv))
	name := ""
	for i, a := range argv {
		if a == "--" {
			rest = append(rest, argv[i:]...)
			break
		}
		if name == "" && !strings.HasPrefix(a, "-") {
			name = a
			continue
		}
		rest = append(rest, a)
	}
	return name, rest
}
