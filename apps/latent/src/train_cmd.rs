//! `latent train vae|ae`: flags (over an optional configuration file) → a checked
//! [`TrainConfig`] → [`latent_train::train_on`] → the epochs printed and the run's pictures.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use latent_data::Domain;
use latent_models::VaeConfig;
use latent_train::{
    EpochMetrics, ModelKind, NamedDevice, RunDir, TrainConfig, TrainError, TrainEvent,
};

use crate::args::{base_config, KindArg, MnistDirArg, ModelArgs, ReplicasArg};
use crate::backend::{named_devices, unreachable_servers, Backend};
use crate::sample_cmd::write_run_pictures;

/// `--strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// Gradients averaged on the first device, one optimizer; works on every backend.
    Multi,
    /// burn's all-reduce (CUDA only in burn 0.22.1); not implemented in latent's trainer yet.
    Ddp,
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
    #[command(flatten)]
    model: ModelArgs,
    /// Weight of the KL term (β-VAE).
    #[arg(long)]
    beta: Option<f64>,
    /// Epochs of linear KL warm-up from 0 to β. With --iwae, the power β of every importance
    /// weight's latent part p(z) / q(z | x) rises from 0 to 1 (Sønderby et al. 2016).
    #[arg(long)]
    warmup: Option<usize>,
    /// Train on the IWAE bound with K importance samples instead of the ELBO.
    #[arg(long)]
    iwae: Option<usize>,
    /// Free bits: floor each latent dimension's KL (averaged over the batch) at this many nats
    /// in the training loss, against posterior collapse (Kingma et al. 2016; ELBO training).
    #[arg(long, value_name = "NATS")]
    free_bits: Option<f64>,
    /// With --semi-supervised: keep only N training labels, N / C of each class (the first of
    /// each), and hide the rest [default: all].
    #[arg(long, value_name = "N")]
    labelled: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Multiply the learning rate by this factor after every epoch (e.g. 0.995; 1: constant).
    #[arg(long)]
    lr_decay: Option<f64>,
    /// Use only the first N training examples.
    #[arg(long)]
    limit: Option<usize>,
    /// Use only the first N test examples for the per-epoch test ELBO.
    #[arg(long)]
    test_limit: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Continue the run in --out from its last completed epoch, as recorded: --epochs may
    /// extend it, --devices, --replicas and --threads may change, any other flag that differs
    /// from the run's config.json is refused.
    #[arg(long, conflicts_with = "init_from")]
    resume: bool,
    /// Start from the weights of another run (warm start / fine-tuning).
    #[arg(long)]
    init_from: Option<PathBuf>,
    #[command(flatten)]
    mnist_dir: MnistDirArg,
    /// The data: `mnist` or `digits` (bundled), a FILE.npy ([N, D] vectors, [N, H, W] or
    /// [N, H, W, C] images, uint8 or float), a FILE.csv table, an IDX file of images, or a
    /// FOLDER of PNG/JPEG images (a sub-folder per class, or flat); then `:`-separated options
    /// (labels=FILE, size=HxW, grey, channels-first) and shifts of images (rotate=DEG, invert,
    /// noise=STD, thicken=N, thin=N, classes=SET), e.g. mnist:rotate=45, digits:classes=0-4,
    /// photos:size=32x32, x.npy:labels=y.npy [default: mnist].
    #[arg(long, value_name = "SPEC")]
    data: Option<Domain>,
    /// The test set, another data spec: all its examples (a bundled one's test split)
    /// [default: mnist's and digits' own test split, else a --test-fraction of --data].
    #[arg(long, value_name = "SPEC", conflicts_with = "test_fraction")]
    test_data: Option<Domain>,
    /// Hold out this fraction of --data's examples (drawn with --seed) as the test set
    /// [default for a file or folder: 0.1].
    #[arg(long, value_name = "F")]
    test_fraction: Option<f64>,
    /// The labels of a .npy or IDX --data: a 1-D integer .npy or an IDX label file (the spec's
    /// labels=FILE).
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Resize a folder's images to H×W (the spec's size=HxW).
    #[arg(long, value_name = "HxW", value_parser = image_size)]
    image_size: Option<(usize, usize)>,
    /// Convert a folder's images to grey (the spec's grey).
    #[arg(long)]
    grey: bool,
    /// A 4-D .npy --data is [N, C, H, W] (the spec's channels-first).
    #[arg(long)]
    channels_first: bool,
    /// With the Bernoulli decoder, take grey levels in [0, 1] as they are instead of drawing a
    /// fresh binarisation each time an example is shown.
    #[arg(long)]
    no_binarize: bool,
    /// Train the decoder only; the encoder's weights stay as initialised or loaded
    /// (with --init-from: fine-tune the decoder of a transferred model).
    #[arg(long)]
    freeze_encoder: bool,
    /// Train data parallel on these devices, comma-separated: ndarray, flex, wgpu, wgpu:N, cuda,
    /// cuda:N, or a
    /// `latent serve` compute server: ws://HOST:PORT, iroh://ID@HOST:PORT (direct) or
    /// iroh://ID (through n0's public relays). The first holds the model and the
    /// optimizer; each step's --batch-size images are split among them [default: the one
    /// --backend device].
    #[arg(long, value_delimiter = ',')]
    devices: Option<Vec<String>>,
    /// How several devices share a step: `multi` (gradients averaged on the first device, one
    /// optimizer; works on every backend, cuda included) or `ddp` (burn's all-reduce, which
    /// burn 0.22.1 runs on CUDA only; refused: latent's trainer does not drive it yet).
    #[arg(long, value_enum, default_value_t = StrategyArg::Multi)]
    strategy: StrategyArg,
    /// The token the compute servers of --devices were started with (`latent serve --token`).
    #[arg(long)]
    token: Option<String>,
    #[command(flatten)]
    replicas: ReplicasArg,
}

/// The run's configuration: each flag given over the file of --config, or with --resume over
/// the run's own (so that the library can refuse any that differs from it), or else over the
/// defaults.
fn run_config(args: &TrainArgs) -> Result<TrainConfig> {
    let mut config = match (args.resume, &args.config) {
        (true, None) => {
            let mut recorded = RunDir::new(&args.out).read_config::<VaeConfig>()?;
            recorded.kind = args.kind.into();
            if args.mnist_dir.mnist_dir.is_some() {
                recorded.mnist_dir = args.mnist_dir.resolve();
            }
            recorded
        }
        (_, file) => base_config(file.as_deref(), args.kind, &args.mnist_dir)?,
    };
    args.model.apply(&mut config.model);
    macro_rules! set {
        ($($field:expr => $arg:expr),* $(,)?) => { $(if let Some(v) = $arg { $field = v; })* };
    }
    set!(
        config.epochs => args.epochs,
        config.beta => args.beta,
        config.warmup_epochs => args.warmup,
        config.iwae_samples => args.iwae,
        config.free_bits => args.free_bits,
        config.batch_size => args.batch_size,
        config.optimizer.lr => args.lr,
        config.optimizer.lr_decay => args.lr_decay,
        config.seed => args.seed,
        config.data => args.data.clone().map(Domain::absolute),
    );
    if args.test_data.is_some() {
        config.test_data = args.test_data.clone().map(Domain::absolute);
        config.test_fraction = None;
    }
    if args.test_fraction.is_some() {
        config.test_fraction = args.test_fraction;
        config.test_data = None;
    }
    if args.no_binarize {
        config.binarize = false;
    }
    if args.labels.is_some() || args.image_size.is_some() || args.grey || args.channels_first {
        config.data = config.data.clone().with_options(
            args.labels
                .as_deref()
                .map(|p| std::fs::canonicalize(p).unwrap_or(p.to_path_buf())),
            args.image_size,
            args.grey,
            args.channels_first,
        )?;
    }
    if args.limit.is_some() {
        config.train_limit = args.limit;
    }
    if args.test_limit.is_some() {
        config.test_limit = args.test_limit;
    }
    if args.freeze_encoder {
        config.freeze_encoder = true;
    }
    if args.labelled.is_some() {
        config.labelled = args.labelled;
    }
    Ok(config)
}

/// The devices of the run: --devices as listed, or the CPU replicas of --replicas.
fn training_devices(
    args: &TrainArgs,
    backend: Backend,
    local: &burn::tensor::Device,
    batch_size: usize,
) -> Result<Vec<NamedDevice>> {
    match (&args.devices, args.replicas.replicas) {
        (Some(specs), latent_train::ReplicaCount::Auto) => {
            named_devices(specs, args.token.as_deref())
        }
        (Some(_), latent_train::ReplicaCount::Count(_)) => bail!(
            "--replicas copies the --backend device; with --devices, list every device instead \
             (e.g. --devices flex,flex)"
        ),
        (None, _) => args.replicas.devices(backend, local, Some(batch_size)),
    }
}

pub fn run_train(args: TrainArgs, backend: Backend, gpu: Option<usize>) -> Result<()> {
    let config = run_config(&args)?;
    if args.strategy == StrategyArg::Ddp {
        bail!(
            "--strategy ddp needs devices with collective operations (all-reduce), which burn \
             0.22.1 implements for CUDA only (its ndarray and flex backends have none, and on \
             wgpu the all-reduce panics inside cubecl), and latent's trainer does not drive \
             burn's all-reduce yet, on any backend. Use --strategy multi: the same update, \
             with the gradients averaged on the first device (cuda devices too: --devices \
             cuda:0,cuda:1)"
        );
    }
    let local = backend.device(gpu)?;
    let batch_size = config.batch_size;
    let devices = training_devices(&args, backend, &local, batch_size)?;
    if devices.len() > 1 {
        println!("{}", parallel_summary(&devices, batch_size));
    }
    let bar = ProgressBar::new(0);
    let mut collapse_told = false;
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
    let metrics = latent_train::train_on(
        &config,
        &args.out,
        &devices,
        args.resume,
        args.init_from.as_deref(),
        |event| match event {
            TrainEvent::Step(p) => {
                if p.step == 1 {
                    bar.reset();
                    bar.set_length(p.steps as u64);
                    bar.set_prefix(p.epoch.to_string());
                }
                bar.set_position(p.step as u64);
                if p.loss.is_finite() {
                    bar.set_message(format!("{:.2}", p.loss));
                }
            }
            // Each epoch's line as soon as its checkpoint is written (stdout writes whole
            // lines, so a log tail sees it at once).
            TrainEvent::Epoch(m) => bar.suspend(|| {
                println!("{}", epoch_line(config.kind, &m));
                if !collapse_told && collapsed(config.kind, &m) {
                    collapse_told = true;
                    eprintln!("{}", collapse_warning(&m));
                }
            }),
        },
    );
    if quiet {
        let _ = std::panic::take_hook();
    }
    bar.finish_and_clear();
    let metrics = metrics.map_err(|e| name_unreachable_servers(e, &devices))?;
    if metrics.is_empty() && args.resume {
        println!(
            "{}: the run has completed its {} epochs; give a larger --epochs to train on",
            args.out.display(),
            config.epochs
        );
        return Ok(());
    }
    if config.kind == ModelKind::Vae {
        write_run_pictures(&args.out, &local)?;
    }
    println!("run written to {}", args.out.display());
    Ok(())
}

/// `--image-size HxW`.
fn image_size(text: &str) -> std::result::Result<(usize, usize), String> {
    latent_data::domain::parse_size(text)
        .ok_or_else(|| format!("`{text}`: give the height and width, e.g. 32x32"))
}

/// Whether a VAE's test KL is nil: every q(z | x) is the prior, and the decoder ignores z
/// (posterior collapse).
fn collapsed(kind: ModelKind, m: &EpochMetrics) -> bool {
    kind == ModelKind::Vae && m.test_kl.abs() < COLLAPSED_KL
}

/// A test KL below this many nats (summed over the latent dimensions) is a collapse.
const COLLAPSED_KL: f64 = 0.05;

/// What [`collapsed`] tells the user, once a run.
fn collapse_warning(m: &EpochMetrics) -> String {
    format!(
        "warning: epoch {}: the test KL is {:.2} nats: q(z | x) is the prior for every x, and \
         the decoder ignores z (posterior collapse). Saturated tanh units do this with a \
         learned prior (mog:K, vamp:K) or a second stochastic layer; --activation relu avoids \
         it (README, Richer VAEs)",
        m.epoch, m.test_kl
    )
}

/// The line an epoch prints.
fn epoch_line(kind: ModelKind, m: &EpochMetrics) -> String {
    match kind {
        ModelKind::Vae => format!(
            "epoch {:>3}: train loss {:.2}, test −ELBO {:.2} (recon {:.2}, KL {:.2}), {:.0} images/s",
            m.epoch, m.train_loss, m.test_neg_elbo, m.test_reconstruction, m.test_kl, m.samples_per_second
        ),
        ModelKind::Ae => format!(
            "epoch {:>3}: train loss {:.2}, test reconstruction loss {:.2}, {:.0} images/s",
            m.epoch, m.train_loss, m.test_reconstruction, m.samples_per_second
        ),
    }
}

/// "data parallel on 2 devices (flex, flex, 1 thread each): 128 images a step (64 + 64 per
/// device), lr as given".
fn parallel_summary(devices: &[NamedDevice], batch_size: usize) -> String {
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
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    format!(
        "data parallel on {} devices ({}{threads}): {batch_size} images a step ({} per device), \
         lr as given",
        devices.len(),
        names.join(", "),
        shares.join(" + "),
    )
}

/// A server that died can take the sessions of its peers with it (they exchange tensors
/// directly), so the devices that stopped answering may be more than the one at fault; a
/// WebSocket server that no longer accepts connections is that one.
fn name_unreachable_servers(error: TrainError, devices: &[NamedDevice]) -> TrainError {
    match error {
        TrainError::Device {
            device,
            epoch,
            problem,
        } => {
            let gone = unreachable_servers(devices);
            TrainError::Device {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(test_kl: f64) -> EpochMetrics {
        EpochMetrics {
            epoch: 3,
            kl_weight: 1.0,
            lr: 1e-3,
            train_loss: 206.6,
            train_reconstruction: 206.6,
            train_kl: test_kl,
            test_neg_elbo: 206.2,
            test_reconstruction: 206.2,
            test_kl,
            seconds: 10.0,
            samples_per_second: 6000.0,
            exchange_seconds: 0.0,
        }
    }

    /// A VAE whose test KL is nil (the VampPrior's collapse with tanh networks printed KL 0.00
    /// and −0.00) is told once what happened and what avoids it; a KL of a few nats, or an
    /// autoencoder (which has none), is not.
    #[test]
    fn a_nil_kl_is_called_a_posterior_collapse() {
        assert!(collapsed(ModelKind::Vae, &epoch(0.0)));
        assert!(collapsed(ModelKind::Vae, &epoch(-0.004)));
        assert!(!collapsed(ModelKind::Vae, &epoch(0.8)));
        assert!(!collapsed(ModelKind::Vae, &epoch(18.4)));
        assert!(!collapsed(ModelKind::Ae, &epoch(0.0)));
        let told = collapse_warning(&epoch(0.0));
        assert!(
            told.contains("epoch 3") && told.contains("posterior collapse"),
            "{told}"
        );
        assert!(told.contains("--activation relu"), "{told}");
    }
}
