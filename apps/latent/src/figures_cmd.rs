//! `latent reconstruct`, `latent interpolate`, `latent manifold`: pictures of a run's model.

use std::path::PathBuf;

use anyhow::{bail, Result};
use burn::tensor::Device;
use clap::Args;
use latent_models::Codec;
use latent_train::figures::{interpolate, manifold_codes, reconstructions, test_images};
use latent_train::{load_run, load_vae, values};
use latent_viz::Grid;

use crate::args::RunArg;

#[derive(Debug, Args)]
pub struct ReconstructArgs {
    #[command(flatten)]
    run: RunArg,
    /// Index of the first test digit.
    #[arg(long, default_value_t = 0)]
    start: usize,
    /// Number of test digits.
    #[arg(long, short, default_value_t = 8)]
    n: usize,
    /// A PNG: the digits above their reconstructions (posterior mean → decoder mean).
    #[arg(long, short)]
    out: PathBuf,
}

pub fn run_reconstruct(args: ReconstructArgs, device: &Device) -> Result<()> {
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let (config, model) = load_run(&args.run.run, device)?;
    let indices: Vec<usize> = (args.start..args.start + args.n).collect();
    let both = reconstructions(&model, test_images(&config, &indices, device)?)?;
    Grid::mnist(args.n).write_png(&both, &args.out)?;
    eprintln!(
        "wrote {} digits and their reconstructions to {}",
        args.n,
        args.out.display()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct InterpolateArgs {
    #[command(flatten)]
    run: RunArg,
    /// Test-set indices of the two end digits.
    #[arg(long, num_args = 2, default_values_t = [0, 1])]
    between: Vec<usize>,
    /// Images along the path, ends included.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// A PNG strip decoded from codes on the straight line between the two posterior means.
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
    Grid::mnist(args.steps).write_png(&values(model.decode_mean(path))?, &args.out)?;
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
    /// A PNG of the decoded grid.
    #[arg(long, short)]
    out: PathBuf,
}

/// The manifold figure of a VAE with a 2-D latent space, decoded to pixel means.
pub fn run_manifold(args: ManifoldArgs, device: &Device) -> Result<()> {
    if args.size == 0 {
        bail!("--size must be at least 1");
    }
    let (_, vae) = load_vae(&args.run.run, device)?;
    if vae.latent_dim() != 2 {
        bail!(
            "{}: the manifold figure needs a 2-D latent space; this run has {}",
            args.run.run.display(),
            vae.latent_dim()
        );
    }
    let side = args.size;
    let z = manifold_codes(side, device);
    Grid::mnist(side).write_png(&values(vae.decode_mean(z))?, &args.out)?;
    eprintln!("wrote a {side}×{side} manifold to {}", args.out.display());
    Ok(())
}
