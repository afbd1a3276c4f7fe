//! `latent report --run DIR`: `DIR/report.html` and its pictures in `DIR/images/`, for a run or
//! a transfer study.

use anyhow::{bail, Result};
use burn::tensor::Device;
use clap::Args;
use latent_train::report::{write_report, ReportConfig};
use latent_train::ReplicaCount;

use crate::args::{ReplicasArg, RunArg};
use crate::backend::Backend;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory written by `latent train`, or a study directory written by
    /// `latent transfer`.
    #[command(flatten)]
    run: RunArg,
    /// Test digits used for the evaluation and the latent-space picture (the first N).
    #[arg(long, default_value_t = ReportConfig::default().limit)]
    limit: usize,
    /// Importance samples per test digit for the −log p(x) estimate (VAE runs).
    #[arg(long, default_value_t = ReportConfig::default().iw_samples)]
    iw_samples: usize,
    /// Also train the linear probe on the latent codes of 10,000 training digits.
    #[arg(long)]
    probe: bool,
    /// Components of the GMM fitted to an autoencoder's codes, for its second set of samples.
    #[arg(long, default_value_t = ReportConfig::default().latent_gmm)]
    latent_gmm: usize,
    /// Seed for the samples drawn in the pictures.
    #[arg(long, default_value_t = ReportConfig::default().seed)]
    seed: u64,
}

pub fn run_report(args: ReportArgs, backend: Backend, device: &Device) -> Result<()> {
    if args.limit == 0 {
        bail!("--limit must be at least 1");
    }
    if args.iw_samples == 0 {
        bail!("--iw-samples must be at least 1");
    }
    let settings = ReportConfig {
        limit: args.limit,
        iw_samples: args.iw_samples,
        probe: args.probe,
        latent_gmm: args.latent_gmm,
        seed: args.seed,
    };
    // One importance-sampling worker per CPU thread, as `latent eval` does by default.
    let workers = ReplicasArg {
        replicas: ReplicaCount::Auto,
    }
    .devices(backend, device, None)?;
    let page = write_report(&args.run.run, &settings, &workers, |line| {
        eprintln!("{line}")
    })?;
    println!("wrote {} and its pictures", page.display());
    Ok(())
}
