/* safetensors.h — model weights in the safetensors format, with PyTorch tensor names.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name
 * to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data section),
 * an optional "__metadata__" object of strings, then the raw little-endian data. A torchvision
 * state dict saved with safetensors.torch.save_file loads as is, and our files load in PyTorch.
 *
 * Reading validates everything before copying anything: header length, strict JSON, known
 * dtypes, shapes against the model, offsets inside the data, contiguous and non-overlapping and
 * covering it exactly. A hostile or truncated file is rejected with one message naming the file
 * and the tensor or header byte; the model is untouched then.
 *
 * dtypes: F32 for everything, except tensors named "*num_batches_tracked", which torch keeps as
 * I64 and ParamSet keeps as a float scalar (converted both ways).
 */
#ifndef SAFETENSORS_H
#define SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/params.h"
#include "store/ps.h"

/* Headers larger than this are refused (the reference implementation's limit too). */
#define SAFETENSORS_MAX_HEADER (100u * 1024u * 1024u)

typedef struct {
    /* Tensors whose name starts with this are ignored in the file and in the model, e.g. "fc."
     * to load an ImageNet backbone into a 14-output model. NULL: none. */
    const char *skip_prefix;
    /* 1: tensors in the file that the model lacks are ignored; 0: they are an error. */
    int ignore_extra;
} SafetensorsOpts;

/* Loads buf[0..len) into the ParamSets sets[0..nsets) (values only), matching by name.
 * what names the source in messages (a path, "checkpoint of run 7"). opts may be NULL
 * (strict: the file holds exactly the model's tensors). */
PsStatus safetensors_load(const uint8_t *buf, size_t len, const char *what, ParamSet *const *sets,
                          int nsets, const SafetensorsOpts *opts, PsErr *err);
PsStatus safetensors_load_file(const char *path, ParamSet *const *sets, int nsets,
                               const SafetensorsOpts *opts, PsErr *err);

/* Serialises the values of sets[0..nsets) to a malloc'd buffer *out of *len bytes; the caller
 * frees it with free(). Tensor names must be unique across the sets. */
PsStatus safetensors_save(uint8_t **out, size_t *len, ParamSet *const *sets, int nsets, PsErr *err);
/* Writes the same bytes to path atomically (a temporary file renamed into place). */
PsStatus safetensors_save_file(const char *path, ParamSet *const *sets, int nsets, PsErr *err);

#endif
