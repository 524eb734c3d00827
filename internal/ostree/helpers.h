/* Small C helpers for the Go binding: things cgo cannot express directly
 * (type macros, stack structs, variadic GLib calls). Kept minimal on purpose;
 * all policy lives on the Go side. */
#ifndef STRATA_OSTREE_HELPERS_H
#define STRATA_OSTREE_HELPERS_H

#include <ostree.h>

/* a{sv} building: new builder, add one entry (a floating value is sunk), finish (returns a
 * full, non-floating reference). */
GVariantBuilder *strata_vardict_new (void);
void strata_vardict_add (GVariantBuilder *b, const char *key, GVariant *value);
GVariant *strata_vardict_end (GVariantBuilder *b);

GVariant *strata_variant_new_bytes (const void *data, gsize len);
GVariant *strata_variant_new_strv (const char *const *strv, gssize len);
int strata_variant_is_type (GVariant *v, const char *type);

/* Returns a full reference to the a{sv} metadata of a commit variant. */
GVariant *strata_commit_metadata (GVariant *commit);
/* Subject (index 3) and body (index 4) of a commit, borrowed strings. */
const char *strata_commit_string (GVariant *commit, int index);

/* Reads a numeric/string value from an async progress, 0/NULL when unset. */
guint64 strata_progress_get_number (OstreeAsyncProgress *p, const char *key);
char *strata_progress_get_string (OstreeAsyncProgress *p, const char *key);

gboolean strata_checkout (OstreeRepo *repo, const char *dest, const char *commit,
                          GCancellable *cancellable, GError **error);

gboolean strata_g_io_error_is_cancelled (GError *error);

char **strata_strv_new (int n);
void strata_strv_set (char **strv, int i, char *s);

#endif

/* Runs ostree_repo_pull_with_options with a private thread-default main
 * context, so concurrent pulls never fight over the global one. */
gboolean strata_pull (OstreeRepo *repo, const char *remote, GVariant *options,
                      OstreeAsyncProgress *progress, GCancellable *cancellable,
                      GError **error);
