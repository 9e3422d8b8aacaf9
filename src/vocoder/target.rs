//! Target magnitude spectra from log-mel frames.

use crate::mel::{MelConfig, MelFilterbank};

/// Largest log-mel value used; keeps `exp` and later squares finite in `f32`.
const MAX_LOG_MEL: f32 = 50.0;

/// Turns log-mel frames into linear magnitude spectra without allocating.
pub(crate) struct TargetMagnitude {
    filterbank: MelFilterbank,
    log_floor: f32,
    mel_power: Vec<f32>,
    power: Vec<f32>,
}

impl TargetMagnitude {
    pub(crate) fn new(cfg: &MelConfig) -> Self {
        let filterbank = MelFilterbank::new(cfg);
        Self {
            mel_power: vec![0.0; filterbank.n_mels()],
            power: vec![0.0; filterbank.n_bins()],
            log_floor: cfg.log_floor.ln(),
            filterbank,
        }
    }

    /// Writes `sqrt(pseudo_inverse(exp(log_mel)))` into `magnitude`
    /// (`n_bins` values). Non-finite inputs count as the floor.
    pub(crate) fn compute(&mut self, log_mel: &[f32], magnitude: &mut [f32]) {
        for (p, &v) in self.mel_power.iter_mut().zip(log_mel) {
            let v = if v.is_finite() {
                v.clamp(self.log_floor, MAX_LOG_MEL)
            } else {
                self.log_floor
            };
            *p = v.exp();
        }
        self.filterbank
            .pseudo_inverse(&self.mel_power, &mut self.power);
        for (m, p) in magnitude.iter_mut().zip(&self.power) {
            *m = p.sqrt();
        }
    }
}
