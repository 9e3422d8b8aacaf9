//! Raising a model's default-domain opset to the one the quantized graph is written in,
//! converting the operators whose signature or meaning changed on the way.
//!
//! From opset 11 or 12 to 13 (the changes listed in the ONNX operator changelog):
//! - `Dropout` (12): the `ratio` attribute became an input;
//! - `Squeeze`, `Unsqueeze`, `ReduceSum` (13): the `axes` attribute became an input;
//! - `Split` (13): the `split` attribute became an input;
//! - `Softmax`, `LogSoftmax`, `Hardmax` (13): before, the input was coerced to 2-D at
//!   `axis` (default 1) and the operator ran over all trailing dimensions together; from
//!   13 it runs over the one `axis` (default -1). The old meaning is kept by an explicit
//!   `axis` when the input's rank is known and `axis` is its last dimension, otherwise by
//!   `Flatten(axis)` → operator over axis 1 → `Reshape` back to the input's shape.
//!
//! `ReduceMean` and the other reductions keep `axes` as an attribute until opset 18, so
//! they need nothing. Older opsets are refused: too many operators changed before 11.

use std::collections::{BTreeMap, HashMap};

use onnx_protobuf::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    tensor_proto::DataType, type_proto,
};
use protobuf::Enum;

use super::OptimizeError;
use super::graph::{float_tensor, int_attr, node};

/// The opset the quantized graph is written in (per-axis `DequantizeLinear` needs 13).
pub const QUANTIZED_OPSET: i64 = 13;
/// The oldest default-domain opset the converter accepts.
pub const OLDEST_CONVERTIBLE_OPSET: i64 = 11;
/// The oldest IR version that may import opset 13.
const IR_VERSION_FOR_OPSET_13: i64 = 7;

/// The default-domain opset a model imports, if it imports one.
pub fn default_opset(model: &ModelProto) -> Option<i64> {
    model
        .opset_import
        .iter()
        .find(|o| is_default_domain(&o.domain))
        .map(|o| o.version)
}

fn is_default_domain(d: &str) -> bool {
    d.is_empty() || d == "ai.onnx"
}

/// Returns `model` at opset [`QUANTIZED_OPSET`] (or its own, when newer), with every
/// operator converted, and a one-line account of the conversions (`None` when the model
/// needed none).
pub fn upgrade(model: &ModelProto) -> Result<(ModelProto, Option<String>), OptimizeError> {
    let target = QUANTIZED_OPSET;
    let mut out = model.clone();
    let Some(found) = default_opset(model) else {
        out.opset_import.push(OperatorSetIdProto {
            domain: String::new(),
            version: target,
            ..Default::default()
        });
        out.ir_version = out.ir_version.max(IR_VERSION_FOR_OPSET_13);
        return Ok((out, None));
    };
    if found >= target {
        return Ok((out, None));
    }
    if found < OLDEST_CONVERTIBLE_OPSET {
        return Err(OptimizeError::Opset {
            found,
            target,
            oldest: OLDEST_CONVERTIBLE_OPSET,
        });
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(g) = out.graph.as_mut() {
        let mut conv = Converter {
            from: found,
            counts: &mut counts,
            serial: 0,
        };
        conv.graph(g);
    }
    for o in &mut out.opset_import {
        if is_default_domain(&o.domain) {
            o.version = target;
        }
    }
    out.ir_version = out.ir_version.max(IR_VERSION_FOR_OPSET_13);
    let done: Vec<String> = counts.iter().map(|(k, v)| format!("{k} x{v}")).collect();
    let account = format!(
        "opset {found} converted to {target}: {}",
        if done.is_empty() {
            "no operator needed converting".to_string()
        } else {
            done.join(", ")
        }
    );
    Ok((out, Some(account)))
}

struct Converter<'a> {
    from: i64,
    counts: &'a mut BTreeMap<String, usize>,
    /// Makes the names of added tensors and nodes unique.
    serial: usize,
}

impl Converter<'_> {
    fn fresh(&mut self, base: &str, what: &str) -> String {
        self.serial += 1;
        format!("{base}_opset13_{what}_{}", self.serial)
    }

    fn count(&mut self, op: &str, how: &str) {
        *self.counts.entry(format!("{op} ({how})")).or_default() += 1;
    }

    /// Converts every node of `g` (and of its subgraphs) in place.
    fn graph(&mut self, g: &mut GraphProto) {
        let ranks = known_ranks(g);
        let old = std::mem::take(&mut g.node);
        let mut nodes = Vec::with_capacity(old.len());
        for mut n in old {
            for a in &mut n.attribute {
                if let Some(sub) = a.g.as_mut() {
                    self.graph(sub);
                }
                for sub in &mut a.graphs {
                    self.graph(sub);
                }
            }
            if !is_default_domain(&n.domain) {
                nodes.push(n);
                continue;
            }
            match n.op_type.as_str() {
                "Dropout" if self.from < 12 => {
                    if let Some(ratio) = take_attr(&mut n, "ratio") {
                        let name = self.fresh(&label(&n), "ratio");
                        g.initializer.push(float_tensor(&name, &[], &[ratio.f]));
                        set_input(&mut n, 1, name);
                        self.count("Dropout", "ratio to an input");
                    }
                    nodes.push(n);
                }
                "Squeeze" | "Unsqueeze" | "ReduceSum" => {
                    if let Some(axes) = take_attr(&mut n, "axes") {
                        let name = self.fresh(&label(&n), "axes");
                        g.initializer.push(int64_tensor(&name, &axes.ints));
                        set_input(&mut n, 1, name);
                        let op = n.op_type.clone();
                        self.count(&op, "axes to an input");
                    }
                    nodes.push(n);
                }
                "Split" => {
                    if let Some(split) = take_attr(&mut n, "split") {
                        let name = self.fresh(&label(&n), "split");
                        g.initializer.push(int64_tensor(&name, &split.ints));
                        set_input(&mut n, 1, name);
                        self.count("Split", "split to an input");
                    }
                    nodes.push(n);
                }
                "Softmax" | "LogSoftmax" | "Hardmax" => {
                    nodes.extend(self.softmax(n, &ranks));
                }
                _ => nodes.push(n),
            }
        }
        g.node = nodes;
    }

    /// Keeps the pre-13 meaning of a Softmax-like node.
    fn softmax(&mut self, mut n: NodeProto, ranks: &HashMap<String, usize>) -> Vec<NodeProto> {
        let axis = take_attr(&mut n, "axis").map_or(1, |a| a.i);
        let op = n.op_type.clone();
        let x = n.input.first().cloned().unwrap_or_default();
        let last = ranks
            .get(&x)
            .is_some_and(|&r| r > 0 && (axis == r as i64 - 1 || axis == -1));
        if last {
            n.attribute.push(int_attr("axis", axis));
            self.count(&op, "over its last axis, unchanged");
            return vec![n];
        }
        let y = n.output.first().cloned().unwrap_or_default();
        let base = label(&n);
        let shape = self.fresh(&base, "shape");
        let flat = self.fresh(&base, "flat");
        let flat_y = self.fresh(&base, "flat_out");
        let mut flatten = node("Flatten", &self.fresh(&base, "Flatten"), &[&x], &[&flat]);
        flatten.attribute.push(int_attr("axis", axis));
        let mut inner = n.clone();
        inner.name = self.fresh(&base, &op);
        inner.input = vec![flat];
        inner.output = vec![flat_y.clone()];
        inner.attribute.push(int_attr("axis", 1));
        let shape_node = node("Shape", &self.fresh(&base, "Shape"), &[&x], &[&shape]);
        let reshape = node("Reshape", &n.name, &[&flat_y, &shape], &[&y]);
        self.count(&op, "2-D semantics kept with Flatten and Reshape");
        vec![shape_node, flatten, inner, reshape]
    }
}

/// A node's name, or its first output when it has none.
fn label(n: &NodeProto) -> String {
    if n.name.is_empty() {
        n.output
            .first()
            .cloned()
            .unwrap_or_else(|| n.op_type.clone())
    } else {
        n.name.clone()
    }
}

/// Removes attribute `name` from `n` and returns it.
fn take_attr(n: &mut NodeProto, name: &str) -> Option<AttributeProto> {
    let i = n.attribute.iter().position(|a| a.name == name)?;
    Some(n.attribute.remove(i))
}

/// Sets input `k` of `n`, padding skipped optional inputs with empty names.
fn set_input(n: &mut NodeProto, k: usize, name: String) {
    while n.input.len() < k {
        n.input.push(String::new());
    }
    if n.input.len() == k {
        n.input.push(name);
    } else {
        n.input[k] = name;
    }
}

fn int64_tensor(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: DataType::INT64.value(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// The ranks the graph declares for its inputs, outputs and value_info tensors.
fn known_ranks(g: &GraphProto) -> HashMap<String, usize> {
    g.input
        .iter()
        .chain(&g.output)
        .chain(&g.value_info)
        .filter_map(|v| {
            let Some(type_proto::Value::TensorType(t)) = v.type_.as_ref()?.value.as_ref() else {
                return None;
            };
            Some((v.name.clone(), t.shape.as_ref()?.dim.len()))
        })
        .collect()
}
