#!/bin/sh
# e2e_demo_stale.sh — a `phenoscope demo` killed with SIGKILL mid-generation leaves the old store
# untouched and its temporary file (<store>.demo-tmp-<pid>) behind; the next demo run removes
# that file (its process is gone) and writes a valid store.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
pid=
on_exit() { [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null; }
stays() { sqlite3 "$tmp/s.db" "SELECT count(*) FROM stays" 2>&1; }
intact() { integrity "$tmp/s.db"; }
leftovers() { ls "$tmp" | grep -c 'demo-tmp' || true; }

need sqlite3 demo_killed_leaves_no_temp_file "the sqlite3 command is not installed"
if ! "$bin" --store "$tmp/s.db" demo --stays 10 --seed 2 > "$tmp/out" 2>&1; then
    fail demo_first_store "$(cat "$tmp/out")"
    exit 1
fi

# a large cohort, killed once its temporary file is being written
"$bin" --store "$tmp/s.db" demo --force --stays 20000 --threads 1 > "$tmp/big.out" 2>&1 &
pid=$!
n=0
while [ $n -lt 200 ] && [ "$(leftovers)" -eq 0 ]; do sleep 0.05; n=$((n + 1)); done
sleep 0.5
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
dead=$pid
pid=
if [ "$(leftovers)" -gt 0 ] && [ -e "$tmp/s.db.demo-tmp-$dead" ]; then pass demo_sigkill_leaves_its_temp_file
else fail demo_sigkill_leaves_its_temp_file "$(ls "$tmp") $(cat "$tmp/big.out")"; fi
if intact && [ "$(stays)" = 10 ]; then pass demo_sigkill_keeps_old_store
else fail demo_sigkill_keeps_old_store "$(stays)"; fi

# the next run cleans up and writes a valid store
if "$bin" --store "$tmp/s.db" demo --force --stays 20 --seed 4 > "$tmp/out" 2> "$tmp/err" &&
    [ "$(leftovers)" -eq 0 ] && intact && [ "$(stays)" = 20 ] && [ ! -s "$tmp/err" ]; then
    pass demo_next_run_removes_stale_temp
else fail demo_next_run_removes_stale_temp "$(ls "$tmp") $(cat "$tmp/err") stays=$(stays)"; fi
if "$bin" --store "$tmp/s.db" info > /dev/null 2>&1; then pass demo_store_after_cleanup_opens
else fail demo_store_after_cleanup_opens; fi
lib_finish
