/* params.h — a model's parameters (or buffers) as one slab, carved into named tensors.
 *
 * Two phases: layout (params_add, which only records names, shapes and offsets) then
 * params_alloc, which allocates the value slab and, optionally, a gradient slab of the same
 * size. After that the sizes are fixed: Adam, gradient clipping, zeroing, checkpointing and
 * MPI all-reduce are single loops over w[0..n) and g[0..n). Names follow PyTorch / torchvision
 * state-dict keys ("weight_ih_l0", "layer1.0.conv1.weight") so safetensors files interchange.
 *
 * Batch-norm running statistics live in a second ParamSet without gradients ("buffers").
 */
#ifndef PARAMS_H
#define PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "store/ps.h"

#define PARAMS_NAME_MAX 96
#define PARAMS_MAX_DIM 4

/* Spare floats after the gradient slab, g[n .. n + PARAMS_GRAD_TAIL): data-parallel training
 * sums a step's few scalars (losses, "stop?") over ranks in the gradient all-reduce itself
 * instead of in separate collectives, each of which would make every rank wait for the slowest. */
#define PARAMS_GRAD_TAIL 16

typedef struct {
    char name[PARAMS_NAME_MAX];
    int ndim;
    int64_t shape[PARAMS_MAX_DIM];
    size_t offset; /* in floats, from the start of the slab; multiples of 16 (64-byte aligned) */
    size_t numel;
} ParamInfo;

typedef struct {
    float *w;    /* values, n floats (NULL before params_alloc) */
    float *g;    /* gradients, n floats (+ PARAMS_GRAD_TAIL spare), or NULL without gradients */
    size_t n;    /* total floats including alignment padding */
    ParamInfo *info;
    int count, cap;
} ParamSet;

void params_init(ParamSet *ps);
/* Records a tensor; *offset receives its offset (valid after params_alloc). Layout phase only. */
PsStatus params_add(ParamSet *ps, const char *name, int ndim, const int64_t *shape,
                    size_t *offset, PsErr *err);
/* Allocates zeroed slabs (64-byte aligned); with_grad = 0 for buffers. The gradient slab has
 * PARAMS_GRAD_TAIL spare floats after its n. */
PsStatus params_alloc(ParamSet *ps, int with_grad, PsErr *err);
void params_free(ParamSet *ps);

/* Index of the tensor called name, or -1. */
int params_find(const ParamSet *ps, const char *name);
void params_zero_grad(ParamSet *ps);
/* Sum of squares of all gradients, in double. */
double params_grad_norm2(const ParamSet *ps);
/* A checksum of the values (FNV-1a over the bytes), for "are two copies identical?". */
uint64_t params_checksum(const ParamSet *ps);

#endif
