#!/bin/sh
# e2e_demo_stale.sh — a `phenoscope demo` killed with SIGKILL mid-generation leaves the old store
# untouched and its temporary file (<store>.demo-tmp-<pid>) behind; the next demo run removes
# that file (its process is gone) and writes a valid store.
set -u
bin=${PHENOSCOPE_BIN:-./phenoscope}
d=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$d"' EXIT
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+: $2}"; }
stays() { sqlite3 "$d/s.db" "SELECT count(*) FROM stays" 2>&1; }
# PRAGMA integrity_check; SQLite 3.40 wrongly reports NULLs in diagnoses.subject_id (see
# e2e_killpoints.sh): such lines count only if a NULL is there.
intact() {
    ic_r=$(sqlite3 "$d/s.db" "PRAGMA integrity_check" 2>&1 | grep -v '^NULL value in diagnoses.subject_id$')
    ic_n=$(sqlite3 "$d/s.db" "SELECT count(*) FROM diagnoses WHERE subject_id IS NULL" 2>&1)
    [ "$ic_r" = ok ] || { [ -z "$ic_r" ] && [ "$ic_n" = 0 ]; }
}
leftovers() { ls "$d" | grep -c 'demo-tmp' || true; }

if ! command -v sqlite3 > /dev/null 2>&1; then
    echo "SKIP demo_killed_leaves_no_temp_file: the sqlite3 command is not installed"
    exit 0
fi
if ! "$bin" --store "$d/s.db" demo --stays 10 --seed 2 > "$d/out" 2>&1; then
    bad demo_first_store "$(cat "$d/out")"
    exit 1
fi

# a large cohort, killed once its temporary file is being written
"$bin" --store "$d/s.db" demo --force --stays 20000 --threads 1 > "$d/big.out" 2>&1 &
pid=$!
n=0
while [ $n -lt 200 ] && [ "$(leftovers)" -eq 0 ]; do sleep 0.05; n=$((n + 1)); done
sleep 0.5
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
dead=$pid
pid=
if [ "$(leftovers)" -gt 0 ] && [ -e "$d/s.db.demo-tmp-$dead" ]; then ok demo_sigkill_leaves_its_temp_file
else bad demo_sigkill_leaves_its_temp_file "$(ls "$d") $(cat "$d/big.out")"; fi
if intact && [ "$(stays)" = 10 ]; then ok demo_sigkill_keeps_old_store
else bad demo_sigkill_keeps_old_store "$(stays)"; fi

# the next run cleans up and writes a valid store
if "$bin" --store "$d/s.db" demo --force --stays 20 --seed 4 > "$d/out" 2> "$d/err" &&
    [ "$(leftovers)" -eq 0 ] && intact && [ "$(stays)" = 20 ] && [ ! -s "$d/err" ]; then
    ok demo_next_run_removes_stale_temp
else bad demo_next_run_removes_stale_temp "$(ls "$d") $(cat "$d/err") stays=$(stays)"; fi
if "$bin" --store "$d/s.db" info > /dev/null 2>&1; then ok demo_store_after_cleanup_opens
else bad demo_store_after_cleanup_opens; fi
