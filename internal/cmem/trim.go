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

// Trim returns the C heap's free memory to the kernel (glibc's
// malloc_trim(0)): free chunks at the top of the main arena and whole free
// pages inside every arena. glibc keeps freed memory for reuse otherwise, so
// a daemon that parsed a large repository once would keep the peak for the
// rest of its life. It reports whether anything was released.
func Trim() bool {
	return C.malloc_trim(0) == 1
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
