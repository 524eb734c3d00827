// Package transactions owns what strata does to a host, one transaction at a
// time: upgrade, rebase and deploy of a base, rollback, layering and base
// package overrides (ChangePackages), kernel arguments, cleanup, rpm-md
// metadata refresh and update checks. It also owns the read side the daemon
// publishes: State, a snapshot of the deployments in plain Go types, and the
// package lists and diffs of deployments and cached updates.
//
// It knows nothing of D-Bus: the daemon converts wire requests into the option
// structs here, turns Progress calls into signals and State into properties.
// Nothing outside this package sees libostree or the rpmdb: the sysroot is
// reached through the Sysroot interface (ostreeSysroot on a real host).
// Every transaction either writes a complete new deployment list or leaves
// the sysroot as it found it; libostree's deployment writing is what makes
// the switch atomic.
package transactions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/ostree"
)

// Progress receives what a running transaction wants the user to see.
// Implementations must be safe to call from the transaction's goroutine.
type Progress interface {
	Message(text string)
	TaskBegin(text string)
	TaskEnd(text string)
	Percent(text string, percent uint32)
	Download(p DownloadProgress)
	End()
}

// DownloadProgress is one snapshot of a running download of OSTree objects.
type DownloadProgress struct {
	FetchedObjects, RequestedObjects    uint32
	OutstandingFetches, ScannedMetadata uint32
	FetchedDeltaParts, TotalDeltaParts  uint32
	BytesTransferred                    uint64
	StartTime                           time.Time // zero until the download started
}

func downloadProgress(p ostree.PullProgress) DownloadProgress {
	return DownloadProgress{
		FetchedObjects:     p.FetchedObjects,
		RequestedObjects:   p.RequestedObjects,
		OutstandingFetches: p.OutstandingFetches,
		ScannedMetadata:    p.ScannedMetadata,
		FetchedDeltaParts:  p.FetchedDeltaParts,
		TotalDeltaParts:    p.TotalDeltaParts,
		BytesTransferred:   p.BytesTransferred,
		StartTime:          p.StartTime,
	}
}

// Engine owns the host's sysroot. libostree's sysroot object is not thread-safe,
// so every use of it goes through Engine's mutex: transactions hold it for their
// whole run, state queries take it briefly.
type Engine struct {
	mu      sync.Mutex
	sysroot Sysroot
	log     *logrus.Entry
}

// Config is what the engine needs besides its sysroot.
type Config struct {
	// ContainersRoot is the directory under which container image pulls
	// find etc/containers/{registries.conf,policy.json,registries.d} and
	// the ostree auth files; "" is "/", the host's own configuration.
	// Tests and the demo point it at a directory of their own.
	ContainersRoot string
	// ImageProxy is the strata-image-proxy binary that fetches images; ""
	// looks next to the running binary (image.Config.ProxyPath).
	ImageProxy string
}

// Open loads the sysroot at path.
func Open(ctx context.Context, path string, cfg Config, log *logrus.Entry) (*Engine, error) {
	s, err := openSysroot(ctx, path, image.Config{Root: cfg.ContainersRoot, ProxyPath: cfg.ImageProxy}, log)
	if err != nil {
		return nil, err
	}
	// Work directories of compositions a killed daemon left behind.
	stale, _ := filepath.Glob(filepath.Join(path, CacheDir, "compose-*"))
	for _, dir := range stale {
		if err := os.RemoveAll(dir); err != nil {
			log.WithError(err).Warn("removing stale work directory")
		}
	}
	return newEngine(s, log), nil
}

func newEngine(s Sysroot, log *logrus.Entry) *Engine {
	return &Engine{sysroot: s, log: log}
}

// Close releases the sysroot.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sysroot.Close()
}

// ErrBusy is returned by queries that may not wait while a transaction holds
// the sysroot.
var ErrBusy = errors.New("sysroot busy with a transaction")

// view runs fn with the freshly reloaded sysroot. With wait false it gives up
// with ErrBusy instead of waiting for a running transaction.
func (e *Engine) view(ctx context.Context, wait bool, fn func(Sysroot) error) error {
	if wait {
		e.mu.Lock()
	} else if !e.mu.TryLock() {
		return ErrBusy
	}
	defer e.mu.Unlock()
	if err := e.sysroot.Reload(ctx); err != nil {
		return err
	}
	// Remotes (gpg-verify, keys) are part of what status reports.
	if err := e.sysroot.Repo().ReloadConfig(ctx); err != nil {
		return err
	}
	return fn(e.sysroot)
}

// State takes a snapshot of the host: deployments, stateroots, cached
// updates, all read in one go so that they agree with each other. With wait
// false it returns ErrBusy while a transaction runs.
func (e *Engine) State(ctx context.Context, wait bool) (*State, error) {
	var st *State
	err := e.view(ctx, wait, func(s Sysroot) error {
		st = snapshot(s)
		return nil
	})
	return st, err
}

// run holds the engine and the on-disk sysroot lock (shared with `ostree admin`
// and other tools) for the duration of one transaction.
func (e *Engine) run(ctx context.Context, fn func(Sysroot) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.sysroot.Lock(ctx); err != nil {
		return fmt.Errorf("locking sysroot: %w", err)
	}
	defer e.sysroot.Unlock()
	if err := e.sysroot.Reload(ctx); err != nil {
		return err
	}
	if err := e.sysroot.Repo().ReloadConfig(ctx); err != nil {
		return err
	}
	return fn(e.sysroot)
}
