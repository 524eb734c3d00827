/* C helpers for layers.go: merging container-image layer commits into one
 * mutable tree by checksum, with OCI whiteouts applied. */
#ifndef STRATA_OSTREE_LAYERS_HELPERS_H
#define STRATA_OSTREE_LAYERS_HELPERS_H

#include <ostree.h>

/* Overlays the root of layer commit onto root. dirty holds the directories
 * (relative paths, "" = root) that contain whiteout markers or lead to one;
 * implicit the directories the layer did not carry itself. */
gboolean strata_mtree_merge_layer (OstreeRepo *repo, OstreeMutableTree *root, const char *commit,
                                   GHashTable *dirty, GHashTable *implicit,
                                   GCancellable *cancellable, GError **error);

/* Names in directory path of root (files then dirs, NULL-terminated,
 * g_strfreev-able); *n_files tells where the dirs start. NULL when path is
 * not a directory. */
char **strata_mtree_list (OstreeMutableTree *root, const char *path, guint *n_files);

GHashTable *strata_str_set_new (void);
void strata_str_set_add (GHashTable *set, const char *s);

#endif
