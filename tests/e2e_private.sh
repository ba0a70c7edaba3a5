#!/bin/sh
# End-to-end: private data stays private. The store and its side files are 0600 in a 0700
# directory whatever the umask; core dumps are off unless PHENOSCOPE_CORE=1; a canary value
# planted in the data reaches standard output (where the user asked for it) but never standard
# error, a log file or a temporary file; the binary itself calls no network functions.
# Prints PASS/FAIL/SKIP lines.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
mode() { stat -c %a "$1"; }

# ---- file modes under umask 000 ----------------------------------------------------------
( umask 000 && "$bin" --store "$tmp/new/sub/s.db" demo --stays 12 > /dev/null 2> "$tmp/err" )
rc=$?
m_db=$(mode "$tmp/new/sub/s.db" 2>/dev/null)
m_dir=$(mode "$tmp/new/sub" 2>/dev/null)
m_top=$(mode "$tmp/new" 2>/dev/null)
# a reader opening it under umask 000 (WAL side files appear while it is open)
( umask 000 && "$bin" --store "$tmp/new/sub/s.db" info > /dev/null 2>> "$tmp/err" )
bad_side=""
for f in "$tmp/new/sub/s.db-wal" "$tmp/new/sub/s.db-shm"; do
    [ -e "$f" ] && [ "$(mode "$f")" != 600 ] && bad_side="$bad_side $f=$(mode "$f")"
done
if [ $rc -eq 0 ] && [ "$m_db" = 600 ] && [ "$m_dir" = 700 ] && [ "$m_top" = 700 ] &&
   [ -z "$bad_side" ]; then
    pass "store 0600 in 0700 directories under umask 000"
else
    fail "store 0600 in 0700 directories under umask 000" \
        "rc=$rc db=$m_db dir=$m_dir top=$m_top$bad_side $(head -c 200 "$tmp/err")"
fi

# ---- core dumps ------------------------------------------------------------------------------
# main() lowers RLIMIT_CORE before any verb runs; watch the call it makes (the verb itself,
# --version, returns at once, so nothing has to be kept waiting to read its limits).
core_call() { # $1 = value of PHENOSCOPE_CORE or ""; prints the RLIMIT_CORE calls made
    # an ASan build lowers the limit itself unless told not to
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0" \
        PHENOSCOPE_CORE=$1 strace -f -e trace=prlimit64,setrlimit "$bin" --version 2>&1 >/dev/null |
        grep RLIMIT_CORE
}
if ! command -v strace >/dev/null 2>&1; then
    echo "SKIP core dumps: strace is not installed"
else
    off=$(core_call "")
    on=$(core_call 1)
    if printf '%s\n' "$off" | grep -q 'RLIMIT_CORE, {rlim_cur=0, rlim_max=0}' && [ -z "$on" ]; then
        pass "core dumps off by default (RLIMIT_CORE set to 0), left alone with PHENOSCOPE_CORE=1"
    else
        fail "core dumps off by default" "default: '$off'; with PHENOSCOPE_CORE=1: '$on'"
    fi
fi

# ---- canary values ---------------------------------------------------------------------------
store="$tmp/canary.db"
"$bin" --store "$store" demo --stays 30 > /dev/null 2>&1 || fail canary_store "demo failed"
# Plant canaries in the places a patient's data lives: a care unit, charted text, a value, an
# ICD title, a radiograph path.
C1=CANARYunit7f3a C2=CANARYtext9b1c C3=7654321.5 C4=CANARYicd4e2d C5=CANARYpath0a9f
stay=$(sqlite3 "$store" "SELECT stay_id FROM stays ORDER BY stay_id LIMIT 1")
sqlite3 "$store" "UPDATE stays SET first_careunit = '$C1' WHERE stay_id = $stay;
    UPDATE events SET text = '$C2' WHERE rowid = (SELECT min(rowid) FROM events WHERE stay_id = $stay);
    UPDATE events SET value = $C3 WHERE rowid = (SELECT max(rowid) FROM events WHERE stay_id = $stay AND channel = 8);
    INSERT OR REPLACE INTO icd_titles VALUES ('4280', 9, '$C4');
    UPDATE radiographs SET path = '$C5' WHERE rowid = (SELECT min(rowid) FROM radiographs);" ||
    fail canary_store "sqlite3 could not plant the canaries"
mkdir -p "$tmp/state" "$tmp/tmpdir" "$tmp/cache"
export XDG_STATE_HOME="$tmp/state" TMPDIR="$tmp/tmpdir" XDG_CACHE_HOME="$tmp/cache"
out="$tmp/out"
errs="$tmp/errs"
: > "$out"
: > "$errs"
run() { "$bin" --store "$store" "$@" >> "$out" 2>> "$errs"; }
run info
run info --json
run export labels
run export stay "$stay"
run export radiographs
run export pairs
run export stay 999999999 # not found: an error on stderr
run export radiograph nope "$tmp/x.jpg"
run export bogus
run tui --keys "/${C1}<Enter>t?<Esc>q" --size 120x40 --dump "$tmp/screen.txt" < /dev/null
# a failing write: a read-only copy of the store cannot take a demo
cp "$store" "$tmp/ro.db" && chmod 0400 "$tmp/ro.db"
"$bin" --store "$tmp/ro.db" demo --force --stays 3 >> "$out" 2>> "$errs"
unset XDG_STATE_HOME TMPDIR XDG_CACHE_HOME
reached=0
grep -q "$C1" "$out" "$tmp/screen.txt" 2>/dev/null && reached=$((reached + 1))
grep -q "$C2\|$C3" "$out" && reached=$((reached + 1))
leaks=""
for c in $C1 $C2 $C3 $C4 $C5; do
    grep -q "$c" "$errs" && leaks="$leaks stderr:$c"
    grep -rlq "$c" "$tmp/state" "$tmp/tmpdir" "$tmp/cache" 2>/dev/null && leaks="$leaks file:$c"
done
if [ $reached -eq 2 ] && [ -z "$leaks" ] && [ -s "$errs" ]; then
    pass "canary values reach stdout and the screen only ($(wc -l < "$errs") stderr lines checked)"
else
    fail "canary values stay out of stderr, logs and temp files" \
        "reached=$reached leaks:${leaks:- none} stderr lines=$(wc -l < "$errs")"
fi

# ---- canary values through the importers ----------------------------------------------------
# Fixture rows whose bad fields (an unparsable number, time, integer or category, a wrong
# column count, a quoted field with a newline) and good fields (a kept value, a unit, a
# warning column) hold canaries: the bad-row messages name file, line and column, never the
# value; no canary reaches stdout, stderr, a log or a temporary file.
K1=CANARYbadnum3c8e K2=CANARYbadtime5d1f K3=CANARYbaditem6e2a K4=CANARYquoted7f3b
K5=CANARYunit8a4c K6=CANARYwarn9b5d K7=87.3141592 K8=CANARYsplit1c6e K9=CANARYchex2d7f
K10=CANARYdate3e8a K11=CANARYcat4f9b K12=CANARYcols5a1c
fix=tests/fixtures
imp="$tmp/imp"
mkdir -p "$imp" && cp -r $fix/mimic_iv_v2 "$imp/mimic" && cp -r $fix/mimic_cxr "$imp/cxr" &&
    cp -r $fix/benchmark "$imp/bench"
ce="$imp/mimic/icu/chartevents.csv"
cat >> "$ce" <<EOF
10000001,20000001,30000001,1001,2180-01-01 12:00:00,,220045,$K1,,bpm,0
10000001,20000001,30000001,1001,$K2,,220045,80,80,bpm,0
10000001,20000001,30000001,1001,2180-01-01 12:00:00,,$K3,80,80,bpm,0
10000001,20000001,30000001,1001,2180-01-01 12:10:00,,220045,"$K4
, more",,bpm,0
10000001,20000001,30000001,1001,2180-01-01 12:20:00,,220045,81,81,$K5,$K6
10000001,20000001,30000001,1001,2180-01-01 12:30:00,,220045,$K7,$K7,bpm,0
10000001,20000001,30000001,1001,2180-01-01 12:40:00,,220739,$K11,,,0
10000001,20000001,30000001,1001,2180-01-01 12:50:00,$K12,220045
EOF
echo "0a000001-aaaaaaaa-bbbbbbbb-cccccccc-00000001,50000001,10000001,$K8" >> "$imp/cxr/mimic-cxr-2.0.0-split.csv"
echo "10000001,50000099,$K9,,,,,,,,,,,,,1.0" >> "$imp/cxr/mimic-cxr-2.0.0-chexpert.csv"
echo "0a000099-aaaaaaaa-bbbbbbbb-cccccccc-00000099,10000001,50000099,CHEST,AP,400,300,$K10,121500.000,CHEST,antero-posterior,Erect" \
    >> "$imp/cxr/mimic-cxr-2.0.0-metadata.csv"
ts="$imp/bench/phenotyping/train/10000001_episode1_timeseries.csv"
echo "2.0,,,,$K11,,,,,$K1,,,,,,,," >> "$ts"
mkdir -p "$tmp/state2" "$tmp/tmpdir2" "$tmp/cache2"
iout="$tmp/iout"
ierr="$tmp/ierr"
irc=""
for src in "mimic-iv $imp/mimic --resources $fix/mimic_resources" "mimic-cxr $imp/cxr" \
           "benchmark $imp/bench"; do
    # shellcheck disable=SC2086
    XDG_STATE_HOME="$tmp/state2" TMPDIR="$tmp/tmpdir2" XDG_CACHE_HOME="$tmp/cache2" \
        "$bin" --store "$tmp/imp.db" import $src >> "$iout" 2>> "$ierr"
    irc="$irc $?"
    # shellcheck disable=SC2086
    XDG_STATE_HOME="$tmp/state2" TMPDIR="$tmp/tmpdir2" XDG_CACHE_HOME="$tmp/cache2" \
        "$bin" --store "$tmp/imp-$(echo $src | cut -d' ' -f1).db" import $src >> "$iout" 2>> "$ierr"
    irc="$irc $?"
done
leaks=""
for c in $K1 $K2 $K3 $K4 $K5 $K6 $K7 $K8 $K9 $K10 $K11 $K12; do
    grep -q "$c" "$iout" "$ierr" && leaks="$leaks output:$c"
    grep -rlq "$c" "$tmp/state2" "$tmp/tmpdir2" "$tmp/cache2" 2>/dev/null && leaks="$leaks file:$c"
done
# the planted bad rows were reported (by file, line and column), and the kept value was stored
named=$(grep -c 'chartevents.csv:[0-9]*: .*column \|split.csv:[0-9]*: column split\|chexpert.csv:[0-9]*: unparsable integer in column study_id\|metadata.csv:[0-9]*: .*column StudyDate\|timeseries.csv:[0-9]*: .* in column ' "$ierr")
kept=$(sqlite3 "$tmp/imp-mimic-iv.db" "SELECT count(*) FROM events WHERE abs(value - $K7) < 1e-3" 2>/dev/null)
if [ -z "$leaks" ] && [ "$named" -ge 9 ] && [ "$kept" = 1 ]; then
    pass "importers' bad-row messages and output carry no canary value ($named bad rows named by column)"
else
    fail "importers keep canary values out of stdout, stderr, logs and temp files" \
        "leaks:${leaks:- none} named=$named kept=$kept rc=$irc $(grep -m3 CANARY "$ierr")"
fi

# ---- no network ------------------------------------------------------------------------------
if command -v nm > /dev/null 2>&1; then
    net=$(nm -u "$bin" 2>/dev/null | grep -E ' (socket|connect|getaddrinfo|gethostbyname[0-9_r]*|sendto|sendmsg|bind|listen|accept4?|curl_[a-z_]+)(@.*)?$')
    if [ -z "$net" ] && [ -n "$(nm -u "$bin" 2>/dev/null | head -1)" ]; then
        pass "the binary calls no network functions"
    else
        fail "the binary calls no network functions" "$(echo $net)"
    fi
else
    echo "SKIP no network: nm is not installed"
fi

lib_finish
