"""The feature front-end written out with numpy and scipy, as an independent
reference for tests/features_reference.rs.

Usage: frontend_reference.py PLAN.json SAMPLES.f32 OUT.f32
       frontend_reference.py --filter-delay PLAN.json

The second form prints the filter chain's delay in seconds: the energy
centre of its impulse response over 4 s.

PLAN.json holds the FrontEndPlan's fields (with "bipolar" pairs replacing the
channels and "extra_bands" beside "band" when given); SAMPLES.f32 is interleaved
little-endian float32 (samples x channels). OUT.f32 receives every stacked
feature vector the streaming front-end emits, frame-major.
"""
import json
import sys

import numpy as np
from scipy import signal


def notch_sos(freq, q, fs):
    # The analog notch (s^2 + W^2) / (s^2 + s W / Q + W^2), its centre
    # pre-warped so the digital notch lands exactly on `freq`, through
    # scipy's bilinear transform.
    w = 2.0 * fs * np.tan(np.pi * freq / fs)
    b, a = signal.bilinear([1.0, 0.0, w * w], [1.0, w / q, w * w], fs)
    return np.concatenate([b, a])


def filter_chain(plan, band=None):
    fs = plan["sample_rate"]
    sections = []
    if plan["line_frequency"] is not None:
        for h in range(1, plan["notch_harmonics"] + 1):
            f = plan["line_frequency"] * h
            if f < 0.45 * fs:
                sections.append(notch_sos(f, plan["notch_q"], fs))
    low, high = band if band is not None else plan["band"]
    order = plan["filter_order"]
    sections.extend(signal.butter(order, low, "highpass", fs=fs, output="sos"))
    sections.extend(signal.butter(order, high, "lowpass", fs=fs, output="sos"))
    return np.array(sections)


def filter_delay(plan):
    fs = plan["sample_rate"]
    impulse = np.zeros(int(np.ceil(4.0 * fs)))
    impulse[0] = 1.0
    h = signal.sosfilt(filter_chain(plan), impulse)
    n = np.arange(len(h))
    return float(np.sum(n * h * h) / np.sum(h * h) / fs)


def main():
    if sys.argv[1] == "--filter-delay":
        print(filter_delay(json.load(open(sys.argv[2]))))
        return
    plan = json.load(open(sys.argv[1]))
    ch = plan["channels"]
    fs = plan["sample_rate"]
    x = np.fromfile(sys.argv[2], dtype="<f4").astype(np.float64).reshape(-1, ch)

    # Non-finite values repeat the channel's last finite value (0 at first).
    last = np.zeros(ch)
    for n in range(x.shape[0]):
        bad = ~np.isfinite(x[n])
        x[n, bad] = last[bad]
        last = x[n].copy()
    pairs = plan.get("bipolar") or []
    if pairs:
        # Each derivation is the first channel minus the second.
        x = np.stack([x[:, a] - x[:, b] for a, b in pairs], axis=1)
    elif plan["common_average_reference"]:
        x = x - x.mean(axis=1, keepdims=True)
    if plan.get("raw_window"):
        # The referenced samples themselves: every hop, the last window of them,
        # z-scored, newest first (samples before the start are zeros).
        if plan["mean"]:
            x = (x - np.array(plan["mean"])) / np.array(plan["std"])
        window = max(int(round(plan["window_s"] * fs)), 1)
        hop = plan["hop_s"] * fs
        out = []
        k = 0
        while int(np.floor((k + 1) * hop)) <= x.shape[0]:
            end = int(np.floor((k + 1) * hop))
            for age in range(window):
                n = end - 1 - age
                out.append(x[n] if n >= 0 else np.zeros(x.shape[1]))
            k += 1
        np.asarray(out, dtype="<f4").tofile(sys.argv[3])
        return
    ch = x.shape[1] * (1 + len(plan.get("extra_bands") or []))

    # One power signal per band, the bands side by side: [band 0 channels, band 1 channels, ...].
    bands = [plan["band"]] + list(plan.get("extra_bands") or [])
    power = np.concatenate(
        [signal.sosfilt(filter_chain(plan, band), x, axis=0) ** 2 for band in bands], axis=1)

    window = max(int(round(plan["window_s"] * fs)), 1)
    hop = plan["hop_s"] * fs
    frames = []
    k = 0
    while True:
        end = int(np.floor((k + 1) * hop))
        if end > power.shape[0]:
            break
        start = max(end - window, 0)
        log_power = np.log(power[start:end].mean(axis=0) + 1e-12)
        if plan["mean"]:
            log_power = (log_power - np.array(plan["mean"])) / np.array(plan["std"])
        frames.append(log_power)
        k += 1

    stride = plan["stride"]
    total = plan["past_frames"] + 1 + plan["future_frames"]
    delay = plan["future_frames"] * stride
    out = []
    for newest in range(delay, len(frames)):
        for slot in range(total):
            age = slot * stride
            out.append(frames[newest - age] if age <= newest else np.zeros(ch))
    np.asarray(out, dtype="<f4").tofile(sys.argv[3])


if __name__ == "__main__":
    main()
