/* cmd_eval.c — `phenoscope eval RUN`: loads the run's best checkpoint and reports macro AUROC and
 * AUPRC (all / acute / mixed / chronic) with bootstrap 95% intervals on the paired test set and
 * on the full EHR test set (where stays without a radiograph fall back to the EHR head, the
 * paper's inference rule), plus one row per phenotype.
 */
#include "ui/cmd_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/blas.h"
#include "store/store.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: phenoscope [--store PATH] eval RUN [--json] [--checkpoint best|last]\n"
               "                  [--bootstrap N] [--split test|val]\n"
               "\n"
               "Evaluates run RUN (best checkpoint by default) on the test split: macro AUROC\n"
               "and AUPRC over all 25 phenotypes and per group, with percentile-bootstrap 95%%\n"
               "intervals (N resamples of stays, default 1000), on the paired test set and on the\n"
               "full EHR test set, then per phenotype.\n");
}

static void jnum(double v)
{
    if (isfinite(v)) printf("%.6g", v);
    else printf("null");
}

static void print_set_json(const char *name, const MetricsReport *r, const TrainEvalReport *e,
                           int set, int n)
{
    static const char *const g[3] = {"acute", "mixed", "chronic"};
    printf("\"%s\":{\"n\":%d,\"auroc\":", name, n);
    jnum(r->macro_auroc);
    printf(",\"auroc_ci\":[");
    jnum(e->lo[set][0]);
    printf(",");
    jnum(e->hi[set][0]);
    printf("],\"auprc\":");
    jnum(r->macro_auprc);
    printf(",\"auprc_ci\":[");
    jnum(e->lo[set][1]);
    printf(",");
    jnum(e->hi[set][1]);
    printf("]");
    for (int k = 0; k < 3; k++) {
        printf(",\"%s\":", g[k]);
        jnum(r->group_auroc[k]);
        printf(",\"%s_ci\":[", g[k]);
        jnum(e->lo[set][2 + k]);
        printf(",");
        jnum(e->hi[set][2 + k]);
        printf("],\"%s_auprc\":", g[k]);
        jnum(r->group_auprc[k]);
    }
    printf("}");
}

static void print_set_text(const char *title, const MetricsReport *r, const TrainEvalReport *e,
                           int set, int n)
{
    printf("%s (%d stays)\n", title, n);
    printf("  %-8s %-22s %-22s\n", "", "AUROC [95% CI]", "AUPRC [95% CI]");
    const char *names[4] = {"all", "acute", "mixed", "chronic"};
    for (int k = 0; k < 4; k++) {
        double a = k ? r->group_auroc[k - 1] : r->macro_auroc;
        double p = k ? r->group_auprc[k - 1] : r->macro_auprc;
        int ia = k ? 1 + k : 0, ip = k ? 4 + k : 1;
        printf("  %-8s %.3f [%.3f, %.3f]    %.3f [%.3f, %.3f]\n", names[k], a, e->lo[set][ia],
               e->hi[set][ia], p, e->lo[set][ip], e->hi[set][ip]);
    }
}

int cmd_eval_run(const CmdGlobal *g, int argc, char **argv)
{
    int json = 0, resamples = 1000, split = SPLIT_TEST;
    const char *kind = NULL;
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},         {"checkpoint", required_argument, NULL, 'c'},
        {"bootstrap", required_argument, NULL, 'b'}, {"split", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'c':
            if (strcmp(optarg, "best") && strcmp(optarg, "last")) {
                fprintf(stderr, "phenoscope eval: --checkpoint must be best or last\n");
                return 2;
            }
            kind = optarg;
            break;
        case 'b': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 0 || v > 100000) {
                fprintf(stderr, "phenoscope eval: --bootstrap must be 0..100000\n");
                return 2;
            }
            resamples = (int)v;
            break;
        }
        case 's':
            if (strcmp(optarg, "test") == 0) split = SPLIT_TEST;
            else if (strcmp(optarg, "val") == 0) split = SPLIT_VAL;
            else {
                fprintf(stderr, "phenoscope eval: --split must be test or val\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    char *end;
    long long run = strtoll(argv[optind], &end, 10);
    if (end == argv[optind] || *end || run <= 0) {
        fprintf(stderr, "phenoscope eval: '%s' is not a run number\n", argv[optind]);
        return 2;
    }
    char path[4096];
    if (cmd_train_store_path(g, "eval", path, sizeof path)) return 1;
    blas_set_threads(2);
    Store *st = NULL;
    PsErr err = {{0}};
    Dataset d;
    memset(&d, 0, sizeof d);
    Trainer *t = NULL;
    TrainEvalReport *e = calloc(1, sizeof *e);
    TrainConfig cfg;
    int ep = 0, rc = 1;
    if (!e) {
        fprintf(stderr, "phenoscope eval: out of memory\n");
        return 1;
    }
    if (store_open(&st, path, STORE_OPEN_READONLY, &err) || train_run_config(st, run, &cfg, &err))
        goto fail;
    DatasetConfig dc;
    train_dataset_config(&cfg, &dc);
    if (dataset_load(&d, st, &dc, NULL, NULL, &err)) goto fail;
    if (train_open_run(st, run, kind, &d, &cfg, &t, &ep, &err)) goto fail;
    if (trainer_evaluate(t, split, resamples, 12345, e, &err)) goto fail;
    const char *sname = split == SPLIT_TEST ? "test" : "val";
    if (json) {
        printf("{\"run\":%lld,\"method\":\"%s\",\"checkpoint_epoch\":%d,\"split\":\"%s\","
               "\"bootstrap\":%d,",
               run, train_method_name(cfg.method), ep, sname, resamples);
        print_set_json("paired", &e->paired, e, 0, e->n_paired);
        printf(",");
        print_set_json("all", &e->all, e, 1, e->n_all);
        printf(",\"phenotypes\":[");
        for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) {
            printf("%s{\"name\":\"%s\",\"group\":\"%s\",\"paired_auroc\":", k ? "," : "",
                   catalog_phenotypes[k].name, catalog_group_name(catalog_phenotypes[k].group));
            jnum(e->paired.auroc[k]);
            printf(",\"paired_auroc_ci\":[");
            jnum(e->label_lo[0][k]);
            printf(",");
            jnum(e->label_hi[0][k]);
            printf("],\"paired_auprc\":");
            jnum(e->paired.auprc[k]);
            printf(",\"all_auroc\":");
            jnum(e->all.auroc[k]);
            printf(",\"all_auprc\":");
            jnum(e->all.auprc[k]);
            printf(",\"paired_positives\":%d}", e->paired.n_pos[k]);
        }
        printf("]}\n");
    } else {
        printf("run %lld (%s), checkpoint of epoch %d, %s split, %d bootstrap resamples\n\n", run,
               train_method_name(cfg.method), ep, sname, resamples);
        print_set_text("paired test set: stays with a radiograph", &e->paired, e, 0, e->n_paired);
        printf("\n");
        print_set_text(cfg.method == TRAIN_JOINT1
                           ? "full EHR test set (EHR head where no radiograph; Joint I never "
                             "trains its EHR head)"
                           : "full EHR test set (EHR head where no radiograph)",
                       &e->all, e, 1, e->n_all);
        printf("\n  %-44s %-7s %-22s %-7s %-7s %s\n", "phenotype", "group", "paired AUROC [CI]",
               "AUPRC", "all", "pos");
        for (int k = 0; k < CATALOG_N_PHENOTYPES; k++)
            printf("  %-44.44s %-7s %.3f [%.3f, %.3f]  %.3f   %.3f   %d\n",
                   catalog_phenotypes[k].name, catalog_group_name(catalog_phenotypes[k].group),
                   e->paired.auroc[k], e->label_lo[0][k], e->label_hi[0][k], e->paired.auprc[k],
                   e->all.auroc[k], e->paired.n_pos[k]);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "phenoscope eval: %s\n", st && !err.msg[0] ? store_errmsg(st) : err.msg);
done:
    trainer_free(t);
    dataset_free(&d);
    store_close(st);
    free(e);
    return rc;
}
