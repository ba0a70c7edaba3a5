#!/bin/sh
# e2e_tui.sh — the real TUI in tmux, driven by keys as a user types them: the cohort table and
# the research line at 80x24 and 160x50, sorting, incremental search, filters, help, resize,
# masked ids, monochrome and ASCII terminals, and a clean exit (q, SIGTERM, Ctrl-C) that leaves
# `stty -g` exactly as it was. Also the graphics probe inside tmux (no sixel: symbols) and a
# sixel test image decoded back by sixel2png.
#
# Needs tmux and a store: `phenoscope demo` builds one (or PS_E2E_STORE names an existing one).
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

# ---- without a terminal -------------------------------------------------------------------
if "$bin" --help | grep -q '^  tui ' && "$bin" --help | grep -q '^  probe '; then pass help_lists_tui_and_probe
else fail help_lists_tui_and_probe; fi

out=$("$bin" probe < /dev/null 2>&1)
if echo "$out" | grep -q 'because:.*not a terminal'; then pass probe_without_terminal
else fail probe_without_terminal "$out"; fi

out=$("$bin" --graphics=none probe < /dev/null 2>&1)
if echo "$out" | grep -q 'graphics:   none' && echo "$out" | grep -q -- '--graphics=none given'; then
    pass probe_override
else fail probe_override "$out"; fi

if command -v sixel2png >/dev/null 2>&1; then
    "$bin" --graphics=sixel probe --test-image < /dev/null > "$tmp/probe.out" 2>&1
    # keep only the DCS ... ST sixel stream
    awk 'BEGIN{RS="\033P"} NR==2{printf "\033P%s", $0}' "$tmp/probe.out" > "$tmp/t.six"
    if sixel2png -i "$tmp/t.six" -o "$tmp/t.png" 2>/dev/null &&
        [ "$(od -An -tu1 -j16 -N8 "$tmp/t.png" | tr -s ' ' | sed 's/^ //')" = "0 0 0 240 0 0 0 160" ]; then
        pass probe_sixel_test_image_decodes
    else fail probe_sixel_test_image_decodes; fi
else
    skip probe_sixel_test_image_decodes "sixel2png (libsixel-bin) not installed"
fi

if "$bin" --store "$tmp/none.db" < /dev/null > "$tmp/o" 2> "$tmp/e"; then
    fail missing_store_is_one_line "exit 0"
elif grep -q "none.db" "$tmp/e" && [ ! -s "$tmp/o" ]; then pass missing_store_is_one_line
else fail missing_store_is_one_line "$(cat "$tmp/e")"; fi

if ! command -v tmux >/dev/null 2>&1; then
    skip tui_in_tmux "tmux not installed"
    lib_finish
fi

tmux_server tui

# ---- the graphics probe inside tmux -------------------------------------------------------
T new-session -d -s probe -x 100 -y 30 "TERM=xterm-256color '$bin' probe; sleep 30"
i=0
while [ $i -lt 50 ] && ! T capture-pane -p -t probe | grep -q '^because:'; do sleep 0.1; i=$((i + 1)); done
cap=$(T capture-pane -p -t probe)
if echo "$cap" | grep -q 'DA1:      ?1;2' && echo "$cap" | grep -q 'graphics:   symbols' &&
    echo "$cap" | grep -q 'because:.*answered by tmux.*do not list 4'; then
    pass probe_in_tmux_falls_back_to_symbols
elif echo "$cap" | grep -q 'graphics:   sixel'; then
    pass probe_in_tmux_falls_back_to_symbols # a tmux built with sixel says so; also right
else fail probe_in_tmux_falls_back_to_symbols "$cap"; fi
T kill-session -t probe

# ---- a store ------------------------------------------------------------------------------
store=${PS_E2E_STORE:-}
if [ -z "$store" ]; then
    if "$bin" --help | grep -q '^  demo '; then
        store="$tmp/demo.db"
        if ! "$bin" --store "$store" demo --stays 200 > "$tmp/demo.log" 2>&1; then
            fail demo_store "$(tail -3 "$tmp/demo.log")"
            exit 1
        fi
    else
        skip tui_in_tmux "'phenoscope demo' is not built in yet and PS_E2E_STORE is not set"
        lib_finish
    fi
fi

# Runs the TUI in a fresh session: records stty -g before and after, the pid and exit code.
# usage: start NAME COLS ROWS ENV... -- ARGS...
start() {
    name=$1; cols=$2; rows=$3; shift 3
    envs=""
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs="$envs $1"; shift; done
    shift
    rm -f "$tmp/$name".*
    # The wrapper shell shares the pane's process group, so Ctrl-C reaches it too; like an
    # interactive shell it must outlive the signal (a trap, not an ignore: exec resets it).
    cat > "$tmp/$name.sh" <<EOF
trap : INT
stty -g > '$tmp/$name.before'
env $envs sh -c 'echo \$\$ > "$tmp/$name.pid"; exec "\$0" "\$@"' '$bin' --store '$store' $*
echo \$? > '$tmp/$name.rc'
stty -g > '$tmp/$name.after'
sleep 60
EOF
    T new-session -d -s "$name" -x "$cols" -y "$rows" "sh '$tmp/$name.sh'"
}
same_tty() { cmp -s "$tmp/$1.before" "$tmp/$1.after"; }
# body NAME: the table's data rows (between the header and the two bottom lines)
body() {
    c=$(cap "$1")
    h=$(echo "$c" | grep -n 'Stay.*Subject.*Age' | head -1 | cut -d: -f1)
    n=$(echo "$c" | wc -l)
    [ -n "$h" ] && echo "$c" | sed -n "$((h + 1)),$((n - 2))p" | grep '^ *[0-9*^•]'
}
row() { body "$1" | sed -n "${2}p"; }

# ---- 80x24: the cohort screen and its keys -------------------------------------------------
start a 80 24 TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 --
check a cohort_table_at_80x24 '^ *▲Stay *Subject *Age Sex Unit'
check a research_line_at_80x24 'RESEARCH USE ONLY'
check a funnel_line 'Cohort'
lines=$(cap a | wc -l)
[ "$lines" -eq 24 ] && pass screen_is_24_lines || fail screen_is_24_lines "$lines lines"
total=$(cap a | sed -n 's/^ All \([0-9,]*\) stays.*/\1/p' | tr -d ,)
[ -n "$total" ] && [ "$total" -gt 0 ] && pass all_stays_counted || fail all_stays_counted "$(cap a | sed -n 2,4p)"

T send-keys -t a '>'
check a sort_by_next_column '▲Subject'
T send-keys -t a 'r'
check a sort_reversed '▼Subject'
first=$(row a 1 | awk '{print $2}'); second=$(row a 2 | awk '{print $2}')
[ -n "$first" ] && [ "$first" -ge "$second" ] 2>/dev/null && pass sort_order_descending ||
    fail sort_order_descending "$first then $second"
T send-keys -t a '<' 'r'
check a sort_back_to_stay '▲Stay'

T send-keys -t a '/'
check a search_prompt_opens 'Search: _'
# a unit abbreviation seen in the table narrows the list as it is typed
unit=$(row a 1 | awk '{print $5}')
T send-keys -t a "$unit"
check a search_narrows "Showing [0-9,]* of [0-9,]*  search \"$unit\""
shown=$(cap a | sed -n 's/^ Showing \([0-9,]*\) of.*/\1/p' | tr -d ,)
[ -n "$shown" ] && [ "$shown" -lt "$total" ] && [ "$shown" -gt 0 ] && pass search_count_smaller ||
    fail search_count_smaller "shown=$shown total=$total"
bad=$(body a | grep -v -c -- "$unit" || true)
[ "$bad" -eq 0 ] && pass search_rows_match || fail search_rows_match "$bad rows without $unit"
T send-keys -t a Enter
check a search_kept_after_enter "search \"$unit\""
T send-keys -t a Escape
check a search_cleared_by_esc "^ All [0-9,]* stays"

T send-keys -t a 't'
check a split_filter 'split train'
bad=$(body a | grep -v -c ' train ' || true)
[ "$bad" -eq 0 ] && pass split_rows_are_train || fail split_rows_are_train "$bad rows"
T send-keys -t a 'p'
check a paired_filter 'split train  paired only'
T send-keys -t a 'c'
check a filters_cleared "^ All [0-9,]* stays"

T send-keys -t a 'f'
check a phenotype_picker 'Only stays positive for'
T send-keys -t a Down Enter
check a phenotype_filter 'has '

T send-keys -t a 'c' '?'
check a help_screen 'Cohort (1)'
T send-keys -t a 'q'
check a help_back_to_cohort '▲Stay'
T send-keys -t a '4'
check a training_screen_opens 'No training runs in this store'
T send-keys -t a '1'

# ---- resize -------------------------------------------------------------------------------
T resize-window -t a -x 160 -y 50
check a wide_layout_after_resize 'Positive phenotypes'
lines=$(cap a | wc -l)
[ "$lines" -eq 50 ] && cap a | sed -n 50p | grep -q 'RESEARCH USE ONLY' && pass research_line_on_last_row_at_160x50 ||
    fail research_line_on_last_row_at_160x50 "$(cap a | tail -2)"
T resize-window -t a -x 30 -y 8
check a too_small_says_so 'Terminal too small'
T resize-window -t a -x 80 -y 24
check a back_to_80x24 '▲Stay'

T send-keys -t a 'q'
if wait_rc a && [ "$(cat "$tmp/a.rc")" = 0 ]; then pass q_quits_with_0; else fail q_quits_with_0 "rc=$(cat "$tmp/a.rc" 2>/dev/null)"; fi
same_tty a && pass q_restores_terminal || fail q_restores_terminal
T kill-session -t a

# ---- 160x50 from the start ----------------------------------------------------------------
start b 160 50 TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 --
check b cohort_table_at_160x50 'Positive phenotypes'
rows=$(body b | wc -l)
want=$((total < 42 ? total : 42))
[ "$rows" -ge "$want" ] && pass table_fills_160x50 || fail table_fills_160x50 "$rows rows"
pid=$(cat "$tmp/b.pid")
kill -TERM "$pid"
if wait_rc b && [ "$(cat "$tmp/b.rc")" = 143 ]; then pass sigterm_exits_143; else fail sigterm_exits_143 "rc=$(cat "$tmp/b.rc" 2>/dev/null)"; fi
same_tty b && pass sigterm_restores_terminal || fail sigterm_restores_terminal
T kill-session -t b

start f 80 24 TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 --
check f sighup_start '▲Stay'
kill -HUP "$(cat "$tmp/f.pid")"
if wait_rc f && [ "$(cat "$tmp/f.rc")" = 129 ]; then pass sighup_exits_129; else fail sighup_exits_129 "rc=$(cat "$tmp/f.rc" 2>/dev/null)"; fi
same_tty f && pass sighup_restores_terminal || fail sighup_restores_terminal
T kill-session -t f

# ---- Ctrl-C, masked ids, no colour, ASCII -------------------------------------------------
start c 100 30 TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 -- --mask-ids
check c mask_ids_notice 'IDs masked'
check c mask_ids_table 'Stay *Subject'
digits=$(body c | awk '{print $1 $2}' | grep -c '[0-9]' || true)
shown=$(body c | wc -l)
[ "$shown" -gt 0 ] && [ "$digits" -eq 0 ] && pass mask_ids_hides_ids || fail mask_ids_hides_ids "$(body c | head -3)"
T send-keys -t c C-c
if wait_rc c && [ "$(cat "$tmp/c.rc")" = 130 ]; then pass ctrl_c_exits_130; else fail ctrl_c_exits_130 "rc=$(cat "$tmp/c.rc" 2>/dev/null)"; fi
same_tty c && pass ctrl_c_restores_terminal || fail ctrl_c_restores_terminal
T kill-session -t c

start d 80 24 TERM=xterm-256color NO_COLOR=1 LANG=C.UTF-8 LC_ALL=C.UTF-8 --
check d no_color_starts '▲Stay'
if T capture-pane -p -e -t d | grep -q "$(printf '\033')\[[0-9;]*3[0-9];5;"; then fail no_color_has_no_colour
else pass no_color_has_no_colour; fi
T send-keys -t d q
wait_rc d && same_tty d && pass no_color_quits_clean || fail no_color_quits_clean
T kill-session -t d

start e 80 24 TERM=xterm LANG=C LC_ALL=C --
check e ascii_locale_starts '\^Stay'
if cap e | grep -q '[^ -~]'; then fail ascii_locale_is_ascii "$(cap e | grep '[^ -~]' | head -3)"
else pass ascii_locale_is_ascii; fi
T send-keys -t e q
wait_rc e && same_tty e && pass ascii_quits_clean || fail ascii_quits_clean
T kill-session -t e

# ---- headless: the same screens without a terminal (used by sanitizer builds) ---------------
if "$bin" --store "$store" tui --keys '/a<Enter>t?<Esc>q' --size 100x30 --dump "$tmp/h.txt" < /dev/null &&
    grep -q 'RESEARCH USE ONLY' "$tmp/h.txt" && grep -q 'split train' "$tmp/h.txt"; then
    pass headless_run
else fail headless_run "$(cat "$tmp/h.txt" 2>/dev/null | head -5)"; fi
# R reloads from the store and keeps the filters
if "$bin" --store "$store" tui --keys 'tR' --size 100x30 --dump "$tmp/r.txt" < /dev/null &&
    grep -q 'Reloaded [0-9,]* stays' "$tmp/r.txt" && grep -q 'split train' "$tmp/r.txt"; then
    pass reload_keeps_filters
else fail reload_keeps_filters "$(cat "$tmp/r.txt" 2>/dev/null | tail -3)"; fi

lib_finish
