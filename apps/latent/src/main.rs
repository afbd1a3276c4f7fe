//! `latent`: latent-variable generative models on burn, from the command line.

mod args;
mod backend;
#[cfg(feature = "cuda")]
mod cuda;
mod data_cmd;
mod encode_cmd;
mod eval_cmd;
mod export_cmd;
mod figures_cmd;
mod info_cmd;
mod mixture_cmd;
mod probe_cmd;
mod report_cmd;
mod sample_cmd;
mod serve_cmd;
mod train_cmd;
mod transfer_cmd;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use backend::Backend;

/// Latent-variable generative models (mixtures, autoencoders, VAEs) on burn.
#[derive(Debug, Parser)]
#[command(name = "latent", version, about, propagate_version = true)]
struct Cli {
    /// Compute backend, among those compiled in (see `latent info`) [default: flex, the
    /// fastest measured CPU backend, else the first compiled in of ndarray, wgpu and cuda].
    #[arg(long, global = true, value_enum)]
    backend: Option<Backend>,

    /// GPU index: for wgpu the n-th discrete GPU (default: wgpu's own choice), for cuda the
    /// CUDA device index (default 0). Refused with a CPU backend.
    #[arg(long, global = true, visible_alias = "device", value_name = "N")]
    gpu: Option<usize>,

    /// Threads of the CPU backends (their rayon pool) [default: $RAYON_NUM_THREADS, else one
    /// per CPU]. `train`, `eval`, `transfer` and `report` share them out among CPU replicas
    /// (see --replicas). Training also makes its next batch in one thread of its own, beside
    /// these.
    #[arg(long, global = true)]
    threads: Option<usize>,

    /// More log output (-v info, -vv debug, -vvv trace). Logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the compiled-in backends and check that each one computes correctly.
    Info,
    /// Inspect, verify and generate data.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Gaussian mixture models fitted by EM (scikit-learn's GaussianMixture, in Rust).
    #[command(subcommand)]
    Gmm(mixture_cmd::GmmCommand),
    /// Bernoulli mixture models for binary data such as binarised MNIST.
    #[command(subcommand)]
    Bmm(mixture_cmd::BmmCommand),
    /// Train a VAE or an autoencoder on MNIST into a run directory.
    Train(Box<train_cmd::TrainArgs>),
    /// Evaluate a trained VAE on the test set: ELBO, importance-sampled −log p(x), active units.
    Eval(eval_cmd::EvalArgs),
    /// Decode samples from a trained VAE's prior, or an autoencoder's N(0, I) or latent GMM.
    Sample(sample_cmd::SampleArgs),
    /// Test digits above their reconstructions (VAE or autoencoder run), as a PNG.
    Reconstruct(figures_cmd::ReconstructArgs),
    /// Decode the straight line between the codes of two test digits, as a PNG strip.
    Interpolate(figures_cmd::InterpolateArgs),
    /// Train a linear classifier on a run's latent codes and report its test accuracy.
    Probe(probe_cmd::ProbeArgs),
    /// Write a run's codes of its training or test examples (and their labels) as .npy or .csv
    /// features, e.g. for M1+M2: `train vae --semi-supervised` on a VAE's codes.
    Encode(encode_cmd::EncodeArgs),
    /// For a VAE with a 2-D latent space: decode a grid of codes (inverse-CDF of the unit square).
    Manifold(figures_cmd::ManifoldArgs),
    /// Write a run's weights to a safetensors file in PyTorch's layout.
    Export(export_cmd::ExportArgs),
    /// Make a run from a safetensors file of weights (e.g. a PyTorch state dict), for
    /// `latent eval`, `sample`, `report` or `train --init-from`.
    Import(export_cmd::ImportArgs),
    /// Write DIR/report.html: training curves, samples, reconstructions, interpolations, the
    /// latent space, KL per dimension and a summary table (pictures also in DIR/images/).
    Report(report_cmd::ReportArgs),
    /// Pre-train a VAE on a source domain, adapt it to a target domain from N images, and
    /// compare with training from scratch on the same N images (data-efficiency curve).
    Transfer(transfer_cmd::TransferArgs),
    /// Serve this machine's device (--backend, --gpu) as a burn compute server, for training
    /// elsewhere with `latent train --devices ws://HOST:PORT,…`.
    Serve(serve_cmd::ServeArgs),
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    if let Some(threads) = cli.threads {
        let pool = match threads {
            0 => Err("--threads must be at least 1".to_string()),
            n => rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build_global()
                .map_err(|e| format!("cannot set up {n} threads: {e}")),
        };
        if let Err(message) = pool {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The CPU backends allocate a fresh buffer for every tensor operation, many of them tens of
/// MB (importance sampling decodes 10,000 rows at a time). With glibc's defaults, a freed
/// buffer that size goes back to the kernel (unmapped, or trimmed off the heap), and the next
/// one is page-faulted in again, zeroed, page by page: a third of `latent eval`'s time went to
/// that. Keeping freed memory for reuse — buffers up to 32 MiB (glibc's ceiling for this
/// setting) from the heap rather than their own mappings, and the heap not trimmed below 1 GiB
/// of free space — halved `latent eval`'s time at the same peak memory (BENCHMARKS.md).
/// `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` in the environment still win.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = |name: &str| std::env::var_os(name).is_some();
        // SAFETY: mallopt only changes allocator parameters; called before any other thread.
        unsafe {
            if !set("MALLOC_MMAP_THRESHOLD_") {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            }
            if !set("MALLOC_TRIM_THRESHOLD_") {
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            }
        }
    }
}

fn init_logging(verbose: u8) {
    // burn's remote client warns once per dropped batch when a server goes away; training
    // reports that once, naming the device.
    let level = match verbose {
        0 => "warn,burn_remote=error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LATENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(cli: Cli) -> Result<()> {
    let backend = cli.backend.unwrap_or_else(Backend::default_compiled);
    match cli.command {
        Command::Info => info_cmd::run(),
        Command::Data(cmd) => data_cmd::run(cmd, backend, cli.gpu),
        Command::Gmm(cmd) => mixture_cmd::run_gmm(cmd, &backend.device(cli.gpu)?),
        Command::Bmm(cmd) => mixture_cmd::run_bmm(cmd, &backend.device(cli.gpu)?),
        Command::Train(args) => train_cmd::run_train(*args, backend, cli.gpu),
        Command::Eval(args) => eval_cmd::run_eval(args, backend, &backend.device(cli.gpu)?),
        Command::Sample(args) => sample_cmd::run_sample(args, &backend.device(cli.gpu)?),
        Command::Reconstruct(args) => figures_cmd::run_reconstruct(args, &backend.device(cli.gpu)?),
        Command::Interpolate(args) => figures_cmd::run_interpolate(args, &backend.device(cli.gpu)?),
        Command::Probe(args) => probe_cmd::run_probe(args, &backend.device(cli.gpu)?),
        Command::Encode(args) => encode_cmd::run_encode(args, &backend.device(cli.gpu)?),
        Command::Manifold(args) => figures_cmd::run_manifold(args, &backend.device(cli.gpu)?),
        Command::Export(args) => export_cmd::run_export(args, &backend.device(cli.gpu)?),
        Command::Import(args) => export_cmd::run_import(args, &backend.device(cli.gpu)?),
        Command::Report(args) => report_cmd::run_report(args, backend, &backend.device(cli.gpu)?),
        Command::Transfer(args) => transfer_cmd::run(args, backend, &backend.device(cli.gpu)?),
        Command::Serve(args) => serve_cmd::run(args, backend, cli.gpu),
    }
}
