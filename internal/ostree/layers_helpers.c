#include <string.h>
#include "layers_helpers.h"

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

static gboolean merge_dir (OstreeRepo *repo, OstreeMutableTree *dir, GVariant *tree,
                           const char *path, GHashTable *dirty, GHashTable *implicit,
                           GCancellable *cancellable, GError **error);

/* Adds the layer's directory name (tree_csum, meta_csum) under dir. */
static gboolean
merge_subdir (OstreeRepo *repo, OstreeMutableTree *dir, const char *name, const char *tree_csum,
              const char *meta_csum, const char *path, GHashTable *dirty, GHashTable *implicit,
              GCancellable *cancellable, GError **error)
{
  g_autofree char *sub_path = child_path (path, name);
  const gboolean is_implicit = g_hash_table_contains (implicit, sub_path);
  g_autoptr (GVariant) tree = NULL;
  if (!ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_DIR_TREE, tree_csum, &tree, error))
    return FALSE;

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
      /* A directory the layer only implies cannot replace a lower file or
       * symlink: the layer would be writing through it. */
      if (is_implicit)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "/%s: the layer writes through a non-directory of a lower layer",
                       sub_path);
          return FALSE;
        }
      if (!ostree_mutable_tree_remove (dir, name, FALSE, error))
        return FALSE;
    }
  else if (tree_has_opaque (tree))
    {
      if (!ostree_mutable_tree_remove (dir, name, FALSE, error))
        return FALSE;
      g_clear_object (&existing);
    }

  if (existing != NULL)
    {
      if (!is_implicit)
        ostree_mutable_tree_set_metadata_checksum (existing, meta_csum);
      return merge_dir (repo, existing, tree, sub_path, dirty, implicit, cancellable, error);
    }

  g_autoptr (OstreeMutableTree) sub = NULL;
  if (!ostree_mutable_tree_ensure_dir (dir, name, &sub, error))
    return FALSE;
  if (!g_hash_table_contains (dirty, sub_path))
    {
      /* No marker below: link the whole subtree in, unread. */
      if (!ostree_mutable_tree_fill_empty_from_dirtree (sub, repo, tree_csum, meta_csum))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "/%s: cannot fill from %s",
                       sub_path, tree_csum);
          return FALSE;
        }
      return TRUE;
    }
  ostree_mutable_tree_set_metadata_checksum (sub, meta_csum);
  return merge_dir (repo, sub, tree, sub_path, dirty, implicit, cancellable, error);
}

static gboolean
merge_dir (OstreeRepo *repo, OstreeMutableTree *dir, GVariant *tree, const char *path,
           GHashTable *dirty, GHashTable *implicit, GCancellable *cancellable, GError **error)
{
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  g_autoptr (GVariant) files = g_variant_get_child_value (tree, 0);
  g_autoptr (GVariant) dirs = g_variant_get_child_value (tree, 1);
  const gsize nf = g_variant_n_children (files);

  /* Whiteouts first: they delete lower content only, never what this
   * layer adds next to them. */
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

  for (gsize i = 0; i < nf; i++)
    {
      const char *name;
      g_autoptr (GVariant) csum_v = NULL;
      g_variant_get_child (files, i, "(&s@ay)", &name, &csum_v);
      if (g_str_has_prefix (name, WH_PREFIX))
        continue;
      char csum[OSTREE_SHA256_STRING_LEN + 1];
      ostree_checksum_inplace_from_bytes (ostree_checksum_bytes_peek (csum_v), csum);
      g_autofree char *existing_file = NULL;
      g_autoptr (OstreeMutableTree) existing = NULL;
      if (ostree_mutable_tree_lookup (dir, name, &existing_file, &existing, NULL)
          && existing != NULL)
        {
          /* Later layers win: a file replaces a lower directory. */
          if (!ostree_mutable_tree_remove (dir, name, FALSE, error))
            return FALSE;
        }
      if (!ostree_mutable_tree_replace_file (dir, name, csum, error))
        {
          g_prefix_error (error, "/%s: ", path);
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
      if (!merge_subdir (repo, dir, name, sub_tree, sub_meta, path, dirty, implicit, cancellable,
                         error))
        return FALSE;
    }
  return TRUE;
}

gboolean
strata_mtree_merge_layer (OstreeRepo *repo, OstreeMutableTree *root, const char *commit,
                          GHashTable *dirty, GHashTable *implicit, GCancellable *cancellable,
                          GError **error)
{
  g_autoptr (GVariant) c = NULL;
  if (!ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_COMMIT, commit, &c, error))
    return FALSE;
  g_autoptr (GVariant) tree_v = g_variant_get_child_value (c, 6);
  g_autoptr (GVariant) meta_v = g_variant_get_child_value (c, 7);
  g_autofree char *tree_csum = ostree_checksum_from_bytes_v (tree_v);
  g_autofree char *meta_csum = ostree_checksum_from_bytes_v (meta_v);
  g_autoptr (GVariant) tree = NULL;
  if (!ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_DIR_TREE, tree_csum, &tree, error))
    return FALSE;
  if (tree_has_opaque (tree))
    {
      /* The root is ours (never lazily filled), so its tables are whole. */
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
      || !g_hash_table_contains (implicit, ""))
    ostree_mutable_tree_set_metadata_checksum (root, meta_csum);
  return merge_dir (repo, root, tree, "", dirty, implicit, cancellable, error);
}

char **
strata_mtree_list (OstreeMutableTree *root, const char *path, guint *n_files)
{
  g_autoptr (OstreeMutableTree) dir = g_object_ref (root);
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (*parts[i] == '\0')
        continue;
      g_autofree char *file = NULL;
      g_autoptr (OstreeMutableTree) sub = NULL;
      if (!ostree_mutable_tree_lookup (dir, parts[i], &file, &sub, NULL) || sub == NULL)
        return NULL;
      g_object_unref (dir);
      dir = g_steal_pointer (&sub);
    }
  /* Force a lazily filled directory whole before reading its tables. */
  g_autofree char *f = NULL;
  g_autoptr (OstreeMutableTree) d = NULL;
  (void)ostree_mutable_tree_lookup (dir, "\x01", &f, &d, NULL);
  GPtrArray *out = g_ptr_array_new ();
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init (&it, ostree_mutable_tree_get_files (dir));
  while (g_hash_table_iter_next (&it, &k, NULL))
    g_ptr_array_add (out, g_strdup (k));
  *n_files = out->len;
  g_hash_table_iter_init (&it, ostree_mutable_tree_get_subdirs (dir));
  while (g_hash_table_iter_next (&it, &k, NULL))
    g_ptr_array_add (out, g_strdup (k));
  g_ptr_array_add (out, NULL);
  return (char **)g_ptr_array_free (out, FALSE);
}

GHashTable *
strata_str_set_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

void
strata_str_set_add (GHashTable *set, const char *s)
{
  g_hash_table_add (set, g_strdup (s));
}
