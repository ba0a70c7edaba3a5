#!/bin/sh
# e2e_train_kill.sh — training survives SIGKILL and a full disk. The hooks build
# (build/phenoscope-hooks) trains a small run on a tiny demo store and is killed at every kill
# point the run passes (trainer and store points, first / middle / last hit of each), and at a
# few random moments; afterwards the store passes PRAGMA integrity_check, `train --resume 1`
# (the release binary) finishes the run, and its checkpoints, per-step losses and epoch rows are
# bit for bit those of a run that never stopped (OpenBLAS pinned to one thread). Then a full
# disk / an I/O error at every write index of one checkpoint's transaction: one line, exit 1,
# the store exactly as before that checkpoint, and the run resumable to the same result.
# To keep `make test` short, the unified run is killed at the first and last hit of each point,
# I/O errors on write at every fourth index, and the resume after a full disk is checked at
# every eighth; PS_TEST_LONG=1 does every hit and every index.
# Prints PASS/FAIL/SKIP lines.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
need_hooks train_kill
need sqlite3 train_kill "the sqlite3 shell is not installed"
unset PHENOSCOPE_KILLPOINT PHENOSCOPE_FAULT PHENOSCOPE_KILLPOINT_LOG PHENOSCOPE_FLUSH_EVERY
export OPENBLAS_NUM_THREADS=1

# What run 1 left in a store, as one digest: checkpoint bytes, every loss to 17 digits, the epoch
# rows without their wall-clock seconds, and the run's status.
q_ckpt="SELECT kind, epoch, hex(sha3(weights)) FROM checkpoints WHERE run_id = 1 ORDER BY kind;"
q_rest="SELECT step, iif(loss_cxr IS NULL, '-', printf('%.17g', loss_cxr)),
               iif(loss_ehr IS NULL, '-', printf('%.17g', loss_ehr)),
               iif(loss_joint IS NULL, '-', printf('%.17g', loss_joint))
          FROM run_steps WHERE run_id = 1 ORDER BY step;
        SELECT epoch, json_remove(metrics, '\$.seconds') FROM run_epochs WHERE run_id = 1 ORDER BY epoch;"
digest() { sqlite3 "$1" "$q_ckpt $q_rest SELECT status FROM runs WHERE run_id = 1;" 2>&1 | md5sum | cut -c1-32; }
# the same without the status (a fail commit cannot record "failed" on a full disk)
record() { sqlite3 "$1" "$q_ckpt $q_rest" 2>&1 | md5sum | cut -c1-32; }
ckpt_epoch() { sqlite3 "$1" "SELECT group_concat(kind || epoch) FROM checkpoints WHERE run_id = 1"; }
# Finishes run 1 the way a user would after a crash: --resume when the run exists and is not
# done; a fresh start when the kill came before the run was recorded.
finish() { # finish STORE ARGS...
    s=$1; shift
    st=$(sqlite3 "$s" "SELECT status FROM runs WHERE run_id = 1" 2>/dev/null)
    case "$st" in
        done) return 0 ;;
        "") "$bin" --store "$s" train "$@" --threads 1 > /dev/null 2> "$tmp/resume.err" ;;
        *) "$bin" --store "$s" train --resume 1 --threads 1 > /dev/null 2> "$tmp/resume.err" ;;
    esac
}

"$bin" --store "$tmp/base.db" demo --stays 60 --seed 1 > /dev/null 2>&1 || fail setup "demo"

for method in ehr unified; do
    case $method in
        ehr) args="--method ehr --quick --epochs 3 --batch 4 --hidden 8" ;;
        unified) args="--method unified --quick --epochs 2 --batch 4 --img-size 32" ;;
    esac
    cp "$tmp/base.db" "$tmp/ref.db"
    # shellcheck disable=SC2086
    "$bin" --store "$tmp/ref.db" train $args --threads 1 > /dev/null 2>&1 || fail "$method setup" "train"
    ref=$(digest "$tmp/ref.db")
    # the points this run passes, and how often (losses written every 4 iterations, so the point
    # after that write is reached)
    rm -f "$tmp"/s.db* "$tmp/log"
    cp "$tmp/base.db" "$tmp/s.db"
    # shellcheck disable=SC2086
    PHENOSCOPE_FLUSH_EVERY=4 PHENOSCOPE_KILLPOINT_LOG="$tmp/log" "$hooks" --store "$tmp/s.db" \
        train $args --threads 1 > /dev/null 2>&1 || fail "$method setup" "hooks train"
    [ "$(digest "$tmp/s.db")" = "$ref" ] || fail "$method setup" "the hooks build trains differently"
    points=$(sort "$tmp/log" | uniq -c | awk '{print $2 ":" $1}')
    for p in train.after_step train.steps_flushed train.epoch_end checkpoint.before_begin \
        checkpoint.mid_write checkpoint.before_commit checkpoint.after_commit train.before_done; do
        grep -q "^$p\$" "$tmp/log" || fail "$method kill points" "$p never reached"
    done

    # ---- SIGKILL at each kill point: first, middle and last hit ----------------------------
    kills=0
    bad=""
    for pc in $points; do
        p=${pc%:*}
        c=${pc#*:}
        mid=$(((c + 1) / 2))
        [ "$method" = unified ] && [ -z "${PS_TEST_LONG:-}" ] && mid=1
        for n in $(printf '%s\n' 1 "$mid" "$c" | sort -un); do
            rm -f "$tmp"/s.db*
            cp "$tmp/base.db" "$tmp/s.db"
            # shellcheck disable=SC2086
            PHENOSCOPE_FLUSH_EVERY=4 PHENOSCOPE_KILLPOINT=$p:$n "$hooks" --store "$tmp/s.db" \
                train $args --threads 1 > /dev/null 2>&1
            rc=$?
            [ $rc -eq 137 ] && kills=$((kills + 1)) || bad="$bad $p:$n(rc=$rc)"
            integrity "$tmp/s.db" || bad="$bad $p:$n(integrity)"
            # shellcheck disable=SC2086
            finish "$tmp/s.db" $args || bad="$bad $p:$n(resume: $(head -1 "$tmp/resume.err"))"
            [ "$(digest "$tmp/s.db")" = "$ref" ] || bad="$bad $p:$n(resumed run differs)"
        done
    done
    npoints=$(echo "$points" | wc -w)
    if [ -z "$bad" ] && [ "$kills" -gt 0 ]; then
        pass "$method: SIGKILL at $npoints kill points ($kills kills): integrity ok, resumed run bit-identical"
    else
        fail "$method: SIGKILL at every kill point" "kills=$kills:$bad"
    fi

    # ---- SIGKILL at random moments ---------------------------------------------------------
    # The uninterrupted run's wall time (release binary, losses every couple of seconds as users
    # get them) bounds the moments; each seed is printed so a failure can be repeated.
    cp "$tmp/base.db" "$tmp/t.db"
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    "$bin" --store "$tmp/t.db" train $args --threads 1 > /dev/null 2>&1
    ms=$((($(date +%s%N) - t0) / 1000000))
    bad=""
    seeds=""
    for i in 1 2 3 4; do
        seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        seeds="$seeds $seed"
        delay=$(awk -v s="$seed" -v ms="$ms" 'BEGIN { srand(s); printf "%.3f", rand() * ms / 1000 }')
        rm -f "$tmp"/s.db*
        cp "$tmp/base.db" "$tmp/s.db"
        # shellcheck disable=SC2086
        kill_after "$delay" "$bin" --store "$tmp/s.db" train $args --threads 1
        integrity "$tmp/s.db" || bad="$bad seed $seed(integrity)"
        # shellcheck disable=SC2086
        finish "$tmp/s.db" $args || bad="$bad seed $seed(resume: $(head -1 "$tmp/resume.err"))"
        [ "$(digest "$tmp/s.db")" = "$ref" ] || bad="$bad seed $seed at ${delay}s(resumed run differs)"
    done
    if [ -z "$bad" ]; then
        pass "$method: SIGKILL at 4 random moments within ${ms} ms (seeds$seeds): resumed run bit-identical"
    else
        fail "$method: SIGKILL at random moments" "$bad"
    fi
done

# ---- a full disk and I/O errors inside one checkpoint's transaction --------------------------
# The second checkpoint (end of epoch 2) of the ehr run. The state before it: the run killed at
# the moment that checkpoint begins. Each write index K from 0 fails (and every later write,
# as a full disk stays full) until K is past the transaction's last write, which the kill point
# after its COMMIT then shows (exit 137).
args="--method ehr --quick --epochs 3 --batch 4 --hidden 8"
cp "$tmp/base.db" "$tmp/ref.db"
# shellcheck disable=SC2086
"$bin" --store "$tmp/ref.db" train $args --threads 1 > /dev/null 2>&1
ref=$(digest "$tmp/ref.db")
cp "$tmp/base.db" "$tmp/before.db"
# shellcheck disable=SC2086
PHENOSCOPE_KILLPOINT=checkpoint.before_begin:2 "$hooks" --store "$tmp/before.db" train $args \
    --threads 1 > /dev/null 2>&1
before=$(record "$tmp/before.db")
[ "$(ckpt_epoch "$tmp/before.db")" = "best1,last1" ] ||
    fail "full disk setup" "checkpoints before: $(ckpt_epoch "$tmp/before.db")"
for what in write:full write:ioerr sync:ioerr; do
    kind=${what%:*}
    code=${what#*:}
    k=0
    bad=""
    step=1
    [ "$what" = write:ioerr ] && [ -z "${PS_TEST_LONG:-}" ] && step=4
    tried=0
    while [ $k -lt 500 ]; do
        tried=$((tried + 1))
        rm -f "$tmp"/s.db*
        cp "$tmp/base.db" "$tmp/s.db"
        # shellcheck disable=SC2086
        PHENOSCOPE_FAULT=$kind:$k:$code@checkpoint.before_begin:2 \
            PHENOSCOPE_KILLPOINT=checkpoint.after_commit:2 \
            "$hooks" --store "$tmp/s.db" train $args --threads 1 > /dev/null 2> "$tmp/err"
        rc=$?
        [ $rc -eq 137 ] && break # K is past the transaction: it committed
        lines=$(wc -l < "$tmp/err")
        [ $rc -eq 1 ] || bad="$bad $k(rc=$rc)"
        [ "$lines" -eq 1 ] || bad="$bad $k($lines lines on stderr)"
        case $code in
            full) grep -q 'disk is full' "$tmp/err" || bad="$bad $k($(head -1 "$tmp/err"))" ;;
            *) grep -q 'I/O error' "$tmp/err" || bad="$bad $k($(head -1 "$tmp/err"))" ;;
        esac
        integrity "$tmp/s.db" || bad="$bad $k(integrity)"
        now=$(record "$tmp/s.db")
        if [ "$now" != "$before" ]; then
            # A fail fsync after the WAL frames were written: SQLite reports the error, yet
            # the frames are on disk and the next open recovers the transaction whole. Allowed
            # for sync faults only, and only as the complete new checkpoint.
            if [ "$kind" = sync ] && [ "$(ckpt_epoch "$tmp/s.db")" = "best2,last2" ]; then
                :
            else
                bad="$bad $k(not the store before: $(ckpt_epoch "$tmp/s.db"))"
            fi
        fi
        if [ $((k % 8)) -eq 0 ] || [ -n "${PS_TEST_LONG:-}" ] || [ "$kind" = sync ]; then
            # shellcheck disable=SC2086
            finish "$tmp/s.db" $args || bad="$bad $k(resume: $(head -1 "$tmp/resume.err"))"
            [ "$(digest "$tmp/s.db")" = "$ref" ] || bad="$bad $k(resumed run differs)"
        fi
        k=$((k + step))
    done
    if [ -z "$bad" ] && [ $k -gt 0 ] && [ $k -lt 500 ]; then
        pass "$kind $code at $((tried - 1)) $kind indexes (0..$((k - step)), every $step) of one checkpoint: one line, exit 1, store as before, resume bit-identical"
    else
        fail "$kind $code in a checkpoint" "k=$k:$bad"
    fi
done
lib_finish
