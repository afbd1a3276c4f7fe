//! The page of a run's report: its summary rows, its pictures in order, and the training
//! curves every report begins with.

use std::fmt::Display;
use std::path::PathBuf;

use latent_viz::plot::{line_plot, Labels, Series};
use latent_viz::report::Report;

use crate::config::{ModelKind, TrainConfig};
use crate::error::Result;
use crate::run_dir::{EpochMetrics, RunDir};

/// A report being written: its page, its summary rows and its pictures.
pub(super) struct Page<'a> {
    run: &'a RunDir,
    images: PathBuf,
    pub(super) summary: Vec<(String, String)>,
    sections: Vec<(String, PathBuf)>,
}

impl<'a> Page<'a> {
    pub(super) fn new(run: &'a RunDir) -> Result<Self> {
        Ok(Self {
            run,
            images: run.images()?,
            summary: Vec::new(),
            sections: Vec::new(),
        })
    }

    pub(super) fn picture(&self, name: &str) -> PathBuf {
        self.images.join(name)
    }

    pub(super) fn section(&mut self, caption: impl Into<String>, name: &str) {
        self.sections.push((caption.into(), self.picture(name)));
    }

    pub(super) fn row(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.summary.push((name.into(), value.into()));
    }

    pub(super) fn write(self) -> Result<PathBuf> {
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

/// The loss curves, the ELBO's terms (a VAE), and the schedules where any changes.
pub(super) fn curves<C>(
    page: &mut Page,
    config: &TrainConfig<C>,
    metrics: &[EpochMetrics],
) -> Result<()> {
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

/// The summary table's rows: the run, its model, epochs, optimiser, objective, seed, time
/// and last test figure.
pub(super) fn summary_rows<C: Display>(
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
