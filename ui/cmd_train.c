/* cmd_train.c — `phenoscope train`: one training run in the background thread (engine/job.h)
 * while the main thread shows its progress: one live line on a terminal, a plain line per epoch
 * when piped, JSON lines with --json. SIGINT / SIGTERM / SIGHUP stop the run after its current
 * iteration with its checkpoint saved; `--resume RUN` continues it (also after SIGKILL, from the last
 * epoch's checkpoint). Also the options and helpers the other training verbs share.
 * Started by mpirun / srun (engine/dist.h), the verb is one rank of a data-parallel job and
 * trains in the main thread (train_ranks): rank 0 checks the store, creates the run, prints and
 * writes; the other ranks read their store read-only.
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
#include "engine/dist.h"
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
    o->overlap = -1;
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
    if (o->sync_bn) c->sync_bn = 1;
#undef SETI
#undef SETD
}

enum {
    O_QUICK = 1000, O_PAPER, O_EPOCHS, O_PRE, O_BATCH, O_ITERS, O_PAT, O_LRPAT, O_IMG, O_WIDTH,
    O_HIDDEN, O_LAYERS, O_AUG, O_BINS, O_UNC, O_THREADS, O_LR, O_LRDECAY, O_BINH, O_DROP, O_WD,
    O_CLIP, O_SEED, O_HEADLR, O_SYNCBN, O_HEADDROP, O_HEADWD, O_OVERLAP
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
    {"sync-bn", no_argument, NULL, O_SYNCBN},
    {"overlap", required_argument, NULL, O_OVERLAP},
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
    case O_THREADS:
        o->threads_given = 1;
        return parse_int(a, 1, 256, &o->threads, "threads", verb);
    case O_SYNCBN: o->sync_bn = 1; return 1;
    case O_OVERLAP:
        if (strcmp(a, "auto") == 0) o->overlap = -1;
        else if (strcmp(a, "on") == 0) o->overlap = 1;
        else if (strcmp(a, "off") == 0) o->overlap = 0;
        else {
            fprintf(stderr, "phenoscope %s: --overlap must be auto, on or off, not '%s'\n", verb,
                    a);
            return -1;
        }
        return 1;
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
            "  --seed N  --threads N (OpenBLAS threads, default 2; under MPI the cores / ranks\n"
            "             per machine)\n"
            "  --sync-bn          under MPI: batch-norm statistics over the global batch\n"
            "  --overlap auto|on|off   under MPI: all-reduce gradients on a communication\n"
            "                     thread while backward runs (auto: when the ranks span\n"
            "                     machines)\n");
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
               "       mpirun -np N phenoscope [--store PATH] train [options] [--sync-bn]\n"
               "\n"
               "Trains one model on the store, recording the run (configuration, losses,\n"
               "per-epoch validation metrics, best and last checkpoints) in the store.\n"
               "Ctrl-C stops after the current iteration with a checkpoint; --resume RUN\n"
               "continues a stopped or killed run. Under mpirun or srun --mpi=pmix the ranks\n"
               "train data-parallel (--batch is the global batch); rank 0 alone writes the store.\n"
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


/* ---- several ranks (mpirun / srun) ----------------------------------------------------------- */

typedef struct {
    int rank, json, tty;
    int last_epoch;
    double last_print;
    int64_t it_first, it_last;
    TrainProgress last;
    pid_t parent; /* the launcher's process (mpirun or its daemon) */
    int orphaned;
} RankView;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void rank_progress(void *ctx, const TrainProgress *p)
{
    RankView *v = ctx;
    if (v->it_first < 0) v->it_first = p->iteration;
    v->it_last = p->iteration;
    v->last = *p;
    if (v->rank != 0) return;
    double now = mono_s();
    int epoch_changed = p->epoch != v->last_epoch;
    if (!epoch_changed && now - v->last_print < (v->json ? 1.0 : 0.5)) return;
    v->last_print = now;
    char line[512];
    cmd_train_progress_text(p, line, sizeof line);
    if (v->json) {
        JobSnapshot s;
        memset(&s, 0, sizeof s);
        s.state = JOB_RUNNING;
        s.progress = *p;
        print_json_progress(&s);
    } else if (v->tty) {
        printf("\r\033[K%s", line);
    } else if (epoch_changed) {
        printf("%s\n", line);
    }
    v->last_epoch = p->epoch;
    fflush(stdout);
}

static int rank_control(void *ctx)
{
    RankView *v = ctx;
    /* the launcher (mpirun, or orted on another machine) died: its ranks would train on as
     * orphans; stop them with their checkpoint instead */
    if (getppid() != v->parent) {
        if (v->rank == 0 && !v->orphaned)
            fprintf(stderr, "\nphenoscope train: the MPI launcher (pid %ld) is gone; stopping\n",
                    (long)v->parent);
        v->orphaned = 1;
        return 1;
    }
    return got_signal != 0;
}

/* A fingerprint of the data a rank loaded: every rank must train on the same dataset. */
static uint64_t data_fingerprint(const Dataset *d)
{
    uint64_t h = 1469598103934665603ull;
    const int64_t v[] = {d->counts.stays[0],  d->counts.stays[1],  d->counts.stays[2],
                         d->counts.images[0], d->counts.images[1], d->counts.images[2],
                         d->counts.pairs[0],  d->counts.pairs[1],  d->counts.pairs[2],
                         d->max_T};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) h = (h ^ (uint64_t)v[i]) * 1099511628211ull;
    return h;
}

/* What rank 0 tells the others before the data are loaded. */
typedef struct {
    int32_t ok;
    int32_t pad;
    int64_t run_id;
    TrainConfig cfg;
} RankStart;

/* DatasetConfig's shared radiograph cache, in memory the ranks of a machine share. */
static PsStatus node_pix_alloc(void *ctx, size_t bytes, uint8_t **out, PsErr *err)
{
    return dist_node_alloc(ctx, bytes, out, err);
}

static PsStatus node_pix_sync(void *ctx, PsErr *err)
{
    return dist_node_sync(ctx, err);
}

/* `mpirun -np N phenoscope train ...`: the same verb on every rank. Rank 0 checks the store,
 * decides the configuration (the run's own on --resume) and creates the run; every rank loads
 * the data from its --store (read-only except on rank 0) and trains its share of each batch;
 * rank 0 alone writes. One rank's local failure ends the job (MPI_Abort): the others would
 * wait for it in the next all-reduce. */
static int train_ranks(const CmdGlobal *g, CmdTrainOpts *o, int method, long long resume,
                       int json)
{
    Dist ds;
    PsErr err = {{0}};
    if (dist_init(&ds, NULL, NULL, &err)) {
        fprintf(stderr, "phenoscope train: %s\n", err.msg);
        dist_finalize(&ds);
        return 1;
    }
    char who[48];
    snprintf(who, sizeof who, "phenoscope train (rank %d of %d)", ds.rank, ds.size);
    char path[4096];
    if (cmd_train_store_path(g, "train", path, sizeof path)) {
        dist_abort(&ds, 1);
        return 1;
    }
    /* ranks sharing a machine share its cores (counted from the ranks' host names: srun,
     * unlike mpirun, does not export how many there are) */
    int threads = o->threads;
    if (!o->threads_given && ds.size > 1) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        threads = (int)(ncpu / ds.local_size);
        if (threads < 1) threads = 1;
    }
    blas_set_threads(threads);
    Store *st = NULL;
    Dataset d;
    memset(&d, 0, sizeof d);
    int loaded = 0, rc = 1;
    RankStart rs;
    memset(&rs, 0, sizeof rs);
    PsStatus s = store_open(&st, path, ds.rank == 0 ? STORE_OPEN_READWRITE : STORE_OPEN_READONLY,
                            &err);
    if (s) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        dist_abort(&ds, 1);
        goto out;
    }
    if (ds.rank == 0) {
        rs.ok = 1;
        if (resume) {
            RunInfo info;
            RunProgress pr;
            if (runs_get(st, resume, &info, NULL)) {
                fprintf(stderr, "%s: %s\n", who, store_errmsg(st));
                rs.ok = 0;
            } else if (strcmp(info.status, "done") == 0) {
                fprintf(stderr, "%s: run %lld has already finished (%s)\n", who, resume,
                        info.message);
                rs.ok = 0;
            } else if (strcmp(info.status, "running") == 0 &&
                       runs_get_progress(st, resume, &pr) == PS_OK && pr.pid > 0 &&
                       kill((pid_t)pr.pid, 0) == 0 && time(NULL) - pr.time < 120) {
                /* two writers would interleave (a pid on this machine only, as for one rank) */
                fprintf(stderr, "%s: run %lld is being trained by process %lld; stop it first\n",
                        who, resume, (long long)pr.pid);
                rs.ok = 0;
            } else if (train_run_config(st, resume, &rs.cfg, &err)) {
                fprintf(stderr, "%s: %s\n", who, err.msg);
                rs.ok = 0;
            }
            rs.run_id = resume;
        } else {
            StoreSplitCounts k[STORE_N_SPLITS];
            if (store_split_counts(st, k)) {
                fprintf(stderr, "%s: %s\n", who, store_errmsg(st));
                rs.ok = 0;
            } else if (k[SPLIT_TRAIN].n_ehr == 0 ||
                       (method != TRAIN_EHR && k[SPLIT_TRAIN].n_pairs == 0)) {
                fprintf(stderr, "%s: %s has no %s in its training split\n", who, path,
                        k[SPLIT_TRAIN].n_ehr == 0 ? "ICU stays" : "stays paired with a radiograph");
                rs.ok = 0;
            }
            cmd_train_opts_apply(o, (TrainMethod)method, &rs.cfg);
        }
    }
    if (dist_bcast(&ds, &rs, sizeof rs, 0, &err)) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        dist_abort(&ds, 1);
        goto out;
    }
    if (!rs.ok) goto out; /* every rank leaves; rank 0 said why */
    if (rs.cfg.batch < ds.size) {
        if (ds.rank == 0)
            fprintf(stderr, "%s: a global batch of %d cannot be shared by %d ranks\n", who,
                    rs.cfg.batch, ds.size);
        goto out;
    }
    DatasetConfig dc;
    train_dataset_config(&rs.cfg, &dc);
    if (dc.load_images && ds.node_size > 1) {
        /* the ranks of one machine decode a share of the radiographs each into one cache */
        dc.pix_alloc = node_pix_alloc;
        dc.pix_sync = node_pix_sync;
        dc.pix_ctx = &ds;
        dc.pix_stride = ds.node_size;
        dc.pix_offset = ds.node_rank;
    }
    if (dataset_load(&d, st, &dc, NULL, NULL, &err)) {
        fprintf(stderr, "%s: loading %s: %s\n", who, path, err.msg);
        dist_abort(&ds, 1);
        goto out;
    }
    loaded = 1;
    uint64_t lo, hi;
    int rank_hi;
    if (dist_agree(&ds, data_fingerprint(&d), &lo, &hi, &rank_hi, &err)) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        dist_abort(&ds, 1);
        goto out;
    }
    if (lo != hi) {
        /* every rank sees the mismatch; none has written anything yet */
        if (ds.rank == 0)
            fprintf(stderr,
                    "%s: the ranks loaded different data (rank %d's store differs from another "
                    "rank's); every rank needs the same store or an identical copy of it\n",
                    who, rank_hi);
        goto out;
    }
    if (ds.rank == 0 && !resume) {
        char *cj = train_config_json(&rs.cfg, &d.counts);
        int64_t id = 0;
        if (!cj || runs_create(st, train_method_name(rs.cfg.method), cj, (int64_t)rs.cfg.seed,
                               PS_VERSION, "running", &id)) {
            fprintf(stderr, "%s: creating the run: %s\n", who, cj ? store_errmsg(st) : "out of memory");
            free(cj);
            dist_abort(&ds, 1);
            goto out;
        }
        free(cj);
        rs.run_id = id;
    }
    if (dist_bcast(&ds, &rs.run_id, sizeof rs.run_id, 0, &err)) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        dist_abort(&ds, 1);
        goto out;
    }
    /* the communication thread pays where an interconnect moves the gradients while the cores
     * compute (ranks on several machines); ranks sharing a machine's cores and memory make the
     * copies themselves (README "Scale out" has both measured) */
    int overlap = ds.size > 1 && (o->overlap > 0 || (o->overlap < 0 && ds.hosts > 1 &&
                                                     ds.thread_multiple));
    if (overlap && dist_overlap_start(&ds, &err)) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        dist_abort(&ds, 1);
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    RankView view = {.rank = ds.rank, .json = json, .tty = isatty(STDOUT_FILENO) && !json,
                     .last_epoch = -1, .last_print = 0, .it_first = -1, .parent = getppid()};
    TrainHooks hooks = {.ctx = &view, .progress = rank_progress, .control = rank_control};
    if (ds.rank == 0 && !json)
    {
        int per = rs.cfg.batch / ds.size;
        char share[32];
        if (rs.cfg.batch % ds.size) snprintf(share, sizeof share, "%d-%d", per, per + 1);
        else snprintf(share, sizeof share, "%d", per);
        printf("run %lld: %d ranks on %d host%s, global batch %d (%s per rank), %d thread%s "
               "per rank%s%s\n",
               (long long)rs.run_id, ds.size, ds.hosts, ds.hosts == 1 ? "" : "s", rs.cfg.batch,
               share, threads, threads == 1 ? "" : "s",
               rs.cfg.sync_bn ? ", synchronised batch norm" : "",
               ds.ov ? ", all-reduce overlapped with backward" : "");
    if (ds.rank == 0 && !json && d.pix_shared)
        printf("radiographs: %d at %d px in one cache per machine, decoded by its %d ranks\n",
               d.n_imgs, d.cfg.img_size, ds.node_size);
    }
    s = train_run_dist(ds.rank == 0 ? st : NULL, rs.run_id, &d, &rs.cfg, resume > 0, &hooks, &ds,
                       &err);
    if (view.tty && ds.rank == 0) printf("\n");
    int64_t its = view.it_first >= 0 ? view.it_last - view.it_first + 1 : 0;
    double ar_ms = its > 0 ? 1e3 * ds.comm_s / (double)its : 0;
    double ex_ms = its > 0 ? 1e3 * ds.exposed_s / (double)its : 0;
    double mb = its > 0 ? ds.comm_bytes / (double)its / 1e6 : 0;
    if (s == PS_OK) {
        rc = 0;
        if (ds.rank == 0) {
            if (json)
                printf("{\"event\":\"result\",\"run\":%lld,\"method\":\"%s\",\"status\":\"done\","
                       "\"ranks\":%d,\"best_val_auroc\":%.6g,\"best_epoch\":%d,"
                       "\"samples_per_s\":%.6g,\"allreduce_ms_per_iteration\":%.4g,"
                       "\"allreduce_waited_ms_per_iteration\":%.4g,"
                       "\"allreduce_mb_per_iteration\":%.4g,\"overlap\":%s}\n",
                       (long long)rs.run_id, train_method_name(rs.cfg.method), ds.size,
                       view.last.best_val_auroc, view.last.best_epoch, view.last.samples_per_s,
                       ar_ms, ex_ms, mb, ds.ov ? "true" : "false");
            else
                printf("run %lld done: %s\nranks %d: all-reduce %.3g ms per iteration (%.3g MB), "
                       "%.3g ms of it waited for\n",
                       (long long)rs.run_id, view.last.message, ds.size, ar_ms, mb, ex_ms);
        }
    } else if (s == PS_ERR_CANCELLED) {
        if (ds.rank == 0)
            fprintf(stderr, "%s: run %lld stopped; continue it with 'phenoscope train --resume "
                            "%lld'\n", who, (long long)rs.run_id, (long long)rs.run_id);
    } else {
        /* a failure all ranks share is said once, by rank 0 */
        if (ds.rank == 0 || !ds.failed_together) fprintf(stderr, "%s: %s\n", who, err.msg);
        if (!ds.failed_together) {
            /* only this rank knows: end the job rather than leave the others waiting */
            store_close(st);
            st = NULL;
            dist_abort(&ds, 1);
        }
    }
out:
    if (loaded) dataset_free(&d);
    store_close(st);
    dist_finalize(&ds);
    return rc;
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
    if (dist_launched()) return train_ranks(g, &o, method, resume, json);
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
    /* a hangup (the SSH link or terminal gone) stops the run with its checkpoint like Ctrl-C;
     * output to a vanished pipe must not kill the process before that checkpoint is written */
    struct sigaction old_hup, old_pipe, ign;
    sigaction(SIGHUP, &sa, &old_hup);
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);
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
        if (got_signal) {
            /* again on every turn: a stop asked before the worker picked the run up is reset
             * when the run starts */
            job_stop(job);
            if (!stopping && !json)
                fprintf(stderr, "\nphenoscope train: stopping after this iteration...\n");
            stopping = 1;
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
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
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
