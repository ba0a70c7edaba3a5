#!/bin/sh
# e2e_train.sh — train / eval / predict / table2 from the command line on a small demo store:
# a unified run recorded in the store, its evaluation and one stay's prediction as JSON, a run
# killed with SIGKILL resumed with --resume, and bad input (unknown run, unknown stay, a store
# without pairs, a damaged checkpoint) refused with one clear line and a non-zero exit.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
pid=
on_exit() { [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null; }
# tiny models: the point is the plumbing, not the AUROC
tiny="--quick --img-size 32 --width 4 --hidden 16 --batch 8 --threads 1"

if ! "$bin" --store "$tmp/s.db" demo --stays 200 --seed 3 > "$tmp/out" 2>&1; then
    fail "demo store for training"; cat "$tmp/out"; exit 1
fi
q() { sqlite3 "$tmp/s.db" "$1"; }

# a unified run, --json lines; the last line is the result
if "$bin" --store "$tmp/s.db" train --method unified --epochs 1 --max-iters 4 $tiny --json \
        > "$tmp/train.json" 2> "$tmp/err" &&
   tail -n 1 "$tmp/train.json" | grep -q '"event":"result".*"status":"done"'; then
    pass "train unified --json"
else fail "train unified --json"; cat "$tmp/err" "$tmp/train.json"; fi
run=$(tail -n 1 "$tmp/train.json" | sed -n 's/.*"run":\([0-9]*\).*/\1/p')
if [ -n "$run" ] && [ "$(q "SELECT count(*) FROM checkpoints WHERE run_id = $run")" = 2 ] &&
   [ "$(q "SELECT count(*) FROM run_epochs WHERE run_id = $run")" = 1 ] &&
   [ "$(q "SELECT count(*) FROM run_steps WHERE run_id = $run")" = 4 ] &&
   q "SELECT config FROM runs WHERE run_id = $run" | grep -q '"pairs":\[' &&
   q "SELECT metrics FROM run_epochs WHERE run_id = $run" | grep -q '"per_phenotype":\['; then
    pass "run recorded: config with data counts, steps, epoch metrics, best and last checkpoints"
else fail "run recorded"; fi

# piped: plain lines, no carriage returns
"$bin" --store "$tmp/s.db" train --method ehr --epochs 2 --max-iters 2 $tiny > "$tmp/plain" 2>&1
if grep -q "^run [0-9]* done" "$tmp/plain" && ! grep -q "$(printf '\r')" "$tmp/plain"; then
    pass "train piped prints plain lines"
else fail "train piped prints plain lines"; cat "$tmp/plain"; fi

# eval --json
if "$bin" --store "$tmp/s.db" eval "$run" --json --bootstrap 50 > "$tmp/eval.json" 2> "$tmp/err" &&
   grep -q '"paired":{"n":[0-9]*,"auroc":' "$tmp/eval.json" && grep -q '"all":{' "$tmp/eval.json" &&
   [ "$(grep -o '"paired_auroc":' "$tmp/eval.json" | wc -l)" -eq 25 ]; then
    pass "eval --json"
else fail "eval --json"; cat "$tmp/err" "$tmp/eval.json"; fi

# predict --json, a paired stay (unified used) and the same stay with --no-cxr (EHR head used)
stay=$(q "SELECT p.stay_id FROM pairs p JOIN stays s USING (stay_id) WHERE s.split = 2 LIMIT 1")
if "$bin" --store "$tmp/s.db" predict --stay "$stay" --run "$run" --json > "$tmp/p.json" 2> "$tmp/err" &&
   grep -q '"rule":"unified"' "$tmp/p.json" &&
   [ "$(grep -o '"truth":[01]' "$tmp/p.json" | wc -l)" -eq 25 ] &&
   "$bin" --store "$tmp/s.db" predict --stay "$stay" --run "$run" --no-cxr --json > "$tmp/p2.json" &&
   grep -q '"rule":"ehr"' "$tmp/p2.json" && grep -q '"unified":null' "$tmp/p2.json"; then
    pass "predict --json with and without the radiograph"
else fail "predict --json"; cat "$tmp/err" "$tmp/p.json"; fi

# SIGKILL during training, then --resume: finishes with every epoch recorded once
"$bin" --store "$tmp/s.db" train --method late --epochs 3 $tiny > "$tmp/k.out" 2>&1 &
pid=$!
krun=
for i in $(seq 1 600); do
    krun=$(q "SELECT max(run_id) FROM runs WHERE method = 'late'")
    if [ -n "$krun" ] && [ "$(q "SELECT count(*) FROM checkpoints WHERE run_id = $krun AND kind = 'last'")" = 1 ]; then
        break
    fi
    sleep 0.1
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=
st=$(q "SELECT status FROM runs WHERE run_id = $krun")
if [ "$st" = running ] &&
   "$bin" --store "$tmp/s.db" train --resume "$krun" > "$tmp/r.out" 2>&1 &&
   [ "$(q "SELECT status FROM runs WHERE run_id = $krun")" = done ] &&
   [ "$(q "SELECT count(*) FROM run_epochs WHERE run_id = $krun")" = 3 ] &&
   [ "$(q "SELECT count(*) = max(step) AND min(step) = 1 FROM run_steps WHERE run_id = $krun")" = 1 ]; then
    pass "SIGKILL then train --resume completes the run"
else fail "SIGKILL then train --resume (status was '$st')"; cat "$tmp/k.out" "$tmp/r.out"; fi

# bad input: one line, non-zero exit
one_line_fail() { # name, expected text, command...
    name=$1 want=$2; shift 2
    if "$@" > /dev/null 2> "$tmp/err"; then fail "$name: exit status"
    elif [ "$(wc -l < "$tmp/err")" -ne 1 ] || ! grep -q -- "$want" "$tmp/err"; then
        fail "$name: message"; cat "$tmp/err"
    else pass "$name"; fi
}
one_line_fail "eval unknown run" "no run 9999" "$bin" --store "$tmp/s.db" eval 9999
one_line_fail "resume unknown run" "no run 9999" "$bin" --store "$tmp/s.db" train --resume 9999
one_line_fail "predict unknown stay" "no stay 12345" "$bin" --store "$tmp/s.db" predict --stay 12345 --run "$run"
one_line_fail "unknown method" "unknown method" "$bin" --store "$tmp/s.db" train --method nope
one_line_fail "resume a finished run" "already finished" "$bin" --store "$tmp/s.db" train --resume "$run"

# a store without pairs: says which methods can still run
cp "$tmp/s.db" "$tmp/np.db"
sqlite3 "$tmp/np.db" "DELETE FROM pairs"
one_line_fail "no pairs: train unified" "--method ehr" "$bin" --store "$tmp/np.db" train --method unified $tiny
one_line_fail "no pairs: table2" "--method ehr" "$bin" --store "$tmp/np.db" table2 --quick

# a damaged checkpoint: refused, nothing else lost
before=$(q "SELECT count(*) FROM run_steps")
q "UPDATE checkpoints SET weights = substr(weights, 1, 200) WHERE run_id = $run"
one_line_fail "damaged checkpoint" "checkpoint of run $run" "$bin" --store "$tmp/s.db" eval "$run"
if [ "$(q "SELECT count(*) FROM run_steps")" = "$before" ] &&
   [ "$(q "SELECT status FROM runs WHERE run_id = $run")" = done ]; then
    pass "damaged checkpoint: the record is intact"
else fail "damaged checkpoint: the record is intact"; fi

# table2 --json layout (long: the real 30-minute run is `make test-long` / bench)
if [ "${PS_TEST_LONG:-0}" = 1 ]; then
    if "$bin" --store "$tmp/s.db" table2 --quick --seeds 2 --json > "$tmp/t2.json" 2> "$tmp/err" &&
       for m in ehr joint1 joint2 unified late; do grep -q "\"method\":\"$m\",\"all\":" "$tmp/t2.json" || exit 1; done &&
       grep -q '"all_sd":' "$tmp/t2.json"; then
        pass "table2 --quick --json"
    else fail "table2 --quick --json"; cat "$tmp/err" "$tmp/t2.json"; fi
else
    skip "table2 --quick --json" "PS_TEST_LONG=1 runs it"
fi

# The README's targets on the default demo store: table2 within 30 minutes, --quick within 5,
# and Unified above EHR-only on the paired test set by more than the spread over 3 seeds.
if [ "${PS_TEST_LONG:-0}" = 1 ]; then
    "$bin" --store "$tmp/demo.db" demo > /dev/null 2>&1 || { fail "default demo store"; exit 1; }
    t0=$(date +%s)
    "$bin" --store "$tmp/demo.db" table2 --quick --json > "$tmp/q.json" 2> "$tmp/err"
    t1=$(date +%s)
    if [ $((t1 - t0)) -le 300 ]; then pass "table2 --quick in $((t1 - t0)) s (<= 300)"
    else fail "table2 --quick took $((t1 - t0)) s (> 300)"; fi
    "$bin" --store "$tmp/demo.db" table2 --json > "$tmp/full.json" 2> "$tmp/err"
    t2=$(date +%s)
    if [ $((t2 - t1)) -le 1800 ]; then pass "table2 in $((t2 - t1)) s (<= 1800)"
    else fail "table2 took $((t2 - t1)) s (> 1800)"; fi
    if /usr/bin/python3 - "$tmp/full.json" <<'PY'
import json, sys
rows = {r["method"]: r for r in json.load(open(sys.argv[1]))["rows"]}
u, e = rows["unified"], rows["ehr"]
margin = u["all"] - e["all"]
print("unified %.3f±%.3f ehr %.3f±%.3f margin %.3f" % (u["all"], u["all_sd"], e["all"], e["all_sd"], margin))
sys.exit(0 if margin > max(u["all_sd"], e["all_sd"]) else 1)
PY
    then pass "unified beats ehr on the paired test set by more than the seed spread"
    else fail "unified beats ehr on the paired test set by more than the seed spread"; fi
fi
lib_finish
