#!/bin/sh
# e2e_train_screen.sh — screens 4 (Training) and 5 (Predictions) in tmux, as a user drives them:
# start a run from the form, watch losses and progress move, pause / resume / stop it; a headless
# `phenoscope train` in the background shown live (attach); the runs list and two runs compared;
# the predictions of a paired stay with the X-ray withheld and restored; quitting with a run going
# asks first and stops the run cleanly (resumable). 80x24 throughout (the smallest supported).
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
need tmux e2e_train_screen "tmux not installed"
need sqlite3 e2e_train_screen "sqlite3 not installed"
tmux_socket tr
bgpid=
on_exit() { [ -z "$bgpid" ] || kill "$bgpid" 2>/dev/null; }

db="$tmp/s.db"
if ! "$bin" --store "$db" demo --stays 150 > "$tmp/demo.out" 2>&1; then
    fail demo_store "$(tail -1 "$tmp/demo.out")"
    exit 1
fi
# waits up to $2 seconds for session s to show text matching $1 (grep -E)
wait_screen() {
    i=0
    while [ "$i" -lt $(($2 * 5)) ]; do
        if cap s | grep -Eq -- "$1"; then return 0; fi
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}
key() { T send-keys -t s "$@"; sleep 0.3; }
sql() { sqlite3 "$db" "$1"; }
# the iteration shown in the detail header ("it 7/120")
shown_it() { cap s | sed -n 's/.* it \([0-9]*\)\/.*/\1/p' | head -1; }

T new-session -d -s s -x 80 -y 24 "XDG_STATE_HOME=$tmp/state $bin --store $db"
wait_screen 'Loaded' 10 || fail tui_starts "$(cap s)"

# ---- an empty store: the list says how to start ----------------------------------------------
key 4
if wait_screen 'No training runs' 10; then pass train_screen_empty_list; else fail train_screen_empty_list "$(cap s)"; fi

# ---- start a run from the form: 20 epochs at 224 px so there is time to pause, even idle --
key n
if wait_screen 'Start a training run' 5; then pass train_form_opens; else fail train_form_opens "$(cap s)"; fi
key Down Down 2 0 Down 2 2 4
if cap s | grep -q 'epochs.*20' && cap s | grep -q 'image size.*224'; then pass train_form_typed_values
else fail train_form_typed_values "$(cap s)"; fi
key Enter
if wait_screen 'Run 1 .*unified.*this session' 30; then pass train_run_starts_in_session
else fail train_run_starts_in_session "$(cap s)"; fi
if wait_screen 'CXR.*EHR.*unified' 60; then pass train_losses_charted; else fail train_losses_charted "$(cap s)"; fi
a=$(shown_it); sleep 3; b=$(shown_it)
if [ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ]; then pass train_progress_updates
else fail train_progress_updates "it $a then $b"; fi

# ---- pause / resume / stop -------------------------------------------------------------------
key p
if wait_screen 'Run 1 .*paused' 20; then pass train_pause; else fail train_pause "$(cap s)"; fi
a=$(shown_it); sleep 2; b=$(shown_it)
if [ "$a" = "$b" ]; then pass train_paused_stands_still; else fail train_paused_stands_still "it $a then $b"; fi
key p
if wait_screen 'Run 1 .*running' 20; then pass train_resume; else fail train_resume "$(cap s)"; fi
sleep 1
key s
if wait_screen 'Run 1 .*stopped' 30; then pass train_stop; else fail train_stop "$(cap s)"; fi
st=$(sql "select status from runs where run_id = 1")
ck=$(sql "select count(*) from checkpoints where run_id = 1 and kind = 'last'")
if [ "$st" = stopped ] && [ "$ck" = 1 ]; then pass train_stop_saves_checkpoint
else fail train_stop_saves_checkpoint "status $st, last checkpoints $ck"; fi

# ---- a run trained by another process, attached live -----------------------------------------
key Escape
"$bin" --store "$db" train --quick --epochs 6 --patience 0 > "$tmp/bg.out" 2>&1 &
bgpid=$!
if wait_screen '^. 2 .*unified +running' 30; then pass train_list_shows_other_process_run
else fail train_list_shows_other_process_run "$(cap s)"; fi
key g Enter
if wait_screen 'Run 2 .*running.*pid' 20; then pass train_attach_live; else fail train_attach_live "$(cap s)"; fi
if wait_screen 'Run 2 .*done' 90; then pass train_attached_run_finishes_live; else fail train_attached_run_finishes_live "$(cap s)"; fi
wait "$bgpid"
bgpid=
if cap s | grep -Eq '^ *[1-6]. +0\.[0-9]{3} '; then pass train_epochs_auroc_table; else fail train_epochs_auroc_table "$(cap s)"; fi

# ---- the list and a comparison ---------------------------------------------------------------
key Escape
if wait_screen '^. 1 .*stopped' 10 && cap s | grep -Eq '^. 2 .*done'; then pass train_past_runs_listed
else fail train_past_runs_listed "$(cap s)"; fi
key g c
if wait_screen 'Run 1 unified +Run 2 unified' 10 && cap s | grep -q 'best val macro AUROC' &&
    cap s | grep -Eq 'img_size +224 +64'; then
    pass train_compare_two_runs
else fail train_compare_two_runs "$(cap s)"; fi
key Escape

# ---- predictions for a paired stay -----------------------------------------------------------
key 1 p
sleep 0.5
key Enter
key 5
if wait_screen 'Unified \(X-ray\)' 30 && cap s | grep -q 'inference rule uses Unified' &&
    cap s | grep -Eq '(▶|>)Unified'; then
    pass predict_paired_stay_uses_unified
else fail predict_paired_stay_uses_unified "$(cap s)"; fi
rows=$(cap s | grep -Ec ' (acu|mix|chr) .* [01]\.[0-9]{2} .* [01]\.[0-9]{2} [+-][01]\.[0-9]{2}')
if [ "$rows" -ge 15 ]; then pass predict_bars_for_both; else fail predict_bars_for_both "$rows rows: $(cap s)"; fi
key w
if wait_screen 'WITHHELD' 5 && cap s | grep -Eq '(▶|>)EHR-only'; then pass predict_withhold_xray_uses_ehr
else fail predict_withhold_xray_uses_ehr "$(cap s)"; fi
key w
if wait_screen 'inference rule uses Unified' 5; then pass predict_restore_xray; else fail predict_restore_xray "$(cap s)"; fi

# ---- quitting with a run going asks, and stops it cleanly ------------------------------------
key 4 n Enter
wait_screen 'Run 3 .*this session' 30 || fail quit_guard_setup "$(cap s)"
key 1 q
if wait_screen 'still training' 10; then pass quit_asks_while_training; else fail quit_asks_while_training "$(cap s)"; fi
key n
sleep 0.5
if T has-session -t s; then pass quit_declined_keeps_running; else fail quit_declined_keeps_running; fi
key 1 q
wait_screen 'still training' 10
key y
i=0
while T has-session -t s && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
st=$(sql "select status from runs where run_id = 3")
if ! T has-session -t s && [ "$st" = stopped ]; then pass quit_stops_run_cleanly
else fail quit_stops_run_cleanly "status $st"; fi

lib_finish
