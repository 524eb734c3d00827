package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Scenarios as data, after coreos/ignition's blackbox tests: each scenario
// names its starting host, the CLI commands a user runs with what each must
// print and exit with, and the state the host must be in afterwards. One
// harness (runScenario) builds the host, runs the steps and checks the
// states. A failing step's expected state is its starting state: the harness
// snapshots the host (deployments, origin files, refs, boot entries) before
// it and compares after, and `ostree fsck` runs when the scenario ends.
//
// Tests that are inherently code (raw D-Bus clients, killing the daemon,
// concurrency and cancellation) stay functions, using the same env helpers.

// scenario is one end-to-end test case.
type scenario struct {
	name string
	host envOptions
	// steps run in order on one host and daemon.
	steps []step
}

// step is one CLI command and what it must do.
type step struct {
	// args is the strata command line. "{sum V}" in an argument becomes the
	// checksum of the fixture host's version V.
	args []string
	// argsFunc, when set, computes args from the env (e.g. a file it made).
	argsFunc func(e *env) []string
	// before changes the world before the command runs (publish a package,
	// break the remote): the repo contents a scenario starts from.
	before func(e *env)
	// fails: the command must exit non-zero with a short `error: …` message
	// containing every fragment of stderr (case-insensitively), leave the
	// host exactly as it was and the daemon serving.
	fails bool
	// unchanged: the command succeeds but must not change the host.
	unchanged bool
	// exit is the expected exit code of a command that does not fail (0 by
	// default), e.g. 77 for `upgrade --check` with nothing new.
	exit int
	// stdout and stderr fragments the output must contain.
	stdout, stderr []string
	// then is the state the host must be in after the command.
	then *state
}

// state is what a scenario expects of the host after a step.
type state struct {
	// versions lists the deployments' versions in boot order ("2.0 1.0").
	versions string
	// deployments are checked by index in boot order (0 is the default).
	deployments map[int]deployment
	// refs must be listed by `ostree refs` in the sysroot repo; noRefs must not.
	refs, noRefs []string
	// noPkgRefs: no package was imported (no rpmostree/pkg/ ref).
	noPkgRefs bool
	// sysrootFiles must exist, relative to the sysroot (e.g. the RPM cache).
	sysrootFiles []string
	// bootOptions must be in the default deployment's boot entry options
	// line, noBootOptions must not.
	bootOptions, noBootOptions []string
}

// deployment is what a scenario expects of one deployment.
type deployment struct {
	version string
	// commitOf is the fixture version whose base commit is deployed as is.
	commitOf string
	origin   string
	// layered is checked with expectLayered; only for the default (index 0).
	layered *layer
	// plain: no requested packages.
	plain bool
	// requested are the requested-packages, in any order (nil: not checked).
	requested []string
	// files must exist in the deployment's checkout, noFiles must not.
	files, noFiles []string
	// contents maps a file in the checkout to a fragment it must contain.
	contents map[string]string
	// rpms must be listed by rpm -qa in the deployment, noRPMs (NEVRA or
	// name) must not.
	rpms, noRPMs []string
}

// runScenarios runs each scenario as its own subtest, so that
// `go test -run 'TestScenarios/install'` picks them by name.
func runScenarios(t *testing.T, scenarios []scenario) {
	seen := map[string]bool{}
	for _, sc := range scenarios {
		if seen[sc.name] {
			t.Fatalf("two scenarios are named %q", sc.name)
		}
		seen[sc.name] = true
		sc := sc
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}

func runScenario(t *testing.T, sc scenario) {
	e := newEnv(t, sc.host)
	for i, st := range sc.steps {
		if st.before != nil {
			st.before(e)
		}
		args := st.args
		if st.argsFunc != nil {
			args = st.argsFunc(e)
		}
		args = e.expandArgs(args)
		e.t.Logf("step %d: strata %s", i+1, strings.Join(args, " "))
		var before string
		if st.fails || st.unchanged {
			before = e.hostSnapshot()
		}
		out, errOut, code := e.strata(args...)
		switch {
		case st.fails:
			if code == 0 {
				t.Fatalf("step %d: strata %v succeeded, want a failure naming %q:\n%s", i+1, args, st.stderr, out)
			}
			if lines := strings.Count(strings.TrimRight(errOut, "\n"), "\n") + 1; !strings.HasPrefix(errOut, "error: ") || lines > 2 {
				t.Errorf("step %d: strata %v: want a short `error: …` message, got %d lines:\n%s", i+1, args, lines, errOut)
			}
		case code != st.exit:
			t.Fatalf("step %d: strata %v exited %d, want %d: %s%s\ndaemon log:\n%s", i+1, args, code, st.exit, out, errOut, e.daemonLog())
		}
		for _, want := range st.stdout {
			if !strings.Contains(out, want) {
				t.Errorf("step %d: strata %v: stdout lacks %q:\n%s", i+1, args, want, out)
			}
		}
		for _, want := range st.stderr {
			if !strings.Contains(strings.ToLower(errOut), strings.ToLower(want)) {
				t.Errorf("step %d: strata %v: stderr %q does not name %q", i+1, args, errOut, want)
			}
		}
		if st.fails || st.unchanged {
			if after := e.hostSnapshot(); after != before {
				t.Errorf("step %d: strata %v changed the host:\nbefore:\n%s\nafter:\n%s", i+1, args, before, after)
			}
			e.daemonAlive()
		}
		if st.then != nil {
			e.expectState(*st.then)
		}
	}
}

// expandArgs replaces "{sum V}" with the checksum of version V.
func (e *env) expandArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		for v, sum := range e.host.Versions {
			a = strings.ReplaceAll(a, "{sum "+v+"}", sum)
		}
		out[i] = a
	}
	return out
}

// hostSnapshot is everything a failed command must leave alone: ostree's
// view of the deployments, the origin files, the refs and the boot entries.
// Imported packages (rpmostree/pkg/ refs) and remote-tracking refs
// ("remote:ref") are caches, not host state: a transaction that fails after
// pulling metadata or importing packages may keep them, as rpm-ostree does.
func (e *env) hostSnapshot() string {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("== deployments\n")
	b.WriteString(e.ostreeStatus())
	b.WriteString("== origins\n")
	origins, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "ostree/deploy/*/deploy/*.origin"))
	sort.Strings(origins)
	for _, path := range origins {
		content, err := os.ReadFile(path)
		if err != nil {
			e.t.Fatalf("reading %s: %v", path, err)
		}
		b.WriteString(filepath.Base(path) + ":\n" + string(content) + "\n")
	}
	b.WriteString("== refs\n")
	for _, ref := range strings.Fields(e.ostreeOut("refs", "--repo="+e.sysrootRepo())) {
		if !strings.HasPrefix(ref, "rpmostree/pkg/") && !strings.Contains(ref, ":") {
			b.WriteString(ref + " " + e.ostreeOut("rev-parse", "--repo="+e.sysrootRepo(), ref) + "\n")
		}
	}
	b.WriteString("== boot entries\n")
	entries, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "boot/loader/entries/*.conf"))
	sort.Strings(entries)
	for _, path := range entries {
		content, err := os.ReadFile(path)
		if err != nil {
			e.t.Fatalf("reading %s: %v", path, err)
		}
		b.WriteString(filepath.Base(path) + ":\n" + string(content) + "\n")
	}
	return b.String()
}

// expectState checks the host against want.
func (e *env) expectState(want state) {
	e.t.Helper()
	if want.versions != "" {
		if got := e.versions(); got != want.versions {
			e.t.Fatalf("versions in boot order = %q, want %q", got, want.versions)
		}
	}
	if len(want.deployments) > 0 {
		all := e.layeredStatus()
		indexes := make([]int, 0, len(want.deployments))
		for i := range want.deployments {
			indexes = append(indexes, i)
		}
		sort.Ints(indexes)
		for _, i := range indexes {
			if i >= len(all) {
				e.t.Fatalf("want deployment %d, the host has %d", i, len(all))
			}
			e.expectDeployment(i, all[i], want.deployments[i])
		}
	}
	if len(want.refs) > 0 || len(want.noRefs) > 0 {
		refs := map[string]bool{}
		for _, ref := range strings.Fields(e.ostreeOut("refs", "--repo="+e.sysrootRepo())) {
			refs[ref] = true
		}
		for _, r := range want.refs {
			if !refs[r] {
				e.t.Errorf("ref %s missing; refs: %v", r, refs)
			}
		}
		for _, r := range want.noRefs {
			if refs[r] {
				e.t.Errorf("ref %s still there; refs: %v", r, refs)
			}
		}
	}
	if want.noPkgRefs {
		if refs := e.pkgRefs(); len(refs) != 0 {
			e.t.Errorf("packages were imported: %v", refs)
		}
	}
	if len(want.bootOptions)+len(want.noBootOptions) > 0 {
		opts := e.bootEntryOptions()
		for _, o := range want.bootOptions {
			if !strings.Contains(opts, o) {
				e.t.Errorf("boot entry options %q lack %q", opts, o)
			}
		}
		for _, o := range want.noBootOptions {
			if strings.Contains(opts, o) {
				e.t.Errorf("boot entry options %q still have %q", opts, o)
			}
		}
	}
	for _, f := range want.sysrootFiles {
		if _, err := os.Stat(filepath.Join(e.host.Sysroot, f)); err != nil {
			e.t.Errorf("sysroot lacks %s: %v", f, err)
		}
	}
}

func (e *env) expectDeployment(index int, got layeredDeployment, want deployment) {
	e.t.Helper()
	if want.version != "" && got.Version != want.version {
		e.t.Errorf("deployment %d: version %q, want %q", index, got.Version, want.version)
	}
	if want.commitOf != "" && got.Checksum != e.host.Versions[want.commitOf] {
		e.t.Errorf("deployment %d: checksum %s, want the %s base %s", index, got.Checksum, want.commitOf, e.host.Versions[want.commitOf])
	}
	if want.origin != "" && got.Origin != want.origin {
		e.t.Errorf("deployment %d: origin %q, want %q", index, got.Origin, want.origin)
	}
	if want.plain && len(got.RequestedPackages) != 0 {
		e.t.Errorf("deployment %d: requested-packages %q, want none", index, got.RequestedPackages)
	}
	if want.requested != nil && !sameSet(got.RequestedPackages, want.requested) {
		e.t.Errorf("deployment %d: requested-packages %q, want %q", index, got.RequestedPackages, want.requested)
	}
	var dir string
	if want.layered != nil {
		if index != 0 {
			e.t.Fatalf("scenario error: layered is checked on the default deployment only, not %d", index)
		}
		dir = e.expectLayered(*want.layered)
	}
	if len(want.files)+len(want.noFiles)+len(want.contents)+len(want.rpms)+len(want.noRPMs) == 0 {
		return
	}
	if dir == "" {
		dir = e.deploymentDir(index)
	}
	for _, f := range want.files {
		if _, err := os.Lstat(filepath.Join(dir, f)); err != nil {
			e.t.Errorf("deployment %d lacks %s: %v", index, f, err)
		}
	}
	for _, f := range want.noFiles {
		if _, err := os.Lstat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			e.t.Errorf("deployment %d has %s, which must be absent: %v", index, f, err)
		}
	}
	for f, frag := range want.contents {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || !strings.Contains(string(b), frag) {
			e.t.Errorf("deployment %d: %s = %q, %v; want it to contain %q", index, f, b, err, frag)
		}
	}
	if len(want.rpms)+len(want.noRPMs) > 0 {
		e.expectRPMs(dir, want.rpms, want.noRPMs)
	}
}

// bootEntryOptions returns the options line of the default deployment's boot
// loader entry, as libostree wrote it.
func (e *env) bootEntryOptions() string {
	e.t.Helper()
	entries, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "boot/loader/entries/ostree-*.conf"))
	best, bestVersion := "", -1
	for _, path := range entries {
		b, err := os.ReadFile(path)
		if err != nil {
			e.t.Fatal(err)
		}
		var version int
		var options string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "version "); ok {
				version, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if v, ok := strings.CutPrefix(line, "options "); ok {
				options = v
			}
		}
		if version > bestVersion {
			best, bestVersion = options, version
		}
	}
	return best
}
