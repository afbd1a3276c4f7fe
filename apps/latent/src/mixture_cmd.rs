//! `latent gmm …` and `latent bmm …`: fit, score, predict, sample and select mixtures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::{Device, Tensor};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use latent_data::Points;
use latent_data::RowSource;
use latent_models::gmm::{Criterion, OnlineEm, Streaming};
use latent_models::{
    BayesianPrior, Bmm, BmmConfig, CovarianceType, EmProgress, Gmm, GmmConfig, InitMethod, Mixture,
    WeightPrior,
};
use latent_train::values;
use latent_viz::Grid;
use serde_json::json;

use crate::args::{print_figures, DataArgs};

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
    /// Fill each missing value (NaN, or an empty, `NA` or `?` cell of a CSV) with its
    /// conditional mean under a saved model given the point's observed values; writes the
    /// completed points (.csv or .npy).
    Impute {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Output: .csv or .npy (an existing file is refused).
        #[arg(long, short)]
        out: PathBuf,
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
    /// Convergence threshold on the change of the mean log-likelihood (0: run all --max-iter
    /// iterations, as for timing).
    #[arg(long, default_value_t = 1e-3)]
    tol: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Per-point weights: a .csv of one column (header optional) or a .npy of shape `[n]` or
    /// `[n, 1]`, one finite weight ≥ 0 per point the data spec keeps, in order (with --limit N,
    /// the first N). Point n counts w_n times: integer weights fit what repeating the points
    /// would, 0 what leaving the point out would.
    #[arg(long, value_name = "FILE")]
    sample_weights: Option<PathBuf>,
}

impl EmArgs {
    /// The sample weights for `n` points, if a file was given (the first `n` under a limit).
    fn weights(&self, n: usize, limit: Option<usize>) -> Result<Option<Vec<f64>>> {
        let Some(path) = &self.sample_weights else {
            return Ok(None);
        };
        let mut weights = latent_data::read_sample_weights(path)?;
        if limit.is_some() && weights.len() > n {
            weights.truncate(n);
        }
        if weights.len() != n {
            bail!(
                "{}: {} sample weights for {n} points: give one weight per point the data \
                 spec keeps",
                path.display(),
                weights.len()
            );
        }
        Ok(Some(weights))
    }

    /// The figures a weighted fit adds: the file and the weights' total.
    fn weight_figures(&self, weights: Option<&[f64]>) -> serde_json::Value {
        match weights {
            Some(w) => json!({
                "sample_weights": self.sample_weights,
                "total_weight": w.iter().sum::<f64>(),
            }),
            None => json!({}),
        }
    }
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
    #[command(flatten)]
    bayesian: BayesianArgs,
    #[command(flatten)]
    stream: StreamArgs,
}

/// Exact EM over a `.npy` larger than memory, a chunk of rows at a time.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Read --data (a 2-D float32/float64 .npy, C order) a chunk at a time instead of loading
    /// it: exact EM, one pass over the file per iteration, about chunk-rows × (D + K) floats
    /// held; the initialisation runs on a seeded sample of --init-rows points.
    #[arg(long, conflicts_with_all = ["bayesian", "sample_weights", "limit"])]
    stream: bool,
    /// Rows per chunk.
    #[arg(long, default_value_t = Streaming::default().chunk_rows, requires = "stream")]
    chunk_rows: usize,
    /// Points the initialisation (k-means) sees at most.
    #[arg(long, default_value_t = Streaming::default().init_rows, requires = "stream")]
    init_rows: usize,
    /// With --stream: stochastic-approximation (online) EM instead of exact EM — the
    /// parameters updated after every chunk, s ← (1 − η_t) s + η_t ŝ_chunk, η_t = (t + 1)^−κ —
    /// for data too large for many exact passes; runs --epochs passes.
    #[arg(long, requires = "stream")]
    online: bool,
    /// Passes of online EM.
    #[arg(long, default_value_t = OnlineEm::default().epochs, requires = "online")]
    epochs: usize,
    /// κ in (0.5, 1] of online EM's step sizes (t + 1)^−κ.
    #[arg(long, default_value_t = OnlineEm::default().decay, requires = "online")]
    step_decay: f64,
}

/// The Bayesian mixture's flags (scikit-learn's BayesianGaussianMixture and its defaults).
#[derive(Debug, Args)]
pub struct BayesianArgs {
    /// Fit the Bayesian mixture by variational inference (scikit-learn's
    /// BayesianGaussianMixture) instead of maximum likelihood; -k is then the most components
    /// it may use, and the output says how many it does (`effective_components`).
    #[arg(long)]
    bayesian: bool,
    /// The prior on the weights.
    #[arg(
        long,
        value_enum,
        default_value = "dirichlet-process",
        requires = "bayesian"
    )]
    weight_prior: WeightPriorArg,
    /// α₀ > 0 of the weight prior [default: 1/K]; smaller values switch more components off.
    #[arg(long, value_name = "A", requires = "bayesian")]
    weight_concentration: Option<f64>,
    /// β₀ > 0, the precision of the prior on the means [default: 1].
    #[arg(long, value_name = "B", requires = "bayesian")]
    mean_precision_prior: Option<f64>,
    /// m₀, the prior mean: D comma-separated values [default: the data's mean].
    #[arg(
        long,
        value_name = "M1,M2,…",
        value_delimiter = ',',
        requires = "bayesian"
    )]
    mean_prior: Option<Vec<f64>>,
    /// ν₀ > D − 1, the Wishart prior's degrees of freedom [default: D].
    #[arg(long, value_name = "NU", requires = "bayesian")]
    degrees_of_freedom_prior: Option<f64>,
    /// Ψ₀, comma-separated in the covariance type's layout: D·D values (full, tied), D
    /// (diag) or 1 (spherical) [default: the data's covariance, variances or mean variance].
    #[arg(
        long,
        value_name = "V1,V2,…",
        value_delimiter = ',',
        requires = "bayesian"
    )]
    covariance_prior: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum WeightPriorArg {
    /// A Dirichlet process (stick-breaking): switches superfluous components off.
    DirichletProcess,
    /// A symmetric Dirichlet distribution.
    DirichletDistribution,
}

impl BayesianArgs {
    fn prior(&self) -> Option<BayesianPrior> {
        self.bayesian.then(|| BayesianPrior {
            weight_prior: match self.weight_prior {
                WeightPriorArg::DirichletProcess => WeightPrior::DirichletProcess,
                WeightPriorArg::DirichletDistribution => WeightPrior::DirichletDistribution,
            },
            weight_concentration: self.weight_concentration,
            mean_precision: self.mean_precision_prior,
            mean_prior: self.mean_prior.clone(),
            degrees_of_freedom: self.degrees_of_freedom_prior,
            covariance_prior: self.covariance_prior.clone(),
        })
    }
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
    /// Output: .csv, .npy, or (for models of square grey images: 784 or 64 dimensions, …)
    /// .png for an image grid.
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
    criterion: CriterionArg,
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
pub enum CriterionArg {
    /// Bayesian information criterion.
    Bic,
    /// Akaike information criterion.
    Aic,
}

#[derive(Debug, Subcommand)]
pub enum BmmCommand {
    /// Fit a Bernoulli mixture to binary data (8-bit images are binarised with a fixed seed)
    /// by EM; for images also writes PNG grids of the component means and of samples.
    Fit(BmmFitArgs),
    /// Mean log-likelihood per point (nats) of binary data under a saved model.
    Score {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Seed of the fixed binarisation of 8-bit images (MNIST, digits, IDX, PNG folders).
        #[arg(long, default_value_t = 0)]
        binarize_seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Draw binary points from a saved model (.csv, .npy, or a .png grid of square grey
    /// images).
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
    /// Seed of the fixed binarisation of 8-bit images (MNIST, digits, IDX, PNG folders).
    #[arg(long, default_value_t = 0)]
    binarize_seed: u64,
    /// Where to write the fitted model (JSON).
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    json: bool,
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
            let (x, _) = data.load_allowing_missing(device)?;
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
            let (x, _) = data.load_allowing_missing(device)?;
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
                let labels = gmm.predict_labels(&x)?;
                labels.iter().map(|l| format!("{l}\n")).collect()
            };
            write_or_print(out.as_deref(), &text)
        }
        GmmCommand::Impute { model, data, out } => {
            let gmm = Gmm::load(&model)?;
            if out.exists() {
                bail!(
                    "{} exists: choose another --out (nothing was written)",
                    out.display()
                );
            }
            let (x, missing) = data.load_allowing_missing(device)?;
            let [n, d] = x.dims();
            let filled: Vec<f32> = values(gmm.impute(&x)?)?;
            let points = Points::new(n, d, filled.iter().map(|v| *v as f64).collect())?;
            latent_data::write_points(&points, &out)?;
            let holes = if missing { count_missing(&x)? } else { 0 };
            eprintln!(
                "filled {holes} missing values of {n} points; wrote {}",
                out.display()
            );
            Ok(())
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

fn gmm_plot(model: &Path, data: &DataArgs, out: &Path, device: &Device) -> Result<()> {
    let gmm = Gmm::load(model)?;
    let x = data.load(None, device)?;
    latent_train::gmm_plot::gmm_plot(&gmm, &x, out)
        .with_context(|| format!("plotting {}", model.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// The number of NaN entries of `x`.
fn count_missing(x: &Tensor<2>) -> Result<usize> {
    let flags: Vec<f32> = values(x.clone().is_nan().float())?;
    Ok(flags.iter().filter(|f| **f > 0.0).count())
}

fn gmm_fit(args: GmmFitArgs, device: &Device) -> Result<()> {
    let config = GmmConfig::new(args.em.components)
        .with_covariance_type(args.covariance.into())
        .with_init(args.em.init.into())
        .with_n_init(args.em.restarts)
        .with_max_iter(args.em.max_iter)
        .with_tol(args.em.tol)
        .with_reg_covar(args.reg_covar)
        .with_seed(args.em.seed);
    let config = match args.bayesian.prior() {
        Some(prior) => config.with_bayesian(prior),
        None => config,
    };
    if args.stream.stream {
        return gmm_fit_streaming(&args, &config, device);
    }
    let (x, missing) = args.data.load_allowing_missing(device)?;
    let [n, d] = x.dims();
    config.check(n, d)?;
    let weights = args.em.weights(n, args.data.limit)?;
    let (model, fit_seconds) = timed_em(&args.em, |progress| {
        config.fit_weighted_with_progress(&x, weights.as_deref(), progress)
    })?;
    model.save(&args.out)?;
    // Non-convergence is logged (a warning) by the library and reported as `converged`.
    let fit = model.fit.as_ref().expect("a fitted model has a report");
    let mut figures = score_figures(&model, &x)?;
    extend(&mut figures, args.em.weight_figures(weights.as_deref()));
    if missing {
        extend(&mut figures, json!({"missing_values": count_missing(&x)?}));
    }
    if let Some(bayesian) = &fit.bayesian {
        extend(
            &mut figures,
            json!({
                "bayesian": fit.config.bayesian.as_ref().map(|p| p.weight_prior.name()),
                "effective_components": bayesian.effective_components,
                "weights": model.weights,
            }),
        );
    }
    extend(
        &mut figures,
        fit_figures(&model, n, d, fit_seconds, &args.out),
    );
    print_figures(&figures, args.json);
    Ok(())
}

/// What every `gmm fit` prints of its fit: convergence, iterations, the lower bound, the
/// model's shape, the data's size, the time and where the model went.
fn fit_figures(model: &Gmm, n: usize, d: usize, fit_seconds: f64, out: &Path) -> serde_json::Value {
    let fit = model.fit.as_ref().expect("a fitted model has a report");
    json!({
        "converged": fit.converged,
        "n_iter": fit.n_iter,
        "lower_bound": fit.lower_bound,
        "n_components": model.n_components(),
        "covariance": model.covariance_type.name(),
        "n": n,
        "d": d,
        "fit_seconds": fit_seconds,
        "model": out,
    })
}

/// `gmm fit --stream`: the fit over the file a chunk at a time, and what it printed.
fn gmm_fit_streaming(args: &GmmFitArgs, config: &GmmConfig, device: &Device) -> Result<()> {
    let path = args
        .data
        .data
        .plain_file()
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")));
    let Some(path) = path else {
        bail!(
            "--stream reads a 2-D float .npy file given as it is (no options); {} is not one",
            args.data.data
        );
    };
    let rows = latent_data::NpyRows::open(path)?;
    let streaming = Streaming {
        chunk_rows: args.stream.chunk_rows,
        init_rows: args.stream.init_rows,
    };
    let (n, d) = (rows.len(), rows.dim());
    config.check(n, d)?;
    let online = OnlineEm {
        epochs: args.stream.epochs,
        decay: args.stream.step_decay,
    };
    let (model, fit_seconds) = timed_em(&args.em, |progress| {
        if args.stream.online {
            config.fit_online(&rows, streaming, online, device, progress)
        } else {
            config.fit_streaming(&rows, streaming, device, progress)
        }
    })?;
    model.save(&args.out)?;
    let mut figures = json!({
        "streamed": true,
        "online": args.stream.online.then_some(json!({"epochs": online.epochs, "step_decay": online.decay})),
        "chunk_rows": streaming.chunk_rows,
        "init_rows": streaming.init_rows.min(n),
    });
    extend(
        &mut figures,
        fit_figures(&model, n, d, fit_seconds, &args.out),
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
    let (x, _) = args.data.load_allowing_missing(device)?;
    let ks = parse_range(&args.components)?;
    let covariances: Vec<CovarianceType> = if args.covariance.is_empty() {
        CovarianceType::ALL.to_vec()
    } else {
        args.covariance.iter().map(|c| (*c).into()).collect()
    };
    let base = GmmConfig::new(1)
        .with_n_init(args.restarts)
        .with_reg_covar(args.reg_covar)
        .with_seed(args.seed);
    let criterion = match args.criterion {
        CriterionArg::Bic => Criterion::Bic,
        CriterionArg::Aic => Criterion::Aic,
    };
    let bar = ProgressBar::new((ks.len() * covariances.len()) as u64);
    let selection =
        latent_models::gmm::select(&x, &base, &ks, &covariances, criterion, |_| bar.inc(1))?;
    bar.finish_and_clear();
    let rows: Vec<serde_json::Value> = selection
        .candidates
        .iter()
        .map(|c| {
            json!({
                "avg_log_likelihood": c.fit.mean_log_likelihood,
                "bic": c.fit.bic,
                "aic": c.fit.aic,
                "n": c.fit.n,
                "n_components": c.model.n_components(),
                "covariance": c.model.covariance_type.name(),
                "converged": c.model.fit.as_ref().is_some_and(|f| f.converged),
            })
        })
        .collect();
    let key = criterion.name();
    let best = &rows[selection.best];
    if args.json {
        println!("{}", json!({"criterion": key, "best": best, "fits": rows}));
    } else {
        println!(
            "{:>4} {:>10} {:>14} {:>14} {:>14}",
            "K", "covariance", "mean log-lik", "BIC", "AIC"
        );
        for c in &selection.candidates {
            println!(
                "{:>4} {:>10} {:>14.4} {:>14.2} {:>14.2}",
                c.model.n_components(),
                c.model.covariance_type.name(),
                c.fit.mean_log_likelihood,
                c.fit.bic,
                c.fit.aic
            );
        }
        let winner = selection.best();
        println!(
            "best by {key}: K = {} ({})",
            winner.model.n_components(),
            winner.model.covariance_type.name()
        );
    }
    Ok(())
}

pub fn run_bmm(cmd: BmmCommand, device: &Device) -> Result<()> {
    match cmd {
        BmmCommand::Fit(args) => {
            let (x, shape) = args
                .data
                .load_with_shape(Some(args.binarize_seed), device)?;
            let config = BmmConfig::new(args.em.components)
                .with_init(args.em.init.into())
                .with_n_init(args.em.restarts)
                .with_max_iter(args.em.max_iter)
                .with_tol(args.em.tol)
                .with_smoothing(args.smoothing)
                .with_seed(args.em.seed);
            let n = x.dims()[0];
            config.check(n)?;
            let weights = args.em.weights(n, args.data.limit)?;
            let (model, fit_seconds) = timed_em(&args.em, |progress| {
                config.fit_weighted_with_progress(&x, weights.as_deref(), progress)
            })?;
            model.save(&args.out)?;
            let mut figures = score_figures(&model, &x)?;
            extend(&mut figures, args.em.weight_figures(weights.as_deref()));
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
            if let Some((h, w, c)) = shape.image() {
                let grid = Grid::new(10, h, w, c);
                let means_png = args.out.with_extension("means.png");
                let means: Vec<f32> = model.probs.iter().flatten().map(|p| *p as f32).collect();
                grid.write_png(&means, &means_png)?;
                let samples_png = args.out.with_extension("samples.png");
                let (samples, _) = model.sample(100, args.em.seed)?;
                let values: Vec<f32> = samples.values().iter().map(|v| *v as f32).collect();
                grid.write_png(&values, &samples_png)?;
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
            let x = data.load(Some(binarize_seed), device)?;
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

/// Writes samples as .csv / .npy, or as a PNG grid when they are square grey images (a saved
/// mixture knows its dimension, not its data's shape: 784 is 28 × 28, 64 is 8 × 8).
fn write_samples(points: &Points, out: &Path) -> Result<()> {
    if out.extension().and_then(|e| e.to_str()) == Some("png") {
        let d = points.dim();
        let side = (d as f64).sqrt().round() as usize;
        if side * side != d {
            bail!(
                "--out {}: a PNG grid pictures square grey images, and these samples have {d} \
                 dimensions; write .npy or .csv",
                out.display(),
            );
        }
        let values: Vec<f32> = points.values().iter().map(|v| *v as f32).collect();
        Grid::new(10, side, side, 1).write_png(&values, out)?;
    } else {
        latent_data::write_points(points, out)?;
    }
    eprintln!("wrote {} samples to {}", points.len(), out.display());
    Ok(())
}
