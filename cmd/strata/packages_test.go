package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-os/strata/client"
)

// parseFor parses argv (command words first) the way run does and returns
// the (sub)command and its arguments.
func parseFor(t *testing.T, argv ...string) (*command, *parsedArgs) {
	t.Helper()
	name, rest := splitCommand(argv)
	cmd := lookupCommand(name)
	if cmd == nil {
		t.Fatalf("no command %q", name)
	}
	if len(cmd.subcommands) > 0 {
		var sub string
		sub, rest = splitCommand(rest)
		var found *command
		for _, s := range cmd.subcommands {
			if s.name == sub {
				found = s
			}
		}
		if found == nil {
			t.Fatalf("no subcommand %q of %s", sub, name)
		}
		cmd = found
	}
	p, err := parseOptions(append(append([]option{}, cmd.opts...), globalOptions...), rest)
	if err != nil {
		t.Fatalf("parsing %q: %v", argv, err)
	}
	return cmd, p
}

func TestLayeringPlans(t *testing.T) {
	a := &app{prog: "rpm-ostree", cmdline: "CMDLINE"}
	base := client.UpdateOptions{NoPullBase: true, InitiatingCommandLine: "CMDLINE"}
	with := func(f func(o *client.UpdateOptions)) client.UpdateOptions {
		o := base
		f(&o)
		return o
	}
	for _, tc := range []struct {
		argv []string
		want layeringPlan
	}{
		{[]string{"install", "-y", "--idempotent", "foo", "./x.rpm"}, layeringPlan{
			updateDeployment: true,
			mods:             client.Modifiers{InstallPackages: []string{"foo"}, InstallLocalPackages: []string{"./x.rpm"}},
			opts:             with(func(o *client.UpdateOptions) { o.Idempotent = true }),
		}},
		{[]string{"install", "vim", "--uninstall", "htop", "--uninstall=nano", "-Cn", "--allow-inactive", "-r"}, layeringPlan{
			mods: client.Modifiers{InstallPackages: []string{"vim"}, UninstallPackages: []string{"htop", "nano"}},
			opts: with(func(o *client.UpdateOptions) {
				o.CacheOnly, o.DryRun, o.AllowInactive, o.Reboot = true, true, true, true
			}),
		}},
		{[]string{"install", "file:///srv/a-1-1.noarch.rpm", "/tmp/b.rpm", "--download-only", "--lock-finalization"}, layeringPlan{
			updateDeployment: true,
			mods:             client.Modifiers{InstallLocalPackages: []string{"/srv/a-1-1.noarch.rpm", "/tmp/b.rpm"}},
			opts:             with(func(o *client.UpdateOptions) { o.DownloadOnly, o.LockFinalization = true, true }),
		}},
		{[]string{"pkg-add", "vim"}, layeringPlan{
			mods: client.Modifiers{InstallPackages: []string{"vim"}},
			opts: base,
		}},
		{[]string{"uninstall", "--all"}, layeringPlan{
			mods: client.Modifiers{UninstallAll: true},
			opts: with(func(o *client.UpdateOptions) { o.CacheOnly = true }),
		}},
		{[]string{"uninstall", "foo", "--install", "bar", "--idempotent"}, layeringPlan{
			mods: client.Modifiers{InstallPackages: []string{"bar"}, UninstallPackages: []string{"foo"}},
			opts: with(func(o *client.UpdateOptions) { o.Idempotent = true }),
		}},
		{[]string{"uninstall", "foo", "--install", "./bar.rpm"}, layeringPlan{
			updateDeployment: true,
			mods:             client.Modifiers{InstallLocalPackages: []string{"./bar.rpm"}, UninstallPackages: []string{"foo"}},
			opts:             base,
		}},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			cmd, p := parseFor(t, tc.argv...)
			var r pkgRequest
			switch cmd.name {
			case "install", "pkg-add":
				r = installRequest(a, p)
			default:
				r = uninstallRequest(a, p)
			}
			got, err := planPkgChange(r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestOverridePlans(t *testing.T) {
	a := &app{prog: "strata", cmdline: "CMDLINE"}
	for _, tc := range []struct {
		argv      []string
		mods      client.Modifiers
		cacheOnly bool
		dryRun    bool
	}{
		{[]string{"override", "remove", "nano", "vim-minimal"},
			client.Modifiers{OverrideRemovePackages: []string{"nano", "vim-minimal"}}, true, false},
		{[]string{"override", "remove", "nano", "--replace", "./nano-tiny-1-1.noarch.rpm", "-n"},
			client.Modifiers{OverrideRemovePackages: []string{"nano"}, OverrideReplaceLocalPackages: []string{"./nano-tiny-1-1.noarch.rpm"}}, false, true},
		{[]string{"override", "replace", "./bash-5.2-2.x86_64.rpm", "zsh", "--remove", "nano", "--install", "htop"},
			client.Modifiers{InstallPackages: []string{"htop"}, OverrideRemovePackages: []string{"nano"},
				OverrideReplacePackages: []string{"zsh"}, OverrideReplaceLocalPackages: []string{"./bash-5.2-2.x86_64.rpm"}}, false, false},
		{[]string{"override", "reset", "nano", "bash", "--uninstall", "htop"},
			client.Modifiers{OverrideResetPackages: []string{"nano", "bash"}, UninstallPackages: []string{"htop"}}, true, false},
		{[]string{"override", "reset", "-a", "-C"},
			client.Modifiers{OverrideResetAll: true}, true, false},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			cmd, p := parseFor(t, tc.argv...)
			got, err := planOverride(a, p, overrideRequestOf(cmd.name, p))
			if err != nil {
				t.Fatal(err)
			}
			want := layeringPlan{updateDeployment: true, mods: tc.mods, opts: client.UpdateOptions{
				CacheOnly: tc.cacheOnly, DryRun: tc.dryRun, NoPullBase: true, InitiatingCommandLine: "CMDLINE"}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("plan\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestSplitLocal(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		names, paths []string
		err          string
	}{
		{[]string{"vim", "./a.rpm", "/abs/b.rpm", "file:///c.rpm", "/usr/bin/foo", "pkgconfig(glib-2.0)"},
			[]string{"vim", "/usr/bin/foo", "pkgconfig(glib-2.0)"}, []string{"./a.rpm", "/abs/b.rpm", "/c.rpm"}, ""},
		{[]string{"foo-1.0-1.src.rpm"}, nil, nil, "appears to be a source RPM"},
		{[]string{"https://example.com/x.rpm"}, nil, nil, "not implemented yet"},
	} {
		names, paths, err := splitLocal(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("splitLocal(%q) error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(names, tc.names) || !reflect.DeepEqual(paths, tc.paths) {
			t.Errorf("splitLocal(%q) = %q, %q, %v", tc.args, names, paths, err)
		}
	}
}

// sampleDiff has every kind of change, deliberately out of order.
func sampleDiff() []client.PkgChange {
	ref := func(n, evr, arch string) *client.PkgRef { return &client.PkgRef{Name: n, EVR: evr, Arch: arch} }
	return []client.PkgChange{
		{Name: "zsh", Type: client.ChangeAdded, New: ref("zsh", "5.9-1", "x86_64")},
		{Name: "foo", Type: client.ChangeAdded, New: ref("foo", "1.0-1", "noarch")},
		{Name: "nano", Type: client.ChangeRemoved, Previous: ref("nano", "7.2-1", "x86_64")},
		{Name: "kernel", Type: client.ChangeDowngraded, Previous: ref("kernel", "6.9-1", "x86_64"), New: ref("kernel", "6.8-3", "x86_64")},
		{Name: "bash", Type: client.ChangeUpgraded, Previous: ref("bash", "5.1-1", "x86_64"), New: ref("bash", "1:5.2-1", "x86_64")},
		{Name: "acl", Type: client.ChangeUpgraded, Previous: ref("acl", "2.3-1", "x86_64"), New: ref("acl", "2.3-2", "x86_64")},
	}
}

func TestDiffFormats(t *testing.T) {
	from := deploymentRev{"booted deployment", client.Deployment{Checksum: sumA}}
	to := deploymentRev{sumB, client.Deployment{Checksum: sumB}}
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer)
	}{
		{"diff-block", func(b *bytes.Buffer) { writeDiffBlock(b, sampleDiff()) }},
		{"diff-aligned", func(b *bytes.Buffer) { writeDiffAligned(b, sampleDiff(), updateKeyWidth) }},
		{"db-diff-block", func(b *bytes.Buffer) { writeDBDiff(b, from, to, sampleDiff(), "block") }},
		{"db-diff-script", func(b *bytes.Buffer) { writeDBDiff(b, from, to, sampleDiff(), "diff") }},
		{"diff-json", func(b *bytes.Buffer) {
			if err := writeJSON(b, diffJSON(sampleDiff()[:3])); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.write(&b)
			checkGolden(t, tc.name, b.String())
		})
	}
	var b bytes.Buffer
	writeDiffBlock(&b, nil)
	if b.Len() != 0 {
		t.Fatalf("an empty diff printed %q", b.String())
	}
}

func TestResolveDeployment(t *testing.T) {
	deps := decode(pendingDict(), bootedDict())
	for _, tc := range []struct {
		arg, wantID, err string
	}{
		{"0", deps[0].ID, ""},
		{"1", deps[1].ID, ""},
		{"2", "", "out of range"},
		{deps[1].ID, deps[1].ID, ""},
		{sumA, deps[1].ID, ""},
		{sumB[:8], deps[0].ID, ""},
		{"fedora/stable", "", "is not a deployment"},
	} {
		d, err := resolveDeployment(deps, tc.arg)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("resolve(%q) error %v, want %q", tc.arg, err, tc.err)
			}
		case err != nil || d.ID != tc.wantID:
			t.Errorf("resolve(%q) = %q, %v; want %q", tc.arg, d.ID, err, tc.wantID)
		}
	}
}

func TestDefaultDiffPair(t *testing.T) {
	pending, booted := client.DecodeDeployment(pendingDict()), client.DecodeDeployment(bootedDict())
	rollback := client.DecodeDeployment(bootedDict())
	rollback.Booted, rollback.ID = false, "fedora-rollback.0"
	notBooted := booted
	notBooted.Booted = false
	for _, tc := range []struct {
		name     string
		deps     []client.Deployment
		from, to string // desc:id
		err      string
	}{
		{"pending", []client.Deployment{pending, booted}, "booted deployment:" + booted.ID, "pending deployment:" + pending.ID, ""},
		{"rollback", []client.Deployment{booted, rollback}, "rollback deployment:" + rollback.ID, "booted deployment:" + booted.ID, ""},
		{"not booted", []client.Deployment{pending, notBooted}, "rollback deployment:" + notBooted.ID, "default deployment:" + pending.ID, ""},
		{"alone", []client.Deployment{booted}, "", "", "No pending or rollback deployment to diff against"},
		{"none", nil, "", "", "Not booted into any deployment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to, err := defaultDiffPair(&client.Status{Deployments: tc.deps})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := from.desc + ":" + from.dep.ID; got != tc.from {
				t.Errorf("from %s, want %s", got, tc.from)
			}
			if got := to.desc + ":" + to.dep.ID; got != tc.to {
				t.Errorf("to %s, want %s", got, tc.to)
			}
		})
	}
}
