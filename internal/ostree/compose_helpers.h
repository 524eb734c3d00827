/* C helpers for compose.go: merging commit trees inside the object store and
 * reading dirtree/dirmeta/file objects for ListTree. */
#ifndef STRATA_OSTREE_COMPOSE_HELPERS_H
#define STRATA_OSTREE_COMPOSE_HELPERS_H

#include <ostree.h>

/* How strata_mtree_merge treats the tree laid over the mutable tree. */
typedef struct
{
  /* FALSE, a compose: a file replaces a file, a directory merges into an
   * existing one, which keeps its metadata; a file over a directory or a
   * directory over a file is an error. TRUE, a container-image layer:
   * ".wh.NAME" markers delete NAME from lower content and ".wh..wh..opq"
   * empties its directory (markers are not carried), later entries win over
   * lower ones of another type, and the layer's directory metadata wins. */
  gboolean layer;
  /* Layers only: directories (relative, "" = root) holding a marker, and
   * their ancestors; walked even when new, so their markers are dropped. */
  GHashTable *dirty;
  /* Layers only: directories the layer did not carry itself; lower
   * metadata is kept, and they may not replace a lower non-directory. */
  GHashTable *implicit;
} StrataMergeOpts;

/* The one tree merge of the package: overlays the tree (contents_csum,
 * meta_csum) onto root by checksum. A directory that is new is linked in
 * lazily, without reading its contents. */
gboolean strata_mtree_merge (OstreeRepo *repo, OstreeMutableTree *root, const char *contents_csum,
                             const char *meta_csum, const StrataMergeOpts *opts,
                             GCancellable *cancellable, GError **error);

/* Reads the root dirtree and dirmeta checksums of a commit (both
 * g_free-able). */
gboolean strata_commit_root (OstreeRepo *repo, const char *commit, char **out_contents,
                             char **out_meta, GError **error);

/* Builds the tree of an on-disk directory in the repo (inside a transaction)
 * and returns its root checksums, with owners, modes and xattrs as on disk. */
gboolean strata_write_dir_tree (OstreeRepo *repo, const char *path, char **out_contents,
                                char **out_meta, GCancellable *cancellable, GError **error);

/* Removes the entry at path ("a/b/c", relative to the mtree's root). */
gboolean strata_mtree_remove_path (OstreeMutableTree *mtree, const char *path, GError **error);

/* Writes mtree and a commit of it with the given timestamp (0 = now);
 * *out_commit is g_free-able. The one commit-writing tail of the package. */
gboolean strata_write_mtree_commit (OstreeRepo *repo, OstreeMutableTree *mtree,
                                    const char *parent, const char *subject, GVariant *metadata,
                                    guint64 timestamp, char **out_commit,
                                    GCancellable *cancellable, GError **error);

/* A loaded dirtree, iterated by index. */
typedef struct
{
  GVariant *files; /* a(say) */
  GVariant *dirs;  /* a(sayay) */
  GVariant *tree;
} StrataDirtree;

gboolean strata_dirtree_load (OstreeRepo *repo, const char *csum, StrataDirtree *out,
                              GError **error);
void strata_dirtree_free (StrataDirtree *t);
guint strata_dirtree_n_files (StrataDirtree *t);
guint strata_dirtree_n_dirs (StrataDirtree *t);
/* Borrowed name; checksums written into 65-byte buffers. */
const char *strata_dirtree_file (StrataDirtree *t, guint i, char *csum);
const char *strata_dirtree_dir (StrataDirtree *t, guint i, char *contents, char *meta);

/* uid, gid and mode (host order) of a dirmeta object. */
gboolean strata_dirmeta_read (OstreeRepo *repo, const char *csum, guint32 *uid, guint32 *gid,
                              guint32 *mode, GError **error);
/* uid, gid, mode (with S_IFMT bits) and, for symlinks, the target (g_free-able)
 * of a content object. */
gboolean strata_file_read (OstreeRepo *repo, const char *csum, guint32 *uid, guint32 *gid,
                           guint32 *mode, char **target, GError **error);

gboolean strata_checkout_subpath (OstreeRepo *repo, const char *dest, const char *commit,
                                  const char *subpath, GCancellable *cancellable,
                                  GError **error);

/* a(sssss) from n*5 strings laid out row by row. */
GVariant *strata_variant_new_tuple5_array (char **cells, gsize n);
/* Fills cells (n*5 borrowed strings) from an a(sssss). */
void strata_variant_get_tuple5_array (GVariant *v, const char **cells);

#endif
