//! `latent sample`: examples decoded from a VAE's prior, or from an autoencoder's N(0, I) or
//! latent mixture, in the data's own units; and the pictures `latent train` writes after a
//! VAE run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use burn::tensor::Device;
use clap::Args;
use latent_models::Codec;
use latent_train::figures::{
    binarize, latent_gmm_codes, standard_normal_codes, write_examples, write_training_pictures,
    GRID_COLUMNS,
};
use latent_train::{load_run, load_vae, values, RunDir, TrainedModel};

use crate::args::RunArg;

#[derive(Debug, Args)]
pub struct SampleArgs {
    #[command(flatten)]
    run: RunArg,
    /// Number of examples.
    #[arg(long, short, default_value_t = 64)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// For an autoencoder run: draw codes from a K-component Gaussian mixture fitted to the
    /// codes of the training examples (ex-post density estimation) instead of from N(0, I).
    #[arg(long)]
    latent_gmm: Option<usize>,
    /// Training examples whose codes the --latent-gmm mixture is fitted to.
    #[arg(long, default_value_t = latent_train::report::PROBE_TRAIN_IMAGES)]
    gmm_fit_limit: usize,
    /// Write binary images (one Bernoulli draw per pixel) instead of pixel means (for data in
    /// [0, 1]).
    #[arg(long, conflicts_with_all = ["draw", "means"])]
    binarize: bool,
    /// Write draws x ~ p(x | z) of the decoder's likelihood (binary values of a Bernoulli one,
    /// the mean plus its noise for a Gaussian one) [default for vector data].
    #[arg(long, conflicts_with = "means")]
    draw: bool,
    /// Write the decoder's means E[x | z] [default for images].
    #[arg(long)]
    means: bool,
    /// .png (a grid of images), .npy (float32: [n, H, W] grey images, [n, H, W, C] colour
    /// ones, [n, D] vectors) or .csv (one example per line).
    #[arg(long, short)]
    out: PathBuf,
}

pub fn run_sample(args: SampleArgs, device: &Device) -> Result<()> {
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let (config, model) = load_run(&args.run.run, device)?;
    if args.binarize && config.standardisation.is_some() {
        bail!(
            "--binarize draws binary images from pixel means in [0, 1]; this run's data are \
             real values"
        );
    }
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
    let vectors = config.example_shape().image().is_none();
    let pixels = if args.draw || (vectors && !args.means) {
        model.decode_sample(pixels)
    } else if args.binarize {
        binarize(model.decode_mean(pixels))
    } else {
        model.decode_mean(pixels)
    };
    let mut values = values(pixels)?;
    config.inputs().to_data_units(&mut values);
    write_examples(&values, config.example_shape(), GRID_COLUMNS, &args.out)?;
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
