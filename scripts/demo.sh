#!/usr/bin/env bash
# The main job: set up, then decode a held-out synthetic EEG recording with the
# shipped demo model into speech (WAV) and a latency/accuracy report.
# No amplifier and no sound card needed. Outputs go to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --release
bin=target/release/neurospeak
out=out/demo
rec=$out/rec_020.xdf
if [ ! -f "$rec" ]; then
  # Recording 20 of the demo participant (seed 7): the model was trained on
  # recordings 0-19 (17 train, 1 validation, 2 held out), so this one is new.
  echo "[demo] generating the demo recording (deterministic: seed 7, index 20)"
  "$bin" synth --out "$out" --seed 7 --recordings 1 --first-index 20
fi
"$bin" replay --model models/demo --input "$rec" --out "$out/decoded.wav" --report "$out/report.json"
echo
echo "decoded speech: $out/decoded.wav"
echo "report:         $out/report.json"
