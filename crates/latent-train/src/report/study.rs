//! The report of a transfer study: the data-efficiency curves and target test digits
//! reconstructed before and after adaptation.

use std::path::PathBuf;

use crate::figures::image_grid;
use burn::tensor::Device;
use latent_data::Split;
use latent_viz::plot::{labelled_grid, line_plot, Labels, Series};
use latent_viz::report::Report;

use crate::error::Result;
use crate::load::load_vae;
use crate::readback::values;
use crate::run_dir::RunDir;
use crate::transfer::{largest_fine_tuned, mean_sd, TargetRuns, TransferReport, ARMS};

/// Target test digits shown in a study's report.
const STUDY_DIGITS: usize = 10;

/// `report.html` of the transfer study in `study`, and its pictures in `images/`: the
/// data-efficiency curves, and target test digits above their reconstructions by the source
/// model unadapted and by the fine-tuned model of the largest N (see [`largest_fine_tuned`]).
pub fn write_transfer_report(study: &RunDir, device: &Device) -> Result<PathBuf> {
    let report: TransferReport = study.read_transfer()?;
    let images = study.images()?;
    let by_size = report.by_size();
    let log_sizes: Vec<f64> = by_size.iter().map(|(n, _)| (*n as f64).log10()).collect();
    let curve = |f: &dyn Fn(&TargetRuns) -> f64| -> Vec<(f64, f64)> {
        by_size
            .iter()
            .zip(&log_sizes)
            .map(|((_, rows), x)| {
                let values: Vec<f64> = rows.iter().map(|r| f(r)).collect();
                (*x, mean_sd(&values).0)
            })
            .collect()
    };
    let lo = log_sizes.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = log_sizes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let span = |y: f64| vec![(lo, y), (hi, y)];
    let curves = images.join("transfer-nll.png");
    line_plot(
        &curves,
        Labels {
            title: &format!(
                "{} → {}: target test −log p(x)",
                report.source, report.target
            ),
            x: "log10 N (target training images)",
            y: "nats per image",
        },
        &[
            Series::new("scratch", curve(&|r| r.scratch.nll)),
            Series::new("fine-tuned", curve(&|r| r.fine_tuned.nll)),
            Series::new("decoder-only", curve(&|r| r.decoder_only.nll)),
            Series::new("source only", span(report.source_only.nll)),
        ],
    )?;

    // Reconstructions of target test digits by the unadapted and the adapted model.
    let (_, source) = load_vae(&report.source_run, device)?;
    let (largest, seed) = largest_fine_tuned(&report.runs).unwrap_or((0, 0));
    let (config, tuned) = load_vae(study.study_member(largest, seed, ARMS[1]).path(), device)?;
    let test = config
        .load_split(Split::Test, None)?
        .truncated(STUDY_DIGITS);
    let inputs = config.inputs();
    let x = inputs.plain().images(&test, 0..test.len(), device);
    let decode = |vae: &latent_models::Vae| values(vae.decode_mean(vae.posterior(x.clone()).mean));
    let mut pixels = values(x.clone())?;
    pixels.extend(decode(&source)?);
    pixels.extend(decode(&tuned)?);
    inputs.to_data_units(&mut pixels);
    // Vector data have no pictures to show.
    let grid = match image_grid(config.example_shape(), test.len().max(1)) {
        Some(layout) => {
            let grid = images.join("transfer-reconstructions.png");
            labelled_grid(
                &grid,
                &layout,
                &pixels,
                &[
                    "target test data".into(),
                    "source only".into(),
                    format!("fine-tuned, N = {largest}"),
                ],
            )?;
            Some(grid)
        }
        None => None,
    };

    let mut page = Report::new(&format!("Transfer: {} → {}", report.source, report.target));
    page.heading("Summary").paragraph(&report.table());
    page.image(
        "Target test −log p(x) against the number of target training images (mean over seeds)",
        &curves,
    )?;
    if let Some(grid) = grid {
        page.image(
            "Target test data, reconstructed by the source model unadapted and by the fine-tuned one",
            &grid,
        )?;
    }
    let path = study.report_page();
    page.write(&path)?;
    Ok(path)
}
