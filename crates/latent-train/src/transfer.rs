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

use burn::tensor::{Device, Tensor};
use latent_data::mnist::CLASSES;
use latent_data::{Domain, Examples, Split};
use latent_models::Vae;
use serde::{Deserialize, Serialize};

use crate::config::{Inputs, OptimizerConfig, TrainConfig};
use crate::devices::NamedDevice;
use crate::error::{invalid, io, Result};
use crate::evaluate::{evaluate_inputs_on, EvalConfig, DEFAULT_IW_CHUNK, EVAL_BATCH};
use crate::figures::class_labels;
use crate::load::load_vae;
use crate::probe::LinearProbe;
use crate::run_dir::RunDir;
use crate::trainer::train_on;

/// The three arms of every (N, seed), by the names of their run directories.
pub const ARMS: [&str; 3] = ["scratch", "fine-tuned", "decoder-only"];

/// Everything a transfer study needs.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// Model, optimiser, batch size, first seed and MNIST directory of every run (a given
    /// source run brings its own model).
    pub base: TrainConfig,
    /// The source domain's data spec (see [`latent_data::domain`]).
    pub source: String,
    /// The target domain's data spec.
    pub target: String,
    /// Target training sizes N.
    pub target_sizes: Vec<usize>,
    /// Seeds per target size: base.seed, base.seed + 1, …
    pub seeds: usize,
    /// Epochs of the source model (when the study trains it).
    pub source_epochs: usize,
    /// Source training images (the first N of the source domain; all when `None`).
    pub source_limit: Option<usize>,
    /// Epochs of every target run (the same budget for scratch and fine-tuned).
    pub target_epochs: usize,
    /// Importance samples per test image for −log p(x).
    pub iw_samples: usize,
    /// Target (and source) test images scored.
    pub eval_limit: usize,
    /// Source training images for the cross-domain probe.
    pub probe_limit: usize,
    /// Adam steps of every probe.
    pub probe_steps: usize,
}

/// Per test image, in nats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// The ELBO.
    pub elbo: f64,
    /// −log p(x), importance-sampled.
    pub nll: f64,
}

/// The three target runs of one (N, seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRuns {
    /// Target training images N.
    pub n: usize,
    /// The seed of the three runs.
    pub seed: u64,
    /// Trained from fresh weights.
    pub scratch: Figures,
    /// All weights tuned, from the source model.
    pub fine_tuned: Figures,
    /// The decoder tuned, the source encoder frozen.
    pub decoder_only: Figures,
}

/// Probes trained on N labelled target images: through the frozen source encoder, and on
/// raw pixels; test accuracy on the target test images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FewLabelProbe {
    /// Labelled target images N.
    pub n: usize,
    /// Test accuracy through the frozen source encoder.
    pub source_encoder: f64,
    /// Test accuracy on raw pixels.
    pub pixels: f64,
}

/// A probe trained on source codes, scored on source and target test codes, for one encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossProbe {
    /// Which encoder: `source`, or `fine-tuned (N = …)`.
    pub encoder: String,
    /// Accuracy on source test codes.
    pub source_test: f64,
    /// Accuracy on target test codes.
    pub target_test: f64,
}

/// What `run_transfer` measured; written as `transfer.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferReport {
    /// The source domain's canonical spec.
    pub source: String,
    /// The target domain's canonical spec.
    pub target: String,
    /// The source model's run.
    pub source_run: PathBuf,
    /// Epochs of every target run.
    pub target_epochs: usize,
    /// Importance samples per test image.
    pub iw_samples: usize,
    /// Target test images scored.
    pub eval_images: usize,
    /// The source model on the target test set, without adaptation.
    pub source_only: Figures,
    /// Every (N, seed), in the study's order.
    pub runs: Vec<TargetRuns>,
    /// One per target size N.
    pub few_label_probes: Vec<FewLabelProbe>,
    /// Empty when the two domains share no digit class.
    pub cross_probes: Vec<CrossProbe>,
}

/// Trains `config` into `dir`, continuing it if `dir` already holds it (so an interrupted
/// study picks up where it stopped).
fn train_or_resume(
    config: &TrainConfig,
    run: &RunDir,
    init_from: Option<&Path>,
    devices: &[NamedDevice],
) -> Result<()> {
    let resume = run.has_state();
    train_on(
        config,
        run.path(),
        devices,
        resume,
        if resume { None } else { init_from },
        |_| {},
    )?;
    Ok(())
}

/// The figures of the run `vae` (with its `inputs`) on `test`.
fn figures(
    vae: &Vae,
    inputs: &Inputs,
    test: &Examples,
    k: usize,
    devices: &[NamedDevice],
) -> Result<Figures> {
    let config = EvalConfig {
        iw_samples: k,
        chunk: k.min(DEFAULT_IW_CHUNK),
        batch_size: EVAL_BATCH,
    };
    let report = evaluate_inputs_on(vae, test, inputs, &config, devices)?;
    Ok(Figures {
        elbo: report.elbo,
        nll: report.nll,
    })
}

/// The examples as model inputs (grey levels, or standardised values).
fn plain(data: &Examples, inputs: &Inputs, device: &Device) -> Tensor<2> {
    inputs.plain().images(data, 0..data.len(), device)
}

fn codes(vae: &Vae, inputs: &Inputs, data: &Examples, device: &Device) -> Tensor<2> {
    vae.posterior(plain(data, inputs, device)).mean
}

/// One more than the largest label of any of `sets`: the classes a probe tells apart.
fn class_count(sets: &[&[usize]]) -> usize {
    sets.iter()
        .flat_map(|s| s.iter())
        .max()
        .map_or(CLASSES, |m| (m + 1).max(CLASSES))
}

/// The (N, seed) of the fine-tuned run that stands for the study in its cross-domain probe and
/// its report: the largest N, with its first seed (whatever order the sizes were given in).
pub fn largest_fine_tuned(runs: &[TargetRuns]) -> Option<(usize, u64)> {
    let n = runs.iter().map(|r| r.n).max()?;
    let seed = runs.iter().filter(|r| r.n == n).map(|r| r.seed).min()?;
    Some((n, seed))
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
/// (CPU replicas, say; see [`train_on`] and [`evaluate_inputs_on`]); the first device does the
/// rest.
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
    let study = RunDir::new(out);
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
    let source_domain = Domain::parse(&config.source)?;
    let target_domain = Domain::parse(&config.target)?;
    let (source_spec, target_spec) = (source_domain.to_string(), target_domain.to_string());
    std::fs::create_dir_all(out).map_err(io(out))?;
    let _lock = study.lock()?;

    // The target data, for every load below; the sizes are checked before any training.
    let target_data = TrainConfig {
        data: target_domain.clone(),
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
            format!(
                "{n} target images asked for, but {target_spec} has {} training images",
                target_train_all.len()
            ),
        ));
    }

    let source_dir = match source_run {
        Some(dir) => dir.to_path_buf(),
        None => {
            let run = study.study_source();
            let source_config = TrainConfig {
                data: source_domain.clone(),
                epochs: config.source_epochs,
                train_limit: config.source_limit,
                ..config.base.clone()
            };
            log(&format!(
                "training the source model on {source_spec} ({} epochs) in {}",
                config.source_epochs,
                run.path().display()
            ));
            train_or_resume(&source_config, &run, None, devices)?;
            run.path().to_path_buf()
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
    let source_inputs = source_config.inputs();
    let source_only = figures(
        &source_vae,
        &source_inputs,
        &target_test,
        config.iw_samples,
        devices,
    )?;

    let mut runs = Vec::new();
    let mut few_label_probes = Vec::new();
    let target_test_codes = codes(&source_vae, &source_inputs, &target_test, device);
    let target_test_labels = class_labels(&target_test);
    for &n in &config.target_sizes {
        for s in 0..config.seeds {
            let seed = config.base.seed + s as u64;
            let run_config = TrainConfig {
                data: target_domain.clone(),
                train_limit: Some(n),
                test_limit: Some(target_test.len()),
                epochs: config.target_epochs,
                seed,
                optimizer: OptimizerConfig {
                    lr: config.base.optimizer.lr,
                    lr_decay: config.base.optimizer.lr_decay,
                    ..source_config.optimizer.clone()
                },
                batch_size: config.base.batch_size,
                ..source_config.clone()
            };
            let mut scores = Vec::new();
            for (name, init, freeze) in [
                (ARMS[0], None, false),
                (ARMS[1], Some(source_dir.as_path()), false),
                (ARMS[2], Some(source_dir.as_path()), true),
            ] {
                let run = study.study_member(n, seed, name);
                log(&format!(
                    "N = {n}, seed {seed}: {name} ({} epochs) in {}",
                    config.target_epochs,
                    run.path().display()
                ));
                let cfg = TrainConfig {
                    freeze_encoder: freeze,
                    ..run_config.clone()
                };
                train_or_resume(&cfg, &run, init, devices)?;
                let (trained, vae) = load_vae(run.path(), device)?;
                scores.push(figures(
                    &vae,
                    &trained.inputs(),
                    &target_test,
                    config.iw_samples,
                    devices,
                )?);
            }
            runs.push(TargetRuns {
                n,
                seed,
                scratch: scores[0],
                fine_tuned: scores[1],
                decoder_only: scores[2],
            });
        }
        // Probes (labelled data only) are deterministic: once per N.
        let few = target_train_all.truncated(n);
        let (Some(few_labels), Some(test_labels)) = (class_labels(&few), &target_test_labels)
        else {
            continue;
        };
        let classes = class_count(&[&few_labels, test_labels]);
        let on_codes = LinearProbe::fit(
            codes(&source_vae, &source_inputs, &few, device),
            &few_labels,
            classes,
            config.probe_steps,
        );
        let on_pixels = LinearProbe::fit(
            plain(&few, &source_inputs, device),
            &few_labels,
            classes,
            config.probe_steps,
        );
        few_label_probes.push(FewLabelProbe {
            n,
            source_encoder: on_codes.accuracy(target_test_codes.clone(), test_labels),
            pixels: on_pixels.accuracy(plain(&target_test, &source_inputs, device), test_labels),
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
    let mut cross_probes = Vec::new();
    if let (Some(train_labels), Some(test_labels), Some(target_labels)) = (
        class_labels(&source_train),
        class_labels(&source_test),
        &target_test_labels,
    ) {
        if train_labels.iter().any(|l| target_labels.contains(l)) {
            let classes = class_count(&[&train_labels, &test_labels, target_labels]);
            let mut encoders = vec![(
                "source".to_string(),
                source_vae.clone(),
                source_inputs.clone(),
            )];
            if let Some((n, seed)) = largest_fine_tuned(&runs) {
                let (tuned_config, tuned) =
                    load_vae(study.study_member(n, seed, ARMS[1]).path(), device)?;
                encoders.push((
                    format!("fine-tuned (N = {n})"),
                    tuned,
                    tuned_config.inputs(),
                ));
            }
            for (name, vae, inputs) in encoders {
                log(&format!("cross-domain probe with the {name} encoder"));
                let probe = LinearProbe::fit(
                    codes(&vae, &inputs, &source_train, device),
                    &train_labels,
                    classes,
                    config.probe_steps,
                );
                cross_probes.push(CrossProbe {
                    encoder: name,
                    source_test: probe
                        .accuracy(codes(&vae, &inputs, &source_test, device), &test_labels),
                    target_test: probe
                        .accuracy(codes(&vae, &inputs, &target_test, device), target_labels),
                });
            }
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
    study.write_transfer(&report)?;
    Ok(report)
}

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

impl TransferReport {
    /// The runs of each target size N (all its seeds), sizes in the study's order.
    pub fn by_size(&self) -> Vec<(usize, Vec<&TargetRuns>)> {
        let mut sizes: Vec<usize> = Vec::new();
        for run in &self.runs {
            if !sizes.contains(&run.n) {
                sizes.push(run.n);
            }
        }
        sizes
            .into_iter()
            .map(|n| (n, self.runs.iter().filter(|r| r.n == n).collect()))
            .collect()
    }

    /// The study as a text table: −log p(x) of each arm by N (mean ± sd over seeds), the
    /// −ELBOs, the probes.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} → {}: target test −log p(x) (k = {}) and −ELBO, nats, on {} images; {} epochs per target run\n",
            self.source, self.target, self.iw_samples, self.eval_images, self.target_epochs
        );
        out += &format!(
            "source only (no adaptation): −log p(x) {:.2}, −ELBO {:.2}\n",
            self.source_only.nll, -self.source_only.elbo
        );
        out += "     N  seeds   scratch −log p(x)   fine-tuned          decoder-only        (−ELBO: scratch / fine-tuned / decoder-only)\n";
        for (n, rows) in self.by_size() {
            let stat = |f: &dyn Fn(&TargetRuns) -> f64| {
                mean_sd(&rows.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            let cell = |(m, s): (f64, f64)| {
                if rows.len() > 1 {
                    format!("{m:8.2} ± {s:<7.2}")
                } else {
                    format!("{m:8.2}          ")
                }
            };
            out += &format!(
                "{n:>6}  {:>5}   {}   {}   {}   ({:.2} / {:.2} / {:.2})\n",
                rows.len(),
                cell(stat(&|r| r.scratch.nll)),
                cell(stat(&|r| r.fine_tuned.nll)),
                cell(stat(&|r| r.decoder_only.nll)),
                -stat(&|r| r.scratch.elbo).0,
                -stat(&|r| r.fine_tuned.elbo).0,
                -stat(&|r| r.decoder_only.elbo).0,
            );
        }
        out += "probe on N labelled target images (target test accuracy): source encoder vs raw pixels\n";
        for p in &self.few_label_probes {
            out += &format!(
                "{:>6}  {:.1} % vs {:.1} %\n",
                p.n,
                100.0 * p.source_encoder,
                100.0 * p.pixels
            );
        }
        if self.cross_probes.is_empty() {
            out += "no cross-domain probe: the two domains share no digit class\n";
        }
        for p in &self.cross_probes {
            out += &format!(
                "probe trained on source codes, {} encoder: source test {:.1} %, target test {:.1} %\n",
                p.encoder,
                100.0 * p.source_test,
                100.0 * p.target_test
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(pairs: &[(usize, u64)]) -> Vec<TargetRuns> {
        let figures = Figures {
            elbo: -100.0,
            nll: 95.0,
        };
        pairs
            .iter()
            .map(|&(n, seed)| TargetRuns {
                n,
                seed,
                scratch: figures,
                fine_tuned: figures,
                decoder_only: figures,
            })
            .collect()
    }

    /// `--target-n 100,10 --seeds 2`: the cross-domain probe and the report both stand on
    /// N = 100 with its first seed, not on the last size given (10) nor on the last seed.
    #[test]
    fn the_largest_fine_tuned_run_is_the_largest_n_with_its_first_seed() {
        let study = runs(&[(100, 0), (100, 1), (10, 0), (10, 1)]);
        assert_eq!(largest_fine_tuned(&study), Some((100, 0)));
        assert_eq!(
            largest_fine_tuned(&runs(&[(5, 3), (50, 3), (50, 4)])),
            Some((50, 3))
        );
        assert_eq!(largest_fine_tuned(&[]), None);
    }

    #[test]
    fn sizes_keep_the_study_order_and_group_their_seeds() {
        let report = TransferReport {
            source: "mnist".into(),
            target: "mnist:invert".into(),
            source_run: PathBuf::from("source"),
            target_epochs: 1,
            iw_samples: 1,
            eval_images: 1,
            source_only: Figures {
                elbo: -1.0,
                nll: 1.0,
            },
            runs: runs(&[(100, 0), (100, 1), (10, 0), (10, 1)]),
            few_label_probes: Vec::new(),
            cross_probes: Vec::new(),
        };
        let sizes: Vec<(usize, usize)> = report
            .by_size()
            .iter()
            .map(|(n, rows)| (*n, rows.len()))
            .collect();
        assert_eq!(sizes, [(100, 2), (10, 2)]);
        assert!(report.table().contains("95.00 ± 0.00"));
    }
}
