/* assets.h — the data files of assets/, compiled into the binary (see tests/gen_assets.sh). */
#ifndef ASSETS_H
#define ASSETS_H

#include <stddef.h>

typedef struct {
    const char *name;          /* file name within assets/, e.g. "phenotypes.csv" */
    const unsigned char *data; /* the bytes, followed by a NUL so text can be used as a string */
    size_t size;               /* without the trailing NUL */
} AssetFile;

extern const AssetFile assets_files[]; /* terminated by an entry with name == NULL */

/* The asset named `name`, or NULL. The pointer is static and valid for the program's life. */
const AssetFile *assets_get(const char *name);

#endif
