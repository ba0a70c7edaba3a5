#!/bin/sh
# Data-parallel scaling from 1 to 2 MPI ranks (run by tests/bench.sh; README "Scale out").
#
# Weak scaling, as data-parallel training is used: the per-rank batch stays the same (1 rank
# with batch b, 2 ranks with global batch 2b), every rank on 1 BLAS thread (unbound: on a
# shared machine the scheduler places them better than a fixed core). Both sides run `phenoscope train` under mpirun (-np 1 and -np 2), so they pay
# the same start-up; samples/s is what the trainer reports (training iterations only, not
# validation). Prints
#   BENCH mpi_lstm_2ranks phenoscope_ms=<ms per 2-rank iteration> torch_ms=NA
#         speedup=<2-rank samples/s ÷ 1-rank samples/s> peak_rss_mb=<largest rank>
#         samples_per_s_1=… samples_per_s_2=… allreduce_ms_per_step=… allreduce_waited_ms_per_step=…
#         allreduce_mb_per_step=…
#   BENCH mpi_resnet34_112_2ranks … (the same for Algorithm 1 with ResNet-34 at 112 px)
#   BENCH mpi_resnet34_112_2ranks_overlap … (the same, the all-reduce on the communication thread
#         while backward runs: --overlap=on, which auto leaves off on one machine)
#   BENCH mpi_allreduce ranks=2 ms_per_mb=… (the all-reduce alone, 16–64 MB slabs)
# allreduce_ms_per_step is the time inside the gradient all-reduces per iteration, waiting for
# the slower rank included; allreduce_waited_ms_per_step the part of it the trainer waited for
# (all of it without overlap). Knobs: PS_BENCH_MPI_ITERS (iterations per run; default 60 for
# the LSTM, 8 for the ResNet: enough that the first iteration's set-up does not count),
# PS_BENCH_MPI_STAYS (demo stays, default 200), PS_BENCH_STORE (an existing store to use).
# usage: bench_mpi.sh BUILD_DIR
set -u
build=$1
P=./phenoscope
[ "$build" = build ] || P=$build/phenoscope
if ! command -v mpirun >/dev/null 2>&1 || ! ldd "$P" 2>/dev/null | grep -q libmpi; then
    echo "note: no mpirun or no MPI build; BENCH mpi_* skipped"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_base_warn_component_unused=0
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
iters_lstm=${PS_BENCH_MPI_ITERS:-60}
iters_cnn=${PS_BENCH_MPI_ITERS:-8}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
store=${PS_BENCH_STORE:-}
if [ -z "$store" ]; then
    store=$tmp/bench.db
    "$P" --store "$store" demo --stays "${PS_BENCH_MPI_STAYS:-200}" > "$tmp/demo.log" 2>&1 ||
        { cat "$tmp/demo.log"; echo "bench_mpi: demo store failed" >&2; exit 1; }
fi
TIME=""
[ -x /usr/bin/time ] && TIME="/usr/bin/time -f PEAKRSS=%M"

# run NP NAME ITERS ARGS...: one training run, its result line and peak RSS into $tmp/NAME.*
# (shell functions share variables: each uses its own names)
run() {
    rnp=$1; rn=$2; rit=$3; shift 3
    cp "$store" "$tmp/$rn.db"
    mpirun --oversubscribe --bind-to none -np "$rnp" $TIME "$P" --store "$tmp/$rn.db" train \
        "$@" --epochs 1 --max-iters "$rit" --threads 1 --json > "$tmp/$rn.out" 2> "$tmp/$rn.err"
    rrc=$?
    rm -f "$tmp/$rn.db" "$tmp/$rn.db-wal" "$tmp/$rn.db-shm"
    if [ $rrc -ne 0 ] || ! grep -q '"event":"result"' "$tmp/$rn.out"; then
        cat "$tmp/$rn.err" >&2
        echo "bench_mpi: $rn failed" >&2
        return 1
    fi
}
field() { sed -n "s/.*\"event\":\"result\".*\"$2\":\([0-9.e+-]*\).*/\1/p" "$tmp/$1.out" | head -1; }
rss() { sed -n 's/.*PEAKRSS=\([0-9]*\).*/\1/p' "$tmp/$1.err" | sort -n | tail -1 | awk '{ printf "%d", $1 / 1024 }'; }

# bench NAME ITERS BATCH_PER_RANK ARGS...
fail=0
bench() {
    name=$1; it=$2; b=$3; shift 3
    run 1 "${name}_1" "$it" --batch "$b" "$@" || { fail=1; return; }
    run 2 "${name}_2" "$it" --batch $((2 * b)) "$@" || { fail=1; return; }
    s1=$(field "${name}_1" samples_per_s)
    s2=$(field "${name}_2" samples_per_s)
    ar=$(field "${name}_2" allreduce_ms_per_iteration)
    aw=$(field "${name}_2" allreduce_waited_ms_per_iteration)
    mb=$(field "${name}_2" allreduce_mb_per_iteration)
    r=$(rss "${name}_2")
    awk -v n="$name" -v s1="$s1" -v s2="$s2" -v b="$b" -v ar="$ar" -v aw="$aw" -v mb="$mb" \
        -v r="${r:-NA}" -v it="$it" \
        'BEGIN { printf "BENCH %s phenoscope_ms=%.1f torch_ms=NA speedup=%.2f peak_rss_mb=%s " \
                 "samples_per_s_1=%.1f samples_per_s_2=%.1f allreduce_ms_per_step=%.1f " \
                 "allreduce_waited_ms_per_step=%.1f allreduce_mb_per_step=%.1f " \
                 "batch_per_rank=%d iterations=%d\n", n, 2 * b / s2 * 1000, s2 / s1, \
                 r, s1, s2, ar, aw, mb, b, it }'
}
# the LSTM of bench_lstm (76 → 2 × 256 → 25), batch 16 per rank
bench mpi_lstm_2ranks "$iters_lstm" 16 --method ehr --hidden 256 --layers 2 --dropout 0
# Algorithm 1 with the real ResNet-34 (width 64) at 112 px, batch 8 per rank
bench mpi_resnet34_112_2ranks "$iters_cnn" 8 --method unified --img-size 112 --width 64
bench mpi_resnet34_112_2ranks_overlap "$iters_cnn" 8 --method unified --img-size 112 --width 64 \
    --overlap=on

ab=$build/tests/mpi_allreduce
if [ -x "$ab" ]; then
    mpirun --oversubscribe --bind-to none -np 2 "$ab" > "$tmp/ar.out" 2> "$tmp/ar.err" ||
        { cat "$tmp/ar.err" >&2; fail=1; }
    # slope through the 16 and 64 MB slabs: the per-byte cost without the latency
    awk '$1 == "ALLREDUCE" { sub("mb=", "", $3); sub("ms=", "", $4); m[$3] = $4 }
         END { if (m[16] != "" && m[64] != "")
                   printf "BENCH mpi_allreduce ranks=2 ms_per_mb=%.3f ms_16mb=%s ms_64mb=%s\n",
                          (m[64] - m[16]) / 48, m[16], m[64] }' "$tmp/ar.out"
fi
exit $fail
