package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// The boot proof: each TestVM* test lets strata write a deployment on a host
// whose trees carry a real kernel, then boots the BLS entry libostree wrote
// in qemu and checks, from inside the booted system, that the right tree
// came up. `make test-vm` runs these alone.

// vmBootTimeout bounds one boot (TCG, no KVM): a boot to the check program
// takes a few seconds.
const vmBootTimeout = 90 * time.Second

var vmOnce struct {
	sync.Once
	assets vmFiles
	err    error
}

type vmFiles struct {
	kernel    *fixture.VMKernel
	initramfs string
}

// vmAssets fetches the kernel and builds the initramfs once per test binary.
func vmAssets(t *testing.T) vmFiles {
	t.Helper()
	vmOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		k, err := fixture.FetchVMKernel(ctx, "")
		if err != nil {
			vmOnce.err = err
			return
		}
		dir, err := os.MkdirTemp("", "strata-vm-initramfs-")
		if err != nil {
			vmOnce.err = err
			return
		}
		initramfs := filepath.Join(dir, "initramfs.img")
		vmOnce.err = fixture.BuildInitramfs(ctx, k, initramfs)
		vmOnce.assets = vmFiles{kernel: k, initramfs: initramfs}
	})
	if vmOnce.err != nil {
		t.Fatalf("preparing the VM kernel and initramfs: %v", vmOnce.err)
	}
	return vmOnce.assets
}

// boot boots the boot entry at index (0: the default) of the host as it is
// now and returns what the check program printed.
func (e *env) boot(index int) string {
	e.t.Helper()
	out, err := e.tryBoot(index)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Logf("the booted system reports:\n%s", out)
	return out
}

func (e *env) tryBoot(index int) (string, error) {
	e.t.Helper()
	entries, err := fixture.BootEntries(e.host.Sysroot)
	if err != nil {
		e.t.Fatal(err)
	}
	if index >= len(entries) {
		e.t.Fatalf("boot entry %d of %d", index, len(entries))
	}
	disk := filepath.Join(e.dir, "disk.img")
	os.Remove(disk)
	if err := fixture.MakeDisk(e.ctx, e.host.Sysroot, disk); err != nil {
		e.t.Fatal(err)
	}
	defer os.Remove(disk)
	start := time.Now()
	out, err := fixture.Boot(e.ctx, e.host.Sysroot, entries[index], disk, vmBootTimeout)
	e.t.Logf("boot of %q took %v", entries[index].Title, time.Since(start).Round(100*time.Millisecond))
	return out, err
}

// expectBooted checks the check program's report for each want.
func expectBooted(t *testing.T, report string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(report, w) {
			t.Errorf("the booted system does not show %q:\n%s", w, report)
		}
	}
}

// TestVMBootsUpgrade: the deployed base boots; after an upgrade the new
// version boots with the /etc edit made in the previous deployment; the
// rollback entry boots the previous tree; an appended kernel argument
// reaches /proc/cmdline.
func TestVMBootsUpgrade(t *testing.T) {
	e := newEnv(t, envOptions{vm: true})
	expectBooted(t, e.boot(0), "os-release: demo 1.0", "ostree-booted: yes", "rpmdb: present", "root=/dev/vda")

	st := e.status()
	etc := filepath.Join(e.deploymentRoot(st.Deployments[0].Checksum, st.Deployments[0].Serial), "etc")
	if err := os.WriteFile(filepath.Join(etc, "strata-vm-note"), []byte("kept across upgrades"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("upgrade")
	expectBooted(t, e.boot(0), "os-release: demo 2.0", "ostree-booted: yes", "file /etc/strata-vm-note: kept across upgrades")
	expectBooted(t, e.boot(1), "os-release: demo 1.0")

	e.mustStrata("kargs", "--append=strata.vmcheck=yes")
	expectBooted(t, e.boot(0), "os-release: demo 2.0", "strata.vmcheck=yes")
}

// TestVMBootsLayeredPackages: packages layered by strata are in the booted
// system, with what their %post wrote.
func TestVMBootsLayeredPackages(t *testing.T) {
	e := newEnv(t, envOptions{vm: true, packages: true})
	e.mustStrata("install", "demo-extra", "demo-scripts")
	report := e.boot(0)
	expectBooted(t, report, "os-release: demo 1.0", "demo-extra runs: extra", "file /etc/demo-scripts/post-ran: ran")
	// The booted system's own rpm reads its rpmdb on the read-only /usr
	// (strata seals it out of sqlite's WAL mode) and lists base and
	// layered packages.
	listed := rpmListed(report)
	for _, pkg := range []string{"demo-base-files", "demo-extra", "demo-scripts"} {
		if !slices.Contains(listed, pkg) {
			t.Errorf("rpm -qa in the booted system lacks %s: %q", pkg, listed)
		}
	}
}

// rpmListed is what the booted system's own `rpm -qa` printed.
func rpmListed(report string) []string {
	for _, line := range strings.Split(report, "\n") {
		if rest, ok := strings.CutPrefix(line, "rpm -qa: "); ok {
			return strings.Fields(rest)
		}
	}
	return nil
}

// TestVMBootsImage: a deployment rebased onto a container image (the VM
// host's OS 2.0 built with umoci, pulled from a loopback registry) boots.
func TestVMBootsImage(t *testing.T) {
	e := newEnv(t, envOptions{vm: true, registry: true})
	e.pushOSImage("2", "2.0")
	e.mustStrata("rebase", "ostree-unverified-registry:"+e.reg.Addr+"/os:stable")
	expectBooted(t, e.boot(0), "os-release: demo 2.0", "ls /usr/share/demo: image-release", "ostree-booted: yes")
}

// TestVMBootFailsForMissingDeployment: the check can fail. A boot entry
// whose ostree= names no deployment does not boot, and the serial log says
// where it stopped.
func TestVMBootFailsForMissingDeployment(t *testing.T) {
	e := newEnv(t, envOptions{vm: true})
	entries, err := fixture.BootEntries(e.host.Sysroot)
	if err != nil {
		t.Fatal(err)
	}
	broken := entries[0]
	fields := strings.Fields(broken.Options)
	for i, f := range fields {
		if strings.HasPrefix(f, "ostree=") {
			fields[i] = "ostree=/ostree/boot.1/demo/0000000000000000000000000000000000000000000000000000000000000000/0"
		}
	}
	broken.Options = strings.Join(fields, " ")
	disk := filepath.Join(e.dir, "disk.img")
	if err := fixture.MakeDisk(e.ctx, e.host.Sysroot, disk); err != nil {
		t.Fatal(err)
	}
	_, err = fixture.Boot(e.ctx, e.host.Sysroot, broken, disk, vmBootTimeout)
	if !errors.Is(err, fixture.ErrBootFailed) || !strings.Contains(err.Error(), "STRATA-VM-FAIL: ostree-prepare-root") {
		t.Fatalf("boot of an entry naming no deployment: %v", err)
	}
}
