// Command strata-compose builds artifacts from OSTree commits; `strata
// compose` runs it. It links libostree and containers/image, which the
// strata CLI must not, and talks to no daemon: it works on a repository
// directly, as rpm-ostree's compose commands do.
//
//	strata-compose container-encapsulate [--repo=R] [--max-layers=N] [--label K=V]... REF IMAGE-REF
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/ostree"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "usage: strata-compose container-encapsulate [--repo=R] [--max-layers=N] [--label K=V]... REF IMAGE-REF")
		return exitUsage
	}
	switch argv[0] {
	case "container-encapsulate":
		return encapsulate(ctx, argv[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "error: unknown compose command %q (strata composes: container-encapsulate)\n", argv[0])
	return exitUsage
}

// labels collects repeated --label K=V options.
type labels map[string]string

func (l labels) String() string { return "" }

func (l labels) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("a label is written KEY=VALUE, not %q", s)
	}
	l[k] = v
	return nil
}

func encapsulate(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("container-encapsulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	repoPath := fs.String("repo", "/ostree/repo", "OSTree repository holding REF")
	maxLayers := fs.Int("max-layers", image.DefaultMaxLayers, "use at most N layers")
	lbls := labels{}
	fs.Var(lbls, "label", "add a label KEY=VALUE to the image config (repeatable)")
	fs.Var(lbls, "l", "same as --label")
	if err := fs.Parse(argv); err != nil {
		return exitUsage
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "error: REF and IMAGE-REF must be specified")
		return exitUsage
	}
	dest, err := parseDest(fs.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	repo, err := ostree.OpenRepo(*repoPath)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitFailure
	}
	defer repo.Close()
	// The host's container configuration, with the override skopeo and
	// podman honour too.
	cfg := image.Config{RegistriesConf: os.Getenv("CONTAINERS_REGISTRIES_CONF")}
	res, err := image.Encapsulate(ctx, repo, fs.Arg(0), dest, image.EncapsulateOptions{MaxLayers: *maxLayers, Labels: lbls, Config: cfg})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "error: interrupted")
		} else {
			fmt.Fprintf(stderr, "error: %v\n", err)
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "Wrote commit %s to %s (%d layers)\nPushed digest: %s\n", res.Commit, dest.ImageRef(), len(res.Layers), res.ManifestDigest)
	return exitOK
}

// parseDest reads IMAGE-REF as rpm-ostree does: a containers transport
// reference (docker://, oci:, oci-archive:), registry:HOST/REPO, or a full
// ostree image reference.
func parseDest(s string) (image.Reference, error) {
	switch {
	case image.IsImageReference(s):
		return image.ParseReference(s)
	case strings.HasPrefix(s, "registry:"):
		return image.ParseReference("ostree-unverified-registry:" + strings.TrimPrefix(s, "registry:"))
	}
	return image.ParseReference("ostree-unverified-image:" + s)
}
