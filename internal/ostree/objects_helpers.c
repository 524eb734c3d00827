#include "objects_helpers.h"
#include "compose_helpers.h"

#include <gio/gunixinputstream.h>
#include <string.h>
#include <sys/stat.h>

#define fail_with(error, ...) \
  (g_set_error ((error), G_IO_ERROR, G_IO_ERROR_FAILED, __VA_ARGS__), FALSE)

gboolean
strata_write_metadata_bytes (OstreeRepo *repo, int objtype, const char *checksum,
                             const void *data, gsize len, GCancellable *cancellable,
                             GError **error)
{
  g_autoptr (GBytes) bytes = g_bytes_new (data, len);
  g_autoptr (GVariant) v
      = g_variant_ref_sink (g_variant_new_from_bytes (ostree_metadata_variant_type (objtype),
                                                      bytes, FALSE));
  g_autofree guchar *csum = NULL;
  return ostree_repo_write_metadata (repo, objtype, checksum, v, &csum, cancellable, error);
}

gboolean
strata_write_detached_bytes (OstreeRepo *repo, const char *commit, const void *data, gsize len,
                             GCancellable *cancellable, GError **error)
{
  g_autoptr (GVariant) v = NULL;
  if (len > 0)
    {
      g_autoptr (GBytes) bytes = g_bytes_new (data, len);
      v = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("a{sv}"), bytes, FALSE));
      /* Detached metadata is not checksummed: make sure it is well formed
       * before it lands next to the commit. */
      if (!g_variant_is_normal_form (v))
        return fail_with (error, "detached metadata of %s is not a normal-form a{sv}", commit);
    }
  return ostree_repo_write_commit_detached_metadata (repo, commit, v, cancellable, error);
}

gboolean
strata_write_content_fd (OstreeRepo *repo, const char *checksum, guint32 uid, guint32 gid,
                         guint32 mode, guint64 size, const char *target, const void *xattrs,
                         gsize xattrs_len, int fd, GCancellable *cancellable, GError **error)
{
  g_autoptr (GFileInfo) info = g_file_info_new ();
  g_file_info_set_attribute_uint32 (info, "unix::uid", uid);
  g_file_info_set_attribute_uint32 (info, "unix::gid", gid);
  g_file_info_set_attribute_uint32 (info, "unix::mode", mode);
  g_autoptr (GInputStream) in = NULL;
  if (target != NULL)
    {
      g_file_info_set_file_type (info, G_FILE_TYPE_SYMBOLIC_LINK);
      g_file_info_set_symlink_target (info, target);
      g_file_info_set_size (info, 0);
    }
  else
    {
      g_file_info_set_file_type (info, G_FILE_TYPE_REGULAR);
      g_file_info_set_size (info, size);
      in = g_unix_input_stream_new (fd, FALSE);
    }
  g_autoptr (GVariant) xv = NULL;
  if (xattrs_len > 0)
    {
      g_autoptr (GBytes) bytes = g_bytes_new (xattrs, xattrs_len);
      xv = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("a(ayay)"), bytes, FALSE));
    }
  else
    xv = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(ayay)"), NULL, 0));
  g_autoptr (GInputStream) obj = NULL;
  guint64 obj_len = 0;
  if (!ostree_raw_file_to_content_stream (in, info, xv, &obj, &obj_len, cancellable, error))
    return FALSE;
  g_autofree guchar *csum = NULL;
  return ostree_repo_write_content (repo, checksum, obj, obj_len, &csum, cancellable, error);
}

gboolean
strata_open_content (OstreeRepo *repo, const char *checksum, guint32 *uid, guint32 *gid,
                     guint32 *mode, guint64 *size, char **target, GVariant **xattrs,
                     GInputStream **content, GCancellable *cancellable, GError **error)
{
  g_autoptr (GFileInfo) info = NULL;
  if (!ostree_repo_load_file (repo, checksum, content, &info, xattrs, cancellable, error))
    return FALSE;
  *uid = g_file_info_get_attribute_uint32 (info, "unix::uid");
  *gid = g_file_info_get_attribute_uint32 (info, "unix::gid");
  *mode = g_file_info_get_attribute_uint32 (info, "unix::mode");
  *size = g_file_info_get_size (info);
  *target = NULL;
  if (g_file_info_get_file_type (info) == G_FILE_TYPE_SYMBOLIC_LINK)
    *target = g_strdup (g_file_info_get_symlink_target (info));
  if (*xattrs == NULL)
    *xattrs = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(ayay)"), NULL, 0));
  return TRUE;
}

gboolean
strata_commit_check_complete (OstreeRepo *repo, const char *commit, GCancellable *cancellable,
                              GError **error)
{
  g_autoptr (GHashTable) reachable = NULL;
  /* Loading every dirtree and dirmeta fails on a missing one. */
  if (!ostree_repo_traverse_commit (repo, commit, 0, &reachable, cancellable, error))
    return FALSE;
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, reachable);
  while (g_hash_table_iter_next (&it, &key, NULL))
    {
      const char *csum;
      OstreeObjectType type;
      ostree_object_name_deserialize ((GVariant *)key, &csum, &type);
      if (type != OSTREE_OBJECT_TYPE_FILE)
        continue;
      gboolean have = FALSE;
      if (!ostree_repo_has_object (repo, type, csum, &have, cancellable, error))
        return FALSE;
      if (!have)
        return fail_with (error, "commit %s needs file object %s, which no layer carried",
                           commit, csum);
    }
  return TRUE;
}

static GVariant *
default_dirmeta (void)
{
  return g_variant_ref_sink (g_variant_new ("(uuu@a(ayay))", GUINT32_TO_BE (0), GUINT32_TO_BE (0),
                                            GUINT32_TO_BE (S_IFDIR | 0755),
                                            g_variant_new_array (G_VARIANT_TYPE ("(ayay)"), NULL, 0)));
}

gboolean
strata_commit_object_set (OstreeRepo *repo, const char *const *checksums, const char *subject,
                          GVariant *metadata, char **out_commit, GCancellable *cancellable,
                          GError **error)
{
  g_autoptr (GVariant) dirmeta = default_dirmeta ();
  g_autofree guchar *meta_bin = NULL;
  if (!ostree_repo_write_metadata (repo, OSTREE_OBJECT_TYPE_DIR_META, NULL, dirmeta, &meta_bin,
                                   cancellable, error))
    return FALSE;
  char meta_csum[OSTREE_SHA256_STRING_LEN + 1];
  ostree_checksum_inplace_from_bytes (meta_bin, meta_csum);
  g_autoptr (OstreeMutableTree) root = ostree_mutable_tree_new ();
  ostree_mutable_tree_set_metadata_checksum (root, meta_csum);
  for (const char *const *c = checksums; c && *c; c++)
    {
      char fanout[3] = { (*c)[0], (*c)[1], 0 };
      g_autoptr (OstreeMutableTree) sub = NULL;
      if (!ostree_mutable_tree_ensure_dir (root, fanout, &sub, error))
        return FALSE;
      ostree_mutable_tree_set_metadata_checksum (sub, meta_csum);
      if (!ostree_mutable_tree_replace_file (sub, *c, *c, error))
        return FALSE;
    }
  return strata_write_mtree_commit (repo, root, NULL, subject, metadata, 0, out_commit, cancellable,
                                    error);
}

GVariant *
strata_vardict_edit (GVariant *dict, const char *const *drop, const char *const *set_keys,
                     const char *const *set_values)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  if (dict != NULL)
    {
      GVariantIter it;
      const char *key;
      GVariant *value;
      g_variant_iter_init (&it, dict);
      while (g_variant_iter_next (&it, "{&sv}", &key, &value))
        {
          gboolean skip = (drop != NULL && g_strv_contains (drop, key))
                          || (set_keys != NULL && g_strv_contains (set_keys, key));
          if (!skip)
            g_variant_builder_add (&b, "{sv}", key, value);
          g_variant_unref (value);
        }
    }
  for (guint i = 0; set_keys != NULL && set_keys[i] != NULL; i++)
    g_variant_builder_add (&b, "{sv}", set_keys[i], g_variant_new_string (set_values[i]));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

gboolean
strata_read_detached (OstreeRepo *repo, const char *commit, GVariant **out, GError **error)
{
  *out = NULL;
  return ostree_repo_read_commit_detached_metadata (repo, commit, out, NULL, error);
}

GVariant *
strata_vardict_set_bytes_array (GVariant *dict, const char *key, const void *const *items,
                                const gsize *lens, gsize n)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  if (dict != NULL)
    {
      GVariantIter it;
      const char *k;
      GVariant *value;
      g_variant_iter_init (&it, dict);
      while (g_variant_iter_next (&it, "{&sv}", &k, &value))
        {
          if (!g_str_equal (k, key))
            g_variant_builder_add (&b, "{sv}", k, value);
          g_variant_unref (value);
        }
    }
  GVariantBuilder arr;
  g_variant_builder_init (&arr, G_VARIANT_TYPE ("aay"));
  for (gsize i = 0; i < n; i++)
    g_variant_builder_add_value (&arr, g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, items[i], lens[i], 1));
  g_variant_builder_add (&b, "{sv}", key, g_variant_builder_end (&arr));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}
