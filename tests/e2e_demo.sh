#!/bin/sh
# e2e_demo.sh — `phenoscope demo` from the command line: bad input, --if-absent, refusing to
# overwrite, --force, and a same-seed store being byte-for-byte the same data.
set -u
bin=${PHENOSCOPE_BIN:-./phenoscope}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }

# invalid --stays: one line on stderr, non-zero exit, nothing created
for v in 0 -3 abc 12x ""; do
    if "$bin" --store "$d/x.db" demo --stays "$v" 2> "$d/err"; then bad "stays '$v' rejected"
    elif [ "$(wc -l < "$d/err")" -ne 1 ] || ! grep -q -- "--stays" "$d/err" || [ -e "$d/x.db" ]; then
        bad "stays '$v' one clear line"; cat "$d/err"
    else ok "stays '$v' rejected"; fi
done

# unwritable location
if "$bin" --store /proc/phenoscope-nope/store.db demo --stays 3 2> "$d/err"; then bad "unwritable path"
elif [ "$(wc -l < "$d/err")" -ne 1 ]; then bad "unwritable path: one line"; cat "$d/err"
else ok "unwritable path"; fi

# a small store, then --if-absent leaves it, a second run refuses, --force replaces
if "$bin" --store "$d/s.db" demo --stays 20 --seed 5 > "$d/out" 2>&1 && [ -s "$d/s.db" ] &&
   ! ls "$d"/*demo-tmp* > /dev/null 2>&1; then ok "demo writes a store"
else bad "demo writes a store"; cat "$d/out"; fi
sum1=$(sqlite3 "$d/s.db" "SELECT count(*), sum(value) FROM events; SELECT count(*) FROM radiographs;")
if "$bin" --store "$d/s.db" demo --if-absent > "$d/out" 2>&1 && [ "$(wc -l < "$d/out")" -eq 1 ] &&
   grep -q "already exists" "$d/out"; then ok "--if-absent keeps the store"
else bad "--if-absent keeps the store"; cat "$d/out"; fi
if "$bin" --store "$d/s.db" demo --stays 20 2> "$d/err"; then bad "refuses without --force"
elif grep -q -- "--force" "$d/err" && [ "$(sqlite3 "$d/s.db" "SELECT count(*), sum(value) FROM events; SELECT count(*) FROM radiographs;")" = "$sum1" ]; then
    ok "refuses without --force, data intact"
else bad "refuses without --force"; cat "$d/err"; fi
if "$bin" --store "$d/s.db" demo --stays 20 --seed 6 --force > /dev/null 2>&1 &&
   [ "$(sqlite3 "$d/s.db" "SELECT detail FROM sources WHERE name = 'demo'" | cut -d' ' -f1)" = "seed=6" ]; then
    ok "--force replaces"
else bad "--force replaces"; fi

# same seed, same data (the SQL dump of the cohort tables, images included)
dump() { sqlite3 "$1" ".mode quote" "SELECT * FROM stays ORDER BY 1" "SELECT * FROM events ORDER BY 1,2,3" \
    "SELECT * FROM radiographs ORDER BY 1" "SELECT hex(jpeg) FROM radiograph_images ORDER BY dicom_id" \
    "SELECT * FROM labels ORDER BY 1" "SELECT * FROM pairs ORDER BY 1" | md5sum; }
"$bin" --store "$d/a.db" demo --stays 20 --seed 9 > /dev/null 2>&1
"$bin" --store "$d/b.db" demo --stays 20 --seed 9 --threads 1 > /dev/null 2>&1
"$bin" --store "$d/c.db" demo --stays 20 --seed 10 > /dev/null 2>&1
if [ "$(dump "$d/a.db")" = "$(dump "$d/b.db")" ] && [ "$(dump "$d/a.db")" != "$(dump "$d/c.db")" ]; then
    ok "same seed same data"
else bad "same seed same data"; fi
