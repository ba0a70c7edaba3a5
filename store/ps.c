/* ps.c — status names and the PsErr formatter. No global state. */
#include "store/ps.h"

#include <stdarg.h>
#include <stdio.h>

#include "store/sanitize.h"

PsStatus ps_err(PsErr *err, PsStatus rc, const char *fmt, ...)
{
    if (err) {
        /* Messages quote data (a tensor name, a file name, a CSV field): neutralised here, once,
         * so that none can carry a newline or an escape sequence to a terminal or a log. */
        char raw[PS_ERRMSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        sanitize_for_terminal(err->msg, sizeof err->msg, raw);
    }
    return rc;
}

const char *ps_status_str(PsStatus rc)
{
    switch (rc) {
    case PS_OK: return "ok";
    case PS_ERR_NOMEM: return "out of memory";
    case PS_ERR_IO: return "I/O error";
    case PS_ERR_PARSE: return "parse error";
    case PS_ERR_DB: return "database error";
    case PS_ERR_INVALID: return "invalid argument";
    case PS_ERR_CANCELLED: return "cancelled";
    case PS_ERR_BUSY: return "store busy";
    case PS_ERR_NOTFOUND: return "not found";
    case PS_ERR_VERSION: return "unsupported version";
    }
    return "unknown error";
}
