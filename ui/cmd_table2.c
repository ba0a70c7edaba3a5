/* cmd_table2.c — `phenoscope table2`: trains EHR-only, Joint I, Joint II, Unified (and late
 * fusion as an extra row) for K seeds on this store, evaluates each run's best checkpoint on the
 * paired test set, and prints the paper's Table 2 layout (mean ± sd over seeds) next to the
 * paper's figures. The dataset is loaded once and shared by every run; every run is recorded in
 * the store like any `train` run, so `eval RUN` can look at any of them afterwards.
 */
#include "ui/cmd_train.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/blas.h"
#include "store/runs.h"
#include "store/store.h"

#define MAX_SEEDS 20

static const TrainMethod order[] = {TRAIN_EHR, TRAIN_JOINT1, TRAIN_JOINT2, TRAIN_UNIFIED,
                                    TRAIN_LATE};
#define N_ROWS ((int)(sizeof order / sizeof order[0]))

static volatile sig_atomic_t got_signal;
static void on_signal(int sig) { got_signal = sig; }

typedef struct {
    int tty, json;
    int last_epoch;
} Show;

static void show_progress(void *ctx, const TrainProgress *p)
{
    Show *s = ctx;
    if (s->json) return;
    char line[512];
    cmd_train_progress_text(p, line, sizeof line);
    if (s->tty) {
        fprintf(stderr, "\r\033[K%s", line);
    } else if (p->epoch != s->last_epoch) {
        s->last_epoch = p->epoch;
        fprintf(stderr, "%s\n", line);
    }
}

static int stop_on_signal(void *ctx)
{
    (void)ctx;
    return got_signal != 0;
}

static void on_load(void *ctx, const char *phase, int64_t done, int64_t total)
{
    Show *s = ctx;
    if (s->tty && !s->json) fprintf(stderr, "\r\033[Kloading %s %lld/%lld", phase, (long long)done,
                                    (long long)total);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: phenoscope [--store PATH] table2 [--seeds K] [--quick] [--json] [options]\n"
               "\n"
               "Trains and evaluates EHR-only, Joint I, Joint II and Unified (Algorithm 1), plus\n"
               "late fusion, with seeds 1..K (default 3), and prints macro AUROC on the paired\n"
               "test set (mean ± sd over seeds) next to the paper's Table 2.\n");
    cmd_train_opts_help(f);
}

static void mean_sd(const double *v, int n, double *mean, double *sd)
{
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = n ? s / n : NAN;
    for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

int cmd_table2_run(const CmdGlobal *g, int argc, char **argv)
{
    CmdTrainOpts o;
    cmd_train_opts_init(&o);
    int json = 0, seeds = 3;
    struct option opts[64];
    size_t no = 0;
    for (const struct option *q = cmd_train_longopts; q->name; q++) opts[no++] = *q;
    opts[no++] = (struct option){"seeds", required_argument, NULL, 'k'};
    opts[no++] = (struct option){"json", no_argument, NULL, 'j'};
    opts[no++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[no++] = (struct option){NULL, 0, NULL, 0};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = cmd_train_opt(&o, c, optarg, "table2");
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case 'k': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 1 || v > MAX_SEEDS) {
                fprintf(stderr, "phenoscope table2: --seeds must be 1..%d\n", MAX_SEEDS);
                return 2;
            }
            seeds = (int)v;
            break;
        }
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "phenoscope table2: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o.seed >= 0) {
        fprintf(stderr, "phenoscope table2: seeds are 1..K; use --seeds K\n");
        return 2;
    }
    char path[4096];
    if (cmd_train_store_path(g, "table2", path, sizeof path)) return 1;
    blas_set_threads(o.threads);
    Store *st = NULL;
    PsErr err = {{0}};
    if (store_open(&st, path, STORE_OPEN_READWRITE, &err)) {
        fprintf(stderr, "phenoscope table2: %s\n", err.msg);
        return 1;
    }
    StoreSplitCounts k[STORE_N_SPLITS];
    if (store_split_counts(st, k)) {
        fprintf(stderr, "phenoscope table2: %s\n", store_errmsg(st));
        store_close(st);
        return 1;
    }
    if (k[SPLIT_TRAIN].n_pairs == 0 || k[SPLIT_TEST].n_pairs == 0) {
        fprintf(stderr,
                "phenoscope table2: %s has no ICU stays paired with a chest radiograph in its %s "
                "split; Table 2 compares methods on paired stays, so it cannot be computed here. "
                "'phenoscope train --method ehr' (LSTM only) can still run.\n",
                path, k[SPLIT_TRAIN].n_pairs == 0 ? "training" : "test");
        store_close(st);
        return 1;
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    Show show = {.tty = isatty(STDERR_FILENO), .json = json, .last_epoch = -1};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    TrainConfig base;
    cmd_train_opts_apply(&o, TRAIN_UNIFIED, &base);
    DatasetConfig dc;
    train_dataset_config(&base, &dc);
    Dataset d;
    int rc = 1;
    double res[N_ROWS][MAX_SEEDS][4];
    int64_t run_ids[N_ROWS][MAX_SEEDS];
    int n_paired = 0;
    if (dataset_load(&d, st, &dc, on_load, &show, &err)) {
        if (show.tty && !json) fprintf(stderr, "\n");
        fprintf(stderr, "phenoscope table2: %s\n", err.msg);
        goto out_nodata;
    }
    if (show.tty && !json) fprintf(stderr, "\r\033[K");
    for (int r = 0; r < N_ROWS; r++) {
        for (int s = 0; s < seeds; s++) {
            TrainConfig cfg;
            cmd_train_opts_apply(&o, order[r], &cfg);
            cfg.seed = (uint64_t)(s + 1);
            char *cj = train_config_json(&cfg, &d.counts);
            int64_t run = 0;
            PsStatus prc = cj ? runs_create(st, train_method_name(cfg.method), cj,
                                            (int64_t)cfg.seed, PS_VERSION, "running", &run)
                              : PS_ERR_NOMEM;
            free(cj);
            if (prc) {
                fprintf(stderr, "phenoscope table2: %s\n", store_errmsg(st));
                goto out;
            }
            run_ids[r][s] = run;
            TrainHooks h = {.ctx = &show, .progress = show_progress, .control = stop_on_signal};
            show.last_epoch = -1;
            prc = train_run(st, run, &d, &cfg, 0, &h, &err);
            if (show.tty && !json) fprintf(stderr, "\r\033[K");
            if (prc) {
                fprintf(stderr, "phenoscope table2: run %lld (%s, seed %d): %s\n", (long long)run,
                        train_method_name(cfg.method), s + 1, err.msg);
                goto out;
            }
            Trainer *t = NULL;
            TrainEvalReport *e = calloc(1, sizeof *e);
            if (!e || train_open_run(st, run, NULL, &d, &cfg, &t, NULL, &err) ||
                trainer_evaluate(t, SPLIT_TEST, 0, 0, e, &err)) {
                fprintf(stderr, "phenoscope table2: evaluating run %lld: %s\n", (long long)run,
                        e ? err.msg : "out of memory");
                trainer_free(t);
                free(e);
                goto out;
            }
            res[r][s][0] = e->paired.macro_auroc;
            for (int q = 0; q < 3; q++) res[r][s][1 + q] = e->paired.group_auroc[q];
            n_paired = e->n_paired;
            if (!json)
                fprintf(stderr, "%-8s seed %d  run %lld  paired test macro AUROC %.3f\n",
                        train_method_name(cfg.method), s + 1, (long long)run, res[r][s][0]);
            trainer_free(t);
            free(e);
        }
    }
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    static const char *const gname[4] = {"all", "acute", "mixed", "chronic"};
    if (json) {
        printf("{\"store\":\"%s\",\"seeds\":%d,\"paired_test_n\":%d,\"seconds\":%.1f,\"rows\":[",
               path, seeds, n_paired, secs);
        for (int r = 0; r < N_ROWS; r++) {
            printf("%s{\"method\":\"%s\"", r ? "," : "", train_method_name(order[r]));
            for (int q = 0; q < 4; q++) {
                double v[MAX_SEEDS], m, sd;
                for (int s = 0; s < seeds; s++) v[s] = res[r][s][q];
                mean_sd(v, seeds, &m, &sd);
                printf(",\"%s\":%.6g,\"%s_sd\":%.6g", gname[q], m, gname[q], sd);
                double pv = cmd_train_paper_value(order[r], q);
                if (isfinite(pv)) printf(",\"paper_%s\":%.3f", gname[q], pv);
            }
            printf(",\"runs\":[");
            for (int s = 0; s < seeds; s++)
                printf("%s%lld", s ? "," : "", (long long)run_ids[r][s]);
            printf("]}");
        }
        printf("]}\n");
    } else {
        printf("Table 2 on %s: macro AUROC on the paired test set (%d stays), mean ± sd over %d "
               "seed%s; paper in brackets\n\n",
               path, n_paired, seeds, seeds > 1 ? "s" : "");
        printf("  %-9s %-22s %-22s %-22s %-22s\n", "method", "all", "acute", "mixed", "chronic");
        for (int r = 0; r < N_ROWS; r++) {
            printf("  %-9s", train_method_name(order[r]));
            for (int q = 0; q < 4; q++) {
                double v[MAX_SEEDS], m, sd;
                for (int s = 0; s < seeds; s++) v[s] = res[r][s][q];
                mean_sd(v, seeds, &m, &sd);
                double pv = cmd_train_paper_value(order[r], q);
                char cell[64];
                if (isfinite(pv)) snprintf(cell, sizeof cell, "%.3f±%.3f [%.3f]", m, sd, pv);
                else snprintf(cell, sizeof cell, "%.3f±%.3f", m, sd);
                printf(" %-22s", cell);
            }
            printf("\n");
        }
        printf("\n%.1f s in all; runs:", secs);
        for (int r = 0; r < N_ROWS; r++)
            for (int s = 0; s < seeds; s++) printf(" %lld", (long long)run_ids[r][s]);
        printf(" (phenoscope eval RUN for details)\n");
    }
    rc = 0;
out:
    dataset_free(&d);
out_nodata:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    store_close(st);
    return rc;
}
