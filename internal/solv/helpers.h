#ifndef STRATA_SOLV_HELPERS_H
#define STRATA_SOLV_HELPERS_H

#include <solv/pool.h>
#include <solv/repo.h>

/* Reads the rpmdb at <root>/usr/share/rpm into repo. Returns 0 on success,
 * else -1 with the reason in pool_errstr. */
int strata_add_rpmdb(Repo *repo, const char *root);

/* Loads rpm-md primary and filelists (any compression solv_xfopen knows). */
int strata_add_rpmmd(Repo *repo, const char *primary, const char *filelists);

/* Writes repo as a .solv file tagged with key (see strata_solv_key_matches). */
int strata_write_solv(Repo *repo, const char *path, const char *key, int keylen);

/* Loads a .solv file into repo if its tag equals key. Returns 1 when loaded,
 * 0 when the tag differs or the file is unusable (repo left untouched). */
int strata_add_solv_if_key(Repo *repo, const char *path, const char *key, int keylen);

#endif
