// Package cmem owns stratad's dealings with the C allocator (glibc's
// malloc), which the C libraries linked through internal/ostree and
// internal/solv (GLib, libostree, libsolv, librpm) allocate from. It only
// hands free memory back to the kernel; it never allocates or frees.
package cmem
