/* blas.h — the one place phenoscope talks to OpenBLAS.
 *
 * Row-major single-precision GEMM (C = alpha * op(A) op(B) + beta * C) through cblas, its slow
 * obviously-correct twin for tests, and the thread count, which is set deliberately by the
 * caller (trainer, benchmark, CLI) instead of left to OpenBLAS's default of "all cores", so BLAS,
 * the trainer thread and the UI do not fight over a small machine.
 */
#ifndef BLAS_H
#define BLAS_H

/* C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C, all row-major.
 * op(A) = A (M,K), lda >= K when !ta; A is (K,M), lda >= M when ta. Likewise for B. */
void blas_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);

/* The slow twin of blas_sgemm: triple loop accumulating in double. The oracle in tests. */
void blas_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc);

/* Sets OpenBLAS's worker count (n >= 1) for the whole process; returns the count now in
 * effect. Call from the thread that owns the computation, before it starts. */
int blas_set_threads(int n);
int blas_get_threads(void);

/* The kernel family OpenBLAS chose at load time ("SkylakeX", "Haswell", "Prescott", ...). */
const char *blas_core_name(void);

/* OpenBLAS 0.3.21 (Debian 12) does not know some recent CPUs (e.g. Sapphire/Emerald Rapids under
 * KVM) and falls back to its generic Prescott kernels, 2-4x slower here. It reads
 * OPENBLAS_CORETYPE only once, when the library loads, so the fix is for a program to re-execute
 * itself with OPENBLAS_CORETYPE set to this hint. Returns the family the CPU supports
 * ("SkylakeX" with AVX-512, "Haswell" with AVX2) when OpenBLAS chose a weaker one and the
 * variable is not already set; NULL otherwise. */
const char *blas_coretype_hint(void);

#endif
