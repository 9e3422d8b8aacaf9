//! Which tensors of an exported decoder are the frame, and which are state.
//!
//! An exported decoder declares its inputs and outputs but not what they
//! mean. The frame input is the one of shape `[1, D]` with `D` what the
//! front-end makes; the frame output the one of shape `[1, M]` with `M` the
//! vocoder's mel bins. Every other input must be a recurrent state, fed by the
//! output of the same shape; where shapes leave a choice, the names decide
//! (`h_in` goes with `h_out`, `state.1` with `state.2` only if named so).
//! What cannot be decided is asked for, naming the tensors.

use crate::features::InputLayout;
use crate::onnx::{Dim, TensorSignature};
use onnx_protobuf::tensor_proto::DataType;
use protobuf::Enum;

use super::ImportError;

/// What the user said, where the signature alone may not decide.
#[derive(Clone, Debug, Default)]
pub struct Declared {
    /// The frame input's name.
    pub input: Option<String>,
    /// The frame output's name.
    pub output: Option<String>,
    /// State pairs, input to output.
    pub state: Vec<(String, String)>,
    /// The input's layout, where a window's shape does not tell (`T = C`).
    pub layout: Option<InputLayout>,
}

/// What the front-end and vocoder make: the frame the decoder must take and give.
#[derive(Clone, Copy, Debug)]
pub struct FrameSpec {
    pub channels: usize,
    /// Stacked frames per input (`past_frames + 1 + future_frames`).
    pub frames: usize,
    /// Mel bins per output frame.
    pub mels: usize,
}

/// One recurrent state found in the signature.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundState {
    pub input: String,
    pub output: String,
    /// Its shape, with symbolic dimensions taken as 1 (batch).
    pub shape: Vec<usize>,
    /// The symbolic dimensions that were taken as 1.
    pub symbolic: Vec<String>,
}

/// The meaning of every tensor of the decoder.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderSignature {
    pub input: String,
    /// How the input holds the stacked frames.
    pub layout: InputLayout,
    pub output: String,
    pub state: Vec<FoundState>,
}

/// Decides which inputs and outputs are the frame (as `spec` says) and which
/// are state.
pub fn infer(
    inputs: &[TensorSignature],
    outputs: &[TensorSignature],
    spec: FrameSpec,
    declared: &Declared,
) -> Result<DecoderSignature, ImportError> {
    let input_dim = spec.channels * spec.frames;
    let output_dim = spec.mels;
    for (role, list) in [("input", inputs), ("output", outputs)] {
        for t in list {
            if t.elem_type != Some(DataType::FLOAT.value()) || t.dims.is_none() {
                return Err(mismatch(
                    format!("{role} `{}`", t.name),
                    "a float32 tensor with a declared shape",
                    t.describe(),
                    "NeuroSpeak feeds and reads float32 tensors; re-export with float32 \
                     inputs and outputs and static shapes",
                ));
            }
        }
    }
    let input_fits = |t: &TensorSignature| !input_layouts(t, spec).is_empty();
    let input = frame(
        inputs,
        "input",
        input_dim,
        &input_fits,
        declared.input.as_deref(),
        "--input",
    )?;
    let output_fits = |t: &TensorSignature| is_frame(t, output_dim);
    let output = frame(
        outputs,
        "output",
        output_dim,
        &output_fits,
        declared.output.as_deref(),
        "--output",
    )?;
    let t = inputs
        .iter()
        .find(|t| t.name == input)
        .expect("found above");
    let layouts = input_layouts(t, spec);
    let layout = match (layouts.as_slice(), declared.layout) {
        ([one], None) => *one,
        (_, Some(l)) if layouts.contains(&l) => l,
        (_, Some(l)) => {
            return Err(mismatch(
                format!("input `{input}` (--input-layout {})", l.name()),
                format!("[1, {}]", dims(&l.shape(spec.channels, spec.frames))),
                t.describe(),
                "give the layout the model's input has",
            ));
        }
        (_, None) => {
            return Err(mismatch(
                format!("input `{input}`"),
                "a window whose shape tells time from channels",
                format!(
                    "{} with as many frames as channels ({})",
                    t.describe(),
                    spec.channels
                ),
                "say which it is with --input-layout time_major or channel_major",
            ));
        }
    };
    let mut free_in: Vec<&TensorSignature> = inputs.iter().filter(|t| t.name != input).collect();
    let mut free_out: Vec<&TensorSignature> = outputs.iter().filter(|t| t.name != output).collect();
    let mut state = Vec::new();
    for (i, o) in &declared.state {
        let ti = take(&mut free_in, i, "input", "--state INPUT=OUTPUT")?;
        let to = take(&mut free_out, o, "output", "--state INPUT=OUTPUT")?;
        if !same_shape(ti, to) {
            return Err(mismatch(
                format!("state `{i}={o}`"),
                "an input and an output of the same shape",
                format!("input {} and output {}", ti.describe(), to.describe()),
                "a state output is fed back into its input at the next frame; pair tensors \
                 of one shape",
            ));
        }
        state.push(found(ti, to)?);
    }
    while let Some(ti) = free_in.first().copied() {
        let by_shape: Vec<&TensorSignature> = free_out
            .iter()
            .copied()
            .filter(|o| same_shape(ti, o))
            .collect();
        let chosen = match by_shape.as_slice() {
            [] => {
                return Err(mismatch(
                    format!("input `{}`", ti.name),
                    format!("the frame [1, {input_dim}] or a state with an output of its shape"),
                    format!("{}, and no remaining output of that shape", ti.describe()),
                    "every input other than the frame must be a recurrent state whose next \
                     value the model outputs; re-export with the state as an output",
                ));
            }
            [one] => *one,
            many => {
                let stem = name_stem(&ti.name);
                let named: Vec<&&TensorSignature> =
                    many.iter().filter(|o| name_stem(&o.name) == stem).collect();
                match named.as_slice() {
                    [one] => **one,
                    _ => {
                        return Err(mismatch(
                            format!("input `{}`", ti.name),
                            "one output to feed it back from",
                            format!("{} outputs of its shape ({})", many.len(), names(many)),
                            "name the pair with --state INPUT=OUTPUT",
                        ));
                    }
                }
            }
        };
        free_in.retain(|t| t.name != ti.name);
        free_out.retain(|t| t.name != chosen.name);
        state.push(found(ti, chosen)?);
    }
    if !free_out.is_empty() {
        return Err(mismatch(
            format!("output `{}`", free_out[0].name),
            "the frame output or the next value of a state input",
            format!("{} that no input takes back", free_out[0].describe()),
            "NeuroSpeak reads the frame and feeds the states back; re-export the decoder \
             without extra outputs",
        ));
    }
    Ok(DecoderSignature {
        input,
        layout,
        output,
        state,
    })
}

/// The frame tensor among `list`: `declared` if given, else the one of shape
/// `[1 or batch, dim]`.
fn frame(
    list: &[TensorSignature],
    role: &'static str,
    dim: usize,
    fits: &dyn Fn(&TensorSignature) -> bool,
    declared: Option<&str>,
    flag: &str,
) -> Result<String, ImportError> {
    let expected = if role == "input" {
        format!("a float32 tensor of shape [1, {dim}] (or a window of {dim} values)")
    } else {
        format!("a float32 tensor of shape [1, {dim}]")
    };
    if let Some(name) = declared {
        let Some(t) = list.iter().find(|t| t.name == name) else {
            return Err(mismatch(
                format!("{role} `{name}` ({flag})"),
                format!("one of the model's {role}s"),
                format!("none of that name; the {role}s are {}", names_of(list)),
                "pass one of the names listed",
            ));
        };
        if !fits(t) {
            return Err(mismatch(
                format!("{role} `{name}`"),
                expected,
                t.describe(),
                frame_hint(role),
            ));
        }
        return Ok(name.to_string());
    }
    let hits: Vec<&TensorSignature> = list.iter().filter(|t| fits(t)).collect();
    match hits.as_slice() {
        [one] => Ok(one.name.clone()),
        [] => Err(mismatch(
            format!("the frame {role}"),
            expected,
            format!(
                "none among {}",
                list.iter()
                    .map(|t| format!("`{}` ({})", t.name, t.describe()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            frame_hint(role),
        )),
        many => Err(mismatch(
            format!("the frame {role}"),
            format!("one {role} of {dim} values per frame"),
            format!("{} ({})", many.len(), names(many)),
            &format!("name it with {flag}"),
        )),
    }
}

fn frame_hint(role: &str) -> &'static str {
    if role == "input" {
        "the front-end makes (channels, or bipolar pairs) x bands values per frame, stacked \
         past_frames + 1 + future_frames times: set the config's front-end and context to what \
         the model was trained on"
    } else {
        "the decoder must give one frame of the vocoder's mel bins (n_mels); re-export it with \
         a 2-D output of that size"
    }
}

/// The layouts in which `t` can take the frame `spec` describes: flat
/// `[1, C x T]`, a window `[1, T, C]` (time major) or `[1, C, T]` (channel
/// major); both window layouts when `T = C`.
fn input_layouts(t: &TensorSignature, spec: FrameSpec) -> Vec<InputLayout> {
    let Some(d) = t.dims.as_deref() else {
        return Vec::new();
    };
    let batch_ok = |b: &Dim| !matches!(b, Dim::Fixed(n) if *n != 1);
    let fixed = |x: &Dim| match x {
        Dim::Fixed(n) => usize::try_from(*n).ok(),
        _ => None,
    };
    match d {
        [b, _] if batch_ok(b) && is_frame(t, spec.channels * spec.frames) => {
            vec![InputLayout::Flat]
        }
        [b, x, y] if batch_ok(b) => {
            let (x, y) = (fixed(x), fixed(y));
            [InputLayout::TimeMajor, InputLayout::ChannelMajor]
                .into_iter()
                .filter(|l| {
                    let want = l.shape(spec.channels, spec.frames);
                    x == Some(want[0]) && y == Some(want[1])
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

fn dims(d: &[usize]) -> String {
    d.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `t` is `[1 or symbolic, dim]`.
fn is_frame(t: &TensorSignature, dim: usize) -> bool {
    match t.dims.as_deref() {
        Some([batch, d]) => {
            !matches!(batch, Dim::Fixed(b) if *b != 1)
                && matches!(d, Dim::Fixed(n) if usize::try_from(*n) == Ok(dim))
        }
        _ => false,
    }
}

/// Whether an input and an output can be one state: same rank, and every
/// dimension equal (a symbolic one matches anything).
fn same_shape(a: &TensorSignature, b: &TensorSignature) -> bool {
    let (Some(x), Some(y)) = (a.dims.as_deref(), b.dims.as_deref()) else {
        return false;
    };
    x.len() == y.len()
        && x.iter().zip(y).all(|(p, q)| match (p, q) {
            (Dim::Fixed(p), Dim::Fixed(q)) => p == q,
            _ => true,
        })
}

/// A state's shape with symbolic dimensions as 1.
fn found(i: &TensorSignature, o: &TensorSignature) -> Result<FoundState, ImportError> {
    let dims = i.dims.as_deref().unwrap_or_default();
    let out = o.dims.as_deref().unwrap_or_default();
    let mut shape = Vec::with_capacity(dims.len());
    let mut symbolic = Vec::new();
    for (d, e) in dims.iter().zip(out) {
        match (d, e) {
            (Dim::Fixed(n), _) | (_, Dim::Fixed(n)) if *n > 0 => {
                shape.push(usize::try_from(*n).unwrap_or(usize::MAX));
            }
            (Dim::Fixed(_), _) | (_, Dim::Fixed(_)) => {
                return Err(mismatch(
                    format!("state input `{}`", i.name),
                    "positive dimensions",
                    i.describe(),
                    "re-export the decoder with the state's real shape",
                ));
            }
            (Dim::Symbolic(s), _) => {
                symbolic.push(s.clone());
                shape.push(1);
            }
            _ => {
                symbolic.push("?".into());
                shape.push(1);
            }
        }
    }
    Ok(FoundState {
        input: i.name.clone(),
        output: o.name.clone(),
        shape,
        symbolic,
    })
}

fn take<'a>(
    free: &mut Vec<&'a TensorSignature>,
    name: &str,
    role: &str,
    flag: &str,
) -> Result<&'a TensorSignature, ImportError> {
    let Some(k) = free.iter().position(|t| t.name == name) else {
        return Err(mismatch(
            format!("state {role} `{name}` ({flag})"),
            format!("an {role} that is neither the frame nor another state"),
            format!("none such; free {role}s: {}", names(free)),
            "pass the names of one state input and its output",
        ));
    };
    Ok(free.remove(k))
}

/// A name with its in/out words and separators removed: `h_in`, `h_out`
/// and `hOut` all give `h`.
fn name_stem(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let drop = ["in", "out", "input", "output", "prev", "next", "new", "old"];
    let mut kept: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !drop.contains(w))
        .collect();
    if kept.len() == words.len() {
        // No separate word: strip a trailing in/out (`hin`, `hout`).
        kept = words;
        if let Some(last) = kept.last_mut() {
            for suffix in ["output", "input", "out", "in"] {
                if let Some(s) = last.strip_suffix(suffix).filter(|s| !s.is_empty()) {
                    *last = s;
                    break;
                }
            }
        }
    }
    kept.join("_")
}

fn names(list: &[&TensorSignature]) -> String {
    list.iter()
        .map(|t| format!("`{}`", t.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names_of(list: &[TensorSignature]) -> String {
    names(&list.iter().collect::<Vec<_>>())
}

fn mismatch(
    what: impl Into<String>,
    expected: impl Into<String>,
    found: impl Into<String>,
    hint: &str,
) -> ImportError {
    ImportError::Tensor {
        what: what.into(),
        expected: expected.into(),
        found: found.into(),
        hint: hint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, dims: &[Dim]) -> TensorSignature {
        TensorSignature {
            name: name.into(),
            elem_type: Some(DataType::FLOAT.value()),
            dims: Some(dims.to_vec()),
        }
    }
    fn f(n: i64) -> Dim {
        Dim::Fixed(n)
    }
    fn s(n: &str) -> Dim {
        Dim::Symbolic(n.into())
    }
    fn spec(channels: usize, frames: usize) -> FrameSpec {
        FrameSpec {
            channels,
            frames,
            mels: 40,
        }
    }

    #[test]
    fn a_window_input_tells_its_layout_by_its_shape() {
        let out = [t("y", &[f(1), f(40)])];
        let layout = |dims: &[Dim], declared: Option<InputLayout>| {
            infer(
                &[t("x", dims)],
                &out,
                spec(8, 5),
                &Declared {
                    layout: declared,
                    ..Declared::default()
                },
            )
            .map(|s| s.layout)
        };
        assert_eq!(layout(&[f(1), f(40)], None).unwrap(), InputLayout::Flat);
        assert_eq!(
            layout(&[s("b"), f(5), f(8)], None).unwrap(),
            InputLayout::TimeMajor
        );
        assert_eq!(
            layout(&[f(1), f(8), f(5)], None).unwrap(),
            InputLayout::ChannelMajor
        );
        let e = layout(&[f(1), f(8), f(4)], None).unwrap_err().to_string();
        assert!(e.contains("[1, 40] (or a window of 40 values)"), "{e}");
        let square = |d| {
            infer(
                &[t("x", &[f(1), f(8), f(8)])],
                &out,
                spec(8, 8),
                &Declared {
                    layout: d,
                    ..Declared::default()
                },
            )
        };
        let e = square(None).unwrap_err().to_string();
        assert!(e.contains("--input-layout"), "{e}");
        assert_eq!(
            square(Some(InputLayout::ChannelMajor)).unwrap().layout,
            InputLayout::ChannelMajor
        );
    }

    #[test]
    fn a_stateless_decoder_has_a_frame_in_and_out() {
        let sig = infer(
            &[t("features", &[s("batch"), f(704)])],
            &[t("log_mel", &[s("batch"), f(40)])],
            spec(64, 11),
            &Declared::default(),
        )
        .unwrap();
        assert_eq!(
            (sig.input.as_str(), sig.output.as_str()),
            ("features", "log_mel")
        );
        assert!(sig.state.is_empty());
    }

    #[test]
    fn an_lstm_pairs_states_by_name_where_shapes_tie() {
        let h = [f(1), s("batch"), f(64)];
        let sig = infer(
            &[t("c_in", &h), t("x", &[f(1), f(64)]), t("h_in", &h)],
            &[t("h_out", &h), t("y", &[f(1), f(40)]), t("c_out", &h)],
            spec(64, 1),
            &Declared::default(),
        )
        .unwrap();
        assert_eq!(sig.input, "x");
        assert_eq!(sig.output, "y");
        let pairs: Vec<(&str, &str)> = sig
            .state
            .iter()
            .map(|s| (s.input.as_str(), s.output.as_str()))
            .collect();
        assert_eq!(pairs, [("c_in", "c_out"), ("h_in", "h_out")]);
        assert_eq!(sig.state[0].shape, [1, 1, 64]);
        assert_eq!(sig.state[0].symbolic, ["batch"]);
    }

    #[test]
    fn shapes_alone_pair_a_gru_and_a_conv_state() {
        let sig = infer(
            &[
                t("x", &[f(1), f(8)]),
                t("a", &[f(1), f(1), f(16)]),
                t("b", &[f(1), f(8), f(3)]),
            ],
            &[
                t("y", &[f(1), f(40)]),
                t("b2", &[f(1), f(8), f(3)]),
                t("a2", &[f(1), f(1), f(16)]),
            ],
            spec(8, 1),
            &Declared::default(),
        )
        .unwrap();
        assert_eq!(sig.state[0].output, "a2");
        assert_eq!(sig.state[1].output, "b2");
    }

    #[test]
    fn what_cannot_be_decided_is_asked_for_by_name() {
        let h = [f(1), f(1), f(16)];
        let ins = [t("x", &[f(1), f(8)]), t("p", &h), t("q", &h)];
        let outs = [t("y", &[f(1), f(40)]), t("r", &h), t("u", &h)];
        let e = infer(&ins, &outs, spec(8, 1), &Declared::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("input `p`") && e.contains("`r`, `u`"), "{e}");
        assert!(e.contains("--state INPUT=OUTPUT"), "{e}");
        let declared = Declared {
            state: vec![("p".into(), "u".into()), ("q".into(), "r".into())],
            ..Declared::default()
        };
        let sig = infer(&ins, &outs, spec(8, 1), &declared).unwrap();
        assert_eq!(sig.state[0].output, "u");
        assert_eq!(sig.state[1].output, "r");
    }

    #[test]
    fn a_frame_of_the_wrong_size_names_the_tensors_and_the_sizes() {
        let e = infer(
            &[t("x", &[f(1), f(700)])],
            &[t("y", &[f(1), f(40)])],
            spec(64, 11),
            &Declared::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("[1, 704]") && e.contains("`x` (a float32 tensor of shape [1, 700])"),
            "{e}"
        );
        assert!(e.contains("past_frames"), "{e}");
    }

    #[test]
    fn an_unpaired_input_or_output_is_refused() {
        let e = infer(
            &[t("x", &[f(1), f(8)]), t("h", &[f(1), f(16)])],
            &[t("y", &[f(1), f(40)])],
            spec(8, 1),
            &Declared::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("input `h`") && e.contains("no remaining output"),
            "{e}"
        );
        let e = infer(
            &[t("x", &[f(1), f(8)])],
            &[t("y", &[f(1), f(40)]), t("attention", &[f(1), f(5)])],
            spec(8, 1),
            &Declared::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("output `attention`"), "{e}");
    }

    #[test]
    fn stems_drop_the_in_and_out_words() {
        for (a, b) in [
            ("h_in", "h_out"),
            ("hin", "hout"),
            ("state.prev", "state.next"),
            ("c0_input", "c0_output"),
        ] {
            assert_eq!(name_stem(a), name_stem(b), "{a} {b}");
        }
        assert_ne!(name_stem("h_in"), name_stem("c_out"));
    }
}
