//! Closed-form ridge regression solved with a Cholesky factorisation in f64.

use super::{Dataset, forward};
use crate::onnx::{Activation, DenseLayer};

/// Centred sufficient statistics of a dataset, shared by all values of λ.
struct RidgeStats {
    d: usize,
    m: usize,
    x_mean: Vec<f64>,
    y_mean: Vec<f64>,
    /// The centred Gram matrix `XcᵀXc`, `d x d`, row-major.
    gram: Vec<f64>,
    /// The centred cross products `XcᵀYc`, `d x m`, row-major.
    cross: Vec<f64>,
}

impl RidgeStats {
    /// Accumulates the statistics in one pass over the centred data.
    fn new(data: &Dataset) -> Self {
        let (d, m, n) = (data.in_dim, data.out_dim, data.n);
        let mut x_mean = vec![0f64; d];
        let mut y_mean = vec![0f64; m];
        for row in data.inputs.chunks_exact(d) {
            for (s, &v) in x_mean.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
        for row in data.targets.chunks_exact(m) {
            for (s, &v) in y_mean.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
        x_mean.iter_mut().for_each(|v| *v /= n as f64);
        y_mean.iter_mut().for_each(|v| *v /= n as f64);

        let mut gram = vec![0f64; d * d];
        let mut cross = vec![0f64; d * m];
        let mut xc = vec![0f64; d];
        let mut yc = vec![0f64; m];
        for (x, y) in data
            .inputs
            .chunks_exact(d)
            .zip(data.targets.chunks_exact(m))
        {
            for ((c, &v), mu) in xc.iter_mut().zip(x).zip(&x_mean) {
                *c = v as f64 - mu;
            }
            for ((c, &v), mu) in yc.iter_mut().zip(y).zip(&y_mean) {
                *c = v as f64 - mu;
            }
            for i in 0..d {
                let xi = xc[i];
                if xi == 0.0 {
                    continue;
                }
                // Lower triangle only; mirrored below.
                for (g, &xj) in gram[i * d..i * d + i + 1].iter_mut().zip(&xc[..=i]) {
                    *g += xi * xj;
                }
                for (c, &yo) in cross[i * m..(i + 1) * m].iter_mut().zip(&yc) {
                    *c += xi * yo;
                }
            }
        }
        for i in 0..d {
            for j in 0..i {
                gram[j * d + i] = gram[i * d + j];
            }
        }
        RidgeStats {
            d,
            m,
            x_mean,
            y_mean,
            gram,
            cross,
        }
    }

    /// Solves `(XcᵀXc + λI) W = XcᵀYc` and sets the unpenalised intercept `b = ȳ - x̄·W`.
    fn solve(&self, lambda: f64) -> DenseLayer {
        let (d, m) = (self.d, self.m);
        let trace: f64 = (0..d).map(|i| self.gram[i * d + i]).sum();
        let scale = (trace / d as f64).max(1e-300);
        let mut jitter = 0.0;
        let chol = loop {
            let mut a = self.gram.clone();
            for i in 0..d {
                a[i * d + i] += lambda.max(0.0) + jitter;
            }
            if let Some(l) = cholesky_in_place(a, d) {
                break l;
            }
            // Singular (λ = 0 with collinear features): regularise just enough to factor.
            jitter = if jitter == 0.0 {
                scale * 1e-12
            } else {
                jitter * 10.0
            };
        };
        let mut w = self.cross.clone();
        solve_cholesky(&chol, d, &mut w, m);
        let bias = (0..m)
            .map(|o| {
                let dot: f64 = (0..d).map(|i| self.x_mean[i] * w[i * m + o]).sum();
                (self.y_mean[o] - dot) as f32
            })
            .collect();
        DenseLayer {
            in_dim: d,
            out_dim: m,
            weight: w.into_iter().map(|v| v as f32).collect(),
            bias,
            activation: Activation::None,
        }
    }
}

/// Factors the symmetric positive-definite `a` (`d x d`, row-major) as `L·Lᵀ`,
/// returning `L` in the lower triangle, or `None` if `a` is not positive definite.
fn cholesky_in_place(mut a: Vec<f64>, d: usize) -> Option<Vec<f64>> {
    for j in 0..d {
        let diag = &a[j * d..j * d + j];
        let s = a[j * d + j] - diag.iter().map(|v| v * v).sum::<f64>();
        if s <= 0.0 || !s.is_finite() {
            return None;
        }
        let ljj = s.sqrt();
        a[j * d + j] = ljj;
        // Column below the diagonal.
        for i in j + 1..d {
            let (upper, lower) = a.split_at_mut(i * d);
            let row_j = &upper[j * d..j * d + j];
            let row_i = &mut lower[..d];
            let dot: f64 = row_i[..j].iter().zip(row_j).map(|(x, y)| x * y).sum();
            row_i[j] = (row_i[j] - dot) / ljj;
        }
    }
    Some(a)
}

/// Solves `L·Lᵀ X = B` in place for the `d x m` right-hand side `b`.
fn solve_cholesky(l: &[f64], d: usize, b: &mut [f64], m: usize) {
    // Forward substitution: L Z = B.
    for i in 0..d {
        let (done, rest) = b.split_at_mut(i * m);
        let row = &mut rest[..m];
        for k in 0..i {
            let lik = l[i * d + k];
            if lik != 0.0 {
                for (r, z) in row.iter_mut().zip(&done[k * m..(k + 1) * m]) {
                    *r -= lik * z;
                }
            }
        }
        let lii = l[i * d + i];
        row.iter_mut().for_each(|r| *r /= lii);
    }
    // Back substitution: Lᵀ X = Z.
    for i in (0..d).rev() {
        let (head, tail) = b.split_at_mut((i + 1) * m);
        let row = &mut head[i * m..];
        for k in i + 1..d {
            let lki = l[k * d + i];
            if lki != 0.0 {
                for (r, x) in row.iter_mut().zip(&tail[(k - i - 1) * m..(k - i) * m]) {
                    *r -= lki * x;
                }
            }
        }
        let lii = l[i * d + i];
        row.iter_mut().for_each(|r| *r /= lii);
    }
}

/// Fits a ridge regression `y = x·W + b` in closed form.
///
/// The penalty `λ‖W‖²` does not apply to the intercept, which is obtained by centring
/// inputs and targets. `lambda` is absolute (not scaled by the number of frames).
///
/// # Panics
///
/// Panics if the dataset is inconsistent (see [`Dataset::validate`]).
pub fn fit_ridge(train: &Dataset, lambda: f64) -> DenseLayer {
    if let Err(e) = train.validate("ridge training set") {
        panic!("fit_ridge: {e}");
    }
    RidgeStats::new(train).solve(lambda)
}

/// Fits one ridge model per λ and returns each λ with its validation mean squared error.
///
/// The centred statistics are computed once, so each extra λ costs one Cholesky solve.
///
/// # Panics
///
/// Panics if either dataset is inconsistent or they differ in dimensions.
pub fn ridge_path(train: &Dataset, val: &Dataset, lambdas: &[f64]) -> Vec<(f64, f64)> {
    select_inner(train, val, lambdas).1
}

/// Picks the λ with the lowest validation mean squared error and returns that model and λ.
///
/// # Panics
///
/// Panics if `lambdas` is empty, either dataset is inconsistent, or they differ in dimensions.
pub fn select_ridge(train: &Dataset, val: &Dataset, lambdas: &[f64]) -> (DenseLayer, f64) {
    let (best, _) = select_inner(train, val, lambdas);
    best
}

/// Shared implementation of [`select_ridge`] and [`ridge_path`].
fn select_inner(
    train: &Dataset,
    val: &Dataset,
    lambdas: &[f64],
) -> ((DenseLayer, f64), Vec<(f64, f64)>) {
    assert!(!lambdas.is_empty(), "select_ridge needs at least one λ");
    let checks = train
        .validate("ridge training set")
        .and_then(|_| val.validate("ridge validation set"))
        .and_then(|_| train.check_compatible(val, "ridge validation set"));
    if let Err(e) = checks {
        panic!("select_ridge: {e}");
    }
    let stats = RidgeStats::new(train);
    let mut best: Option<(DenseLayer, f64, f64)> = None;
    let mut path = Vec::with_capacity(lambdas.len());
    for &lambda in lambdas {
        let layer = stats.solve(lambda);
        let pred = forward::predict_dense(std::slice::from_ref(&layer), &val.inputs, val.n);
        let err = forward::mse(&pred, &val.targets);
        tracing::debug!(lambda, val_mse = err, "ridge candidate");
        path.push((lambda, err));
        if best.as_ref().is_none_or(|b| err < b.2) {
            best = Some((layer, lambda, err));
        }
    }
    let (layer, lambda, _) = best.expect("at least one λ");
    ((layer, lambda), path)
}
