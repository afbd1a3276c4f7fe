//! `latent gmm …` and `latent bmm …`: fit, score, predict, sample and select mixtures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::data::dataset::Dataset;
use burn::tensor::{Device, Tensor};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use latent_data::mnist::PIXELS;
use latent_data::{default_mnist_dir, MnistBatcher, Points};
use latent_models::{
    Bmm, BmmConfig, CovarianceType, EmProgress, Gmm, GmmConfig, InitMethod, Mixture,
};
use latent_viz::pca::PrincipalPlane;
use latent_viz::plot::{Ellipse, Labels};
use latent_viz::Grid;
use serde_json::json;

use crate::train_cmd::values;

/// Where points come from: a .csv / .npy file, or MNIST pixels.
#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// FILE.csv, FILE.npy, or `mnist` / `mnist:train` / `mnist:test` (784 pixels per image),
    /// optionally shifted: e.g. mnist:test:rotate=45, mnist:classes=5-9 (see `latent train --help`).
    #[arg(long)]
    data: String,
    /// Keep only the first N points.
    #[arg(long)]
    limit: Option<usize>,
    /// Directory of the MNIST files [default: datasets/mnist].
    #[arg(long)]
    mnist_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CovarianceArg {
    Full,
    Tied,
    Diag,
    Spherical,
}

impl From<CovarianceArg> for CovarianceType {
    fn from(c: CovarianceArg) -> Self {
        match c {
            CovarianceArg::Full => CovarianceType::Full,
            CovarianceArg::Tied => CovarianceType::Tied,
            CovarianceArg::Diag => CovarianceType::Diag,
            CovarianceArg::Spherical => CovarianceType::Spherical,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InitArg {
    Kmeans,
    #[value(name = "kmeans++")]
    KmeansPlusPlus,
    Random,
    RandomFromData,
}

impl From<InitArg> for InitMethod {
    fn from(i: InitArg) -> Self {
        match i {
            InitArg::Kmeans => InitMethod::Kmeans,
            InitArg::KmeansPlusPlus => InitMethod::KmeansPlusPlus,
            InitArg::Random => InitMethod::Random,
            InitArg::RandomFromData => InitMethod::RandomFromData,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum GmmCommand {
    /// Fit a Gaussian mixture by EM and save it as JSON.
    Fit(GmmFitArgs),
    /// Held-out mean log-likelihood (and BIC/AIC) of data under a saved model.
    Score {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Most probable component of each point (or all posterior probabilities), as CSV.
    Predict {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Write the posterior probabilities of every component instead of labels.
        #[arg(long)]
        proba: bool,
        /// Output CSV file [default: stdout].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Draw points from a saved model.
    Sample(SampleArgs),
    /// Fit K = a..b components and pick the best by BIC or AIC.
    Select(GmmSelectArgs),
    /// Picture a model with data: points coloured by most probable component, 1σ and 2σ
    /// ellipses, log-density contours. 2-D data are drawn as they are; higher-dimensional data
    /// on their first two principal axes (with the model's marginal density on that plane).
    Plot {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Output PNG.
        #[arg(long, short)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct EmArgs {
    /// Number of mixture components K.
    #[arg(long, short = 'k')]
    components: usize,
    /// Initialisation.
    #[arg(long, value_enum, default_value = "kmeans")]
    init: InitArg,
    /// EM restarts from different initialisations; the best is kept.
    #[arg(long, default_value_t = 1)]
    restarts: usize,
    /// Maximum EM iterations per restart.
    #[arg(long, default_value_t = 100)]
    max_iter: usize,
    /// Convergence threshold on the change of the mean log-likelihood.
    #[arg(long, default_value_t = 1e-3)]
    tol: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Debug, Args)]
pub struct GmmFitArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    em: EmArgs,
    /// Covariance shape.
    #[arg(long, value_enum, default_value = "full")]
    covariance: CovarianceArg,
    /// Added to covariance diagonals for numerical stability.
    #[arg(long, default_value_t = 1e-6)]
    reg_covar: f64,
    /// Where to write the fitted model (JSON).
    #[arg(long)]
    out: PathBuf,
    /// Print one JSON object with the fit's figures on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    #[arg(long)]
    model: PathBuf,
    /// Number of points.
    #[arg(long, short)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output: .csv, .npy, or (for 784-dimensional models) .png for an image grid.
    #[arg(long, short)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct GmmSelectArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Range of K to try, `A..B` (inclusive) or a single number.
    #[arg(long, default_value = "1..10")]
    components: String,
    /// Covariance shapes to try (repeat the flag); default: all four.
    #[arg(long, value_enum)]
    covariance: Vec<CovarianceArg>,
    /// Criterion to minimise.
    #[arg(long, value_enum, default_value = "bic")]
    criterion: Criterion,
    #[arg(long, default_value_t = 1)]
    restarts: usize,
    #[arg(long, default_value_t = 1e-6)]
    reg_covar: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Criterion {
    Bic,
    Aic,
}

#[derive(Debug, Subcommand)]
pub enum BmmCommand {
    /// Fit a Bernoulli mixture to binary data (MNIST is binarised with a fixed seed) by EM;
    /// for 784-pixel data also writes PNG grids of the component means and of samples.
    Fit(BmmFitArgs),
    /// Mean log-likelihood per point (nats) of binary data under a saved model.
    Score {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Seed of MNIST's fixed binarisation.
        #[arg(long, default_value_t = 0)]
        binarize_seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Draw binary points from a saved model (.csv, .npy, or .png grid for 784 pixels).
    Sample(SampleArgs),
}

#[derive(Debug, Args)]
pub struct BmmFitArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    em: EmArgs,
    /// Beta smoothing pseudo-count of the pixel probabilities.
    #[arg(long, default_value_t = 0.01)]
    smoothing: f64,
    /// Seed of MNIST's fixed binarisation.
    #[arg(long, default_value_t = 0)]
    binarize_seed: u64,
    /// Where to write the fitted model (JSON).
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

/// Loads the points named by `args` onto `device`. `binarize` applies MNIST's fixed
/// binarisation with that seed (files are taken as they are).
fn load(args: &DataArgs, binarize: Option<u64>, device: &Device) -> Result<Tensor<2>> {
    if let Some((split, domain)) = latent_data::domain::parse_source(&args.data)? {
        let dir = args.mnist_dir.clone().unwrap_or_else(default_mnist_dir);
        let data = domain
            .load(&dir, split, args.limit)
            .with_context(|| format!("loading MNIST from {}", dir.display()))?;
        let batcher = match binarize {
            Some(seed) => MnistBatcher::fixed(seed),
            None => MnistBatcher::grey(),
        };
        return Ok(batcher.images(&data, 0..data.len(), device));
    }
    let path = Path::new(&args.data);
    let points = latent_data::read_points(path)?;
    let points = match args.limit {
        Some(limit) if limit > points.len() => {
            bail!(
                "--limit {limit} but {} has only {} points",
                path.display(),
                points.len()
            )
        }
        Some(limit) => Points::new(
            limit,
            points.dim(),
            points.values()[..limit * points.dim()].to_vec(),
        )?,
        None => points,
    };
    Ok(points.to_tensor(device))
}

/// Runs an EM fit with a progress bar over its iterations on stderr (hidden when stderr is
/// not a terminal) and returns the model with the seconds it took.
fn timed_em<T>(
    em: &EmArgs,
    fit: impl FnOnce(&mut dyn FnMut(EmProgress)) -> latent_models::Result<T>,
) -> Result<(T, f64)> {
    let bar = ProgressBar::new((em.restarts * em.max_iter) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} EM restart {prefix} [{bar:30}] {pos}/{len} iterations, {msg} ({elapsed})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let model = fit(&mut |p: EmProgress| {
        bar.set_prefix((p.restart + 1).to_string());
        bar.set_position((p.restart * em.max_iter + p.iteration) as u64);
        bar.set_message(format!("mean log-likelihood {:.4}", p.lower_bound));
    })?;
    bar.finish_and_clear();
    Ok((model, start.elapsed().as_secs_f64()))
}

pub fn run_gmm(cmd: GmmCommand, device: &Device) -> Result<()> {
    match cmd {
        GmmCommand::Fit(args) => gmm_fit(args, device),
        GmmCommand::Score { model, data, json } => {
            let x = load(&data, None, device)?;
            print_figures(&score_figures(&Gmm::load(&model)?, &x)?, json);
            Ok(())
        }
        GmmCommand::Predict {
            model,
            data,
            proba,
            out,
        } => {
            let gmm = Gmm::load(&model)?;
            let x = load(&data, None, device)?;
            let text = if proba {
                let values: Vec<f32> = values(gmm.predict_proba(&x)?)?;
                values
                    .chunks(gmm.n_components())
                    .map(|row| {
                        row.iter()
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                            + "\n"
                    })
                    .collect::<String>()
            } else {
                let labels = predicted_components(&gmm, &x)?;
                labels.iter().map(|l| format!("{l}\n")).collect()
            };
            write_or_print(out.as_deref(), &text)
        }
        GmmCommand::Sample(args) => {
            let gmm = Gmm::load(&args.model)?;
            let (points, _) = gmm.sample(args.n, args.seed)?;
            write_samples(&points, &args.out)
        }
        GmmCommand::Select(args) => gmm_select(args, device),
        GmmCommand::Plot { model, data, out } => gmm_plot(&model, &data, &out, device),
    }
}

/// Each point's most probable component.
fn predicted_components(gmm: &Gmm, x: &Tensor<2>) -> Result<Vec<usize>> {
    Ok(gmm
        .predict(x)?
        .try_into_vec_as::<i64>()
        .map_err(|e| anyhow::anyhow!("reading labels back: {e:?}"))?
        .into_iter()
        .map(|l| l as usize)
        .collect())
}

/// The plane a GMM plot is drawn on: the coordinate plane for 2-D data, otherwise the data's
/// first two principal axes.
fn plot_plane(data: &[f64], d: usize) -> Result<PrincipalPlane> {
    if d == 2 {
        return Ok(PrincipalPlane {
            mean: vec![0.0, 0.0],
            axes: [vec![1.0, 0.0], vec![0.0, 1.0]],
            variances: [f64::NAN, f64::NAN],
        });
    }
    Ok(PrincipalPlane::fit(data, d)?)
}

/// The model's components seen on `plane`: the mixture's marginal there is the mixture of
/// the projected Gaussians N(Pμ_k, PΣ_kPᵀ).
fn projected_components(gmm: &Gmm, plane: &PrincipalPlane) -> Vec<Ellipse> {
    (0..gmm.n_components())
        .map(|k| Ellipse {
            centre: plane.project(&gmm.means[k]),
            covariance: plane.project_covariance(&gmm.covariance_matrix(k)),
            class: k,
        })
        .collect()
}

/// log Σ_k α_k N((u, v); c_k, S_k), in f64, by log-sum-exp.
fn plane_log_density(weights: &[f64], components: &[Ellipse], (u, v): (f64, f64)) -> f64 {
    let terms: Vec<f64> = weights
        .iter()
        .zip(components)
        .map(|(w, e)| {
            let [[a, b], [_, c]] = e.covariance;
            let det = a * c - b * b;
            let (du, dv) = (u - e.centre.0, v - e.centre.1);
            let mahalanobis = (c * du * du - 2.0 * b * du * dv + a * dv * dv) / det;
            w.ln() - (std::f64::consts::TAU).ln() - 0.5 * det.ln() - 0.5 * mahalanobis
        })
        .collect();
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return top;
    }
    top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
}

fn gmm_plot(model: &Path, data: &DataArgs, out: &Path, device: &Device) -> Result<()> {
    let gmm = Gmm::load(model)?;
    let x = load(data, None, device)?;
    let [n, d] = x.dims();
    if d != gmm.dim() {
        bail!(
            "{} is {}-dimensional but the data have {d} columns",
            model.display(),
            gmm.dim()
        );
    }
    let labels = predicted_components(&gmm, &x)?;
    let values: Vec<f64> = values(x)?.into_iter().map(f64::from).collect();
    let plane = plot_plane(&values, d)?;
    let points: Vec<(f64, f64)> = values.chunks(d).map(|row| plane.project(row)).collect();
    let components = projected_components(&gmm, &plane);
    let (x_label, y_label) = if d == 2 {
        ("x₁", "x₂")
    } else {
        ("first principal axis", "second principal axis")
    };
    let title = format!(
        "{}-component GMM ({} covariances), {n} points",
        gmm.n_components(),
        gmm.covariance_type.name()
    );
    latent_viz::plot::density_plot(
        out,
        Labels {
            title: &title,
            x: x_label,
            y: y_label,
        },
        &points,
        &labels,
        &components,
        &|u, v| plane_log_density(&gmm.weights, &components, (u, v)),
    )?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn gmm_fit(args: GmmFitArgs, device: &Device) -> Result<()> {
    let x = load(&args.data, None, device)?;
    let config = GmmConfig::new(args.em.components)
        .with_covariance_type(args.covariance.into())
        .with_init(args.em.init.into())
        .with_n_init(args.em.restarts)
        .with_max_iter(args.em.max_iter)
        .with_tol(args.em.tol)
        .with_reg_covar(args.reg_covar)
        .with_seed(args.em.seed);
    let [n, d] = x.dims();
    config.check(n, d)?;
    let (model, fit_seconds) =
        timed_em(&args.em, |progress| config.fit_with_progress(&x, progress))?;
    model.save(&args.out)?;
    // Non-convergence is logged (a warning) by the library and reported as `converged`.
    let fit = model.fit.as_ref().expect("a fitted model has a report");
    let mut figures = score_figures(&model, &x)?;
    extend(
        &mut figures,
        json!({
            "converged": fit.converged,
            "n_iter": fit.n_iter,
            "lower_bound": fit.lower_bound,
            "n_components": model.n_components(),
            "covariance": model.covariance_type.name(),
            "n": n,
            "d": d,
            "fit_seconds": fit_seconds,
            "model": args.out,
        }),
    );
    print_figures(&figures, args.json);
    Ok(())
}

fn parse_range(text: &str) -> Result<Vec<usize>> {
    let parse = |s: &str| {
        s.trim()
            .parse::<usize>()
            .with_context(|| format!("--components {text:?}: {s:?} is not a number"))
    };
    let (a, b) = match text.split_once("..") {
        Some((a, b)) => (parse(a)?, parse(b.trim_start_matches('='))?),
        None => (parse(text)?, parse(text)?),
    };
    if a == 0 || a > b {
        bail!("--components {text:?}: give A..B with 1 ≤ A ≤ B");
    }
    Ok((a..=b).collect())
}

fn gmm_select(args: GmmSelectArgs, device: &Device) -> Result<()> {
    let x = load(&args.data, None, device)?;
    let ks = parse_range(&args.components)?;
    let covariances: Vec<CovarianceType> = if args.covariance.is_empty() {
        CovarianceType::ALL.to_vec()
    } else {
        args.covariance.iter().map(|c| (*c).into()).collect()
    };
    let [n, _] = x.dims();
    if *ks.last().unwrap() > n {
        bail!(
            "--components up to {} but the data have {n} points",
            ks.last().unwrap()
        );
    }
    let bar = ProgressBar::new((ks.len() * covariances.len()) as u64);
    let mut rows = Vec::new();
    for covariance in &covariances {
        for k in &ks {
            let model = GmmConfig::new(*k)
                .with_covariance_type(*covariance)
                .with_n_init(args.restarts)
                .with_reg_covar(args.reg_covar)
                .with_seed(args.seed)
                .fit(&x)?;
            let mut row = score_figures(&model, &x)?;
            extend(
                &mut row,
                json!({
                    "n_components": k,
                    "covariance": covariance.name(),
                    "converged": model.fit.as_ref().is_some_and(|f| f.converged),
                }),
            );
            rows.push(row);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let key = match args.criterion {
        Criterion::Bic => "bic",
        Criterion::Aic => "aic",
    };
    let best = rows
        .iter()
        .min_by(|a, b| {
            a[key]
                .as_f64()
                .unwrap()
                .total_cmp(&b[key].as_f64().unwrap())
        })
        .expect("at least one fit")
        .clone();
    if args.json {
        println!("{}", json!({"criterion": key, "best": best, "fits": rows}));
    } else {
        println!(
            "{:>4} {:>10} {:>14} {:>14} {:>14}",
            "K", "covariance", "mean log-lik", "BIC", "AIC"
        );
        for row in &rows {
            println!(
                "{:>4} {:>10} {:>14.4} {:>14.2} {:>14.2}",
                row["n_components"],
                row["covariance"].as_str().unwrap(),
                row["avg_log_likelihood"].as_f64().unwrap(),
                row["bic"].as_f64().unwrap(),
                row["aic"].as_f64().unwrap()
            );
        }
        println!(
            "best by {key}: K = {} ({})",
            best["n_components"],
            best["covariance"].as_str().unwrap()
        );
    }
    Ok(())
}

pub fn run_bmm(cmd: BmmCommand, device: &Device) -> Result<()> {
    match cmd {
        BmmCommand::Fit(args) => {
            let x = load(&args.data, Some(args.binarize_seed), device)?;
            let config = BmmConfig::new(args.em.components)
                .with_init(args.em.init.into())
                .with_n_init(args.em.restarts)
                .with_max_iter(args.em.max_iter)
                .with_tol(args.em.tol)
                .with_smoothing(args.smoothing)
                .with_seed(args.em.seed);
            config.check(x.dims()[0])?;
            let (model, fit_seconds) =
                timed_em(&args.em, |progress| config.fit_with_progress(&x, progress))?;
            model.save(&args.out)?;
            let mut figures = score_figures(&model, &x)?;
            extend(
                &mut figures,
                json!({
                    "converged": model.converged,
                    "n_iter": model.n_iter,
                    "n_components": model.n_components(),
                    "fit_seconds": fit_seconds,
                    "model": args.out,
                }),
            );
            if model.dim() == PIXELS {
                let means_png = args.out.with_extension("means.png");
                let means: Vec<f32> = model.probs.iter().flatten().map(|p| *p as f32).collect();
                Grid::mnist(10).write_png(&means, &means_png)?;
                let samples_png = args.out.with_extension("samples.png");
                let (samples, _) = model.sample(100, args.em.seed)?;
                write_samples(&samples, &samples_png)?;
                figures["means_png"] = json!(means_png);
                figures["samples_png"] = json!(samples_png);
            }
            print_figures(&figures, args.json);
            Ok(())
        }
        BmmCommand::Score {
            model,
            data,
            binarize_seed,
            json,
        } => {
            let x = load(&data, Some(binarize_seed), device)?;
            print_figures(&score_figures(&Bmm::load(&model)?, &x)?, json);
            Ok(())
        }
        BmmCommand::Sample(args) => {
            let bmm = Bmm::load(&args.model)?;
            let (points, _) = bmm.sample(args.n, args.seed)?;
            write_samples(&points, &args.out)
        }
    }
}

/// Mean log-likelihood, BIC, AIC and size of `x` under a model.
fn score_figures(model: &impl Mixture, x: &Tensor<2>) -> Result<serde_json::Value> {
    let fit = model.fit_figures(x)?;
    Ok(json!({
        "avg_log_likelihood": fit.mean_log_likelihood,
        "bic": fit.bic,
        "aic": fit.aic,
        "n": fit.n,
    }))
}

/// Adds the fields of `more` (an object) to `figures` (an object).
fn extend(figures: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(target), serde_json::Value::Object(source)) = (figures.as_object_mut(), more) {
        target.extend(source);
    }
}

/// Prints figures as one JSON object, or as `key: value` lines.
fn print_figures(figures: &serde_json::Value, json: bool) {
    if json {
        println!("{figures}");
    } else if let Some(map) = figures.as_object() {
        for (key, value) in map {
            println!("{key}: {value}");
        }
    }
}

fn write_or_print(out: Option<&Path>, text: &str) -> Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// Writes samples as .csv / .npy, or as a PNG grid when they are 28 × 28 images.
fn write_samples(points: &Points, out: &Path) -> Result<()> {
    if out.extension().and_then(|e| e.to_str()) == Some("png") {
        if points.dim() != PIXELS {
            bail!(
                "--out {}: a PNG grid needs 784-pixel samples, these have {} dimensions",
                out.display(),
                points.dim()
            );
        }
        let values: Vec<f32> = points.values().iter().map(|v| *v as f32).collect();
        Grid::mnist(10).write_png(&values, out)?;
    } else {
        crate::data_cmd::write_points(points, out)?;
    }
    eprintln!("wrote {} samples to {}", points.len(), out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On 2-D data the plotted density is the model's own log p(x), computed independently
    /// (host f64 here, the tensor E-step in `score_samples`).
    #[test]
    #[allow(deprecated)]
    fn the_plotted_density_of_two_dimensional_data_is_the_models_own() {
        let device = Device::ndarray();
        let coords: Vec<f64> = (0..400)
            .flat_map(|i| {
                let t = i as f64;
                let shift = if i % 2 == 0 { 4.0 } else { -1.0 };
                [
                    shift + 1.5 * (t * 1.3).sin(),
                    0.5 * shift + (t * 0.7).cos() + 0.3 * (t * 2.9).sin(),
                ]
            })
            .collect();
        let x = Points::new(400, 2, coords.clone())
            .unwrap()
            .to_tensor(&device);
        let gmm = GmmConfig::new(2).fit(&x).unwrap();
        let plane = plot_plane(&coords, 2).unwrap();
        let components = projected_components(&gmm, &plane);
        let expected = values(gmm.score_samples(&x).unwrap()).unwrap();
        for (row, want) in coords.chunks(2).zip(&expected).take(50) {
            let got = plane_log_density(&gmm.weights, &components, plane.project(row));
            assert!((got - *want as f64).abs() < 1e-4, "{got} vs {want}");
        }
    }
}
