#!/bin/sh
# e2e_screens.sh — the Stay and Radiograph screens as a user meets them: in tmux at 80x24 and
# 160x50 open a stay from the cohort (channel names and units, GCS strips, phenotype groups,
# Tab), go to its radiographs (findings, pairing reasons, a symbol-rendered image filling its
# rect), back with Esc, quit cleanly; --mask-ids hides stay, subject and dicom ids; with
# --graphics=sixel the raw output carries a sixel image of the expected size; and, when xterm
# and Xvfb are installed, real sixel pixels in an `xterm -ti vt340` screenshot.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
xpid=""
on_exit() { [ -z "$xpid" ] || kill "$xpid" 2>/dev/null; }

store=${PS_E2E_STORE:-}
if [ -z "$store" ]; then
    store="$tmp/demo.db"
    if ! "$bin" --store "$store" demo --stays 150 > "$tmp/demo.log" 2>&1; then
        fail demo_store "$(tail -3 "$tmp/demo.log")"
        exit 1
    fi
fi
# the first stay in the cohort's order that has a pair: its row position (1-based)
pos=$(sqlite3 "$store" "SELECT count(*) FROM stays WHERE stay_id <= (SELECT min(stay_id) FROM pairs)" 2>/dev/null)
stay=$(sqlite3 "$store" "SELECT min(stay_id) FROM pairs" 2>/dev/null)
subject=$(sqlite3 "$store" "SELECT subject_id FROM stays WHERE stay_id = $stay" 2>/dev/null)
dicom=$(sqlite3 "$store" "SELECT dicom_id FROM pairs WHERE stay_id = $stay" 2>/dev/null)
if [ -z "$pos" ] || [ -z "$stay" ]; then
    fail paired_stay "no paired stay in $store (sqlite3 missing?)"
    exit 1
fi
downs=""
i=1
while [ "$i" -lt "$pos" ]; do downs="$downs<Down>"; i=$((i + 1)); done

# ---- headless: fast checks of content, no terminal ----------------------------------------
hl() { # hl SIZE KEYS OUT [ARGS...]
    size=$1; keys=$2; out=$3; shift 3
    LANG=C.UTF-8 LC_ALL=C.UTF-8 "$bin" --store "$store" "$@" tui --size "$size" --keys "$keys" --dump "$out"
}
hl 80x24 "$downs<Enter>" "$tmp/h1.txt"
if grep -q "Stay $stay" "$tmp/h1.txt" && grep -q 'HR *bpm' "$tmp/h1.txt" && grep -q 'SBP *mmHg' "$tmp/h1.txt" &&
    grep -q 'GCS eye' "$tmp/h1.txt" && grep -q 'Temp *degC' "$tmp/h1.txt"; then
    pass headless_stay_channels_and_units
else fail headless_stay_channels_and_units "$(cat "$tmp/h1.txt")"; fi
hl 80x24 "$downs<Enter><Tab><Tab>" "$tmp/h2.txt"
if grep -q 'Acute  [0-9]* of 13 positive' "$tmp/h2.txt" && grep -q 'Mixed  [0-9]* of 5 positive' "$tmp/h2.txt" &&
    grep -q 'Chronic  [0-9]* of 7 positive' "$tmp/h2.txt"; then
    pass headless_phenotype_groups
else fail headless_phenotype_groups "$(cat "$tmp/h2.txt")"; fi
hl 80x24 "$downs<Enter>x" "$tmp/h3.txt" --mask-ids --graphics=symbols
if grep -q 'CheXpert findings' "$tmp/h3.txt" && ! grep -q "$stay" "$tmp/h3.txt" &&
    ! grep -q "$subject" "$tmp/h3.txt" && ! grep -q "$(echo "$dicom" | cut -c1-12)" "$tmp/h3.txt" &&
    grep -q 'dicom ••••••' "$tmp/h3.txt"; then
    pass masked_ids_hide_stay_subject_dicom
else fail masked_ids_hide_stay_subject_dicom "$(cat "$tmp/h3.txt")"; fi
# no stay chosen yet: the screens say how to choose one
hl 80x24 "2" "$tmp/h4.txt"
hl 80x24 "3" "$tmp/h5.txt"
if grep -q 'No stay selected' "$tmp/h4.txt" && grep -q 'No stay selected' "$tmp/h5.txt"; then
    pass screens_without_a_stay
else fail screens_without_a_stay "$(cat "$tmp/h4.txt")"; fi
# ASCII locale: nothing but ASCII on the stay and radiograph screens
LANG=C LC_ALL=C "$bin" --store "$store" --graphics=symbols tui --size 100x30 --keys "$downs<Enter><Enter>" --dump "$tmp/a1.txt"
LANG=C LC_ALL=C "$bin" --store "$store" --graphics=symbols tui --size 100x30 --keys "$downs<Enter>x" --dump "$tmp/a2.txt"
if ! LC_ALL=C grep -q '[^ -~]' "$tmp/a1.txt" "$tmp/a2.txt" && grep -q 'Heart Rate (bpm)' "$tmp/a1.txt" &&
    grep -q 'CheXpert' "$tmp/a2.txt"; then
    pass ascii_locale_screens_are_ascii
else fail ascii_locale_screens_are_ascii "$(LC_ALL=C grep -n '[^ -~]' "$tmp/a1.txt" "$tmp/a2.txt" | head -3)"; fi

if ! command -v tmux >/dev/null 2>&1; then
    skip screens_in_tmux "tmux not installed"
    lib_finish
fi

# ---- tmux ---------------------------------------------------------------------------------
tmux_server scr
start() { # start NAME COLS ROWS ARGS...
    name=$1; cols=$2; rows=$3; shift 3
    cat > "$tmp/$name.sh" <<EOF
stty -g > '$tmp/$name.before'
TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '$bin' --store '$store' $*
echo \$? > '$tmp/$name.rc'
stty -g > '$tmp/$name.after'
sleep 60
EOF
    T new-session -d -s "$name" -x "$cols" -y "$rows" "sh '$tmp/$name.sh'"
}
# image_rows NAME FROM_COL: rows whose text right of FROM_COL holds 12 or more non-blank cells
image_rows() {
    cap "$1" | python3 -c '
import sys
col = int(sys.argv[1])
n = sum(1 for line in sys.stdin if len(line[col:].rstrip("\n").replace(" ", "")) >= 12)
print(n)' "$2"
}
keys_down() { i=1; while [ "$i" -lt "$pos" ]; do T send-keys -t "$1" Down; i=$((i + 1)); done; }

for geo in 80x24 160x50; do
    c=${geo%x*}; r=${geo#*x}; s="s$c"
    start "$s" "$c" "$r" --graphics=symbols
    check "$s" "cohort_shown_$geo" 'Stay.*Subject.*Age'
    keys_down "$s"
    T send-keys -t "$s" Enter
    check "$s" "stay_opens_from_cohort_$geo" "Stay $stay"
    if [ "$c" -eq 80 ]; then
        check "$s" "channel_list_units_$geo" 'HR *bpm'
        check "$s" "gcs_strip_$geo" 'GCS verbal'
        T send-keys -t "$s" Enter
        check "$s" "zoomed_chart_$geo" 'Heart Rate (bpm)'
        T send-keys -t "$s" Escape
        check "$s" "unzoom_back_to_list_$geo" 'SBP *mmHg'
        T send-keys -t "$s" Tab
        check "$s" "tab_diagnoses_$geo" 'Diagnoses of the admission'
        T send-keys -t "$s" Tab
        check "$s" "tab_phenotypes_$geo" 'Chronic  [0-9]* of 7 positive'
        T send-keys -t "$s" Tab
        check "$s" "tab_back_to_charts_$geo" 'HR *bpm'
    else
        check "$s" "chart_grid_units_$geo" 'Heart Rate (bpm)'
        check "$s" "chart_grid_hours_$geo" '┴24h'
        check "$s" "side_panel_groups_$geo" 'Mixed  [0-9]* of 5 positive'
        check "$s" "side_panel_diagnoses_$geo" 'Diagnoses of the admission'
        T send-keys -t "$s" Tab
        check "$s" "tab_focus_moves_$geo" 'Diagnoses of the admission'
    fi
    T send-keys -t "$s" x
    check "$s" "radiograph_findings_$geo" 'CheXpert findings'
    check "$s" "radiograph_paired_reason_$geo" 'paired: latest AP within the stay'
    check "$s" "radiograph_timeline_$geo" 'ICU in'
    # the image sits right of the panel (40 columns at 80, 60 at 160) and fills most rows
    panel=40; [ "$c" -ge 150 ] && panel=60
    sleep 0.5; stable "$s"
    n=$(image_rows "$s" $((panel + 1)))
    want=$(((r - 7) * 2 / 3))
    [ "$n" -ge "$want" ] && pass "symbol_image_fills_its_rect_$geo" ||
        fail "symbol_image_fills_its_rect_$geo" "$n rows with image cells, want >= $want: $(cap "$s")"
    # moving to another radiograph names its reason
    T send-keys -t "$s" g
    check "$s" "first_radiograph_has_a_reason_$geo" 'before the stay\|not AP\|earlier AP\|after the stay\|paired'
    T send-keys -t "$s" Escape
    check "$s" "esc_back_to_stay_$geo" "Stay $stay.*subject"
    if cap "$s" | grep -q 'CheXpert findings'; then fail "radiograph_gone_after_esc_$geo"; else pass "radiograph_gone_after_esc_$geo"; fi
    T send-keys -t "$s" Escape
    check "$s" "esc_back_to_cohort_$geo" 'Stay.*Subject.*Age'
    T send-keys -t "$s" q
    wait_rc "$s"
    if [ "$(cat "$tmp/$s.rc" 2>/dev/null)" = 0 ] && cmp -s "$tmp/$s.before" "$tmp/$s.after"; then
        pass "quit_cleanly_$geo"
    else fail "quit_cleanly_$geo" "rc=$(cat "$tmp/$s.rc" 2>/dev/null)"; fi
    T kill-session -t "$s"
done

# ---- sixel: the raw output carries the image at the size its rect allows ------------------
if command -v script >/dev/null 2>&1 && command -v sixel2png >/dev/null 2>&1; then
    # At 100x30 the image rect is 59x24 cells; nobody answers the cell-size query inside
    # `script`, so cells are the 10x20 guess: 590x480 pixels, and a 512x512 radiograph fits at
    # 480x480.
    (sleep 3; i=1; while [ "$i" -lt "$pos" ]; do printf 'j'; sleep 0.2; i=$((i + 1)); done
     printf '\r'; sleep 1.5; printf 'x'; sleep 2.5; printf 'q'; sleep 0.5; printf 'q'; sleep 0.5; printf 'q') |
        TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 COLUMNS=100 LINES=30 \
            script -q -e -c "stty cols 100 rows 30; '$bin' --store '$store' --graphics=sixel" "$tmp/raw.out" > /dev/null 2>&1
    awk 'BEGIN{RS="\033P"} /^[0-9;]*q/ {printf "\033P%s", $0; exit}' "$tmp/raw.out" > "$tmp/r.six"
    if [ -s "$tmp/r.six" ] && sixel2png -i "$tmp/r.six" -o "$tmp/r.png" 2>/dev/null &&
        [ "$(od -An -tu1 -j16 -N8 "$tmp/r.png" | tr -s ' ' | sed 's/^ //')" = "0 0 1 224 0 0 1 224" ]; then
        pass sixel_image_at_expected_size
    else fail sixel_image_at_expected_size "$(wc -c < "$tmp/raw.out") bytes captured, $(wc -c < "$tmp/r.six" 2>/dev/null) sixel bytes; png header $(od -An -tu1 -j16 -N8 "$tmp/r.png" 2>/dev/null)"; fi
    # q goes back to the stay screen, and curses repaints the picture's lines with its text
    after=$(python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
i = d.find(b"\x1bP")
j = d.find(b"\x1b\\", i) if i >= 0 else -1
print(1 if j > 0 and b"Heart Rate" in d[j:] else 0)' "$tmp/raw.out")
    [ "$after" = 1 ] && pass sixel_screen_repainted_after_leaving || fail sixel_screen_repainted_after_leaving
else
    skip sixel_image_at_expected_size "script or sixel2png (libsixel-bin) not installed"
fi

# ---- real pixels: xterm -ti vt340 under Xvfb ----------------------------------------------
if command -v xterm >/dev/null 2>&1 && command -v Xvfb >/dev/null 2>&1 && command -v import >/dev/null 2>&1 &&
    command -v xdotool >/dev/null 2>&1; then
    d=$((70 + $$ % 200))
    Xvfb ":$d" -screen 0 1280x900x24 > /dev/null 2>&1 &
    xpid=$!
    sleep 1.5
    DISPLAY=":$d" LANG=C.UTF-8 LC_ALL=C.UTF-8 xterm -ti vt340 -geometry 100x30+0+0 -xrm 'XTerm*sixelScrolling: true' \
        -e "$bin" --store "$store" --graphics=sixel > /dev/null 2>&1 &
    xt=$!
    sleep 4
    DISPLAY=":$d" xdotool mousemove 200 200 > /dev/null 2>&1
    i=1; while [ "$i" -lt "$pos" ]; do DISPLAY=":$d" xdotool key Down; i=$((i + 1)); done
    DISPLAY=":$d" xdotool key Return; sleep 1.5
    DISPLAY=":$d" import -window root "$tmp/stay.png" 2>/dev/null
    DISPLAY=":$d" xdotool key x; sleep 3
    DISPLAY=":$d" import -window root "$tmp/rad.png" 2>/dev/null
    # the xterm window's size, then its right 55% below the timeline: the image's place
    geom=$(DISPLAY=":$d" xdotool search --class xterm getwindowgeometry 2>/dev/null | sed -n 's/.*Geometry: //p' | head -1)
    ww=${geom%x*}; wh=${geom#*x}
    crop="$((ww * 50 / 100))x$((wh * 60 / 100))+$((ww * 45 / 100))+$((wh * 25 / 100))"
    before=$(convert "$tmp/stay.png" -crop "$crop" -format %k info: 2>/dev/null)
    after=$(convert "$tmp/rad.png" -crop "$crop" -format %k info: 2>/dev/null)
    DISPLAY=":$d" xdotool key Escape Escape q
    sleep 0.5
    kill "$xt" 2>/dev/null
    kill "$xpid" 2>/dev/null
    xpid=""
    if [ -n "$after" ] && [ "$after" -ge 40 ] && [ -n "$before" ] && [ "$before" -lt 40 ]; then
        pass xterm_sixel_radiograph_pixels
    else fail xterm_sixel_radiograph_pixels "distinct colours in the image area: stay screen ${before:-?}, radiograph screen ${after:-?} (window $geom)"; fi
    [ -n "${PS_E2E_KEEP_SHOTS:-}" ] && cp "$tmp/rad.png" "$tmp/stay.png" "$PS_E2E_KEEP_SHOTS/" 2>/dev/null
else
    skip xterm_sixel_radiograph_pixels "xterm, Xvfb, ImageMagick or xdotool not installed (see TESTING-TERMINAL.md)"
fi

lib_finish
