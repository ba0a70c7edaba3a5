#!/bin/sh
# `make parity`: regenerate every PyTorch / scikit-learn reference fixture live and compare.
#
# Protocol: each tests/parity_<name>.py OUTDIR writes OUTDIR/<name>.bin (tests/fixture.py);
# every BUILD/tests/test_parity_* binary then runs against that directory (PS_PARITY_DIR). Any
# generator or comparison failing fails the target. Finally it says, for information only,
# whether the committed fixtures in tests/fixtures/parity are byte-identical to the fresh ones
# (they can differ in the last bits across torch builds or machines; the live comparison is the
# verdict).
# usage: parity.sh BUILD_DIR
set -u
build=$1
py=/usr/bin/python3
if ! $py -c 'import torch, sklearn, numpy' 2>/dev/null; then
    echo "parity: $py cannot import torch, sklearn and numpy (Debian: python3-torch" \
         "python3-sklearn python3-numpy; 'make deps' installs them)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for script in tests/parity_*.py; do
    [ -f "$script" ] || continue
    printf '== %s\n' "$script"
    if ! $py "$script" "$tmp"; then
        echo "FAIL $script: generator failed"
        fail=1
    fi
done
for t in "$build"/tests/test_parity_*; do
    [ -x "$t" ] || continue
    printf '== %s (live fixtures)\n' "$t"
    PS_PARITY_DIR="$tmp" "$t" || fail=1
done
echo
for f in "$tmp"/*.bin; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    if [ ! -f "tests/fixtures/parity/$b" ]; then
        echo "fixture $b: not committed yet (cp $f tests/fixtures/parity/ after review)"
    elif cmp -s "$f" "tests/fixtures/parity/$b"; then
        echo "fixture $b: committed copy identical to the regenerated one"
    else
        echo "fixture $b: committed copy differs from the regenerated one (informational)"
    fi
done
[ $fail -eq 0 ] && echo "parity: all live comparisons passed" || echo "parity: FAILED"
exit $fail
