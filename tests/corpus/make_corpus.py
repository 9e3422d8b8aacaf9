#!/usr/bin/env python3
"""Writes the malformed-file corpus of tests/fuzz_parsers.rs.

Every file here must be rejected by its parser with an error (no panic, no
allocation beyond what the file's size justifies). The files are checked in;
this script documents how each was made and rebuilds them:

    .local/venv/bin/python tests/corpus/make_corpus.py

The ONNX files are made with the `onnx` Python package (an independent producer),
the rest byte by byte from the format specifications.
"""

import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def write(kind, name, data):
    d = HERE / kind
    d.mkdir(exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# ------------------------------------------------------------------ XDF

def chunk(tag, content, width=4):
    body = struct.pack("<H", tag) + content
    if width == 1:
        return bytes([1, len(body)]) + body
    if width == 8:
        return bytes([8]) + struct.pack("<Q", len(body)) + body
    return bytes([4]) + struct.pack("<I", len(body)) + body


def header(sid, channels="4", fmt="float32", srate="100", extra=""):
    xml = (
        '<?xml version="1.0"?><info><name>amp</name><type>EEG</type>'
        f"<channel_count>{channels}</channel_count><channel_format>{fmt}</channel_format>"
        f"<nominal_srate>{srate}</nominal_srate>{extra}</info>"
    )
    return chunk(2, struct.pack("<I", sid) + xml.encode())


def samples(sid, count_bytes, body):
    return chunk(3, struct.pack("<I", sid) + count_bytes + body)


def one_sample(channels, value=b"\x00\x00\x80\x3f"):
    return bytes([8]) + struct.pack("<d", 1.0) + value * channels


FILE_HEADER = chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
XDF = b"XDF:" + FILE_HEADER

write("xdf", "wrong_magic.xdf", b"XDG:" + FILE_HEADER)
write("xdf", "magic_only.xdf", b"XDF:")
write("xdf", "length_byte_count_3.xdf", b"XDF:\x03\x00\x00\x00")
write("xdf", "chunk_length_u64_max.xdf", b"XDF:\x08" + b"\xff" * 8 + b"\x02\x00")
write("xdf", "chunk_length_1.xdf", b"XDF:\x01\x01\x02")
write("xdf", "truncated_header_chunk.xdf", (XDF + header(1))[:-20])
write("xdf", "zero_channels.xdf", XDF + header(1, channels="0"))
write("xdf", "negative_channels.xdf", XDF + header(1, channels="-4"))
# Point of the issue: refused as "1000000000 channels", not as "truncated".
write(
    "xdf",
    "billion_channels.xdf",
    XDF + header(1, channels="1000000000")
    + samples(1, b"\x01\x01", one_sample(64)),
)
write(
    "xdf",
    "channel_count_beyond_u64.xdf",
    XDF + header(1, channels="99999999999999999999999"),
)
# The header says 1000 channels, the data holds 64: refused before reading.
write(
    "xdf",
    "channels_exceed_samples.xdf",
    XDF + header(1, channels="1000") + samples(1, b"\x01\x02", one_sample(64) * 2),
)
write(
    "xdf",
    "sample_count_u64_max.xdf",
    XDF + header(1) + samples(1, b"\x08" + b"\xff" * 8, one_sample(4)),
)
write("xdf", "negative_srate.xdf", XDF + header(1, srate="-100"))
write("xdf", "nan_srate.xdf", XDF + header(1, srate="NaN"))
write("xdf", "unknown_format.xdf", XDF + header(1, fmt="float16"))
write(
    "xdf",
    "samples_for_undeclared_stream.xdf",
    XDF + header(1) + samples(7, b"\x01\x01", one_sample(4)),
)
write(
    "xdf",
    "timestamp_byte_count_5.xdf",
    XDF + header(1) + samples(1, b"\x01\x01", bytes([5]) + b"\x00" * 24),
)
write(
    "xdf",
    "string_length_u32_max.xdf",
    XDF + header(1, channels="1", fmt="string", srate="0")
    + samples(1, b"\x01\x01", bytes([0, 4]) + b"\xff\xff\xff\xff" + b"x" * 8),
)
write("xdf", "malformed_header_xml.xdf", XDF + chunk(2, struct.pack("<I", 1) + b"<info><name>"))
# A header nested 10000 elements deep: would overflow the stack of a recursive XML reader.
write(
    "xdf",
    "deeply_nested_header.xdf",
    XDF + header(1, extra="<desc>" + "<a>" * 10000 + "</a>" * 10000 + "</desc>"),
)
write("xdf", "only_markers.xdf", XDF + header(1, channels="1", fmt="string", srate="0"))
write("xdf", "empty_eeg.xdf", XDF + header(1))

# ------------------------------------------------------------- EDF/BDF

def edf(
    signals=(("EEG Fz", "-100", "100", "-32768", "32767", "4"),),
    records="1",
    duration="1",
    header_bytes=None,
    count=None,
    data=None,
    bdf=False,
):
    out = (b"\xffBIOSEMI" if bdf else b"0       ")
    out += b"X X X X".ljust(80) + b"Startdate 01-JAN-2025 X X X".ljust(80)
    out += b"01.01.25" + b"00.00.00"
    n = len(signals)
    out += str(header_bytes if header_bytes is not None else 256 * (n + 1)).encode().ljust(8)
    out += (b"BDF+C" if bdf else b"EDF+C").ljust(44)
    out += records.encode().ljust(8) + duration.encode().ljust(8)
    out += str(count if count is not None else n).encode().ljust(4)
    columns = [(16, 0), (80, None), (8, None), (8, 1), (8, 2), (8, 3), (8, 4), (80, None), (8, 5), (32, None)]
    for width, index in columns:
        for s in signals:
            out += (s[index] if index is not None else "").encode().ljust(width)
    if data is None:
        size = 3 if bdf else 2
        data = b"".join(b"\x01" * size * int(s[5]) for s in signals if s[5].lstrip("-").isdigit())
    return out + data


write("edf", "wrong_header_bytes.edf", edf(header_bytes=999))
write("edf", "zero_signals.edf", edf(signals=(), count=0))
write("edf", "million_signals.edf", edf(count=1000000, header_bytes=256 * 1000001))
write("edf", "records_99999999.edf", edf(records="99999999"))
write("edf", "record_duration_0.edf", edf(duration="0"))
write("edf", "record_duration_nan.edf", edf(duration="NaN"))
# 4 samples in 1e-320 s: an infinite sample rate.
write("edf", "record_duration_subnormal.edf", edf(duration="1e-320"))
# Point of the issue: a signal whose physical minimum equals its maximum.
write(
    "edf",
    "physical_min_equals_max.edf",
    edf(signals=(("EEG Fz", "-100", "100", "-32768", "32767", "4"),
                 ("EEG Cz", "5", "5", "-32768", "32767", "4"))),
)
write("edf", "physical_nan.edf", edf(signals=(("EEG Fz", "NaN", "100", "-32768", "32767", "4"),)))
write("edf", "digital_inf.edf", edf(signals=(("EEG Fz", "-100", "100", "-32768", "inf", "4"),)))
write("edf", "digital_inverted.edf", edf(signals=(("EEG Fz", "-100", "100", "32767", "-32768", "4"),)))
write("edf", "samples_negative.edf", edf(signals=(("EEG Fz", "-100", "100", "-32768", "32767", "-4"),)))
write("edf", "samples_huge.edf", edf(signals=(("EEG Fz", "-100", "100", "-32768", "32767", "99999999"),), data=b""))
write("edf", "truncated_data.edf", edf()[:-3])
write("edf", "truncated_header.edf", edf()[:300])
write("edf", "only_annotations.edf", edf(signals=(("EDF Annotations", "-1", "1", "-32768", "32767", "8"),)))
write("edf", "mixed_rates.edf", edf(signals=(("A", "-1", "1", "-10", "10", "4"), ("B", "-1", "1", "-10", "10", "2"))))
write("edf", "bdf_truncated.bdf", edf(bdf=True)[:-1])
write("edf", "bdf_physical_min_equals_max.bdf", edf(signals=(("EEG Oz", "0", "0", "-8388608", "8388607", "4"),), bdf=True))

# ------------------------------------------------------------ manifest

demo = (ROOT / "models/demo/neurospeak.yaml").read_text()


def edited(old, new):
    assert old in demo, old
    return demo.replace(old, new, 1)


write("manifest", "empty.yaml", "")
write("manifest", "not_yaml.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
write("manifest", "truncated.yaml", demo[: len(demo) // 2])
write("manifest", "format_version_2.yaml", edited("format_version: 1", "format_version: 2"))
write("manifest", "channels_0.yaml", edited("  channels: 64", "  channels: 0"))
write("manifest", "sample_rate_nan.yaml", edited("sample_rate_hz: 1024.0", "sample_rate_hz: .nan"))
write("manifest", "sample_rate_negative.yaml", edited("sample_rate_hz: 1024.0", "sample_rate_hz: -1024.0"))
# past + future overflowed usize in validation (a panic in a debug build).
write(
    "manifest",
    "context_overflow.yaml",
    edited("past_frames: 10", "past_frames: 18446744073709551615").replace(
        "future_frames: 0", "future_frames: 1", 1
    ),
)
# A stride of 10^9 made the front-end reserve (10 × 10^9 + 1) × 64 floats (256 GB).
write("manifest", "stride_billion.yaml", edited("stride: 2", "stride: 1000000000"))
# 2^64 - 1 notch harmonics: building the front-end looped for ever.
write("manifest", "notch_harmonics_u64_max.yaml", edited("notch_harmonics: 3", "notch_harmonics: 18446744073709551615"))
write("manifest", "n_fft_huge.yaml", edited("n_fft: 640", "n_fft: 4294967296"))
write("manifest", "billion_laughs.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
))
write("manifest", "deeply_nested.yaml", "a: " + "[" * 20000 + "]" * 20000 + "\n")
write("manifest", "sha256_short.yaml", edited("sha256: dfa201e77e6df23ac7cb6045d3ffd04abb6e014ba5b18ab6d0deae404bf31963", "sha256: dfa2"))

# ---------------------------------------------------------------- ONNX

try:
    import onnx
    from onnx import TensorProto, helper
except ImportError:  # the rest of the corpus does not need it
    onnx = None

if onnx is not None:
    def model(nodes, inputs, outputs, inits=(), opset=17):
        g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])

    x = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 6])
    y = helper.make_tensor_value_info("log_mel", TensorProto.FLOAT, ["batch", 3])
    w = helper.make_tensor("w", TensorProto.FLOAT, [6, 3], [0.1] * 18)
    good = model([helper.make_node("MatMul", ["features", "w"], ["log_mel"])], [x], [y], [w])
    good_bytes = good.SerializeToString()

    write("onnx", "empty.onnx", b"")
    write("onnx", "zip_archive.onnx", b"PK\x03\x04" + b"\x00" * 26)
    write("onnx", "truncated.onnx", good_bytes[: len(good_bytes) // 2])
    # Found by the fuzzing: a 14-byte file whose unknown field declares 278528 bytes;
    # protobuf reserved them before checking.
    write("onnx", "unknown_field_length_278528.onnx", b"0       \xaa\x00\x80\x80\x11\x00")
    # ModelProto.graph → GraphProto.initializer → TensorProto.dims (packed) claiming 1 MiB.
    tensor = b"\x0a\x80\x80\x40\x01"
    graph = b"\x2a" + bytes([len(tensor)]) + tensor
    write("onnx", "packed_dims_length_1MiB.onnx", b"\x08\x08\x3a" + bytes([len(graph)]) + graph)
    write("onnx", "group_wire_type.onnx", b"\x08\x08\x0b\x0c")
    write("onnx", "no_graph.onnx", helper.make_model(helper.make_graph([], "g", [], [])).SerializeToString()[:2])
    write("onnx", "empty_graph.onnx", model([], [x], [y]).SerializeToString())
    write("onnx", "no_output.onnx", model([helper.make_node("Relu", ["features"], ["r"])], [x], []).SerializeToString())
    # Dimensions whose product overflows: counting parameters overflowed (a panic in debug builds).
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 40, 1 << 40])
    write("onnx", "initializer_dims_overflow.onnx",
          model([helper.make_node("MatMul", ["features", "w"], ["log_mel"])], [x], [y], [huge]).SerializeToString())
    # Rank 3 is a window input ([batch, T, C]); rank 4 is no decoder input.
    x4 = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 6, 2, 1])
    write("onnx", "rank4_input.onnx",
          model([helper.make_node("Relu", ["features"], ["log_mel"])], [x4], [y]).SerializeToString())
    xi = helper.make_tensor_value_info("features", TensorProto.INT64, ["batch", 6])
    write("onnx", "int64_input.onnx",
          model([helper.make_node("Relu", ["features"], ["log_mel"])], [xi], [y]).SerializeToString())
    x2 = helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["batch", 6])
    write("onnx", "two_inputs.onnx",
          model([helper.make_node("Add", ["features", "extra"], ["log_mel"])], [x, x2], [y]).SerializeToString())
    xneg = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", -6])
    write("onnx", "negative_dim.onnx",
          model([helper.make_node("Relu", ["features"], ["log_mel"])], [xneg], [y]).SerializeToString())
    # Subgraphs nested 150 deep (If → then_branch → If → ...), written field by field
    # (the Python protobuf runtime refuses to build it): beyond protobuf's recursion limit.
    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out += bytes([b | 0x80])
            else:
                return out + bytes([b])

    def field(number, payload):
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    g = b""
    for _ in range(150):
        attribute = field(1, b"then_branch") + varint(20 << 3) + varint(5) + field(6, g)
        g = field(1, field(4, b"If") + field(5, attribute))
    write("onnx", "subgraphs_150_deep.onnx", varint(1 << 3) + varint(8) + field(7, g))
