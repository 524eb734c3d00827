#include <string.h>
#include "layers_helpers.h"

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
