//! Trained models back from their run directories: any model through the constructor its
//! trainer used, and the built-in networks by the configuration they recorded.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use latent_models::{
    Autoencoder, Codec, ConditionalVae, Conditioning, HierarchicalVae, SemiSupervisedVae, Vae,
    VaeConfig,
};
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

/// A trained built-in model of any kind.
// Made once per command and matched, never copied around: its variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum TrainedModel {
    /// A VAE with one stochastic layer.
    Vae(Vae),
    /// A VAE with two stochastic layers.
    Hierarchical(HierarchicalVae),
    /// A conditional VAE.
    Conditional(ConditionalVae),
    /// The semi-supervised M2.
    SemiSupervised(SemiSupervisedVae),
    /// An autoencoder.
    Ae(Autoencoder),
}

/// Evaluates `$body` with `$m` bound to a reference to the trained VAE (of any kind: one or
/// two layers, conditional, M2) in `$model`, a `&`[`TrainedModel`], or `$otherwise` for an autoencoder: the code
/// written once for any [`LatentVariableModel`](latent_models::LatentVariableModel).
#[macro_export]
macro_rules! with_vae {
    ($model:expr, $m:ident => $body:expr, $ae:pat => $otherwise:expr) => {
        match $model {
            $crate::TrainedModel::Vae($m) => $body,
            $crate::TrainedModel::Hierarchical($m) => $body,
            $crate::TrainedModel::Conditional($m) => $body,
            $crate::TrainedModel::SemiSupervised($m) => $body,
            $crate::TrainedModel::Ae($ae) => $otherwise,
        }
    };
}

/// Evaluates `$body` with `$m` bound to a reference to the model in `$model`, a
/// `&`[`TrainedModel`] of any kind: the code written once for any [`Codec`].
#[macro_export]
macro_rules! with_model {
    ($model:expr, $m:ident => $body:expr) => {
        $crate::with_vae!($model, $m => $body, $m => $body)
    };
}

impl Codec for TrainedModel {
    fn latent_dim(&self) -> usize {
        with_model!(self, m => Codec::latent_dim(m))
    }

    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        with_model!(self, m => Codec::encode(m, x))
    }

    fn decode_mean(&self, z: Tensor<2>) -> Tensor<2> {
        with_model!(self, m => Codec::decode_mean(m, z))
    }

    fn decode_sample(&self, z: Tensor<2>) -> Tensor<2> {
        with_model!(self, m => Codec::decode_sample(m, z))
    }

    fn binary_data(&self) -> bool {
        with_model!(self, m => m.binary_data())
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
        ModelKind::Vae if matches!(config.model.conditioning, Conditioning::Conditional { .. }) => {
            TrainedModel::Conditional(
                dir.load_model(config.model.init_conditional(device, PLACEHOLDER_SEED)?)?,
            )
        }
        ModelKind::Vae if !config.model.conditioning.is_none() => TrainedModel::SemiSupervised(
            dir.load_model(
                config
                    .model
                    .init_semi_supervised(device, PLACEHOLDER_SEED)?,
            )?,
        ),
        ModelKind::Vae if config.model.top.is_some() => TrainedModel::Hierarchical(
            dir.load_model(config.model.init_hierarchical(device, PLACEHOLDER_SEED)?)?,
        ),
        ModelKind::Vae => {
            TrainedModel::Vae(dir.load_model(config.model.init_vae(device, PLACEHOLDER_SEED)?)?)
        }
        ModelKind::Ae => TrainedModel::Ae(
            dir.load_model(config.model.init_autoencoder(device, PLACEHOLDER_SEED)?)?,
        ),
    };
    Ok((config, model))
}

/// A trained built-in one-layer VAE and its run configuration (a two-layer one or an
/// autoencoder is refused by name; [`load_run`] takes any).
pub fn load_vae(run: &Path, device: &Device) -> Result<(TrainConfig, Vae)> {
    let problem = match load_run(run, device)? {
        (config, TrainedModel::Vae(vae)) => return Ok((config, vae)),
        (_, TrainedModel::Hierarchical(_)) => {
            "holds a VAE with two stochastic layers, which this needs a one-layer VAE for"
        }
        (_, TrainedModel::Conditional(_) | TrainedModel::SemiSupervised(_)) => {
            "holds a VAE that takes labels, which this needs a plain one-layer VAE for"
        }
        (_, TrainedModel::Ae(_)) => "holds an autoencoder, not a VAE",
    };
    Err(TrainError::BadRun {
        path: run.to_path_buf(),
        problem: problem.into(),
    })
}

/// A trained built-in VAE of one or two layers, or an error naming an autoencoder run.
pub fn load_variational(run: &Path, device: &Device) -> Result<(TrainConfig, TrainedModel)> {
    let (config, model) = load_run(run, device)?;
    if let TrainedModel::Ae(_) = model {
        return Err(TrainError::BadRun {
            path: run.to_path_buf(),
            problem: "holds an autoencoder, not a VAE".into(),
        });
    }
    Ok((config, model))
}
