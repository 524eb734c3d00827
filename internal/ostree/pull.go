package ostree

// #cgo pkg-config: ostree-1
// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// PullOptions says what Repo.Pull fetches.
type PullOptions struct {
	Remote string
	Refs   []string
	// OverrideCommitIDs, when set, has one commit per entry of Refs: pull
	// that commit of the ref instead of its tip.
	OverrideCommitIDs []string
	// CommitOnly fetches only the commit metadata (OSTREE_REPO_PULL_FLAGS_COMMIT_ONLY).
	CommitOnly bool
	// Depth is how many parents to fetch: 0 = just the commit, -1 = all.
	Depth int
	// Subdirs limits the pull to these absolute paths of the tree (the
	// commit is then partial until pulled whole).
	Subdirs []string
	// DisableVerifyBindings accepts commits whose ref binding names other
	// refs (a commit of another branch deployed on purpose).
	DisableVerifyBindings bool
}

// PullProgress is one snapshot of a running pull.
type PullProgress struct {
	Status                              string
	FetchedObjects, RequestedObjects    uint32
	OutstandingFetches, ScannedMetadata uint32
	FetchedDeltaParts, TotalDeltaParts  uint32
	BytesTransferred                    uint64
	StartTime                           time.Time
}

// progressInterval is how often a running pull's progress is sampled.
const progressInterval = 200 * time.Millisecond

// Pull fetches opts.Refs from opts.Remote into r. progress (may be nil) is
// called from a Go goroutine about every 200 ms while the pull runs, and once
// more when it ends; calls never overlap. A cancelled ctx aborts the pull and
// the error wraps ctx.Err().
func (r *Repo) Pull(ctx context.Context, opts PullOptions, progress func(PullProgress)) error {
	if err := r.check(); err != nil {
		return err
	}
	what := fmt.Sprintf("pulling %s from %s", strings.Join(opts.Refs, ", "), opts.Remote)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	options, err := pullOptionsVariant(opts)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer C.g_variant_unref(options)
	cremote := C.CString(opts.Remote)
	defer C.free(unsafe.Pointer(cremote))

	prog := C.ostree_async_progress_new()
	defer C.g_object_unref(C.gpointer(prog))
	stopPoll := pollProgress(prog, progress)

	before := tcpSockets()
	canc, release := cancellableWithAbort(ctx, func() { shutdownNewSockets(before) })
	var gerr *C.GError
	ok := C.strata_pull(r.ptr, cremote, options, prog, canc, &gerr) != 0
	release()
	stopPoll()
	// finish() drops the idle source the progress object may have queued on
	// the default main context, so nothing can touch it after the unref.
	C.ostree_async_progress_finish(prog)
	if !ok {
		e := takeError(gerr)
		if ctxErr := ctx.Err(); ctxErr != nil {
			// Whatever libostree reports (cancelled, or the connection we
			// cut), the cause is the cancellation.
			return fmt.Errorf("%s: %w (%v)", what, ctxErr, e)
		}
		return fmt.Errorf("%s: %w", what, r.signatureError(opts.Remote, e))
	}
	return nil
}

func pullOptionsVariant(opts PullOptions) (*C.GVariant, error) {
	if opts.Remote == "" {
		return nil, fmt.Errorf("no remote given")
	}
	if len(opts.OverrideCommitIDs) > 0 && len(opts.OverrideCommitIDs) != len(opts.Refs) {
		return nil, fmt.Errorf("%d override commit IDs for %d refs", len(opts.OverrideCommitIDs), len(opts.Refs))
	}
	if opts.Depth < -1 {
		return nil, fmt.Errorf("invalid depth %d", opts.Depth)
	}
	flags := int32(C.OSTREE_REPO_PULL_FLAGS_NONE)
	if opts.CommitOnly {
		flags |= int32(C.OSTREE_REPO_PULL_FLAGS_COMMIT_ONLY)
	}
	m := map[string]any{
		"flags": flags,
		"depth": int32(opts.Depth),
		// A remote's sign-verify (ed25519) is checked by strata after the
		// pull (transactions' verifier): Debian's libostree is built
		// without sign-ed25519 and would refuse every pull from such a
		// remote, so it must never act on the option itself.
		"disable-sign-verify":         true,
		"disable-sign-verify-summary": true,
	}
	if len(opts.Refs) > 0 {
		m["refs"] = opts.Refs
	}
	if len(opts.OverrideCommitIDs) > 0 {
		m["override-commit-ids"] = opts.OverrideCommitIDs
	}
	if len(opts.Subdirs) > 0 {
		m["subdirs"] = opts.Subdirs
	}
	if opts.DisableVerifyBindings {
		m["disable-verify-bindings"] = true
	}
	return vardictFromGo(m)
}

// pollProgress samples prog from a goroutine and hands snapshots to fn. The
// returned stop func waits for the goroutine, then reports a final snapshot.
func pollProgress(prog *C.OstreeAsyncProgress, fn func(PullProgress)) (stop func()) {
	if fn == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fn(readProgress(prog))
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		fn(readProgress(prog))
	}
}

// readProgress reads the keys libostree's pull code maintains. The
// ostree_async_progress getters take the object's lock, so this is safe
// while the pull runs on another thread.
func readProgress(prog *C.OstreeAsyncProgress) PullProgress {
	num := func(key string) uint64 {
		ck := C.CString(key)
		defer C.free(unsafe.Pointer(ck))
		return uint64(C.strata_progress_get_number(prog, ck))
	}
	ck := C.CString("status")
	status := takeString(C.strata_progress_get_string(prog, ck))
	C.free(unsafe.Pointer(ck))
	p := PullProgress{
		Status:             status,
		FetchedObjects:     uint32(num("fetched")),
		RequestedObjects:   uint32(num("requested")),
		OutstandingFetches: uint32(num("outstanding-fetches")),
		ScannedMetadata:    uint32(num("scanned-metadata")),
		FetchedDeltaParts:  uint32(num("fetched-delta-parts")),
		TotalDeltaParts:    uint32(num("total-delta-parts")),
		BytesTransferred:   num("bytes-transferred"),
	}
	// "start-time" is g_get_monotonic_time() microseconds; map it to wall time.
	if start := num("start-time"); start != 0 {
		elapsed := int64(C.g_get_monotonic_time()) - int64(start)
		p.StartTime = time.Now().Add(-time.Duration(elapsed) * time.Microsecond)
	}
	return p
}
