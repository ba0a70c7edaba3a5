/* assets.c — lookup over the generated table of embedded asset files. */
#include "store/assets.h"

#include <string.h>

const AssetFile *assets_get(const char *name)
{
    for (const AssetFile *a = assets_files; a->name; a++)
        if (strcmp(a->name, name) == 0) return a;
    return NULL;
}
