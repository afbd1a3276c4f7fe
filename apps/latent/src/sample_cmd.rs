//! `latent sample`: images decoded from a VAE's prior, or from an autoencoder's N(0, I) or
//! latent mixture; and the pictures `latent train` writes after a VAE run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use burn::tensor::Device;
use clap::Args;
use latent_models::Codec;
use latent_train::figures::{
    binarize, latent_gmm_codes, standard_normal_codes, write_images, write_training_pictures,
};
use latent_train::{load_run, load_vae, values, RunDir, TrainedModel};

use crate::args::RunArg;

#[derive(Debug, Args)]
pub struct SampleArgs {
    #[command(flatten)]
    run: RunArg,
    /// Number of images.
    #[arg(long, short, default_value_t = 64)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// For an autoencoder run: draw codes from a K-component Gaussian mixture fitted to the
    /// codes of the training digits (ex-post density estimation) instead of from N(0, I).
    #[arg(long)]
    latent_gmm: Option<usize>,
    /// Training digits whose codes the --latent-gmm mixture is fitted to.
    #[arg(long, default_value_t = latent_train::report::PROBE_TRAIN_IMAGES)]
    gmm_fit_limit: usize,
    /// Write binary images (one Bernoulli draw per pixel) instead of pixel means.
    #[arg(long)]
    binarize: bool,
    /// .png (a grid), .npy (float32 [n, 28, 28]) or .csv (one image of 784 values per line).
    #[arg(long, short)]
    out: PathBuf,
}

pub fn run_sample(args: SampleArgs, device: &Device) -> Result<()> {
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let (config, model) = load_run(&args.run.run, device)?;
    device.seed(args.seed);
    let pixels = match &model {
        TrainedModel::Vae(vae) => {
            if args.latent_gmm.is_some() {
                bail!("--latent-gmm is for autoencoder runs; a VAE samples its prior N(0, I)");
            }
            latent_models::LatentVariableModel::sample_prior(vae, args.n, device)
        }
        TrainedModel::Ae(ae) => match args.latent_gmm {
            None => standard_normal_codes(args.n, ae.latent_dim(), device),
            Some(k) => latent_gmm_codes(
                ae,
                &config,
                k,
                args.gmm_fit_limit,
                args.n,
                args.seed,
                device,
            )?,
        },
    };
    let pixels = model.decode_mean(pixels);
    let pixels = if args.binarize {
        binarize(pixels)
    } else {
        pixels
    };
    write_images(&values(pixels)?, args.n, &args.out)?;
    eprintln!("wrote {} samples to {}", args.n, args.out.display());
    Ok(())
}

/// `images/samples.png` and `images/reconstructions.png` of the VAE run in `run`.
pub fn write_run_pictures(run: &Path, device: &Device) -> Result<()> {
    let (config, vae) = load_vae(run, device)?;
    Ok(write_training_pictures(
        &RunDir::new(run),
        &config,
        &vae,
        device,
    )?)
}
