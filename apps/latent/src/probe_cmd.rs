//! `latent probe`: softmax regression on a run's latent codes (and on raw pixels).

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use latent_train::probe::PROBE_STEPS;
use latent_train::{load_run, probe_codes};

use crate::args::{print_figures, RunArg};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    run: RunArg,
    /// Training examples for the probe [default: all of the run's training set].
    #[arg(long)]
    limit: Option<usize>,
    /// Full-batch Adam steps.
    #[arg(long, default_value_t = PROBE_STEPS)]
    steps: usize,
    /// Also train the same probe on raw pixels, for comparison.
    #[arg(long)]
    pixels: bool,
    #[arg(long)]
    json: bool,
}

pub fn run_probe(args: ProbeArgs, device: &Device) -> Result<()> {
    let (config, model) = load_run(&args.run.run, device)?;
    let probe = probe_codes(&model, &config, args.limit, args.steps, args.pixels, device)?;
    let mut figures = serde_json::json!({
        "latent_train_accuracy": probe.latent.train_accuracy,
        "latent_test_accuracy": probe.latent.test_accuracy,
        "train_digits": probe.train_images,
        "steps": args.steps,
    });
    if let Some(pixels) = probe.pixels {
        figures["pixels_train_accuracy"] = pixels.train_accuracy.into();
        figures["pixels_test_accuracy"] = pixels.test_accuracy.into();
    }
    print_figures(&figures, args.json);
    Ok(())
}
