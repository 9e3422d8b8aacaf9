//! The graph rewrite: static INT8 in QDQ form, or dynamic INT8 with integer MatMuls.
//!
//! Static mode puts a `QuantizeLinear` → `DequantizeLinear` pair on every activation
//! feeding (or produced by) a quantized operator, and stores weights as 8-bit and biases
//! as 32-bit integers behind a `DequantizeLinear`. ONNX Runtime recognises the pattern
//! when it loads the model and replaces each group by its quantized kernel (`QGemm`,
//! `QLinearMatMul`, `QLinearConv`, ...). Dynamic mode rewrites MatMul and Gemm into
//! `DynamicQuantizeLinear` → `MatMulInteger` → rescale, which ONNX Runtime fuses into
//! `DynamicQuantizeMatMul`.

use std::collections::{BTreeMap, HashMap, HashSet};

use onnx_protobuf::{GraphProto, ModelProto, NodeProto, TensorProto};
use serde::Serialize;

use super::graph::{
    byte_tensor, dims, float_tensor, float_values, get_float, get_int, int_attr, int32_tensor, node,
};
use super::opset::{QUANTIZED_OPSET, default_opset};
use super::{OptimizeError, QuantConfig, QuantMode, Scheme};

/// Operators the quantizer rewrites.
pub const QUANTIZED_OPS: [&str; 3] = ["MatMul", "Gemm", "Conv"];

/// Operators the quantizer knows and lets data flow through in float; ONNX Runtime
/// moves or fuses the surrounding quantization where it can (Relu and Clip into the
/// preceding quantized output, Reshape/Transpose onto 8-bit data).
pub const PASS_THROUGH_OPS: [&str; 27] = [
    "Relu",
    "Clip",
    "Reshape",
    "Transpose",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Concat",
    "Slice",
    "Gather",
    "Shape",
    "Constant",
    "Dropout",
    "Pad",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Sigmoid",
    "Tanh",
    "LeakyRelu",
    "Softmax",
    "Cast",
];

/// What happened to one node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeDecision {
    /// The node's name (or `op_index` when it has none).
    pub name: String,
    /// The operator type.
    pub op_type: String,
    /// How it was quantized, or why it was left in float.
    pub detail: String,
}

/// What the quantizer did to the graph.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QuantSummary {
    /// Nodes rewritten to integer arithmetic.
    pub quantized: Vec<NodeDecision>,
    /// Nodes left in float, with the reason (unknown operator, excluded, unsupported form).
    pub left_float: Vec<NodeDecision>,
    /// Known operators that run in float between quantized ones, by type and count.
    pub pass_through: BTreeMap<String, usize>,
    /// Activation tensors given a QuantizeLinear/DequantizeLinear pair (static mode).
    pub activation_tensors: usize,
    /// How the model's opset was raised to the quantized graph's, when it was.
    pub opset_conversion: Option<String>,
    /// Bias values whose int32 form (bias / (input scale x weight scale)) lay beyond the
    /// int32 range and were clamped to it (static mode); each one is off by the excess.
    pub clamped_bias_values: usize,
}

/// One node to rewrite.
#[derive(Clone, Debug)]
struct Target {
    index: usize,
    op: String,
    /// The float activations among its inputs (input positions and names).
    act_inputs: Vec<(usize, String)>,
    /// The weight initializer (input position 1) and its output-channel axis.
    weight: Option<(String, usize)>,
    /// The bias initializer (input position 2).
    bias: Option<String>,
    /// The tensor after the node whose range is quantized (static mode).
    output_q: Option<String>,
}

/// The nodes to quantize and the activation tensors whose ranges calibration must find.
#[derive(Clone, Debug)]
pub struct QuantPlan {
    targets: Vec<Target>,
    /// Activation tensors needing a range, in graph order.
    pub activations: Vec<String>,
    /// The decisions taken so far (filled in further by the rewrite).
    pub summary: QuantSummary,
}

/// The name of node `i`, or a generated one when it has none.
fn node_name(n: &NodeProto, i: usize) -> String {
    if n.name.is_empty() {
        format!("{}_{i}", n.op_type)
    } else {
        n.name.clone()
    }
}

/// Decides which nodes to quantize and which tensors to calibrate.
pub fn plan(model: &ModelProto, cfg: &QuantConfig) -> QuantPlan {
    let empty = Default::default();
    let g = model.graph.as_ref().unwrap_or(&empty);
    let inits: HashMap<&str, &TensorProto> =
        g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let graph_outputs: HashSet<&str> = g.output.iter().map(|o| o.name.as_str()).collect();
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in g.node.iter().enumerate() {
        for inp in &n.input {
            consumers.entry(inp.as_str()).or_default().push(i);
        }
    }
    let mut summary = QuantSummary::default();
    let mut targets = Vec::new();
    let mut activations: Vec<String> = Vec::new();
    let push_act = |acts: &mut Vec<String>, t: &str| {
        if !acts.iter().any(|a| a == t) {
            acts.push(t.to_string());
        }
    };
    let float_init = |name: &str, rank: &[usize]| -> bool {
        inits
            .get(name)
            .is_some_and(|t| float_values(t).is_some() && rank.contains(&t.dims.len()))
    };
    for (i, n) in g.node.iter().enumerate() {
        let name = node_name(n, i);
        let op = n.op_type.as_str();
        let decision = |detail: String| NodeDecision {
            name: name.clone(),
            op_type: op.to_string(),
            detail,
        };
        let known_domain = n.domain.is_empty() || n.domain == "ai.onnx";
        if !known_domain || !QUANTIZED_OPS.contains(&op) {
            if known_domain && PASS_THROUGH_OPS.contains(&op) {
                *summary.pass_through.entry(op.to_string()).or_default() += 1;
            } else {
                summary.left_float.push(decision(format!(
                    "the quantizer does not know `{}{op}`; it runs in float",
                    if n.domain.is_empty() {
                        String::new()
                    } else {
                        format!("{}.", n.domain)
                    }
                )));
            }
            continue;
        }
        if cfg.exclude_nodes.contains(&name) {
            summary
                .left_float
                .push(decision("excluded by name in the configuration".into()));
            continue;
        }
        if cfg.exclude_op_types.iter().any(|x| x == op) {
            summary.left_float.push(decision(format!(
                "operator type {op} excluded in the configuration"
            )));
            continue;
        }
        if cfg.mode == QuantMode::Dynamic && op == "Conv" {
            summary.left_float.push(decision(
                "dynamic quantization covers MatMul and Gemm only; Conv stays float".into(),
            ));
            continue;
        }
        let input = |k: usize| n.input.get(k).filter(|s| !s.is_empty()).map(String::as_str);
        let Some(a) = input(0) else {
            summary
                .left_float
                .push(decision("it has no first input".into()));
            continue;
        };
        if inits.contains_key(a) {
            summary.left_float.push(decision(
                "its first input is a constant; only activations times weights are quantized"
                    .into(),
            ));
            continue;
        }
        let b = input(1).unwrap_or_default();
        let mut t = Target {
            index: i,
            op: op.to_string(),
            act_inputs: vec![(0, a.to_string())],
            weight: None,
            bias: None,
            output_q: None,
        };
        match op {
            "Gemm" => {
                let dynamic = cfg.mode == QuantMode::Dynamic;
                if get_int(n, "transA").unwrap_or(0) != 0 && !dynamic {
                    summary.left_float.push(decision(
                        "Gemm with transA = 1 is not quantized in static mode (dynamic mode transposes the input)"
                            .into(),
                    ));
                    continue;
                }
                if !float_init(b, &[2]) {
                    summary.left_float.push(decision(
                        "its weight B is not a 2-D float initializer".into(),
                    ));
                    continue;
                }
                let trans_b = get_int(n, "transB").unwrap_or(0) != 0;
                let out_dim = inits[b].dims[if trans_b { 0 } else { 1 }] as usize;
                t.weight = Some((b.to_string(), if trans_b { 0 } else { 1 }));
                if let Some(c) = input(2) {
                    let ok = inits
                        .get(c)
                        .is_some_and(|ct| float_values(ct).is_some_and(|v| v.len() == out_dim));
                    // The dynamic rewrite folds alpha into the weight and beta into the bias;
                    // the static one keeps the node, whose int32 bias has no room for them.
                    let unit = get_float(n, "beta").unwrap_or(1.0) == 1.0
                        && get_float(n, "alpha").unwrap_or(1.0) == 1.0;
                    if !ok {
                        summary.left_float.push(decision(format!(
                            "its bias C is not a float initializer of {out_dim} values"
                        )));
                        continue;
                    }
                    if !unit && !dynamic {
                        summary.left_float.push(decision(
                            "Gemm with a bias and alpha or beta other than 1 is not quantized in static mode \
                             (dynamic mode folds them into the weight and the bias)"
                                .into(),
                        ));
                        continue;
                    }
                    t.bias = Some(c.to_string());
                }
            }
            "MatMul" => {
                if float_init(b, &[2]) {
                    t.weight = Some((b.to_string(), 1));
                } else if inits.contains_key(b) {
                    summary.left_float.push(decision(
                        "its weight is a constant that is not a 2-D float matrix".into(),
                    ));
                    continue;
                } else if cfg.mode == QuantMode::Dynamic {
                    summary.left_float.push(decision(
                        "dynamic quantization needs a constant weight; both inputs are activations"
                            .into(),
                    ));
                    continue;
                } else {
                    t.act_inputs.push((1, b.to_string()));
                }
            }
            _ => {
                // Conv: weight [M, C/group, k] (1-D) or [M, C/group, kh, kw] (2-D).
                if !float_init(b, &[3, 4]) {
                    summary.left_float.push(decision(
                        "its weight is not a 3-D or 4-D float initializer (Conv1d/Conv2d)".into(),
                    ));
                    continue;
                }
                let m = inits[b].dims[0] as usize;
                t.weight = Some((b.to_string(), 0));
                if let Some(c) = input(2) {
                    if inits
                        .get(c)
                        .is_none_or(|ct| float_values(ct).is_none_or(|v| v.len() != m))
                    {
                        summary.left_float.push(decision(format!(
                            "its bias is not a float initializer of {m} values"
                        )));
                        continue;
                    }
                    t.bias = Some(c.to_string());
                }
            }
        }
        if cfg.mode == QuantMode::Static {
            let out = n.output.first().map(String::as_str).unwrap_or_default();
            let users = consumers.get(out).map(Vec::as_slice).unwrap_or_default();
            t.output_q = if graph_outputs.contains(out) || out.is_empty() {
                None
            } else if let [only] = users
                && ["Relu", "Clip"].contains(&g.node[*only].op_type.as_str())
            {
                let next = g.node[*only].output.first().cloned().unwrap_or_default();
                (!graph_outputs.contains(next.as_str())).then_some(next)
            } else {
                Some(out.to_string())
            };
            for (_, x) in &t.act_inputs {
                push_act(&mut activations, x);
            }
            if let Some(o) = &t.output_q {
                push_act(&mut activations, o);
            }
        }
        targets.push(t);
    }
    summary.activation_tensors = activations.len();
    QuantPlan {
        targets,
        activations,
        summary,
    }
}

/// Scale and zero point of an asymmetric uint8 activation covering `[lo, hi]` and zero.
pub fn activation_params(lo: f32, hi: f32) -> (f32, u8) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let span = hi - lo;
    if !(span.is_finite() && span > 1e-12) {
        return (1.0, 0);
    }
    let scale = span / 255.0;
    let zp = (-lo / scale).round().clamp(0.0, 255.0) as u8;
    (scale, zp)
}

/// A quantized weight tensor: the integer bit patterns, one scale and zero point per
/// channel (or one for the tensor) and whether the integers are signed.
struct QWeight {
    bits: Vec<u8>,
    scales: Vec<f32>,
    zero_points: Vec<u8>,
    signed: bool,
}

/// Quantizes weights per channel along `axis` (or per tensor when `axis` is `None`).
fn quantize_weight(
    values: &[f32],
    shape: &[usize],
    axis: Option<usize>,
    scheme: Scheme,
) -> QWeight {
    let (channels, inner) = match axis {
        Some(a) => (shape[a], shape[a + 1..].iter().product::<usize>().max(1)),
        None => (1, values.len().max(1)),
    };
    let channel_of = |i: usize| {
        if axis.is_some() {
            (i / inner) % channels
        } else {
            0
        }
    };
    let mut lo = vec![0f32; channels];
    let mut hi = vec![0f32; channels];
    for (i, &v) in values.iter().enumerate() {
        let c = channel_of(i);
        lo[c] = lo[c].min(v);
        hi[c] = hi[c].max(v);
    }
    let signed = scheme != Scheme::U8U8;
    let mut scales = Vec::with_capacity(channels);
    let mut zero_points = Vec::with_capacity(channels);
    for c in 0..channels {
        if signed {
            let qmax = if scheme == Scheme::U8S8ReduceRange {
                63.0
            } else {
                127.0
            };
            let m = lo[c].abs().max(hi[c].abs());
            scales.push(if m > 0.0 { m / qmax } else { 1.0 });
            zero_points.push(0u8);
        } else {
            let (s, z) = activation_params(lo[c], hi[c]);
            scales.push(s);
            zero_points.push(z);
        }
    }
    let bits = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = channel_of(i);
            if signed {
                let qmax = if scheme == Scheme::U8S8ReduceRange {
                    63.0
                } else {
                    127.0
                };
                ((v / scales[c]).round().clamp(-qmax, qmax) as i8) as u8
            } else {
                ((v / scales[c]).round() + zero_points[c] as f32).clamp(0.0, 255.0) as u8
            }
        })
        .collect();
    QWeight {
        bits,
        scales,
        zero_points,
        signed,
    }
}

/// Returns the shape of per-channel parameters: `[]` for one value, `[n]` otherwise.
fn param_dims(n: usize, per_channel: bool) -> Vec<usize> {
    if per_channel { vec![n] } else { vec![] }
}

/// The graph of `model`, to rewrite in place, and a copy of its initializers by name.
fn graph_and_initializers(
    model: &mut ModelProto,
) -> Result<(&mut GraphProto, HashMap<String, TensorProto>), OptimizeError> {
    let g = model.graph.as_mut().ok_or_else(|| OptimizeError::Graph {
        reason: "the model has no graph".into(),
    })?;
    let inits = g
        .initializer
        .iter()
        .map(|t| (t.name.clone(), t.clone()))
        .collect();
    Ok((g, inits))
}

/// Rewrites the model in QDQ form with the activation ranges found by calibration.
pub fn quantize_static(
    model: &ModelProto,
    plan: &QuantPlan,
    ranges: &HashMap<String, (f32, f32)>,
    scheme: Scheme,
    per_channel: bool,
) -> Result<(ModelProto, QuantSummary), OptimizeError> {
    require_opset(model)?;
    let mut out = model.clone();
    let (g, inits) = graph_and_initializers(&mut out)?;
    let mut summary = plan.summary.clone();
    // Activation parameters.
    let mut act: HashMap<String, (f32, u8)> = HashMap::new();
    for t in &plan.activations {
        let &(lo, hi) = ranges.get(t).ok_or_else(|| OptimizeError::Graph {
            reason: format!("calibration found no range for tensor `{t}`"),
        })?;
        act.insert(t.clone(), activation_params(lo, hi));
    }
    let mut new_inits: Vec<TensorProto> = Vec::new();
    let mut head_nodes: Vec<NodeProto> = Vec::new();
    // (node index, input position) -> new input name.
    let mut replace: HashMap<(usize, usize), String> = HashMap::new();
    let mut done_weights: HashMap<String, (String, Vec<f32>)> = HashMap::new();
    for t in &plan.targets {
        let n = &g.node[t.index];
        let Some((w, axis)) = &t.weight else {
            summary.quantized.push(NodeDecision {
                name: node_name(n, t.index),
                op_type: t.op.clone(),
                detail: "both inputs uint8 activations (QLinearMatMul)".into(),
            });
            continue;
        };
        let key = format!("{w}#{axis}");
        if !done_weights.contains_key(&key) {
            let wt = &inits[w];
            let shape = dims(wt);
            let values = float_values(wt).expect("checked in plan");
            let q = quantize_weight(&values, &shape, per_channel.then_some(*axis), scheme);
            let base = format!("{w}_{}", if per_channel { "pc" } else { "pt" });
            let pdims = param_dims(q.scales.len(), per_channel);
            new_inits.push(byte_tensor(
                &format!("{base}_quantized"),
                &shape,
                &q.bits,
                q.signed,
            ));
            new_inits.push(float_tensor(&format!("{base}_scale"), &pdims, &q.scales));
            new_inits.push(byte_tensor(
                &format!("{base}_zero_point"),
                &pdims,
                &q.zero_points,
                q.signed,
            ));
            let mut dq = node(
                "DequantizeLinear",
                &format!("{base}_DequantizeLinear"),
                &[
                    &format!("{base}_quantized"),
                    &format!("{base}_scale"),
                    &format!("{base}_zero_point"),
                ],
                &[&format!("{base}_dequantized")],
            );
            if per_channel {
                dq.attribute.push(int_attr("axis", *axis as i64));
            }
            head_nodes.push(dq);
            done_weights.insert(key.clone(), (format!("{base}_dequantized"), q.scales));
        }
        let (w_dq, w_scales) = done_weights[&key].clone();
        replace.insert((t.index, 1), w_dq);
        let mut bias_clamped = 0usize;
        if let Some(b) = &t.bias {
            let x_scale = act[&t.act_inputs[0].1].0;
            let values = float_values(&inits[b]).expect("checked in plan");
            let scales: Vec<f32> = if per_channel {
                w_scales.iter().map(|s| s * x_scale).collect()
            } else {
                vec![w_scales[0] * x_scale]
            };
            let mut clamped = 0usize;
            let q: Vec<i32> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let s = scales[if per_channel { i } else { 0 }];
                    let x = (f64::from(*v) / f64::from(s)).round();
                    if !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&x) {
                        clamped += 1;
                    }
                    x.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
                })
                .collect();
            summary.clamped_bias_values += clamped;
            bias_clamped = clamped;
            let base = format!("{b}_{}", node_name(n, t.index));
            let pdims = param_dims(scales.len(), per_channel);
            new_inits.push(int32_tensor(
                &format!("{base}_quantized"),
                &[values.len()],
                &q,
            ));
            new_inits.push(float_tensor(&format!("{base}_scale"), &pdims, &scales));
            new_inits.push(int32_tensor(
                &format!("{base}_zero_point"),
                &pdims,
                &vec![0; scales.len()],
            ));
            let mut dq = node(
                "DequantizeLinear",
                &format!("{base}_DequantizeLinear"),
                &[
                    &format!("{base}_quantized"),
                    &format!("{base}_scale"),
                    &format!("{base}_zero_point"),
                ],
                &[&format!("{base}_dequantized")],
            );
            if per_channel {
                dq.attribute.push(int_attr("axis", 0));
            }
            head_nodes.push(dq);
            replace.insert((t.index, 2), format!("{base}_dequantized"));
        }
        summary.quantized.push(NodeDecision {
            name: node_name(n, t.index),
            op_type: t.op.clone(),
            detail: format!(
                "{} weights {}{}, uint8 activations{}{}",
                if scheme == Scheme::U8U8 {
                    "uint8"
                } else {
                    "int8"
                },
                if per_channel {
                    "per channel"
                } else {
                    "per tensor"
                },
                if scheme == Scheme::U8S8ReduceRange {
                    " (7-bit range)"
                } else {
                    ""
                },
                if t.bias.is_some() { ", int32 bias" } else { "" },
                if bias_clamped > 0 {
                    format!(
                        " ({bias_clamped} bias values beyond the int32 range, clamped: input x weight scale is too small for them)"
                    )
                } else {
                    String::new()
                }
            ),
        });
    }
    // Q/DQ pairs on activations.
    let qdq = |t: &str, (scale, zp): (f32, u8), inits: &mut Vec<TensorProto>| -> [NodeProto; 2] {
        inits.push(float_tensor(&format!("{t}_scale"), &[], &[scale]));
        inits.push(byte_tensor(&format!("{t}_zero_point"), &[], &[zp], false));
        [
            node(
                "QuantizeLinear",
                &format!("{t}_QuantizeLinear"),
                &[t, &format!("{t}_scale"), &format!("{t}_zero_point")],
                &[&format!("{t}_quantized")],
            ),
            node(
                "DequantizeLinear",
                &format!("{t}_DequantizeLinear"),
                &[
                    &format!("{t}_quantized"),
                    &format!("{t}_scale"),
                    &format!("{t}_zero_point"),
                ],
                &[&format!("{t}_dequantized")],
            ),
        ]
    };
    let produced: HashSet<&str> = g
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(String::as_str))
        .collect();
    let mut nodes: Vec<NodeProto> = head_nodes;
    for t in &plan.activations {
        if !produced.contains(t.as_str()) {
            nodes.extend(qdq(t, act[t], &mut new_inits));
        }
    }
    for (i, n) in g.node.iter().enumerate() {
        let mut n = n.clone();
        for (k, inp) in n.input.iter_mut().enumerate() {
            if let Some(r) = replace.get(&(i, k)) {
                *inp = r.clone();
            } else if act.contains_key(inp.as_str()) {
                *inp = format!("{inp}_dequantized");
            }
        }
        let outs = n.output.clone();
        nodes.push(n);
        for o in outs {
            if let Some(&p) = act.get(&o) {
                nodes.extend(qdq(&o, p, &mut new_inits));
            }
        }
    }
    g.node = nodes;
    g.initializer.extend(new_inits);
    drop_unused_initializers(g);
    Ok((out, summary))
}

/// Rewrites MatMul and Gemm with constant weights into dynamic INT8: the activation is
/// quantized at run time by `DynamicQuantizeLinear`, multiplied by `MatMulInteger` with
/// the 8-bit weight and rescaled in float.
pub fn quantize_dynamic(
    model: &ModelProto,
    plan: &QuantPlan,
    scheme: Scheme,
    per_channel: bool,
) -> Result<(ModelProto, QuantSummary), OptimizeError> {
    require_opset(model)?;
    let mut out = model.clone();
    let (g, inits) = graph_and_initializers(&mut out)?;
    let mut summary = plan.summary.clone();
    let mut new_inits = Vec::new();
    let mut rewritten: HashMap<usize, Vec<NodeProto>> = HashMap::new();
    let mut dql_done: HashSet<String> = HashSet::new();
    for t in &plan.targets {
        let n = &g.node[t.index];
        let name = node_name(n, t.index);
        let (w, _) = t.weight.as_ref().expect("dynamic targets have weights");
        let x = &t.act_inputs[0].1;
        let y = n.output[0].clone();
        let wt = &inits[w];
        let mut shape = dims(wt);
        let mut values = float_values(wt).expect("checked in plan");
        let gemm = t.op == "Gemm";
        // Gemm: Y = alpha * A' B' + beta * C, with A' = A^T when transA and B' = B^T when transB.
        let attr = |k: &str| if gemm { get_float(n, k) } else { None };
        let (alpha, beta) = (attr("alpha").unwrap_or(1.0), attr("beta").unwrap_or(1.0));
        let trans_a = gemm && get_int(n, "transA").unwrap_or(0) != 0;
        if gemm && get_int(n, "transB").unwrap_or(0) != 0 {
            // Store the weight as [K, N] for MatMulInteger.
            let (rows, cols) = (shape[0], shape[1]);
            let mut tr = vec![0f32; values.len()];
            for r in 0..rows {
                for c in 0..cols {
                    tr[c * rows + r] = values[r * cols + c];
                }
            }
            values = tr;
            shape = vec![cols, rows];
        }
        if alpha != 1.0 {
            values.iter_mut().for_each(|v| *v *= alpha);
        }
        let q = quantize_weight(&values, &shape, per_channel.then_some(1), scheme);
        let pdims = param_dims(q.scales.len(), per_channel);
        let base = format!("{name}_w");
        new_inits.push(byte_tensor(
            &format!("{base}_quantized"),
            &shape,
            &q.bits,
            q.signed,
        ));
        new_inits.push(float_tensor(&format!("{base}_scale"), &pdims, &q.scales));
        new_inits.push(byte_tensor(
            &format!("{base}_zero_point"),
            &pdims,
            &q.zero_points,
            q.signed,
        ));
        let mut nodes = Vec::new();
        let x = if trans_a {
            let xt = format!("{x}_transposed");
            if !dql_done.contains(&xt) {
                nodes.push(node("Transpose", &format!("{x}_Transpose"), &[x], &[&xt]));
            }
            xt
        } else {
            x.clone()
        };
        let x = &x;
        if dql_done.insert(x.clone()) {
            nodes.push(node(
                "DynamicQuantizeLinear",
                &format!("{x}_DynamicQuantizeLinear"),
                &[x],
                &[
                    &format!("{x}_quantized"),
                    &format!("{x}_scale"),
                    &format!("{x}_zero_point"),
                ],
            ));
        }
        nodes.push(node(
            "MatMulInteger",
            &format!("{name}_MatMulInteger"),
            &[
                &format!("{x}_quantized"),
                &format!("{base}_quantized"),
                &format!("{x}_zero_point"),
                &format!("{base}_zero_point"),
            ],
            &[&format!("{name}_int32")],
        ));
        let mut cast = node(
            "Cast",
            &format!("{name}_Cast"),
            &[&format!("{name}_int32")],
            &[&format!("{name}_int32_float")],
        );
        cast.attribute.push(int_attr("to", 1));
        nodes.push(cast);
        nodes.push(node(
            "Mul",
            &format!("{name}_scale_Mul"),
            &[&format!("{x}_scale"), &format!("{base}_scale")],
            &[&format!("{name}_scale")],
        ));
        let scaled = if t.bias.is_some() {
            format!("{name}_scaled")
        } else {
            y.clone()
        };
        nodes.push(node(
            "Mul",
            &format!("{name}_output_Mul"),
            &[&format!("{name}_int32_float"), &format!("{name}_scale")],
            &[&scaled],
        ));
        if let Some(b) = &t.bias {
            let bias = if beta != 1.0 {
                let ct = &inits[b];
                let scaled_c: Vec<f32> = float_values(ct)
                    .expect("checked in plan")
                    .iter()
                    .map(|v| v * beta)
                    .collect();
                let c_name = format!("{name}_bias_times_beta");
                new_inits.push(float_tensor(&c_name, &dims(ct), &scaled_c));
                c_name
            } else {
                b.clone()
            };
            nodes.push(node(
                "Add",
                &format!("{name}_bias_Add"),
                &[&scaled, &bias],
                &[&y],
            ));
        }
        rewritten.insert(t.index, nodes);
        // Nodes with the same input reuse its DynamicQuantizeLinear, which must come first;
        // graph order guarantees it because the first user is rewritten first.
        summary.quantized.push(NodeDecision {
            name,
            op_type: t.op.clone(),
            detail: format!(
                "dynamic: {} weights {}, activations quantized per call{}",
                if scheme == Scheme::U8U8 {
                    "uint8"
                } else {
                    "int8"
                },
                if per_channel {
                    "per channel"
                } else {
                    "per tensor"
                },
                gemm_note(alpha, beta, trans_a, t.bias.is_some())
            ),
        });
    }
    let old = std::mem::take(&mut g.node);
    for (i, n) in old.into_iter().enumerate() {
        match rewritten.remove(&i) {
            Some(nodes) => g.node.extend(nodes),
            None => g.node.push(n),
        }
    }
    g.initializer.extend(new_inits);
    drop_unused_initializers(g);
    Ok((out, summary))
}

/// Says how a Gemm's attributes were kept by the dynamic rewrite.
fn gemm_note(alpha: f32, beta: f32, trans_a: bool, bias: bool) -> String {
    let mut parts = Vec::new();
    if alpha != 1.0 {
        parts.push(format!("alpha {alpha} folded into the weight"));
    }
    if beta != 1.0 && bias {
        parts.push(format!("beta {beta} folded into the bias"));
    }
    if trans_a {
        parts.push("input transposed (transA)".to_string());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Removes initializers that no node reads and that are not graph outputs (and their
/// entries among the graph inputs, where older exporters list weights).
fn drop_unused_initializers(g: &mut onnx_protobuf::GraphProto) {
    let used: HashSet<String> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .chain(g.output.iter().map(|o| o.name.clone()))
        .collect();
    let removed: HashSet<String> = g
        .initializer
        .iter()
        .filter(|t| !used.contains(&t.name))
        .map(|t| t.name.clone())
        .collect();
    g.initializer.retain(|t| !removed.contains(&t.name));
    g.input.retain(|i| !removed.contains(&i.name));
}

/// Checks that `model` is at the opset the rewrite writes ([`upgrade`] brings it there).
fn require_opset(model: &ModelProto) -> Result<(), OptimizeError> {
    match default_opset(model) {
        Some(v) if v >= QUANTIZED_OPSET => Ok(()),
        found => Err(OptimizeError::Graph {
            reason: format!(
                "the model is at opset {}, but the rewrite writes opset {QUANTIZED_OPSET}; convert it with \
                 optimize::opset::upgrade (quantize_model does) before planning and rewriting",
                found.map_or("(none)".to_string(), |v| v.to_string())
            ),
        }),
    }
}
