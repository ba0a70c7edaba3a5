#!/bin/sh
# bench_tui.sh BUILD — the TUI's input-to-redraw latency with 50,000 stays in the store while a
# run trains (issue 5: under 50 ms), driven through tmux. Called by tests/bench.sh; prints one
# PSBENCH line (see tests/tui_drive.py for what is timed and how).
#
# The store is built once (`demo --stays N --image-size 64`: small radiographs keep it to a few
# minutes) and cached as BUILD/bench/tui_<N>_<version>.db; each bench copies it, so the runs it
# trains never pile up in the cache. A headless `phenoscope train --quick` on the copy runs in
# the background (OpenBLAS threads as in the other benches) and must be past loading its data
# before the keys start. PS_BENCH_TUI_STAYS (50000) sets the cohort's size.
set -u
build=${1:-build}
bin=${PHENOSCOPE_BIN:-./phenoscope}
[ "$build" != build ] && [ -z "${PHENOSCOPE_BIN:-}" ] && bin="$build/phenoscope"
case "$bin" in /*) ;; *) bin="$(pwd)/$bin" ;; esac
stays=${PS_BENCH_TUI_STAYS:-50000}
name=tui_redraw_$((stays / 1000))k
py=/usr/bin/python3
[ -x "$py" ] || py=python3
for tool in tmux sqlite3 "$py"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench_tui: $tool not installed; $name not measured" >&2
        exit 0
    fi
done

ver=$("$bin" --version | tr -c 'A-Za-z0-9.\n' '_' | head -1)
cache="$build/bench/tui_${stays}_${ver}.db"
mkdir -p "$build/bench"
if [ ! -s "$cache" ]; then
    echo "bench_tui: building the $stays-stay store once ($cache)" >&2
    t0=$(date +%s)
    rm -f "$cache.tmp"
    if ! "$bin" --store "$cache.tmp" demo --stays "$stays" --image-size 64 >&2; then
        rm -f "$cache.tmp"
        echo "bench_tui: demo failed" >&2
        exit 1
    fi
    mv "$cache.tmp" "$cache"
    echo "bench_tui: built in $(($(date +%s) - t0)) s" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ps_bench_tui.XXXXXX")
sock="ps_bench_tui_$$"
trainpid=
T() { tmux -L "$sock" -f /dev/null "$@"; }
cleanup() {
    [ -n "$trainpid" ] && kill "$trainpid" 2>/dev/null && wait "$trainpid" 2>/dev/null
    T kill-server 2>/dev/null
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$sock"
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

store="$tmp/store.db"
cp "$cache" "$store" || exit 1

# the training run, past loading before the keys start (its progress state leaves "loading")
"$bin" --store "$store" train --quick --epochs 1000 --json > "$tmp/train.json" 2> "$tmp/train.err" &
trainpid=$!
i=0
while ! grep -q '"state":"\(training\|running\|validating\)"' "$tmp/train.json" 2>/dev/null; do
    if ! kill -0 "$trainpid" 2>/dev/null; then
        echo "bench_tui: the training run ended early: $(tail -2 "$tmp/train.err")" >&2
        exit 1
    fi
    i=$((i + 1))
    if [ "$i" -gt 6000 ]; then
        echo "bench_tui: the training run did not start training within 10 minutes" >&2
        exit 1
    fi
    sleep 0.1
done
echo "bench_tui: training run going ($(tail -1 "$tmp/train.json" | sed 's/.*"state":"\([a-z]*\)".*"iteration":\([0-9]*\).*/\1, iteration \2/'))" >&2

trace="$tmp/latency.trace"
T new-session -d -s b -x 120 -y 40 \
    "exec env PHENOSCOPE_TRACE_LATENCY='$trace' TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '$bin' --store '$store' --graphics=symbols"
pid=$(T display-message -p -t b '#{pane_pid}')
# the cohort is on screen once its status line says how many stays were loaded
i=0
until T capture-pane -p -t b | grep -q 'Loaded [0-9,]* stays'; do
    i=$((i + 1))
    if [ "$i" -gt 1200 ]; then
        echo "bench_tui: the cohort did not load within 120 s" >&2
        T capture-pane -p -t b >&2
        exit 1
    fi
    sleep 0.1
done
T capture-pane -p -t b | grep -o 'Loaded [0-9,]* stays in [0-9]* ms' >&2
"$py" tests/tui_drive.py "$sock" b "$trace" "$name" "$pid" || exit 1
if ! kill -0 "$trainpid" 2>/dev/null; then
    echo "bench_tui: the training run was not going to the end of the keys" >&2
    exit 1
fi
echo "bench_tui: training still going at the end ($(tail -1 "$tmp/train.json" | sed 's/.*"state":"\([a-z]*\)".*"iteration":\([0-9]*\).*/\1, iteration \2/'))" >&2
T send-keys -t b q
exit 0
