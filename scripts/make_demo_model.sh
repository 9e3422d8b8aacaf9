#!/usr/bin/env bash
# Regenerates models/demo from scratch: a synthetic corpus of 20 recordings
# (seed 7) and an MLP decoder trained on it by `neurospeak train`.
# Takes a few minutes on two cores. The corpus goes to out/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --release
bin=target/release/neurospeak
"$bin" synth --out out/corpus --seed 7 --recordings 20
"$bin" train --data-dir out/corpus --config configs/model.yaml --output-dir models/demo
