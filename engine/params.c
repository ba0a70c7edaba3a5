/* params.c — the parameter slab (see params.h). Allocation happens once, at set-up. */
#include "engine/params.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN_FLOATS 16

void params_init(ParamSet *ps)
{
    memset(ps, 0, sizeof *ps);
}

PsStatus params_add(ParamSet *ps, const char *name, int ndim, const int64_t *shape,
                    size_t *offset, PsErr *err)
{
    PS_CHECK(err, ps && name && shape && ndim >= 0 && ndim <= PARAMS_MAX_DIM);
    if (ps->w) return ps_err(err, PS_ERR_INVALID, "params_add(%s): slab already allocated", name);
    if (strlen(name) >= PARAMS_NAME_MAX)
        return ps_err(err, PS_ERR_INVALID, "params_add: name too long: %s", name);
    if (params_find(ps, name) >= 0)
        return ps_err(err, PS_ERR_INVALID, "params_add: duplicate tensor %s", name);
    if (ps->count == ps->cap) {
        int cap = ps->cap ? ps->cap * 2 : 32;
        ParamInfo *info = realloc(ps->info, (size_t)cap * sizeof *info);
        if (!info) return ps_err(err, PS_ERR_NOMEM, "params_add(%s): out of memory", name);
        ps->info = info;
        ps->cap = cap;
    }
    ParamInfo *pi = &ps->info[ps->count++];
    memset(pi, 0, sizeof *pi);
    strcpy(pi->name, name);
    pi->ndim = ndim;
    pi->numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0)
            return ps_err(err, PS_ERR_INVALID, "params_add(%s): dimension %d is %lld", name, d,
                          (long long)shape[d]);
        pi->shape[d] = shape[d];
        pi->numel *= (size_t)shape[d];
    }
    pi->offset = ps->n;
    ps->n += (pi->numel + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    if (offset) *offset = pi->offset;
    return PS_OK;
}

PsStatus params_alloc(ParamSet *ps, int with_grad, PsErr *err)
{
    PS_CHECK(err, ps && !ps->w);
    size_t bytes = (ps->n ? ps->n : ALIGN_FLOATS) * sizeof(float);
    ps->w = aligned_alloc(64, bytes);
    if (!ps->w) return ps_err(err, PS_ERR_NOMEM, "params: cannot allocate %zu bytes", bytes);
    memset(ps->w, 0, bytes);
    if (with_grad) {
        bytes += PARAMS_GRAD_TAIL * sizeof(float);
        ps->g = aligned_alloc(64, bytes);
        if (!ps->g) {
            free(ps->w);
            ps->w = NULL;
            return ps_err(err, PS_ERR_NOMEM, "params: cannot allocate %zu bytes", bytes);
        }
        memset(ps->g, 0, bytes);
    }
    return PS_OK;
}

void params_free(ParamSet *ps)
{
    if (!ps) return;
    free(ps->w);
    free(ps->g);
    free(ps->info);
    params_init(ps);
}

int params_find(const ParamSet *ps, const char *name)
{
    for (int i = 0; i < ps->count; i++)
        if (strcmp(ps->info[i].name, name) == 0) return i;
    return -1;
}

void params_zero_grad(ParamSet *ps)
{
    if (ps->g) memset(ps->g, 0, ps->n * sizeof(float));
}

double params_grad_norm2(const ParamSet *ps)
{
    double s = 0;
    if (!ps->g) return 0;
    for (size_t i = 0; i < ps->n; i++) s += (double)ps->g[i] * ps->g[i];
    return s;
}

uint64_t params_checksum(const ParamSet *ps)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *p = (const unsigned char *)ps->w;
    for (size_t i = 0; i < ps->n * sizeof(float); i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
