#!/usr/bin/env bash
# NeuroSpeak against the Python pipeline a lab would write (pyxdf, numpy,
# scipy, onnxruntime): same recording, same features, same model, frame by
# frame on one thread. Prints both and the ratios of throughput and of
# per-frame latency (features + decoder; the vocoder is left out of both).
#
# Usage: benches/python_peer.sh [MODEL_DIR] [RECORDING]
# Defaults: models/demo and the demo recording (made if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --release >/dev/null
model=${1:-models/demo}
rec=${2:-out/demo/rec_020.xdf}
[ -f "$rec" ] || target/release/neurospeak synth --out "$(dirname "$rec")" --seed 7 --recordings 1 --first-index 20 >/dev/null
py=$(.local/venv/bin/python benches/python_peer.py "$model" "$rec")
dir=$(mktemp -d)
mkdir -p "$dir/data" && ln -s "$(realpath "$rec")" "$dir/data/"
target/release/neurospeak benchmark --model-path "$model" --data-dir "$dir/data" --num-workers 1 --json "$dir/rust.json" >/dev/null
.local/venv/bin/python - "$dir/rust.json" "$py" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["candidate"]
p = json.loads(sys.argv[2])
lat = r["latency_ms"]
rust_frame = lat["features"]["p50"] + lat["decoder"]["p50"]
rust_rtf = r["realtime_factor"]
print(f"python  : {p['ms_per_frame']['p50']:.3f} ms/frame p50, {p['ms_per_frame']['p99']:.3f} p99, {p['realtime_factor']:.1f}x real time")
print(f"rust    : {rust_frame:.3f} ms/frame p50 (features + decoder), {lat['compute']['p99']:.3f} p99 whole frame incl. vocoder, {rust_rtf:.1f}x real time incl. vocoder")
print(f"ratio   : {p['ms_per_frame']['p50'] / rust_frame:.1f}x lower latency per frame, {rust_rtf / p['realtime_factor']:.1f}x throughput")
PY
rm -rf "$dir"
