#!/bin/sh
# End-to-end: each importer (mimic-iv, mimic-cxr, benchmark) killed with SIGKILL at each of its
# kill points (import.before_commit, import.after_commit: every batch of every importer passes
# both, store/import_util.c) on every hit, and at a few random moments, then run again. After
# each kill the store passes PRAGMA integrity_check; after the rerun it holds exactly the rows
# of an uninterrupted import (nothing lost, nothing twice). Uses the hooks build
# (build/phenoscope-hooks) for the named points. Prints PASS/FAIL/SKIP lines.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
fix=tests/fixtures
res=$fix/mimic_resources
need_hooks "import kill points"
need sqlite3 "import kill points" "the sqlite3 shell is not installed"
unset PHENOSCOPE_KILLPOINT PHENOSCOPE_FAULT

# Every table an import writes, as text (sources carry a wall-clock time: left out).
dump() {
    sqlite3 "$1" "SELECT count(*), sum(stay_id), sum(hours), sum(channel), sum(value) FROM events;
        SELECT * FROM stays ORDER BY stay_id; SELECT * FROM patients ORDER BY subject_id;
        SELECT * FROM labels ORDER BY stay_id; SELECT * FROM funnel ORDER BY source, step;
        SELECT * FROM diagnoses ORDER BY 1, 2, 3, 4; SELECT * FROM icd_titles ORDER BY 1, 2;
        SELECT dicom_id, subject_id, study_id, split FROM radiographs ORDER BY dicom_id;
        SELECT * FROM pairs ORDER BY 1, 2;
        SELECT source, item, records, bad, done FROM import_progress ORDER BY 1, 2;"
}

# The MIMIC-IV fixture with 20,000 more chartevents rows: with --batch 4000, six event batches.
mkdir "$tmp/big" && cp -r $fix/mimic_iv_v2/* "$tmp/big/"
awk 'BEGIN { for (i = 0; i < 20000; i++) {
        m = i % 2880; printf "10000001,20000001,30000001,1001,2180-01-0%d %02d:%02d:00,,220045,%d,,bpm,0\n",
        1 + int((m + 600) / 1440), int((m + 600) / 60) % 24, (m + 600) % 60, 60 + i % 50 } }' \
    >> "$tmp/big/icu/chartevents.csv"

# name | arguments of `import` (the store is added in front)
cases="mimic-iv|mimic-iv $tmp/big --resources $res --batch 4000
mimic-cxr|mimic-cxr $fix/mimic_cxr --batch 2
benchmark|benchmark $fix/benchmark --batch 1"

while IFS='|' read -r name args; do
    # shellcheck disable=SC2086
    "$bin" --store "$tmp/$name-clean.db" import $args -q > /dev/null 2>&1 ||
        { fail "$name kill points" "the clean import failed"; continue; }
    ref=$(dump "$tmp/$name-clean.db")
    # commits of one run: the last hit of import.after_commit that kills
    # shellcheck disable=SC2086
    commits=$(killpoint_hits import.after_commit 60 "$tmp/count.db" import $args -q)
    if [ $commits -lt 3 ]; then
        fail "$name kill points" "only $commits batches: the kill points are not reached"
        continue
    fi
    bad=""
    kills=0
    for point in import.before_commit import.after_commit; do
        n=1
        while [ $n -le $commits ]; do
            rm -f "$tmp"/k.db*
            # shellcheck disable=SC2086
            PHENOSCOPE_KILLPOINT=$point:$n "$hooks" --store "$tmp/k.db" import $args -q \
                > /dev/null 2>&1
            rc=$?
            [ $rc -eq 137 ] && kills=$((kills + 1)) || bad="$bad $point:$n(rc=$rc)"
            integrity "$tmp/k.db" || bad="$bad $point:$n(integrity)"
            # killed again at the same point of the resumed run, then run to the end
            # shellcheck disable=SC2086
            PHENOSCOPE_KILLPOINT=$point:1 "$hooks" --store "$tmp/k.db" import $args -q \
                > /dev/null 2>&1
            integrity "$tmp/k.db" || bad="$bad $point:$n(integrity after the second kill)"
            # shellcheck disable=SC2086
            "$bin" --store "$tmp/k.db" import $args -q > /dev/null 2>&1 ||
                bad="$bad $point:$n(rerun failed)"
            [ "$(dump "$tmp/k.db")" = "$ref" ] || bad="$bad $point:$n(rows differ)"
            n=$((n + 1))
        done
    done
    if [ -z "$bad" ]; then
        pass "$name killed at import.before_commit/after_commit, each of $commits batches ($kills kills), resumes to the clean rows"
    else
        fail "$name kill points" "$bad"
    fi
done <<EOF
$cases
EOF

# SIGKILL at random moments (kill -9 from outside), mimic-iv with small batches.
args="mimic-iv $tmp/big --resources $res --batch 1000"
# shellcheck disable=SC2086
t0=$(date +%s%N)
"$bin" --store "$tmp/r-clean.db" import $args -q > /dev/null 2>&1 || fail "random kills" "clean import"
# kill moments are drawn inside the clean import's own duration, so they land on a fast idle
# machine as well as on a loaded one
dur=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
ref=$(dump "$tmp/r-clean.db")
bad=""
landed=0
seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
for i in 1 2 3 4 5; do
    rm -f "$tmp"/r.db*
    delay=$(awk -v s="$seed" -v i="$i" -v d="$dur" 'BEGIN { srand(s + i); printf "%.3f", d * (0.05 + 0.85 * rand()) }')
    # shellcheck disable=SC2086
    kill_after "$delay" "$bin" --store "$tmp/r.db" import $args -q && landed=$((landed + 1))
    if [ -f "$tmp/r.db" ]; then integrity "$tmp/r.db" || bad="$bad $delay(integrity)"; fi
    # shellcheck disable=SC2086
    "$bin" --store "$tmp/r.db" import $args -q > /dev/null 2>&1 || bad="$bad $delay(rerun failed)"
    [ "$(dump "$tmp/r.db")" = "$ref" ] || bad="$bad $delay(rows differ)"
done
if [ -n "$bad" ]; then
    fail "random kills" "seed $seed:$bad"
elif [ $landed -eq 0 ]; then
    skip "random kills" "every import finished before its kill (seed $seed)"
else
    pass "mimic-iv killed at random moments ($landed of 5 landed, seed $seed) resumes to the clean rows"
fi
lib_finish
