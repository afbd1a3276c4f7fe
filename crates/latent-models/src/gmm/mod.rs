//! Gaussian mixture model fitted by expectation–maximisation, with scikit-learn's
//! `GaussianMixture` as the anchor.
//!
//! z ~ Categorical(α), x | z = k ~ N(μ_k, Σ_k). The E-step is batched tensor work on the data's
//! device, in log space (log-sum-exp over components); full and tied covariances go through
//! their precision Cholesky factors. The D × D factorisations run on the host in f64. The data
//! are centred (in f32, exactly enough) before EM so that offsets such as 1000 + noise do not
//! cost float32 precision.

mod bayesian;
mod config;
mod missing;
mod select;
mod steps;
mod stream;

pub use crate::em::{EmProgress, InitMethod};
pub use bayesian::BayesianReport;
pub use config::{BayesianPrior, CovarianceType, GmmConfig, WeightPrior};
pub use select::{select, Candidate, Criterion, Selection};
pub use stream::{OnlineEm, Streaming};

use std::path::Path;

use burn::tensor::{Int, Tensor};
use latent_data::{MixtureSpec, Points};
use latent_distributions::linalg::spd_inverse;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use missing::Incomplete;
use steps::{centred, data_center, m_step, mean_scalar, CentredData, Params};

use crate::em;
use crate::error::{invalid, ModelError, Result};
use crate::host::{matrix, to_f64, vector};
use crate::kmeans;
use crate::mixture::Mixture;
use crate::model_file;
use crate::weights::Weighting;

/// A fitted Gaussian mixture. Parameters are f64 on the host; data live on any device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gmm {
    /// The shape of the covariances, which sets the layout of `covariances`.
    pub covariance_type: CovarianceType,
    /// α_k (K).
    pub weights: Vec<f64>,
    /// μ_k (K × D).
    pub means: Vec<Vec<f64>>,
    /// Covariances, flat: full K·D·D, tied D·D, diag K·D, spherical K (row-major).
    pub covariances: Vec<f64>,
    /// How the model was fitted (`None` for a model built from given parameters).
    pub fit: Option<FitReport>,
}

/// What EM did: convergence, iterations, and the lower bound (mean log-likelihood) per
/// iteration of the best restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Whether the best restart stopped by `tol` (not by `max_iter`); scikit-learn's
    /// `converged_`.
    pub converged: bool,
    /// EM iterations of the best restart (scikit-learn's `n_iter_`).
    pub n_iter: usize,
    /// Mean log-likelihood of the training data before the last M-step (scikit-learn's
    /// `lower_bound_`).
    pub lower_bound: f64,
    /// The mean log-likelihood of the training data before each M-step of the best restart
    /// (scikit-learn's `lower_bounds_`).
    pub lower_bounds: Vec<f64>,
    /// Index of the restart that won.
    pub best_init: usize,
    /// The configuration it was fitted with.
    pub config: GmmConfig,
    /// For a Bayesian fit, the posterior's parameters and the effective number of components
    /// (its `lower_bound` is then scikit-learn's variational bound over all points, up to
    /// constants, not a mean log-likelihood).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bayesian: Option<BayesianReport>,
}

impl GmmConfig {
    /// Fits a mixture to `x` (`[n, d]`, on any device) by EM with `n_init` restarts.
    pub fn fit(&self, x: &Tensor<2>) -> Result<Gmm> {
        self.fit_with_progress(x, |_| {})
    }

    /// [`fit`](Self::fit), calling `progress` after every EM iteration.
    pub fn fit_with_progress(
        &self,
        x: &Tensor<2>,
        progress: impl FnMut(EmProgress),
    ) -> Result<Gmm> {
        self.fit_weighted_with_progress(x, None, progress)
    }

    /// Fits with per-point `weights` (scikit-learn's `sample_weight`, which its
    /// `GaussianMixture` lacks): point n counts w_n times, in the initialisation as in EM, so
    /// integer weights give the fit of the points repeated and a zero weight that of the point
    /// left out; the lower bound is the weighted mean log-likelihood. One finite weight ≥ 0 per
    /// point, at least K of them positive; equal weights are the unweighted fit.
    pub fn fit_weighted(&self, x: &Tensor<2>, weights: &[f64]) -> Result<Gmm> {
        self.fit_weighted_with_progress(x, Some(weights), |_| {})
    }

    /// [`fit_weighted`](Self::fit_weighted) (or [`fit`](Self::fit), without weights), calling
    /// `progress` after every EM iteration.
    pub fn fit_weighted_with_progress(
        &self,
        x: &Tensor<2>,
        weights: Option<&[f64]>,
        mut progress: impl FnMut(EmProgress),
    ) -> Result<Gmm> {
        let [n, d] = x.dims();
        self.check(n, d)?;
        let weighting = Weighting::new(weights, n, self.n_components, &x.device())?;
        if let Some(prior) = &self.bayesian {
            if has_missing(x)? {
                return Err(invalid(
                    "bayesian",
                    "the Bayesian mixture takes no missing values yet; fit the \
                     maximum-likelihood mixture for those",
                ));
            }
            let center = data_center(x, weighting.as_ref())?;
            let xc = centred(x, &center, self.covariance_type, weighting);
            return self.fit_bayesian(prior, &xc, &center, &mut progress);
        }
        if has_missing(x)? {
            return self.fit_incomplete(x, weighting, &mut progress);
        }
        let center = data_center(x, weighting.as_ref())?;
        let xc = centred(x, &center, self.covariance_type, weighting);
        let (params, report) = self.best_restart(
            &mut progress,
            |restart| self.initial_params(&xc, restart, &center),
            |params| self.em_step(&xc, params),
        )?;
        Ok(Gmm::from_params(params, &center, report))
    }

    /// EM on data with missing values (NaN): the E-step on each point's observed coordinates,
    /// the M-step with the conditional expectations of the missing ones (see `missing`). The
    /// initialisation (k-means and its M-step) sees each missing entry as its column's mean.
    fn fit_incomplete(
        &self,
        x: &Tensor<2>,
        weighting: Option<Weighting>,
        progress: &mut impl FnMut(EmProgress),
    ) -> Result<Gmm> {
        let [n, d] = x.dims();
        let values = to_f64(x.clone())?;
        let weights = weighting.as_ref().map(|w| w.host.as_slice());
        let (center, data) = Incomplete::centred_at_observed_means(&values, d, weights)?;
        let filled = matrix(&data.mean_filled(), n, d, &x.device());
        let filled = centred(&filled, &vec![0.0; d], self.covariance_type, weighting);
        let (params, report) = self.best_restart(
            progress,
            |restart| self.initial_params(&filled, restart, &center),
            |params| data.step(params, self.reg_covar),
        )?;
        Ok(Gmm::from_params(params, &center, report))
    }

    /// The parameters EM starts restart `restart` from: the initialisation's responsibilities
    /// on `xc`, their M-step, and the user's initial parameters where given.
    fn initial_params(&self, xc: &CentredData, restart: usize, center: &[f64]) -> Result<Params> {
        let seed = self
            .seed
            .wrapping_add((restart as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut rng = StdRng::seed_from_u64(seed);
        let resp = match &self.initial_labels {
            Some(labels) => kmeans::labelled(labels, self.n_components, &xc.x.device()),
            None => kmeans::initial_responsibilities(
                self.init,
                &xc.x,
                self.n_components,
                &mut rng,
                xc.weighting.as_ref(),
            )?,
        };
        let mut params = m_step(xc, resp, self.covariance_type, self.reg_covar)?;
        self.apply_user_init(&mut params, center)?;
        Ok(params)
    }

    fn report<P>(&self, run: &em::EmRun<P>, restart: usize) -> FitReport {
        FitReport {
            converged: run.converged,
            n_iter: run.lower_bounds.len(),
            lower_bound: run.lower_bound(),
            lower_bounds: run.lower_bounds.clone(),
            best_init: restart,
            config: self.clone(),
            bayesian: None,
        }
    }

    /// Continues EM from a fitted model's parameters (scikit-learn's `warm_start`): one run of
    /// up to `max_iter` iterations, no re-initialisation.
    pub fn fit_from(&self, x: &Tensor<2>, start: &Gmm) -> Result<Gmm> {
        let [n, d] = x.dims();
        self.check(n, d)?;
        if self.bayesian.is_some() {
            return Err(invalid(
                "warm_start",
                "a Bayesian fit does not continue from a model; fit it afresh",
            ));
        }
        if start.dim() != d
            || start.n_components() != self.n_components
            || start.covariance_type != self.covariance_type
        {
            return Err(invalid(
                "warm_start",
                format!(
                    "the starting model has {} {} components in dimension {}, the fit asks for {} {} in dimension {d}",
                    start.n_components(),
                    start.covariance_type,
                    start.dim(),
                    self.n_components,
                    self.covariance_type
                ),
            ));
        }
        if has_missing(x)? {
            let values = to_f64(x.clone())?;
            let (center, data) = Incomplete::centred_at_observed_means(&values, d, None)?;
            let run = em::iterate(
                start.params(&center),
                self.max_iter,
                self.tol,
                0,
                &mut |_| {},
                |p| data.step(p, self.reg_covar),
            )?;
            let report = self.report(&run, 0);
            return Ok(Gmm::from_params(run.params, &center, report));
        }
        let center = data_center(x, None)?;
        let xc = centred(x, &center, self.covariance_type, None);
        let run = em::iterate(
            start.params(&center),
            self.max_iter,
            self.tol,
            0,
            &mut |_| {},
            |params| self.em_step(&xc, params),
        )?;
        let report = self.report(&run, 0);
        let params = run.params;
        Ok(Gmm::from_params(params, &center, report))
    }

    /// Replaces the initial parameters by the user's, where given.
    fn apply_user_init(&self, params: &mut Params, center: &[f64]) -> Result<()> {
        let d = params.d;
        if let Some(weights) = &self.weights_init {
            params.weights = weights.clone();
        }
        if let Some(means) = &self.means_init {
            params.means = means
                .iter()
                .flat_map(|m| m.iter().zip(center).map(|(v, c)| v - c))
                .collect();
        }
        if let Some(precisions) = &self.precisions_init {
            params.covariances = match self.covariance_type {
                CovarianceType::Full | CovarianceType::Tied => {
                    let mut out = Vec::with_capacity(precisions.len());
                    for (c, p) in precisions.chunks(d * d).enumerate() {
                        out.extend(spd_inverse(p, d).ok_or_else(|| {
                            invalid(
                                "precisions_init",
                                format!("precision matrix {c} is not symmetric positive definite"),
                            )
                        })?);
                    }
                    out
                }
                CovarianceType::Diag | CovarianceType::Spherical => {
                    if precisions.iter().any(|p| !(p.is_finite() && *p > 0.0)) {
                        return Err(invalid("precisions_init", "precisions must be positive"));
                    }
                    precisions.iter().map(|p| 1.0 / p).collect()
                }
            };
        }
        Ok(())
    }

    /// One EM iteration on complete data: the mean log-likelihood under `params` and the
    /// M-step's parameters.
    fn em_step(&self, xc: &CentredData, params: &Params) -> Result<(f64, Params)> {
        let (log_norm, log_resp) = params.prepare(&xc.x.device(), self.reg_covar)?.e_step(xc);
        let next = m_step(xc, log_resp.exp(), self.covariance_type, self.reg_covar)?;
        Ok((xc.mean(log_norm)?, next))
    }

    /// Runs EM `n_init` times, from `start(restart)` by `step` (one iteration: the lower
    /// bound under the parameters and the next ones), and keeps the run whose final lower
    /// bound is highest.
    fn best_restart<P>(
        &self,
        progress: &mut impl FnMut(EmProgress),
        mut start: impl FnMut(usize) -> Result<P>,
        mut step: impl FnMut(&P) -> Result<(f64, P)>,
    ) -> Result<(P, FitReport)> {
        let mut best: Option<(P, FitReport)> = None;
        for restart in 0..self.n_init {
            let run = em::iterate(
                start(restart)?,
                self.max_iter,
                self.tol,
                restart,
                progress,
                &mut step,
            )?;
            let report = self.report(&run, restart);
            if best
                .as_ref()
                .is_none_or(|(_, b)| report.lower_bound > b.lower_bound)
            {
                best = Some((run.params, report));
            }
        }
        Ok(best.expect("n_init ≥ 1 was checked"))
    }
}

/// The format tag written into model files, checked on load.
const FORMAT: &str = "latent-gmm";

impl Gmm {
    fn from_params(params: Params, center: &[f64], fit: FitReport) -> Self {
        let d = params.d;
        Self {
            covariance_type: params.kind,
            weights: params.weights,
            means: params
                .means
                .chunks(d)
                .map(|m| m.iter().zip(center).map(|(v, c)| v + c).collect())
                .collect(),
            covariances: params.covariances,
            fit: Some(fit),
        }
    }

    /// A model from given parameters (for example another tool's fit): weights (K, positive,
    /// summing to 1), means (K × D) and covariances in the flat layout of `covariance_type`.
    /// Every covariance must be positive definite.
    pub fn from_parameters(
        covariance_type: CovarianceType,
        weights: Vec<f64>,
        means: Vec<Vec<f64>>,
        covariances: Vec<f64>,
    ) -> Result<Self> {
        let model = Self {
            covariance_type,
            weights,
            means,
            covariances,
            fit: None,
        };
        model.validate().map_err(ModelError::InvalidData)?;
        model
            .params(&model.eval_center())
            .prepare(&Default::default(), 0.0)?;
        Ok(model)
    }

    /// Shape and range checks shared by [`from_parameters`](Self::from_parameters) and
    /// [`load`](Self::load).
    fn validate(&self) -> std::result::Result<(), String> {
        let (k, d) = (self.n_components(), self.dim());
        if k == 0 || d == 0 || self.means.len() != k || self.means.iter().any(|m| m.len() != d) {
            return Err("means must be K non-empty vectors of one dimension".into());
        }
        if self.weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
            return Err("weights must be positive".into());
        }
        if (self.weights.iter().sum::<f64>() - 1.0).abs() > 1e-4 {
            return Err("weights must sum to 1".into());
        }
        let want = self.covariance_type.flat_len(k, d);
        if self.covariances.len() != want {
            return Err(format!(
                "{} covariances of {k} components in dimension {d} need {want} values, found {}",
                self.covariance_type,
                self.covariances.len()
            ));
        }
        if self
            .means
            .iter()
            .flatten()
            .chain(&self.covariances)
            .any(|v| !v.is_finite())
        {
            return Err("parameters must be finite".into());
        }
        Ok(())
    }

    /// The `reg_covar` the model was fitted with (0 for given parameters).
    fn reg_covar(&self) -> f64 {
        self.fit.as_ref().map_or(0.0, |f| f.config.reg_covar)
    }

    /// The parameters in coordinates centred at `center`.
    fn params(&self, center: &[f64]) -> Params {
        Params {
            kind: self.covariance_type,
            k: self.n_components(),
            d: self.dim(),
            weights: self.weights.clone(),
            means: self
                .means
                .iter()
                .flat_map(|m| m.iter().zip(center).map(|(v, c)| v - c))
                .collect(),
            covariances: self.covariances.clone(),
        }
    }

    /// The number of components K.
    pub fn n_components(&self) -> usize {
        self.weights.len()
    }

    /// The dimension D: that of the first mean.
    pub fn dim(&self) -> usize {
        self.means.first().map_or(0, Vec::len)
    }

    /// The full D × D covariance of component `k` (row-major), whatever the covariance type.
    pub fn covariance_matrix(&self, k: usize) -> Vec<f64> {
        let d = self.dim();
        let diagonal = |values: &mut dyn Iterator<Item = f64>| {
            let mut m = vec![0.0; d * d];
            for (i, v) in values.enumerate() {
                m[i * d + i] = v;
            }
            m
        };
        match self.covariance_type {
            CovarianceType::Full => self.covariances[k * d * d..(k + 1) * d * d].to_vec(),
            CovarianceType::Tied => self.covariances.clone(),
            CovarianceType::Diag => {
                diagonal(&mut self.covariances[k * d..(k + 1) * d].iter().copied())
            }
            CovarianceType::Spherical => diagonal(&mut std::iter::repeat_n(self.covariances[k], d)),
        }
    }

    /// Centre for evaluation: the weighted mean of the component means, rounded to f32.
    fn eval_center(&self) -> Vec<f64> {
        (0..self.dim())
            .map(|j| {
                let c: f64 = self
                    .weights
                    .iter()
                    .zip(&self.means)
                    .map(|(w, m)| w * m[j])
                    .sum();
                c as f32 as f64
            })
            .collect()
    }

    fn e_step(&self, x: &Tensor<2>) -> Result<(Tensor<1>, Tensor<2>)> {
        let [n, d] = x.dims();
        self.check_dim(d)?;
        let center = self.eval_center();
        if has_missing(x)? {
            let data = Incomplete::new(&to_f64(x.clone())?, d, &center, None)?;
            let (log_norm, log_resp) = data.score(&self.params(&center), self.reg_covar())?;
            let k = self.n_components();
            let device = x.device();
            return Ok((vector(&log_norm, &device), matrix(&log_resp, n, k, &device)));
        }
        let prepared = self
            .params(&center)
            .prepare(&x.device(), self.reg_covar())?;
        Ok(prepared.e_step(&centred(x, &center, self.covariance_type, None)))
    }

    fn check_dim(&self, d: usize) -> Result<()> {
        if d != self.dim() {
            return Err(ModelError::InvalidData(format!(
                "the model is {}-dimensional but the data have {d} columns",
                self.dim()
            )));
        }
        Ok(())
    }

    /// `x` (`[n, d]`) with every missing entry (NaN) replaced by its conditional mean given
    /// the point's observed coordinates, E[x_M | x_O] = Σ_k p(k | x_O) (μ_kM + Σ_kMO Σ_kOO⁻¹
    /// (x_O − μ_kO)); observed entries are kept. A point with no observed coordinate is an
    /// error.
    pub fn impute(&self, x: &Tensor<2>) -> Result<Tensor<2>> {
        let [n, d] = x.dims();
        self.check_dim(d)?;
        let values = to_f64(x.clone())?;
        let center = self.eval_center();
        let data = Incomplete::new(&values, d, &center, None)?;
        let filled = data.impute(&self.params(&center), self.reg_covar())?;
        let out: Vec<f64> = filled
            .iter()
            .zip(&values)
            .enumerate()
            .map(|(i, (f, v))| if v.is_nan() { f + center[i % d] } else { *v })
            .collect();
        Ok(matrix(&out, n, d, &x.device()))
    }

    /// log p(x_n) for each point of `x` (`[n, d]`): `[n]`; of its observed coordinates where
    /// some are missing (NaN), the others marginalised out.
    pub fn score_samples(&self, x: &Tensor<2>) -> Result<Tensor<1>> {
        Ok(self.e_step(x)?.0)
    }

    /// Posterior component probabilities p(z = k | x_n): `[n, k]`.
    pub fn predict_proba(&self, x: &Tensor<2>) -> Result<Tensor<2>> {
        Ok(self.e_step(x)?.1.exp())
    }

    /// The most probable component of each point: `[n]`.
    pub fn predict(&self, x: &Tensor<2>) -> Result<Tensor<1, Int>> {
        Ok(self.e_step(x)?.1.argmax(1).squeeze_dim(1))
    }

    /// [`Gmm::predict`] read back to the host: each point's most probable component.
    pub fn predict_labels(&self, x: &Tensor<2>) -> Result<Vec<usize>> {
        Ok(crate::host::to_i64(self.predict(x)?)?
            .into_iter()
            .map(|label| label as usize)
            .collect())
    }

    /// Draws `n` points and their components, reproducibly for a given seed.
    pub fn sample(&self, n: usize, seed: u64) -> Result<(Points, Vec<usize>)> {
        let d = self.dim();
        let spec = MixtureSpec {
            weights: normalised(&self.weights),
            means: self.means.clone(),
            covariances: (0..self.n_components())
                .map(|k| {
                    self.covariance_matrix(k)
                        .chunks(d)
                        .map(<[f64]>::to_vec)
                        .collect()
                })
                .collect(),
        };
        Ok(spec.sample(n, seed)?)
    }

    /// Writes the model as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        model_file::save(path, FORMAT, self)
    }

    /// Reads a model written by [`save`](Self::save), checking its format and consistency.
    pub fn load(path: &Path) -> Result<Self> {
        model_file::load(path, FORMAT, "Gaussian mixture", Self::validate)
    }
}

impl Mixture for Gmm {
    fn score(&self, x: &Tensor<2>) -> Result<f64> {
        mean_scalar(self.score_samples(x)?)
    }

    /// Covariances + K·D means + K − 1 weights.
    fn n_parameters(&self) -> usize {
        let (k, d) = (self.n_components(), self.dim());
        self.covariance_type.n_parameters(k, d) + k * d + k - 1
    }
}

/// Whether `x` has a missing value (NaN).
fn has_missing(x: &Tensor<2>) -> Result<bool> {
    x.clone()
        .contains_nan()
        .try_into_scalar::<bool>()
        .map_err(|e| ModelError::Device(format!("{e:?}")))
}

/// Weights rescaled to sum to exactly 1 (they carry the +10ε of the M-step).
fn normalised(weights: &[f64]) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}
