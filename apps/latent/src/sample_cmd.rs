//! `latent sample`: examples decoded from a VAE's prior, or from an autoencoder's N(0, I) or
//! latent mixture, in the data's own units; and the pictures `latent train` writes after a
//! VAE run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use burn::tensor::{Device, Tensor};
use clap::Args;
use latent_models::{Codec, LatentVariableModel};
use latent_train::figures::{
    binarize, latent_gmm_codes, standard_normal_codes, write_examples, write_training_pictures,
    GRID_COLUMNS,
};
use latent_train::{load_run, load_variational, values, with_vae, RunDir, TrainedModel};

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
    /// For a conditional or semi-supervised VAE: draw every example of this class (0-based)
    /// [default: classes drawn uniformly].
    #[arg(long)]
    class: Option<usize>,
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
        vae => {
            if args.latent_gmm.is_some() {
                bail!("--latent-gmm is for autoencoder runs; a VAE samples its own prior");
            }
            with_vae!(vae, vae => prior_codes(vae, args.n, args.class, device)?, _ => unreachable!())
        }
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

/// `n` codes of `model`'s prior, of class `class` if one is given (which the model must have).
fn prior_codes<M: LatentVariableModel>(
    model: &M,
    n: usize,
    class: Option<usize>,
    device: &Device,
) -> Result<Tensor<2>> {
    let Some(class) = class else {
        return Ok(model.sample_prior(n, device));
    };
    match model.classes() {
        None => {
            bail!("--class is for a conditional or semi-supervised VAE; this one has no classes")
        }
        Some(classes) if class >= classes => {
            bail!(
                "--class {class}: the model has classes 0 to {}",
                classes - 1
            )
        }
        Some(_) => Ok(model
            .sample_prior_of_class(n, class, device)
            .expect("a model with classes samples them")),
    }
}

/// `images/samples.png` and `images/reconstructions.png` of the VAE run in `run`.
pub fn write_run_pictures(run: &Path, device: &Device) -> Result<()> {
    let (config, model) = load_variational(run, device)?;
    let dir = RunDir::new(run);
    with_vae!(
        &model,
        vae => write_training_pictures(&dir, &config, vae, device)?,
        _ => unreachable!("load_variational refuses autoencoders")
    );
    Ok(())
}
