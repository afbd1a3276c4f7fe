//! The EM iteration of the Gaussian mixture in centred coordinates: the parameters it iterates
//! on, their device form for the E-step (precision Cholesky factors, or precisions), the E-step
//! in log space and the M-step of each covariance type.

use burn::tensor::Tensor;
use latent_distributions::linalg::{cholesky, lower_triangular_inverse, transpose};
use latent_distributions::{log_sum_exp, LN_2PI};

use super::config::CovarianceType;
use crate::error::{ModelError, Result};
use crate::host::{matrix, to_f64, vector};
use crate::weights::{self, weighted, Weighting};

/// Guards component counts against zero, as scikit-learn does (10 × machine epsilon of f32).
pub(super) const NK_EPS: f64 = 10.0 * f32::EPSILON as f64;

/// The parameters EM iterates on, in centred coordinates (means minus `center`).
#[derive(Debug, Clone)]
pub(super) struct Params {
    pub(super) kind: CovarianceType,
    pub(super) k: usize,
    pub(super) d: usize,
    pub(super) weights: Vec<f64>,
    pub(super) means: Vec<f64>,
    pub(super) covariances: Vec<f64>,
}

/// Parameters on the device, ready for the E-step.
pub(super) struct Prepared {
    pub(super) log_weights: Tensor<1>,
    /// Σ_d log of the precision Cholesky diagonal (= −½ log det Σ_k): `[k]`.
    pub(super) log_det: Tensor<1>,
    /// The same on the host.
    pub(super) log_det_host: Vec<f64>,
    pub(super) shape: PreparedShape,
}

// One short-lived value per E-step: the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum PreparedShape {
    /// Precision Cholesky factors P_k (`[d, d]`, one shared when tied) and μ_k P_k (`[k, d]`).
    Cholesky {
        factors: Vec<Tensor<2>>,
        projected_means: Tensor<2>,
    },
    /// Precisions 1/σ²_kd (`[k, d]`) and means (`[k, d]`), diag and spherical.
    Diagonal {
        precisions: Tensor<2>,
        means: Tensor<2>,
    },
}

impl Params {
    /// The parameters of an M-step: weights N_k / `total`, the means and covariances as
    /// given, `reg_covar` added to the covariances' diagonals.
    pub(super) fn from_moments(
        kind: CovarianceType,
        nk: &[f64],
        total: f64,
        means: Vec<f64>,
        covariances: Vec<f64>,
        reg_covar: f64,
    ) -> Self {
        let k = nk.len();
        let mut params = Params {
            kind,
            k,
            d: means.len() / k.max(1),
            weights: nk.iter().map(|v| v / total).collect(),
            means,
            covariances,
        };
        params.reg_diagonal(reg_covar);
        params
    }

    pub(super) fn reg_diagonal(&mut self, reg: f64) {
        let (k, d) = (self.k, self.d);
        match self.kind {
            CovarianceType::Full => {
                for c in 0..k {
                    for i in 0..d {
                        self.covariances[c * d * d + i * d + i] += reg;
                    }
                }
            }
            CovarianceType::Tied => {
                for i in 0..d {
                    self.covariances[i * d + i] += reg;
                }
            }
            CovarianceType::Diag | CovarianceType::Spherical => {
                self.covariances.iter_mut().for_each(|v| *v += reg)
            }
        }
    }

    /// Factorises on the host and uploads. Fails if a covariance is not positive definite.
    pub(super) fn prepare(
        &self,
        device: &burn::tensor::Device,
        reg_covar: f64,
    ) -> Result<Prepared> {
        let (k, d) = (self.k, self.d);
        let log_weights: Vec<f64> = self.weights.iter().map(|w| w.ln()).collect();
        let ill = |component| ModelError::IllConditioned {
            component,
            reg_covar,
        };
        let (log_det, shape) = match self.kind {
            CovarianceType::Full | CovarianceType::Tied => {
                let n_factors = if self.kind == CovarianceType::Full {
                    k
                } else {
                    1
                };
                let mut host_factors = Vec::with_capacity(n_factors);
                let mut log_dets = Vec::with_capacity(n_factors);
                for c in 0..n_factors {
                    let cov = &self.covariances[c * d * d..(c + 1) * d * d];
                    let l = cholesky(cov, d).ok_or_else(|| ill(c))?;
                    // Σ⁻¹ = L⁻ᵀ L⁻¹ = P Pᵀ with P = L⁻ᵀ (upper triangular).
                    let p = transpose(&lower_triangular_inverse(&l, d), d);
                    log_dets.push((0..d).map(|i| p[i * d + i].ln()).sum::<f64>());
                    host_factors.push(p);
                }
                let mut projected = Vec::with_capacity(k * d);
                for c in 0..k {
                    let p = &host_factors[if n_factors == k { c } else { 0 }];
                    let mean = &self.means[c * d..(c + 1) * d];
                    projected.extend(
                        (0..d).map(|j| (0..d).map(|i| mean[i] * p[i * d + j]).sum::<f64>()),
                    );
                }
                let log_det = if n_factors == k {
                    log_dets
                } else {
                    vec![log_dets[0]; k]
                };
                let factors = host_factors
                    .iter()
                    .map(|p| matrix(p, d, d, device))
                    .collect();
                (
                    log_det,
                    PreparedShape::Cholesky {
                        factors,
                        projected_means: matrix(&projected, k, d, device),
                    },
                )
            }
            CovarianceType::Diag | CovarianceType::Spherical => {
                let variances: Vec<f64> = if self.kind == CovarianceType::Diag {
                    self.covariances.clone()
                } else {
                    self.covariances
                        .iter()
                        .flat_map(|v| std::iter::repeat_n(*v, d))
                        .collect()
                };
                if let Some(i) = variances.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
                    return Err(ill(i / d));
                }
                let precisions: Vec<f64> = variances.iter().map(|v| 1.0 / v).collect();
                let log_det = (0..k)
                    .map(|c| {
                        0.5 * precisions[c * d..(c + 1) * d]
                            .iter()
                            .map(|p| p.ln())
                            .sum::<f64>()
                    })
                    .collect();
                (
                    log_det,
                    PreparedShape::Diagonal {
                        precisions: matrix(&precisions, k, d, device),
                        means: matrix(&self.means, k, d, device),
                    },
                )
            }
        };
        Ok(Prepared {
            log_weights: vector(&log_weights, device),
            log_det: vector(&log_det, device),
            log_det_host: log_det,
            shape,
        })
    }
}

impl Prepared {
    /// log N(x_n; μ_k, Σ_k) for centred data `[n, d]`: `[n, k]`.
    pub(super) fn log_gaussian(&self, data: &CentredData) -> Tensor<2> {
        let x = &data.x;
        let [_, d] = x.dims();
        let squared = match &self.shape {
            PreparedShape::Cholesky {
                factors,
                projected_means,
            } => {
                let k = projected_means.dims()[0];
                let columns = (0..k)
                    .map(|c| {
                        let p = factors[if factors.len() == k { c } else { 0 }].clone();
                        let y = x.clone().matmul(p) - projected_means.clone().narrow(0, c, 1);
                        y.powi_scalar(2).sum_dim(1)
                    })
                    .collect();
                Tensor::cat(columns, 1)
            }
            PreparedShape::Diagonal { precisions, means } => {
                // Σ_d (x_d − μ_d)² π_d = x² · π − 2 x · (μ π) + Σ_d μ_d² π_d, as matrix products.
                let quad = data.squares().matmul(precisions.clone().transpose());
                let cross = x
                    .clone()
                    .matmul((means.clone() * precisions.clone()).transpose());
                let constant = (means.clone().powi_scalar(2) * precisions.clone())
                    .sum_dim(1)
                    .transpose();
                (quad - cross.mul_scalar(2.0) + constant).clamp_min(0.0)
            }
        };
        squared.add_scalar(d as f64 * LN_2PI).mul_scalar(-0.5)
            + self.log_det.clone().unsqueeze_dim(0)
    }

    /// E-step: (log p(x_n) `[n]`, log responsibilities `[n, k]`).
    pub(super) fn e_step(&self, x: &CentredData) -> (Tensor<1>, Tensor<2>) {
        let joint = self.log_gaussian(x) + self.log_weights.clone().unsqueeze_dim(0);
        let log_norm = log_sum_exp(joint.clone(), 1);
        (log_norm.clone().squeeze_dim(1), joint - log_norm)
    }
}

/// M-step from centred data and responsibilities `[n, k]` (scikit-learn's
/// `_estimate_gaussian_parameters`, with the covariances computed from centred differences);
/// with sample weights, each responsibility counts w_n times and N is Σ_n w_n.
pub(super) fn m_step(
    data: &CentredData,
    resp: Tensor<2>,
    kind: CovarianceType,
    reg_covar: f64,
) -> Result<Params> {
    let x = &data.x;
    let [n, d] = x.dims();
    let k = resp.dims()[1];
    let resp = weighted(resp, data.weighting.as_ref());
    let n = weights::total(n, data.weighting.as_ref());
    let nk: Vec<f64> = to_f64(resp.clone().sum_dim(0))?
        .into_iter()
        .map(|v| v + NK_EPS)
        .collect();
    let sums = to_f64(resp.clone().transpose().matmul(x.clone()))?; // [k, d]
    let means: Vec<f64> = (0..k * d).map(|i| sums[i] / nk[i / d]).collect();
    let covariances = match kind {
        CovarianceType::Full | CovarianceType::Tied => {
            let mut full = Vec::with_capacity(k * d * d);
            for c in 0..k {
                let diff = x.clone() - matrix(&means[c * d..(c + 1) * d], 1, d, &x.device());
                let weighted = diff.clone() * resp.clone().narrow(1, c, 1);
                let scatter = to_f64(weighted.transpose().matmul(diff))?;
                // Symmetrise: float32 sums leave the two triangles a few ulps apart.
                full.extend((0..d * d).map(|i| {
                    let (r, col) = (i / d, i % d);
                    0.5 * (scatter[r * d + col] + scatter[col * d + r]) / nk[c]
                }));
            }
            tied_or_full(kind, full, &nk, d, n)
        }
        CovarianceType::Diag | CovarianceType::Spherical => {
            let second = to_f64(resp.transpose().matmul(data.squares()))?;
            diag_or_spherical(kind, &second, &nk, &means, d)
        }
    };
    Ok(Params::from_moments(
        kind,
        &nk,
        n,
        means,
        covariances,
        reg_covar,
    ))
}

/// Per-component full covariances (`full`, K·D·D) as they are, or tied:
/// Σ_tied = Σ_k N_k Σ_k / N, with N = `total`.
pub(super) fn tied_or_full(
    kind: CovarianceType,
    full: Vec<f64>,
    nk: &[f64],
    d: usize,
    total: f64,
) -> Vec<f64> {
    if kind != CovarianceType::Tied {
        return full;
    }
    (0..d * d)
        .map(|i| {
            (0..nk.len())
                .map(|c| nk[c] * full[c * d * d + i])
                .sum::<f64>()
                / total
        })
        .collect()
}

/// Diagonal covariances from the second moments Σ r x² (`second`, K·D), N_k and the means,
/// (S_kd / N_k − μ_kd²)⁺; or spherical: their mean over the D coordinates.
pub(super) fn diag_or_spherical(
    kind: CovarianceType,
    second: &[f64],
    nk: &[f64],
    means: &[f64],
    d: usize,
) -> Vec<f64> {
    let diag: Vec<f64> = (0..nk.len() * d)
        .map(|i| (second[i] / nk[i / d] - means[i] * means[i]).max(0.0))
        .collect();
    if kind == CovarianceType::Diag {
        return diag;
    }
    (0..nk.len())
        .map(|c| diag[c * d..(c + 1) * d].iter().sum::<f64>() / d as f64)
        .collect()
}

/// Column means of `[n, d]` data (weighted, with sample weights), rounded to f32 so that
/// x − c is computed exactly enough.
pub(super) fn data_center(x: &Tensor<2>, weighting: Option<&Weighting>) -> Result<Vec<f64>> {
    let mean = match weighting {
        None => x.clone().mean_dim(0),
        Some(w) => w.apply(x.clone()).sum_dim(0).div_scalar(w.total),
    };
    Ok(to_f64(mean)?.into_iter().map(|v| v as f32 as f64).collect())
}

/// Data minus a centre, and for diagonal and spherical covariances their squares (computed
/// once: those E- and M-steps use them every iteration; full and tied ones never do), with the
/// points' sample weights if any.
pub(super) struct CentredData {
    pub(super) x: Tensor<2>,
    pub(super) squares: Option<Tensor<2>>,
    pub(super) weighting: Option<Weighting>,
}

impl CentredData {
    pub(super) fn squares(&self) -> Tensor<2> {
        self.squares
            .clone()
            .expect("centred for a diagonal covariance type")
    }
}

pub(super) fn centred(
    x: &Tensor<2>,
    center: &[f64],
    kind: CovarianceType,
    weighting: Option<Weighting>,
) -> CentredData {
    let x = x.clone() - matrix(center, 1, center.len(), &x.device());
    let diagonal = matches!(kind, CovarianceType::Diag | CovarianceType::Spherical);
    CentredData {
        squares: diagonal.then(|| x.clone().powi_scalar(2)),
        x,
        weighting,
    }
}

impl CentredData {
    /// The (weighted) mean of per-point values `[n]`: the lower bound of a fit.
    pub(super) fn mean(&self, values: Tensor<1>) -> Result<f64> {
        weights::mean(values, self.weighting.as_ref())
    }
}

pub(super) fn mean_scalar(t: Tensor<1>) -> Result<f64> {
    weights::mean(t, None)
}
