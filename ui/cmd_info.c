/* cmd_info.c — `phenoscope info [--json]`: what the store holds, in the shape of the paper's
 * Table 1 (radiographs, EHR stays and pairs per split), plus the schema version, the path, the
 * data sources and the cohort funnel. Reads only; the text form is for people (sanitised), the
 * JSON form for scripts. */
#include "ui/cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/json.h"
#include "store/sanitize.h"
#include "store/store.h"

static const char *const split_names[STORE_N_SPLITS] = {"train", "val", "test"};

static void help(FILE *f)
{
    fprintf(f, "usage: phenoscope info [--json]\n"
               "\n"
               "Counts of radiographs, EHR stays and stay-radiograph pairs per split (the paper's\n"
               "Table 1), the store's path and schema version, its data sources and, when an\n"
               "import recorded it, the cohort funnel.\n"
               "\n"
               "  --json      one JSON document: {\"schema\": N, \"splits\": {\"train\": {\"cxr\": N,\n"
               "              \"ehr\": N, \"pairs\": N}, \"val\": ..., \"test\": ...}, \"total\": ...,\n"
               "              \"store\": PATH, \"sources\": [...], \"funnel\": [...]}\n"
               "  --store P   the store (as the global option)\n"
               "  -h, --help  this help\n");
}

static void utc(char *buf, size_t n, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(buf, n, "%lld", (long long)t);
}

/* ---- text ---------------------------------------------------------------------------------- */

static int print_source(void *ctx, const StoreSource *s)
{
    int *n = ctx;
    char name[256], detail[1024], when[64];
    sanitize_for_terminal(name, sizeof name, s->name);
    sanitize_for_terminal(detail, sizeof detail, s->detail);
    utc(when, sizeof when, s->time);
    if ((*n)++ == 0) printf("\nsources\n");
    printf("  %-12s %s  (%s)\n", name, detail, when);
    return 0;
}

typedef struct {
    char source[256];
    int n;
} FunnelPrint;

static int print_funnel(void *ctx, const StoreFunnelStep *f)
{
    FunnelPrint *p = ctx;
    char source[256], rule[512];
    sanitize_for_terminal(source, sizeof source, f->source);
    sanitize_for_terminal(rule, sizeof rule, f->rule);
    if (p->n++ == 0) printf("\ncohort funnel\n");
    if (strcmp(p->source, f->source) != 0) {
        snprintf(p->source, sizeof p->source, "%s", f->source);
        printf("  %s\n", source);
    }
    printf("    %2d  %-52s %10lld\n", f->step, rule, (long long)f->count);
    return 0;
}

static int info_text(Store *st, const StoreSplitCounts c[STORE_N_SPLITS])
{
    char path[4096];
    sanitize_for_terminal(path, sizeof path, store_path(st));
    printf("store    %s\nschema   %d\n\n", path, store_schema_version(st));
    printf("  %-8s %12s %12s %12s\n", "split", "radiographs", "EHR stays", "pairs");
    StoreSplitCounts tot = {0, 0, 0};
    for (int k = 0; k < STORE_N_SPLITS; k++) {
        printf("  %-8s %12lld %12lld %12lld\n", split_names[k], (long long)c[k].n_cxr,
               (long long)c[k].n_ehr, (long long)c[k].n_pairs);
        tot.n_cxr += c[k].n_cxr;
        tot.n_ehr += c[k].n_ehr;
        tot.n_pairs += c[k].n_pairs;
    }
    printf("  %-8s %12lld %12lld %12lld\n", "total", (long long)tot.n_cxr, (long long)tot.n_ehr,
           (long long)tot.n_pairs);
    int n = 0;
    if (store_each_source(st, print_source, &n)) goto fail;
    FunnelPrint fp = {.n = 0};
    if (store_each_funnel(st, print_funnel, &fp)) goto fail;
    if (fflush(stdout) == EOF || ferror(stdout)) {
        cmd_error("info: cannot write the output");
        return 1;
    }
    return 0;
fail:
    cmd_error("%s", store_errmsg(st));
    return 1;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void json_counts(JsonWriter *w, const StoreSplitCounts *c)
{
    json_begin_object(w);
    json_key(w, "cxr");
    json_int(w, c->n_cxr);
    json_key(w, "ehr");
    json_int(w, c->n_ehr);
    json_key(w, "pairs");
    json_int(w, c->n_pairs);
    json_end_object(w);
}

static int json_source(void *ctx, const StoreSource *s)
{
    JsonWriter *w = ctx;
    json_begin_object(w);
    json_key(w, "name");
    json_string(w, s->name);
    json_key(w, "detail");
    json_string(w, s->detail);
    json_key(w, "time");
    json_int(w, s->time);
    json_end_object(w);
    return 0;
}

static int json_funnel(void *ctx, const StoreFunnelStep *f)
{
    JsonWriter *w = ctx;
    json_begin_object(w);
    json_key(w, "source");
    json_string(w, f->source);
    json_key(w, "step");
    json_int(w, f->step);
    json_key(w, "rule");
    json_string(w, f->rule);
    json_key(w, "count");
    json_int(w, f->count);
    json_end_object(w);
    return 0;
}

static int info_json(Store *st, const StoreSplitCounts c[STORE_N_SPLITS])
{
    JsonWriter w;
    json_init(&w, stdout, 1);
    json_begin_object(&w);
    json_key(&w, "store");
    json_string(&w, store_path(st));
    json_key(&w, "schema");
    json_int(&w, store_schema_version(st));
    json_key(&w, "splits");
    json_begin_object(&w);
    StoreSplitCounts tot = {0, 0, 0};
    for (int k = 0; k < STORE_N_SPLITS; k++) {
        json_key(&w, split_names[k]);
        json_counts(&w, &c[k]);
        tot.n_cxr += c[k].n_cxr;
        tot.n_ehr += c[k].n_ehr;
        tot.n_pairs += c[k].n_pairs;
    }
    json_end_object(&w);
    json_key(&w, "total");
    json_counts(&w, &tot);
    json_key(&w, "sources");
    json_begin_array(&w);
    PsStatus rc = store_each_source(st, json_source, &w);
    json_end_array(&w);
    json_key(&w, "funnel");
    json_begin_array(&w);
    if (!rc) rc = store_each_funnel(st, json_funnel, &w);
    json_end_array(&w);
    json_end_object(&w);
    int bad = json_finish(&w);
    if (rc) {
        cmd_error("%s", store_errmsg(st));
        return 1;
    }
    if (bad) {
        cmd_error("info: cannot write the output");
        return 1;
    }
    return 0;
}

int cmd_info_run(const CmdGlobal *g, int argc, char **argv);

int cmd_info_run(const CmdGlobal *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"store", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    /* --store is also accepted after the verb, as people type it. */
    CmdGlobal local = *g;
    g = &local;
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 's': local.store_path = optarg; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (optind < argc) {
        cmd_error("info: unexpected argument '%s' (try info --help)", argv[optind]);
        return 2;
    }
    Store *st;
    /* Read-write so that an older store is migrated rather than refused; nothing is written
     * otherwise. */
    if (cmd_open_store(g, &st, STORE_OPEN_READWRITE)) return 1;
    StoreSplitCounts counts[STORE_N_SPLITS];
    int rc;
    if (store_split_counts(st, counts)) {
        cmd_error("%s", store_errmsg(st));
        rc = 1;
    } else {
        rc = json ? info_json(st, counts) : info_text(st, counts);
    }
    store_close(st);
    return rc;
}
