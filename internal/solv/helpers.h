#ifndef STRATA_SOLV_HELPERS_H
#define STRATA_SOLV_HELPERS_H

#include <solv/pool.h>
#include <solv/queue.h>
#include <solv/repo.h>

/* Reads the rpmdb at <root>/usr/share/rpm into repo. Returns 0 on success,
 * else -1 with the reason in pool_errstr. */
int strata_add_rpmdb(Repo *repo, const char *root);

/* Loads rpm-md primary and filelists (any compression solv_xfopen knows). */
int strata_add_rpmmd(Repo *repo, const char *primary, const char *filelists);

/* Where a cached repo's extension (its filelists and long texts) is, for
 * the load callback; hung on repo->appdata, owned by the Go side. */
struct strata_ext {
  char *path;      /* the .solvx written beside the main cache */
  char *filelists; /* the xml, used when the extension does not match */
  char *key;
  int keylen;
  int loads;       /* times libsolv asked for it */
};

/* Writes repo as a main .solv at path (everything the solver and Package
 * use, the file provides already added, fileprovides recorded as such, and
 * a stub for the extension) and an extension at extpath holding the rest
 * (filelists, summaries, descriptions...), both tagged with key. Returns 0,
 * or -1 with the reason in pool_errstr. */
int strata_write_solv(Repo *repo, const char *path, const char *extpath,
                      const char *key, int keylen, Queue *fileprovides);

/* 1 when every file dependency in fileprovides is among those repo's cache
 * recorded as added. */
int strata_fileprovides_covered(Repo *repo, Queue *fileprovides);

/* Loads a .solv file into repo if its tag equals key. Returns 1 when loaded,
 * 0 when the tag differs or the file is unusable (repo left untouched). */
int strata_add_solv_if_key(Repo *repo, const char *path, const char *key, int keylen);

/* Installs the callback that loads extensions on first use. */
void strata_set_loader(Pool *pool);

#endif
