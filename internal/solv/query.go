package solv

/*
#include <solv/pool.h>
#include <solv/repo.h>
#include <solv/solvable.h>
#include <solv/knownid.h>

static Solvable *strata_q_solvable(Pool *pool, Id p) { return pool_id2solvable(pool, p); }
static Id strata_q_nsolvables(Pool *pool) { return pool->nsolvables; }
static int strata_q_available(Pool *pool, Repo *cmdline, Id p) {
  Solvable *s = pool_id2solvable(pool, p);
  return s->repo != NULL && s->repo != pool->installed && s->repo != cmdline;
}
*/
import "C"

// Info is an available package with the texts a search looks at.
type Info struct {
	Package
	Summary string
}

// Available lists the packages of the loaded repositories (not the
// installed set, not local files), in pool order, with their summaries.
// Summaries live in a cached repo's extension, which libsolv loads on the
// first lookup.
func (p *Pool) Available() []Info {
	if p.check() != nil {
		return nil
	}
	var out []Info
	n := C.strata_q_nsolvables(p.pool)
	for id := C.Id(2); id < n; id++ { // 0 and 1 are libsolv's reserved solvables
		if C.strata_q_available(p.pool, p.cmdline, id) == 0 {
			continue
		}
		info := Info{Package: p.pkg(id)}
		if s := C.solvable_lookup_str(C.strata_q_solvable(p.pool, id), C.SOLVABLE_SUMMARY); s != nil {
			info.Summary = C.GoString(s)
		}
		out = append(out, info)
	}
	return out
}
