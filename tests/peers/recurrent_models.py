"""Writes stateful decoders with the `onnx` package and runs them frame by frame in Python onnxruntime.

usage: recurrent_models.py OUT_DIR [D M]

Each model takes one frame `x` [1, D] and its recurrent state, and gives one frame `y` [1, M]
and the next state: a GRU, an LSTM (hidden and cell state) and a causal 1-D convolution whose
state is its last K-1 input frames, each at opsets 13 and 17. For each model NAME it writes
OUT_DIR/NAME.onnx (D features in, M out: 12 and 8 unless given), OUT_DIR/NAME.x.f32 (inputs, float32 little-endian, [frames, D]) and
OUT_DIR/NAME.y.f32 (onnxruntime's outputs with the state fed back from zeros, [frames, M]),
and prints one JSON object {NAME: {"d", "m", "frames", "opset", "state": [{"input", "output",
"shape"}]}}.
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

FRAMES = 200
D, M, H = 12, 8, 16
K = 4


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def tensor(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def readout(rng, hidden, source):
    """Nodes and initializers taking `source` [1, hidden] to y [1, M]."""
    inits = [
        init("w_out", rng.normal(0, 0.4, (hidden, M)).astype(np.float32)),
        init("b_out", rng.normal(0, 0.1, M).astype(np.float32)),
    ]
    nodes = [helper.make_node("Gemm", [source, "w_out", "b_out"], ["y"], name="readout")]
    return nodes, inits


def gru(rng):
    inits = [
        init("frame_shape", np.array([1, 1, D], dtype=np.int64)),
        init("flat_shape", np.array([1, H], dtype=np.int64)),
        init("W", rng.normal(0, 0.3, (1, 3 * H, D)).astype(np.float32)),
        init("R", rng.normal(0, 0.3, (1, 3 * H, H)).astype(np.float32)),
        init("B", rng.normal(0, 0.1, (1, 6 * H)).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Reshape", ["x", "frame_shape"], ["x3"], name="to_sequence"),
        helper.make_node("GRU", ["x3", "W", "R", "B", "", "h_in"], ["seq", "h_out"], name="gru",
                         hidden_size=H, linear_before_reset=1),
        helper.make_node("Reshape", ["h_out", "flat_shape"], ["h_flat"], name="flatten"),
    ]
    more, more_inits = readout(rng, H, "h_flat")
    state = [{"input": "h_in", "output": "h_out", "shape": [1, 1, H]}]
    return nodes + more, inits + more_inits, state


def lstm(rng):
    inits = [
        init("frame_shape", np.array([1, 1, D], dtype=np.int64)),
        init("flat_shape", np.array([1, H], dtype=np.int64)),
        init("W", rng.normal(0, 0.3, (1, 4 * H, D)).astype(np.float32)),
        init("R", rng.normal(0, 0.3, (1, 4 * H, H)).astype(np.float32)),
        init("B", rng.normal(0, 0.1, (1, 8 * H)).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Reshape", ["x", "frame_shape"], ["x3"], name="to_sequence"),
        helper.make_node("LSTM", ["x3", "W", "R", "B", "", "h_in", "c_in"], ["seq", "h_out", "c_out"],
                         name="lstm", hidden_size=H),
        helper.make_node("Reshape", ["h_out", "flat_shape"], ["h_flat"], name="flatten"),
    ]
    more, more_inits = readout(rng, H, "h_flat")
    state = [
        {"input": "h_in", "output": "h_out", "shape": [1, 1, H]},
        {"input": "c_in", "output": "c_out", "shape": [1, 1, H]},
    ]
    return nodes + more, inits + more_inits, state


def causal_conv(rng):
    """Conv1d over the newest K frames; the state holds the K-1 frames before this one."""
    c = 20
    inits = [
        init("time_axis", np.array([2], dtype=np.int64)),
        init("keep_from", np.array([1], dtype=np.int64)),
        init("keep_to", np.array([K], dtype=np.int64)),
        init("flat_shape", np.array([1, c], dtype=np.int64)),
        init("conv_w", rng.normal(0, 0.3, (c, D, K)).astype(np.float32)),
        init("conv_b", rng.normal(0, 0.1, c).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Unsqueeze", ["x", "time_axis"], ["x3"], name="as_column"),
        helper.make_node("Concat", ["conv_state_in", "x3"], ["window"], name="window", axis=2),
        helper.make_node("Slice", ["window", "keep_from", "keep_to", "time_axis"], ["conv_state_out"],
                         name="next_state"),
        helper.make_node("Conv", ["window", "conv_w", "conv_b"], ["conv"], name="conv"),
        helper.make_node("Relu", ["conv"], ["act"], name="relu"),
        helper.make_node("Reshape", ["act", "flat_shape"], ["flat"], name="flatten"),
    ]
    more, more_inits = readout(rng, c, "flat")
    state = [{"input": "conv_state_in", "output": "conv_state_out", "shape": [1, D, K - 1]}]
    return nodes + more, inits + more_inits, state


def write(out, name, opset, build, rng):
    nodes, inits, state = build(rng)
    inputs = [tensor("x", [1, D])] + [tensor(s["input"], s["shape"]) for s in state]
    outputs = [tensor("y", [1, M])] + [tensor(s["output"], s["shape"]) for s in state]
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, producer_name="onnx-peer",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = out / f"{name}.onnx"
    onnx.save(model, path)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = rng.normal(0, 1, (FRAMES, D)).astype(np.float32)
    states = {s["input"]: np.zeros(s["shape"], dtype=np.float32) for s in state}
    ys = []
    for t in range(FRAMES):
        result = session.run(None, {"x": x[t:t + 1], **states})
        ys.append(result[0][0])
        for s, value in zip(state, result[1:]):
            states[s["input"]] = value
    (out / f"{name}.x.f32").write_bytes(x.astype("<f4").tobytes())
    (out / f"{name}.y.f32").write_bytes(np.stack(ys).astype("<f4").tobytes())
    return {"d": D, "m": M, "frames": FRAMES, "opset": opset, "state": state}


def main():
    global D, M
    out = Path(sys.argv[1])
    if len(sys.argv) == 4:
        D, M = int(sys.argv[2]), int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(13)
    meta = {}
    for opset in (13, 17):
        for family, build in (("gru", gru), ("lstm", lstm), ("conv", causal_conv)):
            name = f"{family}{opset}"
            meta[name] = write(out, name, opset, build, rng)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
