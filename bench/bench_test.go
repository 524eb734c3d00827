package main

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-os/strata/internal/solv"
)

// TestSynthRepoChecksumsAndResolution checks the generated repodata the way
// dnf does (repomd.xml's checksums and sizes) and that libsolv resolves the
// benchmark's request to the chain it is meant to walk.
func TestSynthRepoChecksumsAndResolution(t *testing.T) {
	dir := t.TempDir()
	primary, filelists, err := writeSynthRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Data []struct {
			Type     string `xml:"type,attr"`
			Checksum string `xml:"checksum"`
			Open     string `xml:"open-checksum"`
			Location struct {
				Href string `xml:"href,attr"`
			} `xml:"location"`
			Size     int64 `xml:"size"`
			OpenSize int64 `xml:"open-size"`
		} `xml:"data"`
	}
	if err := xml.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	if len(md.Data) != 2 {
		t.Fatalf("repomd.xml lists %d data entries, want primary and filelists", len(md.Data))
	}
	for _, d := range md.Data {
		raw, err := os.ReadFile(filepath.Join(dir, d.Location.Href))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		if got := hex.EncodeToString(sum[:]); got != d.Checksum || int64(len(raw)) != d.Size {
			t.Errorf("%s: sha256 %s size %d, repomd.xml says %s %d", d.Type, got, len(raw), d.Checksum, d.Size)
		}
		zr, err := gzip.NewReader(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, zr)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != d.Open || n != d.OpenSize {
			t.Errorf("%s: open sha256 %s size %d, repomd.xml says %s %d", d.Type, got, n, d.Open, d.OpenSize)
		}
	}

	pool, err := solv.NewPool("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.AddRepoMD("synth", primary, filelists, 99); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Solve(solv.Request{Install: []string{synthName(synthTarget)}})
	if err != nil {
		t.Fatal(err)
	}
	owner := synthProgramOwner(synthTarget)
	want := synthChain + owner%synthChain + 1
	if len(tx.Install) != want {
		t.Errorf("installing %s pulls %d packages, want %d (its chain and %s's)", synthName(synthTarget), len(tx.Install), want, synthName(owner))
	}
}

func TestStagesSince(t *testing.T) {
	s := &stageLog{}
	t0 := time.Now()
	lines := []struct {
		after time.Duration
		text  string
	}{
		{0, `time="x" level=info msg="transaction started" txn="install a"`},
		{10 * time.Millisecond, `time="x" level=info msg="Resolving dependencies" txn="install a"`},
		{15 * time.Millisecond, `time="x" level=info msg="Packages to layer: 1\n  a-1-1.noarch" txn="install a"`},
		{15 * time.Millisecond, `time="x" level=info msg="packages imported" imported=1 reused=0`},
		{40 * time.Millisecond, `time="x" level=info msg="Writing deployment" txn="install a"`},
		{140 * time.Millisecond, `time="x" level=info msg="transaction succeeded" txn="install a"`},
	}
	for _, l := range lines {
		s.lines = append(s.lines, stampedLine{t0.Add(l.after), l.text})
	}
	got := formatStages(s.stagesSince(0))
	want := "start 10ms, Resolving dependencies 30ms, Writing deployment 100ms"
	if got != want {
		t.Errorf("stagesSince = %q, want %q", got, want)
	}
}

func TestMedianStages(t *testing.T) {
	runs := [][]stageTime{
		{{"start", 10 * time.Millisecond}, {"Importing 1 package(s)", 20 * time.Millisecond}, {"Installing bench-pkg1", 5 * time.Millisecond}},
		{{"start", 30 * time.Millisecond}, {"Importing 1 package(s)", 40 * time.Millisecond}, {"Installing bench-pkg2", 15 * time.Millisecond}},
		{{"start", 20 * time.Millisecond}, {"Importing 1 package(s)", 30 * time.Millisecond}, {"Installing bench-pkg3", 10 * time.Millisecond}},
	}
	whole := []time.Duration{100 * time.Millisecond, 120 * time.Millisecond, 110 * time.Millisecond}
	got := medianStages(runs, whole)
	want := "start 20ms, Importing N package(s) 30ms, Installing PKG 10ms, outside the transaction (CLI, bus, setup) 50ms"
	if got != want {
		t.Errorf("medianStages = %q, want %q", got, want)
	}
}

func TestSlope(t *testing.T) {
	xs := []float64{50, 100, 150, 200}
	if got := slope(xs, []float64{1, 2, 3, 4}); got < 0.0199 || got > 0.0201 {
		t.Errorf("slope of a line rising 1 per 50 = %v, want 0.02", got)
	}
	if got := slope(xs, []float64{7, 7, 7, 7}); got != 0 {
		t.Errorf("slope of a flat line = %v, want 0", got)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
