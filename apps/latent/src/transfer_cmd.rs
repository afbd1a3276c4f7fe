//! `latent transfer`: pre-train on a source domain, adapt to a target domain with N images,
//! against training from scratch on the same N images with the same budget.

use std::path::PathBuf;

use anyhow::{bail, Result};
use burn::tensor::Device;
use clap::Args;
use latent_data::default_mnist_dir;
use latent_models::VaeConfig;

use crate::backend::Backend;
use crate::train_cmd::{cpu_replicas, parse_replicas, values, Replicas};
use latent_train::transfer::{run_transfer_on, TargetRuns, TransferConfig, TransferReport};
use latent_train::{ModelKind, TrainConfig};

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Source data spec, e.g. mnist:classes=0-4 or mnist.
    #[arg(long)]
    source: String,
    /// Target data spec, e.g. mnist:classes=5-9 or mnist:rotate=45.
    #[arg(long)]
    target: String,
    /// Target training sizes N, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    target_n: Vec<usize>,
    /// Directory of the study: source/, n{N}-seed{S}/…, transfer.json.
    #[arg(long)]
    out: PathBuf,
    /// Reuse this trained VAE run as the source model instead of training one.
    #[arg(long)]
    source_run: Option<PathBuf>,
    /// Epochs of the source model.
    #[arg(long, default_value_t = 10)]
    source_epochs: usize,
    /// Source training images (the first N of the source domain) [default: all].
    #[arg(long)]
    source_limit: Option<usize>,
    /// Epochs of every target run, scratch and fine-tuned alike (the same steps for both).
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Seeds per target size (seed, seed + 1, …): the table gives their mean and spread.
    #[arg(long, default_value_t = 1)]
    seeds: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Importance samples per target test image for −log p(x).
    #[arg(long, default_value_t = 1000)]
    iw_samples: usize,
    /// Target test images scored (the first N).
    #[arg(long, default_value_t = 1000)]
    eval_limit: usize,
    /// Latent dimension of a source model trained here.
    #[arg(long, default_value_t = 20)]
    latent: usize,
    /// Hidden layer sizes of a source model trained here.
    #[arg(long, value_delimiter = ',', default_value = "400")]
    hidden: Vec<usize>,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// On a CPU backend: CPU replicas for every training run and estimate, as in `latent
    /// train` and `latent eval`.
    #[arg(long, value_name = "N|auto", value_parser = parse_replicas, default_value = "auto")]
    replicas: Replicas,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Directory of the MNIST files [default: datasets/mnist].
    #[arg(long)]
    mnist_dir: Option<PathBuf>,
    /// Print transfer.json on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: TransferArgs, backend: Backend, device: &Device) -> Result<()> {
    let mnist_dir = args.mnist_dir.clone().unwrap_or_else(default_mnist_dir);
    let mnist_dir = std::fs::canonicalize(&mnist_dir).unwrap_or(mnist_dir);
    let base = TrainConfig {
        model: VaeConfig {
            latent: args.latent,
            hidden: args.hidden.clone(),
            ..VaeConfig::default()
        },
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        ..TrainConfig::new(ModelKind::Vae, mnist_dir)
    };
    base.check()?;
    let config = TransferConfig {
        base,
        source: args.source.clone(),
        target: args.target.clone(),
        target_sizes: args.target_n.clone(),
        seeds: args.seeds,
        source_epochs: args.source_epochs,
        source_limit: args.source_limit,
        target_epochs: args.epochs,
        iw_samples: args.iw_samples,
        eval_limit: args.eval_limit,
        probe_limit: 10_000,
        probe_steps: 300,
    };
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let devices = cpu_replicas(backend, device, args.replicas, Some(args.batch_size))?;
    let report = run_transfer_on(
        &config,
        &args.out,
        args.source_run.as_deref(),
        &devices,
        |line| eprintln!("{line}"),
    )?;
    let page = write_report(&args.out, device)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", table(&report));
        println!("report: {}", page.display());
    }
    Ok(())
}

/// Mean and sample standard deviation.
fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The runs of each target size N (all its seeds), in the study's order.
fn runs_by_size(report: &TransferReport) -> Vec<(usize, Vec<&TargetRuns>)> {
    let mut sizes: Vec<usize> = report.runs.iter().map(|r| r.n).collect();
    sizes.dedup();
    sizes
        .into_iter()
        .map(|n| (n, report.runs.iter().filter(|r| r.n == n).collect()))
        .collect()
}

fn table(report: &TransferReport) -> String {
    let mut out = format!(
        "{} → {}: target test −log p(x) (k = {}) and −ELBO, nats, on {} images; {} epochs per target run\n",
        report.source, report.target, report.iw_samples, report.eval_images, report.target_epochs
    );
    out += &format!(
        "source only (no adaptation): −log p(x) {:.2}, −ELBO {:.2}\n",
        report.source_only.nll, -report.source_only.elbo
    );
    out += "     N  seeds   scratch −log p(x)   fine-tuned          decoder-only        (−ELBO: scratch / fine-tuned / decoder-only)\n";
    for (n, rows) in runs_by_size(report) {
        let stat = |f: &dyn Fn(&TargetRuns) -> f64| {
            mean_sd(&rows.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        let cell = |(m, s): (f64, f64)| {
            if rows.len() > 1 {
                format!("{m:8.2} ± {s:<7.2}")
            } else {
                format!("{m:8.2}          ")
            }
        };
        out += &format!(
            "{n:>6}  {:>5}   {}   {}   {}   ({:.2} / {:.2} / {:.2})\n",
            rows.len(),
            cell(stat(&|r| r.scratch.nll)),
            cell(stat(&|r| r.fine_tuned.nll)),
            cell(stat(&|r| r.decoder_only.nll)),
            -stat(&|r| r.scratch.elbo).0,
            -stat(&|r| r.fine_tuned.elbo).0,
            -stat(&|r| r.decoder_only.elbo).0,
        );
    }
    out +=
        "probe on N labelled target images (target test accuracy): source encoder vs raw pixels\n";
    for p in &report.few_label_probes {
        out += &format!(
            "{:>6}  {:.1} % vs {:.1} %\n",
            p.n,
            100.0 * p.source_encoder,
            100.0 * p.pixels
        );
    }
    if report.cross_probes.is_empty() {
        out += "no cross-domain probe: the two domains share no digit class\n";
    }
    for p in &report.cross_probes {
        out += &format!(
            "probe trained on source codes, {} encoder: source test {:.1} %, target test {:.1} %\n",
            p.encoder,
            100.0 * p.source_test,
            100.0 * p.target_test
        );
    }
    out
}

/// `DIR/report.html` of a transfer study and its pictures in `DIR/images/`: the
/// data-efficiency curves, and target test digits above their reconstructions by the source
/// model unadapted and by the fine-tuned model with the largest N.
pub fn write_report(dir: &std::path::Path, device: &Device) -> Result<std::path::PathBuf> {
    use anyhow::Context;
    use burn::data::dataset::Dataset;
    use latent_viz::plot::{labelled_grid, line_plot, Labels, Series};
    use latent_viz::report::Report;

    let path = dir.join("transfer.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let study: TransferReport = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a transfer study", path.display()))?;
    let images = dir.join("images");
    std::fs::create_dir_all(&images)
        .with_context(|| format!("cannot create {}", images.display()))?;

    let by_size = runs_by_size(&study);
    let sizes: Vec<usize> = by_size.iter().map(|(n, _)| *n).collect();
    let curve = |f: &dyn Fn(&TargetRuns) -> f64| -> Vec<(f64, f64)> {
        by_size
            .iter()
            .map(|(n, rows)| {
                let values: Vec<f64> = rows.iter().map(|r| f(r)).collect();
                ((*n as f64).log10(), mean_sd(&values).0)
            })
            .collect()
    };
    let span = |y: f64| -> Vec<(f64, f64)> {
        let lo = sizes.first().map_or(0.0, |n| (*n as f64).log10());
        let hi = sizes.last().map_or(1.0, |n| (*n as f64).log10());
        vec![(lo, y), (hi, y)]
    };
    let curves = images.join("transfer-nll.png");
    line_plot(
        &curves,
        Labels {
            title: &format!("{} → {}: target test −log p(x)", study.source, study.target),
            x: "log10 N (target training images)",
            y: "nats per image",
        },
        &[
            Series::new("scratch", curve(&|r| r.scratch.nll)),
            Series::new("fine-tuned", curve(&|r| r.fine_tuned.nll)),
            Series::new("decoder-only", curve(&|r| r.decoder_only.nll)),
            Series::new("source only", span(study.source_only.nll)),
        ],
    )?;

    // Reconstructions of target test digits by the unadapted and the adapted model.
    let (_, source) = latent_train::load_vae(&study.source_run, device)?;
    let largest = sizes.last().copied().unwrap_or(0);
    let seed = study.runs.first().map_or(0, |r| r.seed);
    let tuned_dir = dir.join(format!("n{largest}-seed{seed}/fine-tuned"));
    let (config, tuned) = latent_train::load_vae(&tuned_dir, device)?;
    let test = config
        .load_split(latent_data::Split::Test, None)?
        .truncated(10);
    let x = latent_data::MnistBatcher::grey().images(&test, 0..test.len(), device);
    let decode = |vae: &latent_models::Vae| values(vae.decode_mean(vae.posterior(x.clone()).mean));
    let mut pixels = values(x.clone())?;
    pixels.extend(decode(&source)?);
    pixels.extend(decode(&tuned)?);
    let grid = images.join("transfer-reconstructions.png");
    labelled_grid(
        &grid,
        &latent_viz::Grid::mnist(test.len().max(1)),
        &pixels,
        &[
            "target digits".into(),
            "source only".into(),
            format!("fine-tuned, N = {largest}"),
        ],
    )?;

    let mut report = Report::new(&format!("Transfer: {} → {}", study.source, study.target));
    report.heading("Summary").paragraph(&table(&study));
    report.image(
        "Target test −log p(x) against the number of target training images (mean over seeds)",
        &curves,
    )?;
    report.image(
        "Target test digits, reconstructed by the source model unadapted and by the fine-tuned one",
        &grid,
    )?;
    let page = dir.join("report.html");
    report.write(&page)?;
    Ok(page)
}
