#!/bin/sh
# `make bench`: phenoscope's workloads against the same workloads in PyTorch, in one run.
#
# Every BUILD/tests/bench_* binary and tests/bench_*.sh script prints `PSBENCH <name>
# ms=<median> peak_rss_mb=<n> [more fields]` (each workload in its own process, so the peak RSS
# is its own; tests/bench_tui.sh: the TUI's input-to-redraw latency, ms = p50, then p95_ms,
# max_ms, keys); every tests/bench_*.py prints
# `TORCHBENCH <name> ms=<median>` under Debian's /usr/bin/python3 when torch imports. Both sides
# get the same thread count ($PS_BENCH_THREADS, default 2, exported as OMP_NUM_THREADS,
# OPENBLAS_NUM_THREADS and used for torch.set_num_threads) and the same OpenBLAS kernels: when
# OpenBLAS misdetects this CPU (see blas_coretype_hint in engine/blas.h), OPENBLAS_CORETYPE is
# set for both sides and said so; PS_BENCH_DEFAULT_CORE=1 keeps OpenBLAS's own choice.
# Output: one `BENCH <name> phenoscope_ms=… torch_ms=… speedup=<torch/phenoscope> peak_rss_mb=…`
# line per workload (torch_ms=NA speedup=NA without torch) and `BENCH sgemm gflops=… conv_fraction:
# <workload>=<its convolutions' GFLOP/s over sgemm's> …`.
# usage: bench.sh BUILD_DIR BENCH_BIN...
set -u
build=$1
shift
threads=${PS_BENCH_THREADS:-2}
export PS_BENCH_THREADS="$threads" OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
       MKL_NUM_THREADS="$threads"
sg="$build/tests/bench_sgemm"
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -z "${PS_BENCH_DEFAULT_CORE:-}" ] && [ -x "$sg" ]; then
    hint=$("$sg" hint)
    if [ -n "$hint" ]; then
        export OPENBLAS_CORETYPE="$hint"
        echo "note: OpenBLAS misdetects this CPU; OPENBLAS_CORETYPE=$hint for both sides" \
             "(PS_BENCH_DEFAULT_CORE=1 to keep its choice)"
    fi
fi
echo "threads: $threads"
ps_out=$(mktemp)
torch_out=$(mktemp)
trap 'rm -f "$ps_out" "$torch_out"' EXIT
fail=0
for b in "$@"; do
    case "$b" in */bench_sgemm) continue ;; esac
    "$b" >> "$ps_out" || { echo "bench: $b failed" >&2; fail=1; }
done
# shell benches (tests/bench_*.sh BUILD) print PSBENCH lines too; extra fields follow peak_rss_mb
for b in tests/bench_*.sh; do
    [ -f "$b" ] || continue
    sh "$b" "$build" >> "$ps_out" || { echo "bench: $b failed" >&2; fail=1; }
done
py=/usr/bin/python3
if $py -c 'import torch' 2>/dev/null; then
    for s in tests/bench_*.py; do
        [ -f "$s" ] || continue
        $py "$s" >> "$torch_out" || { echo "bench: $s failed" >&2; fail=1; }
    done
else
    echo "note: $py cannot import torch; torch_ms=NA"
fi
grep '^PSBENCH ' "$ps_out" | while read -r _ name ms rss; do
    ms=${ms#ms=}
    rss=${rss#peak_rss_mb=}
    tms=$(awk -v n="$name" '$1 == "TORCHBENCH" && $2 == n { sub("ms=", "", $3); print $3 }' "$torch_out")
    if [ -n "$tms" ]; then
        sp=$(awk -v a="$tms" -v b="$ms" 'BEGIN { printf "%.2f", a / b }')
    else
        tms=NA
        sp=NA
    fi
    echo "BENCH $name phenoscope_ms=$ms torch_ms=$tms speedup=$sp peak_rss_mb=$rss"
done
if [ -x "$sg" ]; then
    # the sgemm rate, then the fraction of it each convolution workload's step reaches
    line=$("$sg" | sed -n 's/^PSGFLOPS sgemm /BENCH sgemm /p')
    peak=$(printf '%s\n' "$line" | sed -n 's/.* gflops=\([0-9.]*\).*/\1/p')
    fr=$(awk -v p="$peak" '$1 == "PSBENCH" {
            for (i = 3; i <= NF; i++) if ($i ~ /^conv_gflops=/) {
                g = substr($i, 13); printf " %s=%.2f", $2, (p > 0 ? g / p : 0) } }' "$ps_out")
    echo "$line${fr:+ conv_fraction:$fr}"
fi
# data-parallel scaling, 1 → 2 MPI ranks (prints its own BENCH lines; skips without mpirun)
sh tests/bench_mpi.sh "$build" || fail=1
exit $fail
