#!/bin/sh
# e2e_train.sh — train / eval / predict / table2 from the command line on a small demo store:
# a unified run recorded in the store, its evaluation and one stay's prediction as JSON, a run
# killed with SIGKILL resumed with --resume, and bad input (unknown run, unknown stay, a store
# without pairs, a damaged checkpoint) refused with one clear line and a non-zero exit.
set -u
bin=${PHENOSCOPE_BIN:-./phenoscope}
d=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$d"' EXIT
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
# tiny models: the point is the plumbing, not the AUROC
tiny="--quick --img-size 32 --width 4 --hidden 16 --batch 8 --threads 1"

if ! "$bin" --store "$d/s.db" demo --stays 200 --seed 3 > "$d/out" 2>&1; then
    bad "demo store for training"; cat "$d/out"; exit 1
fi
q() { sqlite3 "$d/s.db" "$1"; }

# a unified run, --json lines; the last line is the result
if "$bin" --store "$d/s.db" train --method unified --epochs 1 --max-iters 4 $tiny --json \
        > "$d/train.json" 2> "$d/err" &&
   tail -n 1 "$d/train.json" | grep -q '"event":"result".*"status":"done"'; then
    ok "train unified --json"
else bad "train unified --json"; cat "$d/err" "$d/train.json"; fi
run=$(tail -n 1 "$d/train.json" | sed -n 's/.*"run":\([0-9]*\).*/\1/p')
if [ -n "$run" ] && [ "$(q "SELECT count(*) FROM checkpoints WHERE run_id = $run")" = 2 ] &&
   [ "$(q "SELECT count(*) FROM run_epochs WHERE run_id = $run")" = 1 ] &&
   [ "$(q "SELECT count(*) FROM run_steps WHERE run_id = $run")" = 4 ] &&
   q "SELECT config FROM runs WHERE run_id = $run" | grep -q '"pairs":\[' &&
   q "SELECT metrics FROM run_epochs WHERE run_id = $run" | grep -q '"per_phenotype":\['; then
    ok "run recorded: config with data counts, steps, epoch metrics, best and last checkpoints"
else bad "run recorded"; fi

# piped: plain lines, no carriage returns
"$bin" --store "$d/s.db" train --method ehr --epochs 2 --max-iters 2 $tiny > "$d/plain" 2>&1
if grep -q "^run [0-9]* done" "$d/plain" && ! grep -q "$(printf '\r')" "$d/plain"; then
    ok "train piped prints plain lines"
else bad "train piped prints plain lines"; cat "$d/plain"; fi

# eval --json
if "$bin" --store "$d/s.db" eval "$run" --json --bootstrap 50 > "$d/eval.json" 2> "$d/err" &&
   grep -q '"paired":{"n":[0-9]*,"auroc":' "$d/eval.json" && grep -q '"all":{' "$d/eval.json" &&
   [ "$(grep -o '"paired_auroc":' "$d/eval.json" | wc -l)" -eq 25 ]; then
    ok "eval --json"
else bad "eval --json"; cat "$d/err" "$d/eval.json"; fi

# predict --json, a paired stay (unified used) and the same stay with --no-cxr (EHR head used)
stay=$(q "SELECT p.stay_id FROM pairs p JOIN stays s USING (stay_id) WHERE s.split = 2 LIMIT 1")
if "$bin" --store "$d/s.db" predict --stay "$stay" --run "$run" --json > "$d/p.json" 2> "$d/err" &&
   grep -q '"rule":"unified"' "$d/p.json" &&
   [ "$(grep -o '"truth":[01]' "$d/p.json" | wc -l)" -eq 25 ] &&
   "$bin" --store "$d/s.db" predict --stay "$stay" --run "$run" --no-cxr --json > "$d/p2.json" &&
   grep -q '"rule":"ehr"' "$d/p2.json" && grep -q '"unified":null' "$d/p2.json"; then
    ok "predict --json with and without the radiograph"
else bad "predict --json"; cat "$d/err" "$d/p.json"; fi

# SIGKILL during training, then --resume: finishes with every epoch recorded once
"$bin" --store "$d/s.db" train --method late --epochs 3 $tiny > "$d/k.out" 2>&1 &
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
   "$bin" --store "$d/s.db" train --resume "$krun" > "$d/r.out" 2>&1 &&
   [ "$(q "SELECT status FROM runs WHERE run_id = $krun")" = done ] &&
   [ "$(q "SELECT count(*) FROM run_epochs WHERE run_id = $krun")" = 3 ] &&
   [ "$(q "SELECT count(*) = max(step) AND min(step) = 1 FROM run_steps WHERE run_id = $krun")" = 1 ]; then
    ok "SIGKILL then train --resume completes the run"
else bad "SIGKILL then train --resume (status was '$st')"; cat "$d/k.out" "$d/r.out"; fi

# bad input: one line, non-zero exit
one_line_fail() { # name, expected text, command...
    name=$1 want=$2; shift 2
    if "$@" > /dev/null 2> "$d/err"; then bad "$name: exit status"
    elif [ "$(wc -l < "$d/err")" -ne 1 ] || ! grep -q -- "$want" "$d/err"; then
        bad "$name: message"; cat "$d/err"
    else ok "$name"; fi
}
one_line_fail "eval unknown run" "no run 9999" "$bin" --store "$d/s.db" eval 9999
one_line_fail "resume unknown run" "no run 9999" "$bin" --store "$d/s.db" train --resume 9999
one_line_fail "predict unknown stay" "no stay 12345" "$bin" --store "$d/s.db" predict --stay 12345 --run "$run"
one_line_fail "unknown method" "unknown method" "$bin" --store "$d/s.db" train --method nope
one_line_fail "resume a finished run" "already finished" "$bin" --store "$d/s.db" train --resume "$run"

# a store without pairs: says which methods can still run
cp "$d/s.db" "$d/np.db"
sqlite3 "$d/np.db" "DELETE FROM pairs"
one_line_fail "no pairs: train unified" "--method ehr" "$bin" --store "$d/np.db" train --method unified $tiny
one_line_fail "no pairs: table2" "--method ehr" "$bin" --store "$d/np.db" table2 --quick

# a damaged checkpoint: refused, nothing else lost
before=$(q "SELECT count(*) FROM run_steps")
q "UPDATE checkpoints SET weights = substr(weights, 1, 200) WHERE run_id = $run"
one_line_fail "damaged checkpoint" "checkpoint of run $run" "$bin" --store "$d/s.db" eval "$run"
if [ "$(q "SELECT count(*) FROM run_steps")" = "$before" ] &&
   [ "$(q "SELECT status FROM runs WHERE run_id = $run")" = done ]; then
    ok "damaged checkpoint: the record is intact"
else bad "damaged checkpoint: the record is intact"; fi

# table2 --json layout (long: the real 30-minute run is `make test-long` / bench)
if [ "${PS_TEST_LONG:-0}" = 1 ]; then
    if "$bin" --store "$d/s.db" table2 --quick --seeds 2 --json > "$d/t2.json" 2> "$d/err" &&
       for m in ehr joint1 joint2 unified late; do grep -q "\"method\":\"$m\",\"all\":" "$d/t2.json" || exit 1; done &&
       grep -q '"all_sd":' "$d/t2.json"; then
        ok "table2 --quick --json"
    else bad "table2 --quick --json"; cat "$d/err" "$d/t2.json"; fi
else
    echo "SKIP table2 --quick --json: PS_TEST_LONG=1 runs it"
fi

# The README's targets on the default demo store: table2 within 30 minutes, --quick within 5,
# and Unified above EHR-only on the paired test set by more than the spread over 3 seeds.
if [ "${PS_TEST_LONG:-0}" = 1 ]; then
    "$bin" --store "$d/demo.db" demo > /dev/null 2>&1 || { bad "default demo store"; exit 1; }
    t0=$(date +%s)
    "$bin" --store "$d/demo.db" table2 --quick --json > "$d/q.json" 2> "$d/err"
    t1=$(date +%s)
    if [ $((t1 - t0)) -le 300 ]; then ok "table2 --quick in $((t1 - t0)) s (<= 300)"
    else bad "table2 --quick took $((t1 - t0)) s (> 300)"; fi
    "$bin" --store "$d/demo.db" table2 --json > "$d/full.json" 2> "$d/err"
    t2=$(date +%s)
    if [ $((t2 - t1)) -le 1800 ]; then ok "table2 in $((t2 - t1)) s (<= 1800)"
    else bad "table2 took $((t2 - t1)) s (> 1800)"; fi
    if /usr/bin/python3 - "$d/full.json" <<'PY'
import json, sys
rows = {r["method"]: r for r in json.load(open(sys.argv[1]))["rows"]}
u, e = rows["unified"], rows["ehr"]
margin = u["all"] - e["all"]
print("unified %.3f±%.3f ehr %.3f±%.3f margin %.3f" % (u["all"], u["all_sd"], e["all"], e["all_sd"], margin))
sys.exit(0 if margin > max(u["all_sd"], e["all_sd"]) else 1)
PY
    then ok "unified beats ehr on the paired test set by more than the seed spread"
    else bad "unified beats ehr on the paired test set by more than the seed spread"; fi
fi
