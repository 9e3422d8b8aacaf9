#!/usr/bin/env bash
# Regenerates models/demo from scratch: a synthetic corpus of 20 recordings
# (seed 7) and an MLP decoder trained on it by `neurospeak train`.
# With --low-latency, models/demo-lowlatency instead, from the same corpus
# with configs/model-lowlatency.yaml (README.md, "Low latency").
# Takes a few minutes on two cores (the low-latency one about twice as long:
# twice the frames). The corpus goes to out/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
config=configs/model.yaml
bundle=models/demo
case "${1:-}" in
  "") ;;
  --low-latency) config=configs/model-lowlatency.yaml bundle=models/demo-lowlatency ;;
  *) echo "usage: scripts/make_demo_model.sh [--low-latency]" >&2; exit 2 ;;
esac
scripts/setup.sh --release
bin=target/release/neurospeak
[ -f out/corpus/rec_019.xdf ] || "$bin" synth --out out/corpus --seed 7 --recordings 20
"$bin" train --data-dir out/corpus --config "$config" --output-dir "$bundle"
