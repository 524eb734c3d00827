package daemon

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/internal/cmem"
)

// runtimeStats is what the daemon reports about its own footprint when it
// receives SIGUSR1 (the soak benchmark and test read it from the log): the
// goroutines it runs, the Go runtime's share of memory, and the kernel's
// view of the whole process from /proc/self/smaps_rollup, where anonymous
// pages (Go heap, C heap of glib/libostree/libsolv/rpm, stacks) are told
// apart from file-backed ones (the binary's and libraries' text, which
// other processes may share).
func runtimeStats() logrus.Fields {
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(samples)
	kb := func(b uint64) uint64 { return b / 1024 }
	f := logrus.Fields{
		"goroutines":          runtime.NumGoroutine(),
		"go_total_kb":         kb(samples[0].Value.Uint64()),
		"go_heap_objects_kb":  kb(samples[1].Value.Uint64()),
		"go_heap_released_kb": kb(samples[2].Value.Uint64()),
		"go_heap_free_kb":     kb(samples[3].Value.Uint64()),
	}
	for k, v := range smapsRollup() {
		f[k] = v
	}
	return f
}

// smapsRollup reads the kB counters of /proc/self/smaps_rollup that say
// what RSS is made of; a missing file (old kernel) gives none.
func smapsRollup() map[string]uint64 {
	data, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return nil
	}
	want := map[string]string{"Rss:": "rss_kb", "Anonymous:": "anon_kb", "Pss_File:": "pss_file_kb", "Shared_Clean:": "shared_clean_kb", "Private_Clean:": "private_clean_kb"}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		if name, ok := want[fields[0]]; ok {
			if v, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
				out[name] = v
			}
		}
	}
	if rss, ok := out["rss_kb"]; ok {
		out["file_kb"] = rss - out["anon_kb"]
	}
	return out
}

// releaseMemory hands memory a finished transaction used back to the
// kernel: the Go heap's free spans at once (the scavenger would take
// minutes) and the C allocator's free arenas (libsolv pools, rpm headers,
// GLib objects freed when the transaction's objects were). A daemon that
// idles for days between transactions should not sit on their peak.
func releaseMemory() {
	debug.FreeOSMemory()
	cmem.Trim()
}
