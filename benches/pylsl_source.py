"""A recording's EEG served over LSL by pylsl (liblsl 1.18) instead of
`stream-file` (the liblsl 1.13 that the `lsl` crate bundles, whose outlet
sends queued samples from a loop of 1 ms sleeps): chunks paced by the clock
(10 ms, or CHUNK_MS), nominal timestamps, looping. benches/live_session.sh uses it with
SOURCE=pylsl. LSL stays on this machine: run it with LSLAPICFG set to
configs/lsl_loopback.cfg (the bench does).

Usage: pylsl_source.py RECORDING.xdf STREAM_NAME [CHUNK_MS]
"""
import os
import sys
import time

import numpy as np
import pylsl
import pyxdf


def main(path, name, chunk_ms=10.0):
    if not os.path.isfile(os.environ.get("LSLAPICFG", "")):
        sys.exit("LSLAPICFG must name the loopback config (configs/lsl_loopback.cfg)")
    streams, _ = pyxdf.load_xdf(path, dejitter_timestamps=False)
    eeg = next((s for s in streams if s["info"]["type"][0].lower() == "eeg"), None)
    if eeg is None:
        sys.exit(f"{path}: no stream of type EEG; serve a recording with an EEG stream")
    x = np.asarray(eeg["time_series"], dtype=np.float32)
    rate = float(eeg["info"]["nominal_srate"][0])
    info = pylsl.StreamInfo(name, "EEG", x.shape[1], rate, "float32", name + "-pylsl")
    outlet = pylsl.StreamOutlet(info, 0, 10)
    interval = chunk_ms / 1000.0
    if not 0.0001 <= interval <= 1.0:
        sys.exit(f"CHUNK_MS must be between 0.1 and 1000, found {chunk_ms}")
    t0, l0 = time.monotonic(), pylsl.local_clock()
    sent, tick = 0, 0
    while True:
        # Chunks are cut at nominal ticks, like stream-file's (and an
        # amplifier's), not at the wake-up time.
        due = int(tick * interval * rate + 1e-6) + 1
        if due > sent:
            chunk = x[np.arange(sent, due) % len(x)]
            outlet.push_chunk(chunk, l0 + (due - 1) / rate, True)
            sent = due
        tick += 1
        wait = t0 + interval * tick - time.monotonic()
        if wait > 0:
            time.sleep(wait)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], *(float(a) for a in sys.argv[3:]))
