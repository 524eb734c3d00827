#include <sys/stat.h>
#include "stream_helpers.h"

GVariantBuilder *
strata_xattrs_new (void)
{
  return g_variant_builder_new (G_VARIANT_TYPE ("a(ayay)"));
}

void
strata_xattrs_add (GVariantBuilder *b, const char *name, const void *value, gsize len)
{
  /* Names are NUL-terminated bytestrings, values raw bytes: the form
   * libostree reads from disk, so the checksums match a commit of the same
   * files from a directory. */
  GVariant *v = g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, value, len, 1);
  g_variant_builder_add (b, "(@ay@ay)", g_variant_new_bytestring (name), v);
}

GVariant *
strata_xattrs_end (GVariantBuilder *b)
{
  GVariant *v = g_variant_ref_sink (g_variant_builder_end (b));
  g_variant_builder_unref (b);
  return v;
}

gboolean
strata_content_writer_write (OstreeContentWriter *w, const void *buf, gsize len,
                             GCancellable *cancellable, GError **error)
{
  return g_output_stream_write_all (G_OUTPUT_STREAM (w), buf, len, NULL, cancellable, error);
}

char *
strata_write_dirmeta (OstreeRepo *repo, guint32 uid, guint32 gid, guint32 mode, GVariant *xattrs,
                      GCancellable *cancellable, GError **error)
{
  /* (u uid, u gid, u mode, a(ayay) xattrs), integers big-endian */
  g_autoptr (GVariant) meta = g_variant_ref_sink (
      g_variant_new ("(uuu@a(ayay))", GUINT32_TO_BE (uid), GUINT32_TO_BE (gid),
                     GUINT32_TO_BE (S_IFDIR | (mode & 07777)), xattrs));
  g_autofree guchar *csum = NULL;
  if (!ostree_repo_write_metadata (repo, OSTREE_OBJECT_TYPE_DIR_META, NULL, meta, &csum,
                                   cancellable, error))
    return NULL;
  return ostree_checksum_from_bytes (csum);
}

OstreeMutableTree *
strata_mtree_subdir (OstreeMutableTree *dir, const char *name, GError **error)
{
  OstreeMutableTree *sub = NULL;
  if (!ostree_mutable_tree_ensure_dir (dir, name, &sub, error))
    return NULL;
  /* dir keeps its own reference in its subdirs table */
  g_object_unref (sub);
  return sub;
}
