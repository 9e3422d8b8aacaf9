//! Closed-form ridge regression recovers linear maps and picks a sensible λ.

use neurospeak::train::{
    Dataset, fit_ridge, fold_output_affine, mse, predict_dense, ridge_path, select_ridge,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Draws `n` frames of `y = x·A + c + noise` with Gaussian inputs.
fn linear_data(
    rng: &mut ChaCha8Rng,
    a: &[f32],
    c: &[f32],
    n: usize,
    d: usize,
    m: usize,
    noise: f32,
) -> Dataset {
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let inputs: Vec<f32> = (0..n * d).map(|_| normal.sample(rng)).collect();
    let mut targets = vec![0f32; n * m];
    for (x, y) in inputs.chunks_exact(d).zip(targets.chunks_exact_mut(m)) {
        for o in 0..m {
            y[o] = c[o]
                + (0..d).map(|i| x[i] * a[i * m + o]).sum::<f32>()
                + noise * normal.sample(rng);
        }
    }
    Dataset::new(inputs, targets, d, m).unwrap()
}

#[test]
fn ridge_recovers_the_linear_map_and_intercept() {
    let (d, m) = (10, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let a: Vec<f32> = (0..d * m).map(|_| normal.sample(&mut rng)).collect();
    let c = vec![5.0, -2.0, 0.5];
    let train = linear_data(&mut rng, &a, &c, 2000, d, m, 0.05);
    let layer = fit_ridge(&train, 1e-3);
    for (w, t) in layer.weight.iter().zip(&a) {
        assert!((w - t).abs() < 0.01, "weight {w} vs true {t}");
    }
    for (b, t) in layer.bias.iter().zip(&c) {
        assert!(
            (b - t).abs() < 0.01,
            "intercept {b} vs true {t} (the intercept must not be penalised)"
        );
    }
    // A huge λ shrinks the weights to zero but keeps the intercept at the target mean.
    let flat = fit_ridge(&train, 1e9);
    assert!(flat.weight.iter().all(|w| w.abs() < 1e-3));
    let (mean, _) = train.target_stats();
    for (b, m) in flat.bias.iter().zip(&mean) {
        assert!((b - m).abs() < 1e-3);
    }
}

#[test]
fn collinear_features_with_zero_lambda_still_solve() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let n = 200;
    let mut inputs = Vec::with_capacity(n * 3);
    let mut targets = Vec::with_capacity(n);
    for _ in 0..n {
        let x: f32 = normal.sample(&mut rng);
        inputs.extend([x, x, 1.0]);
        targets.push(2.0 * x + 1.0);
    }
    let train = Dataset::new(inputs, targets, 3, 1).unwrap();
    let layer = fit_ridge(&train, 0.0);
    let pred = predict_dense(std::slice::from_ref(&layer), &train.inputs, n);
    assert!(mse(&pred, &train.targets) < 1e-6, "{layer:?}");
}

#[test]
fn select_ridge_prefers_moderate_lambda_on_noisy_small_data() {
    let (d, m) = (40, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let normal = Normal::new(0.0f32, 0.3).unwrap();
    let a: Vec<f32> = (0..d * m).map(|_| normal.sample(&mut rng)).collect();
    let c = vec![0.0, 1.0];
    let train = linear_data(&mut rng, &a, &c, 60, d, m, 2.0);
    let val = linear_data(&mut rng, &a, &c, 500, d, m, 2.0);
    let lambdas = [1e-4, 1e-2, 1.0, 10.0, 100.0, 1e3, 1e6];
    let path = ridge_path(&train, &val, &lambdas);
    let (layer, best) = select_ridge(&train, &val, &lambdas);
    let best_err = path.iter().find(|(l, _)| *l == best).unwrap().1;
    assert!(path.iter().all(|(_, e)| best_err <= *e));
    assert!(
        best > 1e-4 && best < 1e6,
        "expected a moderate λ with 60 noisy frames and 40 features, got {best}"
    );
    let pred = predict_dense(&[layer], &val.inputs, val.n);
    assert!((mse(&pred, &val.targets) - best_err).abs() < 1e-9);
}

#[test]
fn folding_the_output_affine_undoes_target_standardisation() {
    let (d, m) = (4, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let a = vec![1.0, -3.0, 0.5, 2.0, -1.0, 0.0, 4.0, 1.0];
    let train = linear_data(&mut rng, &a, &[100.0, -50.0], 500, d, m, 0.1);
    let (mean, std) = train.target_stats();
    let z = train.with_standardized_targets(&mean, &std);
    let mut layer = fit_ridge(&z, 1e-3);
    fold_output_affine(&mut layer, &mean, &std);
    let raw = fit_ridge(&train, 1e-3);
    let x = &train.inputs[..d * 5];
    let folded = predict_dense(&[layer], x, 5);
    let direct = predict_dense(&[raw], x, 5);
    for (p, q) in folded.iter().zip(&direct) {
        assert!((p - q).abs() < 1e-2, "{p} vs {q}");
    }
}
