#!/bin/sh
# End-to-end: `phenoscope import` as a user runs it — exit codes, the lines on stdout/stderr,
# and an import killed with SIGKILL (kill -9 of the real process) then run again, which must end
# with exactly the rows of an uninterrupted import. Prints PASS/FAIL/SKIP lines.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
fix=tests/fixtures
res=$fix/mimic_resources

# 1. the v2 fixture: summary on stdout, bad rows file:line on stderr, exit 0
"$bin" --store "$tmp/a.db" import mimic-iv $fix/mimic_iv_v2 --resources $res >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^  5  with an event during the stay *3$' "$tmp/out" &&
   grep -q '^bad rows: 9$' "$tmp/out" &&
   grep -qx 'phenoscope: bad row: icu/chartevents.csv:34: expected 11 columns, got 10' "$tmp/err"
then pass "import mimic-iv prints the funnel and the bad rows"
else fail "import mimic-iv prints the funnel and the bad rows" "rc=$rc $(head -c 300 "$tmp/err")"; fi

# 2. clear failures: one line, non-zero exit
"$bin" --store "$tmp/b.db" import mimic-iv "$tmp/nowhere" --resources $res >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] &&
   grep -qx "phenoscope: $tmp/nowhere: No such file or directory" "$tmp/err"
then pass "a wrong directory is one line and exit 1"
else fail "a wrong directory is one line and exit 1" "rc=$rc $(cat "$tmp/err")"; fi

"$bin" --store "$tmp/b.db" import mimic-iv $fix/mimic_iv_v2 >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && grep -q 'needs the benchmark.s resource files' "$tmp/err"
then pass "missing resource files are named, exit 2"
else fail "missing resource files are named, exit 2" "rc=$rc $(cat "$tmp/err")"; fi

mkdir "$tmp/gz" && cp -r $fix/mimic_iv_v2/* "$tmp/gz/" &&
    gzip "$tmp/gz/icu/chartevents.csv" && head -c 300 "$tmp/gz/icu/chartevents.csv.gz" > "$tmp/x" &&
    mv "$tmp/x" "$tmp/gz/icu/chartevents.csv.gz"
"$bin" --store "$tmp/c.db" import mimic-iv "$tmp/gz" --resources $res >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -qx 'phenoscope: icu/chartevents.csv.gz: truncated gzip' "$tmp/err"
then pass "a truncated gzip table stops the import with one clear line"
else fail "a truncated gzip table stops the import with one clear line" "rc=$rc $(cat "$tmp/err")"; fi

"$bin" --store "$tmp/d.db" import nonsense x >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && pass "an unknown source is a usage error" ||
    fail "an unknown source is a usage error" "$(cat "$tmp/err")"

# 3. SIGKILL and run again: a tree with 300k extra chartevents rows, small batches
mkdir "$tmp/big" && cp -r $fix/mimic_iv_v2/* "$tmp/big/"
awk 'BEGIN { for (i = 0; i < 300000; i++) {
        m = i % 2880; printf "10000001,20000001,30000001,1001,2180-01-0%d %02d:%02d:00,,220045,%d,,bpm,0\n",
        1 + int((m + 600) / 1440), int((m + 600) / 60) % 24, (m + 600) % 60, 60 + i % 50 } }' \
    >> "$tmp/big/icu/chartevents.csv"
dump() {
    sqlite3 "$1" "SELECT count(*), sum(stay_id), sum(hours), sum(channel), sum(value) FROM events;
                  SELECT * FROM stays ORDER BY stay_id; SELECT * FROM labels ORDER BY stay_id;
                  SELECT * FROM funnel ORDER BY step; SELECT * FROM diagnoses ORDER BY 1, 2, 3, 4;"
}
if command -v sqlite3 >/dev/null; then
    "$bin" --store "$tmp/clean.db" import mimic-iv "$tmp/big" --resources $res --batch 10000 -q \
        2>/dev/null || fail "sigkill resume" "the clean import failed"
    killed=0
    for delay in 0.1 0.3 0.6; do
        rm -f "$tmp/k.db" "$tmp/k.db-wal" "$tmp/k.db-shm"
        kill_after $delay "$bin" --store "$tmp/k.db" import mimic-iv "$tmp/big" --resources $res \
            --batch 10000 -q
        # interrupted for real: the store exists and its import is not finished
        fin=$(sqlite3 "$tmp/k.db" "SELECT done FROM import_progress WHERE item = 'finish'" 2>/dev/null)
        [ -f "$tmp/k.db" ] && [ "$fin" != "1" ] && killed=$((killed + 1))
        "$bin" --store "$tmp/k.db" import mimic-iv "$tmp/big" --resources $res --batch 10000 -q \
            2>/dev/null || fail "sigkill resume" "the resumed import failed (delay $delay)"
        if [ "$(dump "$tmp/k.db")" != "$(dump "$tmp/clean.db")" ]; then
            fail "sigkill resume" "rows differ from a clean import after kill -9 at ${delay}s"
        fi
    done
    if [ $killed -gt 0 ]; then pass "an import killed with SIGKILL resumes to the rows of a clean run ($killed kills landed mid-import)"
    else skip "sigkill resume" "every import finished before the kill (machine too fast)"; fi
else
    skip "sigkill resume" "sqlite3 is not installed"
fi

# 4. mimic-cxr without images, and benchmark output
"$bin" --store "$tmp/e.db" import mimic-cxr $fix/mimic_cxr >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^MIMIC-CXR: no files/ directory found: metadata and labels only$' "$tmp/out" &&
   grep -q '^radiographs: 9 (with image: 0)$' "$tmp/out"
then pass "import mimic-cxr works without images and says so"
else fail "import mimic-cxr works without images and says so" "rc=$rc $(cat "$tmp/out" "$tmp/err")"; fi

"$bin" --store "$tmp/f.db" import benchmark $fix/benchmark >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^stays per split: train 2, validation 0, test 1$' "$tmp/out" &&
   grep -q '^events: 21$' "$tmp/out"
then pass "import benchmark reads the pipeline's output"
else fail "import benchmark reads the pipeline's output" "rc=$rc $(cat "$tmp/out" "$tmp/err")"; fi
lib_finish
