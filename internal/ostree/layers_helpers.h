/* C helpers for layers.go: reading the merged tree and passing string sets
 * (the merge itself is strata_mtree_merge, compose_helpers.h). */
#ifndef STRATA_OSTREE_LAYERS_HELPERS_H
#define STRATA_OSTREE_LAYERS_HELPERS_H

#include <ostree.h>

/* Names in directory path of root (files then dirs, NULL-terminated,
 * g_strfreev-able); *n_files tells where the dirs start. NULL when path is
 * not a directory. */
char **strata_mtree_list (OstreeMutableTree *root, const char *path, guint *n_files);

GHashTable *strata_str_set_new (void);
void strata_str_set_add (GHashTable *set, const char *s);

#endif
