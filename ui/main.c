/* main.c — the entry point: global options, then a verb (headless CLI) or the TUI.
 * This file only dispatches; every verb lives in ui/cmd_<verb>.c. */
#include "ui/cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine/blas.h"
#include "store/testhooks.h"

const CmdVerb cmd_verbs[] = {
    {"tui", cmd_tui_run, "the terminal workbench (the default without a verb)"},
    {"demo", cmd_demo_run, "write the synthetic demo cohort to the store"},
    {"import", cmd_import_run, "import real data: mimic-iv DIR ..., mimic-cxr DIR, benchmark DIR"},
    {"info", cmd_info_run, "what the store holds: counts per split (Table 1), sources, funnel"},
    {"export", cmd_export_run, "labels, a stay's time series, radiographs, pairs as CSV or JPEG"},
    {"train", cmd_train_run, "train a model (Algorithm 1 or a baseline); --resume RUN"},
    {"eval", cmd_eval_run, "evaluate a run on the test set (AUROC/AUPRC with 95% CIs)"},
    {"table2", cmd_table2_run, "train and evaluate the paper's Table 2 on this store"},
    {"predict", cmd_predict_run, "the 25 phenotype probabilities of one stay"},
    {"probe", cmd_probe_run, "show what graphics the terminal supports, and why"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: phenoscope [--store PATH] [--graphics=sixel|symbols|none] [--mask-ids]\n"
            "                  [VERB [ARGS...]]\n"
            "\n"
            "Without a verb, opens the terminal workbench on the store.\n"
            "Multi-modal ICU phenotyping (EHR time series + chest radiographs). Research use only.\n"
            "\n"
            "verbs:\n");
    for (const CmdVerb *v = cmd_verbs; v->name; v++)
        fprintf(f, "  %-10s %s\n", v->name, v->summary);
    fprintf(f, "\n"
               "options:\n"
               "  --store PATH   the store (default $PHENOSCOPE_STORE, else\n"
               "                 $XDG_DATA_HOME/phenoscope/store.db)\n"
               "  --graphics=M   image output: sixel, symbols or none (default: detect)\n"
               "  --mask-ids     hide subject and stay identifiers (for screen sharing)\n"
               "  -h, --help     this help; VERB --help for a verb's options\n"
               "  --version      print the version\n"
               "\n"
               "See phenoscope(1).\n");
}

/* OpenBLAS picks its kernels once, when the library loads, and falls back to slow generic ones
 * on CPUs it does not recognise (seen here: 5x slower sgemm). When that happened and the user
 * did not choose, run again with the kernel family the CPU supports. Only once: the marker
 * variable stops a loop, and a failed exec simply carries on with the slow kernels. */
static void fix_blas_kernels(char **argv)
{
    if (getenv("PHENOSCOPE_BLAS_REEXEC")) return;
    const char *hint = blas_coretype_hint();
    if (!hint) return;
    if (setenv("OPENBLAS_CORETYPE", hint, 1) != 0 ||
        setenv("PHENOSCOPE_BLAS_REEXEC", "1", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
}

/* A core dump would hold patient values from the store in plain text: off unless asked for. */
static void limit_core_dumps(void)
{
    const char *e = getenv("PHENOSCOPE_CORE");
    if (e && strcmp(e, "1") == 0) return;
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_CORE, &rl) != 0) perror("phenoscope: cannot disable core dumps");
}

int main(int argc, char **argv)
{
    fix_blas_kernels(argv);
    CmdGlobal g = {0};
    limit_core_dumps();
#ifdef PS_TEST_HOOKS
    if (testhooks_init_from_env() != 0) {
        fprintf(stderr, "phenoscope: bad PHENOSCOPE_FAULT (want write|sync:K:full|ioerr|kill)\n");
        return 2;
    }
#endif
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},  {"graphics", required_argument, NULL, 'g'},
        {"mask-ids", no_argument, NULL, 'm'},     {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    int c;
    /* "+" stops at the first non-option: the verb and its arguments belong to the verb. */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 's': g.store_path = optarg; break;
        case 'g':
            if (strcmp(optarg, "sixel") && strcmp(optarg, "symbols") && strcmp(optarg, "none")) {
                fprintf(stderr, "phenoscope: --graphics must be sixel, symbols or none\n");
                return 2;
            }
            g.graphics = optarg;
            break;
        case 'm': g.mask_ids = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("phenoscope %s\n", PS_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        static char tui_name[] = "tui";
        char *tui_argv[] = {tui_name, NULL};
        optind = 0; /* as for any verb: the tui verb runs its own getopt */
        for (const CmdVerb *v = cmd_verbs; v->name; v++)
            if (strcmp(v->name, "tui") == 0) return v->run(&g, 1, tui_argv);
        fprintf(stderr, "phenoscope: the terminal interface is not built in this version\n");
        return 1;
    }
    const char *verb = argv[optind];
    for (const CmdVerb *v = cmd_verbs; v->name; v++) {
        if (strcmp(v->name, verb) == 0) {
            int vargc = argc - optind;
            char **vargv = argv + optind;
            optind = 0; /* glibc: a full re-initialisation, so the verb runs its own getopt */
            return v->run(&g, vargc, vargv);
        }
    }
    fprintf(stderr, "phenoscope: unknown verb '%s' (try --help)\n", verb);
    return 2;
}
