package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// The scenarios, one table. Each runs on its own fresh host; a new scenario
// is a few lines here. See scenario_harness_test.go for what the fields mean.

var (
	develRefspec = fixture.Remote + ":" + fixture.DevelRef
	plainHost    = envOptions{}
	layeringHost = envOptions{http: true, packages: true}
)

func cmd(args ...string) []string { return args }

func TestScenarios(t *testing.T) {
	runScenarios(t, append(baseScenarios(), layeringScenarios()...))
}

// baseScenarios move between base commits: deploy, rebase, rollback, cleanup.
func baseScenarios() []scenario {
	return []scenario{
		{name: "deploy/by-version-and-checksum", host: plainHost, steps: []step{
			{args: cmd("deploy", "2.0"), then: &state{versions: "2.0 1.0"}},
			{args: cmd("deploy", "{sum 1.0}"), then: &state{deployments: map[int]deployment{0: {commitOf: "1.0"}}}},
			// A deployed revision is pinned in the origin; upgrade follows the ref again.
			{args: cmd("upgrade"), then: &state{deployments: map[int]deployment{0: {version: "2.0"}}}},
		}},
		{name: "deploy/disallow-downgrade", host: plainHost, steps: []step{
			{args: cmd("deploy", "2.0")},
			{args: cmd("deploy", "--disallow-downgrade", "1.0"), fails: true, stderr: []string{"older"}},
			// deploy allows going back by default, as rpm-ostree does.
			{args: cmd("deploy", "1.0"), then: &state{deployments: map[int]deployment{0: {version: "1.0"}}}},
		}},
		{name: "rebase/and-back", host: plainHost, steps: []step{
			{args: cmd("rebase", develRefspec), then: &state{
				deployments: map[int]deployment{0: {origin: develRefspec, version: "10.0"}},
				// The old ref is purged (the previous deployment keeps its commit).
				refs: []string{develRefspec}, noRefs: []string{stableRefspec},
			}},
			// A bare ref keeps the remote.
			{args: cmd("rebase", fixture.StableRef), then: &state{deployments: map[int]deployment{0: {origin: stableRefspec, version: "2.0"}}}},
		}},
		{name: "rollback/without-target", host: plainHost, steps: []step{
			{args: cmd("rollback"), fails: true, stderr: []string{"No rollback deployment found"}},
		}},
		{name: "cleanup/rollback", host: plainHost, steps: []step{
			{args: cmd("upgrade")},
			{args: cmd("cleanup"), fails: true, stderr: []string{"error:"}},
			{args: cmd("cleanup", "-r"), then: &state{versions: "2.0"}},
		}},
		// --reboot never reboots a machine that is not booted from the sysroot
		// (the one running the tests); it says so instead.
		{name: "upgrade/reboot-on-unbooted-host", host: plainHost, steps: []step{
			{args: cmd("upgrade", "--reboot"), stdout: []string{"Not rebooting"}, then: &state{versions: "2.0 1.0"}},
		}},
		{name: "kargs/append-replace-delete", host: plainHost, steps: []step{
			{args: cmd("kargs", "--append=strata.test=1", "--append=quiet"), stdout: []string{"Kernel arguments updated."},
				// kargs deploys the same commit again.
				then: &state{versions: "1.0 1.0", bootOptions: []string{"strata.test=1", "quiet"}}},
			{args: cmd("kargs"), stdout: []string{"strata.test=1"}},
			{args: cmd("kargs", "--replace=strata.test=2", "--delete=quiet"),
				then: &state{bootOptions: []string{"strata.test=2"}, noBootOptions: []string{"strata.test=1", "quiet"}}},
			{args: cmd("kargs", "--delete=nosuch"), fails: true, stderr: []string{"not present"}},
		}},
		{name: "bad-input", host: plainHost, steps: []step{
			{args: cmd("rebase", fixture.Remote+":nosuch/ref"), fails: true, stderr: []string{"nosuch/ref"}},
			{args: cmd("deploy", "9.9"), fails: true, stderr: []string{"version 9.9 not found"}},
			{args: cmd("deploy", strings.Repeat("ab", 32)), fails: true, stderr: []string{"error:"}},
			{args: cmd("upgrade"), fails: true, stderr: []string{`remote "demo"`}, before: func(e *env) {
				if err := e.host.SetRemoteURL(e.ctx, "http://127.0.0.1:1"); err != nil {
					e.t.Fatal(err)
				}
			}},
		}},
	}
}

// extraLayer is demo-extra layered on base.
func extraLayer(base string, rpm string) *layer {
	return &layer{base: base, requested: []string{"demo-extra"}, rpms: []string{rpm}, files: []string{"usr/bin/demo-extra"}}
}

// layeringScenarios install, remove and override packages (issue 3), checked
// against rpm-ostree's CLI behaviour.
func layeringScenarios() []scenario {
	return []scenario{
		{name: "install/by-name", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-extra"), then: &state{versions: "1.0 1.0", deployments: map[int]deployment{
				0: {layered: extraLayer("1.0", "demo-extra-1.0-1.noarch"), contents: map[string]string{"usr/bin/demo-extra": "echo extra"}},
				// The old deployment is the rollback, untouched.
				1: {commitOf: "1.0", plain: true, noFiles: []string{"usr/bin/demo-extra"}},
			}}},
			{args: cmd("status"), stdout: []string{"LayeredPackages: demo-extra"}},
		}},
		{name: "install/by-provide", host: layeringHost, steps: []step{
			{args: cmd("install", "pkgconfig(demolib)"), then: &state{deployments: map[int]deployment{0: {layered: &layer{
				base: "1.0", requested: []string{"pkgconfig(demolib)"},
				rpms: []string{"demo-lib-1.0-1.noarch"}, files: []string{"usr/lib/libdemo.so.1"},
			}}}}},
		}},
		{name: "install/pulls-in-dependency", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-app"), then: &state{deployments: map[int]deployment{0: {layered: &layer{
				base: "1.0", requested: []string{"demo-app"},
				rpms:  []string{"demo-app-1.0-1.noarch", "demo-lib-1.0-1.noarch"},
				files: []string{"usr/bin/demo-app", "usr/lib/libdemo.so.1"},
			}}}}},
		}},
		{name: "install/dry-run", host: layeringHost, steps: []step{
			{args: cmd("install", "--dry-run", "demo-app"), unchanged: true, stdout: []string{"demo-lib"},
				then: &state{deployments: map[int]deployment{0: {commitOf: "1.0", plain: true}}}},
		}},
		{name: "install/idempotent", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-extra")},
			{args: cmd("install", "--idempotent", "demo-extra"), unchanged: true},
			{args: cmd("uninstall", "--idempotent", "demo-app"), unchanged: true},
			{args: cmd("install", "demo-extra"), fails: true, stderr: []string{"demo-extra", "already requested"}},
		}},
		{name: "install/download-only", host: layeringHost, steps: []step{
			{args: cmd("install", "--download-only", "demo-app"), unchanged: true, then: &state{sysrootFiles: []string{
				"var/cache/strata/rpms/demo-app-1.0-1.noarch.rpm", "var/cache/strata/rpms/demo-lib-1.0-1.noarch.rpm",
			}}},
		}},
		// Asking for a package the base already has is refused with advice,
		// recorded as an inactive request with --allow-inactive.
		{name: "install/base-package", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-tools"), fails: true, stderr: []string{"demo-tools", "already provided by the base", "--allow-inactive"}},
			{args: cmd("install", "--allow-inactive", "demo-tools"), then: &state{deployments: map[int]deployment{0: {
				requested: []string{"demo-tools"}, rpms: []string{"demo-tools-1.0-1.noarch"},
			}}}},
		}},
		// --cache-only fetches nothing, and says what to do when the cache
		// lacks what is needed.
		{name: "install/cache-only", host: layeringHost, steps: []step{
			{args: cmd("install", "--cache-only", "demo-extra"), fails: true, stderr: []string{"demo-pkgs", "refresh-md"}},
			{args: cmd("refresh-md")},
			{args: cmd("install", "--cache-only", "demo-extra"), then: &state{deployments: map[int]deployment{0: {rpms: []string{"demo-extra-1.0-1.noarch"}}}}},
			// 2.0 was never pulled into the sysroot's repo.
			{args: cmd("deploy", "--cache-only", "2.0"), fails: true, stderr: []string{"version 2.0 not found"}},
		}},
		{name: "install/failing-post-scriptlet", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-failpost"), fails: true, stderr: []string{"demo-failpost"},
				then: &state{versions: "1.0", deployments: map[int]deployment{0: {plain: true}}}},
		}},
		{name: "install/repo-with-wrong-checksum", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-extra"), fails: true, stderr: []string{fixture.PackageRepoID, "checksum"},
				before: func(e *env) {
					if err := e.pkgs.CorruptPrimary(); err != nil {
						e.t.Fatal(err)
					}
				},
				then: &state{noPkgRefs: true}},
		}},
		{name: "uninstall/drops-unneeded-dependency", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-app", "demo-extra")},
			{args: cmd("uninstall", "demo-app"), then: &state{deployments: map[int]deployment{0: {
				layered: extraLayer("1.0", "demo-extra-1.0-1.noarch"),
				noRPMs:  []string{"demo-app", "demo-lib"}, noFiles: []string{"usr/bin/demo-app", "usr/lib/libdemo.so.1"},
			}}}},
			// With nothing left to layer, the deployment is the base commit itself.
			{args: cmd("uninstall", "demo-extra"), then: &state{deployments: map[int]deployment{0: {
				commitOf: "1.0", plain: true, rpms: []string{baseFiles1}, noRPMs: []string{"demo-extra"},
			}}}},
		}},
		{name: "upgrade/keeps-layered-packages", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-extra")},
			{args: cmd("upgrade"), then: &state{deployments: map[int]deployment{0: {
				layered: extraLayer("2.0", "demo-extra-1.0-1.noarch"), noRPMs: []string{baseFiles1},
			}}}},
		}},
		{name: "upgrade/updates-layered-package-from-repo", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-extra")},
			{args: cmd("upgrade"), before: func(e *env) {
				if err := e.pkgs.Publish(e.ctx, fixture.ExtraUpdateFile); err != nil {
					e.t.Fatal(err)
				}
			}, then: &state{deployments: map[int]deployment{0: {
				layered:  extraLayer("2.0", "demo-extra-1.1-1.noarch"),
				noRPMs:   []string{"demo-extra-1.0-1.noarch"},
				contents: map[string]string{"usr/bin/demo-extra": "extra 1.1"},
			}}}},
		}},
		{name: "rebase/keeps-layered-packages", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-extra")},
			{args: cmd("rebase", develRefspec), then: &state{deployments: map[int]deployment{0: {
				layered: extraLayer("10.0", "demo-extra-1.0-1.noarch"), origin: develRefspec,
			}}}},
		}},
		{name: "deploy/keeps-layered-packages", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-extra")},
			{args: cmd("deploy", "2.0"), then: &state{deployments: map[int]deployment{0: {layered: extraLayer("2.0", "demo-extra-1.0-1.noarch")}}}},
		}},
		{name: "layering-bad-input", host: layeringHost, steps: []step{
			{args: cmd("install", "nosuchpkg"), fails: true, stderr: []string{"nosuchpkg"}},
			{args: cmd("install", "demo-broken"), fails: true, stderr: []string{"libmissing.so.9"}},
			{args: cmd("install", "demo-clash"), fails: true, stderr: []string{"/usr/bin/demo-hello", "demo-base-files", "demo-clash"}},
			// The daemon reads the file through a descriptor, so it may name the
			// package by its header (demo-local-1.0-1.noarch) or the CLI by the file.
			{argsFunc: truncatedLocalPackage, fails: true, stderr: []string{"demo-local"}},
			{args: cmd("uninstall", "demo-extra"), fails: true, stderr: []string{"demo-extra", "not currently requested"}},
			{args: cmd("install", "demo-extra")},
			{args: cmd("install", "demo-extra"), fails: true, stderr: []string{"demo-extra", "already requested"}},
		}},
		// Once no deployment contains a layered package, cleanup -b lets its
		// import go; packages still deployed stay.
		{name: "cleanup/base-drops-unused-packages", host: layeringHost, steps: []step{
			{args: cmd("install", "demo-extra")},
			{args: cmd("install", "demo-app")},
			{args: cmd("uninstall", "demo-extra")},
			{args: cmd("cleanup", "-r", "-b"), then: &state{
				refs: []string{"rpmostree/pkg/demo-app/1.0-1.noarch"}, noRefs: []string{"rpmostree/pkg/demo-extra/1.0-1.noarch"},
			}},
			// imported again
			{args: cmd("install", "demo-extra"), then: &state{deployments: map[int]deployment{0: {rpms: []string{"demo-extra-1.0-1.noarch", "demo-app-1.0-1.noarch"}}}}},
		}},
		// A base package leaves the new deployment (files and rpmdb entry)
		// and comes back with reset.
		{name: "override/remove-and-reset", host: layeringHost, steps: []step{
			{args: cmd("override", "remove", "demo-tools"), then: &state{deployments: map[int]deployment{0: {
				noRPMs: []string{"demo-tools-1.0-1.noarch"}, noFiles: []string{"usr/bin/demo-tool"}, files: []string{"usr/bin/demo-hello"},
			}}}},
			{args: cmd("override", "reset", "demo-base-files"), fails: true, stderr: []string{"no override for package"}},
			{args: cmd("override", "reset", "demo-tools"), then: &state{deployments: map[int]deployment{0: {rpms: []string{"demo-tools-1.0-1.noarch"}}}}},
		}},
	}
}

// truncatedLocalPackage writes the first half of the local demo package and
// returns the install command for it.
func truncatedLocalPackage(e *env) []string {
	e.t.Helper()
	good, err := os.ReadFile(e.pkgs.Packages[fixture.LocalPackageFile])
	if err != nil {
		e.t.Fatal(err)
	}
	cut := filepath.Join(e.t.TempDir(), "demo-local-truncated.noarch.rpm")
	if err := os.WriteFile(cut, good[:len(good)/2], 0o644); err != nil {
		e.t.Fatal(err)
	}
	return cmd("install", cut)
}
