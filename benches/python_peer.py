"""The pipeline a lab would otherwise write in Python, for a side-by-side
comparison with NeuroSpeak (run by benches/python_peer.sh).

Same recording (pyxdf), same front-end settings (read from the bundle's
neurospeak.yaml: common average reference, line notches, Butterworth
high-gamma band-pass, 50 ms windows every 10 ms, log, z-score, context
stacking), same ONNX model (onnxruntime, one thread), frame by frame as a
live session would run it. The vocoder is left out on both sides: the
comparison is features + decoder per frame. Prints one JSON line.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort
import pyxdf
import yaml
from scipy import signal


def main(bundle_dir, recording):
    m = yaml.safe_load(open(f"{bundle_dir}/neurospeak.yaml"))
    f = m["features"]
    streams, _ = pyxdf.load_xdf(recording, dejitter_timestamps=False)
    eeg = next(s for s in streams if s["info"]["type"][0].lower() == "eeg")
    x = np.asarray(eeg["time_series"], dtype=np.float64)
    rate = float(eeg["info"]["nominal_srate"][0])
    ch = x.shape[1]

    sos = [signal.butter(f["filter_order"], f["band_hz"][0], "highpass", fs=rate, output="sos"),
           signal.butter(f["filter_order"], f["band_hz"][1], "lowpass", fs=rate, output="sos")]
    line = f.get("line_frequency_hz")
    if line:
        for h in range(1, f["notch_harmonics"] + 1):
            if h * line < 0.45 * rate:
                b, a = signal.iirnotch(h * line, 30.0, fs=rate)
                sos.insert(0, signal.tf2sos(b, a))
    sos = np.vstack(sos)
    zi = np.zeros((sos.shape[0], 2, ch))
    win = int(round(f["window_ms"] / 1000 * rate))
    hop = f["hop_ms"] / 1000 * rate
    ctx = f["context"]
    past, stride = ctx["past_frames"], ctx["stride"]
    mean = np.asarray(f["normalization"]["mean"])
    std = np.asarray(f["normalization"]["std"])
    history = np.zeros((past * stride + 1, ch), dtype=np.float32)

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(f"{bundle_dir}/{m['decoder']['file']}", opts)
    name = sess.get_inputs()[0].name

    power = np.zeros((0, ch))
    times = []
    start = time.perf_counter()
    pos, k = 0, 0
    n = x.shape[0]
    while True:
        end = int(np.floor((k + 1) * hop))
        if end > n:
            break
        t0 = time.perf_counter()
        chunk = x[pos:end]
        chunk = chunk - chunk.mean(axis=1, keepdims=True)
        y, zi = signal.sosfilt(sos, chunk, axis=0, zi=zi)
        power = np.vstack([power, y * y])[-win:]
        feat = ((np.log(power.mean(axis=0) + 1e-12) - mean) / std).astype(np.float32)
        history = np.roll(history, 1, axis=0)
        history[0] = feat
        stacked = history[::stride].reshape(1, -1)
        sess.run(None, {name: stacked})
        times.append(time.perf_counter() - t0)
        pos, k = end, k + 1
    wall = time.perf_counter() - start
    t = np.asarray(times) * 1000
    print(json.dumps({
        "frames": k,
        "signal_seconds": n / rate,
        "wall_seconds": wall,
        "realtime_factor": n / rate / wall,
        "frames_per_second": k / wall,
        "ms_per_frame": {"p50": float(np.percentile(t, 50)), "p99": float(np.percentile(t, 99)),
                         "max": float(t.max())},
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
