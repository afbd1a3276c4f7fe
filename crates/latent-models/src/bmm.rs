//! Bernoulli mixture fitted by EM: z ~ Categorical(α), x | z = k ~ ∏_d Bernoulli(p_kd), for
//! binary data such as binarised MNIST. The binary twin of the [`Gmm`](crate::Gmm).
//!
//! The E-step is one matrix product: log p(x | k) = x · (log p_k − log(1 − p_k)) + Σ_d log(1 − p_kd).
//! The M-step smooths p with a symmetric Beta(1 + a, 1 + a) prior (a MAP estimate),
//! p_kd = (Σ_n r_nk x_nd + a) / (N_k + 2a), so no pixel probability is ever exactly 0 or 1 and
//! every log-probability stays finite.

use std::path::Path;

use burn::tensor::{Int, Tensor};
use latent_data::Points;
use latent_distributions::log_sum_exp;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::em::{self, EmProgress, InitMethod};
use crate::error::{invalid, ModelError, Result};
use crate::host::{matrix, to_f64, vector};
use crate::kmeans;
use crate::mixture::Mixture;
use crate::model_file;
use crate::weights::{self, weighted, Weighting};

/// Hyper-parameters of [`Bmm`] fitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BmmConfig {
    /// K, the number of components.
    pub n_components: usize,
    /// Stop when the mean log-likelihood per point changes by less than this.
    pub tol: f64,
    /// EM iterations per restart.
    pub max_iter: usize,
    /// Restarts; the best final mean log-likelihood is kept.
    pub n_init: usize,
    /// How the responsibilities of the first iteration are made.
    pub init: InitMethod,
    /// Beta smoothing pseudo-count a > 0 added to each pixel's ones and zeros.
    pub smoothing: f64,
    /// Seed of every random choice (restart r uses a seed derived from it and r).
    pub seed: u64,
}

impl BmmConfig {
    /// Defaults: tol 1e-3, 100 iterations, one k-means initialisation, smoothing 0.01.
    pub fn new(n_components: usize) -> Self {
        Self {
            n_components,
            tol: 1e-3,
            max_iter: 100,
            n_init: 1,
            init: InitMethod::Kmeans,
            smoothing: 0.01,
            seed: 0,
        }
    }

    /// This configuration with `max_iter` EM iterations per restart.
    pub fn with_max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// This configuration with the convergence threshold `tol`.
    pub fn with_tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    /// This configuration with `n_init` restarts.
    pub fn with_n_init(mut self, n_init: usize) -> Self {
        self.n_init = n_init;
        self
    }

    /// This configuration with the initialisation `init`.
    pub fn with_init(mut self, init: InitMethod) -> Self {
        self.init = init;
        self
    }

    /// This configuration with the Beta smoothing pseudo-count `smoothing`.
    pub fn with_smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// This configuration with the random seed `seed`.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the settings against `n_samples` points; the error names the field.
    pub fn check(&self, n_samples: usize) -> Result<()> {
        if self.n_components == 0 || self.n_components > n_samples {
            return Err(invalid(
                "n_components",
                format!(
                    "must be between 1 and the number of points ({n_samples}), got {}",
                    self.n_components
                ),
            ));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(invalid(
                "tol",
                format!("must be ≥ 0 (0: run every iteration), got {}", self.tol),
            ));
        }
        if self.max_iter == 0 {
            return Err(invalid("max_iter", "must be at least 1"));
        }
        if self.n_init == 0 {
            return Err(invalid("n_init", "must be at least 1"));
        }
        if !(self.smoothing.is_finite() && self.smoothing > 0.0) {
            return Err(invalid(
                "smoothing",
                format!(
                    "must be positive (it keeps log p finite), got {}",
                    self.smoothing
                ),
            ));
        }
        Ok(())
    }

    /// Fits the mixture to binary `x` (`[n, d]`, values 0 or 1) by EM.
    pub fn fit(&self, x: &Tensor<2>) -> Result<Bmm> {
        self.fit_with_progress(x, |_| {})
    }

    /// [`fit`](Self::fit), calling `progress` after every EM iteration.
    pub fn fit_with_progress(
        &self,
        x: &Tensor<2>,
        progress: impl FnMut(EmProgress),
    ) -> Result<Bmm> {
        self.fit_weighted_with_progress(x, None, progress)
    }

    /// Fits with per-point `weights`: point n counts w_n times (integer weights give the fit
    /// of the points repeated, a zero weight that of the point left out), as
    /// [`GmmConfig::fit_weighted`](crate::GmmConfig::fit_weighted).
    pub fn fit_weighted(&self, x: &Tensor<2>, weights: &[f64]) -> Result<Bmm> {
        self.fit_weighted_with_progress(x, Some(weights), |_| {})
    }

    /// [`fit_weighted`](Self::fit_weighted) (or [`fit`](Self::fit), without weights), calling
    /// `progress` after every EM iteration.
    pub fn fit_weighted_with_progress(
        &self,
        x: &Tensor<2>,
        weights: Option<&[f64]>,
        mut progress: impl FnMut(EmProgress),
    ) -> Result<Bmm> {
        let [n, _] = x.dims();
        self.check(n)?;
        check_binary(x)?;
        let weighting = Weighting::new(weights, n, self.n_components, &x.device())?;
        let weighting = weighting.as_ref();
        let mut best: Option<Bmm> = None;
        for restart in 0..self.n_init {
            let seed = self
                .seed
                .wrapping_add((restart as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut rng = StdRng::seed_from_u64(seed);
            let resp = kmeans::initial_responsibilities(
                self.init,
                x,
                self.n_components,
                &mut rng,
                weighting,
            )?;
            let start = self.m_step(x, resp, weighting)?;
            let run = em::iterate(
                start,
                self.max_iter,
                self.tol,
                restart,
                &mut progress,
                |(weights, probs)| {
                    let (log_norm, log_resp) = e_step(x, weights, probs)?;
                    let next = self.m_step(x, log_resp.exp(), weighting)?;
                    Ok((weights::mean(log_norm, weighting)?, next))
                },
            )?;
            if best
                .as_ref()
                .is_none_or(|b| run.lower_bound() > b.lower_bound)
            {
                let lower_bound = run.lower_bound();
                let (weights, probs) = run.params;
                best = Some(Bmm {
                    weights,
                    probs,
                    converged: run.converged,
                    n_iter: run.lower_bounds.len(),
                    lower_bound,
                    lower_bounds: run.lower_bounds,
                    config: self.clone(),
                });
            }
        }
        Ok(best.expect("n_init ≥ 1 was checked"))
    }

    /// Weights and smoothed pixel probabilities from responsibilities `[n, k]` (each counting
    /// w_n times with sample weights, and N = Σ_n w_n).
    fn m_step(
        &self,
        x: &Tensor<2>,
        resp: Tensor<2>,
        weighting: Option<&Weighting>,
    ) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
        let [n, d] = x.dims();
        let resp = weighted(resp, weighting);
        let n = weights::total(n, weighting);
        let nk = to_f64(resp.clone().sum_dim(0))?;
        let ones = to_f64(resp.transpose().matmul(x.clone()))?;
        let a = self.smoothing;
        let probs = nk
            .iter()
            .enumerate()
            .map(|(k, nk)| {
                // Σ_n r_nk x_nd ≤ N_k exactly, but the two float32 sums can disagree by an ulp:
                // clamp, or p could leave (0, 1) when the smoothing is tiny.
                (0..d)
                    .map(|j| (ones[k * d + j].clamp(0.0, *nk) + a) / (nk + 2.0 * a))
                    .collect()
            })
            .collect();
        let weights = nk
            .iter()
            .map(|v| (v + 1e-10) / (n + 1e-10 * nk.len() as f64))
            .collect();
        Ok((weights, probs))
    }
}

/// Rejects data that are not all 0 or 1 (the likelihood would be meaningless).
fn check_binary(x: &Tensor<2>) -> Result<()> {
    let nan = x
        .clone()
        .contains_nan()
        .try_into_scalar::<bool>()
        .map_err(|e| ModelError::Device(format!("{e:?}")))?;
    if nan {
        return Err(ModelError::InvalidData(
            "the data have missing values (NaN), which the Bernoulli mixture does not handle; \
             the Gaussian mixture (gmm) does"
                .into(),
        ));
    }
    let binary = x.clone().equal_elem(0.0).bool_or(x.clone().equal_elem(1.0));
    let all = binary
        .all()
        .try_into_scalar::<bool>()
        .map_err(|e| ModelError::Device(format!("{e:?}")))?;
    if all {
        Ok(())
    } else {
        Err(ModelError::InvalidData(
            "the Bernoulli mixture needs binary data (every value 0 or 1); binarise first".into(),
        ))
    }
}

/// (log p(x_n) `[n]`, log responsibilities `[n, k]`).
fn e_step(x: &Tensor<2>, weights: &[f64], probs: &[Vec<f64>]) -> Result<(Tensor<1>, Tensor<2>)> {
    let device = x.device();
    let (k, d) = (probs.len(), probs[0].len());
    let logit: Vec<f64> = probs
        .iter()
        .flatten()
        .map(|p| (p / (1.0 - p)).ln())
        .collect();
    let log_off: Vec<f64> = probs
        .iter()
        .map(|row| row.iter().map(|p| (1.0 - p).ln()).sum())
        .collect();
    let log_weights: Vec<f64> = weights.iter().map(|w| w.ln()).collect();
    let joint = x.clone().matmul(matrix(&logit, k, d, &device).transpose())
        + (vector(&log_off, &device) + vector(&log_weights, &device)).unsqueeze_dim(0);
    let log_norm = log_sum_exp(joint.clone(), 1);
    Ok((log_norm.clone().squeeze_dim(1), joint - log_norm))
}

/// A fitted Bernoulli mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bmm {
    /// α_k.
    pub weights: Vec<f64>,
    /// p_kd, the probability that pixel d is 1 in component k (K × D), strictly inside (0, 1).
    pub probs: Vec<Vec<f64>>,
    /// Whether the best restart stopped by `tol` (not by `max_iter`).
    pub converged: bool,
    /// EM iterations of the best restart.
    pub n_iter: usize,
    /// Mean log-likelihood per point before the last M-step.
    pub lower_bound: f64,
    /// The mean log-likelihood per point before each M-step of the best restart.
    pub lower_bounds: Vec<f64>,
    /// The configuration it was fitted with.
    pub config: BmmConfig,
}

const FORMAT: &str = "latent-bmm";

impl Bmm {
    /// The number of components K.
    pub fn n_components(&self) -> usize {
        self.weights.len()
    }

    /// The dimension D (pixels per point).
    pub fn dim(&self) -> usize {
        self.probs.first().map_or(0, Vec::len)
    }

    fn checked_e_step(&self, x: &Tensor<2>) -> Result<(Tensor<1>, Tensor<2>)> {
        if x.dims()[1] != self.dim() {
            return Err(ModelError::InvalidData(format!(
                "the model has {} pixels per point, the data {}",
                self.dim(),
                x.dims()[1]
            )));
        }
        check_binary(x)?;
        e_step(x, &self.weights, &self.probs)
    }

    /// log p(x_n) for each binary point: `[n]`.
    pub fn score_samples(&self, x: &Tensor<2>) -> Result<Tensor<1>> {
        Ok(self.checked_e_step(x)?.0)
    }

    /// Most probable component of each point: `[n]`.
    pub fn predict(&self, x: &Tensor<2>) -> Result<Tensor<1, Int>> {
        Ok(self.checked_e_step(x)?.1.argmax(1).squeeze_dim(1))
    }

    /// Posterior component probabilities `[n, k]`.
    pub fn predict_proba(&self, x: &Tensor<2>) -> Result<Tensor<2>> {
        Ok(self.checked_e_step(x)?.1.exp())
    }

    /// Draws `n` binary points and their components, reproducibly for a given seed.
    pub fn sample(&self, n: usize, seed: u64) -> Result<(Points, Vec<usize>)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let total: f64 = self.weights.iter().sum();
        let mut values = Vec::with_capacity(n * self.dim());
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let mut u = rng.random::<f64>() * total;
            let k = self
                .weights
                .iter()
                .position(|w| {
                    u -= w;
                    u < 0.0
                })
                .unwrap_or(self.n_components() - 1);
            values.extend(self.probs[k].iter().map(|p| {
                if rng.random::<f64>() < *p {
                    1.0
                } else {
                    0.0
                }
            }));
            labels.push(k);
        }
        Ok((Points::new(n, self.dim(), values)?, labels))
    }

    /// Writes the model as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        model_file::save(path, FORMAT, self)
    }

    /// Reads a model written by [`save`](Self::save), checking its format and consistency
    /// (shapes, pixel probabilities strictly inside (0, 1)).
    pub fn load(path: &Path) -> Result<Self> {
        model_file::load(path, FORMAT, "Bernoulli mixture", |model: &Self| {
            let d = model.dim();
            if model.n_components() == 0
                || model.probs.len() != model.n_components()
                || model.probs.iter().any(|p| p.len() != d)
            {
                return Err("weights and pixel probabilities disagree in shape".into());
            }
            if model
                .probs
                .iter()
                .flatten()
                .any(|p| !(*p > 0.0 && *p < 1.0))
            {
                return Err("a pixel probability is outside (0, 1)".into());
            }
            Ok(())
        })
    }
}

impl Mixture for Bmm {
    fn score(&self, x: &Tensor<2>) -> Result<f64> {
        Ok(to_f64(self.score_samples(x)?.mean())?[0])
    }

    /// K·D pixel probabilities + K − 1 weights.
    fn n_parameters(&self) -> usize {
        self.n_components() * self.dim() + self.n_components() - 1
    }
}
