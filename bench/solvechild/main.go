// Command solvechild is the strata side of the depsolve benchmark (see
// bench/README.md, measurement 3): one process that resolves one install
// over an rpm-md repo with internal/solv, making the calls the daemon's
// resolution makes, and prints its in-process split as JSON. It is its own
// small binary, linking only what resolution links, because that is all
// the daemon runs for a resolution: the benchmark binary itself links
// hosts, registries and image code whose start-up no resolution pays.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/strata-os/strata/internal/solv"
)

// report is what the child prints (one JSON object on stdout); bench's
// solveReport reads it.
type report struct {
	LoadInstalled time.Duration `json:"load_installed_ns"`
	LoadRepo      time.Duration `json:"load_repo_ns"`
	Solve         time.Duration `json:"solve_ns"`
	Install       []string      `json:"install"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "solvechild:", err)
		os.Exit(1)
	}
}

func run() error {
	root := flag.String("root", "", "tree whose usr/share/rpm is the installed set")
	primary := flag.String("primary", "", "primary.xml.gz")
	filelists := flag.String("filelists", "", "filelists.xml.gz")
	cache := flag.String("solv", "", ".solv cache file")
	install := flag.String("install", "", "package to install")
	flag.Parse()
	var r report
	pool, err := solv.NewPool("x86_64")
	if err != nil {
		return err
	}
	defer pool.Close()
	start := time.Now()
	if err := pool.LoadInstalled(*root); err != nil {
		return err
	}
	r.LoadInstalled = time.Since(start)
	start = time.Now()
	if err := pool.AddRepoMDCached("synth", *primary, *filelists, *cache, 99); err != nil {
		return err
	}
	r.LoadRepo = time.Since(start)
	start = time.Now()
	tx, err := pool.Solve(solv.Request{Install: []string{*install}})
	if err != nil {
		return err
	}
	r.Solve = time.Since(start)
	for _, p := range tx.Install {
		r.Install = append(r.Install, p.NEVRA())
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
