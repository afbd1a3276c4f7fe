//! `latent transfer`: pre-train on a source domain, adapt to a target domain with N images,
//! against training from scratch on the same N images with the same budget.

use std::path::PathBuf;

use anyhow::{bail, Result};
use burn::tensor::Device;
use clap::Args;
use latent_models::VaeConfig;
use latent_train::report::write_transfer_report;
use latent_train::transfer::{run_transfer_on, TransferConfig};
use latent_train::{ModelKind, OptimizerConfig, RunDir, TrainConfig};

use crate::args::{MnistDirArg, ReplicasArg};
use crate::backend::Backend;

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Source data spec, e.g. mnist:classes=0-4 or mnist.
    #[arg(long)]
    source: String,
    /// Target data spec, e.g. mnist:classes=5-9 or mnist:rotate=45.
    #[arg(long)]
    target: String,
    /// Target training sizes N, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    target_n: Vec<usize>,
    /// Directory of the study: source/, n{N}-seed{S}/…, transfer.json.
    #[arg(long)]
    out: PathBuf,
    /// Reuse this trained VAE run as the source model instead of training one.
    #[arg(long)]
    source_run: Option<PathBuf>,
    /// Epochs of the source model.
    #[arg(long, default_value_t = 10)]
    source_epochs: usize,
    /// Source training images (the first N of the source domain) [default: all].
    #[arg(long)]
    source_limit: Option<usize>,
    /// Epochs of every target run, scratch and fine-tuned alike (the same steps for both).
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Seeds per target size (seed, seed + 1, …): the table gives their mean and spread.
    #[arg(long, default_value_t = 1)]
    seeds: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Importance samples per target test image for −log p(x).
    #[arg(long, default_value_t = 1000)]
    iw_samples: usize,
    /// Target test images scored (the first N).
    #[arg(long, default_value_t = 1000)]
    eval_limit: usize,
    /// Latent dimension of a source model trained here.
    #[arg(long, default_value_t = 20)]
    latent: usize,
    /// Hidden layer sizes of a source model trained here.
    #[arg(long, value_delimiter = ',', default_value = "400")]
    hidden: Vec<usize>,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    #[command(flatten)]
    replicas: ReplicasArg,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[command(flatten)]
    mnist_dir: MnistDirArg,
    /// Print transfer.json on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

/// Training images of the cross-domain probe.
const PROBE_LIMIT: usize = 10_000;

pub fn run(args: TransferArgs, backend: Backend, device: &Device) -> Result<()> {
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let base = TrainConfig {
        model: VaeConfig {
            latent: args.latent,
            hidden: args.hidden.clone(),
            ..VaeConfig::default()
        },
        batch_size: args.batch_size,
        optimizer: OptimizerConfig {
            lr: args.lr,
            ..OptimizerConfig::default()
        },
        seed: args.seed,
        ..TrainConfig::new(ModelKind::Vae, args.mnist_dir.resolve())
    };
    base.check()?;
    let config = TransferConfig {
        base,
        source: args.source.clone(),
        target: args.target.clone(),
        target_sizes: args.target_n.clone(),
        seeds: args.seeds,
        source_epochs: args.source_epochs,
        source_limit: args.source_limit,
        target_epochs: args.epochs,
        iw_samples: args.iw_samples,
        eval_limit: args.eval_limit,
        probe_limit: PROBE_LIMIT,
        probe_steps: latent_train::probe::PROBE_STEPS,
    };
    let devices = args
        .replicas
        .devices(backend, device, Some(args.batch_size))?;
    let report = run_transfer_on(
        &config,
        &args.out,
        args.source_run.as_deref(),
        &devices,
        |line| eprintln!("{line}"),
    )?;
    let page = write_transfer_report(&RunDir::new(&args.out), device)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
        println!("report: {}", page.display());
    }
    Ok(())
}
