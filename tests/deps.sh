#!/bin/sh
# Install the Debian packages phenoscope needs, only those missing.
# usage: deps.sh REQUIRED... -- OPTIONAL...
# REQUIRED failures stop the build; OPTIONAL ones (parity, terminal screenshots, Slurm) only warn,
# and the tests that need them say they were skipped.
set -u
req=""; opt=""; seen_sep=0
for a in "$@"; do
    if [ "$a" = "--" ]; then seen_sep=1; continue; fi
    if [ $seen_sep -eq 0 ]; then req="$req $a"; else opt="$opt $a"; fi
done
missing() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}
need_req=$(missing $req)
need_opt=$(missing $opt)
[ -z "$need_req$need_opt" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"
else
    if [ -n "$need_req" ]; then
        echo "deps: missing Debian packages:" $need_req >&2
        echo "deps: not root and no sudo; install them with: apt-get install" $need_req >&2
        exit 1
    fi
    echo "deps: optional packages missing (some tests will skip):" $need_opt >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "deps: installing:" $need_req $need_opt >&2
# An old package list makes installs fail; refresh it once per set-up.
$SUDO apt-get update -qq >/dev/null 2>&1 || echo "deps: apt-get update failed; trying the cached list" >&2
if [ -n "$need_req" ]; then
    $SUDO apt-get install -y -qq --no-install-recommends $need_req >&2 || {
        echo "deps: could not install required packages:" $need_req >&2; exit 1; }
fi
if [ -n "$need_opt" ]; then
    $SUDO apt-get install -y -qq --no-install-recommends $need_opt >&2 ||
        echo "deps: optional packages not installed (some tests will skip):" $need_opt >&2
fi
exit 0
