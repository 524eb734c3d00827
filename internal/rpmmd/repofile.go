package rpmmd

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultMetadataExpire is dnf's default metadata_expire: 48 hours.
const DefaultMetadataExpire = 48 * time.Hour

// Default values dnf gives a repository that does not set them.
const (
	DefaultPriority = 99
	DefaultCost     = 1000
)

// Repo is one [section] of a .repo file, with variables substituted.
type Repo struct {
	ID       string
	Name     string // the id when the file names none
	BaseURLs []string
	Enabled  bool // default true
	GPGCheck bool // default false, as in dnf's built-in configuration
	GPGKeys  []string
	// Metalink and Mirrorlist are recorded but not fetched: a repo with only
	// these fails to load with an error saying so.
	Metalink, Mirrorlist string
	Priority, Cost       int
	SkipIfUnavailable    bool
	// MetadataExpire is how long fetched metadata stays fresh; 0 means it is
	// always stale and a negative value means it never expires.
	MetadataExpire time.Duration
	// File is the .repo file the repo was read from.
	File string
}

// ParseRepoFile reads the repositories in one .repo file. name is used in
// error messages and recorded in Repo.File. vars supplies $basearch,
// $releasever and friends; references to unknown variables stay as written,
// as dnf leaves them.
func ParseRepoFile(name string, data []byte, vars map[string]string) ([]Repo, error) {
	sections, err := parseINI(name, data)
	if err != nil {
		return nil, err
	}
	var repos []Repo
	seen := map[string]int{}
	for _, s := range sections {
		r, err := s.repo(name, vars)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[r.ID]; dup {
			return nil, fmt.Errorf("%s:%d: repo %q is already defined on line %d", name, s.line, r.ID, first)
		}
		seen[r.ID] = s.line
		repos = append(repos, r)
	}
	return repos, nil
}

// LoadRepoDir reads every *.repo file in dir, in name order. A repo id
// defined in two files is an error, since dnf would silently use one of them.
// A missing dir yields no repos.
func LoadRepoDir(dir string, vars map[string]string) ([]Repo, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.repo"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	sort.Strings(paths)
	var all []Repo
	where := map[string]string{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading repo file: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading repo file: %w", err)
		}
		repos, err := ParseRepoFile(p, data, vars)
		if err != nil {
			return nil, err
		}
		for _, r := range repos {
			if other, dup := where[r.ID]; dup {
				return nil, fmt.Errorf("repo %q is defined in both %s and %s; remove one", r.ID, other, p)
			}
			where[r.ID] = p
		}
		all = append(all, repos...)
	}
	return all, nil
}

// HostVars returns the dnf variables of a host: arch, basearch and, when
// os-release can be read and has VERSION_ID, releasever (plus
// releasever_major and releasever_minor). arch is an RPM architecture such as
// x86_64; empty means the architecture this program runs on.
func HostVars(osReleasePath string, arch string) map[string]string {
	if arch == "" {
		arch = goArchToRPM(runtime.GOARCH)
	}
	vars := map[string]string{"arch": arch, "basearch": BaseArch(arch)}
	if data, err := os.ReadFile(osReleasePath); err == nil {
		if v := osReleaseValue(data, "VERSION_ID"); v != "" {
			vars["releasever"] = v
			major, minor, _ := strings.Cut(v, ".")
			vars["releasever_major"] = major
			vars["releasever_minor"] = minor
		}
	}
	return vars
}

// ReadVarsDir adds the variables defined in dir (one file per variable, as
// in /etc/dnf/vars: the file name is the variable, its first line the value)
// to vars. A missing dir adds nothing.
func ReadVarsDir(dir string, vars map[string]string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading dnf variables: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isVarName(e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("reading dnf variable: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		vars[e.Name()] = strings.TrimSpace(line)
	}
	return nil
}

// BaseArch maps an RPM architecture to the base architecture dnf uses for
// $basearch (i686 -> i386, armv7hl -> armhfp, ...). Unknown ones map to
// themselves.
func BaseArch(arch string) string {
	switch arch {
	case "i386", "i486", "i586", "i686", "athlon", "geode", "pentium3", "pentium4":
		return "i386"
	case "x86_64", "amd64", "ia32e", "x86_64_v2", "x86_64_v3", "x86_64_v4":
		return "x86_64"
	case "aarch64", "arm64":
		return "aarch64"
	case "armv7hl", "armv7hnl", "armv8hl", "armv8hnl", "armv8hcnl", "armv6hl":
		return "armhfp"
	case "armv5tel", "armv5tejl", "armv6l", "armv7l", "armv8l", "armv4l", "armv4tl":
		return "arm"
	case "ppc64", "ppc64p7", "ppc64pseries", "ppc64iseries":
		return "ppc64"
	case "ppc", "ppciseries", "ppcpseries":
		return "ppc"
	case "s390", "s390x", "ppc64le", "riscv64", "loongarch64", "noarch":
		return arch
	}
	return arch
}

func goArchToRPM(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	case "arm":
		return "armv7hl"
	case "loong64":
		return "loongarch64"
	}
	return goarch // ppc64le, ppc64, s390x, riscv64 are spelled alike
}

// osReleaseValue returns key's value from os-release data, unquoted.
func osReleaseValue(data []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || k != key {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		return strings.ReplaceAll(v, `\`, "")
	}
	return ""
}

// section is one [id] of an ini file before interpretation.
type section struct {
	name string
	line int
	keys map[string]value
}

type value struct {
	text string
	line int
}

// parseINI splits data into sections the way dnf's ini parser does: # and ;
// start comment lines, a line starting with whitespace continues the previous
// value, keys are case-insensitive and the last assignment of a key wins.
func parseINI(name string, data []byte) ([]*section, error) {
	var (
		sections []*section
		cur      *section
		lastKey  string
	)
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i, raw := range lines {
		n := i + 1
		trimmed := strings.TrimSpace(raw)
		switch {
		case trimmed == "":
			lastKey = ""
			continue
		case trimmed[0] == '#' || trimmed[0] == ';':
			continue
		case raw[0] == ' ' || raw[0] == '\t':
			if cur == nil || lastKey == "" {
				return nil, fmt.Errorf("%s:%d: indented line continues no option", name, n)
			}
			v := cur.keys[lastKey]
			v.text += "\n" + trimmed
			cur.keys[lastKey] = v
			continue
		case trimmed[0] == '[':
			if !strings.HasSuffix(trimmed, "]") {
				return nil, fmt.Errorf("%s:%d: section header %q lacks its closing ']'", name, n, trimmed)
			}
			id := strings.TrimSpace(trimmed[1 : len(trimmed)-1])
			if id == "" {
				return nil, fmt.Errorf("%s:%d: empty section name", name, n)
			}
			for _, s := range sections {
				if s.name == id {
					return nil, fmt.Errorf("%s:%d: section [%s] is already defined on line %d", name, n, id, s.line)
				}
			}
			cur = &section{name: id, line: n, keys: map[string]value{}}
			sections = append(sections, cur)
			lastKey = ""
			continue
		}
		k, v, ok := strings.Cut(trimmed, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected \"key = value\", got %q", name, n, trimmed)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "" {
			return nil, fmt.Errorf("%s:%d: option without a name", name, n)
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: option %q outside of any [repo] section", name, n, k)
		}
		cur.keys[k] = value{text: strings.TrimSpace(v), line: n}
		lastKey = k
	}
	return sections, nil
}

// repo interprets a section as a repository definition.
func (s *section) repo(file string, vars map[string]string) (Repo, error) {
	r := Repo{
		ID:             substitute(s.name, vars),
		Enabled:        true,
		Priority:       DefaultPriority,
		Cost:           DefaultCost,
		MetadataExpire: DefaultMetadataExpire,
		File:           file,
	}
	if err := CheckRepoID(r.ID); err != nil {
		return Repo{}, fmt.Errorf("%s:%d: %w", file, s.line, err)
	}
	// Walk keys in line order so the first bad one is the one reported.
	keys := make([]string, 0, len(s.keys))
	for k := range s.keys {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return s.keys[keys[i]].line < s.keys[keys[j]].line })
	for _, k := range keys {
		v := s.keys[k]
		text := substitute(v.text, vars)
		var err error
		switch k {
		case "name":
			r.Name = strings.Join(strings.Fields(text), " ")
		case "baseurl":
			r.BaseURLs = splitList(text)
		case "gpgkey":
			r.GPGKeys = splitList(text)
		case "metalink":
			r.Metalink = strings.TrimSpace(text)
		case "mirrorlist":
			r.Mirrorlist = strings.TrimSpace(text)
		case "enabled":
			r.Enabled, err = parseBool(text)
		case "gpgcheck":
			r.GPGCheck, err = parseBool(text)
		case "skip_if_unavailable":
			r.SkipIfUnavailable, err = parseBool(text)
		case "priority":
			r.Priority, err = parseInt(text)
		case "cost":
			r.Cost, err = parseInt(text)
		case "metadata_expire":
			r.MetadataExpire, err = ParseExpire(text)
		}
		if err != nil {
			return Repo{}, fmt.Errorf("%s:%d: repo %s: %s: %w", file, v.line, r.ID, k, err)
		}
	}
	if r.Name == "" {
		r.Name = r.ID
	}
	return r, nil
}

// CheckRepoID rejects ids dnf would reject; ids also name cache directories,
// so nothing that could climb out of one gets through.
func CheckRepoID(id string) error {
	if id == "" {
		return fmt.Errorf("empty repo id")
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)
		if !ok {
			return fmt.Errorf("repo id %q has the character %q; use letters, digits and -_.:", id, c)
		}
	}
	if id == "." || id == ".." {
		return fmt.Errorf("repo id %q is not allowed", id)
	}
	return nil
}

// splitList splits a multi-valued option (baseurl, gpgkey) on whitespace and
// commas, as dnf does.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n'
	})
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use 1 or 0)", s)
}

func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return n, nil
}

// ParseExpire reads a metadata_expire value in dnf's syntax: a number of
// seconds, optionally with an s, m, h or d suffix (fractions allowed), or
// "never" / -1 for metadata that never expires (returned as -1).
func ParseExpire(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "never" || s == "-1" {
		return -1, nil
	}
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	unit := time.Second
	switch s[len(s)-1] {
	case 's':
		s = s[:len(s)-1]
	case 'm':
		unit, s = time.Minute, s[:len(s)-1]
	case 'h':
		unit, s = time.Hour, s[:len(s)-1]
	case 'd':
		unit, s = 24*time.Hour, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	// ParseFloat accepts "inf", "nan" and hex floats; dnf does not.
	if err != nil || strings.ContainsAny(s, "xXpPiInN_") {
		return 0, fmt.Errorf("%q is not a duration (seconds, or a number with s/m/h/d, or never)", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("duration %q is negative (use -1 or never for no expiry)", s)
	}
	// Beyond ~290 years a Duration overflows; that is "never" in practice.
	if f*float64(unit) >= float64(1<<62) {
		return -1, nil
	}
	return time.Duration(f * float64(unit)), nil
}

// substitute expands $name and ${name} from vars, plus the ${name:-word} and
// ${name:+word} forms dnf understands. Unknown variables are left as written.
func substitute(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end >= 0 {
				expr := s[i+2 : i+2+end]
				if out, ok := expandBraced(expr, vars); ok {
					b.WriteString(out)
					i += end + 3
					continue
				}
			}
			b.WriteByte('$')
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isVarByte(s[j]) {
			j++
		}
		if v, ok := vars[s[i+1:j]]; ok && j > i+1 {
			b.WriteString(v)
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

func expandBraced(expr string, vars map[string]string) (string, bool) {
	name, rest := expr, ""
	if k := strings.IndexByte(expr, ':'); k >= 0 {
		name, rest = expr[:k], expr[k:]
	}
	if !isVarName(name) {
		return "", false
	}
	v, set := vars[name]
	switch {
	case rest == "":
		return v, set
	case strings.HasPrefix(rest, ":-"):
		if set && v != "" {
			return v, true
		}
		return rest[2:], true
	case strings.HasPrefix(rest, ":+"):
		if set && v != "" {
			return rest[2:], true
		}
		return "", true
	}
	return "", false
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isVarByte(s[i]) {
			return false
		}
	}
	return true
}

func isVarByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
