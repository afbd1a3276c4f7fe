//! The epochs of a run once its settings, data and directory are settled: the model built or
//! loaded, Adam's groups, each epoch's steps (on one device or data parallel), its test
//! figures and its checkpoint.

use std::path::Path;
use std::time::{Duration, Instant};

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::data::dataset::DatasetError;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use latent_data::Examples;
use latent_models::model::{LossTerms, Objective, StepNoise, Trainable};
use serde::Serialize;

use crate::config::{Execution, TrainConfig};
use crate::devices::{failed_device, is_remote, panic_message, spread, NamedDevice, Replica};
use crate::error::{Result, TrainError};
use crate::evaluate::test_terms;
use crate::grouped::GroupedAdam;
use crate::readback::{scalar, values_f64};
use crate::run_dir::{EpochMetrics, RunDir};
use crate::trainer::{Start, TrainEvent, TrainProgress, READ_EVERY};

/// What the epochs of one training call share.
struct Session<'a, C> {
    config: &'a TrainConfig<C>,
    run: &'a RunDir,
    /// The devices as given, for errors.
    devices: &'a [NamedDevice],
    /// The devices as training uses them; the first is the main one.
    replicas: &'a [Replica],
    start_epoch: usize,
    init_from: Option<&'a Path>,
    train_set: &'a Examples,
    test_set: &'a Examples,
}

#[allow(clippy::too_many_arguments)] // the one place that gathers a run's pieces
pub(crate) fn run_training<C: Serialize, M: Trainable>(
    mut config: TrainConfig<C>,
    run: &RunDir,
    devices: &[NamedDevice],
    replicas: &[Replica],
    start: Start,
    start_epoch: usize,
    init: impl Fn(&C, &Device, u64) -> Result<M>,
    (train_set, test_set): (Examples, Examples),
    mut progress: impl FnMut(TrainEvent),
) -> Result<Vec<EpochMetrics>> {
    let resumed = start == Start::Resume;
    // A resumed run keeps its optimiser groups (its checkpoint has a file per group).
    let optimizer_groups = if resumed {
        config.execution.optimizer_groups.max(1)
    } else if devices.len() > 1 && devices.iter().all(|d| d.threads.is_some()) {
        devices.len()
    } else {
        1
    };
    config.execution = Execution::new(
        devices,
        config.batch_size,
        config.optimizer.lr,
        optimizer_groups,
    );
    run.create()?;
    run.write_config(&config)?;
    let main = &replicas[0].device;
    // The weights are drawn on the host from the seed (the same on every backend); the main
    // device's generator, seeded per epoch, draws the noise of training.
    main.seed(config.seed);
    let session = Session {
        config: &config,
        run,
        devices,
        replicas,
        start_epoch,
        init_from: match start {
            Start::From(source) => Some(source),
            _ => None,
        },
        train_set: &train_set,
        test_set: &test_set,
    };
    let mut go = || {
        run_epochs(
            &session,
            init(&config.model, main, config.seed)?,
            &mut progress,
        )
    };
    if devices.len() == 1 && !is_remote(&devices[0].device) {
        return go();
    }
    let failed = |problem: String| {
        let completed = run.completed_epochs().unwrap_or(start_epoch);
        TrainError::Device {
            device: failed_device(devices),
            epoch: completed + 1,
            problem,
        }
    };
    // burn panics where a remote device's session has ended (a move, a sync), or fails a read:
    // turn either into an error naming the device, as a failing worker thread already is.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(go)) {
        Ok(Err(TrainError::ReadBack(problem))) => Err(failed(problem)),
        Ok(done) => done,
        Err(payload) => Err(failed(panic_message(&*payload))),
    }
}

/// The epochs of this call, each checkpointed as it ends.
fn run_epochs<C, M: Trainable>(
    session: &Session<C>,
    model: M,
    progress: &mut impl FnMut(TrainEvent),
) -> Result<Vec<EpochMetrics>> {
    let (mut model, mut optim) = prepare(session, model)?;
    let mut all = Vec::new();
    for epoch in session.start_epoch + 1..=session.config.epochs {
        let (trained, metrics) = train_epoch(session, model, &mut optim, epoch, progress)?;
        model = trained;
        // The checkpoint, its metrics line, then the state that points at both: a kill between
        // any two leaves a run that resumes from the last state (a metrics line beyond it is cut
        // back on resume).
        session.run.save_model(&model)?;
        optim.save(session.run)?;
        session.run.append_metrics(&metrics)?;
        session.run.write_state(epoch)?;
        tracing::info!(epoch, test_neg_elbo = metrics.test_neg_elbo, "epoch done");
        progress(TrainEvent::Epoch(metrics.clone()));
        all.push(metrics);
    }
    if let Some(last) = all.last() {
        session.run.write_summary(last)?;
    }
    Ok(all)
}

/// The model with the weights it starts from (a resumed run's checkpoint or a warm start's
/// source), and its optimiser (a resumed run's state).
fn prepare<C, M: Trainable>(session: &Session<C>, model: M) -> Result<(M, GroupedAdam)> {
    let config = session.config;
    let model = if session.start_epoch > 0 {
        session.run.load_model(model)?
    } else if let Some(source) = session.init_from {
        RunDir::new(source).load_model(model)?
    } else {
        model
    };
    // The groups come from the parameters' ids, which a checkpoint restores: after loading it.
    // On burn-flex (every replica) each parameter steps in one pass over host memory.
    let host = session
        .replicas
        .iter()
        .all(|r| crate::devices::adam_in_host_memory(&r.device));
    let mut optim = GroupedAdam::new(
        || config.optimizer.adam(host),
        &model,
        config.execution.optimizer_groups,
    );
    if session.start_epoch > 0 {
        optim = optim.load(session.run)?;
    }
    let model = if config.freeze_encoder {
        model.freeze_encoder()
    } else {
        model
    };
    Ok((model, optim))
}

/// One epoch over the training set, then the test figures.
fn train_epoch<C, M: Trainable>(
    session: &Session<C>,
    mut model: M,
    optim: &mut GroupedAdam,
    epoch: usize,
    progress: &mut impl FnMut(TrainEvent),
) -> Result<(M, EpochMetrics)> {
    let config = session.config;
    let device = &session.replicas[0].device;
    let epoch_seed = config.epoch_seed(epoch);
    // The main device draws all the noise (see `StepNoise`).
    device.seed(epoch_seed);
    // A binary likelihood sees a fresh binarisation at every presentation; others the
    // values as they are (standardised, if real).
    let batcher = config.inputs().training(model.binary_data(), epoch_seed);
    let loader = DataLoaderBuilder::new(batcher)
        .batch_size(config.batch_size)
        .shuffle(epoch_seed)
        .set_device(device.clone())
        .build(session.train_set.clone());
    let steps = session.train_set.len().div_ceil(config.batch_size);
    let objective = config.objective(epoch);
    let lr = config.learning_rate(epoch);
    let start = Instant::now();
    // Sums of (loss, reconstruction, KL) × batch size stay on the device and are read back at
    // the end of the epoch.
    let mut sums: Option<Tensor<1>> = None;
    let mut seen = 0usize;
    let mut exchange_seconds = 0.0;
    let mut last_loss = f64::NAN;
    let model = prefetched(&*loader, |batches| -> Result<M> {
        for (step, batch) in batches.enumerate() {
            let batch = batch.map_err(|e| TrainError::BadRun {
                path: session.run.path().to_path_buf(),
                problem: format!("loading a batch: {e}"),
            })?;
            let n = batch.images.dims()[0];
            let done = train_step(session, &model, batch.images, &objective, epoch)?;
            accumulate(&mut sums, done.terms);
            seen += n;
            exchange_seconds += done.exchange.as_secs_f64();
            model = optim.step(lr, model, done.grads, session.replicas);
            if (step + 1) % READ_EVERY == 0 || step + 1 == steps {
                last_loss = scalar(done.loss)?;
                if !last_loss.is_finite() {
                    return Err(TrainError::Diverged {
                        epoch,
                        step: step + 1,
                        value: last_loss,
                    });
                }
            }
            progress(TrainEvent::Step(TrainProgress {
                epoch,
                step: step + 1,
                steps,
                loss: last_loss,
            }));
        }
        Ok(model)
    })?;
    let totals = sums
        .map(values_f64)
        .transpose()?
        .unwrap_or_else(|| vec![0.0; 3]);
    if let Some(value) = totals.iter().copied().find(|v| !v.is_finite()) {
        return Err(TrainError::Diverged {
            epoch,
            step: steps,
            value,
        });
    }
    let seconds = start.elapsed().as_secs_f64();
    let test = test_terms(
        &model.valid(),
        session.test_set,
        &config.inputs(),
        config.batch_size,
        &device.clone().without_autodiff(),
    )?;
    let per_image = |sum: f64| sum / seen as f64;
    let metrics = EpochMetrics {
        epoch,
        kl_weight: objective.kl_weight,
        lr,
        train_loss: per_image(totals[0]),
        train_reconstruction: per_image(totals[1]),
        train_kl: per_image(totals[2]),
        test_neg_elbo: test.loss,
        test_reconstruction: test.reconstruction,
        test_kl: test.kl,
        seconds,
        samples_per_second: seen as f64 / seconds,
        exchange_seconds,
    };
    Ok((model, metrics))
}

/// Runs `work` over the batches of `loader` while a thread of its own makes each next batch
/// (reading, binarising and shuffling are the loader's, in its order): the batch is ready when
/// the step before it ends, instead of being made while the devices wait. At most one batch
/// waits ahead. `work` may stop early; the thread then stops too.
fn prefetched<O: Send, R>(
    loader: &dyn DataLoader<O>,
    work: impl FnOnce(&mut dyn Iterator<Item = std::result::Result<O, DatasetError>>) -> R,
) -> R {
    std::thread::scope(|scope| {
        let (ready, batches) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("latent-batches".into())
            .spawn_scoped(scope, move || {
                for batch in loader.iter() {
                    if ready.send(batch).is_err() {
                        break;
                    }
                }
            })
            .expect("a thread for the batches");
        work(&mut batches.into_iter())
    })
}

/// What a step leaves on the main device.
struct Step {
    /// The loss of the (first) slice, for progress and divergence checks.
    loss: Tensor<1>,
    /// (loss, reconstruction, KL) summed over the batch's images.
    terms: Tensor<1>,
    /// The gradient of each device's slice, in the devices' order, weighted so that their sum
    /// is the batch's mean gradient; Adam's groups add them (see [`GroupedAdam::step`]).
    grads: Vec<GradientsParams>,
    /// Time spent moving weights to the devices and gradients back, device computation
    /// excluded (the slowest device's; zero on one device).
    exchange: Duration,
}

/// The loss terms and gradients of one batch: on the main device, or data parallel.
fn train_step<C, M: Trainable>(
    session: &Session<C>,
    model: &M,
    images: Tensor<2>,
    objective: &Objective,
    epoch: usize,
) -> Result<Step> {
    let replicas = session.replicas;
    let n = images.dims()[0];
    let noise = model.draw_noise(n, objective, &replicas[0].device);
    if let [only] = replicas {
        return Ok(only.run(|| {
            let terms = model.loss_terms(images, noise, objective);
            let summed = summed_terms(&terms, n);
            let grads = GradientsParams::from_grads(terms.loss.clone().backward(), model);
            Step {
                loss: terms.loss,
                terms: summed,
                grads: vec![grads],
                exchange: Duration::ZERO,
            }
        }));
    }
    parallel_step(model, images, noise, replicas, objective).map_err(|problem| TrainError::Device {
        device: failed_device(session.devices),
        epoch,
        problem,
    })
}

/// (loss, reconstruction, KL), each a mean over `n` images, as sums over them, detached.
fn summed_terms(terms: &LossTerms, n: usize) -> Tensor<1> {
    Tensor::cat(
        vec![
            terms.loss.clone(),
            terms.reconstruction.clone(),
            terms.kl.clone(),
        ],
        0,
    )
    .detach()
    .mul_scalar(n as f64)
}

/// Adds `terms` to the running sum `total` (empty before the first).
fn accumulate(total: &mut Option<Tensor<1>>, terms: Tensor<1>) {
    *total = Some(match total.take() {
        Some(sum) => sum + terms,
        None => terms,
    });
}

/// One data-parallel step: each device computes the gradient of its slice of `images` on its
/// own copy of the weights, weighted by slice/batch, and the gradients come back to the main
/// device (the first), where their sum is the whole batch's mean gradient. Returns the loss of
/// the main device's slice, the batch's (loss, reconstruction, KL) summed over images, and the
/// devices' gradients, all on the main device; or what made a device fail. The gradients are
/// summed by Adam's groups, each its own parameters in its own thread where the devices are CPU
/// replicas, rather than here, one after another, while the replicas wait.
fn parallel_step<M: Trainable>(
    model: &M,
    images: Tensor<2>,
    noise: StepNoise,
    replicas: &[Replica],
    objective: &Objective,
) -> std::result::Result<Step, String> {
    let main = &replicas[0].device;
    let n = images.dims()[0];
    let results = spread(replicas, n, |i, rows| {
        let replica = &replicas[i];
        let synced = |device: &Device| {
            device
                .sync()
                .map_err(|e| e.to_string().replace("\nCaused by:\n  ", ": "))
        };
        let start = Instant::now();
        let local = model.clone().fork(&replica.device);
        let x = images
            .clone()
            .slice(rows.clone())
            .to_device(&replica.device);
        let noise = noise.rows(rows.clone(), &replica.device);
        synced(&replica.device)?;
        let mut exchange = start.elapsed();
        let terms = local.loss_terms(x, noise, objective);
        let share = rows.len() as f64;
        let grads = terms.loss.clone().mul_scalar(share / n as f64).backward();
        let grads = GradientsParams::from_grads(grads, &local);
        synced(&replica.device)?;
        let start = Instant::now();
        let grads = grads.to_device(main, &local);
        synced(main)?;
        exchange += start.elapsed();
        let summed = summed_terms(&terms, rows.len()).to_device(main);
        Ok((terms.loss.detach().to_device(main), summed, grads, exchange))
    })?
    .into_iter()
    .collect::<std::result::Result<Vec<_>, String>>()?;
    let mut all_grads = Vec::with_capacity(results.len());
    let mut total: Option<Tensor<1>> = None;
    let mut first_loss = None;
    let mut exchange = Duration::ZERO;
    for (loss, terms, grads, moved) in results {
        exchange = exchange.max(moved);
        all_grads.push(grads);
        accumulate(&mut total, terms);
        first_loss.get_or_insert(loss);
    }
    Ok(Step {
        loss: first_loss.expect("a batch has at least one image"),
        terms: total.expect("a batch has at least one image"),
        grads: all_grads,
        exchange,
    })
}
