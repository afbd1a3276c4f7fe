//! `latent`: latent-variable generative models on burn, from the command line.

mod backend;
mod data_cmd;
mod mixture_cmd;
mod report_cmd;
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
    /// fastest measured CPU backend, else the first compiled in of ndarray and wgpu].
    #[arg(long, global = true, value_enum)]
    backend: Option<Backend>,

    /// GPU index for the wgpu backend (the n-th discrete GPU); default: wgpu's own choice.
    /// Refused with a CPU backend.
    #[arg(long, global = true, visible_alias = "device", value_name = "N")]
    gpu: Option<usize>,

    /// Threads of the CPU backends (their rayon pool) [default: $RAYON_NUM_THREADS, else one
    /// per CPU]. `train`, `eval`, `transfer` and `report` share them out among CPU replicas
    /// (see --replicas).
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
    Train(train_cmd::TrainArgs),
    /// Evaluate a trained VAE on the test set: ELBO, importance-sampled −log p(x), active units.
    Eval(train_cmd::EvalArgs),
    /// Decode samples from a trained VAE's prior, or an autoencoder's N(0, I) or latent GMM.
    Sample(train_cmd::SampleArgs),
    /// Test digits above their reconstructions (VAE or autoencoder run), as a PNG.
    Reconstruct(train_cmd::ReconstructArgs),
    /// Decode the straight line between the codes of two test digits, as a PNG strip.
    Interpolate(train_cmd::InterpolateArgs),
    /// Train a linear classifier on a run's latent codes and report its test accuracy.
    Probe(train_cmd::ProbeArgs),
    /// For a VAE with a 2-D latent space: decode a grid of codes (inverse-CDF of the unit square).
    Manifold(train_cmd::ManifoldArgs),
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
        Command::Info => info(),
        Command::Data(cmd) => data_cmd::run(cmd, backend, cli.gpu),
        Command::Gmm(cmd) => mixture_cmd::run_gmm(cmd, &backend.device(cli.gpu)?),
        Command::Bmm(cmd) => mixture_cmd::run_bmm(cmd, &backend.device(cli.gpu)?),
        Command::Train(args) => train_cmd::run_train(args, backend, cli.gpu),
        Command::Eval(args) => train_cmd::run_eval(args, backend, &backend.device(cli.gpu)?),
        Command::Sample(args) => train_cmd::run_sample(args, &backend.device(cli.gpu)?),
        Command::Reconstruct(args) => train_cmd::run_reconstruct(args, &backend.device(cli.gpu)?),
        Command::Interpolate(args) => train_cmd::run_interpolate(args, &backend.device(cli.gpu)?),
        Command::Probe(args) => train_cmd::run_probe(args, &backend.device(cli.gpu)?),
        Command::Manifold(args) => train_cmd::run_manifold(args, &backend.device(cli.gpu)?),
        Command::Report(args) => report_cmd::run_report(args, backend, &backend.device(cli.gpu)?),
        Command::Transfer(args) => transfer_cmd::run(args, backend, &backend.device(cli.gpu)?),
        Command::Serve(args) => serve_cmd::run(args, backend, cli.gpu),
    }
}

/// The adapters wgpu can see: name, type, driver and graphics API.
#[cfg(feature = "wgpu")]
fn wgpu_adapters() -> Vec<String> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    futures_lite::future::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(|adapter| {
            let info = adapter.get_info();
            format!(
                "{} ({:?}; driver {} {}; {:?})",
                info.name, info.device_type, info.driver, info.driver_info, info.backend
            )
        })
        .collect()
}

/// Prints each backend, whether it is compiled in, and for those that are, the KL divergence
/// of a fixed pair of Gaussians computed on it next to its closed form in f64.
fn info() -> Result<()> {
    use burn::tensor::Tensor;
    use latent_distributions::{kl, Normal};

    println!("latent {}", env!("CARGO_PKG_VERSION"));
    let (mean, log_var) = ([0.5f32, -1.0, 2.0], [0.3f32, -0.2, 1.0]);
    let want: f64 = mean
        .iter()
        .zip(&log_var)
        .map(|(m, lv)| 0.5 * ((*lv as f64).exp() + (*m as f64).powi(2) - 1.0 - *lv as f64))
        .sum();
    for backend in Backend::ALL {
        if !backend.compiled() {
            println!(
                "{:8} not compiled in (cargo feature `{}`)",
                backend.name(),
                backend.name()
            );
            continue;
        }
        #[cfg(feature = "wgpu")]
        if backend == Backend::Wgpu {
            let adapters = wgpu_adapters();
            if adapters.is_empty() {
                println!(
                    "{:8} compiled in, but wgpu finds no adapter: no Vulkan / Metal / DX12 driver \
                     (on Debian, `apt install mesa-vulkan-drivers` gives the lavapipe software one)",
                    backend.name()
                );
                continue;
            }
            for adapter in adapters {
                println!("{:8} adapter: {adapter}", backend.name());
            }
        }
        let device = backend.device(None)?;
        let normal = Normal::new(
            Tensor::<2>::from_floats([mean], &device),
            Tensor::<2>::from_floats([log_var], &device),
        );
        let got = kl::kl_normal_std_normal(&normal)
            .try_into_scalar::<f32>()
            .map_err(|e| anyhow::anyhow!("the {} backend failed: {e:?}", backend.name()))?;
        let status = if (got as f64 - want).abs() < 1e-5 * want.abs().max(1.0) {
            "ok"
        } else {
            "WRONG"
        };
        println!(
            "{:8} compiled in: {device:?}; check KL(N(μ,σ²)‖N(0,I)) = {got:.6} (exact {want:.6}) {status}",
            backend.name()
        );
    }
    if cfg!(feature = "remote") {
        println!(
            "remote   built in: `latent serve`, and --devices ws://HOST:PORT or iroh://ID@HOST:PORT"
        );
    } else {
        println!("remote   not compiled in (cargo feature `remote`)");
    }
    Ok(())
}
