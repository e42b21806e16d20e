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
python3 benchmarks/model_choice.py > "$out/model_choice.txt" 2>/dev/null
python3 benchmarks/speed_models.py > "$out/speed_models.txt" 2>/dev/null
python3 benchmarks/magnification.py --model he --data ../shared/data/he/monuseg_train --every 1 \
  --factors 0.5 1 2 > "$out/magnification_he_monuseg.txt" 2>/dev/null
# needs the leave-one-source-out model (docs/measurements.md, "Stained tissue"): runs/he_no_monuseg
if [ -d runs/he_no_monuseg ]; then
  python3 benchmarks/generalization.py --he he --he-without-monuseg runs/he_no_monuseg \
    > "$out/generalization.txt" 2>/dev/null
fi
