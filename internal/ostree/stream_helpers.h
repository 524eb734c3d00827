/* C helpers for stream.go: writing content, symlink and dirmeta objects
 * from values (not from files on disk) and placing them in a mutable tree. */
#ifndef STRATA_OSTREE_STREAM_HELPERS_H
#define STRATA_OSTREE_STREAM_HELPERS_H

#include <ostree.h>

/* a(ayay) building, one xattr at a time; _end returns a full reference
 * (an empty array when nothing was added). */
GVariantBuilder *strata_xattrs_new (void);
void strata_xattrs_add (GVariantBuilder *b, const char *name, const void *value, gsize len);
GVariant *strata_xattrs_end (GVariantBuilder *b);

/* Writes all of buf to a content writer. */
gboolean strata_content_writer_write (OstreeContentWriter *w, const void *buf, gsize len,
                                      GCancellable *cancellable, GError **error);

/* Writes the dirmeta object (uid, gid, mode with S_IFDIR, xattrs) and
 * returns its checksum (g_free-able). */
char *strata_write_dirmeta (OstreeRepo *repo, guint32 uid, guint32 gid, guint32 mode,
                            GVariant *xattrs, GCancellable *cancellable, GError **error);

/* Subdirectory name of dir, created empty when missing; a borrowed
 * pointer (dir holds the reference). */
OstreeMutableTree *strata_mtree_subdir (OstreeMutableTree *dir, const char *name,
                                        GError **error);

#endif
