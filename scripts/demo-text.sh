#!/bin/sh
# Trains examples/charlstm.net on the King James Bible (build/data/kjv.txt,
# written by scripts/deps.sh from Debian's bible-kjv) for a few hundred
# steps and prints a sample of what it writes: the built binary's `train`
# and `sample` commands.
# Called by `make demo-text` as: sh scripts/demo-text.sh build/netc [STEPS]
set -eu

if [ $# -lt 1 ]; then
    echo "usage: sh scripts/demo-text.sh path/to/netc [steps]" >&2
    exit 2
fi
netc=$1
steps=${2:-300}
if [ ! -x "$netc" ]; then
    echo "demo-text: $netc is not an executable; run 'make' first" >&2
    exit 2
fi
netc=$(cd "$(dirname "$netc")" && pwd)/$(basename "$netc")
cd "$(dirname "$0")/.."
outdir=$(dirname "$netc")
case $outdir in "$(pwd)"/*) outdir=${outdir#"$(pwd)"/} ;; esac

echo "== netc build examples/charlstm.net -o $outdir/charlstm"
"$netc" build examples/charlstm.net -o "$outdir/charlstm"
echo "== $outdir/charlstm train --steps $steps --save $outdir/charlstm.safetensors"
"$outdir/charlstm" train --steps "$steps" --save "$outdir/charlstm.safetensors"
echo "== $outdir/charlstm sample --load $outdir/charlstm.safetensors --prompt 'In the beginning' --tokens 400 --temperature 0.8 --top-k 40 --seed 1"
"$outdir/charlstm" sample --load "$outdir/charlstm.safetensors" --prompt "In the beginning" --tokens 400 \
    --temperature 0.8 --top-k 40 --seed 1
echo
echo "demo-text: charlstm trained $steps steps; weights in $outdir/charlstm.safetensors."
echo "More steps write better English: $outdir/charlstm train --resume $outdir/charlstm.safetensors --save $outdir/charlstm.safetensors"
