// Package origin owns the deployment origin file
// (/ostree/deploy/<os>/deploy/<checksum>.<serial>.origin): a GLib keyfile
// naming the ref a deployment follows and the package changes layered on it.
//
// A deployment follows either an OSTree refspec ([origin] refspec, or
// baserefspec) or a container image ([origin] container-image-reference, in
// rpm-ostree's and ostree-rs-ext's spelling, e.g.
// "ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable"); the
// setters keep exactly one of the two.
//
// It parses and rewrites that file without losing anything it does not
// understand: other tools (ostree, rpm-ostree) keep their own groups and keys
// there, so unknown groups, keys, comments and order survive a rewrite
// byte for byte. It knows nothing about deployments, repos or packages
// beyond the strings stored here.
package origin

import (
	"errors"
	"fmt"
	"strings"
)

// Groups and keys strata reads and writes. The names are rpm-ostree's, so
// deployments stay readable by either tool.
const (
	groupOrigin    = "origin"
	groupPackages  = "packages"
	groupOverrides = "overrides"
	groupRpmostree = "rpmostree"

	keyRefspec        = "refspec"
	keyBaseRefspec    = "baserefspec"
	keyImageReference = "container-image-reference"
	keyOverrideCommit = "override-commit"
	keyRequested      = "requested"
	keyRequestedLocal = "requested-local"
	keyRemove         = "remove"
	keyReplaceLocal   = "replace-local"
	keyReplace        = "replace"

	keyCustomURL           = "custom-url"
	keyCustomDescription   = "custom-description"
	keyRegenerateInitramfs = "regenerate-initramfs"
	keyInitramfsArgs       = "initramfs-args"
	keyInitramfsEtc        = "initramfs-etc"
)

// Origin is a parsed origin keyfile. The zero value is an empty file; use
// New or Parse.
type Origin struct {
	lines []line
}

// Parse reads an origin file. It fails on keyfile syntax errors (naming the
// line) and when the file names neither an [origin] refspec (or
// baserefspec) nor a container-image-reference.
func Parse(data []byte) (*Origin, error) {
	lines, err := parseLines(data)
	if err != nil {
		return nil, err
	}
	o := &Origin{lines: lines}
	if o.Refspec() == "" && o.ImageReference() == "" {
		return nil, errors.New("origin has no [origin] refspec; add a line \"refspec=REMOTE:REF\" (or \"container-image-reference=IMAGE\") under [origin]")
	}
	return o, nil
}

// NewImage returns an origin that follows the container image ref and
// changes nothing.
func NewImage(ref string) *Origin {
	o := &Origin{}
	o.Set(groupOrigin, keyImageReference, ref)
	return o
}

// New returns an origin that follows refspec and changes nothing.
func New(refspec string) *Origin {
	o := &Origin{}
	o.Set(groupOrigin, keyRefspec, refspec)
	return o
}

// Bytes renders the file: untouched lines exactly as read (with LF line
// ends), changed and added entries in GLib's format.
func (o *Origin) Bytes() []byte {
	var b strings.Builder
	for _, l := range o.lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// Clone returns an independent copy.
func (o *Origin) Clone() *Origin {
	return &Origin{lines: append([]line(nil), o.lines...)}
}

// Refspec is the OSTree ref the deployment follows: [origin] refspec, or
// baserefspec, which rpm-ostree writes instead when packages are layered.
// When both are present refspec wins, as in rpm-ostree. It is "" for an
// origin that follows a container image.
// UnconfiguredState is the [origin] unconfigured-state text: set by a vendor
// on a host that must be registered before it may update, it is the error
// an upgrade or deploy fails with ("" when the host is configured).
func (o *Origin) UnconfiguredState() string {
	v, _ := o.Get(groupOrigin, "unconfigured-state")
	return v
}

func (o *Origin) Refspec() string {
	if o.ImageReference() != "" {
		return ""
	}
	if r, ok := o.Get(groupOrigin, keyRefspec); ok && r != "" {
		return r
	}
	r, _ := o.Get(groupOrigin, keyBaseRefspec)
	return r
}

// ImageReference is the container image the deployment follows
// ([origin] container-image-reference), or "" when it follows an OSTree ref.
func (o *Origin) ImageReference() string {
	r, _ := o.Get(groupOrigin, keyImageReference)
	return r
}

// SetImageReference makes the origin follow the container image ref instead
// of whatever it followed, dropping any refspec and pinned commit.
func (o *Origin) SetImageReference(ref string) {
	o.Set(groupOrigin, keyImageReference, ref)
	o.Delete(groupOrigin, keyRefspec)
	o.Delete(groupOrigin, keyBaseRefspec)
	o.Delete(groupOrigin, keyOverrideCommit)
}

// SetRefspec changes the followed ref, in whichever of refspec/baserefspec
// the file already uses (refspec if neither), and stops following a
// container image.
func (o *Origin) SetRefspec(refspec string) {
	key := keyRefspec
	if _, hasRef := o.Get(groupOrigin, keyRefspec); !hasRef {
		if _, hasBase := o.Get(groupOrigin, keyBaseRefspec); hasBase {
			key = keyBaseRefspec
		}
	}
	// Set before deleting, so that [origin] keeps its place in the file.
	o.Set(groupOrigin, key, refspec)
	o.Delete(groupOrigin, keyImageReference)
}

// OverrideCommit is the commit pinned by "deploy <checksum>", or "".
func (o *Origin) OverrideCommit() string {
	c, _ := o.Get(groupOrigin, keyOverrideCommit)
	return c
}

// SetOverrideCommit pins a commit; "" removes the pin.
func (o *Origin) SetOverrideCommit(checksum string) {
	if checksum == "" {
		o.Delete(groupOrigin, keyOverrideCommit)
		return
	}
	o.Set(groupOrigin, keyOverrideCommit, checksum)
}

// RequestedPackages are the package names/specs layered from repos.
func (o *Origin) RequestedPackages() []string { return o.list(groupPackages, keyRequested) }

// SetRequestedPackages replaces the requested packages; empty removes the key.
func (o *Origin) SetRequestedPackages(pkgs []string) { o.setList(groupPackages, keyRequested, pkgs) }

// RequestedLocalPackages are local RPMs layered, as "<sha256>:<nevra>".
func (o *Origin) RequestedLocalPackages() []string {
	return o.list(groupPackages, keyRequestedLocal)
}

// SetRequestedLocalPackages replaces the local packages; empty removes the key.
func (o *Origin) SetRequestedLocalPackages(pkgs []string) {
	o.setList(groupPackages, keyRequestedLocal, pkgs)
}

// OverrideRemove are base packages removed from the deployment.
func (o *Origin) OverrideRemove() []string { return o.list(groupOverrides, keyRemove) }

// SetOverrideRemove replaces the removed base packages; empty removes the key.
func (o *Origin) SetOverrideRemove(pkgs []string) { o.setList(groupOverrides, keyRemove, pkgs) }

// OverrideReplaceLocal are base packages replaced by local RPMs, as
// "<sha256>:<nevra>".
func (o *Origin) OverrideReplaceLocal() []string { return o.list(groupOverrides, keyReplaceLocal) }

// SetOverrideReplaceLocal replaces the local replacements; empty removes the key.
func (o *Origin) SetOverrideReplaceLocal(pkgs []string) {
	o.setList(groupOverrides, keyReplaceLocal, pkgs)
}

// OverrideReplace are base packages replaced by the versions a repo has, as
// rpm-ostree writes them: one entry per source, "repo=ID,PKG,PKG...".
func (o *Origin) OverrideReplace() []string { return o.list(groupOverrides, keyReplace) }

// SetOverrideReplace replaces the repo replacements; empty removes the key.
func (o *Origin) SetOverrideReplace(entries []string) {
	o.setList(groupOverrides, keyReplace, entries)
}

// CustomOrigin is the URL and description a rebase to a checksum (or an
// image pinned by digest) recorded to say where that commit came from; ""
// when none.
func (o *Origin) CustomOrigin() (url, description string) {
	url, _ = o.Get(groupOrigin, keyCustomURL)
	description, _ = o.Get(groupOrigin, keyCustomDescription)
	return url, description
}

// SetCustomOrigin records a custom origin; an empty url removes it.
func (o *Origin) SetCustomOrigin(url, description string) {
	if url == "" {
		o.Delete(groupOrigin, keyCustomURL)
		o.Delete(groupOrigin, keyCustomDescription)
		return
	}
	o.Set(groupOrigin, keyCustomURL, url)
	o.Set(groupOrigin, keyCustomDescription, description)
}

// RegenerateInitramfs says whether deployments rebuild their initramfs
// with the tree's own dracut ([rpmostree] regenerate-initramfs).
func (o *Origin) RegenerateInitramfs() bool {
	v, _ := o.Get(groupRpmostree, keyRegenerateInitramfs)
	return v == "true"
}

// InitramfsArgs are the extra dracut arguments of a regeneration.
func (o *Origin) InitramfsArgs() []string { return o.list(groupRpmostree, keyInitramfsArgs) }

// SetInitramfs turns regeneration on with args, or off (which also drops
// the arguments, as rpm-ostree does).
func (o *Origin) SetInitramfs(regenerate bool, args []string) {
	if !regenerate {
		o.Delete(groupRpmostree, keyRegenerateInitramfs)
		o.Delete(groupRpmostree, keyInitramfsArgs)
		return
	}
	o.Set(groupRpmostree, keyRegenerateInitramfs, "true")
	o.setList(groupRpmostree, keyInitramfsArgs, args)
}

// InitramfsEtc are the /etc files copied into an overlay initramfs.
func (o *Origin) InitramfsEtc() []string { return o.list(groupRpmostree, keyInitramfsEtc) }

// SetInitramfsEtc replaces the tracked /etc files; empty removes the key.
func (o *Origin) SetInitramfsEtc(paths []string) { o.setList(groupRpmostree, keyInitramfsEtc, paths) }

// SplitRefspec splits "remote:ref" into its parts; a refspec without a
// remote ("ref") gives remote "". Refs cannot contain ':', so the first one
// separates.
func SplitRefspec(refspec string) (remote, ref string) {
	if remote, ref, ok := strings.Cut(refspec, ":"); ok {
		return remote, ref
	}
	return "", refspec
}

func (o *Origin) list(group, key string) []string {
	i := o.find(group, key)
	if i < 0 {
		return nil
	}
	return splitList(o.lines[i].value)
}

func (o *Origin) setList(group, key string, vals []string) {
	raw := joinList(vals)
	if raw == "" {
		o.Delete(group, key)
		return
	}
	o.setRaw(group, key, raw)
}

// Get returns the unescaped value of key in group. When a key appears more
// than once, the last one counts, as in GLib.
func (o *Origin) Get(group, key string) (string, bool) {
	i := o.find(group, key)
	if i < 0 {
		return "", false
	}
	return unescape(o.lines[i].value), true
}

// Set stores value (escaped as GLib does) under group and key, replacing an
// existing entry in place or adding one at the end of the group (adding the
// group at the end of the file if needed). Values must be UTF-8 without NUL;
// other bytes become U+FFFD. group and key must be valid keyfile names:
// strata only passes constants, so anything else is a programming error and
// panics rather than writing a file that cannot be read back.
func (o *Origin) Set(group, key, value string) {
	o.setRaw(group, key, escape(value, false))
}

// Delete removes every entry for key in group, and the group's header too if
// nothing but blank lines remains under it.
func (o *Origin) Delete(group, key string) {
	kept := o.lines[:0]
	cur := ""
	for _, l := range o.lines {
		if l.kind == lineGroup {
			cur = l.group
		}
		if l.kind == lineEntry && cur == group && l.key == key {
			continue
		}
		kept = append(kept, l)
	}
	o.lines = kept
	o.dropEmptyGroups(group)
}

// find returns the index of the last entry for key in group, or -1.
func (o *Origin) find(group, key string) int {
	found := -1
	cur := ""
	for i, l := range o.lines {
		switch l.kind {
		case lineGroup:
			cur = l.group
		case lineEntry:
			if cur == group && l.key == key {
				found = i
			}
		}
	}
	return found
}

func (o *Origin) setRaw(group, key, raw string) {
	if !validGroupName(group) {
		panic(fmt.Sprintf("origin: invalid keyfile group name %q", group))
	}
	if !validKeyName(key) {
		panic(fmt.Sprintf("origin: invalid keyfile key name %q", key))
	}
	entry := line{kind: lineEntry, text: key + "=" + raw, key: key, value: raw}
	if i := o.find(group, key); i >= 0 {
		o.lines[i] = entry
		// Earlier duplicates would be shadowed anyway; drop them so the file
		// says one thing.
		o.dropDuplicatesBefore(i, group, key)
		return
	}
	if at := o.groupEnd(group); at >= 0 {
		o.lines = append(o.lines[:at], append([]line{entry}, o.lines[at:]...)...)
		return
	}
	if n := len(o.lines); n > 0 && strings.TrimSpace(o.lines[n-1].text) != "" {
		o.lines = append(o.lines, line{kind: lineOther, text: ""})
	}
	o.lines = append(o.lines,
		line{kind: lineGroup, text: "[" + group + "]", group: group},
		entry)
}

// groupEnd returns where a new entry for group goes: after the last entry
// of the last section named group, or right after its header if it has no
// entries; -1 if there is no such group. Comments and blank lines that
// follow the last entry stay after it, since a comment usually introduces
// what comes next.
func (o *Origin) groupEnd(group string) int {
	at := -1
	cur := ""
	for i, l := range o.lines {
		switch l.kind {
		case lineGroup:
			cur = l.group
			if cur == group {
				at = i + 1
			}
		case lineEntry:
			if cur == group {
				at = i + 1
			}
		}
	}
	return at
}

func (o *Origin) dropDuplicatesBefore(last int, group, key string) {
	kept := o.lines[:0]
	cur := ""
	for i, l := range o.lines {
		if l.kind == lineGroup {
			cur = l.group
		}
		if i < last && l.kind == lineEntry && cur == group && l.key == key {
			continue
		}
		kept = append(kept, l)
	}
	o.lines = kept
}

// dropEmptyGroups removes sections named group that hold only blank lines,
// with the blank lines before them when they were the end of the file.
func (o *Origin) dropEmptyGroups(group string) {
	for {
		start := -1
		for i, l := range o.lines {
			if l.kind == lineGroup && l.group == group && o.sectionIsBlank(i) {
				start = i
				break
			}
		}
		if start < 0 {
			return
		}
		end := start + 1
		for end < len(o.lines) && o.lines[end].kind != lineGroup {
			end++
		}
		if end == len(o.lines) {
			for start > 0 && o.lines[start-1].kind == lineOther && strings.TrimSpace(o.lines[start-1].text) == "" {
				start--
			}
		}
		o.lines = append(o.lines[:start], o.lines[end:]...)
	}
}

// sectionIsBlank reports whether the section whose header is at index h has
// nothing but blank lines.
func (o *Origin) sectionIsBlank(h int) bool {
	for _, l := range o.lines[h+1:] {
		if l.kind == lineGroup {
			return true
		}
		if l.kind == lineEntry || strings.TrimSpace(l.text) != "" {
			return false
		}
	}
	return true
}
