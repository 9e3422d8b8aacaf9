#!/usr/bin/env bash
# A real-time live session on loopback LSL: the demo recording served in a
# loop by `stream-file`, decoded by `run` with the demo model (or MODEL) into
# the clock-paced null sink, for SECONDS (default 600). Prints sensor-to-sound
# (what the participant hears) with its budget, compute, arrival-to-playback and
# transport latency p50/p99/max, faults and peak memory; then
# replays the session's frames (its --csv) through the player at 20 offsets
# of the sink's block grid (benches/grid_phases.rs): with the null sink and
# stream-file on one clock, where the blocks fall against the frames is one
# draw per session, worth up to 2 ms. stream-file starts before the session
# (no --wait-for-consumer), so that draw is a random one. SOURCE=pylsl serves
# the recording with benches/pylsl_source.py (liblsl 1.18) instead; CHUNK_MS
# sets the source's chunk interval (default 10 ms; amplifiers often push 1 ms);
# SOURCE_RT=1 serves it from a SCHED_FIFO thread (stream-file --realtime), as an
# amplifier's own clock would be.
# AUDIO=alsa:null plays through cpal on ALSA's discard device instead of the
# null sink (no grid sweep then). LSL stays on this machine
# (configs/lsl_loopback.cfg). BIN runs another neurospeak binary (e.g. a copy
# built from another commit, for an A/B comparison) instead of building and
# running target/release/neurospeak.
#
# Usage: benches/live_session.sh [SECONDS] [MODEL] [RUN OPTIONS...]
# e.g.   benches/live_session.sh 60 models/demo --margin-ms 2 --pin-cores 1,0
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
model=${2:-models/demo}
shift $(( $# < 2 ? $# : 2 ))
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  scripts/setup.sh --release >/dev/null
  bin=target/release/neurospeak
fi
export LSLAPICFG="$PWD/configs/lsl_loopback.cfg"
rec=out/demo/rec_020.xdf
[ -f "$rec" ] || "$bin" synth --out out/demo --seed 7 --recordings 1 --first-index 20 >/dev/null
name="neurospeak-bench-$$"
report=out/live_session_report.json
frames=out/live_session_frames.csv
if [ "${SOURCE:-stream-file}" = pylsl ]; then
  .local/venv/bin/python benches/pylsl_source.py "$rec" "$name" "${CHUNK_MS:-10}" &
else
  "$bin" stream-file "$rec" --name "$name" --loop --chunk-ms "${CHUNK_MS:-10}" --lsl-local \
    ${SOURCE_RT:+--realtime} >/dev/null &
fi
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
"$bin" run --model "$model" --stream "$name" --audio "${AUDIO:-null}" --duration "$seconds" \
  --report "$report" --csv "$frames" --status-every 30 --lsl-local "$@"
python3 - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r["latency_ms"]
for k in ("sensor_to_sound", "compute", "arrival_to_playback", "transport"):
    s = lat[k]
    print(f"{k:<19} p50 {s['p50']:.3f} ms  p99 {s['p99']:.3f} ms  max {s['max']:.3f} ms")
print("sensor_to_sound budget (ms):")
for p in lat["budget"]["parts"]:
    how = "per frame" if p["measured_per_frame"] else "fixed"
    print(f"  {p['part']:<18} mean {p['mean']:7.3f}  p50 {p['p50']:7.3f}  p99 {p['p99']:7.3f}  ({how})")
print(f"  {'sum of means':<18} {lat['budget']['sum_of_means']:.3f} (sensor_to_sound mean {lat['sensor_to_sound']['mean']:.3f})")
print(f"algorithmic {lat['algorithmic']:.1f} ms (the fixed parts; inside sensor_to_sound only)")
print("faults     ", r["faults"])
p = r["playout"]
print(f"playout     {p['sink']} sink, {p['block_samples']}-sample blocks ({p['block_ms']:.2f} ms), "
      f"margin floor {p['margin_floor_ms']:.2f} start {p['margin_start_ms']:.2f} "
      f"final {p['margin_final_ms']:.2f} peak {p['margin_peak_ms']:.2f} ms, "
      f"{p['margin_raises']} raises ({'adaptive' if p['margin_adaptive'] else 'fixed'})")
print(f"frames {r['frames']}, peak memory {r['memory']['peak_rss_mb']:.1f} MB")
PY
[ "${AUDIO:-null}" = null ] || exit 0
# The sweep uses run's defaults unless the options said otherwise.
margin=- block=auto fixed=adaptive
args=("$@")
for i in "${!args[@]}"; do
  case "${args[$i]}" in
    --margin-ms) margin=${args[$((i + 1))]} ;;
    --block) block=${args[$((i + 1))]} ;;
    --fixed-margin) fixed=fixed ;;
  esac
done
cargo bench -q --bench grid_phases -- "$frames" "$margin" "$block" "$fixed" "$model" | tail -n 1
