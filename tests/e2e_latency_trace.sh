#!/bin/sh
# e2e_latency_trace.sh — PHENOSCOPE_TRACE_LATENCY (the trace `make bench` times the TUI with)
# writes one well-formed line per key, in order, with the flush after the read, naming the screen
# drawn; an unwritable path does not stop the interface. Correctness only:
# the timing itself is tests/bench_tui.sh's.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

if ! "$bin" --store "$tmp/s.db" demo --stays 40 --image-size 64 > "$tmp/demo.log" 2>&1; then
    fail demo_store "$(tail -2 "$tmp/demo.log")"
    exit 1
fi
# Down, Down, j, Enter (opens a stay), 1 (back to the cohort): five keys
PHENOSCOPE_TRACE_LATENCY="$tmp/trace" "$bin" --store "$tmp/s.db" tui --size 80x24 \
    --keys '<Down><Down>j<Enter>1' --dump "$tmp/screen.txt" > "$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && pass trace_run_exits_0 || fail trace_run_exits_0 "exit $rc: $(cat "$tmp/out")"
if [ -s "$tmp/trace" ] && [ "$(wc -l < "$tmp/trace")" -eq 5 ]; then
    pass trace_one_line_per_key
else
    fail trace_one_line_per_key "$(cat "$tmp/trace" 2>/dev/null)"
fi
# key codes in order: KEY_DOWN (258) twice, 'j' (106), Enter (10 or 13 or KEY_ENTER 343), '1' (49)
keys=$(sed 's/^key=\([0-9]*\) .*/\1/' "$tmp/trace" | tr '\n' ' ')
case "$keys" in
"258 258 106 10 49 " | "258 258 106 13 49 " | "258 258 106 343 49 ") pass trace_keys_in_order ;;
*) fail trace_keys_in_order "$keys" ;;
esac
bad=$(awk '!/^key=[0-9]+ read_ns=[0-9]+ done_ns=[0-9]+ ms=[0-9]+\.[0-9]+ cpu_ms=[0-9]+\.[0-9]+ drew=[01] screen=[1-6]$/ ||
           substr($3, 9) + 0 < substr($2, 9) + 0' "$tmp/trace")
[ -z "$bad" ] && pass trace_lines_well_formed || fail trace_lines_well_formed "$bad"
# the Enter's frame was drawn on the stay screen (2), the '1' on the cohort (1)
if awk 'NR == 4 && /drew=1 screen=2$/ { a = 1 } NR == 5 && /drew=1 screen=1$/ { b = 1 } END { exit !(a && b) }' "$tmp/trace"; then
    pass trace_names_the_screen_drawn
else
    fail trace_names_the_screen_drawn "$(cat "$tmp/trace")"
fi

# an unwritable trace path: the interface still runs and quits cleanly
PHENOSCOPE_TRACE_LATENCY="$tmp/no/such/dir/trace" "$bin" --store "$tmp/s.db" tui --size 80x24 \
    --keys 'j' --dump "$tmp/s3.txt" > "$tmp/out3" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'Stay' "$tmp/s3.txt"; then
    pass unwritable_trace_still_runs
else
    fail unwritable_trace_still_runs "exit $rc: $(cat "$tmp/out3")"
fi
lib_finish
