/* cmd_train.c — `phenoscope train`: one training run in the background thread (engine/job.h)
 * while the main thread shows its progress: one live line on a terminal, a plain line per epoch
 * when piped, JSON lines with --json. SIGINT / SIGTERM stop the run after its current iteration
 * with its checkpoint saved; `--resume RUN` continues it (also after SIGKILL, from the last
 * epoch's checkpoint). Also the options and helpers the other training verbs share.
 */
#include "ui/cmd_train.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/blas.h"
#include "engine/job.h"
#include "store/runs.h"
#include "store/store.h"

int cmd_train_store_path(const CmdGlobal *g, const char *verb, char *buf, size_t n)
{
    PsErr err = {{0}};
    if (g->store_path) {
        snprintf(buf, n, "%s", g->store_path);
        return 0;
    }
    if (store_default_path(buf, n, &err)) {
        fprintf(stderr, "phenoscope %s: %s\n", verb, err.msg);
        return -1;
    }
    return 0;
}

void cmd_train_opts_init(CmdTrainOpts *o)
{
    memset(o, 0, sizeof *o);
    o->preset = TRAIN_PRESET_DEMO;
    o->epochs = o->pretrain_epochs = o->batch = o->max_iters = o->patience = o->lr_patience = -1;
    o->img_size = o->width = o->hidden = o->layers = o->augment = o->max_bins = -1;
    o->uncertain = -1;
    o->threads = 2;
    o->lr = o->lr_decay = o->bin_hours = o->dropout = o->weight_decay = o->clip = o->head_lr = NAN;
    o->head_dropout = o->head_wd = NAN;
    o->seed = -1;
}

void cmd_train_opts_apply(const CmdTrainOpts *o, TrainMethod m, TrainConfig *c)
{
    train_config_preset(c, (TrainPreset)o->preset, m);
#define SETI(f, v)                                                                               \
    if ((v) >= 0) c->f = (v)
#define SETD(f, v)                                                                               \
    if (!isnan(v)) c->f = (v)
    SETI(epochs, o->epochs);
    SETI(pretrain_epochs, o->pretrain_epochs);
    SETI(batch, o->batch);
    SETI(max_iters, o->max_iters);
    SETI(patience, o->patience);
    SETI(lr_patience, o->lr_patience);
    SETI(img_size, o->img_size);
    SETI(cnn_width, o->width);
    SETI(lstm_hidden, o->hidden);
    SETI(lstm_layers, o->layers);
    SETI(augment, o->augment);
    SETI(max_bins, o->max_bins);
    SETI(uncertain, o->uncertain);
    SETD(lr, (float)o->lr);
    SETD(lr_decay, (float)o->lr_decay);
    SETD(bin_hours, o->bin_hours);
    SETD(lstm_dropout, (float)o->dropout);
    SETD(weight_decay, (float)o->weight_decay);
    SETD(clip, (float)o->clip);
    SETD(head_lr_mult, (float)o->head_lr);
    SETD(head_dropout, (float)o->head_dropout);
    SETD(head_weight_decay, (float)o->head_wd);
    if (o->seed >= 0) c->seed = (uint64_t)o->seed;
#undef SETI
#undef SETD
}

enum {
    O_QUICK = 1000, O_PAPER, O_EPOCHS, O_PRE, O_BATCH, O_ITERS, O_PAT, O_LRPAT, O_IMG, O_WIDTH,
    O_HIDDEN, O_LAYERS, O_AUG, O_BINS, O_UNC, O_THREADS, O_LR, O_LRDECAY, O_BINH, O_DROP, O_WD,
    O_CLIP, O_SEED, O_HEADLR, O_HEADDROP, O_HEADWD
};

const struct option cmd_train_longopts[] = {
    {"quick", no_argument, NULL, O_QUICK},
    {"paper", no_argument, NULL, O_PAPER},
    {"epochs", required_argument, NULL, O_EPOCHS},
    {"pretrain-epochs", required_argument, NULL, O_PRE},
    {"batch", required_argument, NULL, O_BATCH},
    {"max-iters", required_argument, NULL, O_ITERS},
    {"patience", required_argument, NULL, O_PAT},
    {"lr-patience", required_argument, NULL, O_LRPAT},
    {"img-size", required_argument, NULL, O_IMG},
    {"width", required_argument, NULL, O_WIDTH},
    {"hidden", required_argument, NULL, O_HIDDEN},
    {"layers", required_argument, NULL, O_LAYERS},
    {"augment", optional_argument, NULL, O_AUG},
    {"max-bins", required_argument, NULL, O_BINS},
    {"uncertain", required_argument, NULL, O_UNC},
    {"threads", required_argument, NULL, O_THREADS},
    {"lr", required_argument, NULL, O_LR},
    {"lr-decay", required_argument, NULL, O_LRDECAY},
    {"bin-hours", required_argument, NULL, O_BINH},
    {"dropout", required_argument, NULL, O_DROP},
    {"weight-decay", required_argument, NULL, O_WD},
    {"clip", required_argument, NULL, O_CLIP},
    {"seed", required_argument, NULL, O_SEED},
    {"head-lr-mult", required_argument, NULL, O_HEADLR},
    {"head-dropout", required_argument, NULL, O_HEADDROP},
    {"head-weight-decay", required_argument, NULL, O_HEADWD},
    {NULL, 0, NULL, 0},
};

static int parse_int(const char *s, int lo, int hi, int *out, const char *name, const char *verb)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "phenoscope %s: --%s must be an integer in %d..%d, not '%s'\n", verb, name,
                lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 1;
}

static int parse_dbl(const char *s, double lo, double hi, double *out, const char *name,
                     const char *verb)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "phenoscope %s: --%s must be a number in [%g, %g], not '%s'\n", verb,
                name, lo, hi, s);
        return -1;
    }
    *out = v;
    return 1;
}

int cmd_train_opt(CmdTrainOpts *o, int code, const char *a, const char *verb)
{
    int seed;
    switch (code) {
    case O_QUICK: o->preset = TRAIN_PRESET_QUICK; return 1;
    case O_PAPER: o->preset = TRAIN_PRESET_PAPER; return 1;
    case O_EPOCHS: return parse_int(a, 1, 100000, &o->epochs, "epochs", verb);
    case O_PRE: return parse_int(a, 0, 100000, &o->pretrain_epochs, "pretrain-epochs", verb);
    case O_BATCH: return parse_int(a, 1, 4096, &o->batch, "batch", verb);
    case O_ITERS: return parse_int(a, 0, 100000000, &o->max_iters, "max-iters", verb);
    case O_PAT: return parse_int(a, 0, 100000, &o->patience, "patience", verb);
    case O_LRPAT: return parse_int(a, 0, 100000, &o->lr_patience, "lr-patience", verb);
    case O_IMG: return parse_int(a, 32, 1024, &o->img_size, "img-size", verb);
    case O_WIDTH: return parse_int(a, 1, 256, &o->width, "width", verb);
    case O_HIDDEN: return parse_int(a, 1, 4096, &o->hidden, "hidden", verb);
    case O_LAYERS: return parse_int(a, 1, 8, &o->layers, "layers", verb);
    case O_AUG:
        if (!a || strcmp(a, "flip") == 0) o->augment = 1;
        else if (strcmp(a, "affine") == 0) o->augment = 2;
        else if (strcmp(a, "none") == 0) o->augment = 0;
        else {
            fprintf(stderr, "phenoscope %s: --augment takes flip, affine or none, not '%s'\n", verb, a);
            return -1;
        }
        return 1;
    case O_BINS: return parse_int(a, 1, 100000, &o->max_bins, "max-bins", verb);
    case O_UNC:
        if (strcmp(a, "zero") == 0) o->uncertain = DATASET_UNCERTAIN_ZERO;
        else if (strcmp(a, "one") == 0) o->uncertain = DATASET_UNCERTAIN_ONE;
        else if (strcmp(a, "mask") == 0) o->uncertain = DATASET_UNCERTAIN_MASK;
        else {
            fprintf(stderr, "phenoscope %s: --uncertain must be zero, one or mask\n", verb);
            return -1;
        }
        return 1;
    case O_THREADS: return parse_int(a, 1, 256, &o->threads, "threads", verb);
    case O_LR: return parse_dbl(a, 1e-9, 10, &o->lr, "lr", verb);
    case O_LRDECAY: return parse_dbl(a, 0, 1, &o->lr_decay, "lr-decay", verb);
    case O_BINH: return parse_dbl(a, 0.01, 1000, &o->bin_hours, "bin-hours", verb);
    case O_DROP: return parse_dbl(a, 0, 0.99, &o->dropout, "dropout", verb);
    case O_WD: return parse_dbl(a, 0, 1, &o->weight_decay, "weight-decay", verb);
    case O_CLIP: return parse_dbl(a, 0, 1e9, &o->clip, "clip", verb);
    case O_HEADLR: return parse_dbl(a, 1e-3, 1e3, &o->head_lr, "head-lr-mult", verb);
    case O_HEADDROP: return parse_dbl(a, 0, 0.99, &o->head_dropout, "head-dropout", verb);
    case O_HEADWD: return parse_dbl(a, 0, 1, &o->head_wd, "head-weight-decay", verb);
    case O_SEED:
        if (parse_int(a, 0, 2000000000, &seed, "seed", verb) < 0) return -1;
        o->seed = seed;
        return 1;
    default: return 0;
    }
}

void cmd_train_opts_help(FILE *f)
{
    fprintf(f,
            "presets (default: demo — 64 px radiographs, ResNet-34 topology at width 16,\n"
            "LSTM 1 x 128, batch 32, 6 epochs, step-3 head lr x10; see the README):\n"
            "  --quick            64 px, width 8, LSTM 1 x 64, 3 epochs of at most 40 iterations\n"
            "  --paper            224 px, width 64, LSTM 2 x 256, dropout 0.3, lr 1e-4, 50 epochs\n"
            "overrides:\n"
            "  --epochs N  --pretrain-epochs N (joint2)  --batch N  --max-iters N (per epoch)\n"
            "  --lr X  --lr-decay F  --lr-patience N  --patience N (early stopping, 0 off)\n"
            "  --img-size S  --width W  --hidden H  --layers L  --dropout P\n"
            "  --augment[=flip|affine|none]   training radiographs: flips (the default of\n"
            "                     --augment), the paper's flip + affine warp, or none\n"
            "  --bin-hours H (2)  --max-bins N (cap on time bins per stay)  --clip X\n"
            "  --head-lr-mult F   learning-rate factor of Algorithm 1's step-3 classifier\n"
            "  --head-dropout P  --head-weight-decay X   its feature dropout and L2 decay\n"
            "  --uncertain zero|one|mask   CheXpert uncertain/missing labels (default zero)\n"
            "  --seed N  --threads N (OpenBLAS threads, default 2)\n");
}

static void fmt_dur(char *b, size_t n, double s)
{
    if (!isfinite(s) || s < 0) snprintf(b, n, "?");
    else if (s < 60) snprintf(b, n, "%.0fs", s);
    else if (s < 3600) snprintf(b, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(b, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

void cmd_train_progress_text(const TrainProgress *p, char *buf, size_t n)
{
    char eta[32], l[3][16];
    fmt_dur(eta, sizeof eta, p->eta_s);
    const double v[3] = {p->loss_cxr, p->loss_ehr, p->loss_joint};
    for (int k = 0; k < 3; k++) {
        if (isnan(v[k])) snprintf(l[k], sizeof l[k], "-");
        else snprintf(l[k], sizeof l[k], "%.3f", v[k]);
    }
    int k = snprintf(buf, n,
                     "run %lld %s %s  epoch %d/%d  it %lld/%lld  loss cxr %s ehr %s joint %s  "
                     "%.0f samples/s  ETA %s",
                     (long long)p->run_id, p->method, p->state[0] ? p->state : "", p->epoch,
                     p->epochs, (long long)p->iteration, (long long)p->iterations, l[0], l[1],
                     l[2], isfinite(p->samples_per_s) ? p->samples_per_s : 0.0, eta);
    if (k > 0 && (size_t)k < n && isfinite(p->val_auroc)) {
        if (isfinite(p->best_val_auroc))
            snprintf(buf + k, n - (size_t)k, "  val %.3f (best %.3f @%d)", p->val_auroc,
                     p->best_val_auroc, p->best_epoch);
        else snprintf(buf + k, n - (size_t)k, "  val %.3f", p->val_auroc);
    }
}

double cmd_train_paper_value(TrainMethod m, int group)
{
    /* ../shared/reference/paper_results.md, Table 2 (paired test set) */
    static const double t[4][4] = {
        {0.764, 0.752, 0.798, 0.759}, /* unified */
        {0.740, 0.743, 0.747, 0.731}, /* ehr */
        {0.724, 0.724, 0.742, 0.712}, /* joint1 */
        {0.756, 0.746, 0.788, 0.753}, /* joint2 */
    };
    if ((int)m < 0 || (int)m > 3 || group < 0 || group > 3) return NAN;
    return t[m][group];
}

/* ---- the verb -------------------------------------------------------------------------------- */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

static void usage(FILE *f)
{
    fprintf(f, "usage: phenoscope [--store PATH] train [--method M] [options] [--json]\n"
               "       phenoscope [--store PATH] train --resume RUN [--json]\n"
               "\n"
               "Trains one model on the store, recording the run (configuration, losses,\n"
               "per-epoch validation metrics, best and last checkpoints) in the store.\n"
               "Ctrl-C stops after the current iteration with a checkpoint; --resume RUN\n"
               "continues a stopped or killed run.\n"
               "\n"
               "  --method M   unified (Algorithm 1, default), ehr, joint1, joint2, late\n"
               "  --resume RUN continue run RUN from its last checkpoint\n"
               "  --json       one JSON object per line (progress, then the result)\n");
    cmd_train_opts_help(f);
}

static void print_json_progress(const JobSnapshot *s)
{
    const TrainProgress *p = &s->progress;
    printf("{\"event\":\"progress\",\"run\":%lld,\"method\":\"%s\",\"state\":\"%s\","
           "\"phase\":\"%s\",\"epoch\":%d,\"epochs\":%d,\"iteration\":%lld,\"iterations\":%lld",
           (long long)p->run_id, p->method, job_state_name(s->state), p->phase, p->epoch,
           p->epochs, (long long)p->iteration, (long long)p->iterations);
    const char *names[] = {"loss_cxr", "loss_ehr", "loss_joint", "samples_per_s", "eta_s",
                           "val_auroc", "best_val_auroc"};
    const double v[] = {p->loss_cxr, p->loss_ehr, p->loss_joint, p->samples_per_s, p->eta_s,
                        p->val_auroc, p->best_val_auroc};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (isfinite(v[i])) printf(",\"%s\":%.6g", names[i], v[i]);
        else printf(",\"%s\":null", names[i]);
    }
    printf("}\n");
    fflush(stdout);
}

int cmd_train_run(const CmdGlobal *g, int argc, char **argv)
{
    CmdTrainOpts o;
    cmd_train_opts_init(&o);
    int json = 0, method = TRAIN_UNIFIED;
    long long resume = 0;
    struct option opts[64];
    size_t no = 0;
    for (const struct option *q = cmd_train_longopts; q->name; q++) opts[no++] = *q;
    opts[no++] = (struct option){"method", required_argument, NULL, 'm'};
    opts[no++] = (struct option){"resume", required_argument, NULL, 'r'};
    opts[no++] = (struct option){"json", no_argument, NULL, 'j'};
    opts[no++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[no++] = (struct option){NULL, 0, NULL, 0};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = cmd_train_opt(&o, c, optarg, "train");
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case 'm':
            method = train_method_parse(optarg);
            if (method < 0) {
                fprintf(stderr,
                        "phenoscope train: unknown method '%s' (unified, ehr, joint1, joint2, "
                        "late)\n",
                        optarg);
                return 2;
            }
            break;
        case 'r': {
            char *end;
            resume = strtoll(optarg, &end, 10);
            if (end == optarg || *end || resume <= 0) {
                fprintf(stderr, "phenoscope train: --resume needs a run number, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "phenoscope train: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    JobRequest req;
    memset(&req, 0, sizeof req);
    if (cmd_train_store_path(g, "train", req.store_path, sizeof req.store_path)) return 1;
    /* checks that need the store, before starting a thread: the run exists, the data fit */
    {
        Store *st = NULL;
        PsErr err = {{0}};
        if (store_open(&st, req.store_path, STORE_OPEN_READWRITE, &err)) {
            fprintf(stderr, "phenoscope train: %s\n", err.msg);
            return 1;
        }
        PsStatus rc = PS_OK;
        if (resume) {
            RunInfo info;
            rc = runs_get(st, resume, &info, NULL);
            if (rc) fprintf(stderr, "phenoscope train: %s\n", store_errmsg(st));
            else if (strcmp(info.status, "done") == 0) {
                fprintf(stderr, "phenoscope train: run %lld has already finished (%s)\n", resume,
                        info.message);
                rc = PS_ERR_INVALID;
            } else {
                /* a run another live process is training: two writers would interleave */
                RunProgress pr;
                if (strcmp(info.status, "running") == 0 && runs_get_progress(st, resume, &pr) == PS_OK &&
                    pr.pid > 0 && pr.pid != (int64_t)getpid() && kill((pid_t)pr.pid, 0) == 0 &&
                    time(NULL) - pr.time < 120) {
                    fprintf(stderr,
                            "phenoscope train: run %lld is being trained by process %lld; stop "
                            "it first\n",
                            resume, (long long)pr.pid);
                    rc = PS_ERR_BUSY;
                }
            }
        } else {
            StoreSplitCounts k[STORE_N_SPLITS];
            rc = store_split_counts(st, k);
            if (rc) fprintf(stderr, "phenoscope train: %s\n", store_errmsg(st));
            else if (k[SPLIT_TRAIN].n_ehr == 0) {
                fprintf(stderr, "phenoscope train: %s has no ICU stays in its training split "
                                "(try 'phenoscope demo' or 'phenoscope import')\n",
                        req.store_path);
                rc = PS_ERR_INVALID;
            } else if (method != TRAIN_EHR && k[SPLIT_TRAIN].n_pairs == 0) {
                fprintf(stderr,
                        "phenoscope train: %s has no ICU stays paired with a chest radiograph, "
                        "so --method %s cannot run; --method ehr (LSTM only) can\n",
                        req.store_path, train_method_name((TrainMethod)method));
                rc = PS_ERR_INVALID;
            }
        }
        store_close(st);
        if (rc) return 1;
    }
    cmd_train_opts_apply(&o, (TrainMethod)method, &req.cfg);
    req.run_id = resume;
    req.blas_threads = o.threads;
    Job *job = NULL;
    PsErr err = {{0}};
    if (job_new(&job, &err)) {
        fprintf(stderr, "phenoscope train: %s\n", err.msg);
        return 1;
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int id;
    if (job_submit(job, &req, &id, &err)) {
        fprintf(stderr, "phenoscope train: %s\n", err.msg);
        job_free(job);
        return 1;
    }
    const int tty = isatty(STDOUT_FILENO) && !json;
    uint64_t seen = 0;
    int last_epoch = -1, stopping = 0;
    time_t last_json = 0;
    JobResult res;
    for (;;) {
        struct timespec ts = {0, 200000000L};
        nanosleep(&ts, NULL);
        if (got_signal && !stopping) {
            stopping = 1;
            job_stop(job);
            if (!json) fprintf(stderr, "\nphenoscope train: stopping after this iteration...\n");
        }
        JobSnapshot s;
        job_snapshot(job, &s);
        job_result(job, id, &res);
        int finished = res.state >= JOB_DONE;
        if (s.version != seen) {
            seen = s.version;
            char line[512];
            cmd_train_progress_text(&s.progress, line, sizeof line);
            if (json) {
                time_t now = time(NULL);
                if (now != last_json || s.progress.epoch != last_epoch || finished) {
                    print_json_progress(&s);
                    last_json = now;
                    last_epoch = s.progress.epoch;
                }
            } else if (tty) {
                if (s.state == JOB_LOADING)
                    printf("\r\033[Kloading %s %lld/%lld", s.load_phase, (long long)s.load_done,
                           (long long)s.load_total);
                else printf("\r\033[K%s", line);
                fflush(stdout);
            } else if (s.progress.epoch != last_epoch && s.state != JOB_LOADING) {
                last_epoch = s.progress.epoch;
                printf("%s\n", line);
                fflush(stdout);
            }
        }
        if (finished) break;
    }
    if (tty) printf("\n");
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    JobSnapshot s;
    job_snapshot(job, &s);
    job_free(job);
    int rc = res.state == JOB_DONE ? 0 : 1;
    if (json) {
        printf("{\"event\":\"result\",\"run\":%lld,\"method\":\"%s\",\"status\":\"%s\"",
               (long long)res.run_id, train_method_name(req.cfg.method),
               job_state_name(res.state));
        if (isfinite(s.progress.best_val_auroc))
            printf(",\"best_val_auroc\":%.6g,\"best_epoch\":%d", s.progress.best_val_auroc,
                   s.progress.best_epoch);
        printf("}\n");
    }
    if (res.state == JOB_DONE) {
        if (!json)
            printf("run %lld done: %s\n", (long long)res.run_id, s.progress.message);
    } else if (res.state == JOB_STOPPED) {
        fprintf(stderr, "phenoscope train: run %lld stopped at iteration %lld; continue it with "
                        "'phenoscope train --resume %lld'\n",
                (long long)res.run_id, (long long)s.progress.iteration, (long long)res.run_id);
    } else {
        fprintf(stderr, "phenoscope train: %s\n", res.message);
    }
    return rc;
}
