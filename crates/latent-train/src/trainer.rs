//! Training any [`Trainable`] model: the entry points ([`train`], [`train_on`],
//! [`train_model`]), and what is settled before the first epoch — the settings checked, the
//! data loaded and fitted to the model, the run directory locked, a resumed run's own
//! configuration taken up. The epochs themselves (Adam steps on one device or data parallel on
//! several, per-epoch test figures, atomic checkpoints) run in the crate's `epochs` module.
//!
//! Randomness is re-seeded from (seed, epoch) at every epoch — shuffling, dynamic
//! binarisation, reparameterisation noise — so `--resume` continues exactly as an
//! uninterrupted run would.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use latent_data::{ExampleShape, Examples};
use latent_models::model::Trainable;
use latent_models::vae::ImageGeometry;
use latent_models::{
    Architecture, Conditioning, Likelihood, PriorConfig, PseudoInputStart, VaeConfig,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{first_difference, LabelPlan, ModelKind, TrainConfig};
use crate::devices::{NamedDevice, Replica};
use crate::epochs::run_training;
use crate::error::{Result, TrainError};
use crate::run_dir::{new_run_id, EpochMetrics, RunDir};

/// Reported after every optimisation step.
#[derive(Debug, Clone, Copy)]
pub struct TrainProgress {
    /// The epoch (1-based).
    pub epoch: usize,
    /// The step within the epoch (1-based).
    pub step: usize,
    /// Steps in the epoch.
    pub steps: usize,
    /// The loss of the latest batch read back (every [`READ_EVERY`] steps and at the end of
    /// the epoch; NaN before the first read).
    pub loss: f64,
}

/// Where a run's weights come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start<'a> {
    /// A new run in a directory that holds none, from the seed's weights.
    Fresh,
    /// The run already in the directory, from its last completed epoch (up to the larger of
    /// its own and the given `epochs`; every other setting is the run's own).
    Resume,
    /// A new run from the weights of the run at this path (warm start, fine-tuning).
    From(&'a Path),
}

impl<'a> Start<'a> {
    /// `Resume` if `resume`, else `From(run)` if `init_from` is given, else `Fresh`.
    pub fn from_flags(resume: bool, init_from: Option<&'a Path>) -> Self {
        match (resume, init_from) {
            (true, _) => Start::Resume,
            (false, Some(run)) => Start::From(run),
            (false, None) => Start::Fresh,
        }
    }
}

/// Steps between reads of the loss back to the host (progress and divergence checks): reading
/// after every step would stall a GPU once per batch.
pub const READ_EVERY: usize = 50;

/// What training reports as it goes.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    /// After every optimisation step.
    Step(TrainProgress),
    /// After every epoch, once its checkpoint is written: its metrics line.
    Epoch(EpochMetrics),
}

/// Trains a built-in model ([`TrainConfig::kind`], [`TrainConfig::model`]) into `out` on one
/// device: a new run (`out` must not hold one that completed an epoch), the continuation of
/// the run in `out` if `resume`, or a new run from the weights of the run `init_from`. Returns
/// the metrics of every epoch of this call.
///
/// A resumed run goes on as recorded: `config` must agree with the run's `config.json` in
/// everything but [`RESUMABLE_SETTINGS`](crate::RESUMABLE_SETTINGS) (else [`TrainError::ResumeMismatch`] names the
/// first difference); its `epochs` may extend the run, and a run that has done them all
/// returns at once with no new epochs. A run directory with no completed epoch (killed or
/// failed before its first checkpoint) starts again from the beginning. The run is locked
/// while it trains ([`RunDir::lock`]).
pub fn train(
    config: &TrainConfig,
    out: &Path,
    device: &Device,
    resume: bool,
    init_from: Option<&Path>,
    progress: impl FnMut(TrainEvent),
) -> Result<Vec<EpochMetrics>> {
    train_on(
        config,
        out,
        &[NamedDevice::unnamed(device)],
        resume,
        init_from,
        progress,
    )
}

/// [`train`] on one or several devices: with several, each step is data parallel
/// ([`Strategy::Multi`](crate::Strategy::Multi)); the first device is the main one. A device
/// that fails (a remote server gone, say) ends training with [`TrainError::Device`] naming it;
/// the checkpoint of the last completed epoch stays, and resuming on other devices continues it.
pub fn train_on(
    config: &TrainConfig,
    out: &Path,
    devices: &[NamedDevice],
    resume: bool,
    init_from: Option<&Path>,
    progress: impl FnMut(TrainEvent),
) -> Result<Vec<EpochMetrics>> {
    let start = Start::from_flags(resume, init_from);
    let check = |c: &TrainConfig| c.check();
    let rules = Rules {
        check,
        fit: fit_builtin_to_record,
        adapt: adapt_builtin,
    };
    match config.kind {
        ModelKind::Vae if matches!(config.model.conditioning, Conditioning::Conditional { .. }) => {
            train_checked(
                config,
                out,
                devices,
                start,
                rules,
                |model: &VaeConfig, device, seed| Ok(model.init_conditional(device, seed)?),
                progress,
            )
        }
        ModelKind::Vae if !config.model.conditioning.is_none() => train_checked(
            config,
            out,
            devices,
            start,
            rules,
            |model: &VaeConfig, device, seed| Ok(model.init_semi_supervised(device, seed)?),
            progress,
        ),
        ModelKind::Vae if config.model.top.is_some() => train_checked(
            config,
            out,
            devices,
            start,
            rules,
            |model: &VaeConfig, device, seed| Ok(model.init_hierarchical(device, seed)?),
            progress,
        ),
        ModelKind::Vae => train_checked(
            config,
            out,
            devices,
            start,
            rules,
            |model: &VaeConfig, device, seed| Ok(model.init_vae(device, seed)?),
            progress,
        ),
        ModelKind::Ae => train_checked(
            config,
            out,
            devices,
            start,
            rules,
            |model: &VaeConfig, device, seed| Ok(model.init_autoencoder(device, seed)?),
            progress,
        ),
    }
}

/// Trains any [`Trainable`] model into `out`, on `devices` (the first is the main one; see
/// [`train_on`], whose rules for resuming it follows), from `start`. `init(model
/// configuration, device, seed)` builds the model from `config.model` (a resumed run's own)
/// with fresh weights drawn from `seed`, which the trainer replaces with a checkpoint's when it
/// resumes or warm-starts. The run directory records `config` — the model's configuration
/// included — so that the same `init` builds the model again to load it
/// ([`RunDir::load_trained`]).
pub fn train_model<C, M>(
    config: &TrainConfig<C>,
    out: &Path,
    devices: &[NamedDevice],
    start: Start,
    init: impl Fn(&C, &Device, u64) -> Result<M>,
    progress: impl FnMut(TrainEvent),
) -> Result<Vec<EpochMetrics>>
where
    C: Serialize + DeserializeOwned + Clone,
    M: Trainable,
{
    let rules = Rules {
        check: |c: &TrainConfig<C>| c.check_training(),
        fit: |_: &mut TrainConfig<C>, _: &TrainConfig<C>| {},
        adapt: |_: &mut TrainConfig<C>, _: &Examples, _: bool| Ok(()),
    };
    train_checked(config, out, devices, start, rules, init, progress)
}

/// How a model's configuration is checked, and fitted to its data.
struct Rules<K, F, A> {
    /// Checks a configuration.
    check: K,
    /// Sets in a resumed run's given configuration what the trainer took from the data when
    /// the run began, as its record (the second argument) has it: so that it is not taken for
    /// a difference.
    fit: F,
    /// Fits the model's configuration to the training examples (for a new run) or checks that
    /// it fits them (`resumed`).
    adapt: A,
}

/// The built-in networks' settings taken from the data, as `recorded` took them: the shape, and
/// the number of classes of a model that takes labels (0 in a given configuration: "from the
/// data").
fn fit_builtin_to_record(given: &mut TrainConfig, recorded: &TrainConfig) {
    if let Some(shape) = recorded.data_shape {
        fit_builtin(given, shape);
    }
    if given.model.conditioning.classes() == Some(0) {
        if let Some(classes) = recorded.model.conditioning.classes() {
            given.model.conditioning = given.model.conditioning.with_classes(classes);
        }
    }
}

/// The built-in networks take the data's shape: the input size and the images' geometry.
fn fit_builtin(config: &mut TrainConfig, shape: ExampleShape) {
    config.model.input_dim = shape.dim();
    config.model.image = shape
        .image()
        .map(|(height, width, channels)| ImageGeometry {
            height,
            width,
            channels,
        });
}

/// The built-in networks as [`fit_builtin`] made them (a resumed run's must still fit its
/// data), and a Bernoulli likelihood needs values in [0, 1].
fn adapt_builtin(config: &mut TrainConfig, data: &Examples, resumed: bool) -> Result<()> {
    let shape = data.shape();
    let geometry = shape
        .image()
        .map(|(height, width, channels)| ImageGeometry {
            height,
            width,
            channels,
        });
    if resumed {
        let fits = config.model.input_dim == shape.dim()
            && (config.model.architecture != Architecture::Conv
                || Some(config.model.geometry()) == geometry);
        if !fits {
            return Err(TrainError::BadRun {
                path: PathBuf::new(),
                problem: format!(
                    "the run's model takes {} inputs{}, but its data are now {shape} (a run \
                     resumed with other data?)",
                    config.model.input_dim,
                    if config.model.architecture == Architecture::Conv {
                        format!(" ({:?})", config.model.geometry())
                    } else {
                        String::new()
                    }
                ),
            });
        }
    } else {
        fit_builtin(config, shape);
    }
    if let Some(classes) = config.model.conditioning.classes() {
        let Some(found) = label_count(data) else {
            return Err(TrainError::InvalidSetting {
                field: "conditioning",
                problem: "a model that uses labels needs labelled data (mnist, digits, a folder \
                          with a sub-folder per class, or labels=FILE)"
                    .into(),
            });
        };
        if resumed {
            if classes != found && config.label_columns.map(|l| l.classes) != Some(classes) {
                return Err(invalid_classes(classes, found));
            }
        } else if classes == 0 {
            config.model.conditioning = config.model.conditioning.with_classes(found);
        } else if classes < found {
            return Err(invalid_classes(classes, found));
        }
        let classes = config.model.conditioning.classes().unwrap_or(found);
        config.label_columns = Some(LabelPlan {
            classes,
            test_labels: matches!(config.model.conditioning, Conditioning::Conditional { .. }),
        });
    }
    if let (
        false,
        PriorConfig::Vamp {
            components,
            start: PseudoInputStart::Data,
        },
    ) = (resumed, config.model.prior)
    {
        config.model.pseudo_input_start = Some(pseudo_inputs_from(config, data, components)?);
    }
    if config.model.likelihood == Likelihood::Bernoulli && !data.unit_interval() {
        let (lo, hi) = data.value_range();
        return Err(TrainError::InvalidSetting {
            field: "likelihood",
            problem: format!(
                "a Bernoulli decoder needs data in [0, 1], and these range over [{lo}, {hi}]; \
                 use --decoder gaussian (or gaussian-learned), which standardises them"
            ),
        });
    }
    Ok(())
}

/// The VampPrior's starting pseudo-inputs ([`PseudoInputStart::Data`]): `components` distinct
/// training examples drawn with the run's seed, as the model sees them (grey pixels, or values
/// standardised as the run standardises them), row-major.
fn pseudo_inputs_from(
    config: &TrainConfig,
    data: &Examples,
    components: usize,
) -> Result<Vec<f32>> {
    let drawn = data
        .sample(components, config.seed ^ PSEUDO_INPUT_SEED_SALT)
        .map_err(|_| TrainError::InvalidSetting {
            field: "prior",
            problem: format!(
                "vamp:{components} starts its pseudo-inputs from {components} distinct \
                 training examples, and there are {}: use fewer components, or \
                 vamp:{components}:noise",
                data.len()
            ),
        })?;
    let items: Vec<_> = (0..drawn.len()).map(|i| drawn.item(i)).collect();
    Ok(config.inputs().plain().inputs(&items))
}

/// Keeps the pseudo-inputs' draw apart from the other draws of the same seed.
const PSEUDO_INPUT_SEED_SALT: u64 = 0x5eed_7a3f_0b1e_c7ed;

/// The number of classes of labelled examples: as many as the data name, else the largest label
/// plus one (`None` for unlabelled data).
fn label_count(data: &Examples) -> Option<usize> {
    data.labels()?;
    Some(data.class_counts().len())
}

fn invalid_classes(classes: usize, found: usize) -> TrainError {
    TrainError::InvalidSetting {
        field: "conditioning",
        problem: format!("the model has {classes} classes, but the data have {found}"),
    }
}

/// The training set of a semi-supervised run that keeps `labelled` labels (see
/// [`TrainConfig::labelled`]): every example with its label hidden, then the kept ones —
/// `labelled / classes` of each class, the first in the data's order — repeated so that they
/// are about a tenth of the rows.
fn semi_supervised_set(train: &Examples, labelled: usize, classes: usize) -> Result<Examples> {
    let labels = train.labels().ok_or_else(|| TrainError::InvalidSetting {
        field: "labelled",
        problem: "the training data have no labels".into(),
    })?;
    if !labelled.is_multiple_of(classes) {
        return Err(TrainError::InvalidSetting {
            field: "labelled",
            problem: format!(
                "{labelled} labels cannot be balanced over {classes} classes: give a multiple \
                 of {classes}"
            ),
        });
    }
    let per_class = labelled / classes;
    let mut kept = Vec::with_capacity(labelled);
    for class in 0..classes as u32 {
        let of_class: Vec<usize> = (0..train.len())
            .filter(|i| labels[*i] == class)
            .take(per_class)
            .collect();
        if of_class.len() < per_class {
            return Err(TrainError::InvalidSetting {
                field: "labelled",
                problem: format!(
                    "class {class} has {} training examples, fewer than the {per_class} asked \
                     for per class",
                    of_class.len()
                ),
            });
        }
        kept.extend(of_class);
    }
    let copies = (train.len() / 10).div_ceil(labelled).max(1);
    let indices: Vec<usize> = (0..train.len())
        .chain((0..copies).flat_map(|_| kept.iter().copied()))
        .collect();
    Ok(train.select(&indices).hide_labels_before(train.len()))
}

/// The checks that need no directory, the lock, the run's own configuration, the epochs.
fn train_checked<C, M, K, F, A>(
    config: &TrainConfig<C>,
    out: &Path,
    devices: &[NamedDevice],
    start: Start,
    rules: Rules<K, F, A>,
    init: impl Fn(&C, &Device, u64) -> Result<M>,
    progress: impl FnMut(TrainEvent),
) -> Result<Vec<EpochMetrics>>
where
    C: Serialize + DeserializeOwned + Clone,
    M: Trainable,
    K: Fn(&TrainConfig<C>) -> Result<()>,
    F: Fn(&mut TrainConfig<C>, &TrainConfig<C>),
    A: Fn(&mut TrainConfig<C>, &Examples, bool) -> Result<()>,
{
    let Rules { check, fit, adapt } = rules;
    // Refused before the directory is touched: devices that cannot be set up, and the
    // settings of a new run.
    let replicas = Replica::all(devices, true)?;
    if start != Start::Resume {
        check(config)?;
    }
    let run = RunDir::new(out);
    let existed = run.path().exists();
    let lock = run.lock()?;
    let outcome = resolve(config, &run, start, &fit).and_then(|(mut config, start_epoch)| {
        // The data first: a spec that asks for more examples than there are, or data the
        // model cannot take, fail before anything is written.
        let data = config.load_data(config.train_limit, config.test_limit)?;
        if data.0.is_empty() || data.1.is_empty() {
            return Err(TrainError::InvalidSetting {
                field: "data",
                problem: "no training or no test examples".into(),
            });
        }
        let resumed = start == Start::Resume;
        let shape = data.0.shape();
        if resumed && config.data_shape.is_some_and(|recorded| recorded != shape) {
            return Err(TrainError::BadRun {
                path: run.path().to_path_buf(),
                problem: format!(
                    "the run was trained on {}, but its data are now {shape} (resumed with \
                     other data?)",
                    config.example_shape()
                ),
            });
        }
        if !resumed {
            config.data_shape = Some(shape);
            // Real values are standardised with the training set's own mean and deviation.
            config.standardisation = (!data.0.unit_interval()).then(|| data.0.standardisation());
        }
        adapt(&mut config, &data.0, resumed)?;
        check(&config)?;
        let data = match (config.labelled, config.label_columns) {
            (Some(labelled), Some(plan)) => (
                semi_supervised_set(&data.0, labelled, plan.classes)?,
                data.1,
            ),
            (Some(_), None) => {
                return Err(TrainError::InvalidSetting {
                    field: "labelled",
                    problem: "the model takes no labels (label_columns is not set)".into(),
                })
            }
            (None, _) => data,
        };
        run_training(
            config,
            &run,
            devices,
            &replicas,
            start,
            start_epoch,
            init,
            data,
            progress,
        )
    });
    drop(lock);
    // A directory made here for a run that never began (its data refused, say) goes again.
    if outcome.is_err() && !existed && !run.holds_run() {
        let _ = std::fs::remove_dir_all(run.path());
    }
    outcome
}

/// The configuration a run goes on with, and the epochs it has already completed (read under
/// the run's lock): for a resumed run its own, as [`train_on`] describes; for a new one
/// `config` with a fresh run id.
fn resolve<C: Serialize + Clone + DeserializeOwned>(
    config: &TrainConfig<C>,
    run: &RunDir,
    start: Start,
    fit: &impl Fn(&mut TrainConfig<C>, &TrainConfig<C>),
) -> Result<(TrainConfig<C>, usize)> {
    if start == Start::Resume {
        let recorded: TrainConfig<C> = run.read_config()?;
        // What the trainer took from the data is the record's, not a difference.
        let mut given = config.clone();
        fit(&mut given, &recorded);
        if let Some((field, given, recorded)) = first_difference(&given, &recorded) {
            return Err(TrainError::ResumeMismatch {
                field,
                given,
                recorded,
            });
        }
        let resumed = TrainConfig {
            epochs: config.epochs,
            mnist_dir: config.mnist_dir.clone(),
            ..recorded
        };
        if !run.has_state() {
            // Killed or failed before its first checkpoint: from the beginning.
            run.reset_progress()?;
            return Ok((resumed, 0));
        }
        let completed = run.completed_epochs()?;
        if resumed.epochs < completed {
            return Err(TrainError::InvalidSetting {
                field: "epochs",
                problem: format!(
                    "{} asked for, but the run has already completed {completed}",
                    resumed.epochs
                ),
            });
        }
        run.trim_metrics(completed)?;
        return Ok((resumed, completed));
    }
    if run.holds_run() {
        if run.has_state() {
            return Err(TrainError::BadRun {
                path: run.path().to_path_buf(),
                problem: "already holds a run; use --resume to continue it or choose another --out"
                    .into(),
            });
        }
        // A run that never completed an epoch holds nothing to keep: it starts again.
        tracing::info!(
            "{} holds a run with no completed epoch; starting it again",
            run.path().display()
        );
        run.reset_progress()?;
    }
    Ok((
        TrainConfig {
            run_id: Some(new_run_id()),
            ..config.clone()
        },
        0,
    ))
}
