# lib.sh — what the end-to-end scripts (tests/e2e_*.sh) share; not a test itself. Sourced
# right after `set -u`:
#
#     . "$(dirname "$0")/lib.sh"
#
# On sourcing it sets
#   bin, hooks   the release program and the hooks build (PHENOSCOPE_BIN, PHENOSCOPE_HOOKS_BIN,
#                else ./phenoscope and build/phenoscope-hooks), as absolute paths
#   failures     0; fail adds one
#   tmp          a fresh directory, removed at exit after the script's on_exit (a script that
#                starts background processes redefines on_exit to stop them)
# and defines
#   pass NAME | fail NAME [WHY] | skip NAME WHY   the PASS / FAIL / SKIP lines tests/run.sh counts
#   lib_finish                  exits: 1 when anything failed, else 0
#   need CMD NAME WHY           without CMD installed: SKIP NAME (WHY) and exit 0; need_hooks
#                               NAME does the same when the hooks build is missing
#   integrity STORE             PRAGMA integrity_check passes (with SQLite 3.40's false alarm)
#   killpoint_hits POINT MAX DB ARGS...   how often one run of `hooks --store DB ARGS` passes
#                               a kill point
#   kill_after SECONDS CMD...   CMD in the background, SIGKILLed after SECONDS
#   tmux_socket NAME, tmux_server NAME   a private tmux server for this script ("tmux" below)
# Deliberately not here: what a script checks, its stores and its timing; each says that itself.
# shellcheck disable=SC2034 # bin, hooks: set here, used by the scripts that source this

case "${PHENOSCOPE_BIN:-./phenoscope}" in
    /*) bin=${PHENOSCOPE_BIN:-./phenoscope} ;;
    *) bin="$(pwd)/${PHENOSCOPE_BIN:-./phenoscope}" ;;
esac
case "${PHENOSCOPE_HOOKS_BIN:-build/phenoscope-hooks}" in
    /*) hooks=${PHENOSCOPE_HOOKS_BIN:-build/phenoscope-hooks} ;;
    *) hooks="$(pwd)/${PHENOSCOPE_HOOKS_BIN:-build/phenoscope-hooks}" ;;
esac
failures=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; failures=$((failures + 1)); }
skip() { echo "SKIP $1: $2"; }
lib_finish() { exit $((failures > 0)); }

# ---- the temporary directory and clean-up ---------------------------------------------------
tmp=$(mktemp -d)
lib_sock=""
on_exit() { :; }
lib_cleanup() {
    on_exit
    if [ -n "$lib_sock" ]; then
        tmux -L "$lib_sock" -f /dev/null kill-server > /dev/null 2>&1
        rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$lib_sock" # kill-server leaves its socket
    fi
    rm -rf "$tmp"
}
trap lib_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

need() { command -v "$1" > /dev/null 2>&1 || { skip "$2" "$3"; exit 0; }; }
need_hooks() { [ -x "$hooks" ] || { skip "$1" "$hooks not built (make hooks)"; exit 0; }; }

# ---- stores ----------------------------------------------------------------------------------
# PRAGMA integrity_check; SQLite 3.40 wrongly reports NULLs in diagnoses.subject_id (a NOT NULL
# column before the key of a WITHOUT ROWID table): such lines count only if a NULL is there.
integrity() {
    ic_r=$(sqlite3 "$1" "PRAGMA integrity_check" 2>&1 | grep -v '^NULL value in diagnoses.subject_id$')
    ic_n=$(sqlite3 "$1" "SELECT count(*) FROM diagnoses WHERE subject_id IS NULL" 2>&1)
    [ "$ic_r" = ok ] || { [ -z "$ic_r" ] && [ "$ic_n" = 0 ]; }
}

# ---- kills -----------------------------------------------------------------------------------
# killpoint_hits POINT MAX DB ARGS...: runs `$hooks --store DB ARGS` on a fresh DB killed at
# POINT's hit 1, 2, ... until one run gets through, and prints how many hits killed it (at most
# MAX): the hits a kill test can aim at. DB and its side files are removed afterwards.
killpoint_hits() {
    kh_point=$1 kh_max=$2 kh_db=$3
    shift 3
    kh_n=0
    while [ $kh_n -lt "$kh_max" ]; do
        rm -f "$kh_db"*
        PHENOSCOPE_KILLPOINT=$kh_point:$((kh_n + 1)) "$hooks" --store "$kh_db" "$@" \
            > /dev/null 2>&1 || {
            kh_n=$((kh_n + 1))
            continue
        }
        break
    done
    rm -f "$kh_db"*
    echo $kh_n
}

# kill_after SECONDS CMD...: runs CMD (output discarded) in the background and SIGKILLs it after
# SECONDS; returns 0 when the kill landed, 1 when CMD had already finished.
kill_after() {
    ka_s=$1
    shift
    "$@" > /dev/null 2>&1 &
    ka_pid=$!
    sleep "$ka_s"
    kill -KILL "$ka_pid" 2> /dev/null
    ka_rc=$?
    wait "$ka_pid" 2> /dev/null
    return $ka_rc
}

# ---- tmux ------------------------------------------------------------------------------------
# tmux_socket NAME: T talks to a tmux server of this script's own (socket ps_e2e_NAME_<pid>, no
# user configuration), killed at exit. tmux_server NAME: the same, started with one idle session
# for the whole test: tmux exits with its last session, and a session started while the old
# server is still shutting down can come up empty on a busy machine. Then:
#   T ARGS...           tmux on that server
#   cap SESSION         the session's screen as text
#   wait_for SESSION REGEX [TENTHS]   until the screen matches (default 30 s: CI machines can be
#                       busy); a program that has exited (a SESSION.rc file in $tmp) stops the wait
#   stable SESSION      until two captures 0.15 s apart agree: never read a half-drawn frame
#   check SESSION TEST REGEX   PASS TEST when the screen comes to match REGEX, else FAIL with it
#   wait_rc SESSION     until the program's wrapper wrote $tmp/SESSION.after (30 s at most)
tmux_socket() { lib_sock="ps_e2e_$1_$$"; }
tmux_server() {
    tmux_socket "$1"
    T new-session -d -s keep "sleep 3600"
}
T() { tmux -L "$lib_sock" -f /dev/null "$@" 2> /dev/null; }
cap() { T capture-pane -p -t "$1"; }
wait_for() {
    wf_n=0
    while [ $wf_n -lt "${3:-300}" ]; do
        cap "$1" | grep -q -- "$2" && return 0
        [ -s "$tmp/$1.rc" ] && { cap "$1" | grep -q -- "$2"; return $?; } # it has exited
        sleep 0.1
        wf_n=$((wf_n + 1))
    done
    return 1
}
stable() {
    st_prev=$(cap "$1")
    st_n=0
    while [ $st_n -lt 30 ]; do
        sleep 0.15
        st_now=$(cap "$1")
        [ "$st_now" = "$st_prev" ] && return 0
        st_prev=$st_now
        st_n=$((st_n + 1))
    done
}
check() {
    if wait_for "$1" "$3" && stable "$1"; then pass "$2"
    else fail "$2" "no /$3/ on screen: $(cap "$1" | head -50)"; fi
}
wait_rc() {
    wr_n=0
    while [ $wr_n -lt 300 ] && [ ! -s "$tmp/$1.after" ]; do
        sleep 0.1
        wr_n=$((wr_n + 1))
    done
    [ -s "$tmp/$1.after" ]
}
