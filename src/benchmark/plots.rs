//! Pictures of a benchmark: latency histogram and CDF per stage, decoded vs
//! true spectrograms, and the worker scaling chart. Drawn as SVG (plotters
//! needs no fonts for that), then rendered to PNG with resvg using the
//! system's fonts for the labels.

use super::scaling::ScalingPoint;
use crate::pipeline::latency::StageHistograms;
use hdrhistogram::Histogram;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

type PlotResult<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    format!("cannot draw a plot: {e}")
}

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

fn stages(h: &StageHistograms) -> [(&'static str, &Histogram<u64>); 4] {
    [
        ("features", &h.features),
        ("decoder", &h.decoder),
        ("vocoder", &h.vocoder),
        ("compute (whole frame)", &h.compute),
    ]
}

/// Latency histograms (log-spaced bins) and CDFs of every stage, one line per model.
pub fn latency(dir: &Path, models: &[(&str, &StageHistograms)]) -> PlotResult<Vec<PathBuf>> {
    let hist_path = dir.join("latency_histogram.svg");
    let cdf_path = dir.join("latency_cdf.svg");
    for (path, cdf) in [(&hist_path, false), (&cdf_path, true)] {
        let root = SVGBackend::new(path, (1200, 800)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let title = if cdf {
            "Latency CDF per stage"
        } else {
            "Latency histogram per stage"
        };
        let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
        let panels = root.split_evenly((2, 2));
        for (p, panel) in panels.iter().enumerate() {
            let name = stages(models[0].1)[p].0;
            let series: Vec<(String, Vec<(f64, f64)>)> = models
                .iter()
                .map(|(label, h)| {
                    let hist = stages(h)[p].1;
                    (
                        label.to_string(),
                        if cdf {
                            cdf_points(hist)
                        } else {
                            histogram_points(hist)
                        },
                    )
                })
                .collect();
            let x_max = series
                .iter()
                .flat_map(|(_, pts)| pts.iter().map(|p| p.0))
                .fold(0.001f64, f64::max);
            let y_max = if cdf {
                1.0
            } else {
                series
                    .iter()
                    .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
                    .fold(0.01f64, f64::max)
                    * 1.1
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(name, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(52)
                .build_cartesian_2d(0f64..x_max * 1.05, 0f64..y_max)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("ms per frame")
                .y_desc(if cdf {
                    "fraction of frames ≤ x"
                } else {
                    "fraction of frames"
                })
                .draw()
                .map_err(err)?;
            for (i, (label, pts)) in series.into_iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(err)?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(vec![hist_path, cdf_path])
}

/// CDF points (ms, fraction), clipped at the 99.9th percentile so one outlier
/// does not squash the curve.
fn cdf_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return vec![];
    }
    let cap = h.value_at_quantile(0.999);
    h.iter_quantiles(2)
        .map(|v| (v.value_iterated_to() as f64 / 1e6, v.quantile_iterated_to()))
        .filter(|(ms, _)| *ms <= cap as f64 / 1e6)
        .collect()
}

/// Histogram points (bin upper edge in ms, fraction of frames) over 60
/// linear bins up to the 99.9th percentile.
fn histogram_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return vec![];
    }
    let cap = h.value_at_quantile(0.999).max(1);
    let step = (cap / 60).max(1);
    let total = h.len() as f64;
    h.iter_linear(step)
        .take_while(|v| v.value_iterated_to() <= cap + step)
        .map(|v| {
            (
                v.value_iterated_to() as f64 / 1e6,
                v.count_since_last_iteration() as f64 / total,
            )
        })
        .collect()
}

/// Decoded vs true log-mel spectrograms of one stretch, one panel each.
pub fn spectrograms(
    path: &Path,
    title: &str,
    panels: &[(&str, &[f32])],
    n_mels: usize,
    frames_per_s: f64,
    range: (f32, f32),
) -> PlotResult<()> {
    let frames = panels
        .iter()
        .map(|(_, m)| m.len() / n_mels)
        .min()
        .unwrap_or(0);
    let root = SVGBackend::new(path, (1200, 300 * panels.len() as u32 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(err)?;
    let areas = root.split_evenly((panels.len(), 1));
    let (lo, hi) = range;
    for ((label, mel), area) in panels.iter().zip(areas.iter()) {
        let mut chart = ChartBuilder::on(area)
            .caption(*label, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..frames as f64 / frames_per_s, 0usize..n_mels)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("seconds")
            .y_desc("mel bin")
            .draw()
            .map_err(err)?;
        let cells = (0..frames).flat_map(|t| {
            (0..n_mels).map(move |b| {
                let v = ((mel[t * n_mels + b] - lo) / (hi - lo)).clamp(0.0, 1.0) as f64;
                let color = HSLColor(0.7 - 0.6 * v, 0.8, 0.15 + 0.6 * v);
                Rectangle::new(
                    [
                        (t as f64 / frames_per_s, b),
                        ((t + 1) as f64 / frames_per_s, b + 1),
                    ],
                    color.filled(),
                )
            })
        });
        chart.draw_series(cells).map_err(err)?;
    }
    root.present().map_err(err)
}

/// Real-time factor against the number of workers.
pub fn scaling(path: &Path, points: &[(&str, &[ScalingPoint])]) -> PlotResult<()> {
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let max_w = points
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.workers))
        .max()
        .unwrap_or(1);
    let max_rtf = points
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.realtime_factor))
        .fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption("Throughput against workers", ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..max_w as f64 + 0.5, 0f64..max_rtf * 1.15)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("workers (pinned threads)")
        .y_desc("× real time")
        .x_labels(max_w + 1)
        .draw()
        .map_err(err)?;
    for (i, (label, pts)) in points.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let line: Vec<(f64, f64)> = pts
            .iter()
            .map(|p| (p.workers as f64, p.realtime_factor))
            .collect();
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(line.into_iter().map(|p| Circle::new(p, 4, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Renders an SVG file to a PNG beside it and returns the PNG's path.
pub fn to_png(svg: &Path) -> PlotResult<PathBuf> {
    let text = std::fs::read_to_string(svg).map_err(err)?;
    let mut opt = resvg::usvg::Options::default();
    let db = opt.fontdb_mut();
    db.load_system_fonts();
    // fontdb maps the generic `sans-serif` to Arial; use a font that is here.
    let family = ["DejaVu Sans", "Liberation Sans", "Noto Sans"]
        .into_iter()
        .map(str::to_string)
        .find(|want| {
            db.faces()
                .any(|f| f.families.iter().any(|(name, _)| name == want))
        })
        .or_else(|| {
            db.faces()
                .next()
                .and_then(|f| f.families.first().map(|(n, _)| n.clone()))
        });
    if let Some(family) = family {
        db.set_sans_serif_family(family);
    }
    let tree = resvg::usvg::Tree::from_str(&text, &opt).map_err(err)?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| err("the SVG has no area"))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    let png = svg.with_extension("png");
    pixmap.save_png(&png).map_err(err)?;
    Ok(png)
}
