#!/bin/sh
# Run every test binary (cmocka) and every end-to-end script, then print one closing line
# "N passed, N failed, N skipped" that counts individual tests across all of them.
# usage: run.sh BUILD_DIR TEST_BIN...
set -u
build=$1; shift
passed=0; failed=0; skipped=0; bad=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export PHENOSCOPE_BIN="${PHENOSCOPE_BIN:-$(pwd)/phenoscope}"
[ "$build" = "build" ] || PHENOSCOPE_BIN="$(pwd)/$build/phenoscope"
# The same program with kill points and fault injection compiled in (Makefile: hooks).
export PHENOSCOPE_HOOKS_BIN="${PHENOSCOPE_HOOKS_BIN:-$(pwd)/$build/phenoscope-hooks}"
# PS_NO_E2E=1: only the test binaries named (the TSan run of the threaded tests).
e2e=$(ls tests/e2e_*.sh 2>/dev/null)
[ "${PS_NO_E2E:-0}" = 1 ] && e2e=""
# Tests must not see the user's store or state.
export XDG_DATA_HOME="$(mktemp -d)" XDG_STATE_HOME="$(mktemp -d)"
unset PHENOSCOPE_STORE
for t in "$@" $e2e; do
    case "$t" in *.sh) cmd="sh $t";; *) cmd="$t";; esac
    printf '== %s\n' "$t"
    timeout 900 $cmd > "$log" 2>&1; rc=$?
    cat "$log"
    # cmocka: "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)" / "[  SKIPPED ] N test(s)"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
    # end-to-end scripts: "PASS name", "FAIL name", "SKIP name: why"
    p=$((p + $(grep -c '^PASS ' "$log")))
    f=$((f + $(grep -c '^FAIL ' "$log")))
    s=$((s + $(grep -c '^SKIP ' "$log")))
    if [ $rc -ne 0 ] && [ $f -eq 0 ]; then f=1; fi   # a crash or timeout counts as a failure
    [ $rc -ne 0 ] || [ $f -ne 0 ] && bad="$bad $t"
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done
echo
[ -n "$bad" ] && echo "failing:$bad"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ -z "$bad" ]
