package cmem

import "testing"

// TestTrimReleasesFreedMemory frees 20 MB of small C allocations (they stay
// in glibc's arena, below the mmap threshold) and checks that Trim hands
// pages back.
func TestTrimReleasesFreedMemory(t *testing.T) {
	release := fill(20000)
	defer release()
	if !Trim() {
		t.Fatal("malloc_trim released nothing after 20 MB of small allocations were freed")
	}
}

func TestLimitArenas(t *testing.T) {
	if err := LimitArenas(2); err != nil {
		t.Fatal(err)
	}
}
