//! Saving and loading model files.

use std::io::Write;
use std::path::Path;

use onnx_protobuf::ModelProto;
use protobuf::Message;

use super::OnnxError;

/// Writes the model to `path` atomically: the bytes go to a temporary file in the
/// same directory, which is then renamed over the destination.
pub fn save_model(model: &ModelProto, path: &Path) -> Result<(), OnnxError> {
    let bytes = model.write_to_bytes().map_err(|e| OnnxError::Encode {
        reason: e.to_string(),
    })?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp{}", std::process::id()));
    let io = |action, source| OnnxError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("write", e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("rename into place", e)
    })
}

/// Reads and checks a model file.
///
/// A file that is not an ONNX protobuf gives [`OnnxError::NotOnnx`], a truncated one
/// [`OnnxError::Corrupt`], and a model without nodes, inputs or outputs
/// [`OnnxError::EmptyGraph`] or [`OnnxError::MissingInputOutput`].
pub fn load_model(path: &Path) -> Result<ModelProto, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    parse_model(path, &bytes)
}

/// Decodes and checks model bytes already read from `path` (the path is only used in errors).
pub fn parse_model(path: &Path, bytes: &[u8]) -> Result<ModelProto, OnnxError> {
    let not_onnx = |found: String| OnnxError::NotOnnx {
        path: path.to_path_buf(),
        found,
    };
    // A serialised ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
    let starts_like_onnx = bytes.first() == Some(&0x08);
    if !starts_like_onnx && let Some(found) = foreign_format(bytes) {
        return Err(not_onnx(found));
    }
    // Framing first: `protobuf` would reserve memory from declared lengths before
    // checking them (see `wire`).
    if let Err(reason) = super::wire::check_model(bytes) {
        return Err(if starts_like_onnx {
            OnnxError::Corrupt {
                path: path.to_path_buf(),
                reason,
                size: bytes.len(),
            }
        } else {
            not_onnx(describe_bytes(bytes))
        });
    }
    let model = match ModelProto::parse_from_bytes(bytes) {
        Ok(m) => m,
        Err(e) if starts_like_onnx => {
            return Err(OnnxError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
                size: bytes.len(),
            });
        }
        Err(_) => return Err(not_onnx(describe_bytes(bytes))),
    };
    if model.ir_version <= 0 || model.graph.is_none() {
        return Err(if starts_like_onnx {
            OnnxError::Corrupt {
                path: path.to_path_buf(),
                reason: "no graph was found in the decoded model".into(),
                size: bytes.len(),
            }
        } else {
            not_onnx(describe_bytes(bytes))
        });
    }
    let graph = model.graph.as_ref().expect("checked above");
    if graph.node.is_empty() {
        return Err(OnnxError::EmptyGraph {
            path: path.to_path_buf(),
        });
    }
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    if !graph
        .input
        .iter()
        .any(|i| !initializers.contains(i.name.as_str()))
    {
        return Err(OnnxError::MissingInputOutput {
            path: path.to_path_buf(),
            what: "input",
        });
    }
    if graph.output.is_empty() {
        return Err(OnnxError::MissingInputOutput {
            path: path.to_path_buf(),
            what: "output",
        });
    }
    for t in &graph.initializer {
        check_initializer(t).map_err(|detail| OnnxError::Initializer {
            path: path.to_path_buf(),
            name: t.name.clone(),
            detail,
        })?;
    }
    Ok(model)
}

/// Checks an initializer's dimensions against the data it stores, so readers that
/// index by the dimensions (the quantizer, parameter counts) can trust them.
fn check_initializer(t: &onnx_protobuf::TensorProto) -> Result<(), String> {
    use onnx_protobuf::tensor_proto::{DataLocation, DataType};
    use protobuf::Enum;
    if let Some(d) = t.dims.iter().find(|&&d| d < 0) {
        return Err(format!("dimensions {:?} include {d}", t.dims));
    }
    let count = t
        .dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .filter(|&n| n <= (1u64 << 40))
        .ok_or_else(|| format!("dimensions {:?} hold more than 2^40 values", t.dims))?;
    if t.data_location.value() == DataLocation::EXTERNAL.value() || !t.external_data.is_empty() {
        return Ok(());
    }
    let ty = DataType::from_i32(t.data_type);
    let bytes_per_value: Option<u64> = match ty {
        Some(DataType::FLOAT | DataType::INT32 | DataType::UINT32) => Some(4),
        Some(DataType::DOUBLE | DataType::INT64 | DataType::UINT64 | DataType::COMPLEX64) => {
            Some(8)
        }
        Some(DataType::COMPLEX128) => Some(16),
        Some(DataType::INT16 | DataType::UINT16 | DataType::FLOAT16 | DataType::BFLOAT16) => {
            Some(2)
        }
        Some(DataType::INT8 | DataType::UINT8 | DataType::BOOL) => Some(1),
        _ => None,
    };
    let typed = t.float_data.len()
        + t.int32_data.len()
        + t.int64_data.len()
        + t.double_data.len()
        + t.uint64_data.len()
        + t.string_data.len();
    let (found, expected, unit) = match (bytes_per_value, t.raw_data.is_empty()) {
        (Some(size), false) => (t.raw_data.len() as u64, count * size, "bytes of raw data"),
        (_, true) if typed > 0 || count > 0 => {
            let per = if matches!(ty, Some(DataType::COMPLEX64 | DataType::COMPLEX128)) {
                2
            } else {
                1
            };
            (typed as u64, count * per, "stored values")
        }
        _ => return Ok(()),
    };
    if found != expected {
        return Err(format!(
            "dimensions {:?} need {expected} {unit}, the file stores {found}",
            t.dims
        ));
    }
    Ok(())
}

/// Recognises a few common non-ONNX formats that people pass by mistake.
fn foreign_format(bytes: &[u8]) -> Option<String> {
    let found = if bytes.is_empty() {
        "an empty file"
    } else if bytes.starts_with(b"PK\x03\x04") {
        "a ZIP archive (a PyTorch .pt/.pth checkpoint or a bundle?)"
    } else if bytes.starts_with(&[0x80]) && bytes.get(1).is_some_and(|&v| v <= 5) {
        "a Python pickle (a PyTorch checkpoint?)"
    } else if bytes.starts_with(b"\x89HDF") {
        "an HDF5 file (a Keras model?)"
    } else if bytes.starts_with(b"{") || bytes.starts_with(b"[") {
        "JSON or other text"
    } else if bytes.len() >= 8 && bytes.get(8) == Some(&b'{') {
        "a safetensors file"
    } else {
        return None;
    };
    Some(found.to_string())
}

/// Describes the first bytes of a file that failed to decode.
fn describe_bytes(bytes: &[u8]) -> String {
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!(
        "{} bytes starting with {} that do not decode as one",
        bytes.len(),
        head.join(" ")
    )
}
