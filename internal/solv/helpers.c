#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <solv/pool.h>
#include <solv/repo.h>
#include <solv/repo_rpmdb.h>
#include <solv/repo_rpmmd.h>
#include <solv/repo_solv.h>
#include <solv/repo_write.h>
#include <solv/solv_xfopen.h>
#include <solv/util.h>

#include "helpers.h"

/* librpm's macro calls, looked up at run time: libsolvext already links
 * librpm, but Debian ships no librpm-dev to link against directly. */
typedef int (*push_macro_fn)(void *mc, const char *n, const char *o, const char *b, int level);
typedef int (*pop_macro_fn)(void *mc, const char *n);

int
strata_add_rpmdb(Repo *repo, const char *root)
{
  Pool *pool = repo->pool;
  push_macro_fn push = (push_macro_fn)dlsym(RTLD_DEFAULT, "rpmPushMacro");
  pop_macro_fn pop = (pop_macro_fn)dlsym(RTLD_DEFAULT, "rpmPopMacro");
  int pushed = 0, r;

  /* libsolv takes the rpmdb location from %_dbpath when it is set and only
   * guesses otherwise (and its guess picks /var/lib/rpm whenever that exists
   * in the root). A composed tree keeps its database in /usr/share/rpm, so
   * say so; libsolv prefixes the root itself. */
  if (push && pop)
    pushed = push(NULL, "_dbpath", NULL, "/usr/share/rpm", -1) == 0;
  pool_set_rootdir(pool, root);
  r = repo_add_rpmdb_reffp(repo, NULL, REPO_USE_ROOTDIR);
  pool_set_rootdir(pool, NULL);
  if (pushed)
    pop(NULL, "_dbpath");
  return r ? -1 : 0;
}

static int
add_rpmmd_file(Repo *repo, const char *path, const char *language, int flags)
{
  FILE *fp = solv_xfopen(path, "r");
  int r;
  if (!fp)
    return pool_error(repo->pool, -1, "opening %s: %s", path, strerror(errno));
  r = repo_add_rpmmd(repo, fp, language, flags);
  fclose(fp);
  if (r)
    return pool_error(repo->pool, -1, "reading %s: %s", path, pool_errstr(repo->pool));
  return 0;
}

int
strata_add_rpmmd(Repo *repo, const char *primary, const char *filelists)
{
  /* primary is internalized at once: the filelists pass finds its
   * solvables by the pkgid checksums stored there */
  if (add_rpmmd_file(repo, primary, NULL, 0))
    return -1;
  if (filelists && *filelists &&
      add_rpmmd_file(repo, filelists, NULL, REPO_EXTEND_SOLVABLES))
    return -1;
  return 0;
}

int
strata_write_solv(Repo *repo, const char *path, const char *key, int keylen)
{
  FILE *fp = fopen(path, "w");
  Repowriter *w;
  int r;
  if (!fp)
    return pool_error(repo->pool, -1, "creating %s: %s", path, strerror(errno));
  w = repowriter_create(repo);
  repowriter_set_userdata(w, key, keylen);
  r = repowriter_write(w, fp);
  repowriter_free(w);
  if (fclose(fp) != 0 && !r)
    return pool_error(repo->pool, -1, "writing %s: %s", path, strerror(errno));
  return r ? -1 : 0;
}

int
strata_add_solv_if_key(Repo *repo, const char *path, const char *key, int keylen)
{
  FILE *fp = fopen(path, "r");
  unsigned char *data = NULL;
  int len = 0, match;
  if (!fp)
    return 0;
  if (solv_read_userdata(fp, &data, &len) != 0)
    {
      fclose(fp);
      return 0;
    }
  match = len == keylen && memcmp(data, key, keylen) == 0;
  solv_free(data);
  if (!match || fseek(fp, 0, SEEK_SET) != 0)
    {
      fclose(fp);
      return 0;
    }
  /* a truncated or corrupt cache is ignored: the caller reads the xml */
  if (repo_add_solv(repo, fp, 0) != 0)
    {
      fclose(fp);
      repo_empty(repo, 1);
      return 0;
    }
  fclose(fp);
  return 1;
}
