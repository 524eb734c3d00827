package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// The image benchmarks' sizes and targets (issue 12, "Performance").
const (
	imageFiles = 20000 // non-directory entries of the whole image
	// appFiles are in the top layer, the one the upgrade changes: random
	// bytes (1-8 KiB each), so the layer is as big compressed as it is
	// plain, as a layer of binaries is.
	appFiles = 400

	imageRepo          = "bench/os"
	rebaseTarget       = 1.00
	upgradeBytesTarget = 1.05
	upgradeTimeTarget  = 1.30
)

// imageEnv is the world of measurements 4 and 5: an OS image in two tags
// that differ in their top layer, in a loopback docker-registry behind a
// counting proxy, the containers configuration stratad reads, and a bus.
type imageEnv struct {
	cfg   config
	dir   string
	out   io.Writer
	reg   *fixture.Registry
	proxy *countingProxy
	bus   *fixture.Bus
	// croot is stratad's --containers-root: etc/containers/registries.conf
	// there marks the proxy insecure (plain HTTP).
	croot string
	// v1, v2 are the manifest digests of the tags; stable is the tag hosts
	// follow, moved from v1 to v2 to make an upgrade.
	v1, v2 string
	// expected is what an upgrade from v1 to v2 has to read at least: the
	// v2 manifest, its config and the layers v1 does not have.
	expected                          int64
	manifestSize, configSize, changed int64
}

func (e *imageEnv) close() {
	if e.proxy != nil {
		e.proxy.close()
	}
	if e.reg != nil {
		e.reg.Stop()
	}
	if e.bus != nil {
		e.bus.Stop()
	}
}

// stableRef is the image reference hosts are rebased to.
func (e *imageEnv) stableRef() string {
	return "ostree-unverified-registry:" + e.proxy.Addr + "/" + imageRepo + ":stable"
}

// setupImage builds the image (umoci), pushes its tags (skopeo) to a fresh
// registry and starts the proxy and the bus.
func setupImage(ctx context.Context, cfg config, dir string, out io.Writer) (*imageEnv, error) {
	e := &imageEnv{cfg: cfg, dir: dir, out: out}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	start := time.Now()
	built, err := fixture.BuildPackages(ctx, filepath.Join(dir, "rpmbuild"), []fixture.Package{benchKernel(), benchRelease()})
	if err != nil {
		return nil, err
	}
	var rpms []string
	for _, p := range built {
		rpms = append(rpms, p)
	}
	tree := filepath.Join(dir, "tree")
	if err := buildBaseTree(ctx, tree, rpms, imageFiles-appFiles, treeAreas); err != nil {
		return nil, fmt.Errorf("building the image tree: %w", err)
	}
	// A container build keeps /etc at the top; /usr/etc is what an import
	// makes of it.
	if err := os.Rename(filepath.Join(tree, "usr/etc"), filepath.Join(tree, "etc")); err != nil {
		return nil, err
	}
	layout := filepath.Join(dir, "layout")
	steps := [][]string{
		{"init", "--layout", layout},
		{"new", "--image", layout + ":base"},
		{"insert", "--image", layout + ":base", tree, "/"},
	}
	for _, v := range []string{"v1", "v2"} {
		app := filepath.Join(dir, "app-"+v)
		if err := writeApp(app, v); err != nil {
			return nil, err
		}
		steps = append(steps, []string{"tag", "--image", layout + ":base", v},
			[]string{"insert", "--image", layout + ":" + v, app, "/"})
	}
	for _, s := range steps {
		if err := runTool(ctx, "umoci", s...); err != nil {
			return nil, fmt.Errorf("building the image: %w", err)
		}
	}
	fmt.Fprintf(out, "  built the image (%d files; tags v1 and v2 differ in their top layer of %d files) in %s\n", imageFiles, appFiles, since(start))

	start = time.Now()
	regDir := filepath.Join(dir, "registry")
	if err := os.MkdirAll(regDir, 0o755); err != nil {
		return nil, err
	}
	if e.reg, err = fixture.StartRegistry(ctx, regDir); err != nil {
		return nil, err
	}
	if e.v1, err = e.reg.Push(ctx, layout+":v1", imageRepo+":v1"); err != nil {
		return nil, err
	}
	if e.v2, err = e.reg.Push(ctx, layout+":v2", imageRepo+":v2"); err != nil {
		return nil, err
	}
	if err := e.reg.Tag(ctx, imageRepo+":v1", imageRepo+":stable"); err != nil {
		return nil, err
	}
	if err := e.sizes(ctx); err != nil {
		return nil, err
	}
	if e.proxy, err = startCountingProxy(e.reg.Addr); err != nil {
		return nil, err
	}
	e.croot = filepath.Join(dir, "containers")
	conf := fmt.Sprintf("[[registry]]\nlocation = %q\ninsecure = true\n", e.proxy.Addr)
	if err := writeFile(filepath.Join(e.croot, "etc/containers/registries.conf"), conf, 0o644); err != nil {
		return nil, err
	}
	if e.bus, err = fixture.StartBus(ctx, filepath.Join(dir, "bus"), cfg.policies...); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  pushed v1 %.19s, v2 %.19s to docker-registry %s (proxy %s) in %s\n", e.v1, e.v2, e.reg.Addr, e.proxy.Addr, since(start))
	ok = true
	return e, nil
}

// writeApp writes the top layer's tree for version v: appFiles files of
// random bytes, different for each version, and a version file.
func writeApp(root, v string) error {
	seed := [32]byte{}
	copy(seed[:], v)
	rng := rand.New(rand.NewChaCha8(seed))
	for i := 0; i < appFiles; i++ {
		buf := make([]byte, 1024+rng.IntN(7*1024))
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		p := filepath.Join(root, "usr/lib/bench-app", fmt.Sprintf("mod%02d", i%20), fmt.Sprintf("part%04d.so", i))
		if err := writeFile(p, string(buf), 0o755); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(root, "usr/lib/bench-app/VERSION"), v+"\n", 0o644)
}

type manifest struct {
	Config struct {
		Size int64 `json:"size"`
	} `json:"config"`
	Layers []struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
	} `json:"layers"`
}

// sizes reads both manifests as the registry serves them and works out
// what an upgrade from v1 to v2 cannot avoid reading.
func (e *imageEnv) sizes(ctx context.Context) error {
	get := func(tag string) (manifest, int64, error) {
		var m manifest
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.reg.Addr+"/v2/"+imageRepo+"/manifests/"+tag, nil)
		if err != nil {
			return m, 0, err
		}
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return m, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return m, 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return m, 0, fmt.Errorf("manifest %s: %s", tag, resp.Status)
		}
		return m, int64(len(b)), json.Unmarshal(b, &m)
	}
	m1, _, err := get("v1")
	if err != nil {
		return err
	}
	m2, size2, err := get("v2")
	if err != nil {
		return err
	}
	had := map[string]bool{}
	for _, l := range m1.Layers {
		had[l.Digest] = true
	}
	n := 0
	for _, l := range m2.Layers {
		if !had[l.Digest] {
			e.changed += l.Size
			n++
		}
	}
	if n != 1 || len(m2.Layers) != len(m1.Layers) {
		return fmt.Errorf("v1 (%d layers) and v2 (%d layers) differ in %d layers, want 1", len(m1.Layers), len(m2.Layers), n)
	}
	e.manifestSize, e.configSize = size2, m2.Config.Size
	e.expected = e.changed + e.manifestSize + e.configSize
	return nil
}

// imageResult is the outcome of measurements 4 and 5.
type imageResult struct {
	naive, rebase    []time.Duration
	upgrade, deploy  []time.Duration
	bytes            []int64
	rebaseRatio      float64
	upgradeTimeRatio float64
	bytesRatio       float64
	requests         string // the proxy's summary of the last upgrade
}

// measureImage runs the pairs: the naive pipeline and strata rebase, each on
// a fresh demo host; then, on strata's host, an upgrade to v2 (bytes and
// time) and ostree admin deploy of its result.
func measureImage(ctx context.Context, e *imageEnv) (*imageResult, error) {
	res := &imageResult{}
	var rebaseRatios, upgradeRatios, bytesRatios []float64
	for i := 0; i < e.cfg.repeats; i++ {
		naive, parts, err := e.naivePipeline(ctx, filepath.Join(e.dir, fmt.Sprintf("naive%d", i)))
		if err != nil {
			return nil, fmt.Errorf("naive pipeline: %w", err)
		}
		p, err := e.strataPair(ctx, filepath.Join(e.dir, fmt.Sprintf("strata%d", i)))
		if err != nil {
			return nil, err
		}
		res.naive, res.rebase = append(res.naive, naive), append(res.rebase, p.rebase)
		res.upgrade, res.deploy = append(res.upgrade, p.upgrade), append(res.deploy, p.deploy)
		res.bytes = append(res.bytes, p.bytes)
		res.requests = p.requests
		rr := float64(p.rebase) / float64(naive)
		ur := float64(p.upgrade) / float64(p.deploy)
		br := float64(p.bytes) / float64(e.expected)
		rebaseRatios, upgradeRatios, bytesRatios = append(rebaseRatios, rr), append(upgradeRatios, ur), append(bytesRatios, br)
		fmt.Fprintf(e.out, "  pair %d: naive %s (%s), strata rebase %s: %.2f; strata upgrade %s, ostree admin deploy %s: %.2f; upgrade read %d bytes: %.3f\n",
			i+1, ms(naive), parts, ms(p.rebase), rr, ms(p.upgrade), ms(p.deploy), ur, p.bytes, br)
		if p.stages != "" {
			fmt.Fprintf(e.out, "    rebase stages: %s\n    upgrade stages: %s\n", p.stages, p.upgradeStages)
		}
	}
	res.rebaseRatio, res.upgradeTimeRatio, res.bytesRatio = median(rebaseRatios), median(upgradeRatios), median(bytesRatios)
	return res, nil
}

// naivePipeline is the baseline on a fresh demo host: copy the image out of
// the registry, unpack its merged root, commit it, deploy it.
func (e *imageEnv) naivePipeline(ctx context.Context, dir string) (time.Duration, string, error) {
	host, err := fixture.BuildHost(ctx, dir, fixture.Options{})
	if err != nil {
		return 0, "", err
	}
	defer func() { host.Close(); fixture.RemoveAll(dir) }()
	oci, rootfs := filepath.Join(dir, "oci"), filepath.Join(dir, "rootfs")
	repo := filepath.Join(host.Sysroot, "ostree/repo")
	steps := []struct {
		name string
		args []string
	}{
		{"skopeo", []string{"skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + e.proxy.Addr + "/" + imageRepo + ":stable", "oci:" + oci + ":stable"}},
		{"umoci", []string{"umoci", "raw", "unpack", "--image", oci + ":stable", rootfs}},
		{"commit", []string{"ostree", "commit", "--repo=" + repo, "--branch=bench/naive", "--subject=naive", "--tree=dir=" + rootfs}},
		{"deploy", []string{"ostree", "admin", "deploy", "--sysroot=" + host.Sysroot, "--os=" + fixture.OSName, "bench/naive"}},
	}
	settle()
	var total time.Duration
	var parts []string
	for _, s := range steps {
		start := time.Now()
		if err := runTool(ctx, s.args[0], s.args[1:]...); err != nil {
			return 0, "", err
		}
		if s.name == "umoci" {
			// ostree admin deploy wants the image's /etc at /usr/etc.
			if err := os.Rename(filepath.Join(rootfs, "etc"), filepath.Join(rootfs, "usr/etc")); err != nil {
				return 0, "", err
			}
		}
		d := time.Since(start)
		total += d
		parts = append(parts, s.name+" "+ms(d))
	}
	return total, strings.Join(parts, ", "), nil
}

type strataPairResult struct {
	rebase, upgrade, deploy time.Duration
	bytes                   int64
	requests                string
	stages, upgradeStages   string
}

// strataPair rebases a fresh demo host onto the stable tag with strata,
// then moves the tag to v2 and upgrades, counting the bytes read, and
// times ostree admin deploy of the upgrade's result.
func (e *imageEnv) strataPair(ctx context.Context, dir string) (*strataPairResult, error) {
	host, err := fixture.BuildHost(ctx, dir, fixture.Options{})
	if err != nil {
		return nil, err
	}
	defer func() { host.Close(); fixture.RemoveAll(dir) }()
	runDir, err := os.MkdirTemp("", "strata-bench-run-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(runDir)
	stages := &stageLog{}
	if e.cfg.verbose {
		stages.next = os.Stderr
	}
	daemon, err := fixture.StartDaemon(ctx, e.cfg.stratad, e.bus, host.Sysroot, runDir, stages, "--containers-root="+e.croot)
	if err != nil {
		return nil, err
	}
	defer daemon.Stop()
	cli := func(args ...string) (string, time.Duration, error) {
		start := time.Now()
		stdout, stderr, code, err := fixture.RunCLI(ctx, e.cfg.strata, e.bus, args...)
		d := time.Since(start)
		if err == nil && code != 0 {
			err = fmt.Errorf("exited %d: %s%s\n--- stratad log tail ---\n%s", code, stdout, stderr, tail(daemon.Log(), 30))
		}
		if err != nil {
			return stdout, d, fmt.Errorf("strata %s: %w", strings.Join(args, " "), err)
		}
		return stdout, d, nil
	}
	res := &strataPairResult{}

	settle()
	mark := stages.mark()
	if _, res.rebase, err = cli("rebase", e.stableRef()); err != nil {
		return nil, err
	}
	res.stages = formatStages(stages.stagesSince(mark))
	if _, err := e.expectImage(cli, e.v1); err != nil {
		return nil, fmt.Errorf("after rebase: %w", err)
	}

	// The upgrade: the tag the host follows moves to v2.
	if err := e.reg.Tag(ctx, imageRepo+":v2", imageRepo+":stable"); err != nil {
		return nil, err
	}
	defer e.reg.Tag(ctx, imageRepo+":v1", imageRepo+":stable")
	settle()
	e.proxy.reset()
	mark = stages.mark()
	if _, res.upgrade, err = cli("upgrade"); err != nil {
		return nil, err
	}
	res.bytes, res.requests = e.proxy.total(), e.proxy.summary()
	commit, err := e.expectImage(cli, e.v2)
	if err != nil {
		return nil, fmt.Errorf("after upgrade: %w", err)
	}
	res.upgradeStages = formatStages(stages.stagesSince(mark))
	settle()
	start := time.Now()
	if err := runTool(ctx, "ostree", "admin", "deploy", "--sysroot="+host.Sysroot, "--os="+fixture.OSName, commit); err != nil {
		return nil, err
	}
	res.deploy = time.Since(start)
	return res, nil
}

// expectImage checks that the default deployment follows the stable tag at
// digest and returns its commit.
func (e *imageEnv) expectImage(cli func(...string) (string, time.Duration, error), digest string) (string, error) {
	out, _, err := cli("status", "--json")
	if err != nil {
		return "", err
	}
	var s struct {
		Deployments []struct {
			Checksum string `json:"checksum"`
			Ref      string `json:"container-image-reference"`
			Digest   string `json:"container-image-reference-digest"`
		} `json:"deployments"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || len(s.Deployments) == 0 {
		return "", fmt.Errorf("strata status --json: %v:\n%s", err, out)
	}
	d := s.Deployments[0]
	if !strings.HasSuffix(d.Ref, imageRepo+":stable") || d.Digest != digest {
		return "", fmt.Errorf("default deployment follows %q at %q, want %s at %s", d.Ref, d.Digest, e.stableRef(), digest)
	}
	return d.Checksum, nil
}

// runImage makes measurements 4 and 5 and returns their summary lines.
func runImage(ctx context.Context, cfg config, dir string, out io.Writer) ([]string, error) {
	fmt.Fprintf(out, "4. rebase onto a %d-file image from a loopback registry, and 5. upgrade to a tag that differs in one layer\n", imageFiles)
	e, err := setupImage(ctx, cfg, dir, out)
	if err != nil {
		return nil, fmt.Errorf("setting up the image benchmark: %w", err)
	}
	defer e.close()
	r, err := measureImage(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	lines := []string{
		fmt.Sprintf("rebase strata/naive ratio: %.2f (target ≤ %.2f) %s", r.rebaseRatio, rebaseTarget, verdict(r.rebaseRatio <= rebaseTarget)),
		fmt.Sprintf("upgrade bytes read/needed ratio: %.3f (target ≤ %.2f) %s", r.bytesRatio, upgradeBytesTarget, verdict(r.bytesRatio <= upgradeBytesTarget)),
		fmt.Sprintf("upgrade/deploy ratio: %.2f (target ≤ %.2f) %s", r.upgradeTimeRatio, upgradeTimeTarget, verdict(r.upgradeTimeRatio <= upgradeTimeTarget)),
	}
	fmt.Fprintf(out, "  median: naive pipeline %s, strata rebase %s, strata upgrade %s, ostree admin deploy %s\n",
		ms(medianDur(r.naive)), ms(medianDur(r.rebase)), ms(medianDur(r.upgrade)), ms(medianDur(r.deploy)))
	fmt.Fprintf(out, "  needed by the upgrade: changed layer %d + manifest %d + config %d = %d bytes; the last upgrade read:\n%s",
		e.changed, e.manifestSize, e.configSize, e.expected, r.requests)
	for _, l := range lines {
		fmt.Fprintf(out, "  %s\n", l)
	}
	fmt.Fprintln(out)
	return lines, nil
}
