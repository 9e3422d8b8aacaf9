"""Sequence-window decoders written with the `onnx` package, and their runs in Python onnxruntime.

usage: sequence_models.py write OUT_DIR C T M
       sequence_models.py run MODEL LAYOUT FRAMES_FILE C T STRIDE OUT_FILE

`write` makes models taking the last T frames of C channels and giving one frame of M values:
seqconv13/seqconv17, a 1-D convolution over time taking x [1, C, T] (channel_major, the layout
of PyTorch's Conv1d), and seqgru13/seqgru17, a GRU run over the window from a zero state taking
x [1, T, C] (time_major, PyTorch's batch_first). It prints {NAME: LAYOUT}.

`run` reads per-frame features (float32 little-endian, [frames, C]), builds for every frame n the
window of frames n - (T-1)*STRIDE, ..., n - STRIDE, n (oldest first; frames before the first are
zeros), runs the model on each, and writes the outputs ([frames, M]) to OUT_FILE.
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

H = 24


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def conv(rng, c, t, m):
    k = 20
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv"], name="conv"),
        helper.make_node("Relu", ["conv"], ["act"], name="relu"),
        helper.make_node("Reshape", ["act", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "w_out", "b_out"], ["y"], name="readout"),
    ]
    inits = [
        init("w", rng.normal(0, 0.3, (k, c, t)).astype(np.float32)),
        init("b", rng.normal(0, 0.1, k).astype(np.float32)),
        init("flat_shape", np.array([1, k], dtype=np.int64)),
        init("w_out", rng.normal(0, 0.3, (k, m)).astype(np.float32)),
        init("b_out", rng.normal(0, 0.1, m).astype(np.float32)),
    ]
    return nodes, inits, [1, c, t]


def gru(rng, c, t, m):
    nodes = [
        helper.make_node("Transpose", ["x"], ["seq"], name="time_first", perm=[1, 0, 2]),
        helper.make_node("GRU", ["seq", "W", "R", "B"], ["all_h", "h_last"], name="gru",
                         hidden_size=H, linear_before_reset=1),
        helper.make_node("Reshape", ["h_last", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "w_out", "b_out"], ["y"], name="readout"),
    ]
    inits = [
        init("W", rng.normal(0, 0.3, (1, 3 * H, c)).astype(np.float32)),
        init("R", rng.normal(0, 0.3, (1, 3 * H, H)).astype(np.float32)),
        init("B", rng.normal(0, 0.1, (1, 6 * H)).astype(np.float32)),
        init("flat_shape", np.array([1, H], dtype=np.int64)),
        init("w_out", rng.normal(0, 0.4, (H, m)).astype(np.float32)),
        init("b_out", rng.normal(0, 0.1, m).astype(np.float32)),
    ]
    return nodes, inits, [1, t, c]


def write(out, c, t, m):
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(29)
    layouts = {}
    for opset in (13, 17):
        for family, build, layout in (("seqconv", conv, "channel_major"),
                                      ("seqgru", gru, "time_major")):
            nodes, inits, shape = build(rng, c, t, m)
            graph = helper.make_graph(
                nodes, family, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, m])], inits)
            model = helper.make_model(graph, producer_name="onnx-peer",
                                      opset_imports=[helper.make_opsetid("", opset)])
            model.ir_version = 8
            onnx.checker.check_model(model, full_check=True)
            name = f"{family}{opset}"
            onnx.save(model, out / f"{name}.onnx")
            layouts[name] = layout
    print(json.dumps(layouts))


def run(model, layout, frames_file, c, t, stride, out_file):
    frames = np.fromfile(frames_file, dtype="<f4").reshape(-1, c)
    padded = np.concatenate([np.zeros(((t - 1) * stride, c), dtype=np.float32), frames])
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    ys = []
    for n in range(len(frames)):
        window = padded[n:n + (t - 1) * stride + 1:stride]  # [T, C], oldest first
        x = window[None] if layout == "time_major" else window.T[None]
        ys.append(session.run(["y"], {"x": np.ascontiguousarray(x)})[0].reshape(-1))
    np.asarray(ys, dtype="<f4").tofile(out_file)


def main():
    if sys.argv[1] == "write":
        write(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        model, layout, frames_file = sys.argv[2:5]
        c, t, stride = (int(v) for v in sys.argv[5:8])
        run(model, layout, frames_file, c, t, stride, sys.argv[8])


if __name__ == "__main__":
    main()
