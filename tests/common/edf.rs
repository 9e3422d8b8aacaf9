//! EDF+ and BDF+ files written byte by byte, following the specifications,
//! for the tests that read them.

/// One signal of a fixture: header fields and its data per record.
pub struct Signal {
    pub label: &'static str,
    pub physical: (f64, f64),
    pub digital: (i32, i32),
    pub per_record: usize,
    /// Digital values for ordinary signals, or TAL bytes for annotations, per record.
    pub records: Vec<Vec<u8>>,
}

pub fn pad(out: &mut Vec<u8>, text: &str, width: usize) {
    let mut field = text.as_bytes().to_vec();
    field.resize(width, b' ');
    out.extend_from_slice(&field);
}

/// Renders one per-signal header field.
type Column = dyn Fn(&Signal) -> String;

/// Writes an EDF+ (or BDF+ when `bdf`) file with `records` data records.
pub fn build(bdf: bool, duration: f64, records: usize, signals: &[Signal]) -> Vec<u8> {
    let mut out = Vec::new();
    if bdf {
        out.push(0xFF);
        pad(&mut out, "BIOSEMI", 7);
    } else {
        pad(&mut out, "0", 8);
    }
    pad(&mut out, "X X X X", 80);
    pad(&mut out, "Startdate 01-JAN-2025 X X X", 80);
    pad(&mut out, "01.01.25", 8);
    pad(&mut out, "00.00.00", 8);
    pad(&mut out, &(256 * (signals.len() + 1)).to_string(), 8);
    pad(&mut out, if bdf { "BDF+C" } else { "EDF+C" }, 44);
    pad(&mut out, &records.to_string(), 8);
    pad(&mut out, &duration.to_string(), 8);
    pad(&mut out, &signals.len().to_string(), 4);
    let columns: [(usize, &Column); 10] = [
        (16, &|s| s.label.to_string()),
        (80, &|_| String::new()),
        (8, &|_| "uV".to_string()),
        (8, &|s| s.physical.0.to_string()),
        (8, &|s| s.physical.1.to_string()),
        (8, &|s| s.digital.0.to_string()),
        (8, &|s| s.digital.1.to_string()),
        (80, &|_| String::new()),
        (8, &|s| s.per_record.to_string()),
        (32, &|_| String::new()),
    ];
    for (width, value) in columns {
        for s in signals {
            pad(&mut out, &value(s), width);
        }
    }
    let sample_size = if bdf { 3 } else { 2 };
    for r in 0..records {
        for s in signals {
            let mut data = s.records[r].clone();
            data.resize(s.per_record * sample_size, 0);
            out.extend_from_slice(&data);
        }
    }
    out
}

/// Encodes digital values as 16-bit (EDF) or 24-bit (BDF) little-endian.
pub fn encode(values: &[i32], bdf: bool) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| {
            let b = v.to_le_bytes();
            if bdf {
                b[..3].to_vec()
            } else {
                b[..2].to_vec()
            }
        })
        .collect()
}
