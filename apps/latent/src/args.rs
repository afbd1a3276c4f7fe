//! The flags several commands share, and their translation into the library's settings in one
//! place.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use latent_data::{default_mnist_dir, ExampleShape, PointSource, Split};
use latent_models::{
    Activation, Architecture, Conditioning, Likelihood, PriorConfig, TopLayer, VaeConfig,
};
use latent_train::{ModelKind, NamedDevice, ReplicaCount, TrainConfig};

use crate::backend::Backend;

/// `--run DIR`: a run directory written by `latent train`.
#[derive(Debug, Args)]
pub struct RunArg {
    /// A run directory written by `latent train` (or `latent import`).
    #[arg(long)]
    pub run: PathBuf,
}

/// `--split train|test`: which split of a data set.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SplitArg {
    /// The training examples.
    Train,
    /// The test examples.
    Test,
}

impl From<SplitArg> for Split {
    fn from(split: SplitArg) -> Self {
        match split {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        }
    }
}

/// `--replicas N|auto`.
#[derive(Debug, Args)]
pub struct ReplicasArg {
    /// On a CPU backend: N copies of the model (or importance-sampling workers), each with its
    /// own share of the --threads; the same figures as one copy, up to the order of float sums.
    /// `auto`: one per 64 images of a training batch, or one per thread for evaluation; one on
    /// wgpu or with --devices.
    #[arg(long, value_name = "N|auto", default_value = "auto")]
    pub replicas: ReplicaCount,
}

impl ReplicasArg {
    /// The CPU replicas of `--replicas` on `device`; `batch`: the images of a training step
    /// (`None` for evaluation).
    pub fn devices(
        &self,
        backend: Backend,
        device: &Device,
        batch: Option<usize>,
    ) -> Result<Vec<NamedDevice>> {
        Ok(latent_train::cpu_replicas(
            backend.name(),
            device,
            backend.is_cpu(),
            self.replicas,
            batch,
        )?)
    }
}

/// `--mnist-dir DIR`.
#[derive(Debug, Args, Clone)]
pub struct MnistDirArg {
    /// Directory of the MNIST files [default: $LATENT_MNIST_DIR, else datasets/mnist].
    #[arg(long)]
    pub mnist_dir: Option<PathBuf>,
}

impl MnistDirArg {
    /// The directory, made absolute where it exists (a run remembers where its data are, and
    /// an absolute path keeps working from any directory).
    pub fn resolve(&self) -> PathBuf {
        let dir = self.mnist_dir.clone().unwrap_or_else(default_mnist_dir);
        std::fs::canonicalize(&dir).unwrap_or(dir)
    }
}

/// The run configuration of the JSON file `file` (as written to a run's `config.json`), or
/// the defaults; either way for a model of `kind`, with its data in `mnist_dir` when that flag
/// is given (else the file's own directory, made absolute).
pub fn base_config(
    file: Option<&Path>,
    kind: KindArg,
    mnist_dir: &MnistDirArg,
) -> Result<TrainConfig> {
    let mut config = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let config = serde_json::from_str::<TrainConfig>(&text)
                .with_context(|| format!("{} is not a run configuration", path.display()))?;
            TrainConfig {
                mnist_dir: match mnist_dir.mnist_dir {
                    Some(_) => mnist_dir.resolve(),
                    None => std::fs::canonicalize(&config.mnist_dir).unwrap_or(config.mnist_dir),
                },
                ..config
            }
        }
        None => TrainConfig::new(kind.into(), mnist_dir.resolve()),
    };
    config.kind = kind.into();
    Ok(config)
}

/// Which model.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// Variational autoencoder (ELBO).
    Vae,
    /// Deterministic autoencoder (reconstruction loss).
    Ae,
}

impl From<KindArg> for ModelKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Vae => ModelKind::Vae,
            KindArg::Ae => ModelKind::Ae,
        }
    }
}

/// `--decoder`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DecoderArg {
    /// Bernoulli pixels (binary cross-entropy), on dynamically binarised digits.
    Bernoulli,
    /// Gaussian pixels with unit variance (squared error).
    Gaussian,
    /// Gaussian pixels with a learned variance per pixel.
    GaussianLearned,
}

/// `--arch`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ArchArg {
    /// Fully connected.
    Mlp,
    /// Convolutions, for 28 × 28 images.
    Conv,
}

/// `--activation`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActivationArg {
    /// max(x, 0).
    Relu,
    /// tanh.
    Tanh,
}

/// The built-in networks' shape; each flag given overrides the configuration it is applied
/// to.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Latent dimension.
    #[arg(long)]
    pub latent: Option<usize>,
    /// Hidden layer sizes, comma-separated (e.g. 500,500).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// The decoder's likelihood.
    #[arg(long, value_enum)]
    pub decoder: Option<DecoderArg>,
    /// Hidden-layer non-linearity.
    #[arg(long, value_enum)]
    pub activation: Option<ActivationArg>,
    /// Network kind: fully connected, or convolutions for 28 × 28 images.
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// The prior p(z): `standard` (N(0, I), closed-form KL), `mog:K` (a learned mixture of K
    /// Gaussians), `vamp:K` (the VampPrior with K learned pseudo-inputs, starting as K
    /// distinct training examples drawn at random) or `vamp:K:noise` (starting as faint
    /// noise, the paper's default); a mixture's KL is the one-sample Monte-Carlo estimate
    /// [default: standard].
    #[arg(long, value_name = "PRIOR")]
    pub prior: Option<PriorConfig>,
    /// Add a second stochastic layer z2 of this dimension above z (q(z2 | z1), p(z1 | z2);
    /// the prior is then p(z2)).
    #[arg(long, value_name = "N")]
    pub latent2: Option<usize>,
    /// Hidden layer sizes of the second layer's networks, comma-separated [default: 100,100].
    #[arg(long, value_delimiter = ',', requires = "latent2")]
    pub hidden2: Option<Vec<usize>>,
    /// A conditional VAE: encoder and decoder see the class (labelled data; `latent sample
    /// --class C` draws class C; `eval` gives −log p(x | y)).
    #[arg(long, conflicts_with = "semi_supervised")]
    pub conditional: bool,
    /// The semi-supervised M2: a classifier q(y | x), the class of an unlabelled example a
    /// latent variable (with --labelled N, only N training labels are kept; `eval` gives the
    /// test classification error).
    #[arg(long)]
    pub semi_supervised: bool,
    /// M2's weight α of a labelled example's classification loss −log q(y | x) beside its
    /// bound [default: 1, about Kingma et al.'s α = 0.1 · N].
    #[arg(long, value_name = "ALPHA", requires = "semi_supervised")]
    pub classifier_weight: Option<f64>,
}

impl ModelArgs {
    /// `model` with the flags given applied.
    pub fn apply(&self, model: &mut VaeConfig) {
        if let Some(v) = self.latent {
            model.latent = v;
        }
        if let Some(v) = &self.hidden {
            model.hidden = v.clone();
        }
        if let Some(v) = self.decoder {
            model.likelihood = match v {
                DecoderArg::Bernoulli => Likelihood::Bernoulli,
                DecoderArg::Gaussian => Likelihood::Gaussian { log_var: 0.0 },
                DecoderArg::GaussianLearned => Likelihood::GaussianLearned,
            };
        }
        if let Some(v) = self.arch {
            model.architecture = match v {
                ArchArg::Mlp => Architecture::Mlp,
                ArchArg::Conv => Architecture::Conv,
            };
        }
        if let Some(v) = self.activation {
            model.activation = match v {
                ActivationArg::Relu => Activation::Relu,
                ActivationArg::Tanh => Activation::Tanh,
            };
        }
        if let Some(v) = self.prior {
            model.prior = v;
        }
        if self.conditional {
            model.conditioning = Conditioning::Conditional {
                classes: model.conditioning.classes().unwrap_or(0),
            };
        }
        if self.semi_supervised {
            let weight = match model.conditioning {
                Conditioning::SemiSupervised {
                    classifier_weight, ..
                } => classifier_weight,
                _ => 1.0,
            };
            model.conditioning = Conditioning::SemiSupervised {
                classes: model.conditioning.classes().unwrap_or(0),
                classifier_weight: self.classifier_weight.unwrap_or(weight),
            };
        }
        if let Some(latent) = self.latent2 {
            let hidden = self
                .hidden2
                .clone()
                .or_else(|| model.top.as_ref().map(|t| t.hidden.clone()))
                .unwrap_or_else(|| TopLayer::iwae_paper().hidden);
            model.top = Some(TopLayer { hidden, latent });
        }
    }
}

/// Where a mixture's points come from.
#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// Any data spec of `latent train --data` (a .csv table, a .npy array, an IDX file, a
    /// folder of images), or `mnist` / `digits` with a split: `mnist:train`, `mnist:test`,
    /// optionally shifted, e.g. mnist:test:rotate=45, digits:classes=5-9 (images are their
    /// pixels' grey levels in [0, 1], one point per image).
    #[arg(long, value_name = "SPEC", value_parser = PointSource::parse)]
    pub data: PointSource,
    /// Keep only the first N points.
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub mnist_dir: MnistDirArg,
}

impl DataArgs {
    /// The points on `device`; MNIST binarised with the fixed draw of seed `binarize` if given.
    pub fn load(&self, binarize: Option<u64>, device: &Device) -> Result<burn::tensor::Tensor<2>> {
        Ok(self.load_with_shape(binarize, device)?.0)
    }

    /// The points as [`DataArgs::load`] gives them (no binarisation), except that a `.csv`
    /// or `.npy` may have missing values (NaN); and whether any is missing.
    pub fn load_allowing_missing(
        &self,
        device: &Device,
    ) -> Result<(burn::tensor::Tensor<2>, bool)> {
        Ok(self
            .data
            .load_allowing_missing(&self.mnist_dir.resolve(), self.limit, None, device)?)
    }

    /// The points as [`DataArgs::load`] gives them, and what each was (an image's shape).
    pub fn load_with_shape(
        &self,
        binarize: Option<u64>,
        device: &Device,
    ) -> Result<(burn::tensor::Tensor<2>, ExampleShape)> {
        let data = self.data.examples(&self.mnist_dir.resolve(), self.limit)?;
        Ok((PointSource::points(&data, binarize, device), data.shape()))
    }
}

/// Prints figures as one JSON object, or as `key: value` lines.
pub fn print_figures(figures: &serde_json::Value, json: bool) {
    if json {
        println!("{figures}");
    } else if let Some(map) = figures.as_object() {
        for (key, value) in map {
            println!("{key}: {value}");
        }
    }
}
