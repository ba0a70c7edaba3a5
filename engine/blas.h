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

#endif
