package ostree

// #cgo pkg-config: ostree-1
// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Deployment is a snapshot of one libostree deployment. It keeps a reference
// on the underlying OstreeDeployment (released by a GC cleanup) so it can be
// handed back to Sysroot methods. Like its Sysroot, it is not thread-safe.
type Deployment struct {
	Index      int // position in boot order (0 = default)
	Osname     string
	Checksum   string
	Serial     int // deployserial
	BootSerial int
	Origin     string // origin keyfile text ("" when none)
	Pinned     bool
	Staged     bool
	Booted     bool
	Kargs      string // bootconfig "options"

	ptr *C.OstreeDeployment
}

// ID is "<osname>-<checksum>.<serial>", the identifier rpm-ostree uses.
func (d *Deployment) ID() string {
	return fmt.Sprintf("%s-%s.%d", d.Osname, d.Checksum, d.Serial)
}

// newDeployment copies the fields of ptr and takes its own reference on it.
// booted may be nil.
func newDeployment(ptr, booted *C.OstreeDeployment) *Deployment {
	if ptr == nil {
		return nil
	}
	C.g_object_ref(C.gpointer(ptr))
	d := &Deployment{
		Index:      int(C.ostree_deployment_get_index(ptr)),
		Osname:     C.GoString(C.ostree_deployment_get_osname(ptr)),
		Checksum:   C.GoString(C.ostree_deployment_get_csum(ptr)),
		Serial:     int(C.ostree_deployment_get_deployserial(ptr)),
		BootSerial: int(C.ostree_deployment_get_bootserial(ptr)),
		Pinned:     C.ostree_deployment_is_pinned(ptr) != 0,
		Staged:     C.ostree_deployment_is_staged(ptr) != 0,
		Booted:     booted != nil && C.ostree_deployment_equal(C.gconstpointer(ptr), C.gconstpointer(booted)) != 0,
		ptr:        ptr,
	}
	if kf := C.ostree_deployment_get_origin(ptr); kf != nil {
		d.Origin = takeString(C.g_key_file_to_data(kf, nil, nil))
	}
	if bc := C.ostree_deployment_get_bootconfig(ptr); bc != nil {
		key := C.CString("options")
		if v := C.ostree_bootconfig_parser_get(bc, key); v != nil {
			d.Kargs = C.GoString(v)
		}
		C.free(unsafe.Pointer(key))
	}
	runtime.AddCleanup(d, func(p *C.OstreeDeployment) {
		C.g_object_unref(C.gpointer(p))
	}, ptr)
	return d
}
