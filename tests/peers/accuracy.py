"""Independent figures for tests/accuracy_peers.rs, on real speech.

Usage: accuracy.py CLEAN.wav OUT_DIR

Writes degraded copies of CLEAN.wav (16-bit WAV, 16 kHz) into OUT_DIR and prints,
as JSON, for each: the mel-cepstral distortion by the definition written out here
with numpy/scipy (log-mel analysis as NeuroSpeak documents it, then a DCT-II of the
log amplitude with SPTK's weight), the same distortion from SPTK's own mel-cepstral
analysis (pysptk.mcep, alpha 0.42) of the waveform, and STOI / ESTOI by pystoi.
"""

import json
import os
import sys

import numpy as np
import pysptk
import scipy.fft
import scipy.io.wavfile
import scipy.signal
from pystoi import stoi

SR, N_FFT, WIN, HOP, N_MELS, F_MIN, F_MAX, FLOOR = 16000, 640, 640, 160, 40, 80.0, 7600.0, 1e-6


def read(path):
    rate, x = scipy.io.wavfile.read(path)
    assert rate == SR and x.dtype == np.int16, (rate, x.dtype)
    return x.astype(np.float64) / 32768.0


def write(path, x):
    scipy.io.wavfile.write(path, SR, np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16))


def frames(x):
    """Causal frames: frame k covers samples [(k+1) HOP - WIN, (k+1) HOP), zeros before 0."""
    n = len(x) // HOP
    padded = np.concatenate([np.zeros(WIN - HOP), x])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)
    return np.stack([padded[k * HOP : k * HOP + WIN] * hann for k in range(n)])


def filterbank():
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    edges = hz(np.linspace(mel(F_MIN), mel(F_MAX), N_MELS + 2))
    f = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    w = np.zeros((N_MELS, len(f)))
    for m in range(N_MELS):
        lo, c, hi = edges[m : m + 3]
        w[m] = np.maximum(0.0, np.minimum((f - lo) / (c - lo), (hi - f) / (hi - c)))
    return w


def log_mel(x):
    power = np.abs(np.fft.rfft(frames(x), N_FFT)) ** 2
    return np.log(np.maximum(power @ filterbank().T, FLOOR))


def mel_cepstra(lm, order):
    # SPTK: ln|X(w)| = sum_d c_d cos(d w); with the log amplitude a = lnP / 2 sampled at
    # w_m = pi (m + 1/2) / M, c_d = (2/M) sum_m a_m cos(d w_m) = dct(a) / M (scipy's
    # unnormalised DCT-II carries a factor 2).
    return scipy.fft.dct(0.5 * lm, type=2, axis=1)[:, 1 : order + 1] / lm.shape[1]


def speech_frames(lm):
    energy = 10.0 * np.log10(np.exp(lm).sum(axis=1))
    loud = np.sort(energy)[int(round((len(energy) - 1) * 0.95))]
    silence = 10.0 * np.log10(lm.shape[1] * FLOOR) + 1.0
    return (energy >= loud - 30.0) & (energy > silence)


def mcd(c1, c2):
    return 10.0 / np.log(10.0) * np.sqrt(2.0 * ((c1 - c2) ** 2).sum(axis=1))


def sptk_mcep(x, order=24, alpha=0.42):
    rng = np.random.default_rng(0)
    out = []
    for f in frames(x):
        # mcep needs a power-of-two frame; a tiny dither keeps its normal
        # equations solvable in near-silent frames.
        f = np.concatenate([f, np.zeros(1024 - WIN)]) + 1e-7 * rng.standard_normal(1024)
        try:
            out.append(pysptk.mcep(f, order=order, alpha=alpha, etype=1, eps=1e-8, maxiter=100, min_det=0.0))
        except RuntimeError:
            out.append(np.full(order + 1, np.nan))
    return np.array(out)[:, 1:]


def main():
    clean_path, out_dir = sys.argv[1], sys.argv[2]
    x = read(clean_path)
    rng = np.random.default_rng(1)
    degraded = {
        "noise_10db": x + rng.standard_normal(len(x)) * np.sqrt(np.mean(x**2) / 10.0),
        "lowpass_2khz": scipy.signal.sosfilt(scipy.signal.butter(6, 2000, fs=SR, output="sos"), x),
        "late_50ms": np.concatenate([np.zeros(800), x[:-800]]),
    }
    lx = log_mel(x)
    speech = speech_frames(lx)
    cx = sptk_mcep(x)
    result = {"speech_frames": int(speech.sum()), "frames": int(len(speech)), "cases": {}}
    for name, y in degraded.items():
        path = os.path.join(out_dir, name + ".wav")
        write(path, y)
        y = read(path)
        ly = log_mel(y)
        cy = sptk_mcep(y)
        case = {"wav": path}
        for order in (13, 24):
            d = mcd(mel_cepstra(lx, order), mel_cepstra(ly, order))
            case[f"mcd_c1_{order}_all"] = float(d.mean())
            case[f"mcd_c1_{order}_speech"] = float(d[speech].mean())
            s = mcd(cx[:, :order], cy[:, :order])[speech]
            case[f"sptk_mcep_c1_{order}_speech"] = float(np.nanmean(s))
        case["stoi"] = float(stoi(x, y, SR))
        case["estoi"] = float(stoi(x, y, SR, extended=True))
        result["cases"][name] = case
    print(json.dumps(result))


if __name__ == "__main__":
    main()
