//! Errors raised while training.

/// Everything that can go wrong when training a decoder.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A dataset's buffers do not match its declared sizes, or two datasets disagree.
    #[error(
        "{what}: expected {expected}, found {found}; check how the feature and target frames were assembled"
    )]
    Shape {
        /// Which dataset or buffer is wrong.
        what: String,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A configuration value is out of range.
    #[error(
        "MLP config field `{field}`: expected {expected}, found {found}; fix the training config"
    )]
    Config {
        /// The offending field.
        field: &'static str,
        /// The accepted range.
        expected: &'static str,
        /// The value given.
        found: String,
    },
    /// The tensor library failed.
    #[error(
        "candle failed during training: {0}; this is likely a bug, please report it with the config used"
    )]
    Candle(#[from] candle_core::Error),
    /// Training diverged.
    #[error(
        "training diverged at epoch {epoch}: the loss became {loss}; lower learning_rate (now {learning_rate}) or z-score the targets"
    )]
    Diverged {
        /// The epoch where the loss stopped being finite.
        epoch: usize,
        /// The non-finite loss.
        loss: f64,
        /// The learning rate in use.
        learning_rate: f64,
    },
}
