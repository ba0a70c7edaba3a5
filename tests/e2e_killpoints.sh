#!/bin/sh
# End-to-end: the real program killed (SIGKILL) at every store kill point and failing with a
# full disk or an I/O error, using the hooks build (build/phenoscope-hooks: kill points and
# the fault VFS compiled in). `phenoscope demo --force` replacing an existing store must leave
# either the old store, intact, or the new one, complete — never a mixture, never a damaged
# file — and a run after the kill must give exactly what an uninterrupted run gives.
# Prints PASS/FAIL/SKIP lines.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
need_hooks killpoints
need sqlite3 killpoints "the sqlite3 shell is not installed"
unset PHENOSCOPE_KILLPOINT PHENOSCOPE_FAULT

# What a user can read from a store, as one digest (sources carry a wall-clock time: left out).
digest() {
    for k in labels pairs radiographs; do "$bin" --store "$1" export $k || echo "export $k failed"; done |
        md5sum | cut -d' ' -f1
}
stays=12 # a demo this small takes about a second; the store still gets several commits
"$bin" --store "$tmp/ref.db" demo --stays $stays --seed 1 > /dev/null 2>&1 || fail setup "demo"
"$bin" --store "$tmp/old.db" demo --stays 9 --seed 2 > /dev/null 2>&1 || fail setup "demo"
ref=$(digest "$tmp/ref.db")
old=$(digest "$tmp/old.db")
[ "$ref" != "$old" ] || fail setup "the two demo stores do not differ"

# ---- SIGKILL at each kill point, on each hit ----------------------------------------------
# Count the commits of one run first: kill points after the last are never reached.
commits=$(killpoint_hits store.commit.after 50 "$tmp/count.db" demo --stays $stays --seed 1)
kills=0
bad=""
for point in store.begin.after store.commit.before store.commit.after; do
    n=1
    while [ $n -le $commits ]; do
        rm -f "$tmp"/s.db*
        cp "$tmp/old.db" "$tmp/s.db"
        PHENOSCOPE_KILLPOINT=$point:$n "$hooks" --store "$tmp/s.db" demo --force --stays $stays \
            --seed 1 > /dev/null 2>&1
        rc=$?
        [ $rc -eq 137 ] && kills=$((kills + 1)) || bad="$bad $point:$n(rc=$rc)"
        # the store is the old one, untouched; the half-built temporary file is sound
        integrity "$tmp/s.db" || bad="$bad $point:$n(integrity)"
        [ "$(digest "$tmp/s.db")" = "$old" ] || bad="$bad $point:$n(not the old store)"
        for f in "$tmp"/s.db.demo-tmp-*; do
            case "$f" in *-wal | *-shm | *'*'*) continue ;; esac
            integrity "$f" || bad="$bad $point:$n(temporary file damaged)"
        done
        # run again (after the first and the last kill of each point, to keep this short):
        # exactly the uninterrupted result
        if [ $n -eq 1 ] || [ $n -eq $commits ]; then
            "$bin" --store "$tmp/s.db" demo --force --stays $stays --seed 1 > /dev/null 2>&1 ||
                bad="$bad $point:$n(rerun failed)"
            [ "$(digest "$tmp/s.db")" = "$ref" ] || bad="$bad $point:$n(rerun differs)"
        fi
        n=$((n + 1))
    done
done
if [ -z "$bad" ] && [ $kills -eq $((3 * commits)) ] && [ $commits -ge 2 ]; then
    pass "SIGKILL at 3 kill points x $commits commits: old store intact, rerun identical"
else
    fail "SIGKILL at every kill point" "commits=$commits kills=$kills:$bad"
fi

# ---- a full disk and I/O errors ------------------------------------------------------------
bad=""
runs=0
for fault in write:0:full write:3:full write:40:full write:400:full write:10:ioerr sync:0:ioerr sync:2:ioerr; do
    rm -f "$tmp"/s.db*
    cp "$tmp/old.db" "$tmp/s.db"
    PHENOSCOPE_FAULT=$fault "$hooks" --store "$tmp/s.db" demo --force --stays $stays --seed 1 \
        > /dev/null 2> "$tmp/err"
    rc=$?
    runs=$((runs + 1))
    lines=$(wc -l < "$tmp/err")
    [ $rc -eq 1 ] || bad="$bad $fault(rc=$rc)"
    [ "$lines" -eq 1 ] || bad="$bad $fault($lines lines on stderr)"
    case $fault in
        *full) grep -q 'disk is full' "$tmp/err" || bad="$bad $fault($(cat "$tmp/err"))" ;;
        *) grep -q 'I/O error\|disk I/O' "$tmp/err" || bad="$bad $fault($(cat "$tmp/err"))" ;;
    esac
    integrity "$tmp/s.db" || bad="$bad $fault(integrity)"
    [ "$(digest "$tmp/s.db")" = "$old" ] || bad="$bad $fault(not the old store)"
    ls "$tmp"/s.db.demo-tmp-* > /dev/null 2>&1 && bad="$bad $fault(temporary file left)"
done
if [ -z "$bad" ]; then
    pass "full disk / I/O error in $runs places: one line, exit 1, old store intact, nothing left"
else
    fail "full disk and I/O errors" "$bad"
fi

# ---- the release binary has no hooks -------------------------------------------------------
rm -f "$tmp"/r.db*
PHENOSCOPE_KILLPOINT=store.commit.before:1 PHENOSCOPE_FAULT=write:0:full \
    "$bin" --store "$tmp/r.db" demo --stays 5 > /dev/null 2>&1
rc=$?
if [ $rc -eq 0 ] && ! nm "$bin" 2>/dev/null | grep -q testhooks_; then
    pass "the release binary ignores PHENOSCOPE_KILLPOINT and PHENOSCOPE_FAULT"
else
    fail "the release binary ignores the hooks' variables" "rc=$rc"
fi
lib_finish
