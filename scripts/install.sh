#!/usr/bin/env bash
# Installs cellseg and everything it needs on a fresh machine (CPU only).
# torch is installed first, pinned, so that nothing pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q "torch==2.13.0"
python3 -m pip install -q -e ".[test,napari,formats,pretrained]"
