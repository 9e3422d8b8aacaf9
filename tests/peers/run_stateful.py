"""Runs a stateful ONNX decoder frame by frame in Python onnxruntime, its state fed back.

usage: run_stateful.py MODEL X_FILE Y_FILE INPUT OUTPUT [STATE_IN=STATE_OUT ...]

With no state pairs it runs a stateless model the same way, frame by frame.

X_FILE holds the frames (float32 little-endian, [frames, D], D the values of the model's
INPUT, each frame reshaped to INPUT's declared shape);
each state starts at zeros with the shape its input declares (symbolic dimensions as 1)
and takes the value of its output after every frame. The OUTPUT frames go to Y_FILE.
"""

import sys

import numpy as np
import onnxruntime as ort


def main():
    model, x_file, y_file, frame_in, frame_out = sys.argv[1:6]
    pairs = [p.split("=", 1) for p in sys.argv[6:]]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    shapes = {i.name: [d if isinstance(d, int) else 1 for d in i.shape] for i in session.get_inputs()}
    shape = shapes[frame_in]  # [1, D], or a window [1, A, B]
    d = int(np.prod(shape[1:]))
    x = np.fromfile(x_file, dtype="<f4").reshape(-1, d)
    state = {i: np.zeros(shapes[i], dtype=np.float32) for i, _ in pairs}
    names = [frame_out] + [o for _, o in pairs]
    ys = []
    for frame in x:
        feed = {frame_in: frame.reshape(shape)}
        feed.update(state)
        got = session.run(names, feed)
        ys.append(got[0].reshape(-1))
        for (i, _), value in zip(pairs, got[1:]):
            state[i] = value
    np.asarray(ys, dtype="<f4").tofile(y_file)


if __name__ == "__main__":
    main()
