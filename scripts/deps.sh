#!/bin/sh
# Installs the Debian packages netc needs to build, test and run its demo.
# As root it installs what is missing; otherwise it prints the exact
# apt-get line and fails, so nothing is half-installed silently.
set -u
# With arguments, installs those packages instead (make bench-compare).
# Without, it then writes the text corpus of the language-model examples
# (see write_corpus below).
PKGS="gcc make flex bison libgccjit-12-dev check pkg-config zlib1g-dev libjansson-dev libpng-dev nettle-dev graphviz gnuplot-nox valgrind dataset-fashion-mnist bible-kjv libopenmpi-dev openmpi-bin"
corpus=1
[ $# -gt 0 ] && PKGS="$*" && corpus=0

# The King James Bible as plain text, for examples/charlstm.net and gpt.net
# (text("kjv.txt", ...)): one verse per line, without its reference (`bible
# -f` prints "Ge1:1 In the beginning ..."; the first word goes), 4,137,850
# ASCII bytes. It goes to $BUILD/data (build/data by default), the data
# folder every program linked against that build's libnetrt searches
# (docs/binary.md, "Data files"); it is written once, atomically.
write_corpus() {
    [ "$corpus" = 1 ] || return 0
    dir=${BUILD:-build}/data
    [ -s "$dir/kjv.txt" ] && return 0
    command -v bible >/dev/null 2>&1 || { echo "netc: 'bible' (package bible-kjv) not found" >&2; return 1; }
    mkdir -p "$dir" || return 1
    bible -f Gen1:1-Rev22:21 | sed 's/^[^ ]* //' > "$dir/kjv.txt.tmp" &&
        [ "$(wc -c < "$dir/kjv.txt.tmp")" -gt 4000000 ] &&
        mv "$dir/kjv.txt.tmp" "$dir/kjv.txt" || {
        rm -f "$dir/kjv.txt.tmp"; echo "netc: could not write $dir/kjv.txt from bible-kjv" >&2; return 1; }
    echo "netc: wrote $dir/kjv.txt (the King James Bible, for the text examples)"
}

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then write_corpus; exit $?; fi
if [ "$(id -u)" = 0 ]; then
    echo "netc: installing missing packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || exit 1
    apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
        echo "netc: apt-get install failed for:$missing" >&2; exit 1; }
    write_corpus || exit 1
else
    echo "netc: missing packages:$missing" >&2
    echo "netc: run as root:  apt-get install -y$missing" >&2
    exit 1
fi
