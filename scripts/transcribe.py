"""Transcribes 16 kHz mono WAV files with pocketsphinx (offline, its bundled
English model). Used by `neurospeak benchmark` for word error rate.

Usage: transcribe.py LIST.json  — LIST is a JSON array of WAV paths; prints a
JSON array of transcripts in the same order.
"""
import json
import sys
import wave

from pocketsphinx import Decoder


def main(list_path):
    decoder = Decoder(samprate=16000)
    out = []
    for path in json.load(open(list_path)):
        with wave.open(path) as w:
            audio = w.readframes(w.getnframes())
        decoder.start_utt()
        decoder.process_raw(audio, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        out.append(hyp.hypstr if hyp else "")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
