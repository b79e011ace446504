#!/bin/sh
# Installs the Debian packages netc needs to build, test and run its demo.
# As root it installs what is missing; otherwise it prints the exact
# apt-get line and fails, so nothing is half-installed silently.
set -u
# With arguments, installs those packages instead (make bench-compare).
PKGS="gcc make flex bison libgccjit-12-dev check pkg-config zlib1g-dev libjansson-dev libpng-dev nettle-dev graphviz gnuplot-nox valgrind dataset-fashion-mnist"
[ $# -gt 0 ] && PKGS="$*"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "netc: installing missing packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || exit 1
    apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
        echo "netc: apt-get install failed for:$missing" >&2; exit 1; }
else
    echo "netc: missing packages:$missing" >&2
    echo "netc: run as root:  apt-get install -y$missing" >&2
    exit 1
fi
