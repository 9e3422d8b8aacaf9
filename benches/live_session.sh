#!/usr/bin/env bash
# A real-time live session on loopback LSL: the demo recording served in a
# loop by `stream-file`, decoded by `run` with the demo model (or MODEL) into
# the clock-paced null sink, for SECONDS (default 600). Prints compute,
# end-to-end and transport latency p50/p99/max, faults and peak memory; then
# replays the session's frames (its --csv) through the player at 20 offsets
# of the sink's block grid (benches/grid_phases.rs): with the null sink and
# stream-file on one clock, where the blocks fall against the frames is one
# draw per session, worth up to 2 ms. stream-file starts before the session
# (no --wait-for-consumer), so that draw is a random one. SOURCE=pylsl serves
# the recording with benches/pylsl_source.py (liblsl 1.18) instead.
# LSL stays on this machine (configs/lsl_loopback.cfg).
#
# Usage: benches/live_session.sh [SECONDS] [MODEL] [RUN OPTIONS...]
# e.g.   benches/live_session.sh 60 models/demo --margin-ms 2 --pin-cores 1,0
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
model=${2:-models/demo}
shift $(( $# < 2 ? $# : 2 ))
scripts/setup.sh --release >/dev/null
bin=target/release/neurospeak
export LSLAPICFG="$PWD/configs/lsl_loopback.cfg"
rec=out/demo/rec_020.xdf
[ -f "$rec" ] || "$bin" synth --out out/demo --seed 7 --recordings 1 --first-index 20 >/dev/null
name="neurospeak-bench-$$"
report=out/live_session_report.json
frames=out/live_session_frames.csv
if [ "${SOURCE:-stream-file}" = pylsl ]; then
  .local/venv/bin/python benches/pylsl_source.py "$rec" "$name" &
else
  "$bin" stream-file "$rec" --name "$name" --loop --lsl-local >/dev/null &
fi
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
"$bin" run --model "$model" --stream "$name" --audio null --duration "$seconds" \
  --report "$report" --csv "$frames" --status-every 30 --lsl-local "$@"
python3 - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r["latency_ms"]
for k in ("compute", "end_to_end", "transport"):
    s = lat[k]
    print(f"{k:<11} p50 {s['p50']:.3f} ms  p99 {s['p99']:.3f} ms  max {s['max']:.3f} ms")
print(f"algorithmic {lat['algorithmic']:.1f} ms (fixed; not included in the figures above)")
print("faults     ", r["faults"])
print(f"frames {r['frames']}, peak memory {r['memory']['peak_rss_mb']:.1f} MB")
PY
margin=() # the sweep uses run's default margin unless one was given
args=("$@")
for i in "${!args[@]}"; do
  if [ "${args[$i]}" = --margin-ms ]; then margin=("${args[$((i + 1))]}"); fi
done
cargo bench -q --bench grid_phases -- "$frames" "${margin[@]}" | tail -n 1
