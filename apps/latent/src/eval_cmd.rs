//! `latent eval`: the ELBO, the importance-sampled −log p(x) and the active units of a VAE run
//! on its test set, in nats per example of the data as given.

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use latent_data::Split;
use latent_models::Codec;
use latent_train::{evaluate_inputs_on, load_variational, with_vae, EvalConfig, DEFAULT_IW_CHUNK};

use crate::args::{ReplicasArg, RunArg};
use crate::backend::Backend;

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    run: RunArg,
    /// Importance samples per test image for −log p(x).
    #[arg(long, default_value_t = latent_train::evaluate::DEFAULT_IW_SAMPLES)]
    iw_samples: usize,
    /// Importance samples drawn at once per image (bounds memory: 100 images × chunk decoder
    /// rows at a time).
    #[arg(long, default_value_t = DEFAULT_IW_CHUNK)]
    chunk: usize,
    /// Evaluate on the first N test examples only.
    #[arg(long)]
    limit: Option<usize>,
    #[command(flatten)]
    replicas: ReplicasArg,
    #[arg(long)]
    json: bool,
}

pub fn run_eval(args: EvalArgs, backend: Backend, device: &Device) -> Result<()> {
    let settings = EvalConfig {
        iw_samples: args.iw_samples,
        chunk: args.chunk,
        ..EvalConfig::default()
    };
    settings.check()?;
    let (config, model) = load_variational(&args.run.run, device)?;
    let test = config.load_split(Split::Test, args.limit)?;
    let workers = args.replicas.devices(backend, device, None)?;
    let inputs = config.inputs();
    let report = with_vae!(
        &model,
        vae => evaluate_inputs_on(vae, &test, &inputs, &settings, &workers)?,
        _ => unreachable!("load_variational refuses autoencoders")
    );
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let inputs = if model.binary_data() && config.binarize {
            "fixed binarisation"
        } else if config.standardisation.is_some() {
            "standardised, nats per example of the data as given"
        } else {
            "values as given"
        };
        println!(
            "{} test examples, {inputs}: ELBO {:.2}, −log p(x) ≈ {:.2} nats (importance sampling, k = {}), \
             reconstruction {:.2}, KL {:.2}, active units {}/{}{}",
            report.images,
            report.elbo,
            report.nll,
            report.iw_samples,
            report.recon,
            report.kl,
            report.active_units,
            report.activity.len(),
            layer_units(&report.layer_active_units)
        );
        if let Some(error) = report.classification_error {
            println!(
                "classifier q(y | x): test error {:.2} % ({} test examples)",
                100.0 * error,
                report.images
            );
        }
    }
    Ok(())
}

/// ` (per layer: 12, 3)` for a model of several stochastic layers, else nothing.
fn layer_units(per_layer: &[usize]) -> String {
    if per_layer.len() < 2 {
        return String::new();
    }
    let units: Vec<String> = per_layer.iter().map(usize::to_string).collect();
    format!(" (per layer, bottom first: {})", units.join(", "))
}
