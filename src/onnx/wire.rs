//! A structural check of the protobuf wire format of an ONNX model, run before the
//! `protobuf` crate decodes it.
//!
//! `protobuf` 3 reserves memory for a length-delimited field (bytes, strings, unknown
//! fields and packed repeated numbers) from its declared length before it checks that
//! the bytes are there, up to 10 MB of elements: a 14-byte file could make it allocate
//! tens of megabytes. This walk follows the ONNX schema (which fields hold messages)
//! and refuses any length that runs past the end of its enclosing message, so nothing
//! reserved later can exceed a small multiple of the file's size.

/// The ONNX messages that contain length-delimited fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
    ValueInfo,
    Type,
    TypeTensor,
    TypeSequence,
    TypeMap,
    TypeOptional,
    TensorShape,
    Dimension,
    OperatorSetId,
    StringString,
    TensorAnnotation,
    TrainingInfo,
    Function,
    /// Messages without length-delimited fields of their own (`TensorProto.Segment`).
    Leaf,
}

/// The message type held by field `field` of `msg`, `None` for bytes, strings,
/// packed numbers and unknown fields.
fn child(msg: Msg, field: u64) -> Option<Msg> {
    use Msg::*;
    Some(match (msg, field) {
        (Model, 7) => Graph,
        (Model, 8) => OperatorSetId,
        (Model, 14) => StringString,
        (Model, 20) => TrainingInfo,
        (Model, 25) => Function,
        (Graph, 1) => Node,
        (Graph, 5) => Tensor,
        (Graph, 15) => SparseTensor,
        (Graph, 11..=13) => ValueInfo,
        (Graph, 14) => TensorAnnotation,
        (Graph, 16) => StringString,
        (Node, 5) => Attribute,
        (Node, 9) => StringString,
        (Attribute, 5 | 10) => Tensor,
        (Attribute, 6 | 11) => Graph,
        (Attribute, 22 | 23) => SparseTensor,
        (Attribute, 14 | 15) => Type,
        (Tensor, 3) => Leaf,
        (Tensor, 13 | 16) => StringString,
        (SparseTensor, 1 | 2) => Tensor,
        (ValueInfo, 2) => Type,
        (ValueInfo, 4) => StringString,
        (Type, 1 | 8) => TypeTensor,
        (Type, 4) => TypeSequence,
        (Type, 5) => TypeMap,
        (Type, 9) => TypeOptional,
        (TypeTensor, 2) => TensorShape,
        (TypeSequence | TypeOptional, 1) => Type,
        (TypeMap, 2) => Type,
        (TensorShape, 1) => Dimension,
        (TensorAnnotation, 2) => StringString,
        (TrainingInfo, 1 | 2) => Graph,
        (TrainingInfo, 3 | 4) => StringString,
        (Function, 11) => Attribute,
        (Function, 7) => Node,
        (Function, 9) => OperatorSetId,
        (Function, 12) => ValueInfo,
        (Function, 14) => StringString,
        _ => return None,
    })
}

/// The nesting `protobuf` accepts (its default recursion limit).
const MAX_DEPTH: usize = 100;

/// Checks that every field of the serialised `ModelProto` in `bytes` is well framed.
/// Returns a description of the first problem and the byte offset where it is.
pub(super) fn check_model(bytes: &[u8]) -> Result<(), String> {
    walk(bytes, 0, Msg::Model, 0)
}

fn walk(bytes: &[u8], base: usize, msg: Msg, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "messages nested more than {MAX_DEPTH} deep at byte {base}"
        ));
    }
    let mut pos = 0;
    while pos < bytes.len() {
        let at = base + pos;
        let tag =
            varint(bytes, &mut pos).ok_or_else(|| format!("a malformed field tag at byte {at}"))?;
        let field = tag >> 3;
        if field == 0 {
            return Err(format!("field number 0 at byte {at}"));
        }
        match tag & 7 {
            0 => {
                varint(bytes, &mut pos)
                    .ok_or_else(|| format!("a malformed varint in field {field} at byte {at}"))?;
            }
            1 | 5 => {
                let n = if tag & 7 == 1 { 8 } else { 4 };
                if bytes.len() - pos < n {
                    return Err(format!(
                        "field {field} at byte {at} needs {n} bytes but only {} remain",
                        bytes.len() - pos
                    ));
                }
                pos += n;
            }
            2 => {
                let len = varint(bytes, &mut pos)
                    .ok_or_else(|| format!("a malformed length in field {field} at byte {at}"))?;
                let remaining = bytes.len() - pos;
                if len > remaining as u64 {
                    return Err(format!(
                        "field {field} at byte {at} declares {len} bytes but only {remaining} remain \
                         in its enclosing message"
                    ));
                }
                let end = pos + len as usize;
                if let Some(sub) = child(msg, field) {
                    walk(&bytes[pos..end], base + pos, sub, depth + 1)?;
                }
                pos = end;
            }
            other => {
                return Err(format!(
                    "wire type {other} (groups or invalid) in field {field} at byte {at}"
                ));
            }
        }
    }
    Ok(())
}

/// Reads a base-128 varint of at most 10 bytes.
fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in 0..10 {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7F) << (7 * shift);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_past_the_end_is_refused_at_any_depth() {
        // ModelProto.graph (field 7) holding a GraphProto whose initializer (field 5)
        // holds a TensorProto with packed dims (field 1) claiming 2^20 bytes.
        let tensor = [0x0A, 0x80, 0x80, 0x40, 0x01];
        let mut graph = vec![0x2A, tensor.len() as u8];
        graph.extend_from_slice(&tensor);
        let mut model = vec![0x08, 0x08, 0x3A, graph.len() as u8];
        model.extend_from_slice(&graph);
        let err = check_model(&model).unwrap_err();
        assert!(err.contains("declares 1048576 bytes"), "{err}");
        // The same bytes as a string field (producer_name, field 2) are opaque.
        let mut ok = vec![0x08, 0x08, 0x12, tensor.len() as u8];
        ok.extend_from_slice(&tensor);
        assert_eq!(check_model(&ok), Ok(()));
    }
}
