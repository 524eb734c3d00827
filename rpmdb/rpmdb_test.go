package rpmdb

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root: rpm --root chroots")
	}
}

// buildRPMs builds the test packages once per test.
func buildRPMs(t *testing.T, pkgs []fixture.Package) map[string]string {
	t.Helper()
	files, err := fixture.BuildPackages(context.Background(), t.TempDir(), pkgs)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func simplePkg(name, version, release, file string) fixture.Package {
	return fixture.Package{
		Name: name, Version: version, Release: release,
		Install: "mkdir -p %{buildroot}/usr/share/" + name + "\necho " + version + " > %{buildroot}/usr/share/" + name + "/" + file,
		Files:   "/usr/share/" + name + "/" + file + "\n",
	}
}

// rpmQA is the independent check: rpm itself, on the tree's dbpath.
func rpmQA(t *testing.T, root string) []string {
	t.Helper()
	out, err := exec.Command("rpm", "-qa", "--dbpath", filepath.Join(root, Dir), "--qf", "%{NEVRA}\n").Output()
	if err != nil {
		t.Fatalf("rpm -qa: %v", err)
	}
	lines := strings.Fields(string(out))
	// The check itself leaves rpm's files behind; drop them so the next
	// assertion on the directory sees only what the package wrote.
	if err := cleanLeftovers(filepath.Join(root, Dir)); err != nil {
		t.Fatal(err)
	}
	return sorted(lines)
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func nevras(pkgs []Package) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = p.NEVRA()
	}
	return out
}

func TestAddListRemove(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	files := buildRPMs(t, []fixture.Package{
		simplePkg("alpha", "1.0", "1", "a"),
		simplePkg("beta", "2.0~rc1", "3", "b"),
		simplePkg("gamma", "0.5", "1", "g"),
	})
	root := t.TempDir()
	// A base built the way the fixture and rpm-ostree composes do: a real
	// install with --justdb into usr/share/rpm.
	base := []string{files["alpha-1.0-1.noarch.rpm"], files["beta-2.0~rc1-3.noarch.rpm"]}
	args := append([]string{"--root=" + root, "--dbpath=/" + Dir, "-i", "--justdb", "--nodeps", "--noscripts"}, base...)
	if out, err := exec.Command("rpm", args...).CombinedOutput(); err != nil {
		t.Fatalf("rpm -i: %v\n%s", err, out)
	}
	cleanLeftovers(filepath.Join(root, Dir))

	got, err := List(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "alpha", Version: "1.0", Release: "1", Arch: "noarch"},
		{Name: "beta", Version: "2.0~rc1", Release: "3", Arch: "noarch"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %+v, want %+v", got, want)
	}
	// List must not leave anything in the tree.
	ents, _ := os.ReadDir(filepath.Join(root, Dir))
	if len(ents) != 1 || ents[0].Name() != "rpmdb.sqlite" {
		t.Errorf("rpmdb dir after List holds %v, want only rpmdb.sqlite", ents)
	}

	if err := Add(ctx, root, []string{files["gamma-0.5-1.noarch.rpm"]}); err != nil {
		t.Fatal(err)
	}
	got, err = List(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	wantNEVRA := []string{"alpha-1.0-1.noarch", "beta-2.0~rc1-3.noarch", "gamma-0.5-1.noarch"}
	if !reflect.DeepEqual(nevras(got), wantNEVRA) {
		t.Errorf("after Add, List = %v, want %v", nevras(got), wantNEVRA)
	}
	if qa := rpmQA(t, root); !reflect.DeepEqual(qa, wantNEVRA) {
		t.Errorf("after Add, rpm -qa = %v, want %v", qa, wantNEVRA)
	}
	// Header only: no file of the package was unpacked.
	if _, err := os.Stat(filepath.Join(root, "usr/share/gamma")); !os.IsNotExist(err) {
		t.Errorf("Add unpacked files: stat = %v", err)
	}
	ents, _ = os.ReadDir(filepath.Join(root, Dir))
	if len(ents) != 1 {
		t.Errorf("rpmdb dir after Add holds %v, want only rpmdb.sqlite", ents)
	}

	// Adding an installed NEVRA again fails and changes nothing.
	if err := Add(ctx, root, []string{files["gamma-0.5-1.noarch.rpm"]}); err == nil || !strings.Contains(err.Error(), "already installed") {
		t.Errorf("re-Add error = %v, want rpm's 'already installed'", err)
	}

	if err := Remove(ctx, root, []string{"beta-2.0~rc1-3.noarch", "alpha-1.0-1.noarch"}); err != nil {
		t.Fatal(err)
	}
	if qa := rpmQA(t, root); !reflect.DeepEqual(qa, []string{"gamma-0.5-1.noarch"}) {
		t.Errorf("after Remove, rpm -qa = %v", qa)
	}
	got, err = List(ctx, root)
	if err != nil || !reflect.DeepEqual(nevras(got), []string{"gamma-0.5-1.noarch"}) {
		t.Errorf("after Remove, List = %v, %v", got, err)
	}
	if err := Remove(ctx, root, []string{"alpha-1.0-1.noarch"}); err == nil || !strings.Contains(err.Error(), "alpha") {
		t.Errorf("Remove of a missing package error = %v, want one naming it", err)
	}

	// File conflicts with installed packages are still detected.
	if err := Add(ctx, root, []string{files["alpha-1.0-1.noarch.rpm"]}); err != nil {
		t.Fatal(err)
	}
	// A package owning alpha's file with other content.
	conflict := buildRPMs(t, []fixture.Package{{
		Name: "alpha-dup", Version: "1", Install: "mkdir -p %{buildroot}/usr/share/alpha\necho other > %{buildroot}/usr/share/alpha/a",
		Files: "/usr/share/alpha/a\n",
	}})
	if err := Add(ctx, root, []string{conflict["alpha-dup-1-1.noarch.rpm"]}); err == nil || !strings.Contains(err.Error(), "conflicts") {
		t.Errorf("conflicting Add error = %v, want rpm's file conflict", err)
	}
	if qa := rpmQA(t, root); !reflect.DeepEqual(qa, []string{"alpha-1.0-1.noarch", "gamma-0.5-1.noarch"}) {
		t.Errorf("after failed Add, rpm -qa = %v", qa)
	}
}

func TestAddCreatesDB(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	files := buildRPMs(t, []fixture.Package{simplePkg("solo", "1", "1", "s")})
	root := t.TempDir()
	if err := Add(ctx, root, []string{files["solo-1-1.noarch.rpm"]}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, Dir, "rpmdb.sqlite")); err != nil {
		t.Errorf("no sqlite rpmdb created: %v", err)
	}
	got, err := List(ctx, root)
	if err != nil || len(got) != 1 || got[0].NEVRA() != "solo-1-1.noarch" {
		t.Errorf("List = %v, %v", got, err)
	}
	if _, err := List(ctx, t.TempDir()); err == nil {
		t.Error("List of a tree without an rpmdb succeeded")
	}
}

// TestAddUnsharesHardlinks: a tree checked out from a bare repo shares the
// database file with a repo object; writing must not change the other link.
func TestAddUnsharesHardlinks(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	files := buildRPMs(t, []fixture.Package{simplePkg("one", "1", "1", "o"), simplePkg("two", "1", "1", "t")})
	root := t.TempDir()
	if err := Add(ctx, root, []string{files["one-1-1.noarch.rpm"]}); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(root, Dir, "rpmdb.sqlite")
	object := filepath.Join(t.TempDir(), "object")
	if err := os.Link(db, object); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(object)
	if err := Add(ctx, root, []string{files["two-1-1.noarch.rpm"]}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(object)
	if string(before) != string(after) {
		t.Error("Add wrote through a hardlink into the shared file")
	}
	if got, _ := List(ctx, root); len(got) != 2 {
		t.Errorf("List after Add = %v, want 2 packages", got)
	}
}

func TestParseQuery(t *testing.T) {
	out := "zeta\t0\t1\t1\tx86_64\ngpg-pubkey\t0\tabc\tdef\t(none)\nalpha\t3\t2.0\t1.fc40\tnoarch\n"
	got, err := parseQuery([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "alpha", Epoch: 3, Version: "2.0", Release: "1.fc40", Arch: "noarch"},
		{Name: "zeta", Version: "1", Release: "1", Arch: "x86_64"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseQuery = %+v, want %+v", got, want)
	}
	if got[0].NEVRA() != "alpha-3:2.0-1.fc40.noarch" || got[1].EVR() != "1-1" {
		t.Errorf("NEVRA/EVR = %q %q", got[0].NEVRA(), got[1].EVR())
	}
	for _, bad := range []string{"a\tb\n", "a\tx\t1\t1\tnoarch\n"} {
		if _, err := parseQuery([]byte(bad)); err == nil {
			t.Errorf("parseQuery(%q) succeeded", bad)
		}
	}
}

// TestFilesAndOwner asks the rpmdb which files a package has and who owns
// a path, as layering does for removed base packages and conflict messages.
func TestFilesAndOwner(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	files := buildRPMs(t, []fixture.Package{simplePkg("alpha", "1.0", "1", "a")})
	root := t.TempDir()
	if err := Add(ctx, root, []string{files["alpha-1.0-1.noarch.rpm"]}); err != nil {
		t.Fatal(err)
	}
	got, err := Files(ctx, root, "alpha-1.0-1.noarch")
	if err != nil || !reflect.DeepEqual(got, []string{"/usr/share/alpha/a"}) {
		t.Errorf("Files = %q, %v", got, err)
	}
	if _, err := Files(ctx, root, "nosuch-1-1.noarch"); err == nil {
		t.Error("Files of a package that is not installed succeeded")
	}
	owner, err := Owner(ctx, root, "/usr/share/alpha/a")
	if err != nil || owner.NEVRA() != "alpha-1.0-1.noarch" {
		t.Errorf("Owner = %v, %v", owner, err)
	}
	if _, err := Owner(ctx, root, "/usr/share/nobody"); err == nil {
		t.Error("Owner of an unowned path succeeded")
	}
	cleanLeftovers(filepath.Join(root, Dir))
}

// sqlite runs one statement with sqlite's CLI (the test's independent view
// of the database file).
func sqlite(t *testing.T, db string, args ...string) string {
	t.Helper()
	out, err := exec.Command("sqlite3", append([]string{"-batch", db}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s %q: %v\n%s", db, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestSealCheckpointsAndLeavesWALMode: what a write-ahead log holds ends up
// in rpmdb.sqlite, no side file is left, and the sealed database reads from
// a read-only mount without creating anything.
func TestSealCheckpointsAndLeavesWALMode(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	files := buildRPMs(t, []fixture.Package{simplePkg("solo", "1", "1", "s")})
	root := t.TempDir()
	if err := Add(ctx, root, []string{files["solo-1-1.noarch.rpm"]}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, Dir)
	db := filepath.Join(dir, "rpmdb.sqlite")
	if mode := sqlite(t, db, "PRAGMA journal_mode;"); mode != "delete" {
		t.Errorf("journal mode after Add = %q, want delete", mode)
	}
	// A base as rpm leaves it, with a log that still holds a transaction:
	// back to WAL mode, and no checkpoint when the connection closes.
	sqlite(t, db, "-cmd", ".dbconfig no_ckpt_on_close on", "PRAGMA journal_mode=WAL; CREATE TABLE probe(x); INSERT INTO probe VALUES(42);")
	if fi, err := os.Stat(filepath.Join(dir, "rpmdb.sqlite-wal")); err != nil || fi.Size() == 0 {
		t.Fatalf("the test could not leave a non-empty log (%v), so it proves nothing", err)
	}
	if err := Seal(ctx, root); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "rpmdb.sqlite" {
		t.Errorf("rpmdb dir after Seal holds %v, want only rpmdb.sqlite", ents)
	}
	if got := sqlite(t, db, "SELECT x FROM probe;"); got != "42" {
		t.Errorf("the log's row after Seal = %q, want 42: the checkpoint lost it", got)
	}
	cleanLeftovers(dir)
	out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount --bind -o ro "$1" "$1" && rpm -qa --dbpath "$1"`, "sh", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "solo-1-1.noarch") {
		t.Errorf("rpm -qa on a read-only mount of the sealed rpmdb: %v\n%s", err, out)
	}
	// Seal of a tree whose rpmdb is hardlinked (a checkout) leaves the
	// other link alone, though it rewrites the database (back from WAL).
	sqlite(t, db, "PRAGMA journal_mode=WAL;")
	object := filepath.Join(t.TempDir(), "object")
	if err := os.Link(db, object); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(object)
	if err := Seal(ctx, root); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(object); string(before) != string(after) {
		t.Error("Seal wrote through a hardlink")
	}
	if mode := sqlite(t, db, "PRAGMA journal_mode;"); mode != "delete" {
		t.Errorf("journal mode after the second Seal = %q, want delete", mode)
	}
}
