/* cmd_predict.c — `phenoscope predict --stay ID`: one stay's 25 phenotype probabilities from the
 * EHR head and, when a radiograph is paired with the stay (or given with --radiograph), from the
 * unified classifier; the ground truth; and which of the two the paper's inference rule uses
 * (the unified prediction when a radiograph is there, the EHR head's otherwise).
 *
 * Needs only the run's checkpoint (weights and input normalizer), the stay's events and the
 * radiograph: no dataset is loaded, so it answers in well under a second.
 */
#include "ui/cmd_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/blas.h"
#include "store/sanitize.h"
#include "store/runs.h"
#include "store/store.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: phenoscope [--store PATH] predict --stay ID [--run RUN] [--no-cxr]\n"
               "                  [--radiograph DICOM_ID] [--json]\n"
               "\n"
               "The 25 phenotype probabilities of one ICU stay from run RUN (default: the newest\n"
               "finished unified run, else the newest finished run): the EHR head's, the\n"
               "unified classifier's when a radiograph is paired (or given), the ground truth,\n"
               "and which prediction the paper's inference rule uses.\n"
               "  --no-cxr        ignore the paired radiograph (as if it were missing)\n");
}

typedef struct {
    int64_t unified, any;
} Pick;

static int pick_run(void *ctx, const RunInfo *r)
{
    Pick *p = ctx;
    if (strcmp(r->status, "done") != 0) return 0;
    if (!p->any) p->any = r->run_id;
    if (!p->unified && strcmp(r->method, "unified") == 0) p->unified = r->run_id;
    return p->unified != 0;
}

static int count_event(void *ctx, const StoreEvent *e)
{
    (void)e;
    (*(int64_t *)ctx)++;
    return 0;
}

/* A dicom id from the store or the command line, for the terminal: the one sanitiser. */
static void safe(char *out, size_t n, const char *s)
{
    sanitize_for_terminal(out, n, s);
}

/* s (already sanitised: no control characters) as the body of a JSON string. */
static void json_body(const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        putchar(*s);
    }
}

int cmd_predict_run(const CmdGlobal *g, int argc, char **argv)
{
    int json = 0, no_cxr = 0;
    long long stay = 0, run = 0;
    const char *dicom_opt = NULL;
    static const struct option opts[] = {
        {"stay", required_argument, NULL, 's'},  {"run", required_argument, NULL, 'r'},
        {"no-cxr", no_argument, NULL, 'n'},      {"radiograph", required_argument, NULL, 'x'},
        {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            stay = strtoll(optarg, &end, 10);
            if (end == optarg || *end || stay <= 0) {
                fprintf(stderr, "phenoscope predict: --stay needs a stay id, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'r':
            run = strtoll(optarg, &end, 10);
            if (end == optarg || *end || run <= 0) {
                fprintf(stderr, "phenoscope predict: --run needs a run number, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'n': no_cxr = 1; break;
        case 'x': dicom_opt = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!stay || optind < argc) {
        usage(stderr);
        return 2;
    }
    if (no_cxr && dicom_opt) {
        fprintf(stderr, "phenoscope predict: --no-cxr and --radiograph contradict each other\n");
        return 2;
    }
    char path[4096];
    if (cmd_train_store_path(g, "predict", path, sizeof path)) return 1;
    blas_set_threads(1);
    Store *st = NULL;
    PsErr err = {{0}};
    Trainer *t = NULL;
    float *x = NULL;
    unsigned char *jpeg = NULL;
    uint8_t *img = NULL;
    int rc = 1, T = 0, ep = 0;
    TrainConfig cfg;
    if (store_open(&st, path, STORE_OPEN_READONLY, &err)) goto fail;
    StoreStay info;
    PsStatus prc = store_get_stay(st, stay, &info);
    if (prc == PS_ERR_NOTFOUND) {
        ps_err(&err, prc, "no stay %lld in %s", stay, path);
        goto fail;
    }
    if (prc) {
        ps_err(&err, prc, "%s", store_errmsg(st));
        goto fail;
    }
    int64_t n_events = 0;
    if (store_each_event(st, stay, count_event, &n_events)) {
        ps_err(&err, PS_ERR_DB, "%s", store_errmsg(st));
        goto fail;
    }
    if (n_events == 0) {
        ps_err(&err, PS_ERR_INVALID,
               "stay %lld has no physiological measurements; there is nothing to predict from",
               stay);
        goto fail;
    }
    if (!run) {
        Pick p = {0, 0};
        if ((prc = runs_each(st, pick_run, &p)) && prc != PS_ERR_CANCELLED) {
            ps_err(&err, prc, "%s", store_errmsg(st));
            goto fail;
        }
        run = p.unified ? p.unified : p.any;
        if (!run) {
            ps_err(&err, PS_ERR_NOTFOUND,
                   "%s has no finished training run; train one with 'phenoscope train'", path);
            goto fail;
        }
    }
    if (train_run_config(st, run, &cfg, &err)) goto fail;
    cfg.batch = 1;
    if (train_open_run(st, run, NULL, NULL, &cfg, &t, &ep, &err)) goto fail;
    if (trainer_stay_input(t, st, stay, &x, &T, &err)) goto fail;
    char dicom[96] = "";
    if (dicom_opt) snprintf(dicom, sizeof dicom, "%s", dicom_opt);
    else if (!no_cxr) {
        prc = store_get_pair(st, stay, dicom, sizeof dicom);
        if (prc == PS_ERR_NOTFOUND) dicom[0] = 0;
        else if (prc) {
            ps_err(&err, prc, "%s", store_errmsg(st));
            goto fail;
        }
    }
    int with_cxr = dicom[0] && cfg.method != TRAIN_EHR;
    if (with_cxr) {
        StoreRadiograph r;
        prc = store_get_radiograph(st, dicom, &r, &jpeg);
        if (prc == PS_ERR_NOTFOUND) {
            char sd[96];
            safe(sd, sizeof sd, dicom);
            ps_err(&err, prc, "no radiograph '%s' in %s", sd, path);
            goto fail;
        }
        if (prc) {
            ps_err(&err, prc, "%s", store_errmsg(st));
            goto fail;
        }
        if (!jpeg) {
            ps_err(&err, PS_ERR_NOTFOUND, "radiograph %s has no image in the store", r.dicom_id);
            goto fail;
        }
        img = malloc((size_t)cfg.img_size * cfg.img_size);
        if (!img) {
            ps_err(&err, PS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (dataset_prepare_image(img, cfg.img_size, jpeg, r.jpeg_size, dicom, &err)) goto fail;
    }
    float pe[CATALOG_N_PHENOTYPES], pu[CATALOG_N_PHENOTYPES];
    if (trainer_predict_one(t, x, T, with_cxr ? img : NULL, pe, with_cxr ? pu : NULL, &err))
        goto fail;
    uint8_t y[CATALOG_N_PHENOTYPES];
    int have_y = store_get_labels(st, stay, y) == PS_OK;
    const char *used = with_cxr ? (cfg.method == TRAIN_LATE ? "late" : "unified") : "ehr";
    char sd[96];
    safe(sd, sizeof sd, dicom);
    if (json) {
        printf("{\"stay\":%lld,\"run\":%lld,\"method\":\"%s\",\"checkpoint_epoch\":%d,"
               "\"radiograph\":",
               stay, run, train_method_name(cfg.method), ep);
        if (with_cxr) {
            putchar('"');
            json_body(sd);
            putchar('"');
        }
        else printf("null");
        printf(",\"rule\":\"%s\",\"time_bins\":%d,\"phenotypes\":[", used, T);
        for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) {
            printf("%s{\"name\":\"%s\",\"ehr\":%.6f,\"unified\":", k ? "," : "",
                   catalog_phenotypes[k].name, pe[k]);
            if (with_cxr) printf("%.6f", pu[k]);
            else printf("null");
            printf(",\"used\":%.6f,\"truth\":", with_cxr ? pu[k] : pe[k]);
            if (have_y) printf("%d", y[k]);
            else printf("null");
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("stay %lld, run %lld (%s, checkpoint of epoch %d), %d time bins; radiograph %s\n",
               stay, run, train_method_name(cfg.method), ep, T, with_cxr ? sd : "none");
        printf("inference rule: %s\n\n",
               with_cxr ? "radiograph present -> the unified classifier's prediction"
                        : "no radiograph -> the EHR head's prediction");
        printf("  %-44s %-7s %-7s %s\n", "phenotype", "EHR", with_cxr ? "unified" : "", "truth");
        for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) {
            char u[16] = "";
            if (with_cxr) snprintf(u, sizeof u, "%.3f", pu[k]);
            printf("  %-44.44s %.3f%s  %-7s %s\n", catalog_phenotypes[k].name, pe[k],
                   with_cxr ? " " : "*", u, have_y ? (y[k] ? "1" : "0") : "?");
        }
        if (!with_cxr) printf("\n  * used by the inference rule\n");
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "phenoscope predict: %s\n", err.msg[0] ? err.msg : store_errmsg(st));
done:
    free(x);
    free(jpeg);
    free(img);
    trainer_free(t);
    store_close(st);
    return rc;
}
