"""Writes decoder-shaped ONNX models with the `onnx` package and runs them in Python onnxruntime.

usage: onnx_models.py OUT_DIR

For each model NAME it writes OUT_DIR/NAME.onnx, OUT_DIR/NAME.x.f32 (inputs, float32
little-endian, [frames, D]) and OUT_DIR/NAME.y.f32 (onnxruntime's outputs, [frames, M]),
and prints one JSON object {NAME: {"d": D, "m": M, "frames": N, "opset": V}}.
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

FRAMES = 256


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def io(name, features):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", features])


def opset11_shape_ops(rng):
    """MatMul and Gemm around the operators whose signature or meaning changed at opset 13."""
    d, m = 24, 16
    inits = [
        init("w0", rng.normal(0, 0.3, (d, 32)).astype(np.float32)),
        init("b0", rng.normal(0, 0.1, 32).astype(np.float32)),
        init("shape3", np.array([-1, 4, 8], dtype=np.int64)),
        init("w1", rng.normal(0, 0.3, (76, m)).astype(np.float32)),
        init("b1", rng.normal(0, 0.1, m).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w0"], ["h"], name="fc0"),
        helper.make_node("Add", ["h", "b0"], ["h2"], name="fc0_bias"),
        helper.make_node("Dropout", ["h2"], ["hd"], name="drop", ratio=0.3),
        helper.make_node("Reshape", ["hd", "shape3"], ["r"], name="to_groups"),
        # Opset 11: softmax over all 32 values of a frame (coerced to 2-D at axis 1).
        helper.make_node("Softmax", ["r"], ["s"], name="softmax", axis=1),
        helper.make_node("Split", ["r"], ["sa", "sb"], name="split", axis=2, split=[3, 5]),
        helper.make_node("ReduceMean", ["sb"], ["mean"], name="mean", axes=[2], keepdims=1),
        helper.make_node("Squeeze", ["mean"], ["q"], name="squeeze", axes=[2]),
        helper.make_node("ReduceSum", ["sa"], ["sum"], name="sum", axes=[2], keepdims=0),
        helper.make_node("Unsqueeze", ["sum"], ["u"], name="unsqueeze", axes=[1]),
        helper.make_node("Flatten", ["u"], ["uf"], name="flat_u", axis=1),
        helper.make_node("Flatten", ["s"], ["sf"], name="flat_s", axis=1),
        helper.make_node("LogSoftmax", ["hd"], ["ls"], name="log_softmax", axis=1),
        helper.make_node("Hardmax", ["r"], ["hm"], name="hardmax", axis=1),
        helper.make_node("ReduceSum", ["hm"], ["hms"], name="hardmax_count", axes=[1, 2], keepdims=1),
        helper.make_node("Flatten", ["hms"], ["hmf"], name="flat_hm", axis=1),
        # A subgraph converts too: its Unsqueeze and Squeeze read the outer `q`.
        helper.make_node("Constant", [], ["yes"], name="yes",
                         value=helper.make_tensor("yes_value", TensorProto.BOOL, [], [True])),
        helper.make_node("If", ["yes"], ["qq"], name="branch",
                         then_branch=helper.make_graph(
                             [helper.make_node("Unsqueeze", ["q"], ["q3"], name="then_unsqueeze", axes=[2]),
                              helper.make_node("Squeeze", ["q3"], ["qq_then"], name="then_squeeze", axes=[2])],
                             "then", [], [helper.make_tensor_value_info("qq_then", TensorProto.FLOAT, None)]),
                         else_branch=helper.make_graph(
                             [helper.make_node("Identity", ["q"], ["qq_else"], name="else_identity")],
                             "else", [], [helper.make_tensor_value_info("qq_else", TensorProto.FLOAT, None)])),
        helper.make_node("Mul", ["sf", "ten"], ["sf10"], name="softmax_gain"),
        helper.make_node("Concat", ["sf10", "qq", "uf", "ls", "hmf", "hmf", "hmf", "hmf"], ["cat"],
                         name="cat", axis=1),
        helper.make_node("Gemm", ["cat", "w1", "b1"], ["y"], name="fc1"),
    ]
    inits.append(init("ten", np.array(10.0, dtype=np.float32)))
    graph = helper.make_graph(nodes, "opset11_shape_ops", [io("x", d)], [io("y", m)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)],
                              producer_name="onnx-python-peer")
    model.ir_version = 6
    model = onnx.shape_inference.infer_shapes(model)
    return model, d


def gemm_attributes(rng):
    """Gemms with alpha and beta other than 1, transA and transB."""
    d, m = 16, 8
    inits = [
        init("w0", rng.normal(0, 0.3, (d, 32)).astype(np.float32)),
        init("w1", rng.normal(0, 0.2, (24, 32)).astype(np.float32)),
        init("c1", rng.normal(0, 0.3, 24).astype(np.float32)),
        init("w2", rng.normal(0, 0.3, (24, m)).astype(np.float32)),
        init("c2", rng.normal(0, 0.3, m).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "w0"], ["g0"], name="scaled", alpha=0.5),
        helper.make_node("Relu", ["g0"], ["a0"], name="relu0"),
        helper.make_node("Gemm", ["a0", "w1", "c1"], ["g1"], name="scaled_biased",
                         alpha=1.5, beta=-0.7, transB=1),
        helper.make_node("Relu", ["g1"], ["a1"], name="relu1"),
        helper.make_node("Transpose", ["a1"], ["a1t"], name="transpose"),
        helper.make_node("Gemm", ["a1t", "w2", "c2"], ["y"], name="transposed_input",
                         beta=2.0, transA=1),
    ]
    graph = helper.make_graph(nodes, "gemm_attributes", [io("x", d)], [io("y", m)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="onnx-python-peer")
    model.ir_version = 7
    return model, d


def main():
    out = Path(sys.argv[1])
    rng = np.random.default_rng(2011)
    summary = {}
    for name, build in [("opset11_shape_ops", opset11_shape_ops), ("gemm_attributes", gemm_attributes)]:
        model, d = build(rng)
        onnx.checker.check_model(model, full_check=True)
        path = out / f"{name}.onnx"
        onnx.save(model, str(path))
        x = rng.normal(0, 1, (FRAMES, d)).astype(np.float32)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {"x": x})
        x.astype("<f4").tofile(out / f"{name}.x.f32")
        y.astype("<f4").tofile(out / f"{name}.y.f32")
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        summary[name] = {"d": d, "m": int(y.shape[1]), "frames": FRAMES, "opset": opset}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
