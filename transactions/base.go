package transactions

import (
	"context"
	"fmt"
	"strings"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/origin"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/rpmdb"
)

// baseSource is where a deployment's base comes from, as its origin names
// it: an OSTree refspec (ostreeBase) or a container image (imageBase).
// Upgrade, rebase, deploy, the update check and the cached update ask it
// for the newest base; everything after that (layering, deployment
// writing, rollback) is the same for both.
type baseSource interface {
	// String is the origin's name for it: "remote:ref" or the image
	// reference.
	String() string
	// fetchHead brings the newest base into the repo and returns its
	// commit; with cacheOnly it only looks in the repo.
	fetchHead(ctx context.Context, s Sysroot, cacheOnly bool, p Progress) (string, error)
	// fetchRevision brings a given revision ("<checksum>", "revision=…",
	// "version=…") into the repo and returns its commit.
	fetchRevision(ctx context.Context, s Sysroot, revision string, cacheOnly, skipBranchCheck bool, p Progress) (string, error)
	// checkUpdate fetches enough of the newest base for the cached update
	// to be described and its packages listed.
	checkUpdate(ctx context.Context, s Sysroot, p Progress) error
	// head is the newest base the repo already has, "" if none.
	head(repo Repo) string
}

// baseSourceOf is the base source an origin follows.
func baseSourceOf(o *origin.Origin) (baseSource, error) {
	if ref := o.ImageReference(); ref != "" {
		parsed, err := image.ParseReference(ref)
		if err != nil {
			return nil, fmt.Errorf("origin's container-image-reference: %w", err)
		}
		return imageBase{ref: parsed}, nil
	}
	return ostreeBase{refspec: o.Refspec()}, nil
}

// ostreeBase is a base followed as an OSTree refspec ("remote:ref", or a
// local "ref" with nothing to fetch).
type ostreeBase struct{ refspec string }

func (b ostreeBase) String() string { return b.refspec }

func (b ostreeBase) fetchHead(ctx context.Context, s Sysroot, cacheOnly bool, p Progress) (string, error) {
	return fetchHead(ctx, s.Repo(), b.refspec, cacheOnly, p)
}

func (b ostreeBase) fetchRevision(ctx context.Context, s Sysroot, revision string, cacheOnly, skipBranchCheck bool, p Progress) (string, error) {
	return fetchRevision(ctx, s.Repo(), b.refspec, revision, cacheOnly, skipBranchCheck, p)
}

func (b ostreeBase) checkUpdate(ctx context.Context, s Sysroot, p Progress) error {
	// The update's rpmdb comes along so its package diff can be shown
	// without downloading the whole tree.
	return fetch(ctx, s.Repo(), b.refspec, ostree.PullOptions{Subdirs: []string{"/" + rpmdb.Dir}}, p)
}

func (b ostreeBase) head(repo Repo) string {
	head, _ := repo.ResolveRev(b.refspec, true)
	return head
}

// imageBase is a base followed as a container image: its layers are pulled
// into the repo (each once) and merged into one commit on the image's ref.
type imageBase struct{ ref image.Reference }

func (b imageBase) String() string { return b.ref.String() }

func (b imageBase) fetchHead(ctx context.Context, s Sysroot, cacheOnly bool, p Progress) (string, error) {
	if cacheOnly {
		if head := b.head(s.Repo()); head != "" {
			return head, nil
		}
		return "", fmt.Errorf("image %s has not been pulled yet; run without --cache-only to fetch it", b.ref)
	}
	return pullImage(ctx, s, b.ref, p)
}

func (b imageBase) fetchRevision(context.Context, Sysroot, string, bool, bool, Progress) (string, error) {
	return "", fmt.Errorf("%s is a container image: a revision of it is chosen by digest; rebase to the image with @sha256:<digest> instead", b.ref)
}

// checkUpdate pulls the image: the new rpmdb is inside its layers, and a
// later upgrade reuses every layer pulled here.
func (b imageBase) checkUpdate(ctx context.Context, s Sysroot, p Progress) error {
	_, err := pullImage(ctx, s, b.ref, p)
	return err
}

func (b imageBase) head(repo Repo) string {
	head, _ := repo.ResolveRev(image.ImageRef(b.ref.ImageRef()), true)
	return head
}

// pullImage pulls ref into the repo, reporting each layer's bytes as it
// arrives, and returns the merged image commit.
func pullImage(ctx context.Context, s Sysroot, ref image.Reference, p Progress) (string, error) {
	// Each layer gets its own progress bar (clients show one per layer), so
	// the pull is announced by a message rather than a task around them.
	p.Message("Pulling image " + ref.String())
	layers := layerReporter{p: p, last: map[int]uint32{}}
	pulled, err := s.PullImage(ctx, ref, layers.report)
	p.End()
	if err != nil {
		return "", err // internal/image's errors name the image
	}
	p.Message(fmt.Sprintf("Image %s: %d layer(s) fetched, %d already present", pulled.ManifestDigest, pulled.Imported, pulled.Reused))
	return pulled.Commit, nil
}

// layerReporter turns a pull's per-read reports into one PercentProgress
// per whole percent of each layer, so a fast local pull does not flood the
// bus.
type layerReporter struct {
	p    Progress
	last map[int]uint32 // percent last reported, by layer index
}

func (r layerReporter) report(lp image.LayerProgress) {
	if lp.Reused {
		return
	}
	var pct uint32
	if lp.Size > 0 {
		pct = uint32(min(100, lp.Read*100/lp.Size))
	}
	if prev, seen := r.last[lp.Index]; seen && prev == pct {
		return
	}
	r.last[lp.Index] = pct
	r.p.Percent(layerProgressText(lp.Index, lp.Count, lp.Digest, lp.Size), pct)
}

// layerProgressText is the text of a layer's PercentProgress signals:
// "Fetching layer 2/5 sha256:0123456789ab (1.2 MB)". Clients group
// progress bars by it (the text stays the same for the whole layer).
func layerProgressText(index, count int, digest string, size int64) string {
	short := digest
	if _, hex, ok := strings.Cut(digest, ":"); ok && len(hex) > 12 {
		short = digest[:len(digest)-len(hex)] + hex[:12]
	}
	return fmt.Sprintf("Fetching layer %d/%d %s (%s)", index+1, count, short, humanBytes(size))
}

func humanBytes(n int64) string {
	switch {
	case n < 0:
		return "size unknown"
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}
