package solv

/*
#include <stdlib.h>
#include <solv/pool.h>
#include <solv/repo.h>
#include <solv/queue.h>
#include <solv/selection.h>
#include <solv/solver.h>
#include <solv/problems.h>
#include <solv/rules.h>
#include <solv/transaction.h>

static Repo *strata_installed_repo(Pool *pool) { return pool->installed; }
static Id strata_queue_at(Queue *q, int i) { return q->elements[i]; }
static Id strata_is_installed(Pool *pool, Id p) { return pool_id2solvable(pool, p)->repo == pool->installed; }

// What selection_make does first for a plain name: the name selector when a
// package of that name is known (see nameIDs).
static int strata_select_name(Pool *pool, Queue *sel, Id name) {
	Id p, pp;
	FOR_PROVIDES(p, pp, name)
		if (pool_id2solvable(pool, p)->name == name) {
			queue_push2(sel, SOLVER_SOLVABLE_NAME, name);
			return 1;
		}
	return 0;
}
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/strata-os/strata/internal/nevra"
)

// installFlags is how an install request may name a package: by name, by
// name.arch, by full NEVRA, by a provide, with a version relation, or, for
// a path, by a file the package contains.
const installFlags = C.SELECTION_NAME | C.SELECTION_PROVIDES | C.SELECTION_CANON |
	C.SELECTION_DOTARCH | C.SELECTION_REL

// removeFlags names installed packages only, by name, name.arch or NEVRA.
const removeFlags = C.SELECTION_NAME | C.SELECTION_CANON | C.SELECTION_DOTARCH |
	C.SELECTION_INSTALLED_ONLY

// selection runs selection_make for s into sel (which the caller frees);
// paths also match file lists.
func (p *Pool) selection(s string, flags C.int, sel *C.Queue) {
	if strings.HasPrefix(s, "/") {
		flags |= C.SELECTION_FILELIST
	}
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	C.queue_init(sel)
	C.selection_make(p.pool, sel, cs, flags)
}

// selectDep returns the solvables matching s.
func (p *Pool) selectDep(s string, flags C.int) []C.Id {
	var sel, pkgs C.Queue
	p.selection(s, flags, &sel)
	defer C.queue_free(&sel)
	C.queue_init(&pkgs)
	defer C.queue_free(&pkgs)
	C.selection_solvables(p.pool, &sel, &pkgs)
	return queueIDs(&pkgs)
}

func queueIDs(q *C.Queue) []C.Id {
	out := make([]C.Id, 0, int(q.count))
	for i := 0; i < int(q.count); i++ {
		out = append(out, C.strata_queue_at(q, C.int(i)))
	}
	return out
}

// Solve resolves req against the installed set and the loaded repos. It
// returns *NotFoundError when a request matches nothing,
// *AlreadyInstalledError when an install request is already satisfied by an
// installed package, and *ProblemError with libsolv's explanation when the
// requests cannot be satisfied together.
func (p *Pool) Solve(req Request) (*Transaction, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	names := p.nameIDs(req.Install)
	p.prepare()
	var job C.Queue
	C.queue_init(&job)
	defer C.queue_free(&job)
	if err := p.addJobs(&job, req, names); err != nil {
		return nil, err
	}
	if job.count == 0 {
		return &Transaction{}, nil
	}

	solv := C.solver_create(p.pool)
	defer C.solver_free(solv)
	if C.solver_solve(solv, &job) != 0 {
		return nil, &ProblemError{Problems: p.problems(solv)}
	}
	trans := C.solver_create_transaction(solv)
	defer C.transaction_free(trans)
	return p.transaction(trans), nil
}

// nameIDs looks up the string ids of install requests that selection_make
// would first try as a package name: no path, no version relation. It must
// run before prepare: building the whatprovides index drops libsolv's string
// hash, and the first lookup afterwards rebuilds it over every string in the
// pool (milliseconds per request on a large repo, all of it for one id).
func (p *Pool) nameIDs(install []string) map[string]C.Id {
	ids := map[string]C.Id{}
	for _, name := range install {
		if strings.HasPrefix(name, "/") || strings.ContainsAny(name, "<=>") {
			continue
		}
		cs := C.CString(name)
		if id := C.pool_str2id(p.pool, cs, 0); id != 0 {
			ids[name] = id
		}
		C.free(unsafe.Pointer(cs))
	}
	return ids
}

func (p *Pool) addJobs(job *C.Queue, req Request, names map[string]C.Id) error {
	installed := C.strata_installed_repo(p.pool)
	var missing, already []string
	for _, name := range req.Install {
		var sel C.Queue
		// The name fast path gives the selection selection_make would;
		// anything else (provides, name.arch, NEVRA) goes through it.
		C.queue_init(&sel)
		if id, ok := names[name]; !ok || C.strata_select_name(p.pool, &sel, id) == 0 {
			C.queue_free(&sel)
			p.selection(name, installFlags, &sel)
		}
		ok := p.addInstall(job, &sel, installed, name, &already)
		C.queue_free(&sel)
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return &NotFoundError{Names: missing}
	}
	if len(already) > 0 {
		return &AlreadyInstalledError{Names: already}
	}
	for _, rp := range req.ReplaceFrom {
		id, err := p.replacement(rp)
		if err != nil {
			return err
		}
		C.queue_push2(job, C.SOLVER_INSTALL|C.SOLVER_SOLVABLE, id)
	}
	for _, lp := range req.InstallLocal {
		id, ok := p.localID(lp)
		if !ok {
			return fmt.Errorf("local package %s was not added to this pool", lp.NEVRA())
		}
		C.queue_push2(job, C.SOLVER_INSTALL|C.SOLVER_SOLVABLE, id)
	}

	var notInstalled []string
	erase := C.Id(C.SOLVER_ERASE)
	if req.AllowUninstallDeps {
		erase |= C.SOLVER_CLEANDEPS
	}
	for _, name := range req.Remove {
		// Erase the installed packages themselves, not the name: a name
		// job would also forbid installing another package of that name
		// (a replacement) in the same transaction.
		ids := p.selectDep(name, removeFlags)
		if len(ids) == 0 {
			notInstalled = append(notInstalled, name)
		}
		for _, id := range ids {
			if C.strata_is_installed(p.pool, id) != 0 {
				C.queue_push2(job, C.SOLVER_SOLVABLE|erase, id)
			}
		}
	}
	if len(notInstalled) > 0 {
		return &NotFoundError{Names: notInstalled, Installed: true}
	}
	return nil
}

// addInstall turns one install selection into jobs. It returns false when
// the selection is empty; a request an installed package already satisfies
// goes to already instead of becoming a job.
func (p *Pool) addInstall(job, sel *C.Queue, installed *C.Repo, name string, already *[]string) bool {
	if sel.count == 0 {
		return false
	}
	var pkgs C.Queue
	C.queue_init(&pkgs)
	defer C.queue_free(&pkgs)
	C.selection_solvables(p.pool, sel, &pkgs)
	if installed != nil {
		for _, id := range queueIDs(&pkgs) {
			if C.strata_is_installed(p.pool, id) != 0 {
				*already = append(*already, name)
				return true
			}
		}
	}
	for i := 0; i+1 < int(sel.count); i += 2 {
		C.queue_push2(job, C.strata_queue_at(sel, C.int(i))|C.SOLVER_INSTALL, C.strata_queue_at(sel, C.int(i+1)))
	}
	return true
}

func (p *Pool) localID(lp Package) (C.Id, bool) {
	for id, path := range p.local {
		if path == lp.LocalPath && p.pkg(id).NEVRA() == lp.NEVRA() {
			return id, true
		}
	}
	return 0, false
}

// problems renders each solver problem as libsolv words it: the problem's
// summary followed by every rule involved, so the missing capability and the
// package that needs it are both named.
func (p *Pool) problems(solv *C.Solver) []string {
	n := int(C.solver_problem_count(solv))
	out := make([]string, 0, n)
	for problem := C.Id(1); int(problem) <= n; problem++ {
		seen := map[string]bool{}
		var lines []string
		add := func(s string) {
			if s != "" && !seen[s] {
				seen[s] = true
				lines = append(lines, s)
			}
		}
		add(C.GoString(C.solver_problem2str(solv, problem)))
		var rules C.Queue
		C.queue_init(&rules)
		C.solver_findallproblemrules(solv, problem, &rules)
		for _, rule := range queueIDs(&rules) {
			var source, target, dep C.Id
			typ := C.solver_ruleinfo(solv, rule, &source, &target, &dep)
			// A plain job rule only says "conflicting requests"; the
			// summary above already names the request.
			if typ == C.SOLVER_RULE_JOB {
				continue
			}
			add(C.GoString(C.solver_problemruleinfo2str(solv, typ, source, target, dep)))
		}
		C.queue_free(&rules)
		out = append(out, strings.Join(lines, "; "))
	}
	return out
}

// transaction sorts the solver's steps into installs, erases and upgrades.
func (p *Pool) transaction(trans *C.Transaction) *Transaction {
	out := &Transaction{}
	mode := C.int(C.SOLVER_TRANSACTION_SHOW_ACTIVE | C.SOLVER_TRANSACTION_SHOW_OBSOLETES)
	for _, id := range queueIDs(&trans.steps) {
		typ := C.transaction_type(trans, id, mode)
		switch typ {
		case C.SOLVER_TRANSACTION_INSTALL, C.SOLVER_TRANSACTION_MULTIINSTALL:
			out.Install = append(out.Install, p.pkg(id))
		case C.SOLVER_TRANSACTION_ERASE:
			out.Erase = append(out.Erase, p.pkg(id))
		case C.SOLVER_TRANSACTION_UPGRADE, C.SOLVER_TRANSACTION_DOWNGRADE,
			C.SOLVER_TRANSACTION_CHANGE, C.SOLVER_TRANSACTION_REINSTALL,
			C.SOLVER_TRANSACTION_OBSOLETES:
			if old := C.transaction_obs_pkg(trans, id); old != 0 {
				out.Upgrade = append(out.Upgrade, Upgrade{Old: p.pkg(old), New: p.pkg(id)})
			} else {
				out.Install = append(out.Install, p.pkg(id))
			}
		}
		// The installed side of an upgrade (UPGRADED, OBSOLETED, ...) is
		// reported with its new package above.
	}
	return out
}

// replacement picks the newest package named rp.Name in repo rp.Repo to
// replace the installed one of that name.
func (p *Pool) replacement(rp RepoPackage) (C.Id, error) {
	var installed bool
	var best C.Id
	var bestPkg Package
	for _, id := range p.selectDep(rp.Name, C.SELECTION_NAME) {
		pkg := p.pkg(id)
		if pkg.Name != rp.Name {
			continue
		}
		if C.strata_is_installed(p.pool, id) != 0 {
			installed = true
			continue
		}
		if pkg.RepoID != rp.Repo {
			continue
		}
		if best == 0 || nevra.Compare(pkg.Package, bestPkg.Package) > 0 {
			best, bestPkg = id, pkg
		}
	}
	switch {
	case !installed:
		return 0, fmt.Errorf("package %q is not in the base; install it instead of replacing it", rp.Name)
	case best == 0:
		return 0, fmt.Errorf("package %q not found in repo %q; check the name and that the repo is enabled", rp.Name, rp.Repo)
	}
	return best, nil
}
