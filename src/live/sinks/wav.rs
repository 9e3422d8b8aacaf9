//! The WAV writer: a thread that drains its own audio ring into a 16-bit PCM
//! file, so file I/O never happens on the worker. The file is written as
//! `OUT.wav.partial` and renamed when finished, which also happens after
//! Ctrl-C, SIGTERM or an error elsewhere in the session, because every way a
//! session ends stops its threads in order.

use crossbeam_channel::Receiver;
use ringbuf::HeapCons;
use ringbuf::traits::Consumer;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::live::Control;

/// Errors of the WAV writer.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot write the WAV file: {message}; check the directory exists and is writable")]
pub struct WavError {
    pub path: PathBuf,
    pub message: String,
}

/// An open WAV file.
pub struct WavWriter {
    path: PathBuf,
    tmp: PathBuf,
    writer: hound::WavWriter<BufWriter<std::fs::File>>,
    samples: u64,
}

impl WavWriter {
    /// Creates `path` (as `path.partial` until finished), mono 16-bit at `rate` Hz.
    pub fn create(path: &Path, rate: u32) -> Result<Self, WavError> {
        let tmp = path.with_extension("wav.partial");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(&tmp, spec).map_err(|e| WavError {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            writer,
            samples: 0,
        })
    }

    fn err(&self, e: &dyn std::fmt::Display) -> WavError {
        WavError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Appends samples.
    pub fn write(&mut self, audio: &[f32]) -> Result<(), WavError> {
        for &s in audio {
            let v = (s.clamp(-1.0, 1.0) * i16::MAX as f32) as i16;
            if let Err(e) = self.writer.write_sample(v) {
                return Err(self.err(&e));
            }
        }
        self.samples += audio.len() as u64;
        Ok(())
    }

    /// Closes and deletes the unfinished file: for a session that fails
    /// before it starts, so nothing is left behind.
    pub fn discard(self) {
        let tmp = self.tmp.clone();
        drop(self.writer);
        let _ = std::fs::remove_file(tmp);
    }

    /// Finishes the header and moves the file into place; returns the
    /// samples written.
    pub fn finish(self) -> Result<u64, WavError> {
        let (path, tmp, samples) = (self.path.clone(), self.tmp.clone(), self.samples);
        let e = |m: &dyn std::fmt::Display| WavError {
            path: path.clone(),
            message: m.to_string(),
        };
        self.writer.finalize().map_err(|x| e(&x))?;
        std::fs::rename(&tmp, &path).map_err(|x| e(&x))?;
        Ok(samples)
    }
}

/// Runs the writer until told to stop, then drains the ring and finishes.
pub fn run(
    mut wav: WavWriter,
    mut audio: HeapCons<f32>,
    control: Receiver<Control>,
) -> Result<u64, WavError> {
    let mut buf = vec![0.0f32; 4096];
    loop {
        let stop = Control::should_stop(&control);
        loop {
            let n = audio.pop_slice(&mut buf);
            if n == 0 {
                break;
            }
            wav.write(&buf[..n])?;
        }
        if stop {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    wav.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::rings::ring;
    use ringbuf::traits::Producer;

    #[test]
    fn a_writer_whose_session_is_gone_drains_and_finishes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let wav = WavWriter::create(&path, 16_000).unwrap();
        let (mut p, c) = ring::<f32>(1600);
        p.push_slice(&[0.5f32; 480]);
        let (tx, rx) = crossbeam_channel::unbounded();
        drop(tx); // the session ended without a word
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(run(wav, c, rx));
        });
        let samples = done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer still runs after its control channel closed")
            .unwrap();
        assert_eq!(samples, 480);
        assert!(!path.with_extension("wav.partial").exists());
        let r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.len(), 480);
    }
}
