//! A multi-layer perceptron trained with candle on the CPU.

use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::{Rng, SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

use super::{Dataset, TrainError};
use crate::onnx::{Activation, DenseLayer};

/// Hyper-parameters of [`train_mlp`].
#[derive(serde::Deserialize, serde::Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// The widths of the hidden layers, input side first (empty gives a linear model).
    pub hidden: Vec<usize>,
    /// The activation after each hidden layer; the output layer is always affine.
    pub activation: Activation,
    /// The maximum number of passes over the training set.
    pub epochs: usize,
    /// The number of frames per optimisation step.
    pub batch_size: usize,
    /// The AdamW learning rate.
    pub learning_rate: f64,
    /// The AdamW decoupled weight decay, applied to weights but not biases.
    pub weight_decay: f64,
    /// The probability of zeroing a hidden unit during training, in `[0, 1)`.
    pub dropout: f32,
    /// The seed for weight initialisation, shuffling and dropout masks.
    pub seed: u64,
    /// Stop after this many epochs without a better validation loss (0 disables early stopping).
    pub patience: usize,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            hidden: vec![256],
            activation: Activation::Relu,
            epochs: 50,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            dropout: 0.0,
            seed: 0,
            patience: 5,
        }
    }
}

impl MlpConfig {
    /// Checks that every field is in range.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field, expected, found: String| {
            Err(TrainError::Config {
                field,
                expected,
                found,
            })
        };
        if self.hidden.contains(&0) {
            return bad(
                "hidden",
                "positive layer widths",
                format!("{:?}", self.hidden),
            );
        }
        if self.epochs == 0 {
            return bad("epochs", "at least 1", "0".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "at least 1", "0".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(
                "learning_rate",
                "a positive number",
                self.learning_rate.to_string(),
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                "a non-negative number",
                self.weight_decay.to_string(),
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(
                "dropout",
                "a probability in [0, 1)",
                self.dropout.to_string(),
            );
        }
        Ok(())
    }
}

/// Progress reported after every epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// The epoch just finished, counting from 1.
    pub epoch: usize,
    /// The mean training loss (MSE, with dropout) over the epoch's batches.
    pub train_loss: f64,
    /// The validation MSE after the epoch (without dropout).
    pub val_loss: f64,
    /// The best validation MSE so far, including this epoch.
    pub best_val_loss: f64,
    /// Whether this epoch produced the best weights so far.
    pub improved: bool,
    /// The wall-clock time spent since training started.
    pub elapsed: Duration,
}

/// One trainable layer.
struct Layer {
    weight: Var,
    bias: Var,
}

/// Trains an MLP with AdamW on the mean squared error and returns the weights that
/// scored best on the validation set, as dense layers ready for
/// [`dense_stack_model`](crate::onnx::dense_stack_model).
///
/// Training is deterministic for a given seed: weights are initialised, batches
/// shuffled and dropout masks drawn from a ChaCha generator seeded with `cfg.seed`.
pub fn train_mlp(
    train: &Dataset,
    val: &Dataset,
    cfg: &MlpConfig,
    progress: &mut dyn FnMut(EpochStats),
) -> Result<Vec<DenseLayer>, TrainError> {
    cfg.validate()?;
    train.validate("MLP training set")?;
    val.validate("MLP validation set")?;
    train.check_compatible(val, "MLP validation set")?;

    let device = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut widths = vec![train.in_dim];
    widths.extend(&cfg.hidden);
    widths.push(train.out_dim);

    let layers = widths
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            init_layer(
                w[0],
                w[1],
                i + 2 < widths.len(),
                cfg.activation,
                &mut rng,
                &device,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let weight_params = ParamsAdamW {
        lr: cfg.learning_rate,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    };
    let bias_params = ParamsAdamW {
        weight_decay: 0.0,
        ..weight_params.clone()
    };
    let mut opt_w = AdamW::new(
        layers.iter().map(|l| l.weight.clone()).collect(),
        weight_params,
    )?;
    let mut opt_b = AdamW::new(layers.iter().map(|l| l.bias.clone()).collect(), bias_params)?;

    let train_x = Tensor::from_slice(&train.inputs, (train.n, train.in_dim), &device)?;
    let train_y = Tensor::from_slice(&train.targets, (train.n, train.out_dim), &device)?;
    let val_x = Tensor::from_slice(&val.inputs, (val.n, val.in_dim), &device)?;
    let val_y = Tensor::from_slice(&val.targets, (val.n, val.out_dim), &device)?;

    let start = Instant::now();
    let mut order: Vec<u32> = (0..train.n as u32).collect();
    let mut best = (f64::INFINITY, snapshot(&layers, cfg.activation)?);
    let mut stale = 0;
    for epoch in 1..=cfg.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        let mut batches = 0usize;
        for chunk in order.chunks(cfg.batch_size) {
            let idx = Tensor::from_slice(chunk, chunk.len(), &device)?;
            let x = train_x.index_select(&idx, 0)?;
            let y = train_y.index_select(&idx, 0)?;
            let pred = forward(&layers, &x, cfg.activation, Some((cfg.dropout, &mut rng)))?;
            let loss = candle_nn::loss::mse(&pred, &y)?;
            let grads = loss.backward()?;
            opt_w.step(&grads)?;
            opt_b.step(&grads)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            batches += 1;
        }
        let train_loss = loss_sum / batches.max(1) as f64;
        let val_pred = forward(&layers, &val_x, cfg.activation, None)?;
        let val_loss = candle_nn::loss::mse(&val_pred, &val_y)?.to_scalar::<f32>()? as f64;
        if !train_loss.is_finite() || !val_loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch,
                loss: if train_loss.is_finite() {
                    val_loss
                } else {
                    train_loss
                },
                learning_rate: cfg.learning_rate,
            });
        }
        let improved = val_loss < best.0;
        if improved {
            best = (val_loss, snapshot(&layers, cfg.activation)?);
            stale = 0;
        } else {
            stale += 1;
        }
        progress(EpochStats {
            epoch,
            train_loss,
            val_loss,
            best_val_loss: best.0,
            improved,
            elapsed: start.elapsed(),
        });
        if cfg.patience > 0 && stale >= cfg.patience {
            break;
        }
    }
    Ok(best.1)
}

/// Creates one layer with He (ReLU) or Glorot (tanh, linear) uniform initialisation.
fn init_layer(
    fan_in: usize,
    fan_out: usize,
    hidden: bool,
    activation: Activation,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<Layer, TrainError> {
    let limit = if hidden && activation == Activation::Relu {
        (6.0 / fan_in as f64).sqrt()
    } else {
        (6.0 / (fan_in + fan_out) as f64).sqrt()
    } as f32;
    let weights: Vec<f32> = (0..fan_in * fan_out)
        .map(|_| rng.random_range(-limit..limit))
        .collect();
    Ok(Layer {
        weight: Var::from_vec(weights, (fan_in, fan_out), device)?,
        bias: Var::zeros(fan_out, DType::F32, device)?,
    })
}

/// Runs the network; with `dropout` set, hidden units are dropped with seeded masks.
fn forward(
    layers: &[Layer],
    x: &Tensor,
    activation: Activation,
    mut dropout: Option<(f32, &mut ChaCha8Rng)>,
) -> Result<Tensor, TrainError> {
    let last = layers.len() - 1;
    let mut h = x.clone();
    for (i, layer) in layers.iter().enumerate() {
        h = h
            .matmul(layer.weight.as_tensor())?
            .broadcast_add(layer.bias.as_tensor())?;
        if i == last {
            break;
        }
        h = match activation {
            Activation::None => h,
            Activation::Relu => h.relu()?,
            Activation::Tanh => h.tanh()?,
        };
        if let Some((p, rng)) = dropout.as_mut()
            && *p > 0.0
        {
            let keep = 1.0 - *p;
            let mask: Vec<f32> = (0..h.elem_count())
                .map(|_| {
                    if rng.random::<f32>() < keep {
                        1.0 / keep
                    } else {
                        0.0
                    }
                })
                .collect();
            h = h.mul(&Tensor::from_vec(mask, h.shape(), h.device())?)?;
        }
    }
    Ok(h)
}

/// Copies the current weights out as dense layers.
fn snapshot(layers: &[Layer], activation: Activation) -> Result<Vec<DenseLayer>, TrainError> {
    let last = layers.len() - 1;
    layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (in_dim, out_dim) = l.weight.as_tensor().dims2()?;
            Ok(DenseLayer {
                in_dim,
                out_dim,
                weight: l.weight.as_tensor().flatten_all()?.to_vec1()?,
                bias: l.bias.as_tensor().to_vec1()?,
                activation: if i == last {
                    Activation::None
                } else {
                    activation
                },
            })
        })
        .collect()
}
