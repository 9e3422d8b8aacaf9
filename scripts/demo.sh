#!/usr/bin/env bash
# The main job, live: the held-out demo EEG recording is served as a Lab
# Streaming Layer stream by `neurospeak stream-file` and decoded live by
# `neurospeak run` with the shipped demo model, into speech on the sound
# device (or, without one, the clock-paced null sink and a WAV file), with a
# status line every few seconds and a latency report at the end.
# LSL stays on this machine: both processes use configs/lsl_loopback.cfg.
# No amplifier and no sound card needed. Outputs go to out/demo/.
# MODEL=models/demo-lowlatency runs the low-latency profile instead; CHUNK_MS
# sets the source's chunk interval (default 10 ms; amplifiers often push 1 ms).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --release
bin=target/release/neurospeak
model=${MODEL:-models/demo}
out=out/demo
rec=$out/rec_020.xdf
export LSLAPICFG="$PWD/configs/lsl_loopback.cfg"
if [ ! -f "$rec" ]; then
  # Recording 20 of the demo participant (seed 7): the model was trained on
  # recordings 0-19 (17 train, 1 validation, 2 held out), so this one is new.
  echo "[demo] generating the demo recording (deterministic: seed 7, index 20)"
  "$bin" synth --out "$out" --seed 7 --recordings 1 --first-index 20
fi
# The recording's length, from `inspect` ("eeg ... N samples, S s").
seconds=$("$bin" inspect "$rec" | awk '/^eeg/ { print $(NF-1) }')
name="neurospeak-demo-$$"
"$bin" stream-file "$rec" --name "$name" --wait-for-consumer --chunk-ms "${CHUNK_MS:-10}" --lsl-local &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
# The sound device when there is one, else the headless sink.
audio=default
grep -q '^ *[0-9]' /proc/asound/cards 2>/dev/null || audio=null
echo "[demo] decoding live from LSL stream $name (audio: $audio) for ${seconds} s"
"$bin" run --model "$model" --stream "$name" --audio "$audio" \
  --wav "$out/decoded.wav" --report "$out/report.json" --csv "$out/frames.csv" \
  --duration "$(awk -v s="$seconds" 'BEGIN { print s + 0.5 }')" --status-every 3 --lsl-local
echo
# Accuracy needs the speech paired with the recording, which a live stream
# does not carry: the same recording decoded from the file gives it, with
# the real-time factor of decoding as fast as possible.
echo "[demo] the same recording decoded from the file, against its paired speech"
"$bin" replay --model "$model" --input "$rec" --out "$out/replay.wav" \
  --report "$out/replay_report.json"
echo
echo "decoded speech (live):   $out/decoded.wav"
echo "live report:             $out/report.json"
echo "frame stamps:            $out/frames.csv"
echo "offline replay + report: $out/replay.wav, $out/replay_report.json"
