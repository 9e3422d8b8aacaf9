//! Word error rate of decoded speech, with pocketsphinx (offline, English)
//! run by `scripts/transcribe.py` in the project's Python environment. The
//! reference words are the recording's markers (the sentence of each
//! utterance); the true speech is transcribed too, as the recogniser's ceiling.

use crate::recording::Recording;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Word error rates, or why they were skipped.
#[derive(Clone, Debug, Serialize)]
pub struct WerReport {
    pub skipped: bool,
    pub reason: String,
    pub recognizer: Option<String>,
    pub utterances: usize,
    /// WER of the true speech: what the recogniser itself gets wrong.
    pub truth: Option<f64>,
    pub candidate: Option<f64>,
    pub reference: Option<f64>,
    /// WER of the loudness-only baseline's audio (see `pipeline::accuracy`):
    /// what knowing the loudness contour alone gets the recogniser.
    pub loudness_baseline: Option<f64>,
    /// WER of copy synthesis (the true log-mel through the model's vocoder):
    /// the ceiling of any decoder with this representation and vocoder.
    pub copy_synthesis: Option<f64>,
}

impl WerReport {
    fn skipped(reason: String) -> Self {
        Self {
            skipped: true,
            reason,
            recognizer: None,
            utterances: 0,
            truth: None,
            candidate: None,
            reference: None,
            loudness_baseline: None,
            copy_synthesis: None,
        }
    }
}

/// Word-level edit distance between `reference` and `hypothesis`, and the
/// number of reference words.
pub fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let norm = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let (r, h) = (norm(reference), norm(hypothesis));
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(rw != hw))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    (prev[h.len()], r.len())
}

/// The project's Python with pocketsphinx, searched from the current
/// directory and the executable upwards.
fn python_with_pocketsphinx() -> Option<(PathBuf, PathBuf)> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots.into_iter().find_map(|root| {
        let python = root.join(".local/venv/bin/python");
        let script = root.join("scripts/transcribe.py");
        let ok = python.is_file()
            && script.is_file()
            && std::process::Command::new(&python)
                .args(["-c", "import pocketsphinx"])
                .output()
                .is_ok_and(|o| o.status.success());
        ok.then_some((python, script))
    })
}

fn write_wav(path: &Path, samples: &[f32]) -> Result<(), String> {
    crate::pipeline::replay::write_wav(path, samples, 16_000).map_err(|e| e.to_string())
}

/// Audio per recording, and the samples by which it lags the true speech.
pub type DelayedAudio<'a> = (&'a [Vec<f32>], usize);

/// Cuts each utterance (marker to next marker) from the true speech and from
/// each model's decoded audio (`decoded[model][recording]`, delayed by
/// `latency[model]` samples), and from the loudness baseline's and copy
/// synthesis's audio when given, transcribes them all and scores them.
pub fn evaluate(
    recordings: &[Recording],
    decoded: &[&[Vec<f32>]],
    latency: &[usize],
    baseline: Option<DelayedAudio>,
    copy_synthesis: Option<DelayedAudio>,
) -> WerReport {
    let Some((python, script)) = python_with_pocketsphinx() else {
        return WerReport::skipped(
            "pocketsphinx is not installed in .local/venv; install it with \
             `.local/venv/bin/pip install pocketsphinx==5.1.1`"
                .into(),
        );
    };
    let (mut decoded, mut latency) = (decoded.to_vec(), latency.to_vec());
    let models = decoded.len();
    for (audio, delay) in [baseline, copy_synthesis].into_iter().flatten() {
        decoded.push(audio);
        latency.push(delay);
    }
    let base_at = models + 1;
    let copy_at = base_at + usize::from(baseline.is_some());
    match run(&python, &script, recordings, &decoded, &latency) {
        Ok(rates) if rates.is_empty() => {
            WerReport::skipped("no recording has markers with paired speech".into())
        }
        Ok(rates) => {
            let rate = |given: bool, k: usize| given.then(|| rates.get(k).map(|r| r.0)).flatten();
            WerReport {
                skipped: false,
                reason: String::new(),
                recognizer: Some("pocketsphinx 5.1.1 (bundled US English model)".into()),
                utterances: rates[0].1,
                truth: Some(rates[0].0),
                candidate: rates.get(1).map(|r| r.0),
                reference: (models > 1).then(|| rates.get(2).map(|r| r.0)).flatten(),
                loudness_baseline: rate(baseline.is_some(), base_at),
                copy_synthesis: rate(copy_synthesis.is_some(), copy_at),
            }
        }
        Err(e) => WerReport::skipped(format!("word error rate failed: {e}")),
    }
}

/// The word error rate of the true speech and of every decoded set, each with
/// the number of utterances; empty when no recording has markers and speech.
fn run(
    python: &Path,
    script: &Path,
    recordings: &[Recording],
    decoded: &[&[Vec<f32>]],
    latency: &[usize],
) -> Result<Vec<(f64, usize)>, String> {
    let dir = tempfile_dir()?;
    let mut texts = Vec::new();
    let mut wavs: Vec<Vec<String>> = vec![Vec::new(); decoded.len() + 1];
    for (r, rec) in recordings.iter().enumerate() {
        let (Some(audio), Some(&t0)) = (&rec.audio, rec.eeg.timestamps.first()) else {
            continue;
        };
        let rate = audio.sample_rate as f64;
        let offset = ((audio.first_timestamp - t0) * rate).round() as i64;
        let n = (rec.eeg.duration_s() * rate) as usize;
        for (u, marker) in rec.markers.iter().enumerate() {
            let start = ((marker.timestamp - t0) * rate).max(0.0) as usize;
            let end = rec
                .markers
                .get(u + 1)
                .map_or(n, |m| ((m.timestamp - t0) * rate) as usize)
                .min(n);
            if end <= start + 1600 {
                continue;
            }
            let text = marker
                .text
                .split(" [")
                .next()
                .unwrap_or(&marker.text)
                .to_string();
            let truth: Vec<f32> = (start..end)
                .map(|i| {
                    let j = i as i64 - offset;
                    if j >= 0 {
                        audio.samples.get(j as usize).copied().unwrap_or(0.0)
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut paths = Vec::new();
            let p = dir.join(format!("r{r}_u{u}_truth.wav"));
            write_wav(&p, &truth)?;
            paths.push(p);
            for (m, model) in decoded.iter().enumerate() {
                let a = &model[r];
                let (s, e) = (
                    (start + latency[m]).min(a.len()),
                    (end + latency[m]).min(a.len()),
                );
                let p = dir.join(format!("r{r}_u{u}_m{m}.wav"));
                write_wav(&p, &a[s..e])?;
                paths.push(p);
            }
            for (k, p) in paths.into_iter().enumerate() {
                wavs[k].push(p.display().to_string());
            }
            texts.push(text);
        }
    }
    if texts.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(Vec::new());
    }
    let mut rates = Vec::new();
    for list in &wavs {
        let list_path = dir.join("list.json");
        std::fs::write(
            &list_path,
            serde_json::to_string(list).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let out = std::process::Command::new(python)
            .arg(script)
            .arg(&list_path)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let hyps: Vec<String> = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        let (errors, words) = texts
            .iter()
            .zip(&hyps)
            .map(|(t, h)| word_errors(t, h))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        rates.push((errors as f64 / words.max(1) as f64, texts.len()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rates)
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("neurospeak-wer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::word_errors;

    #[test]
    fn word_errors_count_substitutions_insertions_and_deletions() {
        assert_eq!(word_errors("the cat sat", "the cat sat"), (0, 3));
        assert_eq!(word_errors("The cat, sat.", "the bat sat"), (1, 3));
        assert_eq!(word_errors("the cat sat", "the cat sat down"), (1, 3));
        assert_eq!(word_errors("the cat sat", "cat"), (2, 3));
        assert_eq!(word_errors("a b", ""), (2, 2));
    }
}
