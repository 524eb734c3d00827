package ostree

// #cgo pkg-config: ostree-1
// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"
)

// stagedLockPath is where libostree looks, at shutdown, for the flag that
// keeps a staged deployment from being finalized (2022.7 has no API to
// write it: the caller of the staging does, as libostree's finalize reads
// it). It lives on /run, so it disappears with the boot, like the staged
// deployment's own state.
const stagedLockPath = "/run/ostree/staged-deployment-locked"

// StageTree checks out checksum as a staged deployment of osname: libostree
// writes the deployment now and puts it in the boot order at shutdown
// (ostree-finalize-staged.service), unless locked, in which case it waits
// for UnlockFinalization. Arguments are as for DeployTree. The host must be
// booted from this sysroot. A previously staged deployment is replaced.
func (s *Sysroot) StageTree(ctx context.Context, osname, checksum, origin string, merge *Deployment, kargs []string, locked bool) (*Deployment, error) {
	return s.StageTreeWithOptions(ctx, osname, checksum, origin, merge, DeployOptions{Kargs: kargs}, locked)
}

// StageTreeWithOptions is StageTree with DeployTreeWithOptions' options.
func (s *Sysroot) StageTreeWithOptions(ctx context.Context, osname, checksum, origin string, merge *Deployment, o DeployOptions, locked bool) (*Deployment, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	what := "staging " + checksum
	if C.ostree_sysroot_get_booted_deployment(s.ptr) == nil {
		return nil, fmt.Errorf("%s: the host is not booted from %s; only a booted host stages deployments", what, s.path)
	}
	// The lock is settled before the deployment exists: a shutdown in
	// between must not finalize a deployment meant to stay locked, nor keep
	// one locked because an earlier staging was.
	if err := setFinalizationLock(locked); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	kf, err := keyFile(origin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if kf != nil {
		defer C.g_key_file_unref(kf)
	}
	opts, free := o.deployTreeOpts()
	defer free()
	cos := C.CString(osname)
	defer C.free(unsafe.Pointer(cos))
	ccsum := C.CString(checksum)
	defer C.free(unsafe.Pointer(ccsum))

	canc, release := cancellable(ctx)
	defer release()
	var out *C.OstreeDeployment
	var gerr *C.GError
	if C.ostree_sysroot_stage_tree_with_options(s.ptr, cos, ccsum, kf, merge.cptr(), &opts, &out, canc, &gerr) == 0 {
		return nil, opError(ctx, what, gerr)
	}
	defer C.g_object_unref(C.gpointer(out))
	d := newDeployment(out, C.ostree_sysroot_get_booted_deployment(s.ptr))
	d.Staged = true
	return d, nil
}

// FinalizationLocked says whether a staged deployment waits for
// UnlockFinalization before shutdown may finalize it.
func (s *Sysroot) FinalizationLocked() bool {
	_, err := os.Stat(stagedLockPath)
	return err == nil
}

// UnlockFinalization lets shutdown finalize the staged deployment.
func (s *Sysroot) UnlockFinalization() error {
	if err := setFinalizationLock(false); err != nil {
		return fmt.Errorf("unlocking finalization: %w", err)
	}
	return nil
}

func setFinalizationLock(locked bool) error {
	if !locked {
		if err := os.Remove(stagedLockPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(stagedLockPath), 0o755); err != nil {
		return err
	}
	return os.WriteFile(stagedLockPath, nil, 0o644)
}

// StageOverlayInitrd stores a cpio archive (optionally compressed) read from
// f in the sysroot, where boot entries can name it, and returns its
// checksum for DeployOptions.OverlayInitrds. libostree keeps it as long as
// a deployment uses it.
func (s *Sysroot) StageOverlayInitrd(ctx context.Context, f *os.File) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	canc, release := cancellable(ctx)
	defer release()
	var out *C.char
	var gerr *C.GError
	if C.ostree_sysroot_stage_overlay_initrd(s.ptr, C.int(f.Fd()), &out, canc, &gerr) == 0 {
		return "", opError(ctx, "staging overlay initrd", gerr)
	}
	defer C.g_free(C.gpointer(out))
	return C.GoString(out), nil
}
