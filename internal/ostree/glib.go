package ostree

// #cgo pkg-config: ostree-1
// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
	"unsafe"
)

// IsNotFound says err is (or wraps) a GIO "not found" error, as libostree
// reports a remote or ref that does not exist.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Domain == "g-io-error-quark" && e.Code == int(C.G_IO_ERROR_NOT_FOUND)
}

// Error is a GError copied into Go memory.
type Error struct {
	Domain  string
	Code    int
	Message string
	// cancelled is set for G_IO_ERROR_CANCELLED so callers can map it to ctx.Err().
	cancelled bool
}

func (e *Error) Error() string { return e.Message }

// takeError converts and frees the GError of a failed call.
func takeError(gerr *C.GError) *Error {
	if gerr == nil {
		return &Error{Message: "unknown error (libostree failed without a GError)"}
	}
	e := &Error{
		Domain:    C.GoString(C.g_quark_to_string(gerr.domain)),
		Code:      int(gerr.code),
		Message:   C.GoString(gerr.message),
		cancelled: C.strata_g_io_error_is_cancelled(gerr) != 0,
	}
	C.g_error_free(gerr)
	return e
}

// opError builds the error for a failed libostree call: when the call was
// cancelled because ctx ended, it wraps ctx.Err() so errors.Is(err,
// context.Canceled) works; otherwise it wraps the GError.
func opError(ctx context.Context, what string, gerr *C.GError) error {
	e := takeError(gerr)
	// A call that fails once ctx has ended failed because of it, whether
	// libostree saw the GCancellable (G_IO_ERROR_CANCELLED) or a Go stream
	// feeding it returned the context's error first: callers test for
	// context.Canceled either way.
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", what, ctxErr)
	}
	return fmt.Errorf("%s: %w", what, e)
}

// cancellable ties a GCancellable to ctx for the duration of one call. The
// returned release func must be called once the C call has returned; it stops
// the watcher goroutine before freeing the GCancellable so the two never race.
func cancellable(ctx context.Context) (*C.GCancellable, func()) {
	return cancellableWithAbort(ctx, nil)
}

// abortRetryInterval is how often abort runs again after cancellation while
// the C call is still going.
const abortRetryInterval = 50 * time.Millisecond

// cancellableWithAbort is cancellable, plus: once ctx ends, abort (if not
// nil) runs right away and then every abortRetryInterval until release, for
// C code that does not watch its GCancellable everywhere.
func cancellableWithAbort(ctx context.Context, abort func()) (*C.GCancellable, func()) {
	c := C.g_cancellable_new()
	if ctx.Done() == nil {
		return c, func() { C.g_object_unref(C.gpointer(c)) }
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-ctx.Done():
			C.g_cancellable_cancel(c)
		case <-stop:
			return
		}
		if abort == nil {
			return
		}
		t := time.NewTicker(abortRetryInterval)
		defer t.Stop()
		for {
			abort()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return c, func() {
		close(stop)
		<-finished
		C.g_object_unref(C.gpointer(c))
	}
}

// cstr returns a C copy of s (nil for "") plus its free func, for the many
// libostree parameters where NULL means "none".
func cstrOrNil(s string) (*C.char, func()) {
	if s == "" {
		return nil, func() {}
	}
	p := C.CString(s)
	return p, func() { C.free(unsafe.Pointer(p)) }
}

// takeString converts and g_free()s a C string owned by us.
func takeString(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.g_free(C.gpointer(p))
	return s
}

// goStrv converts a NULL-terminated char** without freeing it.
func goStrv(strv **C.char) []string {
	if strv == nil {
		return nil
	}
	var out []string
	for _, p := range unsafe.Slice(strv, 1<<20) {
		if p == nil {
			break
		}
		out = append(out, C.GoString(p))
	}
	return out
}

// newStrv builds a g_strfreev()-able NULL-terminated array. C.CString
// allocates with malloc, which g_free matches since GLib 2.46.
func newStrv(ss []string) **C.char {
	strv := C.strata_strv_new(C.int(len(ss)))
	for i, s := range ss {
		C.strata_strv_set(strv, C.int(i), C.CString(s))
	}
	return strv
}

// variantToGo converts one GVariant (borrowed) to the Go value documented on
// Commit.Metadata.
func variantToGo(v *C.GVariant) any {
	typ := C.GoString(C.g_variant_get_type_string(v))
	switch typ {
	case "s", "o", "g":
		return C.GoString(C.g_variant_get_string(v, nil))
	case "b":
		return C.g_variant_get_boolean(v) != 0
	case "u":
		return uint32(C.g_variant_get_uint32(v))
	case "t":
		return uint64(C.g_variant_get_uint64(v))
	case "i":
		return int32(C.g_variant_get_int32(v))
	case "x":
		return int64(C.g_variant_get_int64(v))
	case "as":
		var n C.gsize
		arr := C.g_variant_get_strv(v, &n) // container only; strings borrowed
		defer C.g_free(C.gpointer(arr))
		out := make([]string, 0, int(n))
		for _, p := range unsafe.Slice(arr, int(n)) {
			out = append(out, C.GoString(p))
		}
		return out
	case "ay":
		var n C.gsize
		data := C.g_variant_get_fixed_array(v, &n, 1)
		if n == 0 {
			return []byte{}
		}
		return C.GoBytes(unsafe.Pointer(data), C.int(n))
	case "aay": // ostree.sign.ed25519: one signature per element
		n := int(C.g_variant_n_children(v))
		out := make([][]byte, 0, n)
		for i := 0; i < n; i++ {
			c := C.g_variant_get_child_value(v, C.gsize(i))
			b, _ := variantToGo(c).([]byte)
			C.g_variant_unref(c)
			out = append(out, b)
		}
		return out
	case "a(sssss)": // rpmostree.rpmdb.pkglist, see compose.go
		return tuple5ArrayFromVariant(v)
	case "v":
		inner := C.g_variant_get_variant(v)
		defer C.g_variant_unref(inner)
		return variantToGo(inner)
	default:
		return takeString(C.g_variant_print(v, C.FALSE))
	}
}

// vardictToGo converts a borrowed a{sv} to a Go map.
func vardictToGo(dict *C.GVariant) map[string]any {
	out := map[string]any{}
	n := int(C.g_variant_n_children(dict))
	for i := 0; i < n; i++ {
		entry := C.g_variant_get_child_value(dict, C.gsize(i))
		k := C.g_variant_get_child_value(entry, 0)
		vv := C.g_variant_get_child_value(entry, 1)
		val := C.g_variant_get_variant(vv)
		out[C.GoString(C.g_variant_get_string(k, nil))] = variantToGo(val)
		C.g_variant_unref(val)
		C.g_variant_unref(vv)
		C.g_variant_unref(k)
		C.g_variant_unref(entry)
	}
	return out
}

// goToVariant builds a floating GVariant from a Go value of the types that
// Commit.Metadata documents (plus int, stored as int64).
func goToVariant(v any) (*C.GVariant, error) {
	switch x := v.(type) {
	case string:
		cs := C.CString(x)
		defer C.free(unsafe.Pointer(cs))
		return C.g_variant_new_string(cs), nil
	case bool:
		b := C.gboolean(C.FALSE)
		if x {
			b = C.TRUE
		}
		return C.g_variant_new_boolean(b), nil
	case uint32:
		return C.g_variant_new_uint32(C.guint32(x)), nil
	case uint64:
		return C.g_variant_new_uint64(C.guint64(x)), nil
	case int32:
		return C.g_variant_new_int32(C.gint32(x)), nil
	case int64:
		return C.g_variant_new_int64(C.gint64(x)), nil
	case int:
		return C.g_variant_new_int64(C.gint64(x)), nil
	case []string:
		strv := newStrv(x)
		defer C.g_strfreev(strv)
		return C.strata_variant_new_strv(strv, C.gssize(len(x))), nil
	case []byte:
		if len(x) == 0 {
			return C.strata_variant_new_bytes(nil, 0), nil
		}
		p := C.CBytes(x)
		defer C.free(p)
		return C.strata_variant_new_bytes(p, C.gsize(len(x))), nil
	case [][5]string: // a(sssss), see compose.go
		return tuple5ArrayToVariant(x), nil
	default:
		return nil, fmt.Errorf("unsupported metadata value type %T", v)
	}
}

// vardictFromGo builds an a{sv} (full reference, caller unrefs) from a Go map;
// keys are sorted so the result is deterministic.
func vardictFromGo(m map[string]any) (*C.GVariant, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := C.strata_vardict_new()
	for _, k := range keys {
		val, err := goToVariant(m[k])
		if err != nil {
			C.g_variant_unref(C.strata_vardict_end(b))
			return nil, fmt.Errorf("metadata key %q: %w", k, err)
		}
		ck := C.CString(k)
		C.strata_vardict_add(b, ck, val)
		C.free(unsafe.Pointer(ck))
	}
	return C.strata_vardict_end(b), nil
}

var errClosed = errors.New("use of closed ostree object")
