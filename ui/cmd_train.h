/* cmd_train.h — what the training verbs (train, eval, table2, predict) share: the store path,
 * the model/preset options, and the one-line progress text. */
#ifndef CMD_TRAIN_H
#define CMD_TRAIN_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "engine/train.h"
#include "ui/cmd.h"

/* The store path from the global option or the default; prints "phenoscope VERB: ..." and
 * returns -1 on failure. */
int cmd_train_store_path(const CmdGlobal *g, const char *verb, char *buf, size_t n);

/* Model and training options shared by train and table2; cfg starts from the preset. */
typedef struct {
    int preset; /* TrainPreset */
    int epochs, pretrain_epochs, batch, max_iters, patience, lr_patience, img_size, width,
        hidden, layers, augment, max_bins, uncertain, threads;
    double lr, lr_decay, bin_hours, dropout, weight_decay, clip, head_lr, head_dropout, head_wd;
    long long seed;
    int sync_bn;       /* --sync-bn */
    int overlap;       /* --overlap: -1 auto (when the ranks span machines), 0 off, 1 on */
    int threads_given; /* --threads was on the command line */
} CmdTrainOpts;
void cmd_train_opts_init(CmdTrainOpts *o);
/* Applies the options over the preset for method m. */
void cmd_train_opts_apply(const CmdTrainOpts *o, TrainMethod m, TrainConfig *cfg);
/* getopt_long entries (terminated by a zero entry) and the handler for their codes: returns 1
 * when the code was one of them, 0 when not, -1 (after a message) on a bad value. */
extern const struct option cmd_train_longopts[];
int cmd_train_opt(CmdTrainOpts *o, int code, const char *arg, const char *verb);
void cmd_train_opts_help(FILE *f);

/* "epoch 2/8  it 340/1400  loss cxr 0.41 ehr 0.30 uni 0.35  52 samples/s  ETA 3m12s ..." */
void cmd_train_progress_text(const TrainProgress *p, char *buf, size_t n);
/* The paper's figures, for table2 (method index as TrainMethod, groups all/acute/mixed/chronic);
 * NaN when the paper has no such row. */
double cmd_train_paper_value(TrainMethod m, int group);

#endif
