#!/bin/sh
# Data-parallel training under Open MPI (engine/dist.h, README "Scale out"):
#  - 2 ranks with the global batch split between them train the same weights as 1 rank with the
#    whole batch: the EHR model (an odd batch, so the shards are unequal) and a small ResNet
#    (Algorithm 1, --sync-bn); without --sync-bn the ResNet differs (the check can fail);
#  - one rank killed with SIGKILL mid-run ends the whole job within 10 s, the store passes
#    PRAGMA integrity_check, and the run resumes on 1 rank to the weights of an uninterrupted run;
#  - replicas whose parameters diverge (a test hook nudges one rank's weights) stop the run on
#    every rank with a clear message, recorded by rank 0;
#  - two ranks in two network namespaces joined by a veth pair, over TCP (tests/mpi_netns.sh).
# SKIPs with a reason when mpirun or an MPI build is missing.
set -u
P=${PHENOSCOPE_BIN:-./phenoscope}
H=${PHENOSCOPE_HOOKS_BIN:-./build/phenoscope-hooks}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
here=$(cd "$(dirname "$0")" && pwd)
fail=0
pass() { echo "PASS $1"; }
bad() { echo "FAIL $1: $2"; fail=1; }

if ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIP mpi: mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev; make deps)"
    exit 0
fi
if ! ldd "$P" 2>/dev/null | grep -q libmpi; then
    echo "SKIP mpi: $P was built without MPI (make MPI=0, or mpicc missing at build time)"
    exit 0
fi
# Open MPI refuses root unless told twice; the tests run as whatever user CI gives them.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# quiet about interconnects this machine does not have (InfiniBand)
export OMPI_MCA_btl_base_warn_component_unused=0
# sanitizer builds (make asan, CI): Open MPI's own allocations at exit are not phenoscope's
# leaks; full unwinding lets the suppressions see the MPI frames under unloaded components
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$here/lsan_mpi.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
MPIRUN="mpirun --oversubscribe --bind-to none"

dir=$(mktemp -d)
trap '[ -n "${PS_KEEP:-}" ] || rm -rf "$dir"' EXIT; [ -n "${PS_KEEP:-}" ] && echo "keeping $dir"
"$P" --store "$dir/base.db" demo --stays 120 --threads 2 > "$dir/demo.log" 2>&1 ||
    { cat "$dir/demo.log"; bad mpi_demo "demo store"; exit 1; }
fresh() { cp "$dir/base.db" "$dir/$1.db"; }
cmp_runs() { "$PY" "$here/mpi_compare.py" "$dir/$1.db" "$2" "$dir/$3.db" "$4" "$5"; }

# ---- 2 ranks × b equals 1 rank × 2b ------------------------------------------------------------
EHR="--method ehr --quick --epochs 2 --max-iters 4 --batch 15 --threads 1"
fresh e1; fresh e2
if "$P" --store "$dir/e1.db" train $EHR > "$dir/e1.log" 2>&1 &&
   timeout 120 $MPIRUN -np 2 "$P" --store "$dir/e2.db" train $EHR > "$dir/e2.log" 2>&1; then
    if grep -q "2 ranks on 1 host, global batch 15 (7-8 per rank), 1 thread per rank" "$dir/e2.log" && cmp_runs e1 1 e2 1 1e-5; then
        pass mpi_ehr_2ranks_equal_1rank
    else
        cat "$dir/e2.log"; bad mpi_ehr_2ranks_equal_1rank "weights differ"
    fi
else
    cat "$dir/e1.log" "$dir/e2.log"; bad mpi_ehr_2ranks_equal_1rank "a run failed"
fi

CNN="--method unified --quick --epochs 1 --max-iters 4 --batch 8 --img-size 32 --width 4 --threads 1"
fresh r1; fresh r2; fresh r3
if "$P" --store "$dir/r1.db" train $CNN > "$dir/r1.log" 2>&1 &&
   timeout 180 $MPIRUN -np 2 "$P" --store "$dir/r2.db" train $CNN --sync-bn > "$dir/r2.log" 2>&1 &&
   timeout 180 $MPIRUN -np 2 "$P" --store "$dir/r3.db" train $CNN > "$dir/r3.log" 2>&1; then
    # the two ranks decode half the radiographs each into one cache: a half missing on either
    # rank would train other weights
    if grep -q "in one cache per machine, decoded by its 2 ranks" "$dir/r2.log" &&
       cmp_runs r1 1 r2 1 1e-4; then
        pass mpi_resnet_sync_bn_2ranks_equal_1rank
    else
        bad mpi_resnet_sync_bn_2ranks_equal_1rank "weights differ"
    fi
    # per-rank statistics normalise each half alone: a different model, which the check sees
    if cmp_runs r1 1 r3 1 1e-4 > "$dir/r3.cmp" 2>&1; then
        cat "$dir/r3.cmp"; bad mpi_resnet_per_rank_bn_differs "per-rank BN matched the 1-rank run"
    else
        pass mpi_resnet_per_rank_bn_differs
    fi
else
    cat "$dir/r1.log" "$dir/r2.log" "$dir/r3.log"; bad mpi_resnet_sync_bn_2ranks_equal_1rank "a run failed"
fi

# the random draws per image and per feature (affine augmentation, dropout on the classifier's
# input) are skipped for the other shard, and synchronised batch norm gets gradients already at
# the whole batch's scale, so with unequal shards (7 = 3 + 4) Joint I end to end still trains
# what one rank trains (Adam's first steps magnify rounding on near-zero gradients: 5e-4)
AUG="$CNN --method joint1 --batch 7 --augment=affine --head-dropout 0.3"
fresh a1; fresh a2
if "$P" --store "$dir/a1.db" train $AUG > "$dir/a1.log" 2>&1 &&
   timeout 180 $MPIRUN -np 2 "$P" --store "$dir/a2.db" train $AUG --sync-bn > "$dir/a2.log" 2>&1; then
    if cmp_runs a1 1 a2 1 5e-4; then
        pass mpi_augment_dropout_2ranks_equal_1rank
    else
        bad mpi_augment_dropout_2ranks_equal_1rank "weights differ"
    fi
else
    cat "$dir/a1.log" "$dir/a2.log"; bad mpi_augment_dropout_2ranks_equal_1rank "a run failed"
fi

# the same two runs with the gradients summed on the communication thread while backward runs
# (--overlap=on; auto leaves it off on one machine) in 16 KB buckets, so the small ResNet's
# gradient leaves in pieces during its backward, interleaved with the batch-norm sums
fresh o2; fresh o3
if PHENOSCOPE_BUCKET_KB=16 timeout 180 $MPIRUN -x PHENOSCOPE_BUCKET_KB -np 2 "$P" \
       --store "$dir/o2.db" train $CNN --sync-bn --overlap=on > "$dir/o2.log" 2>&1 &&
   PHENOSCOPE_BUCKET_KB=16 timeout 180 $MPIRUN -x PHENOSCOPE_BUCKET_KB -np 2 "$P" \
       --store "$dir/o3.db" train $AUG --sync-bn --overlap=on > "$dir/o3.log" 2>&1; then
    if grep -q "all-reduce overlapped with backward" "$dir/o2.log" && cmp_runs r1 1 o2 1 1e-4 &&
       cmp_runs a1 1 o3 1 5e-4; then
        pass mpi_overlap_2ranks_equal_1rank
    else
        cat "$dir/o2.log"; bad mpi_overlap_2ranks_equal_1rank "weights differ"
    fi
else
    cat "$dir/o2.log" "$dir/o3.log"; bad mpi_overlap_2ranks_equal_1rank "a run failed"
fi

# ---- SIGKILL of one rank: the job ends, the store is intact, the run resumes on 1 rank --------
if [ -x "$H" ] && ldd "$H" 2>/dev/null | grep -q libmpi; then
    KIL="--method ehr --quick --epochs 4 --max-iters 6 --batch 8 --threads 1"
    # slow_run NAME: a 2-rank run of $KIL into NAME.db in the background, at 150 ms per
    # iteration (a signal lands in the second epoch or later, never after the end), once its
    # first checkpoint (epoch 1) is in the store: $mp is the job (timeout, its child mpirun,
    # whose children are the ranks), $r0 rank 0's pid (the store's writer), $other the other's
    slow_run() {
        PHENOSCOPE_TEST_ITER_MS=150 timeout 120 $MPIRUN -x PHENOSCOPE_TEST_ITER_MS -np 2 "$H" \
            --store "$dir/$1.db" train $KIL > "$dir/$1.log" 2>&1 &
        mp=$!
        i=0
        while [ $i -lt 600 ]; do
            n=$(sqlite3 "$dir/$1.db" "SELECT count(*) FROM checkpoints WHERE kind = 'last'" 2>/dev/null)
            [ "${n:-0}" -ge 1 ] && break
            sleep 0.1; i=$((i + 1))
        done
        r0=$(sqlite3 "$dir/$1.db" "SELECT pid FROM run_progress WHERE run_id = 1" 2>/dev/null)
        other=""
        for m in $(ps -o pid= --ppid $mp 2>/dev/null); do
            for c in $(ps -o pid= --ppid $m 2>/dev/null); do
                [ "$c" != "$r0" ] && other=$c
            done
        done
    }
    fresh k1; fresh k2
    "$P" --store "$dir/k1.db" train $KIL > "$dir/k1.log" 2>&1 || { cat "$dir/k1.log"; bad mpi_kill "reference run"; }
    slow_run k2
    victim=$other
    if [ -z "$victim" ] || [ -z "$r0" ]; then
        cat "$dir/k2.log"; bad mpi_kill_one_rank_ends_job "no rank to kill (rank 0 pid '$r0')"
        kill $mp 2>/dev/null; wait $mp
    else
        t0=$(date +%s.%N)
        kill -KILL "$victim"
        wait $mp; rc=$?
        # the job has ended when every rank has: rank 0 must not linger in a collective
        i=0
        while kill -0 "$r0" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
        dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        if [ $rc -ne 0 ] && ! kill -0 "$r0" 2>/dev/null && awk -v d="$dt" 'BEGIN { exit !(d <= 10) }' &&
           grep -qi "signal 9\|killed" "$dir/k2.log"; then
            pass "mpi_kill_one_rank_ends_job (${dt} s, mpirun exit $rc)"
        else
            cat "$dir/k2.log"; bad mpi_kill_one_rank_ends_job "exit $rc after ${dt} s"
        fi
        # SQLite 3.40 wrongly reports NULLs in diagnoses.subject_id (see e2e_killpoints.sh)
        ic=$(sqlite3 "$dir/k2.db" "PRAGMA integrity_check" 2>&1 |
             grep -v '^NULL value in diagnoses.subject_id$')
        [ -z "$ic" ] && [ "$(sqlite3 "$dir/k2.db" \
            "SELECT count(*) FROM diagnoses WHERE subject_id IS NULL")" = 0 ] && ic=ok
        ep=$(sqlite3 "$dir/k2.db" "SELECT epoch FROM checkpoints WHERE run_id = 1 AND kind = 'last'")
        if [ "$ic" = ok ] && [ "${ep:-0}" -ge 1 ] && [ "${ep:-0}" -lt 4 ]; then
            pass "mpi_kill_store_intact (checkpoint of epoch $ep)"
        else
            bad mpi_kill_store_intact "integrity '$ic', last checkpoint epoch '$ep'"
        fi
        # resumed on ONE rank: the data cursor is the global batch's, so it continues exactly
        if "$P" --store "$dir/k2.db" train --resume 1 --threads 1 > "$dir/k3.log" 2>&1 &&
           cmp_runs k1 1 k2 1 1e-4; then
            pass mpi_resume_2ranks_onto_1
        else
            cat "$dir/k3.log"; bad mpi_resume_2ranks_onto_1 "resume failed or weights differ"
        fi
    fi

    # ---- a stop asked of one rank that is not the writer: every rank stops after the same step
    # (the request travels with the gradients), rank 0 records "stopped", and the run resumes on
    # 1 rank to the weights of the uninterrupted run
    fresh s2
    slow_run s2
    if [ -z "$other" ] || [ -z "$r0" ]; then
        cat "$dir/s2.log"; bad mpi_stop_from_other_rank "no rank to signal (rank 0 pid '$r0')"
        kill $mp 2>/dev/null; wait $mp
    else
        kill -TERM "$other"
        wait $mp
        st=$(sqlite3 "$dir/s2.db" "SELECT status FROM runs WHERE run_id = 1")
        it=$(sqlite3 "$dir/s2.db" "SELECT max(step) + 1 FROM run_steps WHERE run_id = 1" 2>/dev/null)
        if [ "$st" = stopped ] && "$P" --store "$dir/s2.db" train --resume 1 --threads 1 \
               > "$dir/s3.log" 2>&1 && cmp_runs k1 1 s2 1 1e-4; then
            pass "mpi_stop_from_other_rank (stopped after iteration ${it:-?}, resumed on 1 rank)"
        else
            cat "$dir/s2.log" "$dir/s3.log"; bad mpi_stop_from_other_rank "status '$st'"
        fi
    fi

    # ---- diverged replicas -------------------------------------------------------------------
    fresh d1
    if PHENOSCOPE_TEST_DIVERGE=1 timeout 120 $MPIRUN -x PHENOSCOPE_TEST_DIVERGE -np 2 "$H" \
        --store "$dir/d1.db" train $EHR > "$dir/d1.log" 2>&1; then
        cat "$dir/d1.log"; bad mpi_checksum_mismatch_stops "the run succeeded"
    else
        st=$(sqlite3 "$dir/d1.db" "SELECT status FROM runs WHERE run_id = 1")
        if grep -q "ranks hold different parameters" "$dir/d1.log" && [ "$st" = failed ] &&
           ! grep -q "MPI_ABORT" "$dir/d1.log"; then
            pass mpi_checksum_mismatch_stops
        else
            cat "$dir/d1.log"; bad mpi_checksum_mismatch_stops "status '$st'"
        fi
    fi
else
    echo "SKIP mpi_kill_one_rank_ends_job: no MPI hooks binary ($H; make hooks)"
fi

# ---- the TUI's Training screen shows a run of two ranks live, from the store --------------------
if command -v tmux >/dev/null 2>&1 && [ -x "$H" ] && ldd "$H" 2>/dev/null | grep -q libmpi; then
    fresh tui
    sock="ps_e2e_mpi_$$"
    T() { tmux -L "$sock" -f /dev/null "$@" 2>/dev/null; }
    cap() { T capture-pane -p -t s; }
    wait_for() {
        i=0
        while [ "$i" -lt $(($2 * 5)) ]; do
            cap | grep -Eq -- "$1" && return 0
            sleep 0.2; i=$((i + 1))
        done
        return 1
    }
    shown_it() { cap | sed -n 's/.* it \([0-9]*\)\/.*/\1/p' | head -1; }
    case "$P" in /*) tp=$P ;; *) tp=$(pwd)/$P ;; esac
    T new-session -d -s s -x 80 -y 24 "XDG_STATE_HOME=$dir/state $tp --store $dir/tui.db"
    wait_for 'Loaded' 10
    T send-keys -t s 4; sleep 0.3
    PHENOSCOPE_TEST_ITER_MS=150 timeout 120 $MPIRUN -x PHENOSCOPE_TEST_ITER_MS -np 2 "$H" \
        --store "$dir/tui.db" train --method ehr --quick --epochs 3 --batch 4 --patience 0 \
        --threads 1 > "$dir/tui.log" 2>&1 &
    tp_bg=$!
    if wait_for '^. 1 .*ehr +running' 30; then
        T send-keys -t s g Enter; sleep 0.3
        if wait_for 'Run 1 .*running.*pid' 20; then
            a=$(shown_it); sleep 3; b=$(shown_it)
            if [ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] && wait_for 'Run 1 .*done' 90; then
                pass "mpi_tui_shows_2rank_run_live (it $a then $b, then done)"
            else
                cap; bad mpi_tui_shows_2rank_run_live "it '$a' then '$b'"
            fi
        else
            cap; bad mpi_tui_shows_2rank_run_live "not attached"
        fi
    else
        cap; bad mpi_tui_shows_2rank_run_live "run not listed"
    fi
    wait $tp_bg
    T kill-server
else
    echo "SKIP mpi_tui_shows_2rank_run_live: no tmux or no MPI hooks binary"
fi

# ---- across two network namespaces -------------------------------------------------------------
sh "$here/mpi_netns.sh" "$P" "$dir" || fail=1

exit $fail
