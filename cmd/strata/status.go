package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/client"
)

// keyWidth is the width labels are right-aligned to in deployment blocks:
// the longest label rpm-ostree prints there ("InactiveRemoteOverrides"), so
// columns line up with its output.
const keyWidth = 23

// updateKeyWidth is the label width of the AvailableUpdate block
// ("SecAdvisories").
const updateKeyWidth = 13

// statusView is everything status prints, gathered from the daemon first so
// that formatting is a pure function.
type statusView struct {
	busy         bool
	txnTitle     string
	txnInitiator string
	policy       string
	timer        timerView
	deployments  []client.Deployment
	cachedUpdate client.Dict
	txn          *client.TransactionInfo
	// pendingDiff is the package diff from the booted deployment to the
	// pending one (index 0, not booted), which rpm-ostree shows in the
	// pending deployment's block; nil when there is none.
	pendingDiff []client.PkgChange
}

type statusOpts struct {
	now        time.Time // what "last run 3min ago" is relative to
	verbose    bool
	onlyBooted bool
	tty        bool
	columns    int
	// pendingDiff is set for the pending deployment's block only.
	pendingDiff []client.PkgChange
}

func runStatus(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	jsonPath, hasPath := p.value("jsonpath")
	if p.flag("json") && hasPath {
		return 0, fmt.Errorf("Cannot specify both --json and --jsonpath")
	}
	c, err := a.reader(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// The Sysroot's properties and the OS's cached update are independent
	// reads: both are in flight at once, so the command waits for the
	// daemon twice (GetAll, then GetOS and its property) instead of four
	// times in a row.
	type update struct {
		cu  map[string]dbus.Variant
		err error
	}
	updated := make(chan update, 1)
	go func() {
		o, err := c.OS(ctx, "")
		if err != nil {
			updated <- update{err: err}
			return
		}
		cu, err := o.CachedUpdate(ctx)
		updated <- update{cu, err}
	}()
	st, err := c.Status(ctx)
	u := <-updated
	if err != nil {
		return 0, err
	}
	if u.err != nil {
		return 0, u.err
	}
	cu := u.cu
	v := statusView{
		busy:         st.Busy(),
		policy:       st.AutomaticUpdatePolicy,
		deployments:  st.Deployments,
		cachedUpdate: cu,
		txn:          st.ActiveTransaction,
	}
	if v.policy != "" && v.policy != "none" || st.LastAutomaticUpdate != nil {
		v.timer = readTimer(ctx, c, st.LastAutomaticUpdate)
	}
	opts := statusOpts{now: time.Now(), verbose: p.flag("verbose"), onlyBooted: p.flag("booted"), tty: a.tty, columns: a.columns}

	switch {
	case p.flag("json"):
		if err := writeStatusJSON(a.stdout, v, opts.onlyBooted); err != nil {
			return 0, err
		}
	case hasPath:
		if err := writeStatusJSONPath(a.stdout, v, opts.onlyBooted, jsonPath); err != nil {
			return 0, err
		}
	default:
		if v.busy && st.ActiveTransactionPath != "" {
			// Best effort: the socket may be refused to us (it accepts
			// only root and the transaction's owner).
			t := client.NewTransaction(st.ActiveTransactionPath)
			v.txnTitle, _ = t.Title(ctx)
			v.txnInitiator, _ = t.InitiatingClientDescription(ctx)
		}
		if v.txnTitle == "" && v.txn != nil {
			v.txnTitle = v.txn.Method
		}
		v.pendingDiff = pendingDiff(ctx, c, st.Deployments)
		writeStatus(a.stdout, v, opts)
	}
	if p.flag("pending-exit-77") && len(st.Deployments) > 1 {
		if d := st.Deployments[0]; !d.Booted {
			return exitUnchanged, nil
		}
	}
	return exitOK, nil
}

// pendingDiff asks the daemon for the package changes from the booted
// deployment to the pending one of the same stateroot, as rpm-ostree's
// status shows them. Best effort: status still prints without it.
func pendingDiff(ctx context.Context, c *client.Client, deps []client.Deployment) []client.PkgChange {
	if len(deps) < 2 || deps[0].Booted {
		return nil
	}
	for _, b := range deps[1:] {
		if !b.Booted || b.OSName != deps[0].OSName {
			continue
		}
		o, err := c.OS(ctx, deps[0].OSName)
		if err != nil {
			return nil
		}
		diff, err := o.GetDeploymentsRpmDiff(ctx, b.ID, deps[0].ID)
		if err != nil {
			return nil
		}
		return diff
	}
	return nil
}

// writeDiffSummary is the one-line "Diff:" of a pending deployment: how many
// packages each kind of change touches, in rpm-ostree's order and words.
func writeDiffSummary(w io.Writer, diff []client.PkgChange, width int) {
	g := groupDiff(diff)
	var parts []string
	for _, s := range []struct {
		word string
		n    int
	}{{"upgraded", len(g.upgraded)}, {"downgraded", len(g.downgraded)}, {"removed", len(g.removed)}, {"added", len(g.added)}} {
		if s.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", s.n, s.word))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "  %*s: %s\n", width, "Diff", strings.Join(parts, ", "))
	}
}

// writeStatus prints the human status, laid out as rpm-ostree's.
func writeStatus(w io.Writer, v statusView, o statusOpts) {
	state := "idle"
	if v.busy {
		state = "busy"
	}
	fmt.Fprintf(w, "State: %s\n", state)
	switch v.policy {
	case "", "none":
		if o.verbose {
			fmt.Fprintln(w, "AutomaticUpdates: disabled")
		}
	default:
		fmt.Fprintf(w, "AutomaticUpdates: %s; %s\n", v.policy, automaticSummary(v.timer, o.now))
		if o.verbose {
			if d := automaticDetail(v.timer.record, o.now); d != "" {
				fmt.Fprintln(w, d)
			}
		}
	}
	if v.busy {
		fmt.Fprintf(w, "Transaction: %s\n", v.txnTitle)
		if v.txnInitiator != "" {
			fmt.Fprintf(w, "  Initiator: %s\n", v.txnInitiator)
		}
	}
	if o.onlyBooted {
		fmt.Fprintln(w, "BootedDeployment:")
	} else {
		fmt.Fprintln(w, "Deployments:")
	}
	multipleRoots := false
	for _, d := range v.deployments {
		if d.OSName != v.deployments[0].OSName {
			multipleRoots = true
		}
	}
	for i, d := range v.deployments {
		if o.onlyBooted && !d.Booted {
			continue
		}
		if i > 0 && !o.onlyBooted {
			fmt.Fprintln(w)
		}
		po := o
		if i == 0 && !d.Booted {
			po.pendingDiff = v.pendingDiff
		}
		writeDeployment(w, d, i, multipleRoots, po)
	}
	if len(v.cachedUpdate) > 0 && v.policy != "" && v.policy != "none" {
		fmt.Fprintln(w)
		writeCachedUpdate(w, v.cachedUpdate, o.verbose, o.tty)
	}
}

type refspecKind int

const (
	refOstree refspecKind = iota
	refChecksum
	refContainer
)

func classifyRefspec(r string) refspecKind {
	if client.IsChecksum(r) {
		return refChecksum
	}
	for _, prefix := range []string{"ostree-unverified-image:", "ostree-unverified-registry:",
		"ostree-remote-image:", "ostree-remote-registry:", "ostree-image-signed:"} {
		if strings.HasPrefix(r, prefix) {
			return refContainer
		}
	}
	return refOstree
}

func writeDeployment(w io.Writer, d client.Deployment, index int, multipleRoots bool, o statusOpts) {
	kv := func(k, v string) { fmt.Fprintf(w, "  %*s: %s\n", keyWidth, k, v) }

	glyph := " "
	if d.Booted {
		glyph = "●"
	}
	head := d.Origin
	if d.ContainerImageReference != "" {
		head = d.ContainerImageReference
	}
	if head == "" {
		head = d.Checksum
	}
	// As rpm-ostree: a commit deployed by checksum, or an image pinned by
	// digest, is shown by the custom origin URL it was deployed with.
	if d.CustomOriginURL != "" && (classifyRefspec(head) == refChecksum ||
		(classifyRefspec(head) == refContainer && strings.Contains(head, "@sha256:"))) {
		head = d.CustomOriginURL
	}
	if o.verbose {
		head += fmt.Sprintf(" (index: %d)", index)
	}
	fmt.Fprintf(w, "%s %s\n", glyph, head)
	if d.ContainerImageReferenceDigest != "" {
		kv("Digest", d.ContainerImageReferenceDigest)
	} else if d.CustomOriginDescription != "" {
		kv("CustomOrigin", d.CustomOriginDescription)
	}
	if d.RemoteError != "" {
		kv("OstreeRemoteStatus", d.RemoteError)
	}

	layered := d.BaseChecksum != ""
	ts := d.Timestamp
	if layered && d.BaseTimestamp != 0 {
		ts = d.BaseTimestamp
	}
	if d.Version != "" {
		kv("Version", fmt.Sprintf("%s (%s)", bold(d.Version, o.tty), formatTimestamp(ts)))
	} else {
		kv("Timestamp", formatTimestamp(ts))
	}

	live := d.LiveInProgress != "" || d.LiveReplaced != ""
	showCommit := o.verbose || (d.Origin != "" && classifyRefspec(d.Origin) == refOstree) || (d.Origin == "" && d.ContainerImageReference == "")
	switch {
	case layered && showCommit:
		key := "BaseCommit"
		if live {
			key = "BootedBaseCommit"
		}
		kv(key, d.BaseChecksum)
		if o.verbose || live {
			kv("Commit", d.Checksum)
		}
	case showCommit && (d.Origin != "" || d.ContainerImageReference != ""):
		key := "Commit"
		if live {
			key = "BootedCommit"
		}
		kv(key, d.Checksum)
	}
	if d.LiveInProgress != "" {
		kv("InterruptedLiveCommit", d.LiveInProgress)
	}
	if d.LiveReplaced != "" {
		kv("LiveCommit", d.LiveReplaced)
	}
	if o.verbose && (d.Staged || index == 0) {
		kv("Staged", yesNo(d.Staged))
	}
	if o.verbose || multipleRoots {
		kv("StateRoot", d.OSName)
	}
	writeGPGSignature(w, keyWidth, d)
	if o.verbose {
		writeEd25519Signature(w, keyWidth, d)
	}
	if o.verbose {
		writeDiffAligned(w, o.pendingDiff, keyWidth)
	} else {
		writeDiffSummary(w, o.pendingDiff, keyWidth)
	}

	// Base removals, grouped by EVR: "foo bar 1.0-1".
	var removedNames []string
	if len(d.BaseRemovals) > 0 {
		groups := map[string][]string{}
		for _, n := range d.BaseRemovals {
			groups[n.EVR()] = append(groups[n.EVR()], n.Name)
			removedNames = append(removedNames, n.Name)
		}
		var lines []string
		for evr, names := range groups {
			lines = append(lines, strings.Join(names, " ")+" "+evr)
		}
		writeValues(w, "RemovedBasePackages", lines, nil, false, o.columns)
	}
	if o.verbose {
		writeValues(w, "InactiveBaseRemovals", d.RequestedBaseRemovals, removedNames, true, o.columns)
	}
	if len(d.BaseLocalReplacements) > 0 {
		groups := map[string][]string{}
		for _, r := range d.BaseLocalReplacements {
			k := r.Old.EVR() + " -> " + r.New.EVR()
			groups[k] = append(groups[k], r.New.Name)
		}
		var lines []string
		for diff, names := range groups {
			lines = append(lines, strings.Join(names, " ")+" "+diff)
		}
		writeValues(w, "LocalOverrides", lines, nil, false, o.columns)
	}
	// Repo replacements, one block per source, one line per package, as
	// rpm-ostree prints them under the source.
	sources := make([]string, 0, len(d.BaseRemoteReplacements))
	for source := range d.BaseRemoteReplacements {
		sources = append(sources, source)
	}
	sort.Strings(sources)
	for _, source := range sources {
		var lines []string
		for _, r := range d.BaseRemoteReplacements[source] {
			lines = append(lines, r.New.Name+" "+r.Old.EVR()+" -> "+r.New.EVR())
		}
		sort.Strings(lines)
		kv("RemoteOverrides", source)
		for i, l := range lines {
			glyph := "├─"
			if i == len(lines)-1 {
				glyph = "└─"
			}
			fmt.Fprintf(w, "  %*s  %s %s\n", keyWidth, "", glyph, l)
		}
	}
	if o.verbose {
		// Requested but not layered: dormant requests (e.g. the package
		// is already in the base).
		writeValues(w, "InactiveRequests", d.RequestedPackages, d.Packages, true, o.columns)
	}
	writeValues(w, "LayeredPackages", d.Packages, nil, true, o.columns)
	writeValues(w, "LocalPackages", d.RequestedLocalPackages, nil, true, o.columns)
	if d.RegenerateInitramfs {
		args := make([]string, 0, len(d.InitramfsArgs))
		for _, a := range d.InitramfsArgs {
			args = append(args, shellQuote(a))
		}
		s := strings.Join(args, " ")
		if s == "" {
			s = "regenerate"
		}
		kv("Initramfs", s)
	}
	writeValues(w, "InitramfsEtc", d.InitramfsEtc, nil, true, o.columns)
	if d.Pinned {
		kv("Pinned", "yes")
	}
	if d.Unlocked != "" && d.Unlocked != "none" {
		kv("Unlocked", d.Unlocked)
	}
	if d.EndOfLife != "" {
		kv("EndOfLife", d.EndOfLife)
	}
}

// writeValues prints a labelled list: sorted case-insensitively, omitting
// omit, shell-quoted when quote is set, wrapped to the terminal width with
// continuation lines aligned under the first value.
func writeValues(w io.Writer, key string, values, omit []string, quote bool, columns int) {
	var vals []string
	for _, v := range values {
		if contains(omit, v) {
			continue
		}
		if quote {
			v = shellQuote(v)
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return
	}
	sort.SliceStable(vals, func(i, j int) bool { return strings.ToLower(vals[i]) < strings.ToLower(vals[j]) })
	// Room right of the label; never narrower than a checksum.
	area := columns - (keyWidth + 2 + 2)
	if area < 64 {
		area = 64
	}
	indent := strings.Repeat(" ", keyWidth+4)
	fmt.Fprintf(w, "  %*s: ", keyWidth, key)
	width := 0
	for _, v := range vals {
		switch {
		case width == 0:
			fmt.Fprint(w, v)
			width = len(v)
		case width+1+len(v) <= area:
			fmt.Fprint(w, " "+v)
			width += 1 + len(v)
		default:
			fmt.Fprint(w, "\n"+indent+v)
			width = len(v)
		}
	}
	fmt.Fprintln(w)
}

// writeCachedUpdate prints the AvailableUpdate block (status, upgrade
// --check); verbose (--preview) lists each package change.
func writeCachedUpdate(w io.Writer, cu client.Dict, verbose, tty bool) {
	kv := func(k, v string) { fmt.Fprintf(w, "  %*s: %s\n", updateKeyWidth, k, v) }
	d := client.DecodeDeployment(cu)
	fmt.Fprintln(w, "AvailableUpdate:")
	newCommit := true // absent means the ref moved, the common case
	if v, ok := cu["ref-has-new-commit"]; ok {
		if b, ok := v.Value().(bool); ok {
			newCommit = b
		}
	}
	if newCommit {
		if d.Version != "" {
			kv("Version", fmt.Sprintf("%s (%s)", bold(d.Version, tty), formatTimestamp(d.Timestamp)))
		} else {
			kv("Timestamp", formatTimestamp(d.Timestamp))
		}
		if d.ContainerImageReferenceDigest != "" {
			kv("Digest", d.ContainerImageReferenceDigest)
		}
		kv("Commit", d.Checksum)
		writeGPGSignature(w, updateKeyWidth, d)
	}
	diff, ok := cu["rpm-diff"].Value().(client.Dict)
	if !ok {
		return
	}
	sections := []struct{ key, label string }{
		{"upgraded", "Upgraded"}, {"downgraded", "Downgraded"}, {"removed", "Removed"}, {"added", "Added"},
	}
	if !verbose {
		var parts []string
		for _, s := range sections {
			if n := diffLen(diff[s.key]); n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, s.key))
			}
		}
		if len(parts) > 0 {
			kv("Diff", strings.Join(parts, ", "))
		}
		return
	}
	for _, s := range sections {
		for i, line := range diffLines(diff[s.key]) {
			if i == 0 {
				kv(s.label, line)
			} else {
				fmt.Fprintf(w, "  %*s  %s\n", updateKeyWidth, "", line)
			}
		}
	}
}

func diffLen(v client.Variant) int {
	if l, ok := v.Value().([][]any); ok {
		return len(l)
	}
	return 0
}

// diffLines renders rpm-diff entries: modified ones are (u type, s name,
// (s evr, s arch) old, (s evr, s arch) new), single ones (u, s name, s evr,
// s arch).
func diffLines(v client.Variant) []string {
	l, ok := v.Value().([][]any)
	if !ok {
		return nil
	}
	var out []string
	for _, e := range l {
		name, _ := fieldString(e, 1)
		switch len(e) {
		case 4:
			if old, ok := e[2].([]any); ok {
				if nw, ok := e[3].([]any); ok && len(old) == 2 && len(nw) == 2 {
					out = append(out, fmt.Sprintf("%s %v -> %v", name, old[0], nw[0]))
					continue
				}
			}
			evr, _ := fieldString(e, 2)
			arch, _ := fieldString(e, 3)
			out = append(out, fmt.Sprintf("%s-%s.%s", name, evr, arch))
		}
	}
	return out
}

func fieldString(e []any, i int) (string, bool) {
	if i >= len(e) {
		return "", false
	}
	s, ok := e[i].(string)
	return s, ok
}

// statusJSON builds the --json document: rpm-ostree's four top-level keys.
// Every deployment carries booted, staged, pinned and timestamp even when the
// daemon left them out, because consumers (Cockpit) read them unchecked.
func statusJSON(v statusView, onlyBooted bool) map[string]any {
	deps := []any{}
	for _, d := range v.deployments {
		if onlyBooted && !d.Booted {
			continue
		}
		m, _ := client.ToJSON(d.Raw).(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		for _, k := range []string{"booted", "staged", "pinned"} {
			if _, ok := m[k].(bool); !ok {
				m[k] = false
			}
		}
		if _, ok := m["timestamp"]; !ok {
			m["timestamp"] = uint64(0)
		}
		deps = append(deps, m)
	}
	doc := map[string]any{
		"deployments":   deps,
		"transaction":   nil,
		"cached-update": nil,
		"update-driver": nil,
	}
	if v.txn != nil {
		doc["transaction"] = []string{v.txn.Method, v.txn.Sender, v.txn.Path}
	}
	if len(v.cachedUpdate) > 0 {
		doc["cached-update"] = client.ToJSON(v.cachedUpdate)
	}
	return doc
}

func writeStatusJSON(w io.Writer, v statusView, onlyBooted bool) error {
	return writeJSON(w, statusJSON(v, onlyBooted))
}

func writeStatusJSONPath(w io.Writer, v statusView, onlyBooted bool, expr string) error {
	// Round-trip through encoding/json so that the query sees the same
	// plain values a JSON reader would.
	var doc any
	b, err := json.Marshal(statusJSON(v, onlyBooted))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	res, err := jsonPathQuery(doc, expr)
	if err != nil {
		return fmt.Errorf("While compiling jsonpath: %w", err)
	}
	return writeJSON(w, res)
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func formatTimestamp(t uint64) string {
	return time.Unix(int64(t), 0).UTC().Format("2006-01-02T15:04:05Z")
}

func bold(s string, tty bool) string {
	if !tty {
		return s
	}
	return "\x1b[1m" + s + "\x1b[0m"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
