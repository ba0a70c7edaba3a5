/* cmd_common.c — what every verb shares: opening the store named by --store (or the default
 * location) and printing one sanitised error line. */
#include "ui/cmd.h"

#include <stdarg.h>
#include <stdio.h>

#include "store/sanitize.h"
#include "store/store.h"

void cmd_error(const char *fmt, ...)
{
    char raw[PS_ERRMSG_MAX + 256], safe[4 * sizeof raw];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* Messages quote paths and data (an SQLite message may quote a value): never let them
     * drive the terminal. */
    sanitize_for_terminal(safe, sizeof safe, raw);
    fprintf(stderr, "phenoscope: %s\n", safe);
}

int cmd_open_store(const CmdGlobal *g, struct Store **out, int mode)
{
    *out = NULL;
    PsErr err = {{0}};
    char path[4096];
    const char *p = g->store_path;
    if (!p) {
        if (store_default_path(path, sizeof path, &err)) {
            cmd_error("%s", err.msg);
            return 1;
        }
        p = path;
    }
    if (store_open(out, p, (StoreMode)mode, &err)) {
        cmd_error("%s", err.msg);
        return 1;
    }
    return 0;
}
