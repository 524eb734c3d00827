package layering

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cavaliergopher/rpm"

	"github.com/strata-os/strata/internal/ostree"
)

// RPM header tags of the install-time scriptlets and their interpreters.
const (
	tagPrein         = 1023
	tagPostin        = 1024
	tagPreinProg     = 1085
	tagPostinProg    = 1086
	tagPosttrans     = 1152
	tagPosttransProg = 1154
)

// scriptlet is one install-time script of one package.
type scriptlet struct {
	nevra, phase string
	prog         []string // interpreter and its arguments
	body         string
}

// phases in the order rpm runs them for a fresh install.
var phases = []struct {
	name          string
	body, program int
}{
	{"%pre", tagPrein, tagPreinProg},
	{"%post", tagPostin, tagPostinProg},
	{"%posttrans", tagPosttrans, tagPosttransProg},
}

// scriptletsOf reads the install-time scriptlets of the package files, ordered
// by phase (every %pre, then every %post, then every %posttrans).
func scriptletsOf(pkgs []fetched) ([]scriptlet, error) {
	var out []scriptlet
	for _, phase := range phases {
		for _, f := range pkgs {
			h, err := openHeader(f.path)
			if err != nil {
				return nil, fmt.Errorf("reading scriptlets of %s: %w", f.pkg.NEVRA(), err)
			}
			body := ""
			if t := h.Header.GetTag(phase.body); t != nil {
				body = t.String()
			}
			var prog []string
			if t := h.Header.GetTag(phase.program); t != nil {
				prog = t.StringSlice()
				if len(prog) == 0 && t.String() != "" {
					prog = []string{t.String()}
				}
			}
			if body == "" && len(prog) == 0 {
				continue
			}
			if len(prog) == 0 {
				prog = []string{"/bin/sh"}
			}
			out = append(out, scriptlet{nevra: f.pkg.NEVRA(), phase: phase.name, prog: prog, body: body})
		}
	}
	return out, nil
}

// openHeader reads a package with cavaliergopher/rpm, which indexes header
// arrays without bounds checks: a header our own importer accepted could still
// make it panic, and a panic must not take the daemon down.
func openHeader(path string) (pkg *rpm.Package, err error) {
	defer func() {
		if r := recover(); r != nil {
			pkg, err = nil, fmt.Errorf("unreadable RPM header: %v", r)
		}
	}()
	return rpm.Open(path)
}

// scriptletsStage runs the layered packages' install scriptlets, when they
// have any, and recomposes the commit with the /etc they produced.
func (c *Composer) scriptletsStage(ctx context.Context, cs *composition) error {
	scripts, err := scriptletsOf(cs.rpms)
	if err != nil {
		return err
	}
	if len(scripts) == 0 {
		return nil
	}
	commit, err := c.withScriptlets(ctx, cs.work, cs.res.Commit, cs.spec, scripts, cs.p)
	if err != nil {
		return err
	}
	cs.res.Commit = commit
	return nil
}

// withScriptlets runs the scriptlets on an overlay of a checkout of the
// composed commit (see scriptRoot) and recomposes the commit with what they
// wrote: /etc, and anything they created, changed or deleted elsewhere in the
// tree. Only compositions with scriptlets pay for the checkout; it is
// hardlinked, and the overlay keeps the repo's objects from being written.
func (c *Composer) withScriptlets(ctx context.Context, work, commit string, spec ostree.ComposeSpec, scripts []scriptlet, p Progress) (string, error) {
	p.TaskBegin("Running scriptlets")
	tree := filepath.Join(work, "tree")
	if err := c.Repo.Checkout(ctx, commit, tree); err != nil {
		return "", fmt.Errorf("checking out for scriptlets: %w", err)
	}
	root, err := newScriptRoot(filepath.Join(work, "scriptlets"), tree)
	if err != nil {
		return "", err
	}
	etc := filepath.Join(spec.Overlay, "usr/etc")
	if out, err := exec.CommandContext(ctx, "cp", "-a", filepath.Join(tree, "usr/etc"), etc).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying /etc for scriptlets: %v: %s", err, out)
	}
	if err := runScriptlets(ctx, root, etc, scripts, p); err != nil {
		return "", err
	}
	remove, err := root.collect(spec.Overlay)
	if err != nil {
		return "", err
	}
	p.TaskEnd("done")
	// On top of the composed commit (the scriptlets saw that tree): their
	// deletions first, then the overlay with the rpmdb, /etc and their files.
	spec.Base, spec.Layers, spec.Remove = commit, nil, remove
	return c.Repo.Compose(ctx, spec)
}

// runScriptlets runs each scriptlet in bubblewrap (see sandboxArgs). The
// first failing scriptlet fails the composition. When all have run, the tree
// must still be able to run /usr/bin/true: a scriptlet that wrecked it (an
// `rm -rf /`, say) must not become the next deployment.
func runScriptlets(ctx context.Context, root *scriptRoot, etcDir string, scripts []scriptlet, p Progress) error {
	for _, s := range scripts {
		p.Message(fmt.Sprintf("Running %s scriptlet of %s", s.phase, s.nevra))
		interp := s.prog[0]
		if s.body != "" && (filepath.Base(interp) == "lua" || interp == "<lua>") {
			// rpm-ostree's words, which its tests match.
			return fmt.Errorf("unsupported <lua> script in '%s' for %s: strata cannot run Lua scriptlets", s.phase, s.nevra)
		}
		if _, err := os.Lstat(filepath.Join(root.lower, interp)); err != nil {
			return fmt.Errorf("%s scriptlet of %s needs %s, which the tree does not have", s.phase, s.nevra, interp)
		}
		args := append(sandboxArgs(root, etcDir), s.prog...)
		if s.body != "" {
			args = append(args, "-c", s.body, s.nevra)
		}
		args = append(args, "1") // rpm passes the number of installed instances
		cmd := root.command(ctx, "bwrap", args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(out.String())
			if msg != "" {
				// The whole output goes to the transaction's messages,
				// which the daemon logs; the error keeps its last line.
				p.Message(fmt.Sprintf("%s scriptlet of %s said:\n%s", s.phase, s.nevra, msg))
				msg = ": " + lastLine(msg)
			}
			// rpm-ostree's pointer to the full output, which scripts match.
			return fmt.Errorf("%s scriptlet of %s failed (%v)%s; run `journalctl -u stratad` for more information", s.phase, s.nevra, err, msg)
		}
		if text := strings.TrimSpace(out.String()); text != "" {
			p.Message(text)
		}
	}
	if _, err := os.Stat(filepath.Join(root.lower, "usr/bin/true")); err != nil {
		return nil // a tree without true (a minimal test tree) has nothing to check with
	}
	cmd := root.command(ctx, "bwrap", append(sandboxArgs(root, etcDir), "/usr/bin/true")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		// "sanitycheck: Executing bwrap(/usr/bin/true)" is rpm-ostree's
		// wording, which its tests match.
		return fmt.Errorf("sanitycheck: Executing bwrap(/usr/bin/true) in the tree the scriptlets left failed (%v): %s; a scriptlet damaged the tree, nothing was deployed", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sandboxArgs are bwrap's options for a scriptlet: the overlay root as /
// (writable; see scriptRoot), etcDir as a writable /etc, a throw-away /var,
// /tmp and /run (never the host's), no network, and no CAP_SYS_ADMIN, so a
// scriptlet cannot mount its way out. SYSTEMD_OFFLINE tells systemctl and
// friends that no systemd is running, as rpm-ostree does.
func sandboxArgs(root *scriptRoot, etcDir string) []string {
	return []string{
		"--bind", root.merged, "/",
		"--bind", etcDir, "/etc",
		"--tmpfs", "/var", "--tmpfs", "/tmp", "--tmpfs", "/run",
		"--proc", "/proc", "--dev", "/dev",
		"--unshare-all", "--die-with-parent", "--new-session",
		"--cap-drop", "CAP_SYS_ADMIN",
		"--chdir", "/",
		"--clearenv", "--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin",
		"--setenv", "RPM_INSTALL_PREFIX", "/usr",
		"--setenv", "SYSTEMD_OFFLINE", "1",
		"--",
	}
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
