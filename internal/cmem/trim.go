package cmem

/*
#include <malloc.h>
#include <stdlib.h>

static void *strata_cmem_fill(int n) {
	void **ptrs = calloc(n, sizeof(void *));
	void *kept;
	int i;
	for (i = 0; i < n; i++) {
		ptrs[i] = malloc(1024);
		*(volatile char *)ptrs[i] = 1;
	}
	kept = ptrs[n - 1];
	for (i = 0; i < n - 1; i++)
		free(ptrs[i]);
	free(ptrs);
	return kept;
}
*/
import "C"

import "fmt"

// Trim returns the C heap's free memory to the kernel (glibc's
// malloc_trim(0)): free chunks at the top of the main arena and whole free
// pages inside every arena. glibc keeps freed memory for reuse otherwise, so
// a daemon that parsed a large repository once would keep the peak for the
// rest of its life. It reports whether anything was released.
func Trim() bool {
	return C.malloc_trim(0) == 1
}

// LimitArenas caps how many malloc arenas glibc creates (mallopt
// M_ARENA_MAX). By default every thread that meets contention gets its own
// arena, up to eight per CPU, and Go runs C calls on whichever OS thread is
// free, so over a daemon's life most of its threads end up owning an arena
// whose free space Trim can only partly return (each keeps its top chunk
// and whatever live allocation pins its pages). Few arenas keep that slack
// small; stratad runs one transaction at a time, so C allocations rarely
// contend. It must be called before threads allocate, i.e. at start.
func LimitArenas(n int) error {
	if C.mallopt(C.M_ARENA_MAX, C.int(n)) != 1 {
		return fmt.Errorf("limiting malloc arenas to %d: mallopt refused", n)
	}
	return nil
}

// fill makes n small C allocations, touches them and frees all but the
// last (so the freed ones are not at the top of the heap, which free()
// alone may give back), leaving freed pages inside the arena for Trim to
// find. The returned func frees the last one. For tests: cgo is not
// allowed in _test files.
func fill(n int) (release func()) {
	kept := C.strata_cmem_fill(C.int(n))
	return func() { C.free(kept) }
}
