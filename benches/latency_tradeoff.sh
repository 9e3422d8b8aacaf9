#!/usr/bin/env bash
# The latency / intelligibility trade-off, from today's settings to the
# lowest: for each setting below, trains a decoder on the demo corpus
# (out/corpus, made if missing), scores it on the two held-out recordings
# with `benchmark` (Pearson r, spectral-shape r, MCD, STOI, WER, and the same
# for copy synthesis: the true log-mel through that setting's vocoder, the
# ceiling a decoder cannot beat), then runs it live for SECONDS on loopback
# LSL with 1 ms chunks and 2.5 ms sink blocks (benches/live_session.sh) for
# sensor-to-sound p50/p99.
# Prints a Markdown table and writes it to out/tradeoff/tradeoff.md.
#
# Two more rows score the shipped bundles as they are (no training):
# shipped-demo (models/demo) and shipped-lowlatency (models/demo-lowlatency).
#
# Usage: benches/latency_tradeoff.sh [SECONDS]      (default 60)
# DECODER=ridge trains the closed-form ridge decoder for every setting (a
# minute each) instead of each configuration's MLP (five to ten minutes each
# on two cores). SETTINGS="default low-latency shipped-demo" runs only those.
# REUSE=1 keeps a setting's bundle from an earlier run instead of training it
# again. SECONDS 0 skips the live sessions (the live columns say n/a).
# TABLE_ONLY=1 prints the table of the last run again.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
scripts/setup.sh --release >/dev/null
bin=target/release/neurospeak
py=.local/venv/bin/python
out=out/tradeoff
corpus=out/corpus
[ -f "$corpus/rec_019.xdf" ] || "$bin" synth --out "$corpus" --seed 7 --recordings 20 >/dev/null
mkdir -p "$out/heldout"
# `train` holds out the last two recordings by name (holdout_recordings: 2).
for r in rec_018.xdf rec_019.xdf; do ln -sf "../../corpus/$r" "$out/heldout/$r"; done

# Each setting: a base configuration and the fields it changes.
"$py" - "$out" "${DECODER:-}" <<'PY'
import copy, sys, yaml
out, decoder = sys.argv[1], sys.argv[2]
default = yaml.safe_load(open("configs/model.yaml"))
low = yaml.safe_load(open("configs/model-lowlatency.yaml"))
lean = {"window_ms": 20, "filter_order": 2, "notch_harmonics": 1}
short_vocoder = {"lookahead_frames": 0, "window_ms": 20, "iterations": 4}
settings = {
    "default": (default, {}, {}),
    "vocoder-10ms": (default, {}, short_vocoder),
    "front-end-lean": (default, lean, short_vocoder),
    "vocoder-15ms-window": (low, {}, {"window_ms": 15}),
    "low-latency": (low, {}, {}),
    "lowest": (low, {"window_ms": 8, "line_frequency_hz": None}, {}),
}
for name, (base, features, vocoder) in settings.items():
    cfg = copy.deepcopy(base)
    cfg["features"].update(features)
    cfg["vocoder"].update(vocoder)
    if decoder:
        cfg["decoder"] = decoder
    with open(f"{out}/{name}.yaml", "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
for name, base in (("shipped-demo", default), ("shipped-lowlatency", low)):
    with open(f"{out}/{name}.yaml", "w") as f:
        yaml.safe_dump(base, f, sort_keys=False)
PY

all="default vocoder-10ms front-end-lean vocoder-15ms-window low-latency lowest shipped-demo shipped-lowlatency"
export LSLAPICFG="$PWD/configs/lsl_loopback.cfg"
for name in ${SETTINGS:-$all}; do
  [ "${TABLE_ONLY:-0}" = 1 ] && break
  case "$name" in
    shipped-demo) dir=models/demo ;;
    shipped-lowlatency) dir=models/demo-lowlatency ;;
    *) dir="$out/$name" ;;
  esac
  if [ "$dir" = "$out/$name" ] && { [ "${REUSE:-0}" != 1 ] || [ ! -f "$dir/neurospeak.yaml" ]; }; then
    echo "== $name: train" >&2
    "$bin" train --data-dir "$corpus" --config "$out/$name.yaml" --output-dir "$dir" \
      2>"$out/$name.train.log" || { cat "$out/$name.train.log" >&2; exit 1; }
  fi
  echo "== $name: held-out accuracy and WER" >&2
  "$bin" benchmark --model-path "$dir" --data-dir "$out/heldout" --num-workers 1 \
    --json "$out/$name.benchmark.json" >"$out/$name.benchmark.txt"
  rm -f "$out/$name.live.json"
  if [ "$seconds" != 0 ]; then
    echo "== $name: live, $seconds s, 1 ms chunks" >&2
    # 2.5 ms sink blocks, which divide both hops (README, "Low latency").
    CHUNK_MS=1 benches/live_session.sh "$seconds" "$dir" --block 40 >"$out/$name.live.txt"
    cp out/live_session_report.json "$out/$name.live.json"
  fi
done

"$py" - "$out" ${SETTINGS:-$all} <<'PY'
import json, sys, yaml
out, names = sys.argv[1], sys.argv[2:]
def pct(v):
    return "n/a" if v is None else f"{100 * v:.1f} %"
def num(v, d=3):
    return "n/a" if v is None else f"{v:.{d}f}"
head = ("| setting | decoder | front-end (window / order / notches) | vocoder (hop / window / look-ahead) "
        "| fixed delay ms | live sensor→sound p50 / p99 ms | underruns | r | shape r | MCD c1-13 speech dB "
        "| STOI | WER | copy-synthesis STOI | copy-synthesis WER |")
rows = [head, "|" + "---|" * (head.count("|") - 1)]
for name in names:
    cfg = yaml.safe_load(open(f"{out}/{name}.yaml"))
    b = json.load(open(f"{out}/{name}.benchmark.json"))
    try:
        live = json.load(open(f"{out}/{name}.live.json"))
    except FileNotFoundError:
        live = None
    acc = b["candidate"]["accuracy"]
    wer = b["wer"]
    f, v = cfg["features"], cfg["vocoder"]
    fixed = b["candidate"]["latency_ms"]["algorithmic"]
    if live:
        s2s = live["latency_ms"]["sensor_to_sound"]
        s2s, underruns = f"{s2s['p50']:.1f} / {s2s['p99']:.1f}", live["faults"]["underruns"]
    else:
        s2s, underruns = "n/a", "n/a"
    notches = f["notch_harmonics"] if f.get("line_frequency_hz") else 0
    rows.append(
        f"| {name} | {cfg['decoder']} | {f['window_ms']} ms / {f['filter_order']} / {notches} "
        f"| {f['hop_ms']} / {v.get('window_ms', 40)} / {v['lookahead_frames']} "
        f"| {fixed:.1f} | {s2s} | {underruns} "
        f"| {num(acc['pearson_r'])} | {num(acc['spectral_shape_r'])} "
        f"| {num(acc['mcd_db']['speech_frames']['c1_13'], 2)} | {num(acc['stoi'])} | {pct(wer.get('candidate'))} "
        f"| {num(acc['copy_synthesis']['stoi'])} | {pct(wer.get('copy_synthesis'))} |"
    )
truth = pct(json.load(open(f"{out}/{names[0]}.benchmark.json"))["wer"].get("truth"))
rows.append("")
rows.append(f"WER of the true speech (the recogniser's own errors): {truth}.")
text = "\n".join(rows)
open(f"{out}/tradeoff.md", "w").write(text + "\n")
print(text)
PY
