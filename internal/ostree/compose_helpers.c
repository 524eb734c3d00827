#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include "compose_helpers.h"

/* Sets a G_IO_ERROR_FAILED error and returns FALSE. */
static gboolean
strata_throw (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
strata_throw (GError **error, const char *fmt, ...)
{
  va_list args;
  va_start (args, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, args);
  va_end (args);
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, msg);
  return FALSE;
}

gboolean
strata_commit_root (OstreeRepo *repo, const char *commit, char **out_contents, char **out_meta,
                    GError **error)
{
  g_autoptr (GVariant) v = NULL;
  if (!ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_COMMIT, commit, &v, error))
    return FALSE;
  /* Commit tuple: (a{sv} aya(say) s s t ay ay): root tree at 6, meta at 7. */
  g_autoptr (GVariant) tree = g_variant_get_child_value (v, 6);
  g_autoptr (GVariant) meta = g_variant_get_child_value (v, 7);
  *out_contents = ostree_checksum_from_bytes_v (tree);
  *out_meta = ostree_checksum_from_bytes_v (meta);
  return TRUE;
}

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

static gboolean
tree_has_opaque (GVariant *tree)
{
  g_autoptr (GVariant) files = g_variant_get_child_value (tree, 0);
  const gsize n = g_variant_n_children (files);
  for (gsize i = 0; i < n; i++)
    {
      const char *name;
      g_variant_get_child (files, i, "(&s@ay)", &name, NULL);
      if (strcmp (name, WH_OPAQUE) == 0)
        return TRUE;
    }
  return FALSE;
}

static char *
child_path (const char *path, const char *name)
{
  return *path ? g_strconcat (path, "/", name, NULL) : g_strdup (name);
}

/* Applies the ".wh.NAME" markers of files to dir: they delete lower
 * content only, so they run before the layer adds anything. */
static gboolean
apply_whiteouts (OstreeMutableTree *dir, GVariant *files, const char *path, GError **error)
{
  const gsize nf = g_variant_n_children (files);
  for (gsize i = 0; i < nf; i++)
    {
      const char *name;
      g_variant_get_child (files, i, "(&s@ay)", &name, NULL);
      if (!g_str_has_prefix (name, WH_PREFIX) || g_str_has_prefix (name, WH_META_PREFIX))
        continue;
      const char *target = name + strlen (WH_PREFIX);
      if (*target == '\0')
        continue;
      if (!ostree_mutable_tree_remove (dir, target, TRUE, error))
        {
          g_prefix_error (error, "/%s: whiteout %s: ", path, name);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
merge_file (OstreeMutableTree *dir, const char *name, const char *csum, const char *path,
            const StrataMergeOpts *opts, GError **error)
{
  if (opts->layer)
    {
      if (g_str_has_prefix (name, WH_PREFIX))
        return TRUE; /* markers are not content */
      g_autofree char *existing_file = NULL;
      g_autoptr (OstreeMutableTree) existing = NULL;
      /* Later layers win: a file replaces a lower directory. */
      if (ostree_mutable_tree_lookup (dir, name, &existing_file, &existing, NULL)
          && existing != NULL && !ostree_mutable_tree_remove (dir, name, FALSE, error))
        return FALSE;
    }
  if (!ostree_mutable_tree_replace_file (dir, name, csum, error))
    {
      g_prefix_error (error, "/%s%s%s: ", path, *path ? "/" : "", name);
      return FALSE;
    }
  return TRUE;
}

static gboolean merge_tree (OstreeRepo *repo, OstreeMutableTree *dir, GVariant *tree,
                            const char *path, const StrataMergeOpts *opts,
                            GCancellable *cancellable, GError **error);

/* Merges the directory name (tree_csum, meta_csum) into dir. */
static gboolean
merge_subdir (OstreeRepo *repo, OstreeMutableTree *dir, const char *name, const char *tree_csum,
              const char *meta_csum, const char *path, const StrataMergeOpts *opts,
              GCancellable *cancellable, GError **error)
{
  g_autofree char *sub_path = child_path (path, name);
  const gboolean is_implicit = opts->layer && g_hash_table_contains (opts->implicit, sub_path);
  g_autoptr (GVariant) tree = NULL;
  g_autofree char *existing_file = NULL;
  g_autoptr (OstreeMutableTree) existing = NULL;
  g_autoptr (GError) lookup_error = NULL;
  if (!ostree_mutable_tree_lookup (dir, name, &existing_file, &existing, &lookup_error))
    {
      if (!g_error_matches (lookup_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&lookup_error));
          return FALSE;
        }
    }
  else if (existing == NULL)
    {
      /* A directory over a file: a later layer wins, unless it only implies
       * the directory (it would be writing through the lower file or
       * symlink); a compose refuses it. */
      if (is_implicit)
        return strata_throw (error, "/%s: the layer writes through a non-directory of a lower layer",
                             sub_path);
      if (!opts->layer)
        return strata_throw (error, "/%s: a directory cannot replace a non-directory", sub_path);
      if (!ostree_mutable_tree_remove (dir, name, FALSE, error))
        return FALSE;
    }
  else if (opts->layer)
    {
      if (!ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_DIR_TREE, tree_csum, &tree, error))
        return FALSE;
      if (tree_has_opaque (tree))
        {
          if (!ostree_mutable_tree_remove (dir, name, FALSE, error))
            return FALSE;
          g_clear_object (&existing);
        }
    }

  if (existing != NULL)
    {
      /* A compose keeps the existing directory's metadata, as a union
       * checkout would; a layer's own directory entry replaces it. */
      if (opts->layer && !is_implicit)
        ostree_mutable_tree_set_metadata_checksum (existing, meta_csum);
      if (tree == NULL
          && !ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_DIR_TREE, tree_csum, &tree, error))
        return FALSE;
      return merge_tree (repo, existing, tree, sub_path, opts, cancellable, error);
    }

  g_autoptr (OstreeMutableTree) sub = NULL;
  if (!ostree_mutable_tree_ensure_dir (dir, name, &sub, error))
    return FALSE;
  if (!opts->layer || !g_hash_table_contains (opts->dirty, sub_path))
    {
      /* New here, and no marker below: link the whole subtree in, unread. */
      if (!ostree_mutable_tree_fill_empty_from_dirtree (sub, repo, tree_csum, meta_csum))
        return strata_throw (error, "/%s: cannot fill directory from %s", sub_path, tree_csum);
      return TRUE;
    }
  ostree_mutable_tree_set_metadata_checksum (sub, meta_csum);
  if (tree == NULL
      && !ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_DIR_TREE, tree_csum, &tree, error))
    return FALSE;
  return merge_tree (repo, sub, tree, sub_path, opts, cancellable, error);
}

static gboolean
merge_tree (OstreeRepo *repo, OstreeMutableTree *dir, GVariant *tree, const char *path,
            const StrataMergeOpts *opts, GCancellable *cancellable, GError **error)
{
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  g_autoptr (GVariant) files = g_variant_get_child_value (tree, 0);
  g_autoptr (GVariant) dirs = g_variant_get_child_value (tree, 1);
  if (opts->layer && !apply_whiteouts (dir, files, path, error))
    return FALSE;

  const gsize nf = g_variant_n_children (files);
  for (gsize i = 0; i < nf; i++)
    {
      const char *name;
      g_autoptr (GVariant) csum_v = NULL;
      g_variant_get_child (files, i, "(&s@ay)", &name, &csum_v);
      char csum[OSTREE_SHA256_STRING_LEN + 1];
      ostree_checksum_inplace_from_bytes (ostree_checksum_bytes_peek (csum_v), csum);
      if (!merge_file (dir, name, csum, path, opts, error))
        return FALSE;
    }

  const gsize nd = g_variant_n_children (dirs);
  for (gsize i = 0; i < nd; i++)
    {
      const char *name;
      g_autoptr (GVariant) tree_v = NULL;
      g_autoptr (GVariant) meta_v = NULL;
      g_variant_get_child (dirs, i, "(&s@ay@ay)", &name, &tree_v, &meta_v);
      char sub_tree[OSTREE_SHA256_STRING_LEN + 1];
      char sub_meta[OSTREE_SHA256_STRING_LEN + 1];
      ostree_checksum_inplace_from_bytes (ostree_checksum_bytes_peek (tree_v), sub_tree);
      ostree_checksum_inplace_from_bytes (ostree_checksum_bytes_peek (meta_v), sub_meta);
      if (!merge_subdir (repo, dir, name, sub_tree, sub_meta, path, opts, cancellable, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
strata_mtree_merge (OstreeRepo *repo, OstreeMutableTree *root, const char *contents_csum,
                    const char *meta_csum, const StrataMergeOpts *opts,
                    GCancellable *cancellable, GError **error)
{
  g_autoptr (GVariant) tree = NULL;
  if (!ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_DIR_TREE, contents_csum, &tree, error))
    return FALSE;
  if (opts->layer)
    {
      if (tree_has_opaque (tree))
        {
          /* The root is never lazily filled, so its tables are whole. */
          g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
          GHashTableIter it;
          gpointer k;
          g_hash_table_iter_init (&it, ostree_mutable_tree_get_files (root));
          while (g_hash_table_iter_next (&it, &k, NULL))
            g_ptr_array_add (names, g_strdup (k));
          g_hash_table_iter_init (&it, ostree_mutable_tree_get_subdirs (root));
          while (g_hash_table_iter_next (&it, &k, NULL))
            g_ptr_array_add (names, g_strdup (k));
          for (guint i = 0; i < names->len; i++)
            if (!ostree_mutable_tree_remove (root, names->pdata[i], FALSE, error))
              return FALSE;
        }
      if (ostree_mutable_tree_get_metadata_checksum (root) == NULL
          || !g_hash_table_contains (opts->implicit, ""))
        ostree_mutable_tree_set_metadata_checksum (root, meta_csum);
    }
  return merge_tree (repo, root, tree, "", opts, cancellable, error);
}

gboolean
strata_write_dir_tree (OstreeRepo *repo, const char *path, char **out_contents, char **out_meta,
                       GCancellable *cancellable, GError **error)
{
  g_autoptr (OstreeMutableTree) mtree = ostree_mutable_tree_new ();
  if (!ostree_repo_write_dfd_to_mtree (repo, AT_FDCWD, path, mtree, NULL, cancellable, error))
    return FALSE;
  g_autoptr (GFile) root = NULL;
  if (!ostree_repo_write_mtree (repo, mtree, &root, cancellable, error))
    return FALSE;
  *out_contents = g_strdup (ostree_mutable_tree_get_contents_checksum (mtree));
  *out_meta = g_strdup (ostree_mutable_tree_get_metadata_checksum (mtree));
  return TRUE;
}

gboolean
strata_mtree_remove_path (OstreeMutableTree *mtree, const char *path, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  g_autoptr (OstreeMutableTree) dir = g_object_ref (mtree);
  guint n = g_strv_length (parts);
  for (guint i = 0; i + 1 < n; i++)
    {
      g_autofree char *file = NULL;
      g_autoptr (OstreeMutableTree) sub = NULL;
      if (!ostree_mutable_tree_lookup (dir, parts[i], &file, &sub, error))
        return FALSE;
      if (sub == NULL)
        return strata_throw (error, "%s is not a directory", parts[i]);
      g_object_unref (dir);
      dir = g_steal_pointer (&sub);
    }
  return ostree_mutable_tree_remove (dir, parts[n - 1], FALSE, error);
}

gboolean
strata_write_mtree_commit (OstreeRepo *repo, OstreeMutableTree *mtree, const char *parent,
                           const char *subject, GVariant *metadata, guint64 timestamp,
                           char **out_commit, GCancellable *cancellable, GError **error)
{
  g_autoptr (GFile) root = NULL;
  if (!ostree_repo_write_mtree (repo, mtree, &root, cancellable, error))
    return FALSE;
  if (timestamp == 0)
    return ostree_repo_write_commit (repo, parent, subject, NULL, metadata, (OstreeRepoFile *)root,
                                     out_commit, cancellable, error);
  return ostree_repo_write_commit_with_time (repo, parent, subject, NULL, metadata,
                                             (OstreeRepoFile *)root, timestamp, out_commit,
                                             cancellable, error);
}

gboolean
strata_dirtree_load (OstreeRepo *repo, const char *csum, StrataDirtree *out, GError **error)
{
  memset (out, 0, sizeof (*out));
  if (!ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_DIR_TREE, csum, &out->tree, error))
    return FALSE;
  out->files = g_variant_get_child_value (out->tree, 0);
  out->dirs = g_variant_get_child_value (out->tree, 1);
  return TRUE;
}

void
strata_dirtree_free (StrataDirtree *t)
{
  g_clear_pointer (&t->files, g_variant_unref);
  g_clear_pointer (&t->dirs, g_variant_unref);
  g_clear_pointer (&t->tree, g_variant_unref);
}

guint
strata_dirtree_n_files (StrataDirtree *t)
{
  return g_variant_n_children (t->files);
}

guint
strata_dirtree_n_dirs (StrataDirtree *t)
{
  return g_variant_n_children (t->dirs);
}

const char *
strata_dirtree_file (StrataDirtree *t, guint i, char *csum)
{
  const char *name;
  g_autoptr (GVariant) csum_v = NULL;
  g_variant_get_child (t->files, i, "(&s@ay)", &name, &csum_v);
  ostree_checksum_inplace_from_bytes (ostree_checksum_bytes_peek (csum_v), csum);
  return name; /* borrowed from t->files, which outlives the call */
}

const char *
strata_dirtree_dir (StrataDirtree *t, guint i, char *contents, char *meta)
{
  const char *name;
  g_autoptr (GVariant) tree_v = NULL;
  g_autoptr (GVariant) meta_v = NULL;
  g_variant_get_child (t->dirs, i, "(&s@ay@ay)", &name, &tree_v, &meta_v);
  ostree_checksum_inplace_from_bytes (ostree_checksum_bytes_peek (tree_v), contents);
  ostree_checksum_inplace_from_bytes (ostree_checksum_bytes_peek (meta_v), meta);
  return name;
}

gboolean
strata_dirmeta_read (OstreeRepo *repo, const char *csum, guint32 *uid, guint32 *gid,
                     guint32 *mode, GError **error)
{
  g_autoptr (GVariant) v = NULL;
  if (!ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_DIR_META, csum, &v, error))
    return FALSE;
  /* (u uid, u gid, u mode, a(ayay) xattrs), integers big-endian */
  g_variant_get (v, "(uuu@a(ayay))", uid, gid, mode, NULL);
  *uid = GUINT32_FROM_BE (*uid);
  *gid = GUINT32_FROM_BE (*gid);
  *mode = GUINT32_FROM_BE (*mode);
  return TRUE;
}

gboolean
strata_file_read (OstreeRepo *repo, const char *csum, guint32 *uid, guint32 *gid, guint32 *mode,
                  char **target, GError **error)
{
  g_autoptr (GFileInfo) info = NULL;
  if (!ostree_repo_load_file (repo, csum, NULL, &info, NULL, NULL, error))
    return FALSE;
  *uid = g_file_info_get_attribute_uint32 (info, "unix::uid");
  *gid = g_file_info_get_attribute_uint32 (info, "unix::gid");
  *mode = g_file_info_get_attribute_uint32 (info, "unix::mode");
  *target = NULL;
  if (g_file_info_get_file_type (info) == G_FILE_TYPE_SYMBOLIC_LINK)
    *target = g_strdup (g_file_info_get_symlink_target (info));
  return TRUE;
}

gboolean
strata_checkout_subpath (OstreeRepo *repo, const char *dest, const char *commit,
                         const char *subpath, GCancellable *cancellable, GError **error)
{
  OstreeRepoCheckoutAtOptions opts;
  memset (&opts, 0, sizeof (opts));
  opts.mode = OSTREE_REPO_CHECKOUT_MODE_NONE;
  opts.overwrite_mode = OSTREE_REPO_CHECKOUT_OVERWRITE_NONE;
  opts.subpath = subpath;
  /* Copies, never hardlinks: the caller edits these files (an rpmdb is
   * written in place by sqlite), which must not reach the repo's objects. */
  opts.force_copy = TRUE;
  return ostree_repo_checkout_at (repo, &opts, AT_FDCWD, dest, commit, cancellable, error);
}

GVariant *
strata_variant_new_tuple5_array (char **cells, gsize n)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sssss)"));
  for (gsize i = 0; i < n; i++)
    {
      char **row = cells + i * 5;
      g_variant_builder_add (&b, "(sssss)", row[0], row[1], row[2], row[3], row[4]);
    }
  return g_variant_builder_end (&b);
}

void
strata_variant_get_tuple5_array (GVariant *v, const char **cells)
{
  const gsize n = g_variant_n_children (v);
  for (gsize i = 0; i < n; i++)
    {
      const char **row = cells + i * 5;
      g_variant_get_child (v, i, "(&s&s&s&s&s)", &row[0], &row[1], &row[2], &row[3], &row[4]);
    }
}
