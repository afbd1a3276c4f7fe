//! The configuration of a run, saved as its `config.json`: the model's own configuration, the
//! optimiser, the objective and its schedules, the data, and how the steps were spread over
//! devices. Checked once, before any work.

use std::path::PathBuf;

use burn::optim::ModuleOptimizer;
use latent_data::{
    DataError, DataSource, ExampleBatcher, ExampleShape, Examples, LabelColumns, Split,
    Standardisation,
};
use latent_models::model::Objective;
use latent_models::VaeConfig;
use serde::{Deserialize, Serialize};

use crate::devices::{shard_ranges, NamedDevice};
use crate::error::{invalid, Result};
use crate::host_adam::{adam_config, HostAdam};

/// Which kind of model a run trains: what its figures mean (a VAE has a likelihood bound; an
/// autoencoder only a reconstruction loss) and, for the built-in networks, which one to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A variational autoencoder, trained on the ELBO or the IWAE bound.
    Vae,
    /// A deterministic autoencoder, trained on the reconstruction loss.
    Ae,
}

/// Adam and its learning-rate schedule (in `config.json`, at the top level beside the other
/// settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Adam's learning rate in the first epoch.
    pub lr: f64,
    /// Per-epoch multiplicative learning-rate decay: epoch e (1-based) uses lr · decay^(e−1).
    /// 1 keeps the rate constant. Depends on the epoch only, so `--resume` continues it exactly.
    #[serde(default = "unit")]
    pub lr_decay: f64,
    /// Adam's β₁.
    pub adam_beta1: f64,
    /// Adam's β₂.
    pub adam_beta2: f64,
    /// L2 weight decay (0: none).
    pub weight_decay: f64,
}

impl Default for OptimizerConfig {
    /// PyTorch's VAE example: Adam 1e-3 with PyTorch's betas, no decay.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            lr_decay: 1.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            weight_decay: 0.0,
        }
    }
}

impl OptimizerConfig {
    /// The learning rate in `epoch` (1-based).
    pub fn learning_rate(&self, epoch: usize) -> f64 {
        self.lr * self.lr_decay.powi(epoch.saturating_sub(1) as i32)
    }

    /// An Adam optimiser with these betas and weight decay: burn's own, or with `host` (on
    /// burn-flex) [`HostAdam`], which computes the same values in
    /// one pass over host memory.
    pub(crate) fn adam(&self, host: bool) -> ModuleOptimizer {
        let (beta_1, beta_2) = (self.adam_beta1 as f32, self.adam_beta2 as f32);
        let weight_decay = (self.weight_decay > 0.0).then_some(self.weight_decay as f32);
        if host {
            ModuleOptimizer::from(HostAdam::new(beta_1, beta_2, weight_decay))
        } else {
            adam_config(beta_1, beta_2, weight_decay).init()
        }
    }

    fn check(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(invalid("lr", "must be positive"));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Err(invalid("lr_decay", "must be in (0, 1] (1: constant rate)"));
        }
        if !(0.0..1.0).contains(&self.adam_beta1) || !(0.0..1.0).contains(&self.adam_beta2) {
            return Err(invalid("adam_beta1/adam_beta2", "must be in [0, 1)"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(invalid("weight_decay", "must be ≥ 0"));
        }
        Ok(())
    }
}

/// Everything a run needs, saved as its `config.json`. `M` is the model's own configuration:
/// [`VaeConfig`] for the built-in networks, or a serialisable type of a user's, given back to
/// the user's constructor when the run is resumed or loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig<M = VaeConfig> {
    /// A VAE or an autoencoder.
    pub kind: ModelKind,
    /// The model's configuration.
    pub model: M,
    /// Epochs to train (in all, counting those of a resumed run).
    pub epochs: usize,
    /// Images per optimisation step, whatever the number of devices.
    pub batch_size: usize,
    /// Adam and its schedule.
    #[serde(flatten)]
    pub optimizer: OptimizerConfig,
    /// Weight of the KL term (β-VAE; 1 is the ELBO).
    pub beta: f64,
    /// Epochs over which the KL weight rises linearly from 0 to `beta` (0: no warm-up). Under the
    /// IWAE bound it is the power of every importance weight's latent part p(z) / q(z | x).
    pub warmup_epochs: usize,
    /// Importance samples of the training objective: 1 is the ELBO, k > 1 the IWAE bound
    /// (Burda et al. 2015).
    #[serde(default = "one")]
    pub iwae_samples: usize,
    /// Free bits λ in nats per latent dimension (Kingma et al. 2016): each dimension's KL,
    /// averaged over the batch, enters the training loss as max(λ, KL_j). 0: none. The test
    /// figures stay the plain ELBO.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub free_bits: f64,
    /// Seed of the initial weights and of every epoch's randomness.
    pub seed: u64,
    /// Use only the first N training images.
    pub train_limit: Option<usize>,
    /// Use only the first N test images for the per-epoch test figures.
    pub test_limit: Option<usize>,
    /// Directory of the MNIST files.
    pub mnist_dir: PathBuf,
    /// Which data: MNIST or the bundled digits (a domain shift of them such as
    /// `mnist:rotate=45`), or a file or folder of the user's (see [`latent_data::domain`]).
    #[serde(default)]
    pub data: DataSource,
    /// The test set's source, when it is not `data`'s own test split or a held-out fraction of
    /// it (all its examples; for a bundled source, its test split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_data: Option<DataSource>,
    /// The fraction of `data`'s examples (of its training split, for a bundled source) held
    /// out as the test set, drawn with `seed`. Without it or `test_data`, a bundled source keeps
    /// its own split and any other source holds out [`DEFAULT_TEST_FRACTION`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// For a Bernoulli likelihood, binarise the inputs (a fresh draw of every value each time
    /// an example is shown, a fixed seeded draw for the test figures); else take the grey
    /// levels as they are.
    #[serde(default = "yes")]
    pub binarize: bool,
    /// The standardisation of real-valued data (the training set's mean and standard
    /// deviation per dimension), drawn when the run starts and undone for everything shown in
    /// the data's own units (written by the trainer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standardisation: Option<Standardisation>,
    /// What one example of the data is (written by the trainer when the run starts; a run
    /// from before has none, and MNIST's 28 × 28 grey images are meant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_shape: Option<ExampleShape>,
    /// Train the decoder only: the encoder's parameters get no gradients (fine-tuning a
    /// transferred model with a frozen encoder).
    #[serde(default)]
    pub freeze_encoder: bool,
    /// For a model that takes labels: keep only N training labels (N / C of each class, the
    /// first of each in the data's order) and hide the others (semi-supervised learning). The
    /// kept examples are shown again, so that they make up about a tenth of an epoch's rows
    /// (each epoch is then about 10 % longer). `None`: every label is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labelled: Option<usize>,
    /// The labels the model takes as inputs (none for a model without labels): for the
    /// built-in conditional models the trainer sets it from the data; a model of one's own
    /// sets it to be handed them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_columns: Option<LabelPlan>,
    /// How the steps were spread over devices, as the trainer used it (written by the trainer;
    /// its value in a configuration given to it is replaced).
    #[serde(default)]
    pub execution: Execution,
    /// The run's identity, drawn when it starts and written into every model checkpoint, so
    /// that another run's weights are never taken for its own (written by the trainer; runs
    /// from before it have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

fn one() -> usize {
    1
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn yes() -> bool {
    true
}

/// The fraction of a user's data held out as the test set when neither a test set nor a
/// fraction is given.
pub const DEFAULT_TEST_FRACTION: f64 = 0.1;

fn unit() -> f64 {
    1.0
}

/// The settings `--resume` may change: the epochs (to extend the run), where the data are, and
/// how the steps are spread over devices; and those the trainer writes itself (the run id, the
/// standardisation it drew from the data).
pub const RESUMABLE_SETTINGS: [&str; 7] = [
    "epochs",
    "mnist_dir",
    "execution",
    "run_id",
    "standardisation",
    "data_shape",
    "label_columns",
];

/// Where a run's test set comes from.
enum TestPlan<'a> {
    /// The bundled source's own test split.
    OwnSplit,
    /// Another source.
    Source(&'a DataSource),
    /// A seeded fraction of the training source.
    Fraction(f64),
}

/// How a run's examples become model inputs: binarised for a binary likelihood (or not), and
/// real values standardised.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// Binarise for a binary likelihood.
    pub binarize: bool,
    /// The standardisation of real-valued data.
    pub standardisation: Option<Standardisation>,
    /// The labels a conditional model takes as inputs.
    pub labels: Option<LabelPlan>,
}

impl Default for Inputs {
    /// Binarised for a binary likelihood, not standardised, no labels: MNIST's inputs.
    fn default() -> Self {
        Self {
            binarize: true,
            standardisation: None,
            labels: None,
        }
    }
}

/// How a conditional model gets the examples' labels: as `classes` one-hot columns after each
/// example's values (see [`LabelColumns`]), on the training examples whose labels are kept,
/// and on the test examples if `test_labels` (a conditional VAE's figures are then of
/// log p(x | y)) or on none (M2's figures are of log p(x), the class marginalised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelPlan {
    /// Number of classes.
    pub classes: usize,
    /// Whether the test inputs show their labels.
    pub test_labels: bool,
}

impl LabelPlan {
    fn columns(&self, shown: bool) -> LabelColumns {
        LabelColumns {
            classes: self.classes,
            visible_from: if shown { 0 } else { usize::MAX },
        }
    }
}

impl Inputs {
    /// The batcher of training epoch `seed`: a fresh binarisation at every presentation for
    /// a `binary` likelihood, else the values as they are.
    pub fn training(&self, binary: bool, seed: u64) -> ExampleBatcher {
        let batcher = if binary && self.binarize {
            ExampleBatcher::dynamic(seed)
        } else {
            ExampleBatcher::grey()
        };
        batcher
            .standardised(self.standardisation.clone())
            .with_labels(self.labels.map(|l| l.columns(true)))
    }

    /// The label columns of test inputs, pictures and codes.
    fn test_labels(&self) -> Option<LabelColumns> {
        self.labels.map(|l| l.columns(l.test_labels))
    }

    /// The batcher of test figures: the fixed binarisation (seed 0) for a `binary`
    /// likelihood, else the values as they are.
    pub fn test(&self, binary: bool) -> ExampleBatcher {
        let batcher = if binary && self.binarize {
            ExampleBatcher::fixed(0)
        } else {
            ExampleBatcher::grey()
        };
        batcher
            .standardised(self.standardisation.clone())
            .with_labels(self.test_labels())
    }

    /// The batcher of codes and pictures: the values as they are (standardised).
    pub fn plain(&self) -> ExampleBatcher {
        ExampleBatcher::grey()
            .standardised(self.standardisation.clone())
            .with_labels(self.test_labels())
    }

    /// log |det J| of the standardisation (0 without one): log p(x) of the data as given is
    /// log p of the standardised values plus this.
    pub fn log_jacobian(&self) -> f64 {
        self.standardisation
            .as_ref()
            .map_or(0.0, Standardisation::log_jacobian)
    }

    /// Model outputs (row after row) back in the data's own units.
    pub fn to_data_units(&self, values: &mut [f32]) {
        if let Some(s) = &self.standardisation {
            s.undo(values);
        }
    }
}

/// The first setting in which `given` differs from `recorded` outside [`RESUMABLE_SETTINGS`]:
/// its name as `config.json` spells it (`model.latent` for a nested one) and both values.
pub(crate) fn first_difference<M: Serialize>(
    given: &TrainConfig<M>,
    recorded: &TrainConfig<M>,
) -> Option<(String, String, String)> {
    let as_json = |c: &TrainConfig<M>| serde_json::to_value(c).expect("plain data serialises");
    let (mut given, mut recorded) = (as_json(given), as_json(recorded));
    for key in RESUMABLE_SETTINGS {
        for value in [&mut given, &mut recorded] {
            if let Some(map) = value.as_object_mut() {
                map.remove(key);
            }
        }
    }
    difference("", &given, &recorded)
}

fn difference(
    prefix: &str,
    given: &serde_json::Value,
    recorded: &serde_json::Value,
) -> Option<(String, String, String)> {
    match (given, recorded) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| {
                let null = serde_json::Value::Null;
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                difference(
                    &name,
                    a.get(key).unwrap_or(&null),
                    b.get(key).unwrap_or(&null),
                )
            })
        }
        (a, b) if a != b => Some((prefix.to_string(), a.to_string(), b.to_string())),
        _ => None,
    }
}

/// Mixed with the epoch into each epoch's seed: seed · this + epoch.
const EPOCH_SEED_MULTIPLIER: u64 = 1_000_003;

impl TrainConfig<VaeConfig> {
    /// PyTorch's VAE example with the built-in networks: 784-400-20, Adam 1e-3, batch 128, 10
    /// epochs, on the MNIST files in `mnist_dir`.
    pub fn new(kind: ModelKind, mnist_dir: PathBuf) -> Self {
        TrainConfig::with_model(kind, VaeConfig::default(), mnist_dir)
    }

    /// Checks every setting, the built-in model's included; the error names the first one
    /// that is out of range.
    pub fn check(&self) -> Result<()> {
        self.check_training()?;
        self.model.check()?;
        let semi_supervised = matches!(
            self.model.conditioning,
            latent_models::Conditioning::SemiSupervised { .. }
        );
        if self.labelled.is_some() && !semi_supervised {
            return Err(invalid(
                "labelled",
                "only the semi-supervised VAE (M2) learns from partly labelled data",
            ));
        }
        if semi_supervised && (self.iwae_samples > 1 || self.free_bits > 0.0) {
            return Err(invalid(
                "conditioning",
                "the semi-supervised VAE trains on its own bound: no IWAE bound or free bits",
            ));
        }
        if self.kind == ModelKind::Ae
            && (self.model.top.is_some()
                || !self.model.prior.is_standard()
                || !self.model.conditioning.is_none())
        {
            return Err(invalid(
                "model",
                "an autoencoder has no prior, one layer and no labels: a prior, a second \
                 stochastic layer or labels need a VAE",
            ));
        }
        Ok(())
    }
}

impl<M> TrainConfig<M> {
    /// The defaults of [`TrainConfig::new`] for a model of `kind` configured by `model`.
    pub fn with_model(kind: ModelKind, model: M, mnist_dir: PathBuf) -> Self {
        Self {
            kind,
            model,
            epochs: 10,
            batch_size: 128,
            optimizer: OptimizerConfig::default(),
            beta: 1.0,
            warmup_epochs: 0,
            iwae_samples: 1,
            free_bits: 0.0,
            seed: 0,
            train_limit: None,
            test_limit: None,
            mnist_dir,
            data: DataSource::default(),
            test_data: None,
            test_fraction: None,
            binarize: true,
            standardisation: None,
            data_shape: None,
            freeze_encoder: false,
            labelled: None,
            label_columns: None,
            execution: Execution::default(),
            run_id: None,
        }
    }

    /// The same settings for another model.
    pub fn map_model<N>(self, f: impl FnOnce(M) -> N) -> TrainConfig<N> {
        TrainConfig {
            kind: self.kind,
            model: f(self.model),
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer,
            beta: self.beta,
            warmup_epochs: self.warmup_epochs,
            iwae_samples: self.iwae_samples,
            free_bits: self.free_bits,
            seed: self.seed,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            mnist_dir: self.mnist_dir,
            data: self.data,
            test_data: self.test_data,
            test_fraction: self.test_fraction,
            binarize: self.binarize,
            standardisation: self.standardisation,
            data_shape: self.data_shape,
            freeze_encoder: self.freeze_encoder,
            labelled: self.labelled,
            label_columns: self.label_columns,
            execution: self.execution,
            run_id: self.run_id,
        }
    }

    /// Checks the training settings (not the model's own configuration, which is its
    /// constructor's business); the error names the first one that is out of range.
    pub fn check_training(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(invalid("epochs", "must be at least 1"));
        }
        for (field, limit) in [
            ("train_limit", self.train_limit),
            ("test_limit", self.test_limit),
        ] {
            if limit == Some(0) {
                return Err(invalid(
                    field,
                    "must be at least 1 image (or none, for all)",
                ));
            }
        }
        if self.batch_size == 0 {
            return Err(invalid("batch_size", "must be at least 1"));
        }
        self.optimizer.check()?;
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(invalid("beta", "must be ≥ 0"));
        }
        if self.iwae_samples == 0 {
            return Err(invalid(
                "iwae_samples",
                "must be at least 1 (1 is the ELBO)",
            ));
        }
        if self.iwae_samples > 1 && self.beta != 1.0 {
            return Err(invalid(
                "iwae_samples",
                "the IWAE bound has no KL weight: use beta 1 (a warm-up may temper it)",
            ));
        }
        if !(self.free_bits.is_finite() && self.free_bits >= 0.0) {
            return Err(invalid("free_bits", "must be ≥ 0 nats per dimension"));
        }
        if self.free_bits > 0.0 && (self.iwae_samples > 1 || self.kind == ModelKind::Ae) {
            return Err(invalid(
                "free_bits",
                "free bits floor the ELBO's KL: they need a VAE trained on the ELBO (iwae_samples 1)",
            ));
        }
        if self.iwae_samples > 1 && self.kind == ModelKind::Ae {
            return Err(invalid(
                "iwae_samples",
                "an autoencoder has no importance-weighted bound",
            ));
        }
        if self.labelled == Some(0) {
            return Err(invalid(
                "labelled",
                "must be at least 1 label per class (or none, for all)",
            ));
        }
        if let Some(f) = self.test_fraction {
            if !(f > 0.0 && f < 1.0) {
                return Err(invalid(
                    "test_fraction",
                    format!("must be in (0, 1), not {f}"),
                ));
            }
            if self.test_data.is_some() {
                return Err(invalid(
                    "test_fraction",
                    "give a test fraction or a test data source, not both",
                ));
            }
        }
        Ok(())
    }

    /// Where the test set comes from.
    fn test_plan(&self) -> TestPlan<'_> {
        match (&self.test_data, self.test_fraction) {
            (Some(test), _) => TestPlan::Source(test),
            (None, Some(f)) => TestPlan::Fraction(f),
            (None, None) if self.data.has_splits() => TestPlan::OwnSplit,
            (None, None) => TestPlan::Fraction(DEFAULT_TEST_FRACTION),
        }
    }

    /// A split of this run's data (its options, classes and shifts applied; see
    /// [`TrainConfig::test_data`] and [`TrainConfig::test_fraction`] for where the test set
    /// comes from), the first `limit` examples. A limit beyond what there is is an error.
    pub fn load_split(&self, split: Split, limit: Option<usize>) -> Result<Examples> {
        let dir = &self.mnist_dir;
        match (self.test_plan(), split) {
            (TestPlan::OwnSplit, _) | (TestPlan::Source(_), Split::Train) => {
                Ok(self.data.load(dir, split, limit)?)
            }
            (TestPlan::Source(test), Split::Test) => Ok(test.load(dir, Split::Test, limit)?),
            (TestPlan::Fraction(_), _) => {
                let (train, test) = self.load_data(None, None)?;
                let chosen = if split == Split::Train { train } else { test };
                self.first(chosen, split, limit)
            }
        }
    }

    /// The training and the test examples (each of their first `limit`s), the source read
    /// once even when the test set is a fraction of it.
    pub fn load_data(
        &self,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
    ) -> Result<(Examples, Examples)> {
        match self.test_plan() {
            TestPlan::Fraction(fraction) => {
                let all = self.data.load(&self.mnist_dir, Split::Train, None)?;
                let (train, test) = all.split_off(fraction, self.seed)?;
                Ok((
                    self.first(train, Split::Train, train_limit)?,
                    self.first(test, Split::Test, test_limit)?,
                ))
            }
            _ => Ok((
                self.load_split(Split::Train, train_limit)?,
                self.load_split(Split::Test, test_limit)?,
            )),
        }
    }

    /// The first `limit` of `data`, or an error naming the source when there are fewer.
    fn first(&self, data: Examples, split: Split, limit: Option<usize>) -> Result<Examples> {
        match limit {
            Some(requested) if requested > data.len() => Err(DataError::SpecTooSmall {
                spec: self.data.to_string(),
                split: match split {
                    Split::Train => "training",
                    Split::Test => "test",
                },
                requested,
                available: data.len(),
            }
            .into()),
            Some(n) => Ok(data.truncated(n)),
            None => Ok(data),
        }
    }

    /// What one example of the run's data is: as recorded, else (a run from before shapes were
    /// recorded) MNIST's 28 × 28 grey images.
    pub fn example_shape(&self) -> ExampleShape {
        self.data_shape
            .unwrap_or(ExampleShape::grey_square(latent_data::mnist::SIDE))
    }

    /// How examples become this run's model inputs.
    pub fn inputs(&self) -> Inputs {
        Inputs {
            binarize: self.binarize,
            standardisation: self.standardisation.clone(),
            labels: self.label_columns,
        }
    }

    /// The KL weight in `epoch` (1-based): linear warm-up, then `beta`.
    pub fn kl_weight(&self, epoch: usize) -> f64 {
        if self.warmup_epochs == 0 {
            self.beta
        } else {
            self.beta * (epoch as f64 / self.warmup_epochs as f64).min(1.0)
        }
    }

    /// The learning rate in `epoch` (1-based).
    pub fn learning_rate(&self, epoch: usize) -> f64 {
        self.optimizer.learning_rate(epoch)
    }

    /// The training objective in `epoch` (1-based).
    pub fn objective(&self, epoch: usize) -> Objective {
        Objective {
            kl_weight: self.kl_weight(epoch),
            iwae_samples: self.iwae_samples,
            free_bits: self.free_bits,
        }
    }

    /// The seed of everything random in `epoch` (shuffling, binarisation, noise): a function
    /// of the run's seed and the epoch alone, so that a resumed run draws what an
    /// uninterrupted one would.
    pub fn epoch_seed(&self, epoch: usize) -> u64 {
        self.seed
            .wrapping_mul(EPOCH_SEED_MULTIPLIER)
            .wrapping_add(epoch as u64)
    }
}

/// How training spreads its steps over devices; recorded in `config.json` exactly as used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// One device, or data parallel.
    pub strategy: Strategy,
    /// The devices by name (`flex`, `wgpu:0`, `ws://10.0.0.2:3000`, …); the first is the main
    /// device, which holds the model and the optimizer.
    pub devices: Vec<String>,
    /// Images each device takes of a full batch: `batch_size` split as evenly as possible, the
    /// first devices taking one more where it does not divide.
    pub device_batch: Vec<usize>,
    /// Images per optimisation step: `batch_size`, whatever the number of devices.
    pub effective_batch_size: usize,
    /// The learning rate of the first epoch: `lr`, not scaled with the number of devices (the
    /// gradient is the mean over the whole effective batch, as on one device).
    pub effective_lr: f64,
    /// Threads of each device's own CPU thread pool; `null` where the device works in the
    /// process's shared pool (`latent --threads`).
    #[serde(default)]
    pub device_threads: Vec<Option<usize>>,
    /// Groups of parameters, each with its own Adam state (`checkpoints/optimizer.bpk`, then
    /// `optimizer-1.bpk`, …), stepped side by side in the threads of CPU replicas: one per
    /// replica when every device has a thread pool of its own, else 1. Fixed when a run
    /// starts; the update is the same whatever the number.
    #[serde(default = "one")]
    pub optimizer_groups: usize,
}

impl Execution {
    /// How a run with `batch_size` images a step and first learning rate `lr` spreads over
    /// `devices`, with `optimizer_groups` Adam groups.
    pub(crate) fn new(
        devices: &[NamedDevice],
        batch_size: usize,
        lr: f64,
        optimizer_groups: usize,
    ) -> Self {
        Self {
            strategy: if devices.len() == 1 {
                Strategy::Single
            } else {
                Strategy::Multi
            },
            devices: devices.iter().map(|d| d.name.clone()).collect(),
            device_batch: shard_ranges(batch_size, devices.len())
                .iter()
                .map(|r| r.len())
                .collect(),
            effective_batch_size: batch_size,
            effective_lr: lr,
            device_threads: devices.iter().map(|d| d.threads).collect(),
            optimizer_groups,
        }
    }
}

/// How several devices share a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// One device does everything.
    #[default]
    Single,
    /// Data parallel, as burn's `ExecutionStrategy::MultiDevice` with the optimizer on the main
    /// device: every step, each device gets a copy of the weights and a slice of the batch,
    /// computes the gradient of its slice, and sends it to the main device, which averages them
    /// (weighted by slice size, so the result is the full batch's mean gradient) and takes one
    /// Adam step. Works on every backend, remote devices included.
    Multi,
}
