#!/usr/bin/env bash
# Runs every benchmark and keeps its output in docs/benchmarks/ (the README quotes these files).
set -uo pipefail
cd "$(dirname "$0")/.."
out=docs/benchmarks
mkdir -p "$out"
python3 benchmarks/accuracy.py --model nuclei > "$out/accuracy_nuclei.txt" 2>/dev/null
python3 benchmarks/accuracy.py --model cells > "$out/accuracy_cells.txt" 2>/dev/null
python3 benchmarks/classical.py > "$out/classical.txt" 2>/dev/null
python3 benchmarks/speed.py > "$out/speed.txt" 2>/dev/null
python3 benchmarks/tracking.py > "$out/tracking.txt" 2>/dev/null
python3 benchmarks/large.py --size 20000 > "$out/large.txt" 2>/dev/null
python3 benchmarks/large.py --size 8000 > "$out/large_dask.txt" 2>/dev/null
python3 benchmarks/large.py --size 8000 --workers 2 >> "$out/large_dask.txt" 2>/dev/null
