//! The candle MLP learns a non-linear map better than ridge, deterministically.

use neurospeak::onnx::Activation;
use neurospeak::train::{
    Dataset, MlpConfig, TrainError, mse, predict_dense, select_ridge, train_mlp,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Draws frames of `y = tanh(relu(x·A)·B)` — clearly not linear in `x`.
fn nonlinear_data(seed: u64, n: usize) -> Dataset {
    let (d, h, m) = (8, 12, 2);
    let mut param_rng = ChaCha8Rng::seed_from_u64(1234);
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let a: Vec<f32> = (0..d * h)
        .map(|_| normal.sample(&mut param_rng) * 0.6)
        .collect();
    let b: Vec<f32> = (0..h * m)
        .map(|_| normal.sample(&mut param_rng) * 0.6)
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let inputs: Vec<f32> = (0..n * d).map(|_| normal.sample(&mut rng)).collect();
    let mut targets = Vec::with_capacity(n * m);
    for x in inputs.chunks_exact(d) {
        let hidden: Vec<f32> = (0..h)
            .map(|j| (0..d).map(|i| x[i] * a[i * h + j]).sum::<f32>().max(0.0))
            .collect();
        for o in 0..m {
            targets.push((0..h).map(|j| hidden[j] * b[j * m + o]).sum::<f32>().tanh());
        }
    }
    Dataset::new(inputs, targets, d, m).unwrap()
}

fn config() -> MlpConfig {
    MlpConfig {
        hidden: vec![32, 32],
        activation: Activation::Relu,
        epochs: 30,
        batch_size: 64,
        learning_rate: 5e-3,
        weight_decay: 1e-4,
        dropout: 0.0,
        seed: 7,
        patience: 5,
    }
}

#[test]
fn mlp_beats_ridge_on_a_nonlinear_problem() {
    let train = nonlinear_data(1, 2000);
    let val = nonlinear_data(2, 500);
    let (ridge, _) = select_ridge(&train, &val, &[1e-3, 1e-1, 10.0]);
    let ridge_mse = mse(&predict_dense(&[ridge], &val.inputs, val.n), &val.targets);

    let mut epochs = Vec::new();
    let layers = train_mlp(&train, &val, &config(), &mut |s| epochs.push(s)).unwrap();
    assert_eq!(layers.len(), 3);
    assert_eq!(layers[2].activation, Activation::None);
    let mlp_mse = mse(&predict_dense(&layers, &val.inputs, val.n), &val.targets);
    let best_reported = epochs
        .iter()
        .map(|s| s.val_loss)
        .fold(f64::INFINITY, f64::min);
    assert!(
        (mlp_mse - best_reported).abs() < 1e-4,
        "returned weights are the best-on-validation ones ({mlp_mse} vs {best_reported})"
    );
    assert!(
        mlp_mse < 0.5 * ridge_mse,
        "MLP validation MSE {mlp_mse} should be well below ridge's {ridge_mse}"
    );
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let train = nonlinear_data(3, 400);
    let val = nonlinear_data(4, 100);
    let cfg = MlpConfig {
        epochs: 3,
        dropout: 0.2,
        ..config()
    };
    let a = train_mlp(&train, &val, &cfg, &mut |_| {}).unwrap();
    let b = train_mlp(&train, &val, &cfg, &mut |_| {}).unwrap();
    assert_eq!(a, b);
    let c = train_mlp(&train, &val, &MlpConfig { seed: 8, ..cfg }, &mut |_| {}).unwrap();
    assert_ne!(a, c);
}

#[test]
fn early_stopping_respects_patience() {
    let train = nonlinear_data(5, 200);
    let val = nonlinear_data(6, 50);
    let cfg = MlpConfig {
        epochs: 200,
        learning_rate: 0.05,
        patience: 2,
        ..config()
    };
    let mut stats = Vec::new();
    train_mlp(&train, &val, &cfg, &mut |s| stats.push(s)).unwrap();
    assert!(stats.len() < 200, "training should stop early");
    let tail = &stats[stats.len() - 2..];
    assert!(
        tail.iter().all(|s| !s.improved),
        "the last {} epochs did not improve",
        cfg.patience
    );
}

#[test]
fn config_rejects_unknown_fields_and_bad_values() {
    let json = r#"{"hidden":[16],"activation":"tanh","epochs":5,"batch_size":8,"learning_rate":0.001,
        "weight_decay":0.0,"dropout":0.1,"seed":1,"patience":3}"#;
    let cfg: MlpConfig = serde_json::from_str(json).unwrap();
    assert_eq!(cfg.activation, Activation::Tanh);
    let typo = json.replace("\"patience\"", "\"patiense\"");
    assert!(serde_json::from_str::<MlpConfig>(&typo).is_err());

    let train = nonlinear_data(7, 20);
    let bad = MlpConfig {
        dropout: 1.0,
        ..config()
    };
    let err = train_mlp(&train, &train, &bad, &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::Config {
                field: "dropout",
                ..
            }
        ),
        "{err:?}"
    );
}
