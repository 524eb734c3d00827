/* C helpers for objects.go: writing raw OSTree objects whose checksum is
 * known in advance (libostree recomputes and compares it), and reading them
 * back for export. */
#ifndef STRATA_OSTREE_OBJECTS_HELPERS_H
#define STRATA_OSTREE_OBJECTS_HELPERS_H

#include <ostree.h>

/* Writes a commit, dirtree or dirmeta object from its serialized bytes; the
 * object must hash to checksum. */
gboolean strata_write_metadata_bytes (OstreeRepo *repo, int objtype, const char *checksum,
                                      const void *data, gsize len, GCancellable *cancellable,
                                      GError **error);

/* Writes detached metadata (an a{sv}) of commit; len 0 removes it. */
gboolean strata_write_detached_bytes (OstreeRepo *repo, const char *commit, const void *data,
                                      gsize len, GCancellable *cancellable, GError **error);

/* Writes a content object: a regular file read from fd (size bytes), or a
 * symlink when target is not NULL. xattrs is a serialized a(ayay) (len 0 =
 * none). The object must hash to checksum. fd is not closed. */
gboolean strata_write_content_fd (OstreeRepo *repo, const char *checksum, guint32 uid,
                                  guint32 gid, guint32 mode, guint64 size, const char *target,
                                  const void *xattrs, gsize xattrs_len, int fd,
                                  GCancellable *cancellable, GError **error);

/* Opens a content object: owner, mode (with S_IFMT), size, symlink target
 * (g_free-able, NULL for regular files), xattrs (a(ayay), a full reference)
 * and, for regular files, its content stream. */
gboolean strata_open_content (OstreeRepo *repo, const char *checksum, guint32 *uid, guint32 *gid,
                              guint32 *mode, guint64 *size, char **target, GVariant **xattrs,
                              GInputStream **content, GCancellable *cancellable, GError **error);

/* Fails, naming the object, unless every object commit reaches is in the
 * repo (staged objects of the running transaction count). */
gboolean strata_commit_check_complete (OstreeRepo *repo, const char *commit,
                                       GCancellable *cancellable, GError **error);

/* Commits a tree that holds each content object of checksums once, named by
 * its checksum under a two-character fan-out directory: a commit that keeps
 * a set of objects reachable. */
gboolean strata_commit_object_set (OstreeRepo *repo, const char *const *checksums,
                                   const char *subject, GVariant *metadata, char **out_commit,
                                   GCancellable *cancellable, GError **error);

/* A new a{sv} (full reference): dict (may be NULL) without the keys in
 * drop, plus the string entries set_keys[i] = set_values[i]. */
GVariant *strata_vardict_edit (GVariant *dict, const char *const *drop, const char *const *set_keys,
                               const char *const *set_values);

/* Reads commit's detached metadata (NULL when none; a full reference). */
/* strata_vardict_set_bytes_array: dict (may be NULL) with key replaced by
 * the aay built from n byte strings. */
GVariant *strata_vardict_set_bytes_array (GVariant *dict, const char *key, const void *const *items,
                                          const gsize *lens, gsize n);
gboolean strata_read_detached (OstreeRepo *repo, const char *commit, GVariant **out,
                               GError **error);

#endif
