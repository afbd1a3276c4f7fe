//! `latent train vae|ae`, `latent eval`, `latent sample`: the VAE trainer and its tools.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::data::dataset::Dataset;
use burn::tensor::{Device, Distribution as Noise, Tensor, TensorData};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use latent_data::mnist::PIXELS;
use latent_data::{default_mnist_dir, MnistBatcher, Split};
use latent_models::{Activation, Architecture, GmmConfig, Likelihood, VaeConfig};
use latent_train::{
    evaluate_on, load_run, load_vae, train_on, ModelKind, NamedDevice, TrainConfig, TrainedModel,
};

use crate::backend::{named_devices, Backend};
use latent_viz::Grid;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// Variational autoencoder (ELBO).
    Vae,
    /// Deterministic autoencoder (reconstruction loss).
    Ae,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DecoderArg {
    /// Bernoulli pixels (binary cross-entropy), on dynamically binarised digits.
    Bernoulli,
    /// Gaussian pixels with unit variance (squared error).
    Gaussian,
    /// Gaussian pixels with a learned variance per pixel.
    GaussianLearned,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Which model.
    #[arg(value_enum)]
    kind: KindArg,
    /// Run directory to create (or continue with --resume).
    #[arg(long)]
    out: PathBuf,
    /// A JSON run configuration (as written to DIR/config.json); flags given override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Latent dimension.
    #[arg(long)]
    latent: Option<usize>,
    /// Hidden layer sizes, comma-separated (e.g. 500,500).
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    #[arg(long, value_enum)]
    decoder: Option<DecoderArg>,
    /// Hidden-layer non-linearity.
    #[arg(long, value_enum)]
    activation: Option<ActivationArg>,
    /// Network kind: fully connected, or convolutions for 28 × 28 images.
    #[arg(long, value_enum)]
    arch: Option<ArchArg>,
    /// Weight of the KL term (β-VAE).
    #[arg(long)]
    beta: Option<f64>,
    /// Epochs of linear KL warm-up from 0 to β.
    #[arg(long)]
    warmup: Option<usize>,
    /// Train on the IWAE bound with K importance samples instead of the ELBO.
    #[arg(long)]
    iwae: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Multiply the learning rate by this factor after every epoch (e.g. 0.995; 1: constant).
    #[arg(long)]
    lr_decay: Option<f64>,
    /// Use only the first N training digits.
    #[arg(long)]
    limit: Option<usize>,
    /// Use only the first N test digits for the per-epoch test ELBO.
    #[arg(long)]
    test_limit: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Continue the run in --out from its last completed epoch (up to --epochs).
    #[arg(long, conflicts_with = "init_from")]
    resume: bool,
    /// Start from the weights of another run (warm start / fine-tuning).
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Directory of the MNIST files [default: datasets/mnist].
    #[arg(long)]
    mnist_dir: Option<PathBuf>,
    /// The data: `mnist`, or a shift of it, e.g. mnist:rotate=45, mnist:invert, mnist:noise=0.3,
    /// mnist:thicken=1, mnist:thin=1, mnist:classes=5-9 (chain with `:`) [default: mnist].
    #[arg(long)]
    data: Option<String>,
    /// Train the decoder only; the encoder's weights stay as initialised or loaded
    /// (with --init-from: fine-tune the decoder of a transferred model).
    #[arg(long)]
    freeze_encoder: bool,
    /// Train data parallel on these devices, comma-separated: ndarray, flex, wgpu, wgpu:N, or a
    /// `latent serve` compute server: ws://HOST:PORT, iroh://ID@HOST:PORT (direct) or
    /// iroh://ID (through n0's public relays). The first holds the model and the
    /// optimizer; each step's --batch-size images are split among them [default: the one
    /// --backend device].
    #[arg(long, value_delimiter = ',')]
    devices: Option<Vec<String>>,
    /// How several devices share a step: `multi` (gradients averaged on the first device, one
    /// optimizer; works on every backend) or `ddp` (burn's all-reduce, which burn 0.22.1 runs
    /// on CUDA only, not compiled into this binary).
    #[arg(long, value_enum, default_value_t = StrategyArg::Multi)]
    strategy: StrategyArg,
    /// The token the compute servers of --devices were started with (`latent serve --token`).
    #[arg(long)]
    token: Option<String>,
    /// On a CPU backend: split each step among N copies of the model, each with its own share
    /// of the --threads (data parallel within the machine: the same update as one copy, up to
    /// the order of float sums). `auto`: one per 64 images of a batch, at most one per thread
    /// (one on wgpu or with --devices).
    #[arg(long, value_name = "N|auto", value_parser = parse_replicas, default_value = "auto")]
    replicas: Replicas,
}

/// `--replicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    Auto,
    Count(usize),
}

pub(crate) fn parse_replicas(value: &str) -> std::result::Result<Replicas, String> {
    match value {
        "auto" => Ok(Replicas::Auto),
        _ => match value.parse::<usize>() {
            Ok(0) => Err("at least 1 replica is needed".into()),
            Ok(n) => Ok(Replicas::Count(n)),
            Err(_) => Err(format!("`{value}` is neither a number nor `auto`")),
        },
    }
}

/// Images of a batch below which an `auto` replica is not worth its share of the threads:
/// measured on the default VAE (BENCHMARKS.md), two single-threaded replicas of 64 images
/// train faster than one two-threaded copy of 128.
const IMAGES_PER_REPLICA: usize = 64;

/// The CPU replicas of `--replicas` on `device`: each one's share of the process's threads, or
/// the one device in the shared pool. For training, `batch` is the images of a step: `auto`
/// then makes one replica per [`IMAGES_PER_REPLICA`] of them; for evaluation (`None`), one per
/// thread. Never more than one per thread.
pub(crate) fn cpu_replicas(
    backend: Backend,
    device: &Device,
    replicas: Replicas,
    batch: Option<usize>,
) -> Result<Vec<NamedDevice>> {
    let threads = rayon::current_num_threads();
    let count = match replicas {
        Replicas::Auto if backend.is_cpu() => batch
            .map_or(threads, |b| b / IMAGES_PER_REPLICA)
            .clamp(1, threads),
        Replicas::Auto => 1,
        Replicas::Count(n) if n > 1 && !backend.is_cpu() => bail!(
            "--replicas shares out the CPU's threads; the {} backend has no use for it",
            backend.name()
        ),
        Replicas::Count(n) if batch.is_some_and(|b| n > b) => bail!(
            "--replicas {n} is more than the {} images of a batch (--batch-size)",
            batch.unwrap_or_default()
        ),
        Replicas::Count(n) => n,
    };
    if count == 1 {
        return Ok(vec![NamedDevice::new(backend.name(), device.clone())]);
    }
    if count > threads {
        tracing::warn!(
            "{count} replicas on {threads} threads: each replica gets one thread, and the \
             replicas take turns"
        );
    }
    Ok((0..count)
        .map(|i| NamedDevice {
            threads: Some((threads / count + usize::from(i < threads % count)).max(1)),
            ..NamedDevice::new(backend.name(), device.clone())
        })
        .collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    Multi,
    Ddp,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ArchArg {
    Mlp,
    Conv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActivationArg {
    Relu,
    Tanh,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A run directory written by `latent train vae`.
    #[arg(long)]
    run: PathBuf,
    /// Importance samples per test image for −log p(x).
    #[arg(long, default_value_t = 5000)]
    iw_samples: usize,
    /// Importance samples drawn at once per image (bounds memory: 100 images × chunk decoder
    /// rows at a time).
    #[arg(long, default_value_t = latent_train::DEFAULT_IW_CHUNK)]
    chunk: usize,
    /// Evaluate on the first N test digits only.
    #[arg(long)]
    limit: Option<usize>,
    /// On a CPU backend: share the importance sampling among N workers, each with its own share
    /// of the --threads (the same figures, up to the order of float sums). `auto`: one per
    /// thread.
    #[arg(long, value_name = "N|auto", value_parser = parse_replicas, default_value = "auto")]
    replicas: Replicas,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    #[arg(long)]
    run: PathBuf,
    #[arg(long, short, default_value_t = 64)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// For an autoencoder run: draw codes from a K-component Gaussian mixture fitted to the
    /// codes of the training digits (ex-post density estimation) instead of from N(0, I).
    #[arg(long)]
    latent_gmm: Option<usize>,
    /// Training digits whose codes the --latent-gmm mixture is fitted to.
    #[arg(long, default_value_t = 10_000)]
    gmm_fit_limit: usize,
    /// Write binary images (one Bernoulli draw per pixel) instead of pixel means.
    #[arg(long)]
    binarize: bool,
    /// .png (a grid), .npy (float32 [n, 28, 28]) or .csv (one image of 784 values per line).
    #[arg(long, short)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReconstructArgs {
    #[arg(long)]
    run: PathBuf,
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

#[derive(Debug, Args)]
pub struct InterpolateArgs {
    #[arg(long)]
    run: PathBuf,
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

/// The first `n` test digits from `start`, grey levels, on `device`.
pub(crate) fn test_digits(
    config: &TrainConfig,
    indices: &[usize],
    device: &Device,
) -> Result<Tensor<2>> {
    let last = indices.iter().max().copied().unwrap_or(0);
    let test = config.load_split(Split::Test, None)?;
    if last >= test.len() {
        bail!(
            "test digit {last} does not exist (the test set has {})",
            test.len()
        );
    }
    Ok(MnistBatcher::grey().images(&test, indices.iter().copied(), device))
}

/// The code of x: the posterior mean for a VAE, the code for an autoencoder; and a decoder.
pub(crate) fn encode_decode(
    model: &TrainedModel,
    x: Tensor<2>,
) -> (Tensor<2>, Box<dyn Fn(Tensor<2>) -> Tensor<2> + '_>) {
    match model {
        TrainedModel::Vae(vae) => (vae.posterior(x).mean, Box::new(|z| vae.decode_mean(z))),
        TrainedModel::Ae(ae) => (ae.encode(x), Box::new(|z| ae.decode_mean(z))),
    }
}

pub fn run_reconstruct(args: ReconstructArgs, device: &Device) -> Result<()> {
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let (config, model) = load_run(&args.run, device)?;
    let indices: Vec<usize> = (args.start..args.start + args.n).collect();
    let both = reconstructions(&model, &config, &indices, device)?;
    Grid::mnist(args.n).write_png(&both, &args.out)?;
    eprintln!(
        "wrote {} digits and their reconstructions to {}",
        args.n,
        args.out.display()
    );
    Ok(())
}

pub fn run_interpolate(args: InterpolateArgs, device: &Device) -> Result<()> {
    if args.steps < 2 {
        bail!("--steps must be at least 2 (the two ends)");
    }
    let (config, model) = load_run(&args.run, device)?;
    let x = test_digits(&config, &args.between, device)?;
    let (z, decode) = encode_decode(&model, x);
    let [a, b] = [z.clone().narrow(0, 0, 1), z.narrow(0, 1, 1)];
    let path: Vec<Tensor<2>> = (0..args.steps)
        .map(|i| {
            let t = i as f64 / (args.steps - 1) as f64;
            a.clone().mul_scalar(1.0 - t) + b.clone().mul_scalar(t)
        })
        .collect();
    Grid::mnist(args.steps).write_png(&values(decode(Tensor::cat(path, 0)))?, &args.out)?;
    eprintln!(
        "wrote a {}-step interpolation to {}",
        args.steps,
        args.out.display()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct ManifoldArgs {
    /// A VAE run with a 2-D latent space.
    #[arg(long)]
    run: PathBuf,
    /// Images per side of the grid.
    #[arg(long, default_value_t = 20)]
    size: usize,
    /// A PNG of the decoded grid.
    #[arg(long, short)]
    out: PathBuf,
}

/// Φ⁻¹(p), the standard normal quantile (Acklam's rational approximation, relative error
/// below 1.2e-9 on (0, 1)).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Kingma & Welling's figure: codes Φ⁻¹ of a regular `side` × `side` grid on the unit square
/// (cell centres), row after row going down the second coordinate; [side², 2] values.
pub(crate) fn manifold_codes(side: usize) -> Vec<f32> {
    let quantiles: Vec<f64> = (0..side)
        .map(|i| normal_quantile((i as f64 + 0.5) / side as f64))
        .collect();
    (0..side * side)
        .flat_map(|cell| {
            [
                quantiles[cell % side] as f32,
                quantiles[side - 1 - cell / side] as f32,
            ]
        })
        .collect()
}

/// The manifold figure of a VAE with a 2-D latent space, decoded to pixel means.
pub fn run_manifold(args: ManifoldArgs, device: &Device) -> Result<()> {
    if args.size == 0 {
        bail!("--size must be at least 1");
    }
    let (_, vae) = load_vae(&args.run, device)?;
    if vae.latent_dim() != 2 {
        bail!(
            "{}: the manifold figure needs a 2-D latent space; this run has {}",
            args.run.display(),
            vae.latent_dim()
        );
    }
    let side = args.size;
    let codes = manifold_codes(side);
    let z = Tensor::<2>::from_data(TensorData::new(codes, [side * side, 2]), device);
    Grid::mnist(side).write_png(&values(vae.decode_mean(z))?, &args.out)?;
    eprintln!("wrote a {side}×{side} manifold to {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normal_quantile;

    #[test]
    fn normal_quantile_inverts_known_values() {
        // Φ⁻¹ at 0.5, 0.975, 0.001 and their mirror images.
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.001, -3.090_232_306_167_813_6),
        ] {
            assert!((normal_quantile(p) - z).abs() < 1e-8, "{p}");
            assert!((normal_quantile(1.0 - p) + z).abs() < 1e-8, "{p}");
        }
    }
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[arg(long)]
    run: PathBuf,
    /// Training digits for the probe [default: all 60,000].
    #[arg(long)]
    limit: Option<usize>,
    /// Full-batch Adam steps.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Also train the same probe on raw pixels, for comparison.
    #[arg(long)]
    pixels: bool,
    #[arg(long)]
    json: bool,
}

/// Grey-level digits and labels of a split of the run's data: the first `at_most` (all when
/// `None` or when the split holds fewer).
pub(crate) fn digits_and_labels(
    config: &TrainConfig,
    split: Split,
    at_most: Option<usize>,
    device: &Device,
) -> Result<(Tensor<2>, Vec<usize>)> {
    let mut data = config.load_split(split, None)?;
    if let Some(n) = at_most {
        data = data.truncated(n);
    }
    let x = MnistBatcher::grey().images(&data, 0..data.len(), device);
    Ok((x, data.labels().iter().map(|l| *l as usize).collect()))
}

pub fn run_probe(args: ProbeArgs, device: &Device) -> Result<()> {
    let (config, model) = load_run(&args.run, device)?;
    let (train_x, train_y) = digits_and_labels(&config, Split::Train, args.limit, device)?;
    let (test_x, test_y) = digits_and_labels(&config, Split::Test, None, device)?;
    let (train_z, _) = encode_decode(&model, train_x.clone());
    let (test_z, _) = encode_decode(&model, test_x.clone());
    let latent = latent_train::linear_probe(train_z, &train_y, test_z, &test_y, 10, args.steps);
    let mut figures = serde_json::json!({
        "latent_train_accuracy": latent.train_accuracy,
        "latent_test_accuracy": latent.test_accuracy,
        "train_digits": train_y.len(),
        "steps": args.steps,
    });
    if args.pixels {
        let pixels = latent_train::linear_probe(train_x, &train_y, test_x, &test_y, 10, args.steps);
        figures["pixels_train_accuracy"] = pixels.train_accuracy.into();
        figures["pixels_test_accuracy"] = pixels.test_accuracy.into();
    }
    if args.json {
        println!("{figures}");
    } else {
        for (key, value) in figures.as_object().expect("an object") {
            println!("{key}: {value}");
        }
    }
    Ok(())
}

fn run_config(args: &TrainArgs) -> Result<TrainConfig> {
    let kind = match args.kind {
        KindArg::Vae => ModelKind::Vae,
        KindArg::Ae => ModelKind::Ae,
    };
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<TrainConfig>(&text)
                .with_context(|| format!("{} is not a run configuration", path.display()))?
        }
        None => TrainConfig::new(
            kind,
            args.mnist_dir.clone().unwrap_or_else(default_mnist_dir),
        ),
    };
    config.kind = kind;
    let model: &mut VaeConfig = &mut config.model;
    if let Some(v) = args.latent {
        model.latent = v;
    }
    if let Some(v) = &args.hidden {
        model.hidden = v.clone();
    }
    if let Some(v) = args.decoder {
        model.likelihood = match v {
            DecoderArg::Bernoulli => Likelihood::Bernoulli,
            DecoderArg::Gaussian => Likelihood::Gaussian { log_var: 0.0 },
            DecoderArg::GaussianLearned => Likelihood::GaussianLearned,
        };
    }
    if let Some(v) = args.arch {
        model.architecture = match v {
            ArchArg::Mlp => Architecture::Mlp,
            ArchArg::Conv => Architecture::Conv,
        };
    }
    if let Some(v) = args.activation {
        model.activation = match v {
            ActivationArg::Relu => Activation::Relu,
            ActivationArg::Tanh => Activation::Tanh,
        };
    }
    macro_rules! set {
        ($($field:ident <- $arg:expr),*) => { $(if let Some(v) = $arg { config.$field = v; })* };
    }
    set!(epochs <- args.epochs, beta <- args.beta, warmup_epochs <- args.warmup, iwae_samples <- args.iwae,
         batch_size <- args.batch_size, lr <- args.lr, lr_decay <- args.lr_decay, seed <- args.seed);
    if args.limit.is_some() {
        config.train_limit = args.limit;
    }
    if args.test_limit.is_some() {
        config.test_limit = args.test_limit;
    }
    if let Some(dir) = &args.mnist_dir {
        config.mnist_dir = dir.clone();
    }
    if let Some(spec) = &args.data {
        config.data = latent_data::Domain::parse(spec)?.to_string();
    }
    if args.freeze_encoder {
        config.freeze_encoder = true;
    }
    // The run remembers where its data are; an absolute path keeps working from any directory.
    if let Ok(absolute) = std::fs::canonicalize(&config.mnist_dir) {
        config.mnist_dir = absolute;
    }
    Ok(config)
}

pub fn run_train(args: TrainArgs, backend: Backend, gpu: Option<usize>) -> Result<()> {
    let config = run_config(&args)?;
    if args.strategy == StrategyArg::Ddp {
        bail!(
            "--strategy ddp needs devices with collective operations (all-reduce), which burn \
             0.22.1 implements for CUDA only (its ndarray and flex backends have none, and on \
             wgpu the all-reduce panics inside cubecl); this binary has no CUDA backend. Use \
             --strategy multi: the same update, with the gradients averaged on the first device"
        );
    }
    let local = backend.device(gpu)?;
    // A resumed run keeps its own batch size, recorded in config.json.
    let batch_size = if args.resume {
        saved_batch_size(&args.out).unwrap_or(config.batch_size)
    } else {
        config.batch_size
    };
    let devices = match (&args.devices, args.replicas) {
        (Some(specs), Replicas::Auto) => named_devices(specs, args.token.as_deref())?,
        (Some(_), Replicas::Count(_)) => bail!(
            "--replicas copies the --backend device; with --devices, list every device instead \
             (e.g. --devices flex,flex)"
        ),
        (None, replicas) => cpu_replicas(backend, &local, replicas, Some(batch_size))?,
    };
    let device = &local;
    if devices.len() > 1 {
        let shares: Vec<String> = latent_train::shard_ranges(batch_size, devices.len())
            .iter()
            .map(|r| r.len().to_string())
            .collect();
        let threads = match devices[0].threads {
            Some(t) if devices.iter().all(|d| d.threads == Some(t)) => {
                format!(", {t} thread{} each", if t == 1 { "" } else { "s" })
            }
            _ => String::new(),
        };
        println!(
            "data parallel on {} devices ({}{threads}): {batch_size} images a step ({} per \
             device), lr as given",
            devices.len(),
            devices
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            shares.join(" + "),
        );
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} batches, loss {msg} ({elapsed}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    // burn reports a remote device that stops answering by panicking; training turns that into
    // an error naming the device, so the panic's own report is only logged.
    let quiet = args.devices.is_some();
    if quiet {
        std::panic::set_hook(Box::new(|info| tracing::debug!("{info}")));
    }
    let metrics = train_on(
        &config,
        &args.out,
        &devices,
        args.resume,
        args.init_from.as_deref(),
        |p| {
            if p.step == 1 {
                bar.set_length(p.steps as u64);
                bar.set_prefix(p.epoch.to_string());
            }
            bar.set_position(p.step as u64);
            if p.loss.is_finite() {
                bar.set_message(format!("{:.2}", p.loss));
            }
        },
    );
    if quiet {
        let _ = std::panic::take_hook();
    }
    bar.finish_and_clear();
    let metrics = metrics.map_err(|e| match e {
        // A server that died can take the sessions of its peers with it (they exchange
        // tensors directly), so the devices that stopped answering may be more than the one at
        // fault; a WebSocket server that no longer accepts connections is that one.
        latent_train::TrainError::Device {
            device,
            epoch,
            problem,
        } => {
            let gone = crate::backend::unreachable_servers(&devices);
            latent_train::TrainError::Device {
                device: if gone.is_empty() {
                    device
                } else {
                    gone.join(", ")
                },
                epoch,
                problem,
            }
        }
        other => other,
    })?;
    for m in &metrics {
        match config.kind {
            ModelKind::Vae => println!(
                "epoch {:>3}: train loss {:.2}, test −ELBO {:.2} (recon {:.2}, KL {:.2}), {:.0} images/s",
                m.epoch, m.train_loss, m.test_neg_elbo, m.test_reconstruction, m.test_kl, m.samples_per_second
            ),
            ModelKind::Ae => println!(
                "epoch {:>3}: train loss {:.2}, test reconstruction loss {:.2}, {:.0} images/s",
                m.epoch, m.train_loss, m.test_reconstruction, m.samples_per_second
            ),
        }
    }
    if config.kind == ModelKind::Vae {
        write_pictures(&args.out, &config, device)?;
    }
    println!("run written to {}", args.out.display());
    Ok(())
}

/// `images/samples.png` (64 prior samples) and `images/reconstructions.png` (test digits
/// above their reconstructions).
fn write_pictures(run: &Path, config: &TrainConfig, device: &Device) -> Result<()> {
    let (_, vae) = load_vae(run, device)?;
    let images = run.join("images");
    std::fs::create_dir_all(&images)
        .with_context(|| format!("cannot create {}", images.display()))?;
    device.seed(config.seed);
    let z = Tensor::<2>::random([64, vae.latent_dim()], Noise::Normal(0.0, 1.0), device);
    Grid::mnist(8).write_png(&values(vae.decode_mean(z))?, &images.join("samples.png"))?;
    let indices: Vec<usize> = (0..8).collect();
    let pictures = reconstructions(&TrainedModel::Vae(vae), config, &indices, device)?;
    Grid::mnist(8).write_png(&pictures, &images.join("reconstructions.png"))?;
    Ok(())
}

/// The test digits `indices` followed by their reconstructions, as pixel values.
pub(crate) fn reconstructions(
    model: &TrainedModel,
    config: &TrainConfig,
    indices: &[usize],
    device: &Device,
) -> Result<Vec<f32>> {
    let x = test_digits(config, indices, device)?;
    let (z, decode) = encode_decode(model, x.clone());
    let mut both = values(x)?;
    both.extend(values(decode(z))?);
    Ok(both)
}

pub(crate) fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("reading values back from the device: {e:?}"))
}

pub fn run_eval(args: EvalArgs, backend: Backend, device: &Device) -> Result<()> {
    if args.iw_samples == 0 {
        bail!("--iw-samples must be at least 1");
    }
    let (config, vae) = load_vae(&args.run, device)?;
    let test = config.load_split(Split::Test, args.limit)?;
    let workers = cpu_replicas(backend, device, args.replicas, None)?;
    let report = evaluate_on(&vae, &test, args.iw_samples, args.chunk, 100, &workers)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} test images, fixed binarisation: ELBO {:.2}, −log p(x) ≈ {:.2} nats (importance sampling, k = {}), \
             reconstruction {:.2}, KL {:.2}, active units {}/{}",
            report.images,
            report.elbo,
            report.nll,
            report.iw_samples,
            report.recon,
            report.kl,
            report.active_units,
            report.kl_per_dim.len()
        );
    }
    Ok(())
}

/// Ex-post density estimation for an autoencoder: a `k`-component GMM fitted to the codes of
/// the first `fit_limit` training digits, and `n` codes sampled from it.
pub(crate) fn latent_gmm_codes(
    ae: &latent_models::Autoencoder,
    config: &TrainConfig,
    k: usize,
    fit_limit: usize,
    n: usize,
    seed: u64,
    device: &Device,
) -> Result<Tensor<2>> {
    let train = config.load_split(Split::Train, None)?.truncated(fit_limit);
    let x = MnistBatcher::grey().images(&train, 0..train.len(), device);
    let gmm = GmmConfig::new(k).with_seed(seed).fit(&ae.encode(x))?;
    let (codes, _) = gmm.sample(n, seed)?;
    Ok(codes.to_tensor(device))
}

pub fn run_sample(args: SampleArgs, device: &Device) -> Result<()> {
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let (config, model) = load_run(&args.run, device)?;
    device.seed(args.seed);
    let pixels = match model {
        TrainedModel::Vae(vae) => {
            if args.latent_gmm.is_some() {
                bail!("--latent-gmm is for autoencoder runs; a VAE samples its prior N(0, I)");
            }
            let z =
                Tensor::<2>::random([args.n, vae.latent_dim()], Noise::Normal(0.0, 1.0), device);
            vae.decode_mean(z)
        }
        TrainedModel::Ae(ae) => {
            let z = match args.latent_gmm {
                None => {
                    Tensor::<2>::random([args.n, ae.latent_dim()], Noise::Normal(0.0, 1.0), device)
                }
                Some(k) => latent_gmm_codes(
                    &ae,
                    &config,
                    k,
                    args.gmm_fit_limit,
                    args.n,
                    args.seed,
                    device,
                )?,
            };
            ae.decode_mean(z)
        }
    };
    let pixels = if args.binarize {
        let uniform = Tensor::<2>::random(pixels.shape(), Noise::Default, device);
        uniform.lower(pixels).float()
    } else {
        pixels
    };
    let values = values(pixels)?;
    match args.out.extension().and_then(|e| e.to_str()) {
        Some("png") => Grid::mnist(8).write_png(&values, &args.out)?,
        Some("npy") => {
            let bytes = latent_data::points::encode_npy_f32(&values, &[args.n, 28, 28]);
            std::fs::write(&args.out, bytes)
                .with_context(|| format!("cannot write {}", args.out.display()))?;
        }
        Some("csv") => {
            let points = latent_data::Points::new(
                args.n,
                PIXELS,
                values.iter().map(|v| *v as f64).collect(),
            )?;
            crate::data_cmd::write_points(&points, &args.out)?;
        }
        _ => bail!(
            "--out {} must end in .png, .npy or .csv",
            args.out.display()
        ),
    }
    eprintln!("wrote {} samples to {}", args.n, args.out.display());
    Ok(())
}

/// The batch size recorded in the run directory `out`, if it holds a readable run.
fn saved_batch_size(out: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(out.join("config.json")).ok()?;
    serde_json::from_str::<TrainConfig>(&text)
        .ok()
        .map(|c| c.batch_size)
}
