//! In-memory paired input/target frames.

use super::TrainError;

/// Paired frames for supervised training, stored row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// The input frames, `n * in_dim` values, row-major.
    pub inputs: Vec<f32>,
    /// The target frames, `n * out_dim` values, row-major.
    pub targets: Vec<f32>,
    /// The number of frames.
    pub n: usize,
    /// The number of input features per frame.
    pub in_dim: usize,
    /// The number of target features per frame.
    pub out_dim: usize,
}

impl Dataset {
    /// Builds a dataset from row-major buffers, checking their lengths.
    pub fn new(
        inputs: Vec<f32>,
        targets: Vec<f32>,
        in_dim: usize,
        out_dim: usize,
    ) -> Result<Self, TrainError> {
        let n = inputs.len().checked_div(in_dim).unwrap_or(0);
        let ds = Dataset {
            inputs,
            targets,
            n,
            in_dim,
            out_dim,
        };
        ds.validate("dataset")?;
        Ok(ds)
    }

    /// Checks that the buffers match `n`, `in_dim` and `out_dim` and that there is at least one frame.
    pub fn validate(&self, what: &str) -> Result<(), TrainError> {
        let shape = |expected: String, found: String| TrainError::Shape {
            what: what.to_string(),
            expected,
            found,
        };
        if self.n == 0 || self.in_dim == 0 || self.out_dim == 0 {
            return Err(shape(
                "at least one frame and non-zero in_dim/out_dim".into(),
                format!(
                    "n={} in_dim={} out_dim={}",
                    self.n, self.in_dim, self.out_dim
                ),
            ));
        }
        if self.inputs.len() != self.n * self.in_dim {
            return Err(shape(
                format!(
                    "{} input values (n={} x in_dim={})",
                    self.n * self.in_dim,
                    self.n,
                    self.in_dim
                ),
                format!("{}", self.inputs.len()),
            ));
        }
        if self.targets.len() != self.n * self.out_dim {
            return Err(shape(
                format!(
                    "{} target values (n={} x out_dim={})",
                    self.n * self.out_dim,
                    self.n,
                    self.out_dim
                ),
                format!("{}", self.targets.len()),
            ));
        }
        Ok(())
    }

    /// Checks that `other` has the same feature dimensions as `self`.
    pub fn check_compatible(&self, other: &Dataset, what: &str) -> Result<(), TrainError> {
        if (self.in_dim, self.out_dim) != (other.in_dim, other.out_dim) {
            return Err(TrainError::Shape {
                what: what.to_string(),
                expected: format!(
                    "in_dim={} out_dim={} (as the training set)",
                    self.in_dim, self.out_dim
                ),
                found: format!("in_dim={} out_dim={}", other.in_dim, other.out_dim),
            });
        }
        Ok(())
    }

    /// Returns the per-feature mean and standard deviation of the targets (a zero std becomes 1).
    pub fn target_stats(&self) -> (Vec<f32>, Vec<f32>) {
        column_stats(&self.targets, self.n, self.out_dim)
    }

    /// Returns a copy whose targets are z-scored with the given mean and std.
    pub fn with_standardized_targets(&self, mean: &[f32], std: &[f32]) -> Dataset {
        let mut out = self.clone();
        for row in out.targets.chunks_exact_mut(self.out_dim) {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                *v = (*v - m) / s;
            }
        }
        out
    }
}

/// Computes per-column mean and standard deviation in f64, replacing a zero std by 1.
fn column_stats(values: &[f32], n: usize, dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f64; dim];
    let mut sq = vec![0f64; dim];
    for row in values.chunks_exact(dim) {
        for (j, &v) in row.iter().enumerate() {
            sum[j] += v as f64;
            sq[j] += (v as f64) * (v as f64);
        }
    }
    let n = n.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| {
            let var = (s / n - m * m).max(0.0);
            if var > 1e-24 { var.sqrt() as f32 } else { 1.0 }
        })
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}
