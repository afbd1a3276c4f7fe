//! Trained models back from their run directories: any model through the constructor its
//! trainer used, and the built-in networks by the configuration they recorded.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use latent_models::{Autoencoder, Codec, Vae, VaeConfig};
use serde::de::DeserializeOwned;

use crate::config::{ModelKind, TrainConfig};
use crate::error::{Result, TrainError};
use crate::run_dir::RunDir;

/// Seed of the throw-away weights a model is built with before its checkpoint replaces them.
const PLACEHOLDER_SEED: u64 = 0;

impl RunDir {
    /// The run's configuration and trained model, built by `init(model configuration,
    /// device, seed)` — the constructor given to [`train_model`](crate::train_model) — and
    /// loaded from the checkpoint.
    pub fn load_trained<C, M>(
        &self,
        device: &Device,
        init: impl FnOnce(&C, &Device, u64) -> Result<M>,
    ) -> Result<(TrainConfig<C>, M)>
    where
        C: DeserializeOwned,
        M: Module,
    {
        let config: TrainConfig<C> = self.read_config()?;
        let model = self.load_model(init(&config.model, device, PLACEHOLDER_SEED)?)?;
        Ok((config, model))
    }
}

/// A trained built-in model of either kind.
#[derive(Debug)]
pub enum TrainedModel {
    /// A VAE.
    Vae(Vae),
    /// An autoencoder.
    Ae(Autoencoder),
}

impl Codec for TrainedModel {
    fn latent_dim(&self) -> usize {
        match self {
            TrainedModel::Vae(m) => Codec::latent_dim(m),
            TrainedModel::Ae(m) => Codec::latent_dim(m),
        }
    }

    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            TrainedModel::Vae(m) => Codec::encode(m, x),
            TrainedModel::Ae(m) => Codec::encode(m, x),
        }
    }

    fn decode_mean(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            TrainedModel::Vae(m) => Codec::decode_mean(m, z),
            TrainedModel::Ae(m) => Codec::decode_mean(m, z),
        }
    }

    fn decode_sample(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            TrainedModel::Vae(m) => Codec::decode_sample(m, z),
            TrainedModel::Ae(m) => Codec::decode_sample(m, z),
        }
    }

    fn binary_data(&self) -> bool {
        match self {
            TrainedModel::Vae(m) => m.binary_data(),
            TrainedModel::Ae(m) => m.binary_data(),
        }
    }
}

/// The configuration of the run in `run`, which must be one of the built-in networks'.
fn builtin_config(run: &RunDir) -> Result<TrainConfig> {
    if !run.holds_run() {
        // Read it anyway, for the error that names the missing `config.json`.
        return run.read_config::<VaeConfig>();
    }
    run.read_config::<VaeConfig>().map_err(|e| match e {
        TrainError::BadRun { path, problem } => TrainError::BadRun {
            path,
            problem: format!(
                "{problem} (a model of your own? load it through the library, with \
                 RunDir::load_trained and its constructor)"
            ),
        },
        other => other,
    })
}

/// The run configuration and trained model of a run of the built-in networks.
pub fn load_run(run: &Path, device: &Device) -> Result<(TrainConfig, TrainedModel)> {
    let dir = RunDir::new(run);
    let config = builtin_config(&dir)?;
    let model = match config.kind {
        ModelKind::Vae => {
            TrainedModel::Vae(dir.load_model(config.model.init_vae(device, PLACEHOLDER_SEED)?)?)
        }
        ModelKind::Ae => TrainedModel::Ae(
            dir.load_model(config.model.init_autoencoder(device, PLACEHOLDER_SEED)?)?,
        ),
    };
    Ok((config, model))
}

/// A trained built-in VAE and its run configuration.
pub fn load_vae(run: &Path, device: &Device) -> Result<(TrainConfig, Vae)> {
    match load_run(run, device)? {
        (config, TrainedModel::Vae(vae)) => Ok((config, vae)),
        (_, TrainedModel::Ae(_)) => Err(TrainError::BadRun {
            path: run.to_path_buf(),
            problem: "holds an autoencoder, not a VAE".into(),
        }),
    }
}
