//! Learning across tasks: pre-train a VAE on a source domain, adapt it to a target domain
//! from a few target images, and compare with a model trained on those images from scratch
//! with the same budget (epochs over the same N images, same seed).
//!
//! For each target size N (and seed) three runs share the target data and budget:
//! `scratch` (fresh weights), `fine-tuned` (all weights, starting from the source model) and
//! `decoder-only` (starting from the source model with its encoder frozen). Each, and the
//! source model unchanged (`source-only`), is scored on the target test set: ELBO and the
//! importance-sampled −log p(x). Two probes ask whether the representation carries over:
//! softmax regression on N labelled target images through the frozen source encoder against
//! the same on raw pixels, and a probe trained on source codes and scored on target codes,
//! with the source encoder and with the fine-tuned one.

use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;
use burn::tensor::{Device, Tensor};
use latent_data::{Domain, Mnist, MnistBatcher, Split};
use latent_models::Vae;
use serde::{Deserialize, Serialize};

use crate::probe::LinearProbe;
use crate::run::{
    evaluate_on, load_vae, train_on, NamedDevice, TrainConfig, TrainError, DEFAULT_IW_CHUNK,
};

type Result<T> = std::result::Result<T, TrainError>;

/// Everything a transfer study needs.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// Model, optimiser, batch size, first seed and MNIST directory of every run (a given
    /// source run brings its own model).
    pub base: TrainConfig,
    /// Data specs (see [`latent_data::domain`]).
    pub source: String,
    pub target: String,
    /// Target training sizes N.
    pub target_sizes: Vec<usize>,
    /// Seeds per target size: base.seed, base.seed + 1, …
    pub seeds: usize,
    pub source_epochs: usize,
    pub source_limit: Option<usize>,
    /// Epochs of every target run (the same budget for scratch and fine-tuned).
    pub target_epochs: usize,
    /// Importance samples per test image for −log p(x).
    pub iw_samples: usize,
    /// Target (and source) test images scored.
    pub eval_limit: usize,
    /// Source training images for the cross-domain probe.
    pub probe_limit: usize,
    pub probe_steps: usize,
}

/// Per test image, in nats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub elbo: f64,
    /// −log p(x), importance-sampled.
    pub nll: f64,
}

/// The three target runs of one (N, seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRuns {
    pub n: usize,
    pub seed: u64,
    pub scratch: Figures,
    pub fine_tuned: Figures,
    pub decoder_only: Figures,
}

/// Probes trained on N labelled target images: through the frozen source encoder, and on
/// raw pixels; test accuracy on the target test images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FewLabelProbe {
    pub n: usize,
    pub source_encoder: f64,
    pub pixels: f64,
}

/// A probe trained on source codes, scored on source and target test codes, for one encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossProbe {
    pub encoder: String,
    pub source_test: f64,
    pub target_test: f64,
}

/// What `run_transfer` measured; written as `transfer.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferReport {
    pub source: String,
    pub target: String,
    pub source_run: PathBuf,
    pub target_epochs: usize,
    pub iw_samples: usize,
    pub eval_images: usize,
    /// The source model on the target test set, without adaptation.
    pub source_only: Figures,
    pub runs: Vec<TargetRuns>,
    pub few_label_probes: Vec<FewLabelProbe>,
    /// Empty when the two domains share no digit class.
    pub cross_probes: Vec<CrossProbe>,
}

fn invalid(field: &'static str, problem: &str) -> TrainError {
    TrainError::InvalidSetting {
        field,
        problem: problem.into(),
    }
}

/// Trains `config` into `dir`, continuing it if `dir` already holds it (so an interrupted
/// study picks up where it stopped).
fn train_or_resume(
    config: &TrainConfig,
    dir: &Path,
    init_from: Option<&Path>,
    devices: &[NamedDevice],
) -> Result<()> {
    let resume = dir.join("state.json").exists();
    train_on(
        config,
        dir,
        devices,
        resume,
        if resume { None } else { init_from },
        |_| {},
    )?;
    Ok(())
}

fn figures(vae: &Vae, test: &Mnist, k: usize, devices: &[NamedDevice]) -> Result<Figures> {
    let report = evaluate_on(vae, test, k, k.min(DEFAULT_IW_CHUNK), 100, devices)?;
    Ok(Figures {
        elbo: report.elbo,
        nll: report.nll,
    })
}

fn grey(data: &Mnist, device: &Device) -> Tensor<2> {
    MnistBatcher::grey().images(data, 0..data.len(), device)
}

fn labels(data: &Mnist) -> Vec<usize> {
    data.labels().iter().map(|l| *l as usize).collect()
}

fn codes(vae: &Vae, data: &Mnist, device: &Device) -> Tensor<2> {
    vae.posterior(grey(data, device)).mean
}

/// Runs the study into `out` (`source/`, `n{N}-seed{S}/{scratch,fine-tuned,decoder-only}/`,
/// `transfer.json`); `source_run` reuses a trained source model instead of training one.
/// `log` receives one line per step.
pub fn run_transfer(
    config: &TransferConfig,
    out: &Path,
    source_run: Option<&Path>,
    device: &Device,
    log: impl FnMut(&str),
) -> Result<TransferReport> {
    let device = NamedDevice::new(format!("{device:?}"), device.clone());
    run_transfer_on(config, out, source_run, &[device], log)
}

/// [`run_transfer`] with every training run and likelihood estimate shared among `devices`
/// (CPU replicas, say; see [`train_on`] and [`evaluate_on`]); the first device does the rest.
pub fn run_transfer_on(
    config: &TransferConfig,
    out: &Path,
    source_run: Option<&Path>,
    devices: &[NamedDevice],
    mut log: impl FnMut(&str),
) -> Result<TransferReport> {
    let device = &devices
        .first()
        .ok_or_else(|| invalid("devices", "at least one device is needed"))?
        .device;
    if config.target_sizes.is_empty() || config.target_sizes.contains(&0) {
        return Err(invalid("target_sizes", "give at least one size, each ≥ 1"));
    }
    if config.seeds == 0 || config.target_epochs == 0 || config.source_epochs == 0 {
        return Err(invalid(
            "seeds/epochs",
            "seeds and epochs must be at least 1",
        ));
    }
    if config.iw_samples == 0 || config.eval_limit == 0 || config.probe_limit == 0 {
        return Err(invalid(
            "iw_samples/eval_limit/probe_limit",
            "must be at least 1",
        ));
    }
    let source_spec = Domain::parse(&config.source)?.to_string();
    let target_spec = Domain::parse(&config.target)?.to_string();
    std::fs::create_dir_all(out).map_err(|cause| TrainError::Io {
        path: out.to_path_buf(),
        cause,
    })?;

    // The target data, for every load below; the sizes are checked before any training.
    let target_data = TrainConfig {
        data: target_spec.clone(),
        ..config.base.clone()
    };
    let target_train_all = target_data.load_split(Split::Train, None)?;
    if let Some(n) = config
        .target_sizes
        .iter()
        .find(|n| **n > target_train_all.len())
    {
        return Err(invalid(
            "target_sizes",
            &format!(
                "{n} target images asked for, but {target_spec} has {} training images",
                target_train_all.len()
            ),
        ));
    }

    let source_dir = match source_run {
        Some(dir) => dir.to_path_buf(),
        None => {
            let dir = out.join("source");
            let source_config = TrainConfig {
                data: source_spec.clone(),
                epochs: config.source_epochs,
                train_limit: config.source_limit,
                ..config.base.clone()
            };
            log(&format!(
                "training the source model on {source_spec} ({} epochs) in {}",
                config.source_epochs,
                dir.display()
            ));
            train_or_resume(&source_config, &dir, None, devices)?;
            dir
        }
    };
    let (source_config, source_vae) = load_vae(&source_dir, device)?;

    let target_test = target_data
        .load_split(Split::Test, None)?
        .truncated(config.eval_limit);
    log(&format!(
        "scoring the source model on {} {target_spec} test images",
        target_test.len()
    ));
    let source_only = figures(&source_vae, &target_test, config.iw_samples, devices)?;

    let mut runs = Vec::new();
    let mut few_label_probes = Vec::new();
    let target_test_codes = codes(&source_vae, &target_test, device);
    let target_test_labels = labels(&target_test);
    let mut last_fine_tuned: Option<PathBuf> = None;
    for &n in &config.target_sizes {
        for s in 0..config.seeds {
            let seed = config.base.seed + s as u64;
            let run_config = TrainConfig {
                data: target_spec.clone(),
                train_limit: Some(n),
                test_limit: Some(target_test.len()),
                epochs: config.target_epochs,
                seed,
                lr: config.base.lr,
                lr_decay: config.base.lr_decay,
                batch_size: config.base.batch_size,
                ..source_config.clone()
            };
            let base = out.join(format!("n{n}-seed{seed}"));
            let mut scores = Vec::new();
            for (name, init, freeze) in [
                ("scratch", None, false),
                ("fine-tuned", Some(source_dir.as_path()), false),
                ("decoder-only", Some(source_dir.as_path()), true),
            ] {
                let dir = base.join(name);
                log(&format!(
                    "N = {n}, seed {seed}: {name} ({} epochs) in {}",
                    config.target_epochs,
                    dir.display()
                ));
                let cfg = TrainConfig {
                    freeze_encoder: freeze,
                    ..run_config.clone()
                };
                train_or_resume(&cfg, &dir, init, devices)?;
                let (_, vae) = load_vae(&dir, device)?;
                scores.push(figures(&vae, &target_test, config.iw_samples, devices)?);
            }
            last_fine_tuned = Some(base.join("fine-tuned"));
            runs.push(TargetRuns {
                n,
                seed,
                scratch: scores[0],
                fine_tuned: scores[1],
                decoder_only: scores[2],
            });
        }
        // Probes are deterministic: once per N.
        let few = target_train_all.truncated(n);
        let few_labels = labels(&few);
        let on_codes = LinearProbe::fit(
            codes(&source_vae, &few, device),
            &few_labels,
            10,
            config.probe_steps,
        );
        let on_pixels = LinearProbe::fit(grey(&few, device), &few_labels, 10, config.probe_steps);
        few_label_probes.push(FewLabelProbe {
            n,
            source_encoder: on_codes.accuracy(target_test_codes.clone(), &target_test_labels),
            pixels: on_pixels.accuracy(grey(&target_test, device), &target_test_labels),
        });
    }

    // A probe trained on source codes, scored on target codes: only meaningful when the two
    // domains share classes.
    let source_train = source_config
        .load_split(Split::Train, None)?
        .truncated(config.probe_limit);
    let source_test = source_config
        .load_split(Split::Test, None)?
        .truncated(config.eval_limit);
    let shared = labels(&source_train)
        .iter()
        .any(|l| target_test_labels.contains(l));
    let mut cross_probes = Vec::new();
    if shared {
        let mut encoders = vec![("source".to_string(), source_vae.clone())];
        if let Some(dir) = &last_fine_tuned {
            let (_, tuned) = load_vae(dir, device)?;
            let largest = config.target_sizes.iter().max().copied().unwrap_or(0);
            encoders.push((format!("fine-tuned (N = {largest})"), tuned));
        }
        for (name, vae) in encoders {
            log(&format!("cross-domain probe with the {name} encoder"));
            let probe = LinearProbe::fit(
                codes(&vae, &source_train, device),
                &labels(&source_train),
                10,
                config.probe_steps,
            );
            cross_probes.push(CrossProbe {
                encoder: name,
                source_test: probe
                    .accuracy(codes(&vae, &source_test, device), &labels(&source_test)),
                target_test: probe.accuracy(codes(&vae, &target_test, device), &target_test_labels),
            });
        }
    }

    let report = TransferReport {
        source: source_spec,
        target: target_spec,
        source_run: source_dir,
        target_epochs: config.target_epochs,
        iw_samples: config.iw_samples,
        eval_images: target_test.len(),
        source_only,
        runs,
        few_label_probes,
        cross_probes,
    };
    let path = out.join("transfer.json");
    let text = serde_json::to_string_pretty(&report).expect("plain data serialises");
    std::fs::write(&path, text).map_err(|cause| TrainError::Io { path, cause })?;
    Ok(report)
}
