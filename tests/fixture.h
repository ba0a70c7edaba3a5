/* fixture.h — reader for the small binary reference fixtures written by tests/fixture.py.
 *
 * Layout (little-endian): "PSFX" magic, u32 version (1), u32 tensor count, then per tensor:
 * u16 name length, name bytes, u32 ndim, u32 dims[ndim], u32 dtype (0 float32, 1 float64),
 * then the data.
 * Test-only, header-only: each test includes it once.
 */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_MAGIC "PSFX"
#define FIXTURE_VERSION 1u

typedef struct {
    char name[128];
    int ndim;
    int64_t dims[8];
    size_t numel;
    double *data; /* converted to double whatever the stored dtype */
} FixtureTensor;

typedef struct {
    FixtureTensor *t;
    int n;
} Fixture;

/* Directory of the fixtures: $PS_PARITY_DIR (make parity points it at freshly generated ones),
 * else tests/fixtures/parity. */
static inline const char *fixture_dir(void)
{
    const char *d = getenv("PS_PARITY_DIR");
    return d && *d ? d : "tests/fixtures/parity";
}

static inline void fixture_free(Fixture *f)
{
    for (int i = 0; i < f->n; i++) free(f->t[i].data);
    free(f->t);
    f->t = NULL;
    f->n = 0;
}

/* Loads fixture_dir()/name. Returns 0 on success, -1 with a message on stderr. */
static inline int fixture_load(Fixture *f, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixture_dir(), name);
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fixture: cannot open %s\n", path);
        return -1;
    }
    char magic[4];
    uint32_t ver, count;
    if (fread(magic, 1, 4, fp) != 4 || memcmp(magic, FIXTURE_MAGIC, 4) != 0 ||
        fread(&ver, 4, 1, fp) != 1 || ver != FIXTURE_VERSION || fread(&count, 4, 1, fp) != 1 ||
        count > 100000) {
        fprintf(stderr, "fixture: %s: bad header (magic, version %u expected)\n", path,
                FIXTURE_VERSION);
        fclose(fp);
        return -1;
    }
    f->t = calloc(count ? count : 1, sizeof *f->t);
    for (uint32_t i = 0; i < count; i++) {
        FixtureTensor *t = &f->t[i];
        uint16_t len;
        uint32_t ndim, dtype;
        if (fread(&len, 2, 1, fp) != 1 || len >= sizeof t->name || fread(t->name, 1, len, fp) != len ||
            fread(&ndim, 4, 1, fp) != 1 || ndim > 8)
            goto bad;
        t->name[len] = 0;
        t->ndim = (int)ndim;
        t->numel = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            uint32_t dim;
            if (fread(&dim, 4, 1, fp) != 1) goto bad;
            t->dims[d] = dim;
            t->numel *= dim;
        }
        if (fread(&dtype, 4, 1, fp) != 1 || dtype > 1) goto bad;
        t->data = malloc((t->numel ? t->numel : 1) * sizeof(double));
        for (size_t k = 0; k < t->numel; k++) {
            if (dtype == 0) {
                float v;
                if (fread(&v, 4, 1, fp) != 1) goto bad;
                t->data[k] = v;
            } else {
                double v;
                if (fread(&v, 8, 1, fp) != 1) goto bad;
                t->data[k] = v;
            }
        }
        f->n = (int)i + 1;
    }
    fclose(fp);
    return 0;
bad:
    fprintf(stderr, "fixture: %s: truncated or malformed tensor record\n", path);
    fclose(fp);
    fixture_free(f);
    return -1;
}

/* The tensor called name, or NULL (with a message). */
static inline const FixtureTensor *fixture_get(const Fixture *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    fprintf(stderr, "fixture: no tensor named %s\n", name);
    return NULL;
}

/* Compares got[0..n) with want under |got - want| <= atol + rtol * |want|. Prints the worst
 * element on failure and returns 0; returns 1 when all elements are within bounds. */
static inline int fixture_close(const char *what, const float *got, const double *want, size_t n,
                                double atol, double rtol)
{
    double worst = 0;
    size_t wi = 0;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double d = got[i] - want[i];
        if (d < 0) d = -d;
        double bound = atol + rtol * (want[i] < 0 ? -want[i] : want[i]);
        double excess = d / bound;
        if (!(d <= bound)) ok = 0; /* NaN fails */
        if (!(excess <= worst)) {
            worst = excess;
            wi = i;
        }
    }
    if (!ok)
        fprintf(stderr, "%s: mismatch: worst element %zu got %.9g want %.9g (%.2fx the bound)\n",
                what, wi, (double)got[wi], want[wi], worst);
    return ok;
}

#endif
