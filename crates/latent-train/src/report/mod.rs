//! The report of a run — `report.html`, one self-contained page, and its pictures in
//! `images/` — for any model with codes, and the report of a transfer study ([`write_transfer_report`]).

mod study;

pub use study::write_transfer_report;

use std::fmt::Display;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use latent_data::Split;
use latent_models::{Codec, LatentVariableModel};
use latent_viz::pca::PrincipalPlane;
use latent_viz::plot::{bar_plot, labelled_grid, line_plot, scatter_plot, Labels, Series};
use latent_viz::report::Report;
use latent_viz::Grid;

use crate::config::{ModelKind, TrainConfig};
use crate::devices::NamedDevice;
use crate::error::Result;
use crate::evaluate::{evaluate_on, EvalConfig, ACTIVE_UNIT_THRESHOLD};
use crate::figures::{
    interpolate, labelled_images, latent_gmm_codes, manifold_codes, reconstructions,
    standard_normal_codes,
};
use crate::load::{load_run, TrainedModel};
use crate::probe::{probe_codes, PROBE_STEPS};
use crate::readback::{values, values_f64};
use crate::run_dir::{EpochMetrics, RunDir};

/// What a run's report draws and estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportConfig {
    /// Test images of the evaluation and the latent-space picture (the first N).
    pub limit: usize,
    /// Importance samples per test image for −log p(x) (VAE runs).
    pub iw_samples: usize,
    /// Also train the linear probe on the codes of [`PROBE_TRAIN_IMAGES`] training images.
    pub probe: bool,
    /// Components of the mixture fitted to an autoencoder's codes, for its second set of
    /// samples.
    pub latent_gmm: usize,
    /// Seed of the samples drawn.
    pub seed: u64,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            limit: 1000,
            iw_samples: 1000,
            probe: false,
            latent_gmm: 10,
            seed: 0,
        }
    }
}

/// Training images of the report's linear probe, and of the mixture fitted to an
/// autoencoder's codes.
pub const PROBE_TRAIN_IMAGES: usize = 10_000;
/// Prior samples drawn for a VAE's report.
const SAMPLES: usize = 64;
/// Columns of the sample grids.
const SAMPLE_COLUMNS: usize = 8;
/// Samples per sampler in an autoencoder's report (two rows of eight each).
const AE_SAMPLES: usize = 16;
/// Images along each interpolation strip.
const STRIP_STEPS: usize = 10;
/// Images per side of a 2-D latent space's manifold figure.
const MANIFOLD_SIDE: usize = 20;
/// Digit classes: the reconstructions show the first test digit of each.
const CLASSES: usize = latent_data::mnist::CLASSES;

/// A report being written: its page, its summary rows and its pictures.
struct Page<'a> {
    run: &'a RunDir,
    images: PathBuf,
    summary: Vec<(String, String)>,
    sections: Vec<(String, PathBuf)>,
}

impl<'a> Page<'a> {
    fn new(run: &'a RunDir) -> Result<Self> {
        Ok(Self {
            run,
            images: run.images()?,
            summary: Vec::new(),
            sections: Vec::new(),
        })
    }

    fn picture(&self, name: &str) -> PathBuf {
        self.images.join(name)
    }

    fn section(&mut self, caption: impl Into<String>, name: &str) {
        self.sections.push((caption.into(), self.picture(name)));
    }

    fn row(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.summary.push((name.into(), value.into()));
    }

    fn write(self) -> Result<PathBuf> {
        let mut report = Report::new(&format!("latent run {}", self.run.path().display()));
        report.heading("Summary").table(&self.summary);
        for (caption, path) in &self.sections {
            report.image(caption, path)?;
        }
        let page = self.run.report_page();
        report.write(&page)?;
        Ok(page)
    }
}

/// Writes the report of the VAE `model` trained in `run` (with configuration `config`):
/// training curves, reconstructions, interpolations, prior samples (and the manifold of a 2-D
/// latent space), the latent space, the importance-sampled evaluation with KL per dimension
/// and unit activity (on `devices`), and the probe if asked for. `log` hears each stage.
pub fn write_vae_report<C: Display, M>(
    run: &RunDir,
    config: &TrainConfig<C>,
    model: &M,
    settings: &ReportConfig,
    devices: &[NamedDevice],
    mut log: impl FnMut(&str),
) -> Result<PathBuf>
where
    M: LatentVariableModel + Module + Sync,
{
    let device = &devices[0].device;
    let mut page = common_sections(run, config, model, settings, device, &mut log)?;
    let d = model.latent_dim();
    device.seed(settings.seed);
    let samples = model.decode_mean(model.sample_prior(SAMPLES, device));
    Grid::mnist(SAMPLE_COLUMNS).write_png(&values(samples)?, &page.picture("samples.png"))?;
    page.section(
        format!("{SAMPLES} samples: z ~ p(z), decoded to pixel means"),
        "samples.png",
    );
    if d == 2 {
        let z = manifold_codes(MANIFOLD_SIDE, device);
        Grid::mnist(MANIFOLD_SIDE).write_png(
            &values(model.decode_mean(z))?,
            &page.picture("manifold.png"),
        )?;
        page.section(
            "The learned manifold: codes Φ⁻¹ of a grid on the unit square",
            "manifold.png",
        );
    }
    latent_section(
        &mut page,
        config,
        model,
        settings,
        "posterior means",
        device,
        &mut log,
    )?;

    log(&format!(
        "estimating −log p(x) on {} test digits with {} importance samples each",
        settings.limit, settings.iw_samples
    ));
    let test = config
        .load_split(Split::Test, None)?
        .truncated(settings.limit);
    let eval = evaluate_on(
        model,
        &test,
        &EvalConfig::with_samples(settings.iw_samples),
        devices,
    )?;
    page.row(
        format!("test ELBO ({} digits)", eval.images),
        format!("{:.2} nats", eval.elbo),
    );
    page.row(
        format!(
            "test −log p(x) (importance sampling, k = {}, {} digits)",
            eval.iw_samples, eval.images
        ),
        format!("{:.2} nats", eval.nll),
    );
    page.row(
        format!("active units (Var_x E_q[z_u] > {ACTIVE_UNIT_THRESHOLD})"),
        format!("{} of {}", eval.active_units, eval.kl_per_dim.len()),
    );
    bar_plot(
        &page.picture("kl-per-dim.png"),
        Labels {
            title: "KL(q(z_u | x) ‖ p(z_u)) per latent dimension",
            x: "latent dimension u",
            y: "nats per image",
        },
        &eval.kl_per_dim,
        None,
    )?;
    page.section("KL per latent dimension", "kl-per-dim.png");
    bar_plot(
        &page.picture("activity.png"),
        Labels {
            title: &format!(
                "Activity Var_x E_q[z_u] per latent dimension (active above {ACTIVE_UNIT_THRESHOLD})"
            ),
            x: "latent dimension u",
            y: "variance",
        },
        &eval.activity,
        Some(ACTIVE_UNIT_THRESHOLD),
    )?;
    page.section("Active and collapsed units", "activity.png");
    probe_row(&mut page, config, model, settings, device, &mut log)?;
    page.write()
}

/// Writes the report of the autoencoder `model` trained in `run`: training curves,
/// reconstructions, interpolations, samples through N(0, I) beside samples through a Gaussian
/// mixture fitted to its training codes, the codes, and the probe if asked for.
pub fn write_autoencoder_report<C: Display, M: Codec>(
    run: &RunDir,
    config: &TrainConfig<C>,
    model: &M,
    settings: &ReportConfig,
    device: &Device,
    mut log: impl FnMut(&str),
) -> Result<PathBuf> {
    let mut page = common_sections(run, config, model, settings, device, &mut log)?;
    log(&format!(
        "fitting a {}-component GMM to the codes of {PROBE_TRAIN_IMAGES} training digits",
        settings.latent_gmm
    ));
    device.seed(settings.seed);
    let prior = standard_normal_codes(AE_SAMPLES, model.latent_dim(), device);
    let gmm = latent_gmm_codes(
        model,
        config,
        settings.latent_gmm,
        PROBE_TRAIN_IMAGES,
        AE_SAMPLES,
        settings.seed,
        device,
    )?;
    let pixels = values(model.decode_mean(Tensor::cat(vec![prior, gmm], 0)))?;
    let gmm_label = format!("latent GMM (K = {})", settings.latent_gmm);
    labelled_grid(
        &page.picture("samples.png"),
        &Grid::mnist(SAMPLE_COLUMNS),
        &pixels,
        &[
            "z ~ N(0, I)".into(),
            "z ~ N(0, I)".into(),
            gmm_label.clone(),
            gmm_label,
        ],
    )?;
    page.section(
        "Autoencoder samples: decoded from z ~ N(0, I) (the latent space has no such \
         structure) and from a GMM fitted to the training codes (ex-post density estimation)",
        "samples.png",
    );
    latent_section(
        &mut page, config, model, settings, "codes", device, &mut log,
    )?;
    probe_row(&mut page, config, model, settings, device, &mut log)?;
    page.write()
}

/// The summary's rows, the training curves, the reconstructions and the interpolations: what
/// every run's report begins with.
fn common_sections<'a, C: Display, M: Codec>(
    run: &'a RunDir,
    config: &TrainConfig<C>,
    model: &M,
    settings: &ReportConfig,
    device: &Device,
    log: &mut impl FnMut(&str),
) -> Result<Page<'a>> {
    let metrics = run.read_metrics()?;
    let mut page = Page::new(run)?;
    page.summary = summary_rows(run, config, &metrics);
    if !metrics.is_empty() {
        log("plotting the training curves");
        curves(&mut page, config, &metrics)?;
    }
    log("drawing reconstructions and interpolations");
    let (test_x, test_labels) = labelled_images(config, Split::Test, Some(settings.limit), device)?;
    let firsts = first_of_each_class(&test_labels);
    let chosen = Tensor::cat(
        firsts
            .iter()
            .map(|&i| test_x.clone().narrow(0, i, 1))
            .collect(),
        0,
    );
    labelled_grid(
        &page.picture("reconstructions.png"),
        &Grid::mnist(firsts.len().max(1)),
        &reconstructions(model, chosen)?,
        &["test digits".into(), "reconstructed".into()],
    )?;
    page.section(
        "Test digits (one per class) above their reconstructions",
        "reconstructions.png",
    );
    // Interpolation between consecutive classes: 0 → 1, 2 → 3, …
    let codes = model.encode(test_x);
    let (strips, labels): (Vec<Tensor<2>>, Vec<String>) = firsts
        .chunks_exact(2)
        .map(|pair| {
            let a = codes.clone().narrow(0, pair[0], 1);
            let b = codes.clone().narrow(0, pair[1], 1);
            (
                interpolate(a, b, STRIP_STEPS),
                format!("{} → {}", test_labels[pair[0]], test_labels[pair[1]]),
            )
        })
        .unzip();
    if !strips.is_empty() {
        labelled_grid(
            &page.picture("interpolations.png"),
            &Grid::mnist(STRIP_STEPS),
            &values(model.decode_mean(Tensor::cat(strips, 0)))?,
            &labels,
        )?;
        page.section(
            "Decoded straight lines between the codes of two test digits",
            "interpolations.png",
        );
    }
    Ok(page)
}

/// The loss curves, the ELBO's terms (a VAE), and the schedules where any changes.
fn curves<C>(page: &mut Page, config: &TrainConfig<C>, metrics: &[EpochMetrics]) -> Result<()> {
    let curve = |value: &dyn Fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        metrics.iter().map(|m| (m.epoch as f64, value(m))).collect()
    };
    let vae = config.kind == ModelKind::Vae;
    let (train_name, test_name) = if vae {
        ("train −ELBO", "test −ELBO")
    } else {
        ("train loss", "test reconstruction loss")
    };
    line_plot(
        &page.picture("curve-loss.png"),
        Labels {
            title: "Loss per epoch (nats per image)",
            x: "epoch",
            y: "nats",
        },
        &[
            Series::new(train_name, curve(&|m| m.train_loss)),
            Series::new(test_name, curve(&|m| m.test_neg_elbo)),
        ],
    )?;
    page.section("Training curves", "curve-loss.png");
    if vae {
        line_plot(
            &page.picture("curve-terms.png"),
            Labels {
                title: "The ELBO's two terms per epoch",
                x: "epoch",
                y: "nats",
            },
            &[
                Series::new("train reconstruction", curve(&|m| m.train_reconstruction)),
                Series::new("test reconstruction", curve(&|m| m.test_reconstruction)),
                Series::new("train KL", curve(&|m| m.train_kl)),
                Series::new("test KL", curve(&|m| m.test_kl)),
            ],
        )?;
        page.section("Reconstruction and KL terms", "curve-terms.png");
    }
    if config.warmup_epochs > 0 || config.optimizer.lr_decay < 1.0 || config.beta != 1.0 {
        line_plot(
            &page.picture("curve-schedule.png"),
            Labels {
                title: "Schedules",
                x: "epoch",
                y: "factor",
            },
            &[
                Series::new("KL weight β", curve(&|m| m.kl_weight)),
                Series::new(
                    "learning rate / initial",
                    curve(&|m| m.lr / config.optimizer.lr),
                ),
            ],
        )?;
        page.section("KL weight and learning rate", "curve-schedule.png");
    }
    Ok(())
}

/// The test digits' codes as a scatter coloured by class: directly for a 2-D latent space,
/// else on their first two principal axes.
fn latent_section<C, M: Codec>(
    page: &mut Page,
    config: &TrainConfig<C>,
    model: &M,
    settings: &ReportConfig,
    what: &str,
    device: &Device,
    log: &mut impl FnMut(&str),
) -> Result<()> {
    log("plotting the latent space");
    let (test_x, test_labels) = labelled_images(config, Split::Test, Some(settings.limit), device)?;
    let d = model.latent_dim();
    let z = values_f64(model.encode(test_x))?;
    let (points, axes): (Vec<(f64, f64)>, _) = if d == 2 {
        (z.chunks(2).map(|p| (p[0], p[1])).collect(), ("z₁", "z₂"))
    } else {
        let plane = PrincipalPlane::fit(&z, d)?;
        (
            z.chunks(d).map(|row| plane.project(row)).collect(),
            ("first principal component", "second principal component"),
        )
    };
    let names: Vec<String> = (0..CLASSES).map(|c| format!("digit {c}")).collect();
    scatter_plot(
        &page.picture("latent.png"),
        Labels {
            title: &format!("Latent {what} of {} test digits", test_labels.len()),
            x: axes.0,
            y: axes.1,
        },
        &points,
        &test_labels,
        &names,
    )?;
    let plane = if d == 2 {
        ""
    } else {
        ", on their first two principal axes"
    };
    page.section(
        format!("The test digits' latent {what}, coloured by class{plane}"),
        "latent.png",
    );
    Ok(())
}

/// The linear probe's row, if asked for.
fn probe_row<C, M: Codec>(
    page: &mut Page,
    config: &TrainConfig<C>,
    model: &M,
    settings: &ReportConfig,
    device: &Device,
    log: &mut impl FnMut(&str),
) -> Result<()> {
    if !settings.probe {
        return Ok(());
    }
    log(&format!(
        "training the linear probe on the codes of {PROBE_TRAIN_IMAGES} training digits"
    ));
    let probe = probe_codes(
        model,
        config,
        Some(PROBE_TRAIN_IMAGES),
        PROBE_STEPS,
        false,
        device,
    )?;
    page.row(
        format!(
            "linear probe on the codes ({} training digits, all test digits)",
            probe.train_images
        ),
        format!("{:.1} % test accuracy", 100.0 * probe.latent.test_accuracy),
    );
    Ok(())
}

/// The first test digit of each class among `labels` (classes that do not occur are left
/// out).
fn first_of_each_class(labels: &[usize]) -> Vec<usize> {
    (0..CLASSES)
        .filter_map(|c| labels.iter().position(|l| *l == c))
        .collect()
}

fn summary_rows<C: Display>(
    run: &RunDir,
    config: &TrainConfig<C>,
    metrics: &[EpochMetrics],
) -> Vec<(String, String)> {
    let kind = match config.kind {
        ModelKind::Vae => "VAE",
        ModelKind::Ae => "autoencoder",
    };
    let seconds: f64 = metrics.iter().map(|m| m.seconds).sum();
    let images_per_second =
        metrics.iter().map(|m| m.samples_per_second).sum::<f64>() / metrics.len().max(1) as f64;
    let optimizer = &config.optimizer;
    let mut rows = vec![
        ("run".to_string(), run.path().display().to_string()),
        ("model".into(), format!("{kind}, {}", config.model)),
        (
            "epochs".into(),
            format!("{} of {}", metrics.len(), config.epochs),
        ),
        (
            "optimiser".into(),
            format!(
                "Adam, lr {} (× {} per epoch), batch {}, weight decay {}",
                optimizer.lr, optimizer.lr_decay, config.batch_size, optimizer.weight_decay
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

/// The report of the run or transfer study in `dir` of the built-in networks, on `devices`
/// (the first does everything but the importance sampling, which they share).
pub fn write_report(
    dir: &Path,
    settings: &ReportConfig,
    devices: &[NamedDevice],
    log: impl FnMut(&str),
) -> Result<PathBuf> {
    let run = RunDir::new(dir);
    let device = &devices[0].device;
    if run.holds_study() {
        let _lock = run.lock()?;
        return write_transfer_report(&run, device);
    }
    // Locked only once it is known to be a run (locking makes the directory).
    let _lock = if run.holds_run() {
        Some(run.lock()?)
    } else {
        None
    };
    match load_run(dir, device)? {
        (config, TrainedModel::Vae(vae)) => {
            write_vae_report(&run, &config, &vae, settings, devices, log)
        }
        (config, TrainedModel::Ae(ae)) => {
            write_autoencoder_report(&run, &config, &ae, settings, device, log)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_representatives() {
        assert_eq!(first_of_each_class(&[3, 1, 3, 0, 1]), vec![3, 1, 0]);
    }
}
