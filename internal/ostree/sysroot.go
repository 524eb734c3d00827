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
	"sort"
	"time"
	"unsafe"
)

// Sysroot is a loaded OSTree sysroot. It is NOT thread-safe: libostree's
// OstreeSysroot has no internal locking, so callers serialise all calls on a
// Sysroot (and on the Deployments and Repo it hands out).
type Sysroot struct {
	ptr  *C.OstreeSysroot
	path string
	repo *Repo
}

// lockPollInterval is how often Lock retries while another process holds the
// sysroot lock.
const lockPollInterval = 100 * time.Millisecond

// OpenSysroot opens and loads the sysroot at path ("/" for the running system).
func OpenSysroot(ctx context.Context, path string) (*Sysroot, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening sysroot %s: %w", path, err)
	}
	// libostree's own message for this case is about a missing repo config;
	// say plainly what is wrong instead.
	if _, err := os.Stat(filepath.Join(abs, "ostree", "repo")); err != nil {
		return nil, fmt.Errorf("%s is not an OSTree sysroot (no ostree/repo): %w", abs, err)
	}
	cpath := C.CString(abs)
	defer C.free(unsafe.Pointer(cpath))
	file := C.g_file_new_for_path(cpath)
	defer C.g_object_unref(C.gpointer(file))
	ptr := C.ostree_sysroot_new(file)

	canc, release := cancellable(ctx)
	defer release()
	var gerr *C.GError
	if C.ostree_sysroot_load(ptr, canc, &gerr) == 0 {
		C.g_object_unref(C.gpointer(ptr))
		return nil, opError(ctx, "loading sysroot "+abs, gerr)
	}
	return &Sysroot{ptr: ptr, path: abs, repo: wrapRepo(C.ostree_sysroot_repo(ptr), filepath.Join(abs, "ostree", "repo"))}, nil
}

// Close releases the sysroot (and its lock, if held) and its Repo.
func (s *Sysroot) Close() {
	if s == nil || s.ptr == nil {
		return
	}
	s.repo.release()
	C.g_object_unref(C.gpointer(s.ptr))
	s.ptr = nil
}

// Path is the absolute path of the sysroot.
func (s *Sysroot) Path() string { return s.path }

func (s *Sysroot) check() error {
	if s == nil || s.ptr == nil {
		return errClosed
	}
	return nil
}

// Reload re-reads the deployments if the sysroot changed on disk since the
// last load, and says whether it did.
func (s *Sysroot) Reload(ctx context.Context) (changed bool, err error) {
	if err := s.check(); err != nil {
		return false, err
	}
	canc, release := cancellable(ctx)
	defer release()
	var out C.gboolean
	var gerr *C.GError
	if C.ostree_sysroot_load_if_changed(s.ptr, &out, canc, &gerr) == 0 {
		return false, opError(ctx, "reloading sysroot "+s.path, gerr)
	}
	return out != 0, nil
}

// TryLock takes the sysroot lock if it is free and says whether it did.
func (s *Sysroot) TryLock() (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	var acquired C.gboolean
	var gerr *C.GError
	if C.ostree_sysroot_try_lock(s.ptr, &acquired, &gerr) == 0 {
		return false, fmt.Errorf("locking sysroot %s: %w", s.path, takeError(gerr))
	}
	return acquired != 0, nil
}

// Lock waits for the sysroot lock until ctx ends. It polls TryLock rather
// than blocking in flock(), because a thread stuck in flock() cannot be
// cancelled and would take the lock after its caller had given up.
func (s *Sysroot) Lock(ctx context.Context) error {
	t := time.NewTicker(lockPollInterval)
	defer t.Stop()
	for {
		ok, err := s.TryLock()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the sysroot lock on %s: %w", s.path, ctx.Err())
		case <-t.C:
		}
	}
}

// Unlock releases the sysroot lock.
func (s *Sysroot) Unlock() {
	if s.check() == nil {
		C.ostree_sysroot_unlock(s.ptr)
	}
}

// Repo is the sysroot's repository. It lives as long as the Sysroot; its
// Close does nothing.
func (s *Sysroot) Repo() *Repo { return s.repo }

// Deployments lists the deployments in boot order (index 0 = default).
func (s *Sysroot) Deployments() []*Deployment {
	if s.check() != nil {
		return nil
	}
	arr := C.ostree_sysroot_get_deployments(s.ptr)
	defer C.g_ptr_array_unref(arr)
	booted := C.ostree_sysroot_get_booted_deployment(s.ptr)
	out := make([]*Deployment, 0, int(arr.len))
	for _, p := range unsafe.Slice(arr.pdata, int(arr.len)) {
		out = append(out, newDeployment((*C.OstreeDeployment)(unsafe.Pointer(p)), booted))
	}
	return out
}

// BootedDeployment is the deployment the running system booted, or nil when
// it was not booted from this sysroot.
func (s *Sysroot) BootedDeployment() *Deployment {
	if s.check() != nil {
		return nil
	}
	booted := C.ostree_sysroot_get_booted_deployment(s.ptr)
	return newDeployment(booted, booted)
}

// MergeDeployment is the deployment whose /etc and kernel arguments a new
// deployment of osname ("" = the booted one's) inherits, or nil.
func (s *Sysroot) MergeDeployment(osname string) *Deployment {
	if s.check() != nil {
		return nil
	}
	cos, free := cstrOrNil(osname)
	defer free()
	ptr := C.ostree_sysroot_get_merge_deployment(s.ptr, cos)
	if ptr == nil {
		return nil
	}
	defer C.g_object_unref(C.gpointer(ptr))
	return newDeployment(ptr, C.ostree_sysroot_get_booted_deployment(s.ptr))
}

// Stateroots lists the stateroot (osname) directories under ostree/deploy/.
func (s *Sysroot) Stateroots() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.path, "ostree", "deploy"))
	if err != nil {
		return nil, fmt.Errorf("listing stateroots: %w", err)
	}
	out := []string{}
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// keyFile parses origin keyfile text; nil for "". The caller frees it.
func keyFile(text string) (*C.GKeyFile, error) {
	if text == "" {
		return nil, nil
	}
	kf := C.g_key_file_new()
	data := C.CString(text)
	defer C.free(unsafe.Pointer(data))
	var gerr *C.GError
	if C.g_key_file_load_from_data(kf, data, C.gsize(len(text)), C.G_KEY_FILE_KEEP_COMMENTS, &gerr) == 0 {
		C.g_key_file_unref(kf)
		return nil, fmt.Errorf("parsing origin: %w", takeError(gerr))
	}
	return kf, nil
}

// DeployTree checks out checksum as a new deployment of osname, with origin
// (keyfile text, "" = none), merging /etc from merge (nil = none) and using
// kargs as kernel arguments (nil = inherit merge's). The new deployment is
// not in the boot order yet: pass it to SimpleWriteDeployment or
// WriteDeployments.
func (s *Sysroot) DeployTree(ctx context.Context, osname, checksum, origin string, merge *Deployment, kargs []string) (*Deployment, error) {
	return s.DeployTreeWithOptions(ctx, osname, checksum, origin, merge, DeployOptions{Kargs: kargs})
}

// DeployOptions are the optional parts of a new deployment.
type DeployOptions struct {
	// Kargs are the kernel arguments; nil inherits the merge deployment's.
	Kargs []string
	// OverlayInitrds are checksums from StageOverlayInitrd: each is
	// appended to the boot entry's initrd line after the tree's own.
	OverlayInitrds []string
}

// deployTreeOpts fills libostree's options struct; free releases it.
func (o DeployOptions) deployTreeOpts() (opts C.OstreeSysrootDeployTreeOpts, free func()) {
	if o.Kargs != nil {
		opts.override_kernel_argv = newStrv(o.Kargs)
	}
	if len(o.OverlayInitrds) > 0 {
		opts.overlay_initrds = newStrv(o.OverlayInitrds)
	}
	return opts, func() {
		if opts.override_kernel_argv != nil {
			C.g_strfreev(opts.override_kernel_argv)
		}
		if opts.overlay_initrds != nil {
			C.g_strfreev(opts.overlay_initrds)
		}
	}
}

// DeployTreeWithOptions is DeployTree with every option libostree offers
// strata.
func (s *Sysroot) DeployTreeWithOptions(ctx context.Context, osname, checksum, origin string, merge *Deployment, o DeployOptions) (*Deployment, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	what := "deploying " + checksum
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
	if C.ostree_sysroot_deploy_tree_with_options(s.ptr, cos, ccsum, kf, merge.cptr(), &opts, &out, canc, &gerr) == 0 {
		return nil, opError(ctx, what, gerr)
	}
	defer C.g_object_unref(C.gpointer(out))
	return newDeployment(out, C.ostree_sysroot_get_booted_deployment(s.ptr)), nil
}

func (d *Deployment) cptr() *C.OstreeDeployment {
	if d == nil {
		return nil
	}
	return d.ptr
}

// WriteDeployments makes deployments the new full boot order (first =
// default), updating the bootloader config; deployments left out are
// removed from the boot order (and their dirs later by Cleanup).
func (s *Sysroot) WriteDeployments(ctx context.Context, deployments []*Deployment) error {
	if err := s.check(); err != nil {
		return err
	}
	arr := C.g_ptr_array_new()
	defer C.g_ptr_array_unref(arr)
	for _, d := range deployments {
		if d == nil || d.ptr == nil {
			return errors.New("writing deployments: nil deployment")
		}
		C.g_ptr_array_add(arr, C.gpointer(d.ptr))
	}
	canc, release := cancellable(ctx)
	defer release()
	var gerr *C.GError
	if C.ostree_sysroot_write_deployments(s.ptr, arr, canc, &gerr) == 0 {
		return opError(ctx, "writing deployments", gerr)
	}
	return s.reload(ctx, "writing deployments")
}

// SimpleWriteDeployment puts newDep first in the boot order for osname.
// With retainRollback false libostree keeps only the booted and merge
// deployments besides it; with true it keeps all existing ones.
func (s *Sysroot) SimpleWriteDeployment(ctx context.Context, osname string, newDep, merge *Deployment, retainRollback bool) error {
	if err := s.check(); err != nil {
		return err
	}
	if newDep == nil {
		return errors.New("writing deployment: no deployment given")
	}
	flags := C.OstreeSysrootSimpleWriteDeploymentFlags(C.OSTREE_SYSROOT_SIMPLE_WRITE_DEPLOYMENT_FLAGS_NONE)
	if retainRollback {
		flags = C.OSTREE_SYSROOT_SIMPLE_WRITE_DEPLOYMENT_FLAGS_RETAIN
	}
	cos, free := cstrOrNil(osname)
	defer free()
	canc, release := cancellable(ctx)
	defer release()
	var gerr *C.GError
	what := "writing deployment " + newDep.ID()
	if C.ostree_sysroot_simple_write_deployment(s.ptr, cos, newDep.ptr, merge.cptr(), flags, canc, &gerr) == 0 {
		return opError(ctx, what, gerr)
	}
	return s.reload(ctx, what)
}

// reload re-reads the sysroot after a write so Deployments reflects it.
func (s *Sysroot) reload(ctx context.Context, what string) error {
	canc, release := cancellable(ctx)
	defer release()
	var gerr *C.GError
	if C.ostree_sysroot_load(s.ptr, canc, &gerr) == 0 {
		return opError(ctx, what+": reloading sysroot", gerr)
	}
	return nil
}

// WriteOrigin replaces d's origin file with origin (keyfile text) and
// updates d.Origin; other Deployment values see it after Reload.
func (s *Sysroot) WriteOrigin(ctx context.Context, d *Deployment, origin string) error {
	if err := s.check(); err != nil {
		return err
	}
	what := "writing origin of " + d.ID()
	kf, err := keyFile(origin)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if kf == nil {
		return fmt.Errorf("%s: empty origin", what)
	}
	defer C.g_key_file_unref(kf)
	canc, release := cancellable(ctx)
	defer release()
	var gerr *C.GError
	if C.ostree_sysroot_write_origin_file(s.ptr, d.ptr, kf, canc, &gerr) == 0 {
		return opError(ctx, what, gerr)
	}
	d.Origin = takeString(C.g_key_file_to_data(kf, nil, nil))
	return nil
}

// Cleanup removes deployment directories and boot entries no longer in the
// boot order, then prunes unreferenced objects from the repo.
func (s *Sysroot) Cleanup(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	canc, release := cancellable(ctx)
	defer release()
	var gerr *C.GError
	if C.ostree_sysroot_cleanup(s.ptr, canc, &gerr) == 0 {
		return opError(ctx, "cleaning up sysroot "+s.path, gerr)
	}
	return nil
}

// SetPinned pins or unpins d, so that automatic cleanup keeps it.
func (s *Sysroot) SetPinned(ctx context.Context, d *Deployment, pinned bool) error {
	if err := s.check(); err != nil {
		return err
	}
	what := fmt.Sprintf("setting pinned=%t on %s", pinned, d.ID())
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p := C.gboolean(C.FALSE)
	if pinned {
		p = C.TRUE
	}
	var gerr *C.GError
	if C.ostree_sysroot_deployment_set_pinned(s.ptr, d.ptr, p, &gerr) == 0 {
		return fmt.Errorf("%s: %w", what, takeError(gerr))
	}
	d.Pinned = pinned
	return s.reload(ctx, what)
}

// DeploymentPath is the absolute directory where d is checked out.
func (s *Sysroot) DeploymentPath(d *Deployment) string {
	if s.check() != nil || d == nil {
		return ""
	}
	f := C.ostree_sysroot_get_deployment_directory(s.ptr, d.ptr)
	defer C.g_object_unref(C.gpointer(f))
	return takeString(C.g_file_get_path(f))
}
