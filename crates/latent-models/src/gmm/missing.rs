//! EM for data with missing values (NaN entries), the standard EM for incomplete data
//! (Ghahramani & Jordan 1994): the E-step scores each point on its observed coordinates O
//! alone, log N(x_O; μ_O, Σ_OO) — the missing ones marginalised out, exactly, for every
//! covariance type — and the M-step replaces each missing block by its conditional
//! expectation given the component, x̂_M = μ_M + Σ_MO Σ_OO⁻¹ (x_O − μ_O), adding the conditional
//! covariance Σ_MM − Σ_MO Σ_OO⁻¹ Σ_OM to the scatter. Points are grouped by their pattern of
//! missing coordinates, so each (pattern, component) needs one factorisation. The work runs on
//! the host in f64: it is per pattern, not one batched product.

use std::collections::HashMap;

use latent_distributions::linalg::cholesky;
use latent_distributions::LN_2PI;

use super::config::CovarianceType;
use super::steps::{diag_or_spherical, tied_or_full, Params, NK_EPS};
use crate::error::{ModelError, Result};

/// Points with missing coordinates, centred, grouped by which coordinates are missing.
pub(super) struct Incomplete {
    pub(super) n: usize,
    pub(super) d: usize,
    /// Row-major `[n, d]`, centred; NaN where missing.
    values: Vec<f64>,
    patterns: Vec<Pattern>,
    /// Per-point weights (all 1 without sample weights) and their total.
    weights: Vec<f64>,
    total: f64,
}

/// What the E-step gives: log p(x_n,O) `[n]`, responsibilities `[n, k]`, and the factors per
/// pattern and component.
type EStep = (Vec<f64>, Vec<f64>, Vec<Vec<Factor>>);

struct Pattern {
    observed: Vec<usize>,
    missing: Vec<usize>,
    rows: Vec<usize>,
}

/// Column means over the observed entries (weighted, with sample weights), rounded to f32 as
/// the complete-data centre is. A column with no observed entry is an error.
fn observed_center(values: &[f64], d: usize, weights: Option<&[f64]>) -> Result<Vec<f64>> {
    let mut sums = vec![0.0; d];
    let mut totals = vec![0.0; d];
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    for (i, row) in values.chunks(d).enumerate() {
        let w = weight(i);
        for (j, v) in row.iter().enumerate() {
            if !v.is_nan() {
                sums[j] += w * v;
                totals[j] += w;
            }
        }
    }
    (0..d)
        .map(|j| {
            if totals[j] > 0.0 {
                Ok((sums[j] / totals[j]) as f32 as f64)
            } else {
                Err(ModelError::InvalidData(format!(
                    "column {} has no observed value (of positive weight): every entry is NaN",
                    j + 1
                )))
            }
        })
        .collect()
}

impl Incomplete {
    /// `values` (`[n, d]`, NaN where missing) centred at their observed column means, which
    /// are returned beside them.
    pub(super) fn centred_at_observed_means(
        values: &[f64],
        d: usize,
        weights: Option<&[f64]>,
    ) -> Result<(Vec<f64>, Self)> {
        let center = observed_center(values, d, weights)?;
        let data = Self::new(values, d, &center, weights)?;
        Ok((center, data))
    }

    /// `values` (`[n, d]`, NaN where missing) minus `center`. A point with no observed
    /// coordinate is an error naming it.
    pub(super) fn new(
        values: &[f64],
        d: usize,
        center: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<Self> {
        let n = values.len() / d.max(1);
        let mut index: HashMap<Vec<bool>, usize> = HashMap::new();
        let mut patterns: Vec<Pattern> = Vec::new();
        let mut centred = Vec::with_capacity(values.len());
        for (i, row) in values.chunks(d).enumerate() {
            let mask: Vec<bool> = row.iter().map(|v| v.is_nan()).collect();
            if mask.iter().all(|m| *m) {
                return Err(ModelError::InvalidData(format!(
                    "point {} (counting from 1) is missing every coordinate (all NaN): drop it",
                    i + 1
                )));
            }
            if let Some(v) = row.iter().find(|v| v.is_infinite()) {
                return Err(ModelError::InvalidData(format!(
                    "point {} (counting from 1) has the value {v}: values must be finite or NaN",
                    i + 1
                )));
            }
            centred.extend(row.iter().zip(center).map(|(v, c)| v - c));
            let p = *index.entry(mask.clone()).or_insert_with(|| {
                patterns.push(Pattern {
                    observed: (0..d).filter(|j| !mask[*j]).collect(),
                    missing: (0..d).filter(|j| mask[*j]).collect(),
                    rows: Vec::new(),
                });
                patterns.len() - 1
            });
            patterns[p].rows.push(i);
        }
        let weights = weights.map_or_else(|| vec![1.0; n], <[f64]>::to_vec);
        let total = weights.iter().sum();
        Ok(Self {
            n,
            d,
            values: centred,
            patterns,
            weights,
            total,
        })
    }

    /// The data with each missing entry replaced by its column's observed mean (0 in centred
    /// coordinates): what the initialisation (k-means) clusters.
    pub(super) fn mean_filled(&self) -> Vec<f64> {
        self.values
            .iter()
            .map(|v| if v.is_nan() { 0.0 } else { *v })
            .collect()
    }

    /// log α_k + log N(x_O; μ_kO, Σ_kOO) for every point and component, `[n, k]` row-major,
    /// with the factors the M-step and imputation reuse.
    fn joint(&self, params: &Params, reg_covar: f64) -> Result<(Vec<f64>, Vec<Vec<Factor>>)> {
        let k = params.k;
        let mut joint = vec![0.0; self.n * k];
        let mut factors = Vec::with_capacity(self.patterns.len());
        for pattern in &self.patterns {
            let mut per_component = Vec::with_capacity(k);
            for c in 0..k {
                let factor = Factor::new(params, c, pattern, reg_covar)?;
                let log_weight = params.weights[c].ln();
                for &i in &pattern.rows {
                    let diff = self.observed_diff(i, pattern, &params.means[c * self.d..]);
                    joint[i * k + c] = log_weight + factor.log_density(&diff);
                }
                per_component.push(factor);
            }
            factors.push(per_component);
        }
        Ok((joint, factors))
    }

    /// x_O − μ_O of point `i`.
    fn observed_diff(&self, i: usize, pattern: &Pattern, mean: &[f64]) -> Vec<f64> {
        let row = &self.values[i * self.d..(i + 1) * self.d];
        pattern.observed.iter().map(|&j| row[j] - mean[j]).collect()
    }

    /// E-step: (log p(x_n,O) `[n]`, responsibilities `[n, k]`), and the factors.
    fn e_step(&self, params: &Params, reg_covar: f64) -> Result<EStep> {
        let (log_norm, mut resp, factors) = self.log_e_step(params, reg_covar)?;
        resp.iter_mut().for_each(|v| *v = v.exp());
        Ok((log_norm, resp, factors))
    }

    /// The E-step in log space: log p(x_n,O) `[n]`, log responsibilities `[n, k]`, factors.
    fn log_e_step(&self, params: &Params, reg_covar: f64) -> Result<EStep> {
        let (mut joint, factors) = self.joint(params, reg_covar)?;
        let mut log_norm = Vec::with_capacity(self.n);
        for row in joint.chunks_mut(params.k) {
            let norm = log_sum_exp(row);
            row.iter_mut().for_each(|v| *v -= norm);
            log_norm.push(norm);
        }
        Ok((log_norm, joint, factors))
    }

    /// The weighted mean of per-point values.
    fn mean(&self, values: &[f64]) -> f64 {
        values
            .iter()
            .zip(&self.weights)
            .map(|(v, w)| v * w)
            .sum::<f64>()
            / self.total
    }

    /// log p(x_n,O) of every point under `params` and the log responsibilities `[n, k]`.
    pub(super) fn score(&self, params: &Params, reg_covar: f64) -> Result<(Vec<f64>, Vec<f64>)> {
        let (log_norm, log_resp, _) = self.log_e_step(params, reg_covar)?;
        Ok((log_norm, log_resp))
    }

    /// The points with each missing entry replaced by its conditional mean under the mixture,
    /// Σ_k p(k | x_O) (μ_kM + Σ_kMO Σ_kOO⁻¹ (x_O − μ_kO)), centred as the data.
    pub(super) fn impute(&self, params: &Params, reg_covar: f64) -> Result<Vec<f64>> {
        let (_, resp, factors) = self.e_step(params, reg_covar)?;
        let (k, d) = (params.k, self.d);
        let mut out = self.values.clone();
        for (pattern, per_component) in self.patterns.iter().zip(&factors) {
            if pattern.missing.is_empty() {
                continue;
            }
            for &i in &pattern.rows {
                let mut filled = vec![0.0; pattern.missing.len()];
                for (c, factor) in per_component.iter().enumerate() {
                    let mean = &params.means[c * d..(c + 1) * d];
                    let diff = self.observed_diff(i, pattern, mean);
                    let r = resp[i * k + c];
                    for (f, v) in filled
                        .iter_mut()
                        .zip(factor.conditional_mean(&diff, pattern, mean))
                    {
                        *f += r * v;
                    }
                }
                for (&j, v) in pattern.missing.iter().zip(filled) {
                    out[i * d + j] = v;
                }
            }
        }
        Ok(out)
    }

    /// One EM iteration: the weighted mean log-likelihood of the observed values under
    /// `params`, and the parameters of the M-step.
    pub(super) fn step(&self, params: &Params, reg_covar: f64) -> Result<(f64, Params)> {
        let (log_norm, resp, factors) = self.e_step(params, reg_covar)?;
        let next = self.m_step(params, &resp, &factors, reg_covar)?;
        Ok((self.mean(&log_norm), next))
    }

    /// The M-step from responsibilities `[n, k]`, with the conditional expectations of the
    /// missing entries under `params` (whose `factors` the E-step made).
    fn m_step(
        &self,
        params: &Params,
        resp: &[f64],
        factors: &[Vec<Factor>],
        reg_covar: f64,
    ) -> Result<Params> {
        let (k, d, kind) = (params.k, self.d, params.kind);
        let dense = matches!(kind, CovarianceType::Full | CovarianceType::Tied);
        let mut nk = vec![NK_EPS; k];
        let mut first = vec![0.0; k * d];
        // Second moments Σ r (x̂ x̂ᵀ + C): D × D per component, or the diagonal.
        let mut second = vec![0.0; if dense { k * d * d } else { k * d }];
        for (pattern, per_component) in self.patterns.iter().zip(factors) {
            for (c, factor) in per_component.iter().enumerate() {
                let mean = &params.means[c * d..(c + 1) * d];
                let conditional = factor.conditional_covariance();
                for &i in &pattern.rows {
                    let r = resp[i * k + c] * self.weights[i];
                    if r == 0.0 {
                        continue;
                    }
                    let mut x = self.values[i * d..(i + 1) * d].to_vec();
                    let diff = self.observed_diff(i, pattern, mean);
                    for (&j, v) in pattern
                        .missing
                        .iter()
                        .zip(factor.conditional_mean(&diff, pattern, mean))
                    {
                        x[j] = v;
                    }
                    nk[c] += r;
                    for j in 0..d {
                        first[c * d + j] += r * x[j];
                    }
                    if dense {
                        let s = &mut second[c * d * d..(c + 1) * d * d];
                        for a in 0..d {
                            for b in 0..=a {
                                s[a * d + b] += r * x[a] * x[b];
                            }
                        }
                        let m = pattern.missing.len();
                        for (ia, &a) in pattern.missing.iter().enumerate() {
                            for (ib, &b) in pattern.missing.iter().enumerate().take(ia + 1) {
                                s[a * d + b] += r * conditional[ia * m + ib];
                            }
                        }
                    } else {
                        let s = &mut second[c * d..(c + 1) * d];
                        for j in 0..d {
                            s[j] += r * x[j] * x[j];
                        }
                        for (im, &j) in pattern.missing.iter().enumerate() {
                            s[j] += r * conditional[im];
                        }
                    }
                }
            }
        }
        let means: Vec<f64> = (0..k * d).map(|i| first[i] / nk[i / d]).collect();
        let covariances = if dense {
            let mut full = vec![0.0; k * d * d];
            for c in 0..k {
                for a in 0..d {
                    for b in 0..=a {
                        let v = second[c * d * d + a * d + b] / nk[c]
                            - means[c * d + a] * means[c * d + b];
                        full[c * d * d + a * d + b] = v;
                        full[c * d * d + b * d + a] = v;
                    }
                }
            }
            tied_or_full(kind, full, &nk, d, self.total)
        } else {
            diag_or_spherical(kind, &second, &nk, &means, d)
        };
        Ok(Params::from_moments(
            kind,
            &nk,
            self.total,
            means,
            covariances,
            reg_covar,
        ))
    }
}

/// One component's covariance restricted to one pattern: the Cholesky factor L of Σ_OO, its
/// log-determinant, and for the missing block B = Σ_OO⁻¹ Σ_OM and C = Σ_MM − Σ_MO B.
/// Diagonal types keep only variances (the blocks are independent).
struct Factor {
    /// `|O|` × `|O|` lower-triangular (dense types) or the |O| observed variances.
    chol: Vec<f64>,
    /// log det Σ_OO.
    log_det: f64,
    dense: bool,
    /// B, `|O|` × `|M|` row-major (dense types only).
    b: Vec<f64>,
    /// C, `|M|` × `|M|` (dense) or the |M| missing variances.
    c: Vec<f64>,
}

impl Factor {
    fn new(params: &Params, c: usize, pattern: &Pattern, reg_covar: f64) -> Result<Self> {
        let d = params.d;
        let (o, m) = (&pattern.observed, &pattern.missing);
        let ill = || ModelError::IllConditioned {
            component: c,
            reg_covar,
        };
        match params.kind {
            CovarianceType::Full | CovarianceType::Tied => {
                let at = if params.kind == CovarianceType::Full {
                    c * d * d
                } else {
                    0
                };
                let sigma = &params.covariances[at..at + d * d];
                let block = |rows: &[usize], cols: &[usize]| -> Vec<f64> {
                    rows.iter()
                        .flat_map(|&r| cols.iter().map(move |&col| sigma[r * d + col]))
                        .collect()
                };
                let l = cholesky(&block(o, o), o.len()).ok_or_else(ill)?;
                let log_det = 2.0 * (0..o.len()).map(|i| l[i * o.len() + i].ln()).sum::<f64>();
                // B = Σ_OO⁻¹ Σ_OM, column by column: two triangular solves.
                let som = block(o, m);
                let mut b = vec![0.0; o.len() * m.len()];
                for col in 0..m.len() {
                    let rhs: Vec<f64> = (0..o.len()).map(|i| som[i * m.len() + col]).collect();
                    let x = backward(&l, &forward(&l, &rhs));
                    for i in 0..o.len() {
                        b[i * m.len() + col] = x[i];
                    }
                }
                let smm = block(m, m);
                let cmat = (0..m.len() * m.len())
                    .map(|idx| {
                        let (r, col) = (idx / m.len(), idx % m.len());
                        smm[idx]
                            - (0..o.len())
                                .map(|i| som[i * m.len() + r] * b[i * m.len() + col])
                                .sum::<f64>()
                    })
                    .collect();
                Ok(Self {
                    chol: l,
                    log_det,
                    dense: true,
                    b,
                    c: cmat,
                })
            }
            CovarianceType::Diag | CovarianceType::Spherical => {
                let var = |j: usize| {
                    if params.kind == CovarianceType::Diag {
                        params.covariances[c * d + j]
                    } else {
                        params.covariances[c]
                    }
                };
                let observed: Vec<f64> = o.iter().map(|&j| var(j)).collect();
                if observed.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                    return Err(ill());
                }
                Ok(Self {
                    log_det: observed.iter().map(|v| v.ln()).sum(),
                    chol: observed,
                    dense: false,
                    b: Vec::new(),
                    c: m.iter().map(|&j| var(j)).collect(),
                })
            }
        }
    }

    /// log N(x_O; μ_O, Σ_OO) from `diff` = x_O − μ_O.
    fn log_density(&self, diff: &[f64]) -> f64 {
        let quad = if self.dense {
            forward(&self.chol, diff).iter().map(|v| v * v).sum::<f64>()
        } else {
            diff.iter().zip(&self.chol).map(|(v, s)| v * v / s).sum()
        };
        -0.5 * (diff.len() as f64 * LN_2PI + self.log_det + quad)
    }

    /// E[x_M | x_O, component] = μ_M + Bᵀ (x_O − μ_O).
    fn conditional_mean(&self, diff: &[f64], pattern: &Pattern, mean: &[f64]) -> Vec<f64> {
        let m = pattern.missing.len();
        pattern
            .missing
            .iter()
            .enumerate()
            .map(|(col, &j)| {
                let shift = if self.dense {
                    (0..diff.len()).map(|i| self.b[i * m + col] * diff[i]).sum()
                } else {
                    0.0
                };
                mean[j] + shift
            })
            .collect()
    }

    /// Cov[x_M | x_O, component]: `|M|` × `|M|` (dense types) or its diagonal.
    fn conditional_covariance(&self) -> &[f64] {
        &self.c
    }
}

/// log Σ_i exp(v_i), stably.
fn log_sum_exp(values: &[f64]) -> f64 {
    let top = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    top + values.iter().map(|v| (v - top).exp()).sum::<f64>().ln()
}

/// Solves L y = v for lower-triangular L (`n` × `n`, row-major).
fn forward(l: &[f64], v: &[f64]) -> Vec<f64> {
    let n = v.len();
    let mut y = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|j| l[i * n + j] * y[j]).sum();
        y[i] = (v[i] - s) / l[i * n + i];
    }
    y
}

/// Solves Lᵀ x = y for lower-triangular L.
fn backward(l: &[f64], y: &[f64]) -> Vec<f64> {
    let n = y.len();
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|j| l[j * n + i] * x[j]).sum();
        x[i] = (y[i] - s) / l[i * n + i];
    }
    x
}
