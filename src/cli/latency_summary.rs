//! The latency lines of `run`, `replay` and `benchmark` summaries: sensor to sound first,
//! with its budget.

use crate::report::{LatencyReport, LatencyStats};

/// `p50 …, p99 …, max …` of one latency, or `n/a`.
pub fn fmt_latency(s: &Option<LatencyStats>) -> String {
    s.map_or("n/a".into(), |s| {
        format!(
            "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            s.p50, s.p99, s.max
        )
    })
}

/// Prints sensor to sound and its budget (mean of each part), when measured.
pub fn print_sensor_to_sound(l: &LatencyReport) {
    let (Some(total), Some(budget)) = (&l.sensor_to_sound, &l.budget) else {
        return;
    };
    println!(
        "sensor→sound {} ({} frames heard)",
        fmt_latency(&Some(*total)),
        total.count
    );
    let parts: Vec<String> = budget
        .parts
        .iter()
        .map(|p| format!("{} {:.2}", p.part, p.mean))
        .collect();
    println!(
        "  budget (means, ms): {} = {:.2} (mean {:.2})",
        parts.join(" + "),
        budget.sum_of_means,
        total.mean
    );
}
