#!/bin/sh
# e2e_signals.sh — hangups and crashes. A headless `phenoscope train` sent SIGHUP, the same run
# in a tmux pane whose server is killed (SIGHUP and a dead tty), and a run started from the
# Training screen's form when its tmux server is killed: each process checkpoints and is gone
# within 10 s, the run is "stopped" with a checkpoint, and `train --resume` finishes it (for
# the headless run: bit for bit the run that never stopped). A terminal that dies without a
# SIGHUP (a pty that is not the controlling terminal) ends the TUI too, instead of a loop on
# EOF. A crash (SIGSEGV, SIGABRT, from build/phenoscope-hooks with PHENOSCOPE_CRASH_AFTER_MS)
# leaves `stty -g` as it was, the alternate screen left and the cursor shown, with the usual exit
# status. (Normal quit, SIGINT, SIGTERM and SIGHUP restoring stty: tests/e2e_tui.sh.)
# Prints PASS/FAIL/SKIP lines.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
need sqlite3 e2e_signals "sqlite3 not installed"
tmux_socket sig
bgpid=
on_exit() { [ -z "$bgpid" ] || kill "$bgpid" 2>/dev/null; }
export OPENBLAS_NUM_THREADS=1
unset PHENOSCOPE_KILLPOINT PHENOSCOPE_FAULT PHENOSCOPE_CRASH_AFTER_MS PHENOSCOPE_CRASH_SIGNAL

if ! "$bin" --store "$tmp/base.db" demo --stays 60 --seed 1 > "$tmp/demo.out" 2>&1; then
    fail demo_store "$(tail -1 "$tmp/demo.out")"
    exit 1
fi
sql() { sqlite3 "$1" "$2"; }
q_run="SELECT kind, epoch, hex(sha3(weights)) FROM checkpoints WHERE run_id = 1 ORDER BY kind;
       SELECT step, printf('%.17g', loss_cxr), printf('%.17g', loss_ehr), printf('%.17g', loss_joint)
         FROM run_steps WHERE run_id = 1 ORDER BY step;
       SELECT epoch, json_remove(metrics, '\$.seconds') FROM run_epochs WHERE run_id = 1 ORDER BY epoch;
       SELECT status FROM runs WHERE run_id = 1;"
digest() { sqlite3 "$1" "$q_run" | md5sum | cut -c1-32; }
# alive PID: running (a child of ours that has ended stays a zombie until waited for: not alive)
alive() {
    s=$(ps -o stat= -p "$1" 2> /dev/null) || return 1
    case "$s" in Z* | "") return 1 ;; esac
}
# gone PID: waits up to 10 s for the process to end; prints the tenths of seconds it took
gone() {
    n=0
    while alive "$1" && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    echo $n
    [ $n -lt 100 ]
}
# the latest iteration (>= 1) a running run reported in its --json output
json_it() { sed -n 's/.*"state":"running".*"iteration":\([1-9][0-9]*\).*/\1/p' "$1" | tail -1; }
# stopped_ok DB: run 1 is stopped with its last checkpoint; prints what it found
stopped_ok() {
    st=$(sql "$1" "SELECT status FROM runs WHERE run_id = 1")
    ck=$(sql "$1" "SELECT count(*) FROM checkpoints WHERE run_id = 1 AND kind = 'last'")
    echo "status $st, last checkpoints $ck"
    [ "$st" = stopped ] && [ "$ck" = 1 ]
}

# ---- headless train, kill -HUP ------------------------------------------------------------
args="--method unified --quick --epochs 3 --batch 4 --img-size 32 --threads 1"
cp "$tmp/base.db" "$tmp/ref.db"
# shellcheck disable=SC2086
"$bin" --store "$tmp/ref.db" train $args > /dev/null 2>&1 || fail hup_setup "reference run"
ref=$(digest "$tmp/ref.db")
cp "$tmp/base.db" "$tmp/h.db"
# shellcheck disable=SC2086
"$bin" --store "$tmp/h.db" train $args --json > "$tmp/h.out" 2> "$tmp/h.err" &
bgpid=$!
n=0
while [ $n -lt 300 ] && [ "$(json_it "$tmp/h.out")" = "" ]; do sleep 0.1; n=$((n + 1)); done
it=$(json_it "$tmp/h.out")
kill -HUP $bgpid
tenths=$(gone $bgpid) || fail headless_sighup_exits_within_10s "still running after 10 s"
wait $bgpid
rc=$?
bgpid=
if [ -n "$it" ] && [ $rc -eq 1 ] && found=$(stopped_ok "$tmp/h.db"); then
    pass "headless_sighup_checkpoints (at iteration ~$it, gone in $tenths/10 s, $found)"
else
    fail headless_sighup_checkpoints "iteration '$it', rc $rc, $(stopped_ok "$tmp/h.db"): $(tail -2 "$tmp/h.err")"
fi
"$bin" --store "$tmp/h.db" train --resume 1 --threads 1 > /dev/null 2> "$tmp/h.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(digest "$tmp/h.db")" = "$ref" ]; then
    pass headless_sighup_resume_bit_identical
else
    fail headless_sighup_resume_bit_identical "rc $rc: $(tail -1 "$tmp/h.err")"
fi

if ! command -v tmux > /dev/null 2>&1; then
    skip signals_in_tmux "tmux not installed"
    lib_finish
fi

# ---- headless train in a terminal that goes away ------------------------------------------
cp "$tmp/base.db" "$tmp/p.db"
T new-session -d -s p -x 120 -y 10 \
    "sh -c 'echo \$\$ > $tmp/p.pid; exec $bin --store $tmp/p.db train $args'"
n=0
while [ $n -lt 300 ] && ! T capture-pane -p -t p | grep -q ' it [1-9]'; do sleep 0.1; n=$((n + 1)); done
pid=$(cat "$tmp/p.pid" 2> /dev/null)
T kill-server
if [ -n "$pid" ] && tenths=$(gone "$pid") && found=$(stopped_ok "$tmp/p.db"); then
    pass "headless_train_terminal_gone_checkpoints (gone in $tenths/10 s, $found)"
else
    fail headless_train_terminal_gone_checkpoints "pid '$pid', $(stopped_ok "$tmp/p.db")"
fi
if "$bin" --store "$tmp/p.db" train --resume 1 --threads 1 > /dev/null 2> "$tmp/p.err" &&
    [ "$(digest "$tmp/p.db")" = "$ref" ]; then
    pass headless_train_terminal_gone_resume_bit_identical
else
    fail headless_train_terminal_gone_resume_bit_identical "$(tail -1 "$tmp/p.err")"
fi

# ---- a run started from the Training screen when the terminal goes away ---------------------
cp "$tmp/base.db" "$tmp/t.db"
T new-session -d -s t -x 80 -y 24 \
    "sh -c 'echo \$\$ > $tmp/t.pid; XDG_STATE_HOME=$tmp/state exec $bin --store $tmp/t.db'"
wait_screen() { # wait_screen SESSION REGEX SECONDS (grep -E)
    i=0
    while [ "$i" -lt $(($3 * 10)) ]; do
        cap "$1" | grep -Eq -- "$2" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
key() { T send-keys -t t "$@"; sleep 0.3; }
wait_screen t 'Loaded' 20 || fail tui_hangup_setup "$(cap t)"
key 4
wait_screen t 'No training runs' 10 || fail tui_hangup_setup "$(cap t)"
key n
wait_screen t 'Start a training run' 5 || fail tui_hangup_setup "$(cap t)"
key Enter
if wait_screen t 'Run 1 .*running' 60 && wait_screen t ' it [1-9]' 60; then :; else
    fail tui_hangup_setup "no iterations: $(cap t)"
fi
pid=$(cat "$tmp/t.pid" 2> /dev/null)
T kill-server
if [ -n "$pid" ] && tenths=$(gone "$pid") && found=$(stopped_ok "$tmp/t.db"); then
    pass "tui_training_terminal_gone_checkpoints (gone in $tenths/10 s, $found)"
else
    fail tui_training_terminal_gone_checkpoints "pid '$pid', $(stopped_ok "$tmp/t.db")"
fi
at=$(sql "$tmp/t.db" "SELECT max(step) FROM run_steps WHERE run_id = 1")
"$bin" --store "$tmp/t.db" train --resume 1 --threads 1 > /dev/null 2> "$tmp/t.err"
rc=$?
st=$(sql "$tmp/t.db" "SELECT status FROM runs WHERE run_id = 1")
end=$(sql "$tmp/t.db" "SELECT max(step) FROM run_steps WHERE run_id = 1")
if [ $rc -eq 0 ] && [ "$st" = done ] && [ "${end:-0}" -gt "${at:-0}" ]; then
    pass "tui_training_resume_finishes (step $at -> $end)"
else
    fail tui_training_resume_finishes "rc $rc, status $st, step $at -> $end: $(tail -1 "$tmp/t.err")"
fi

# ---- a terminal that dies without SIGHUP ----------------------------------------------------
# A pty that is not the process's controlling terminal: closing its master sends no signal;
# the TUI reads end of file / EIO and must leave by itself.
py=$(command -v python3)
if [ -z "$py" ]; then
    skip tui_dead_tty_without_sighup "python3 not installed"
else
    cat > "$tmp/pty.py" << 'EOF'
import os, select, subprocess, sys, time
master, slave = os.openpty()
env = dict(os.environ, TERM="xterm-256color", XDG_STATE_HOME=sys.argv[3])
p = subprocess.Popen([sys.argv[1], "--store", sys.argv[2]], stdin=slave, stdout=slave,
                     stderr=slave, env=env, start_new_session=True)
os.close(slave)
seen, t0 = b"", time.time()
while b"RESEARCH USE ONLY" not in seen and time.time() - t0 < 30:
    r, _, _ = select.select([master], [], [], 0.5)
    if r:
        try:
            seen += os.read(master, 65536)
        except OSError:
            break
if b"RESEARCH USE ONLY" not in seen:
    print("no screen"); p.kill(); sys.exit(1)
os.close(master)
t1 = time.time()
try:
    rc = p.wait(timeout=10)
except subprocess.TimeoutExpired:
    p.kill(); print("still running 10 s after the terminal died"); sys.exit(1)
cpu = os.times().children_user + os.times().children_system
print("exit %d after %.1f s, %.2f s CPU" % (rc, time.time() - t1, cpu))
EOF
    # start_new_session: the pty cannot become the controlling terminal of the child's session
    # unless it opens it as one (it does not), so closing the master sends no SIGHUP
    if out=$("$py" "$tmp/pty.py" "$bin" "$tmp/base.db" "$tmp/state" 2>&1); then
        pass "tui_dead_tty_without_sighup_exits ($out)"
    else
        fail tui_dead_tty_without_sighup_exits "$out"
    fi
fi

# ---- a crash restores the terminal ----------------------------------------------------------
if [ ! -x "$hooks" ]; then
    skip tui_crash_restores_terminal "$hooks not built (make hooks)"
    lib_finish
fi
# Under ASan (the CI's sanitizer stage) the sanitizer would catch the crash first and report
# it; these runs hand the signals to the program's own handler, which is what is tested.
asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0"
asan="$asan:allow_user_segv_handler=1"
for sig in segv abrt; do
    case $sig in segv) want=139 ;; abrt) want=134 ;; esac
    cat > "$tmp/c.sh" << EOF
stty -g > '$tmp/c.before'
env TERM=xterm-256color XDG_STATE_HOME='$tmp/state' PHENOSCOPE_CRASH_AFTER_MS=1500 \
    PHENOSCOPE_CRASH_SIGNAL=$sig ASAN_OPTIONS='$asan' '$hooks' --store '$tmp/base.db'
echo \$? > '$tmp/c.rc'
stty -g > '$tmp/c.after'
sleep 60
EOF
    rm -f "$tmp"/c.rc "$tmp"/c.before "$tmp"/c.after
    T new-session -d -s c -x 80 -y 24 "sh '$tmp/c.sh'"
    wait_screen c 'RESEARCH USE ONLY' 20 || fail "tui_crash_$sig" "no screen: $(cap c)"
    n=0
    while [ $n -lt 150 ] && [ ! -s "$tmp/c.after" ]; do sleep 0.1; n=$((n + 1)); done
    rc=$(cat "$tmp/c.rc" 2> /dev/null)
    alt=$(T display -p -t c '#{alternate_on}')
    cursor=$(T display -p -t c '#{cursor_flag}')
    if [ "$rc" = "$want" ] && cmp -s "$tmp/c.before" "$tmp/c.after" && [ "$alt" = 0 ] &&
        [ "$cursor" = 1 ]; then
        pass "tui_crash_${sig}_restores_terminal (exit $rc, stty -g unchanged, main screen, cursor shown)"
    else
        fail "tui_crash_${sig}_restores_terminal" "exit '$rc' (want $want), alternate_on '$alt', cursor '$cursor', stty $(cat "$tmp/c.before" 2>/dev/null) -> $(cat "$tmp/c.after" 2>/dev/null)"
    fi
    T kill-server
done
lib_finish
