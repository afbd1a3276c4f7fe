//! The Bayesian Gaussian mixture, fitted by variational inference as scikit-learn's
//! `BayesianGaussianMixture` fits it (Bishop, *Pattern Recognition and Machine Learning*,
//! §10.2, with scikit-learn's normalised covariances and its lower bound up to constants).
//!
//! q(π) q(μ, Λ) q(z): the weights get a Dirichlet (or stick-breaking Beta) posterior, each
//! component a Normal–Wishart one; the E-step is the Gaussian E-step at the posterior means,
//! shifted per component by E[ln π_k] + ½ (E[ln |Λ_k|] − D ln ν_k − D / β_k); the M-step turns
//! the responsibilities' statistics (N_k, x̄_k, S_k — the maximum-likelihood M-step's) into
//! posterior parameters. The bound never decreases (tested).

use burn::tensor::Tensor;
use latent_distributions::special::{digamma, ln_beta, ln_gamma};

use super::config::{BayesianPrior, CovarianceType, GmmConfig, WeightPrior};
use super::steps::{m_step, CentredData, Params, Prepared};
use super::Gmm;
use crate::em::EmProgress;
use crate::error::Result;
use crate::host::{to_f64, vector};
use crate::weights::{self, weighted};

/// The priors with scikit-learn's defaults filled in from the data, in centred coordinates.
#[derive(Debug, Clone)]
struct Priors {
    weight_prior: WeightPrior,
    alpha: f64,
    beta: f64,
    mean: Vec<f64>,
    nu: f64,
    /// Ψ₀ in the flat layout of the covariance type (one component's).
    covariance: Vec<f64>,
}

/// The variational posterior: its parameters and the point estimates they imply.
#[derive(Debug, Clone)]
pub(super) struct Posterior {
    /// Dirichlet concentrations, or the stick-breaking Beta(a_k, b_k) pairs.
    concentration: (Vec<f64>, Vec<f64>),
    /// β_k.
    mean_precision: Vec<f64>,
    /// ν_k (tied: one value for all).
    degrees_of_freedom: Vec<f64>,
    /// The posterior means m_k and normalised covariances W_k⁻¹ / ν_k, with the expected
    /// weights, as a maximum-likelihood mixture's parameters (centred).
    params: Params,
}

/// What a Bayesian fit reports beyond EM's: the posterior's parameters and how many
/// components it uses.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BayesianReport {
    /// Components whose responsibilities add up to at least one point (N_k ≥ 1).
    pub effective_components: usize,
    /// The Dirichlet concentrations α_k (Dirichlet distribution), or the Beta parameters
    /// (a_k, b_k) of the stick-breaking weights (Dirichlet process): scikit-learn's
    /// `weight_concentration_`.
    pub weight_concentration: Vec<Vec<f64>>,
    /// β_k (scikit-learn's `mean_precision_`).
    pub mean_precision: Vec<f64>,
    /// ν_k (scikit-learn's `degrees_of_freedom_`; one value when tied).
    pub degrees_of_freedom: Vec<f64>,
}

impl GmmConfig {
    /// Fits the Bayesian mixture (`self.bayesian` is set; settings checked): `n_init`
    /// initialisations, each iterated until the lower bound changes by less than `tol`.
    pub(super) fn fit_bayesian(
        &self,
        prior: &BayesianPrior,
        xc: &CentredData,
        center: &[f64],
        progress: &mut impl FnMut(EmProgress),
    ) -> Result<Gmm> {
        let priors = Priors::resolve(prior, self, xc, center)?;
        let n = weights::total(xc.x.dims()[0], xc.weighting.as_ref());
        let device = xc.x.device();
        // EM carries each posterior with its E-step tensors: the ones the bound of an
        // iteration needs are those the next iteration's E-step uses.
        let with_tensors = |post: Posterior| -> Result<(Posterior, Prepared)> {
            let prepared = post.prepare(&priors, &device, self.reg_covar)?;
            Ok((post, prepared))
        };
        let ((post, _), mut report) = self.best_restart(
            progress,
            |restart| with_tensors(priors.posterior(&self.initial_params(xc, restart, center)?, n)),
            |(_, prepared)| {
                let (_, log_resp) = prepared.e_step(xc);
                let resp = log_resp.clone().exp();
                let stats = m_step(xc, resp.clone(), self.covariance_type, self.reg_covar)?;
                let (next, next_prepared) = with_tensors(priors.posterior(&stats, n))?;
                let entropy_terms =
                    weighted(resp * log_resp.clamp_min(-1e30), xc.weighting.as_ref());
                let bound = next.lower_bound(&priors, &next_prepared, entropy_terms)?;
                Ok((bound, (next, next_prepared)))
            },
        )?;
        let (a, b) = &post.concentration;
        // N_k, the responsibilities' total, from the concentrations (a_k = 1 + N_k for the
        // process, α₀ + N_k for the distribution): the expected weights never reach 0.
        let offset = match priors.weight_prior {
            WeightPrior::DirichletProcess => 1.0,
            WeightPrior::DirichletDistribution => priors.alpha,
        };
        let effective = a.iter().filter(|a| **a - offset >= 1.0).count();
        report.bayesian = Some(BayesianReport {
            effective_components: effective,
            weight_concentration: match priors.weight_prior {
                WeightPrior::DirichletDistribution => vec![a.clone()],
                WeightPrior::DirichletProcess => vec![a.clone(), b.clone()],
            },
            mean_precision: post.mean_precision.clone(),
            degrees_of_freedom: post.degrees_of_freedom.clone(),
        });
        Ok(Gmm::from_params(post.params, center, report))
    }
}

impl Priors {
    fn resolve(
        prior: &BayesianPrior,
        config: &GmmConfig,
        xc: &CentredData,
        center: &[f64],
    ) -> Result<Self> {
        let [n, d] = xc.x.dims();
        // With sample weights: the weighted mean and covariance (ddof 1 over Σ w, as numpy
        // gives for the points repeated).
        let weighting = xc.weighting.as_ref();
        let total = weights::total(n, weighting);
        let mean_of = |t: Tensor<2>| -> Result<Vec<f64>> {
            match weighting {
                None => to_f64(t.mean_dim(0)),
                Some(w) => to_f64(w.apply(t).sum_dim(0).div_scalar(w.total)),
            }
        };
        let data_mean = mean_of(xc.x.clone())?;
        let mean = match &prior.mean_prior {
            Some(m) => m.iter().zip(center).map(|(v, c)| v - c).collect(),
            None => data_mean.clone(),
        };
        let covariance = match &prior.covariance_prior {
            Some(c) => c.clone(),
            None => {
                // ddof = 1, as numpy's cov and var(ddof=1).
                let scale = total / (total - 1.0);
                match config.covariance_type {
                    CovarianceType::Full | CovarianceType::Tied => {
                        let second = to_f64(
                            xc.x.clone()
                                .transpose()
                                .matmul(weighted(xc.x.clone(), weighting)),
                        )?;
                        (0..d * d)
                            .map(|i| {
                                let (r, c) = (i / d, i % d);
                                let (a, b) = (second[r * d + c], second[c * d + r]);
                                scale * (0.5 * (a + b) / total - data_mean[r] * data_mean[c])
                            })
                            .collect()
                    }
                    CovarianceType::Diag | CovarianceType::Spherical => {
                        let squares = mean_of(xc.x.clone().powi_scalar(2))?;
                        let var: Vec<f64> = (0..d)
                            .map(|j| scale * (squares[j] - data_mean[j] * data_mean[j]))
                            .collect();
                        if config.covariance_type == CovarianceType::Diag {
                            var
                        } else {
                            vec![var.iter().sum::<f64>() / d as f64]
                        }
                    }
                }
            }
        };
        Ok(Self {
            weight_prior: prior.weight_prior,
            alpha: prior
                .weight_concentration
                .unwrap_or(1.0 / config.n_components as f64),
            beta: prior.mean_precision.unwrap_or(1.0),
            mean,
            nu: prior.degrees_of_freedom.unwrap_or(d as f64),
            covariance,
        })
    }

    /// The posterior from the statistics of a maximum-likelihood M-step: N_k = weight · N,
    /// x̄_k = mean, S_k = covariance (with `reg_covar`), as scikit-learn's
    /// `_estimate_gaussian_parameters`.
    fn posterior(&self, stats: &Params, n: f64) -> Posterior {
        let (k, d, kind) = (stats.k, stats.d, stats.kind);
        let nk: Vec<f64> = stats.weights.iter().map(|w| w * n).collect();
        let concentration = match self.weight_prior {
            WeightPrior::DirichletDistribution => {
                (nk.iter().map(|v| self.alpha + v).collect(), Vec::new())
            }
            WeightPrior::DirichletProcess => {
                // b_k = α₀ + Σ_{j > k} N_j.
                let mut rest = vec![0.0; k];
                for c in (0..k.saturating_sub(1)).rev() {
                    rest[c] = rest[c + 1] + nk[c + 1];
                }
                (
                    nk.iter().map(|v| 1.0 + v).collect(),
                    rest.iter().map(|v| self.alpha + v).collect(),
                )
            }
        };
        let beta: Vec<f64> = nk.iter().map(|v| self.beta + v).collect();
        let means: Vec<f64> = (0..k * d)
            .map(|i| (self.beta * self.mean[i % d] + nk[i / d] * stats.means[i]) / beta[i / d])
            .collect();
        let diff = |c: usize, j: usize| stats.means[c * d + j] - self.mean[j];
        let (nu, covariances) = match kind {
            CovarianceType::Full => {
                let nu: Vec<f64> = nk.iter().map(|v| self.nu + v).collect();
                let mut cov = Vec::with_capacity(k * d * d);
                for c in 0..k {
                    let shrink = nk[c] * self.beta / beta[c];
                    cov.extend((0..d * d).map(|i| {
                        let (r, col) = (i / d, i % d);
                        (self.covariance[i]
                            + nk[c] * stats.covariances[c * d * d + i]
                            + shrink * diff(c, r) * diff(c, col))
                            / nu[c]
                    }));
                }
                (nu, cov)
            }
            CovarianceType::Tied => {
                let total: f64 = nk.iter().sum();
                let nu = self.nu + total / k as f64;
                let cov = (0..d * d)
                    .map(|i| {
                        let (r, col) = (i / d, i % d);
                        let spread: f64 = (0..k)
                            .map(|c| nk[c] / beta[c] * diff(c, r) * diff(c, col))
                            .sum();
                        (self.covariance[i]
                            + stats.covariances[i] * total / k as f64
                            + self.beta / k as f64 * spread)
                            / nu
                    })
                    .collect();
                (vec![nu], cov)
            }
            CovarianceType::Diag => {
                let nu: Vec<f64> = nk.iter().map(|v| self.nu + v).collect();
                let cov = (0..k * d)
                    .map(|i| {
                        let (c, j) = (i / d, i % d);
                        (self.covariance[j]
                            + nk[c]
                                * (stats.covariances[i] + self.beta / beta[c] * diff(c, j).powi(2)))
                            / nu[c]
                    })
                    .collect();
                (nu, cov)
            }
            CovarianceType::Spherical => {
                let nu: Vec<f64> = nk.iter().map(|v| self.nu + v).collect();
                let cov = (0..k)
                    .map(|c| {
                        let spread = (0..d).map(|j| diff(c, j).powi(2)).sum::<f64>() / d as f64;
                        (self.covariance[0]
                            + nk[c] * (stats.covariances[c] + self.beta / beta[c] * spread))
                            / nu[c]
                    })
                    .collect();
                (nu, cov)
            }
        };
        let weights = expected_weights(self.weight_prior, &concentration);
        Posterior {
            concentration,
            mean_precision: beta,
            degrees_of_freedom: nu,
            params: Params {
                kind,
                k,
                d,
                weights,
                means,
                covariances,
            },
        }
    }
}

/// E[π] under the weights' posterior, normalised (scikit-learn's `weights_`).
fn expected_weights(prior: WeightPrior, (a, b): &(Vec<f64>, Vec<f64>)) -> Vec<f64> {
    let raw: Vec<f64> = match prior {
        WeightPrior::DirichletDistribution => a.clone(),
        WeightPrior::DirichletProcess => {
            let mut stick = 1.0;
            a.iter()
                .zip(b)
                .map(|(a, b)| {
                    let w = a / (a + b) * stick;
                    stick *= b / (a + b);
                    w
                })
                .collect()
        }
    };
    let total: f64 = raw.iter().sum();
    raw.iter().map(|w| w / total).collect()
}

impl Posterior {
    /// ν of component `c` (the shared one when tied).
    fn nu(&self, c: usize) -> f64 {
        self.degrees_of_freedom[c.min(self.degrees_of_freedom.len() - 1)]
    }

    /// The E-step's tensors: the Gaussian at the posterior means and normalised covariances,
    /// with log "weights" E[ln π_k] + ½ (D ln 2 + Σ_i ψ((ν_k − i) / 2) − D ln ν_k − D / β_k).
    fn prepare(
        &self,
        priors: &Priors,
        device: &burn::tensor::Device,
        reg_covar: f64,
    ) -> Result<Prepared> {
        let (k, d) = (self.params.k, self.params.d as f64);
        let mut prepared = self.params.prepare(device, reg_covar)?;
        let log_weights = self.expected_log_weights(priors.weight_prior);
        let shifted: Vec<f64> = (0..k)
            .map(|c| {
                let nu = self.nu(c);
                let log_lambda = d * 2f64.ln()
                    + (0..self.params.d)
                        .map(|i| digamma(0.5 * (nu - i as f64)))
                        .sum::<f64>();
                log_weights[c] + 0.5 * (log_lambda - d * nu.ln() - d / self.mean_precision[c])
            })
            .collect();
        prepared.log_weights = vector(&shifted, device);
        Ok(prepared)
    }

    /// E[ln π_k].
    fn expected_log_weights(&self, prior: WeightPrior) -> Vec<f64> {
        let (a, b) = &self.concentration;
        match prior {
            WeightPrior::DirichletDistribution => {
                let total = digamma(a.iter().sum());
                a.iter().map(|v| digamma(*v) - total).collect()
            }
            WeightPrior::DirichletProcess => {
                let mut before = 0.0;
                a.iter()
                    .zip(b)
                    .map(|(a, b)| {
                        let sum = digamma(a + b);
                        let value = digamma(*a) - sum + before;
                        before += digamma(*b) - sum;
                        value
                    })
                    .collect()
            }
        }
    }

    /// scikit-learn's `_compute_lower_bound`: −Σ r ln r − ln-Wishart normalisers − the weight
    /// prior's normaliser − ½ D Σ ln β_k (constants dropped), from this posterior (the one
    /// after the M-step, `prepared` from it) and the E-step's r ln r per point and component
    /// (times each point's sample weight, if any).
    fn lower_bound(
        &self,
        priors: &Priors,
        prepared: &Prepared,
        entropy_terms: Tensor<2>,
    ) -> Result<f64> {
        let (k, d) = (self.params.k, self.params.d);
        let entropy = to_f64(entropy_terms.sum())?[0];
        let wishart = |c: usize| {
            let nu = self.nu(c);
            let log_det_chol = prepared.log_det_host[c] - 0.5 * d as f64 * nu.ln();
            -(nu * log_det_chol
                + nu * d as f64 * 0.5 * 2f64.ln()
                + (0..d).map(|i| ln_gamma(0.5 * (nu - i as f64))).sum::<f64>())
        };
        let log_wishart = if self.params.kind == CovarianceType::Tied {
            k as f64 * wishart(0)
        } else {
            (0..k).map(wishart).sum()
        };
        let (a, b) = &self.concentration;
        let log_norm_weight = match priors.weight_prior {
            WeightPrior::DirichletProcess => {
                -a.iter().zip(b).map(|(a, b)| ln_beta(*a, *b)).sum::<f64>()
            }
            WeightPrior::DirichletDistribution => {
                ln_gamma(a.iter().sum()) - a.iter().map(|v| ln_gamma(*v)).sum::<f64>()
            }
        };
        Ok(-entropy
            - log_wishart
            - log_norm_weight
            - 0.5 * d as f64 * self.mean_precision.iter().map(|b| b.ln()).sum::<f64>())
    }
}
