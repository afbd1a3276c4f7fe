//! `latent report --run DIR`: the pictures that explain a run, written to `DIR/images/`, and
//! `DIR/report.html`, one self-contained page that embeds them beside a summary table.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::{Device, Distribution as Noise, Tensor, TensorData};
use clap::Args;
use latent_data::Split;
use latent_train::{evaluate_on, load_run, EpochMetrics, ModelKind, TrainConfig, TrainedModel};
use latent_viz::pca::PrincipalPlane;
use latent_viz::plot::{bar_plot, labelled_grid, line_plot, scatter_plot, Labels, Series};
use latent_viz::report::Report;
use latent_viz::Grid;

use crate::backend::Backend;
use crate::train_cmd::{
    cpu_replicas, digits_and_labels, encode_decode, latent_gmm_codes, manifold_codes,
    reconstructions, values, Replicas,
};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory written by `latent train`, or a study directory written by
    /// `latent transfer`.
    #[arg(long)]
    run: PathBuf,
    /// Test digits used for the evaluation and the latent-space picture (the first N).
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    /// Importance samples per test digit for the −log p(x) estimate (VAE runs).
    #[arg(long, default_value_t = 1000)]
    iw_samples: usize,
    /// Also train the linear probe on the latent codes of 10,000 training digits.
    #[arg(long)]
    probe: bool,
    /// Components of the GMM fitted to an autoencoder's codes, for its second set of samples.
    #[arg(long, default_value_t = 10)]
    latent_gmm: usize,
    /// Seed for the samples drawn in the pictures.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The per-epoch lines of `metrics.jsonl`.
fn read_metrics(run: &Path) -> Result<Vec<EpochMetrics>> {
    let path = run.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{}, line {}: not a metrics line", path.display(), i + 1))
        })
        .collect()
}

fn curve(metrics: &[EpochMetrics], value: impl Fn(&EpochMetrics) -> f64) -> Vec<(f64, f64)> {
    metrics.iter().map(|m| (m.epoch as f64, value(m))).collect()
}

/// The first test digit of each class 0–9 among `labels` (classes that do not occur are left
/// out).
fn first_of_each_class(labels: &[usize]) -> Vec<usize> {
    (0..10)
        .filter_map(|c| labels.iter().position(|l| *l == c))
        .collect()
}

pub fn run_report(args: ReportArgs, backend: Backend, device: &Device) -> Result<()> {
    if args.limit == 0 {
        bail!("--limit must be at least 1");
    }
    if args.iw_samples == 0 {
        bail!("--iw-samples must be at least 1");
    }
    if !args.run.join("config.json").exists() && args.run.join("transfer.json").exists() {
        let page = crate::transfer_cmd::write_report(&args.run, device)?;
        println!("wrote {}", page.display());
        return Ok(());
    }
    let (config, model) = load_run(&args.run, device)?;
    let metrics = read_metrics(&args.run)?;
    let images = args.run.join("images");
    std::fs::create_dir_all(&images)
        .with_context(|| format!("cannot create {}", images.display()))?;
    let picture = |name: &str| images.join(name);
    let mut report = Report::new(&format!("latent run {}", args.run.display()));
    let mut summary = summary_rows(&args.run, &config, &metrics);
    let mut sections: Vec<(String, PathBuf)> = Vec::new();

    // Training curves.
    eprintln!("plotting the training curves");
    let vae = config.kind == ModelKind::Vae;
    let (train_name, test_name) = if vae {
        ("train −ELBO", "test −ELBO")
    } else {
        ("train loss", "test reconstruction loss")
    };
    line_plot(
        &picture("curve-loss.png"),
        Labels {
            title: "Loss per epoch (nats per image)",
            x: "epoch",
            y: "nats",
        },
        &[
            Series::new(train_name, curve(&metrics, |m| m.train_loss)),
            Series::new(test_name, curve(&metrics, |m| m.test_neg_elbo)),
        ],
    )?;
    sections.push(("Training curves".into(), picture("curve-loss.png")));
    if vae {
        line_plot(
            &picture("curve-terms.png"),
            Labels {
                title: "The ELBO's two terms per epoch",
                x: "epoch",
                y: "nats",
            },
            &[
                Series::new(
                    "train reconstruction",
                    curve(&metrics, |m| m.train_reconstruction),
                ),
                Series::new(
                    "test reconstruction",
                    curve(&metrics, |m| m.test_reconstruction),
                ),
                Series::new("train KL", curve(&metrics, |m| m.train_kl)),
                Series::new("test KL", curve(&metrics, |m| m.test_kl)),
            ],
        )?;
        sections.push((
            "Reconstruction and KL terms".into(),
            picture("curve-terms.png"),
        ));
    }
    if config.warmup_epochs > 0 || config.lr_decay < 1.0 || config.beta != 1.0 {
        line_plot(
            &picture("curve-schedule.png"),
            Labels {
                title: "Schedules",
                x: "epoch",
                y: "factor",
            },
            &[
                Series::new("KL weight β", curve(&metrics, |m| m.kl_weight)),
                Series::new(
                    "learning rate / initial",
                    curve(&metrics, |m| m.lr / config.lr),
                ),
            ],
        )?;
        sections.push((
            "KL weight and learning rate".into(),
            picture("curve-schedule.png"),
        ));
    }

    // Pictures of the model.
    eprintln!("drawing samples, reconstructions and interpolations");
    let (test_x, test_labels) = digits_and_labels(&config, Split::Test, Some(args.limit), device)?;
    let firsts = first_of_each_class(&test_labels);
    let columns = firsts.len().max(1);
    let both = reconstructions(&model, &config, &firsts, device)?;
    labelled_grid(
        &picture("reconstructions.png"),
        &Grid::mnist(columns),
        &both,
        &["test digits".into(), "reconstructed".into()],
    )?;
    sections.push((
        "Test digits (one per class) above their reconstructions".into(),
        picture("reconstructions.png"),
    ));
    let (codes, decode) = encode_decode(&model, test_x);
    let d = codes.dims()[1];
    // Interpolation between consecutive classes: 0 → 1, 2 → 3, …
    const STEPS: usize = 10;
    let mut strips = Vec::new();
    let mut strip_labels = Vec::new();
    for pair in firsts.chunks_exact(2) {
        let a = codes.clone().narrow(0, pair[0], 1);
        let b = codes.clone().narrow(0, pair[1], 1);
        for i in 0..STEPS {
            let t = i as f64 / (STEPS - 1) as f64;
            strips.push(a.clone().mul_scalar(1.0 - t) + b.clone().mul_scalar(t));
        }
        strip_labels.push(format!(
            "{} → {}",
            test_labels[pair[0]], test_labels[pair[1]]
        ));
    }
    if !strips.is_empty() {
        labelled_grid(
            &picture("interpolations.png"),
            &Grid::mnist(STEPS),
            &values(decode(Tensor::cat(strips, 0)))?,
            &strip_labels,
        )?;
        sections.push((
            "Decoded straight lines between the codes of two test digits".into(),
            picture("interpolations.png"),
        ));
    }
    device.seed(args.seed);
    match &model {
        TrainedModel::Vae(vae) => {
            let z = Tensor::<2>::random([64, d], Noise::Normal(0.0, 1.0), device);
            Grid::mnist(8).write_png(&values(vae.decode_mean(z))?, &picture("samples.png"))?;
            sections.push((
                "64 samples: z ~ N(0, I), decoded to pixel means".into(),
                picture("samples.png"),
            ));
            if d == 2 {
                let side = 20;
                let z = Tensor::<2>::from_data(
                    TensorData::new(manifold_codes(side), [side * side, 2]),
                    device,
                );
                Grid::mnist(side)
                    .write_png(&values(vae.decode_mean(z))?, &picture("manifold.png"))?;
                sections.push((
                    "The learned manifold: codes Φ⁻¹ of a grid on the unit square".into(),
                    picture("manifold.png"),
                ));
            }
        }
        TrainedModel::Ae(ae) => {
            eprintln!(
                "fitting a {}-component GMM to the codes of 10,000 training digits",
                args.latent_gmm
            );
            let prior = Tensor::<2>::random([16, d], Noise::Normal(0.0, 1.0), device);
            let gmm =
                latent_gmm_codes(ae, &config, args.latent_gmm, 10_000, 16, args.seed, device)?;
            let pixels = values(ae.decode_mean(Tensor::cat(vec![prior, gmm], 0)))?;
            let gmm_label = format!("latent GMM (K = {})", args.latent_gmm);
            labelled_grid(
                &picture("samples.png"),
                &Grid::mnist(8),
                &pixels,
                &[
                    "z ~ N(0, I)".into(),
                    "z ~ N(0, I)".into(),
                    gmm_label.clone(),
                    gmm_label,
                ],
            )?;
            sections.push((
                "Autoencoder samples: decoded from z ~ N(0, I) (the latent space has no such \
                 structure) and from a GMM fitted to the training codes (ex-post density \
                 estimation)"
                    .into(),
                picture("samples.png"),
            ));
        }
    }

    // The latent space.
    eprintln!("plotting the latent space");
    let z = values(codes)?;
    let (points, axes): (Vec<(f64, f64)>, _) = if d == 2 {
        (
            z.chunks(2).map(|p| (p[0] as f64, p[1] as f64)).collect(),
            ("z₁", "z₂"),
        )
    } else {
        let data: Vec<f64> = z.iter().map(|v| *v as f64).collect();
        let plane = PrincipalPlane::fit(&data, d)?;
        (
            data.chunks(d).map(|row| plane.project(row)).collect(),
            ("first principal component", "second principal component"),
        )
    };
    let what = if vae { "posterior means" } else { "codes" };
    let names: Vec<String> = (0..10).map(|c| format!("digit {c}")).collect();
    scatter_plot(
        &picture("latent.png"),
        Labels {
            title: &format!("Latent {what} of {} test digits", test_labels.len()),
            x: axes.0,
            y: axes.1,
        },
        &points,
        &test_labels,
        &names,
    )?;
    sections.push((
        format!(
            "The test digits' latent {what}, coloured by class{}",
            if d == 2 {
                ""
            } else {
                ", on their first two principal axes"
            }
        ),
        picture("latent.png"),
    ));

    if let TrainedModel::Vae(vae_model) = &model {
        eprintln!(
            "estimating −log p(x) on {} test digits with {} importance samples each",
            test_labels.len(),
            args.iw_samples
        );
        let test = config.load_split(Split::Test, None)?.truncated(args.limit);
        // One importance-sampling worker per CPU thread, as `latent eval` does by default.
        let workers = cpu_replicas(backend, device, Replicas::Auto, None)?;
        let eval = evaluate_on(
            vae_model,
            &test,
            args.iw_samples,
            latent_train::DEFAULT_IW_CHUNK,
            100,
            &workers,
        )?;
        summary.push((
            format!("test ELBO ({} digits)", eval.images),
            format!("{:.2} nats", eval.elbo),
        ));
        summary.push((
            format!(
                "test −log p(x) (importance sampling, k = {}, {} digits)",
                eval.iw_samples, eval.images
            ),
            format!("{:.2} nats", eval.nll),
        ));
        summary.push((
            format!(
                "active units (Var_x E_q[z_u] > {})",
                latent_train::ACTIVE_UNIT_THRESHOLD
            ),
            format!("{} of {}", eval.active_units, eval.kl_per_dim.len()),
        ));
        bar_plot(
            &picture("kl-per-dim.png"),
            Labels {
                title: "KL(q(z_u | x) ‖ p(z_u)) per latent dimension",
                x: "latent dimension u",
                y: "nats per image",
            },
            &eval.kl_per_dim,
            None,
        )?;
        sections.push(("KL per latent dimension".into(), picture("kl-per-dim.png")));
        bar_plot(
            &picture("activity.png"),
            Labels {
                title: &format!(
                    "Activity Var_x E_q[z_u] per latent dimension (active above {})",
                    latent_train::ACTIVE_UNIT_THRESHOLD
                ),
                x: "latent dimension u",
                y: "variance",
            },
            &eval.activity,
            Some(latent_train::ACTIVE_UNIT_THRESHOLD),
        )?;
        sections.push(("Active and collapsed units".into(), picture("activity.png")));
    }

    if args.probe {
        eprintln!("training the linear probe on the codes of 10,000 training digits");
        let (train_x, train_y) = digits_and_labels(&config, Split::Train, Some(10_000), device)?;
        let (test_x, test_y) = digits_and_labels(&config, Split::Test, None, device)?;
        let (train_z, _) = encode_decode(&model, train_x);
        let (test_z, _) = encode_decode(&model, test_x);
        let probe = latent_train::linear_probe(train_z, &train_y, test_z, &test_y, 10, 300);
        summary.push((
            "linear probe on the codes (10,000 training digits, all test digits)".into(),
            format!("{:.1} % test accuracy", 100.0 * probe.test_accuracy),
        ));
    }

    report.heading("Summary").table(&summary);
    for (caption, path) in &sections {
        report.image(caption, path)?;
    }
    let page = args.run.join("report.html");
    report.write(&page)?;
    println!(
        "wrote {} and its pictures in {}",
        page.display(),
        images.display()
    );
    Ok(())
}

fn summary_rows(
    run: &Path,
    config: &TrainConfig,
    metrics: &[EpochMetrics],
) -> Vec<(String, String)> {
    let model = &config.model;
    let kind = match config.kind {
        ModelKind::Vae => "VAE",
        ModelKind::Ae => "autoencoder",
    };
    let seconds: f64 = metrics.iter().map(|m| m.seconds).sum();
    let images_per_second =
        metrics.iter().map(|m| m.samples_per_second).sum::<f64>() / metrics.len().max(1) as f64;
    let mut rows = vec![
        ("run".to_string(), run.display().to_string()),
        (
            "model".into(),
            format!(
                "{kind}, {:?} {:?} network, hidden {:?}, latent {}, {:?} decoder",
                model.architecture, model.activation, model.hidden, model.latent, model.likelihood
            ),
        ),
        (
            "epochs".into(),
            format!("{} of {}", metrics.len(), config.epochs),
        ),
        (
            "optimiser".into(),
            format!(
                "Adam, lr {} (× {} per epoch), batch {}, weight decay {}",
                config.lr, config.lr_decay, config.batch_size, config.weight_decay
            ),
        ),
        (
            "objective".into(),
            if config.iwae_samples > 1 {
                format!("IWAE bound, k = {}", config.iwae_samples)
            } else {
                format!(
                    "ELBO, β = {}, warm-up {} epochs",
                    config.beta, config.warmup_epochs
                )
            },
        ),
        ("seed".into(), config.seed.to_string()),
        (
            "training time".into(),
            format!("{seconds:.0} s ({images_per_second:.0} images/s on average)"),
        ),
    ];
    if let Some(last) = metrics.last() {
        let name = match config.kind {
            ModelKind::Vae => "last epoch's test −ELBO",
            ModelKind::Ae => "last epoch's test reconstruction loss",
        };
        rows.push((name.into(), format!("{:.2} nats", last.test_neg_elbo)));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_representatives() {
        assert_eq!(first_of_each_class(&[3, 1, 3, 0, 1]), vec![3, 1, 0]);
    }
}
