/* runview.c — reading a run back for display (see runview.h).
 *
 * The epoch JSON is the trainer's own compact output, so a key lookup that respects nesting depth
 * and string quoting is enough; it is not a general JSON parser and never evaluates anything.
 */
#include "store/runview.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value after "key": at nesting depth 1 of the object starting at obj (depth counted from its
 * opening brace); NULL when absent. */
static const char *find_key(const char *obj, const char *key)
{
    size_t kl = strlen(key);
    int depth = 0;
    for (const char *p = obj; *p; p++) {
        if (*p == '"') {
            const char *s = ++p;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) p++;
                p++;
            }
            if (!*p) return NULL;
            if (depth == 1 && (size_t)(p - s) == kl && !memcmp(s, key, kl)) {
                const char *q = p + 1;
                while (*q == ' ') q++;
                if (*q == ':') {
                    q++;
                    while (*q == ' ') q++;
                    return q;
                }
            }
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth <= 0) return NULL;
        }
    }
    return NULL;
}

/* Follows "a.b" paths; returns the value's start or NULL. */
static const char *find_path(const char *json, const char *path)
{
    char part[64];
    const char *obj = json;
    while (obj) {
        const char *dot = strchr(path, '.');
        size_t l = dot ? (size_t)(dot - path) : strlen(path);
        if (l >= sizeof part) return NULL;
        memcpy(part, path, l);
        part[l] = 0;
        const char *v = find_key(obj, part);
        if (!dot || !v) return v;
        if (*v != '{') return NULL;
        obj = v;
        path = dot + 1;
    }
    return NULL;
}

static double num_at(const char *v)
{
    if (!v || !strncmp(v, "null", 4)) return NAN;
    char *end;
    double d = strtod(v, &end);
    return end == v ? NAN : d;
}

double runview_json_num(const char *json, const char *path)
{
    return json ? num_at(find_path(json, path)) : NAN;
}

void runview_json_str(const char *json, const char *key, char *buf, size_t n)
{
    if (!n) return;
    buf[0] = 0;
    const char *v = json ? find_path(json, key) : NULL;
    if (!v || *v != '"') return;
    size_t i = 0;
    for (v++; *v && *v != '"' && i + 1 < n; v++) {
        if (*v == '\\' && v[1]) v++;
        buf[i++] = *v;
    }
    buf[i] = 0;
}

PsStatus runview_parse_epoch(const char *json, RunViewEpoch *e)
{
    memset(e, 0, sizeof *e);
    while (json && (*json == ' ' || *json == '\n')) json++;
    if (!json || *json != '{') return PS_ERR_PARSE;
    double ep = runview_json_num(json, "epoch");
    if (isnan(ep)) return PS_ERR_PARSE;
    e->epoch = (int)ep;
    runview_json_str(json, "phase", e->phase, sizeof e->phase);
    e->lr = runview_json_num(json, "lr");
    static const char *const ln[3] = {"train_loss_cxr", "train_loss_ehr", "train_loss_joint"};
    for (int k = 0; k < 3; k++) e->loss[k] = runview_json_num(json, ln[k]);
    runview_json_str(json, "selection", e->selection, sizeof e->selection);
    if (!e->selection[0]) snprintf(e->selection, sizeof e->selection, "val_all");
    char key[48];
    snprintf(key, sizeof key, "%s.auroc", e->selection);
    e->auroc = runview_json_num(json, key);
    static const char *const g[3] = {"acute", "mixed", "chronic"};
    for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof key, "%s.%s", e->selection, g[k]);
        e->group[k] = runview_json_num(json, key);
    }
    for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) e->per[k] = NAN;
    snprintf(key, sizeof key, "%s.per_phenotype", e->selection);
    const char *a = find_path(json, key);
    if (a && *a == '[') {
        a++;
        for (int k = 0; k < CATALOG_N_PHENOTYPES && *a && *a != ']'; k++) {
            while (*a == ' ') a++;
            e->per[k] = num_at(a);
            while (*a && *a != ',' && *a != ']') a++;
            if (*a == ',') a++;
        }
    }
    const char *b = find_path(json, "best");
    e->best = b && !strncmp(b, "true", 4);
    return PS_OK;
}

typedef struct {
    RunView *v;
    size_t cap;
    PsStatus rc;
} Collect;

static int collect_step(void *ctx, const RunStep *s)
{
    Collect *c = ctx;
    RunView *v = c->v;
    if (v->n_steps == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        RunStep *p = realloc(v->steps, cap * sizeof *p);
        if (!p) {
            c->rc = PS_ERR_NOMEM;
            return 1;
        }
        v->steps = p;
        c->cap = cap;
    }
    v->steps[v->n_steps++] = *s;
    return 0;
}

static int collect_epoch(void *ctx, int epoch, const char *json)
{
    (void)epoch;
    Collect *c = ctx;
    RunView *v = c->v;
    RunViewEpoch e;
    if (runview_parse_epoch(json, &e)) return 0; /* a row this version cannot read: skipped */
    RunViewEpoch *p = realloc(v->epochs, ((size_t)v->n_epochs + 1) * sizeof *p);
    if (!p) {
        c->rc = PS_ERR_NOMEM;
        return 1;
    }
    v->epochs = p;
    v->epochs[v->n_epochs++] = e;
    if (e.best && isfinite(e.auroc)) {
        v->best_epoch = e.epoch;
        v->best_auroc = e.auroc;
    }
    return 0;
}

PsStatus runview_load(Store *st, int64_t run_id, size_t max_steps, RunView *v, PsErr *err)
{
    memset(v, 0, sizeof *v);
    v->best_auroc = NAN;
    PsStatus rc = runs_get(st, run_id, &v->info, &v->config);
    if (rc == PS_ERR_NOTFOUND) return ps_err(err, rc, "no run %lld in the store", (long long)run_id);
    if (rc) return ps_err(err, rc, "run %lld: %s", (long long)run_id, store_errmsg(st));
    rc = runs_get_progress(st, run_id, &v->progress);
    if (rc == PS_OK) v->has_progress = 1;
    else if (rc != PS_ERR_NOTFOUND) goto fail;
    Collect c = {v, 0, PS_OK};
    rc = runs_each_step(st, run_id, collect_step, &c);
    if (c.rc) rc = c.rc;
    if (rc && rc != PS_ERR_CANCELLED) goto fail;
    rc = runs_each_epoch(st, run_id, collect_epoch, &c);
    if (c.rc) rc = c.rc;
    if (rc && rc != PS_ERR_CANCELLED) goto fail;
    if (max_steps > 0 && v->n_steps > max_steps) {
        /* keep evenly spaced steps, always the last one */
        for (size_t i = 0; i < max_steps; i++) {
            size_t j = (size_t)((double)i * (double)(v->n_steps - 1) / (double)(max_steps - 1));
            v->steps[i] = v->steps[j];
        }
        v->n_steps = max_steps;
    }
    return PS_OK;
fail:
    ps_err(err, rc, "run %lld: %s", (long long)run_id,
           rc == PS_ERR_NOMEM ? "out of memory" : store_errmsg(st));
    runview_free(v);
    return rc;
}

void runview_free(RunView *v)
{
    free(v->config);
    free(v->steps);
    free(v->epochs);
    memset(v, 0, sizeof *v);
}
