//! `latent export` and `latent import`: a run's weights to and from safetensors, laid out as
//! PyTorch's (tensor names in the library's `export` module and the README).

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;

use crate::args::{base_config, KindArg, MnistDirArg, ModelArgs, RunArg};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    run: RunArg,
    /// The safetensors file to write (an existing file is not replaced).
    #[arg(long, short)]
    out: PathBuf,
}

pub fn run_export(args: ExportArgs, device: &Device) -> Result<()> {
    latent_train::export::export_run(&args.run.run, &args.out, device)?;
    eprintln!(
        "wrote the weights of {} to {}",
        args.run.run.display(),
        args.out.display()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A safetensors file of weights laid out as PyTorch's (e.g. `safetensors.torch.save_file`
    /// of the reference modules in scripts/reference/safetensors_interop.py).
    #[arg(long)]
    weights: PathBuf,
    /// Run directory to create: it evaluates, samples and reports like a trained run.
    #[arg(long)]
    out: PathBuf,
    /// Which model the weights are of.
    #[arg(long, value_enum, default_value = "vae")]
    kind: KindArg,
    /// A JSON run configuration (as written to DIR/config.json) giving the architecture; the
    /// flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    mnist_dir: MnistDirArg,
}

pub fn run_import(args: ImportArgs, device: &Device) -> Result<()> {
    let mut config = base_config(args.config.as_deref(), args.kind, &args.mnist_dir)?;
    args.model.apply(&mut config.model);
    latent_train::export::import_run(&config, &args.weights, &args.out, device)?;
    eprintln!(
        "imported {} into the run {} (try `latent eval --run {}`)",
        args.weights.display(),
        args.out.display(),
        args.out.display()
    );
    Ok(())
}
