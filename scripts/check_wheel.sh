#!/usr/bin/env bash
# The wheel installs and runs offline: build it, install it into a fresh virtual environment
# (torch==2.13.0 first, then the wheel with its dependencies), then segment the bundled
# samples there with the network cut off (`unshare -n`, as root) and from outside the source
# tree, so nothing but the installed package and its bundled models can be used.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip wheel -q --no-deps . -w "$tmp/dist"
wheel=$(ls "$tmp"/dist/*.whl)
python3 - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
models = sorted(n for n in names if n.startswith("cellseg/models/"))
assert any(n.endswith(".safetensors") for n in models), models
print("wheel:", sys.argv[1].rsplit("/", 1)[-1], "bundles", ", ".join(m.rsplit("/", 1)[-1] for m in models))
PY
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q "torch==2.13.0"
"$tmp/venv/bin/pip" install -q "$wheel"
cd "$tmp"
run=("$tmp/venv/bin/cellseg" segment "$src/samples/images" -o "$tmp/out" -q)
if unshare -n true 2>/dev/null; then
  unshare -n "${run[@]}"
  echo "segmented the samples from the installed wheel with no network"
else
  "${run[@]}"
  echo "segmented the samples from the installed wheel (could not cut the network here)"
fi
test "$(tail -n +2 "$tmp/out/summary.csv" | wc -l)" -eq "$(ls "$src/samples/images" | wc -l)"
