/* blas.c — row-major sgemm through cblas, a reference twin, and OpenBLAS's thread count.
 * It does not choose a thread count itself: that is the caller's policy (see blas.h). */
#include "engine/blas.h"

#include <cblas.h>
#include <stdlib.h>
#include <strings.h>

/* OpenBLAS extensions (declared in its cblas.h, repeated here so that a netlib cblas.h on the
 * include path does not break the build). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);

void blas_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (M == 1 && !ta) {
        // one row (batch of one, or the last active sequence): a matrix-vector product, which
        // OpenBLAS's sgemm would still pay a full packing of B for
        // Cᵀ (N) = alpha op(B)ᵀ (N,K) · a (K) + beta Cᵀ
        cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? N : K, tb ? K : N, alpha,
                    B, ldb, A, 1, beta, C, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void blas_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(long)k * lda + i] : A[(long)i * lda + k];
                double b = tb ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                s += a * b;
            }
            /* beta == 0 must ignore C's old contents (which may be uninitialised or NaN), as
             * BLAS does. */
            double old = beta == 0.0f ? 0.0 : (double)beta * C[(long)i * ldc + j];
            C[(long)i * ldc + j] = (float)(alpha * s + old);
        }
}

int blas_set_threads(int n)
{
    if (n < 1) n = 1;
    openblas_set_num_threads(n);
    return openblas_get_num_threads();
}

int blas_get_threads(void)
{
    return openblas_get_num_threads();
}

const char *blas_core_name(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

static int is_one_of(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcasecmp(name, *list) == 0) return 1;
    return 0;
}

const char *blas_coretype_hint(void)
{
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (set && *set) return NULL;
    const char *core = blas_core_name();
    static const char *const avx512[] = {"skylakex", "cooperlake", "sapphirerapids", NULL};
    static const char *const avx2[] = {"haswell", "zen", "skylakex", "cooperlake",
                                       "sapphirerapids", NULL};
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && !is_one_of(core, avx512)) return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !is_one_of(core, avx2))
        return "Haswell";
    return NULL;
}
