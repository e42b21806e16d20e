#!/usr/bin/env bash
# Extract a bundled model as it was at a git revision into a model folder, for benchmarks
# that compare with a previous version:
#   bash scripts/previous_model.sh cells 876619c runs/cells_v040
set -euo pipefail
name=$1 rev=$2 out=$3
cd "$(dirname "$0")/.."
mkdir -p "$out"
git show "$rev:src/cellseg/models/$name.json" > "$out/model.json"
git show "$rev:src/cellseg/models/$name.safetensors" > "$out/model.safetensors"
echo "$name at $rev -> $out"
