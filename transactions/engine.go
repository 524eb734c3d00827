// Package transactions owns what strata does to a host: upgrade, rebase, deploy,
// rollback and cleanup of OSTree deployments, one at a time, with progress reports
// and cancellation.
//
// It knows nothing of D-Bus: the daemon converts wire requests into the option
// structs here and turns Progress calls into signals. Every transaction either
// writes a complete new deployment list or leaves the sysroot as it found it;
// libostree's deployment writing is what makes the switch atomic.
package transactions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/internal/ostree"
)

// Progress receives what a running transaction wants the user to see.
// Implementations must be safe to call from the transaction's goroutine.
type Progress interface {
	Message(text string)
	TaskBegin(text string)
	TaskEnd(text string)
	Percent(text string, percent uint32)
	Download(p ostree.PullProgress)
	End()
}

// Engine owns the host's sysroot. libostree's sysroot object is not thread-safe,
// so every use of it goes through Engine's mutex: transactions hold it for their
// whole run, state queries take it briefly.
type Engine struct {
	mu      sync.Mutex
	sysroot *ostree.Sysroot
	log     *logrus.Entry
}

// Open loads the sysroot at path.
func Open(ctx context.Context, path string, log *logrus.Entry) (*Engine, error) {
	s, err := ostree.OpenSysroot(ctx, path)
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
	return &Engine{sysroot: s, log: log}, nil
}

// Close releases the sysroot.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sysroot.Close()
}

// ErrBusy is returned by TryView while a transaction holds the sysroot.
var ErrBusy = errors.New("sysroot busy with a transaction")

// View runs fn with the freshly reloaded sysroot, waiting for a running transaction.
func (e *Engine) View(ctx context.Context, fn func(*ostree.Sysroot) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.sysroot.Reload(ctx); err != nil {
		return fmt.Errorf("reloading sysroot: %w", err)
	}
	return fn(e.sysroot)
}

// TryView is View that gives up with ErrBusy instead of waiting for a transaction.
func (e *Engine) TryView(ctx context.Context, fn func(*ostree.Sysroot) error) error {
	if !e.mu.TryLock() {
		return ErrBusy
	}
	defer e.mu.Unlock()
	if _, err := e.sysroot.Reload(ctx); err != nil {
		return fmt.Errorf("reloading sysroot: %w", err)
	}
	return fn(e.sysroot)
}

// run holds the engine and the on-disk sysroot lock (shared with `ostree admin`
// and other tools) for the duration of one transaction.
func (e *Engine) run(ctx context.Context, fn func(*ostree.Sysroot) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.sysroot.Lock(ctx); err != nil {
		return fmt.Errorf("locking sysroot: %w", err)
	}
	defer e.sysroot.Unlock()
	if _, err := e.sysroot.Reload(ctx); err != nil {
		return fmt.Errorf("reloading sysroot: %w", err)
	}
	if err := e.sysroot.Repo().ReloadConfig(ctx); err != nil {
		return err
	}
	return fn(e.sysroot)
}
