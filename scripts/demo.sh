#!/bin/sh
# Runs the examples through netc: `netc check` on each (its table of
# layers, shapes, parameters and FLOPs), then `netc graph` on LeNet,
# rendered to an SVG next to the netc binary when Graphviz is installed,
# then builds examples/mlp.net into a standalone binary and trains it on
# Fashion-MNIST with its train block (5 epochs, a tenth held out for
# validation), saving the last and the best weights, evaluates the best on
# the test set and draws the training curves with gnuplot.
# Called by `make demo` as: sh scripts/demo.sh build/netc
# Exits non-zero if any example fails to check.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: sh scripts/demo.sh path/to/netc" >&2
    exit 2
fi
netc=$1
if [ ! -x "$netc" ]; then
    echo "demo: $netc is not an executable; run 'make' first" >&2
    exit 2
fi
# Paths in messages read best relative to the project root, so run there.
netc=$(cd "$(dirname "$netc")" && pwd)/$(basename "$netc")
cd "$(dirname "$0")/.."
outdir=$(dirname "$netc")
case $outdir in "$(pwd)"/*) outdir=${outdir#"$(pwd)"/} ;; esac

failed=""
for f in examples/*.net; do
    echo "== netc check $f"
    if ! "$netc" check "$f"; then
        failed="$failed $f"
    fi
    echo
done

echo "== netc graph examples/lenet.net"
dotfile=$outdir/lenet.dot
if "$netc" graph -o "$dotfile" examples/lenet.net; then
    if command -v dot >/dev/null 2>&1; then
        dot -Tsvg "$dotfile" -o "$outdir/lenet.svg"
        echo "LeNet's graph is in $outdir/lenet.svg (Graphviz source: $dotfile)"
    else
        echo "Graphviz source in $dotfile; install graphviz and run: dot -Tsvg $dotfile -o lenet.svg"
    fi
else
    failed="$failed examples/lenet.net(graph)"
fi

if [ -n "$failed" ]; then
    echo "demo: failed:$failed" >&2
    exit 1
fi
echo
echo "demo: every example checks."

echo
echo "== netc build examples/mlp.net -o $outdir/mlp"
"$netc" build examples/mlp.net -o "$outdir/mlp"
echo "== $outdir/mlp train --save $outdir/mlp.safetensors --save-best $outdir/mlp-best.safetensors --log $outdir/mlp-log.csv"
"$outdir/mlp" train --save "$outdir/mlp.safetensors" --save-best "$outdir/mlp-best.safetensors" \
    --log "$outdir/mlp-log.csv"
echo "== $outdir/mlp eval --load $outdir/mlp-best.safetensors"
"$outdir/mlp" eval --load "$outdir/mlp-best.safetensors"
echo "== $outdir/mlp plot $outdir/mlp-log.csv -o $outdir/mlp-curves.png"
"$outdir/mlp" plot "$outdir/mlp-log.csv" -o "$outdir/mlp-curves.png"
echo
echo "demo: examples/mlp.net trained; weights in $outdir/mlp.safetensors (the last) and"
echo "$outdir/mlp-best.safetensors (the best validation evaluation), metrics in $outdir/mlp-log.csv"
echo "(the run's record in $outdir/mlp-log.csv.json), its curves in $outdir/mlp-curves.png"
