//! Training and evaluation of the VAE and the autoencoder on MNIST.
//!
//! A run is a directory: `config.json` (everything needed to rebuild the model and continue),
//! `metrics.jsonl` (one line per epoch), `checkpoints/` (model and optimizer state, written to a
//! temporary file and renamed, so a kill never leaves a corrupt checkpoint), `state.json` (the
//! last completed epoch) and `summary.json`. Randomness is re-seeded from (seed, epoch) at
//! every epoch — shuffling, dynamic binarisation, reparameterisation noise — so `--resume`
//! continues exactly as an uninterrupted run would.

mod grouped;
mod probe;
mod run;
pub mod transfer;

pub use probe::{linear_probe, LinearProbe, ProbeReport};

pub use run::{
    device_check, evaluate, evaluate_on, load_run, load_vae, shard_ranges, train, train_on,
    EpochMetrics, EvalReport, Execution, ModelKind, NamedDevice, Strategy, TrainConfig, TrainError,
    TrainProgress, TrainedModel, ACTIVE_UNIT_THRESHOLD, DEFAULT_IW_CHUNK,
};
