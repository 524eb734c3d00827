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

gboolean
strata_mtree_merge_dirtree (OstreeRepo *repo, OstreeMutableTree *mtree, const char *contents_csum,
                            const char *meta_csum, GCancellable *cancellable, GError **error)
{
  (void)meta_csum; /* an existing directory keeps its own metadata */
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  g_autoptr (GVariant) tree = NULL;
  if (!ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_DIR_TREE, contents_csum, &tree, error))
    return FALSE;
  g_autoptr (GVariant) files = g_variant_get_child_value (tree, 0);
  g_autoptr (GVariant) dirs = g_variant_get_child_value (tree, 1);

  const gsize nf = g_variant_n_children (files);
  for (gsize i = 0; i < nf; i++)
    {
      const char *name;
      g_autoptr (GVariant) csum_v = NULL;
      g_variant_get_child (files, i, "(&s@ay)", &name, &csum_v);
      char csum[OSTREE_SHA256_STRING_LEN + 1];
      ostree_checksum_inplace_from_bytes (ostree_checksum_bytes_peek (csum_v), csum);
      if (!ostree_mutable_tree_replace_file (mtree, name, csum, error))
        {
          g_prefix_error (error, "%s: ", name);
          return FALSE;
        }
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

      g_autofree char *existing_file = NULL;
      g_autoptr (OstreeMutableTree) existing_dir = NULL;
      g_autoptr (GError) lookup_error = NULL;
      if (!ostree_mutable_tree_lookup (mtree, name, &existing_file, &existing_dir, &lookup_error))
        {
          if (!g_error_matches (lookup_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
            {
              g_propagate_error (error, g_steal_pointer (&lookup_error));
              return FALSE;
            }
          /* Not there yet: link the whole subtree in without reading it. */
          g_autoptr (OstreeMutableTree) sub = NULL;
          if (!ostree_mutable_tree_ensure_dir (mtree, name, &sub, error))
            return FALSE;
          if (!ostree_mutable_tree_fill_empty_from_dirtree (sub, repo, sub_tree, sub_meta))
            return strata_throw (error, "%s: cannot fill directory from %s", name, sub_tree);
          continue;
        }
      if (existing_dir == NULL)
        return strata_throw (error, "%s: a directory cannot replace a non-directory", name);
      if (!strata_mtree_merge_dirtree (repo, existing_dir, sub_tree, sub_meta, cancellable,
                                       error))
        {
          g_prefix_error (error, "%s/", name);
          return FALSE;
        }
    }
  return TRUE;
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
