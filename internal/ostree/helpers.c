#include <fcntl.h>
#include <string.h>
#include "helpers.h"

GVariantBuilder *
strata_vardict_new (void)
{
  return g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
}

void
strata_vardict_add (GVariantBuilder *b, const char *key, GVariant *value)
{
  g_variant_builder_add (b, "{sv}", key, value);
}

GVariant *
strata_vardict_end (GVariantBuilder *b)
{
  GVariant *v = g_variant_ref_sink (g_variant_builder_end (b));
  g_variant_builder_unref (b);
  return v;
}

GVariant *
strata_variant_new_bytes (const void *data, gsize len)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1);
}

GVariant *
strata_variant_new_strv (const char *const *strv, gssize len)
{
  return g_variant_new_strv (strv, len);
}

int
strata_variant_is_type (GVariant *v, const char *type)
{
  return g_variant_is_of_type (v, (const GVariantType *) type);
}

GVariant *
strata_commit_metadata (GVariant *commit)
{
  return g_variant_get_child_value (commit, 0);
}

const char *
strata_commit_string (GVariant *commit, int index)
{
  const char *s = NULL;
  g_variant_get_child (commit, index, "&s", &s);
  return s;
}

guint64
strata_progress_get_number (OstreeAsyncProgress *p, const char *key)
{
  g_autoptr(GVariant) v = ostree_async_progress_get_variant (p, key);
  if (v == NULL)
    return 0;
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT32))
    return g_variant_get_uint32 (v);
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT64))
    return g_variant_get_uint64 (v);
  return 0;
}

char *
strata_progress_get_string (OstreeAsyncProgress *p, const char *key)
{
  g_autoptr(GVariant) v = ostree_async_progress_get_variant (p, key);
  if (v == NULL || !g_variant_is_of_type (v, G_VARIANT_TYPE_STRING))
    return NULL;
  return g_variant_dup_string (v, NULL);
}

gboolean
strata_checkout (OstreeRepo *repo, const char *dest, const char *commit,
                 GCancellable *cancellable, GError **error)
{
  OstreeRepoCheckoutAtOptions opts;
  memset (&opts, 0, sizeof (opts));
  opts.mode = OSTREE_REPO_CHECKOUT_MODE_NONE;
  opts.overwrite_mode = OSTREE_REPO_CHECKOUT_OVERWRITE_NONE;
  /* Hardlinks are used whenever the repo mode allows; copying stays the
   * fallback so an archive repo or a cross-device dest still works. */
  return ostree_repo_checkout_at (repo, &opts, AT_FDCWD, dest, commit,
                                  cancellable, error);
}

gboolean
strata_g_io_error_is_cancelled (GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

char **
strata_strv_new (int n)
{
  return g_new0 (char *, n + 1);
}

void
strata_strv_set (char **strv, int i, char *s)
{
  strv[i] = s;
}

gboolean
strata_pull (OstreeRepo *repo, const char *remote, GVariant *options,
             OstreeAsyncProgress *progress, GCancellable *cancellable,
             GError **error)
{
  GMainContext *ctx = g_main_context_new ();
  g_main_context_push_thread_default (ctx);
  gboolean ok = ostree_repo_pull_with_options (repo, remote, options, progress,
                                               cancellable, error);
  g_main_context_pop_thread_default (ctx);
  g_main_context_unref (ctx);
  return ok;
}
