#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <solv/bitmap.h>
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

/* The keys a cache keeps out of its main file, in an extension libsolv
 * loads on first use: the filelists (only file lookups need them; most of
 * the bytes) and texts nothing in strata reads. Everything the solver or
 * Package uses stays in the main file. Pairs of key name and type. */
static const Id ext_keys[] = {
  SOLVABLE_FILELIST, REPOKEY_TYPE_DIRSTRARRAY,
  SOLVABLE_SUMMARY, REPOKEY_TYPE_STR,
  SOLVABLE_DESCRIPTION, REPOKEY_TYPE_STR,
  SOLVABLE_URL, REPOKEY_TYPE_STR,
  SOLVABLE_BUILDHOST, REPOKEY_TYPE_STR,
  SOLVABLE_AUTHORS, REPOKEY_TYPE_STR,
  0,
};

static int
is_ext_key(Repokey *key)
{
  const Id *k;
  for (k = ext_keys; *k; k += 2)
    if (key->name == k[0] && key->type == k[1])
      return 1;
  return 0;
}

static int
main_keyfilter(Repo *repo, Repokey *key, void *kfdata)
{
  if (is_ext_key(key))
    return KEY_STORAGE_DROPPED;
  return repo_write_stdkeyfilter(repo, key, kfdata);
}

static int
ext_keyfilter(Repo *repo, Repokey *key, void *kfdata)
{
  return is_ext_key(key) ? KEY_STORAGE_INCORE : KEY_STORAGE_DROPPED;
}

static int
write_filtered(Repo *repo, const char *path, const char *key, int keylen,
               int (*filter)(Repo *, Repokey *, void *))
{
  FILE *fp = fopen(path, "w");
  Repowriter *w;
  int r;
  if (!fp)
    return pool_error(repo->pool, -1, "creating %s: %s", path, strerror(errno));
  w = repowriter_create(repo);
  repowriter_set_keyfilter(w, filter, NULL);
  repowriter_set_userdata(w, key, keylen);
  r = repowriter_write(w, fp);
  repowriter_free(w);
  if (fclose(fp) != 0 && !r)
    return pool_error(repo->pool, -1, "writing %s: %s", path, strerror(errno));
  return r ? -1 : 0;
}

/* The meta repodata strata adds to a repo parsed from xml: the file
 * provides already added and the stub describing the extension. */
static Repodata *
cache_meta(Repo *repo)
{
  Repodata *data;
  Id rdid, handle;
  const Id *k;
  FOR_REPODATAS(repo, rdid, data)
    if (repodata_has_keyname(data, REPOSITORY_EXTERNAL))
      return data;
  data = repo_add_repodata(repo, 0);
  /* libsolv trusts recorded file provides only for the solvables of the
   * repodata that records them: this one must span the whole repo, or the
   * next pool_addfileprovides would scan the filelists all the same. */
  if (repo->end > repo->start)
    repodata_extend_block(data, repo->start, repo->end - repo->start);
  handle = repodata_new_handle(data);
  for (k = ext_keys; *k; k++)
    repodata_add_idarray(data, handle, REPOSITORY_KEYS, *k);
  repodata_add_flexarray(data, SOLVID_META, REPOSITORY_EXTERNAL, handle);
  return data;
}

int
strata_write_solv(Repo *repo, const char *path, const char *extpath,
                  const char *key, int keylen, Queue *fileprovides)
{
  Repodata *meta = cache_meta(repo);
  repodata_set_idarray(meta, SOLVID_META, REPOSITORY_ADDEDFILEPROVIDES, fileprovides);
  repodata_internalize(meta);
  if (write_filtered(repo, extpath, key, keylen, ext_keyfilter))
    return -1;
  return write_filtered(repo, path, key, keylen, main_keyfilter);
}

int
strata_fileprovides_covered(Repo *repo, Queue *fileprovides)
{
  Queue have;
  Map recorded;
  int i, ok = 1;
  queue_init(&have);
  repo_lookup_idarray(repo, SOLVID_META, REPOSITORY_ADDEDFILEPROVIDES, &have);
  map_init(&recorded, repo->pool->ss.nstrings);
  for (i = 0; i < have.count; i++)
    MAPSET(&recorded, have.elements[i]);
  for (i = 0; ok && i < fileprovides->count; i++)
    ok = MAPTST(&recorded, fileprovides->elements[i]);
  map_free(&recorded);
  queue_free(&have);
  return ok;
}

/* Opens path if its userdata tag equals key; NULL otherwise. */
static FILE *
open_if_key(const char *path, const char *key, int keylen)
{
  FILE *fp = fopen(path, "r");
  unsigned char *data = NULL;
  int len = 0, match;
  if (!fp)
    return NULL;
  if (solv_read_userdata(fp, &data, &len) != 0)
    {
      fclose(fp);
      return NULL;
    }
  match = len == keylen && memcmp(data, key, keylen) == 0;
  solv_free(data);
  if (!match || fseek(fp, 0, SEEK_SET) != 0)
    {
      fclose(fp);
      return NULL;
    }
  return fp;
}

int
strata_add_solv_if_key(Repo *repo, const char *path, const char *key, int keylen)
{
  FILE *fp = open_if_key(path, key, keylen);
  if (!fp)
    return 0;
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

/* Called by libsolv the first time something needs a stub's keys (a file
 * path request, or file dependencies the cache did not record). The
 * extension written with the main file is used when its tag still matches;
 * otherwise the filelists xml itself is read. */
static int
load_ext(Pool *pool, Repodata *data, void *cbdata)
{
  Repo *repo = data->repo;
  struct strata_ext *ext = repo->appdata;
  int flags = REPO_USE_LOADING | REPO_EXTEND_SOLVABLES | REPO_LOCALPOOL;
  FILE *fp;
  int r;
  if (!ext)
    return 0;
  ext->loads++;
  if ((fp = open_if_key(ext->path, ext->key, ext->keylen)) != NULL)
    {
      r = repo_add_solv(repo, fp, flags);
      fclose(fp);
      if (r == 0)
        return 1;
    }
  if (!ext->filelists || !*ext->filelists)
    return 0;
  if ((fp = solv_xfopen(ext->filelists, "r")) == NULL)
    return 0;
  r = repo_add_rpmmd(repo, fp, NULL, flags);
  fclose(fp);
  return r == 0;
}

void
strata_set_loader(Pool *pool)
{
  pool_setloadcallback(pool, load_ext, NULL);
}
