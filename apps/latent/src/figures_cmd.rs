//! `latent reconstruct`, `latent interpolate`, `latent manifold`: pictures of a run's model
//! (or, by the output's extension, the values themselves as `.npy` or `.csv`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use burn::tensor::Device;
use clap::Args;
use latent_models::Codec;
use latent_train::figures::{
    interpolate, manifold_codes, reconstructions, test_images, write_examples, write_pairs,
};
use latent_train::{load_run, load_vae, values, TrainConfig};

use crate::args::RunArg;

#[derive(Debug, Args)]
pub struct ReconstructArgs {
    #[command(flatten)]
    run: RunArg,
    /// Index of the first test example.
    #[arg(long, default_value_t = 0)]
    start: usize,
    /// Number of test examples.
    #[arg(long, short, default_value_t = 8)]
    n: usize,
    /// A PNG: the test images above their reconstructions (posterior mean → decoder mean), or
    /// for vector data a pairs plot of both; .npy or .csv: the examples, then their
    /// reconstructions.
    #[arg(long, short)]
    out: PathBuf,
}

pub fn run_reconstruct(args: ReconstructArgs, device: &Device) -> Result<()> {
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let (config, model) = load_run(&args.run.run, device)?;
    let indices: Vec<usize> = (args.start..args.start + args.n).collect();
    let mut both = reconstructions(&model, test_images(&config, &indices, device)?)?;
    config.inputs().to_data_units(&mut both);
    let shape = config.example_shape();
    let is_png = args.out.extension().is_some_and(|e| e == "png");
    if is_png && shape.image().is_none() {
        let (real, rebuilt) = both.split_at(both.len() / 2);
        write_pairs(
            &args.out,
            "test data and their reconstructions",
            &[("test data", real), ("reconstructed", rebuilt)],
            shape.dim(),
        )?;
    } else {
        write_examples(&both, shape, args.n, &args.out)?;
    }
    eprintln!(
        "wrote {} test examples and their reconstructions to {}",
        args.n,
        args.out.display()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct InterpolateArgs {
    #[command(flatten)]
    run: RunArg,
    /// Test-set indices of the two end examples.
    #[arg(long, num_args = 2, default_values_t = [0, 1])]
    between: Vec<usize>,
    /// Images along the path, ends included.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// A PNG strip decoded from codes on the straight line between the two posterior means
    /// (or its values as .npy or .csv).
    #[arg(long, short)]
    out: PathBuf,
}

pub fn run_interpolate(args: InterpolateArgs, device: &Device) -> Result<()> {
    if args.steps < 2 {
        bail!("--steps must be at least 2 (the two ends)");
    }
    let (config, model) = load_run(&args.run.run, device)?;
    let z = model.encode(test_images(&config, &args.between, device)?);
    let path = interpolate(z.clone().narrow(0, 0, 1), z.narrow(0, 1, 1), args.steps);
    write_decoded(
        &config,
        values(model.decode_mean(path))?,
        args.steps,
        &args.out,
    )?;
    eprintln!(
        "wrote a {}-step interpolation to {}",
        args.steps,
        args.out.display()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct ManifoldArgs {
    #[command(flatten)]
    run: RunArg,
    /// Images per side of the grid.
    #[arg(long, default_value_t = 20)]
    size: usize,
    /// A PNG of the decoded grid (or its values as .npy or .csv).
    #[arg(long, short)]
    out: PathBuf,
}

/// The manifold figure of a VAE with a 2-D latent space, decoded to pixel means.
pub fn run_manifold(args: ManifoldArgs, device: &Device) -> Result<()> {
    if args.size == 0 {
        bail!("--size must be at least 1");
    }
    let (config, vae) = load_vae(&args.run.run, device)?;
    if vae.latent_dim() != 2 {
        bail!(
            "{}: the manifold figure needs a 2-D latent space; this run has {}",
            args.run.run.display(),
            vae.latent_dim()
        );
    }
    let side = args.size;
    let z = manifold_codes(side, device);
    write_decoded(&config, values(vae.decode_mean(z))?, side, &args.out)?;
    eprintln!("wrote a {side}×{side} manifold to {}", args.out.display());
    Ok(())
}

/// Decoded values of the run of `config`, back in the data's units, written to `out` (a grid of
/// `columns` images to a row, or values).
fn write_decoded<C>(
    config: &TrainConfig<C>,
    mut decoded: Vec<f32>,
    columns: usize,
    out: &std::path::Path,
) -> Result<()> {
    config.inputs().to_data_units(&mut decoded);
    Ok(write_examples(
        &decoded,
        config.example_shape(),
        columns,
        out,
    )?)
}
