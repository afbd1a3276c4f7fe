//! Exact EM over data read a chunk of rows at a time ([`RowSource`]): each iteration is one
//! pass that accumulates the M-step's sufficient statistics — N_k, Σ r x, and the scatter
//! Σ r (x − μ_k)(x − μ_k)ᵀ (about the previous means, corrected to the new ones exactly) or,
//! for diagonal types, Σ r x² — so the result is in-memory EM's to float tolerance while only
//! one chunk is ever held. The initialisation (k-means, or the configured method) runs on a
//! seeded sample of at most `init_rows` points, all of them when the data are smaller (then it
//! is in-memory EM's initialisation exactly).

use burn::tensor::{Device, Tensor, TensorData};
use latent_data::RowSource;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::config::CovarianceType;
use super::steps::{
    centred, diag_or_spherical, tied_or_full, CentredData, Params, Prepared, NK_EPS,
};
use super::{FitReport, Gmm, GmmConfig};
use crate::em::EmProgress;
use crate::error::{invalid, ModelError, Result};
use crate::host::{matrix, to_f64};

/// How a streamed fit reads its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streaming {
    /// Rows per chunk (the memory held at once is about chunk_rows × (D + K) floats).
    pub chunk_rows: usize,
    /// The initialisation's sample: at most this many points, drawn with the seed.
    pub init_rows: usize,
}

impl Default for Streaming {
    /// 65,536 rows a chunk, an initialisation on at most 100,000 points.
    fn default() -> Self {
        Self {
            chunk_rows: 65_536,
            init_rows: 100_000,
        }
    }
}

impl GmmConfig {
    /// Fits by exact EM over `source`, a chunk of rows at a time, on `device` (see the
    /// module `stream`): for data that do not fit in memory. Maximum-likelihood fits only
    /// (no Bayesian priors, sample weights or missing values).
    pub fn fit_streaming(
        &self,
        source: &dyn RowSource,
        streaming: Streaming,
        device: &Device,
        mut progress: impl FnMut(EmProgress),
    ) -> Result<Gmm> {
        let (chunks, center, sample) = self.streamed_start(source, streaming, device)?;
        let (params, report) = self.best_restart(
            &mut progress,
            |restart| self.initial_params(&sample, restart, &center),
            |params| chunks.step(params, &center, self.reg_covar),
        )?;
        Ok(Gmm::from_params(params, &center, report))
    }
}

impl GmmConfig {
    /// What both streamed fits start from, after checking the settings: the chunked source,
    /// the data's centre (one pass) and the initialisation's sample, centred.
    fn streamed_start<'a>(
        &self,
        source: &'a dyn RowSource,
        streaming: Streaming,
        device: &'a Device,
    ) -> Result<(Chunks<'a>, Vec<f64>, CentredData)> {
        self.check(source.len(), source.dim())?;
        if self.bayesian.is_some() || self.initial_labels.is_some() {
            return Err(invalid(
                "streaming",
                "a streamed fit is a maximum-likelihood fit started by its init method: drop \
                 the Bayesian prior and the initial labels",
            ));
        }
        if streaming.chunk_rows == 0 || streaming.init_rows < self.n_components {
            return Err(invalid(
                "streaming",
                format!(
                    "chunk_rows must be at least 1 and init_rows at least K = {}",
                    self.n_components
                ),
            ));
        }
        let chunks = Chunks {
            source,
            rows: streaming.chunk_rows,
            device,
        };
        let center = chunks.center()?;
        let sample = chunks.sample(streaming.init_rows, self.seed)?;
        let sample = centred(&sample, &center, self.covariance_type, None);
        Ok((chunks, center, sample))
    }
}

struct Chunks<'a> {
    source: &'a dyn RowSource,
    rows: usize,
    device: &'a Device,
}

impl Chunks<'_> {
    /// Calls `f` with each chunk as a `[rows, d]` tensor, in order.
    fn for_each(&self, mut f: impl FnMut(Tensor<2>) -> Result<()>) -> Result<()> {
        let (n, d) = (self.source.len(), self.source.dim());
        let mut start = 0;
        while start < n {
            let count = self.rows.min(n - start);
            let values = self.source.rows(start, count).map_err(ModelError::Data)?;
            f(Tensor::from_data(
                TensorData::new(values, [count, d]),
                self.device,
            ))?;
            start += count;
        }
        Ok(())
    }

    /// Column means (f64 sums of each chunk's f32 sums), rounded to f32 as in memory.
    fn center(&self) -> Result<Vec<f64>> {
        let (n, d) = (self.source.len(), self.source.dim());
        let mut sums = vec![0.0; d];
        self.for_each(|x| {
            for (s, v) in sums.iter_mut().zip(to_f64(x.sum_dim(0))?) {
                *s += v;
            }
            Ok(())
        })?;
        Ok(sums.iter().map(|s| (s / n as f64) as f32 as f64).collect())
    }

    /// All points in order if there are at most `most`, else `most` of them drawn without
    /// replacement with `seed` (in file order).
    fn sample(&self, most: usize, seed: u64) -> Result<Tensor<2>> {
        let (n, d) = (self.source.len(), self.source.dim());
        if n <= most {
            let values = self.source.rows(0, n).map_err(ModelError::Data)?;
            return Ok(Tensor::from_data(
                TensorData::new(values, [n, d]),
                self.device,
            ));
        }
        let mut rng = StdRng::seed_from_u64(seed ^ 0x005E_ED0F_1417);
        let mut chosen = rand::seq::index::sample(&mut rng, n, most).into_vec();
        chosen.sort_unstable();
        let mut values = Vec::with_capacity(most * d);
        let mut next = chosen.iter().peekable();
        while let Some(&&first) = next.peek() {
            // Read the chunk holding the next chosen row and take every chosen row in it.
            let chunk_start = first - first % self.rows.max(1);
            let count = self.rows.min(n - chunk_start);
            let chunk = self
                .source
                .rows(chunk_start, count)
                .map_err(ModelError::Data)?;
            while let Some(&&i) = next.peek() {
                if i >= chunk_start + count {
                    break;
                }
                let at = (i - chunk_start) * d;
                values.extend_from_slice(&chunk[at..at + d]);
                next.next();
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(values, [most, d]),
            self.device,
        ))
    }

    /// One EM iteration over every chunk: the mean log-likelihood under `params` and the
    /// parameters of the M-step.
    fn step(&self, params: &Params, center: &[f64], reg_covar: f64) -> Result<(f64, Params)> {
        let (n, d, k, kind) = (self.source.len(), params.d, params.k, params.kind);
        let prepared = params.prepare(self.device, reg_covar)?;
        let dense = matches!(kind, CovarianceType::Full | CovarianceType::Tied);
        let old_means: Vec<Tensor<2>> = (0..k)
            .map(|c| matrix(&params.means[c * d..(c + 1) * d], 1, d, self.device))
            .collect();
        let mut log_likelihood = 0.0;
        let mut counts = vec![0.0; k];
        let mut sums = vec![0.0; k * d];
        let mut second = vec![0.0; if dense { k * d * d } else { k * d }];
        self.for_each(|chunk| {
            let stats = chunk_stats(&prepared, &chunk, center, kind, Some(&old_means))?;
            log_likelihood += stats.log_likelihood;
            add(&mut counts, stats.counts);
            add(&mut sums, stats.sums);
            add(&mut second, stats.second);
            Ok(())
        })?;
        let nk: Vec<f64> = counts.iter().map(|v| v + NK_EPS).collect();
        let means: Vec<f64> = (0..k * d).map(|i| sums[i] / nk[i / d]).collect();
        let covariances = if dense {
            let mut full = Vec::with_capacity(k * d * d);
            for c in 0..k {
                // Σ r (x − μ)(x − μ)ᵀ = S − δ aᵀ − a δᵀ + R δ δᵀ with a = Σ r (x − μ_old),
                // δ = μ − μ_old, R = Σ r: the scatter about the new means, exactly.
                let old = &params.means[c * d..(c + 1) * d];
                let a: Vec<f64> = (0..d)
                    .map(|j| sums[c * d + j] - counts[c] * old[j])
                    .collect();
                let delta: Vec<f64> = (0..d).map(|j| means[c * d + j] - old[j]).collect();
                let s = &second[c * d * d..(c + 1) * d * d];
                let at = |r: usize, col: usize| {
                    s[r * d + col] - delta[r] * a[col] - a[r] * delta[col]
                        + counts[c] * delta[r] * delta[col]
                };
                full.extend((0..d * d).map(|i| {
                    let (r, col) = (i / d, i % d);
                    0.5 * (at(r, col) + at(col, r)) / nk[c]
                }));
            }
            tied_or_full(kind, full, &nk, d, n as f64)
        } else {
            diag_or_spherical(kind, &second, &nk, &means, d)
        };
        let next = Params::from_moments(kind, &nk, n as f64, means, covariances, reg_covar);
        Ok((log_likelihood / n as f64, next))
    }
}

/// One chunk's E-step and the M-step's statistics of it.
struct ChunkStats {
    /// Σ log p(x_n).
    log_likelihood: f64,
    /// Σ r (K).
    counts: Vec<f64>,
    /// Σ r x (K × D).
    sums: Vec<f64>,
    /// Σ r (x − a_k)(x − a_k)ᵀ (K × D × D, dense types; a_k = 0 without `about`), or Σ r x²
    /// (K × D, diagonal types).
    second: Vec<f64>,
}

/// The statistics of `chunk` (raw rows) under `prepared`, in coordinates centred at
/// `center`; dense scatters taken about `about` (one `[1, d]` row per component) if given.
fn chunk_stats(
    prepared: &Prepared,
    chunk: &Tensor<2>,
    center: &[f64],
    kind: CovarianceType,
    about: Option<&[Tensor<2>]>,
) -> Result<ChunkStats> {
    let data = centred(chunk, center, kind, None);
    let (log_norm, log_resp) = prepared.e_step(&data);
    let resp = log_resp.exp();
    let k = resp.dims()[1];
    let second = if matches!(kind, CovarianceType::Full | CovarianceType::Tied) {
        let mut all = Vec::new();
        for c in 0..k {
            let diff = match about {
                Some(means) => data.x.clone() - means[c].clone(),
                None => data.x.clone(),
            };
            let weighted = diff.clone() * resp.clone().narrow(1, c, 1);
            all.extend(to_f64(weighted.transpose().matmul(diff))?);
        }
        all
    } else {
        to_f64(resp.clone().transpose().matmul(data.squares()))?
    };
    Ok(ChunkStats {
        log_likelihood: to_f64(log_norm.sum())?[0],
        counts: to_f64(resp.clone().sum_dim(0))?,
        sums: to_f64(resp.transpose().matmul(data.x))?,
        second,
    })
}

fn add(total: &mut [f64], more: Vec<f64>) {
    total.iter_mut().zip(more).for_each(|(t, v)| *t += v);
}

/// Stochastic-approximation (stepwise, online) EM over chunks of rows: after each batch of
/// `chunk_rows` points the running sufficient statistics move towards the batch's,
/// s ← (1 − η_t) s + η_t ŝ_batch with η_t = (t + 1)^(−κ) at the t-th batch (t = 1, 2, …;
/// Cappé & Moulines 2009, Liang & Klein 2009), and the parameters follow from s at once — many
/// parameter updates per pass instead of one, for data too large for many exact passes. It
/// converges to a stationary point for ½ < κ ≤ 1 (the step sizes' sum diverges, the sum of
/// their squares converges); smaller κ forgets the start faster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnlineEm {
    /// Passes over the data.
    pub epochs: usize,
    /// κ in (½, 1].
    pub decay: f64,
}

impl Default for OnlineEm {
    /// Three passes, κ = 0.6.
    fn default() -> Self {
        Self {
            epochs: 3,
            decay: 0.6,
        }
    }
}

/// Running sufficient statistics per point: Σ r / B, Σ r x / B, and Σ r x xᵀ / B (dense
/// types) or Σ r x² / B (diagonal types), in centred coordinates.
struct Moments {
    weights: Vec<f64>,
    first: Vec<f64>,
    second: Vec<f64>,
}

impl Moments {
    fn of(params: &Params) -> Self {
        let (k, d) = (params.k, params.d);
        let dense = matches!(params.kind, CovarianceType::Full | CovarianceType::Tied);
        let cov = |c: usize, a: usize, b: usize| -> f64 {
            match params.kind {
                CovarianceType::Full => params.covariances[c * d * d + a * d + b],
                CovarianceType::Tied => params.covariances[a * d + b],
                CovarianceType::Diag => params.covariances[c * d + a],
                CovarianceType::Spherical => params.covariances[c],
            }
        };
        let mu = |c: usize, j: usize| params.means[c * d + j];
        let mut second = Vec::with_capacity(if dense { k * d * d } else { k * d });
        for c in 0..k {
            let w = params.weights[c];
            if dense {
                second.extend((0..d * d).map(|i| {
                    let (a, b) = (i / d, i % d);
                    w * (cov(c, a, b) + mu(c, a) * mu(c, b))
                }));
            } else {
                second.extend((0..d).map(|j| w * (cov(c, j, j) + mu(c, j) * mu(c, j))));
            }
        }
        Self {
            first: (0..k * d)
                .map(|i| params.weights[i / d] * params.means[i])
                .collect(),
            weights: params.weights.clone(),
            second,
        }
    }

    /// The parameters these moments of `n` points imply (with `reg_covar` on the diagonals;
    /// each weight guarded as the exact M-step guards N_k, by 10ε / n).
    fn params(&self, kind: CovarianceType, k: usize, d: usize, n: usize, reg_covar: f64) -> Params {
        let dense = matches!(kind, CovarianceType::Full | CovarianceType::Tied);
        let w: Vec<f64> = self.weights.iter().map(|w| w + NK_EPS / n as f64).collect();
        let means: Vec<f64> = (0..k * d).map(|i| self.first[i] / w[i / d]).collect();
        let covariances = if dense {
            let full: Vec<f64> = (0..k * d * d)
                .map(|i| {
                    let (c, a, b) = (i / (d * d), (i / d) % d, i % d);
                    let s = 0.5 * (self.second[i] + self.second[c * d * d + b * d + a]);
                    s / w[c] - means[c * d + a] * means[c * d + b]
                })
                .collect();
            tied_or_full(kind, full, &w, d, w.iter().sum())
        } else {
            diag_or_spherical(kind, &self.second, &w, &means, d)
        };
        Params::from_moments(kind, &w, w.iter().sum(), means, covariances, reg_covar)
    }

    /// s ← (1 − η) s + η ŝ.
    fn blend(&mut self, batch: Moments, step: f64) {
        for (old, new) in [
            (&mut self.weights, batch.weights),
            (&mut self.first, batch.first),
            (&mut self.second, batch.second),
        ] {
            old.iter_mut()
                .zip(new)
                .for_each(|(o, n)| *o = (1.0 - step) * *o + step * n);
        }
    }
}

impl GmmConfig {
    /// Fits by stochastic-approximation EM (see [`OnlineEm`]) over `source`, a batch of
    /// `streaming.chunk_rows` rows at a time, initialised as [`fit_streaming`](Self::fit_streaming)
    /// is; one restart. The reported lower bound is the mean log-likelihood of all the data
    /// under the final parameters (one more pass); `lower_bounds` holds, per pass, the mean
    /// log-likelihood of each batch under the parameters it met; `converged` is false (the
    /// passes are run, not stopped by `tol`).
    pub fn fit_online(
        &self,
        source: &dyn RowSource,
        streaming: Streaming,
        online: OnlineEm,
        device: &Device,
        mut progress: impl FnMut(EmProgress),
    ) -> Result<Gmm> {
        let (n, d) = (source.len(), source.dim());
        if online.epochs == 0 || !(online.decay > 0.5 && online.decay <= 1.0) {
            return Err(invalid(
                "online",
                format!(
                    "epochs must be at least 1 and the decay κ in (0.5, 1], got {} and {}",
                    online.epochs, online.decay
                ),
            ));
        }
        let (chunks, center, sample) = self.streamed_start(source, streaming, device)?;
        let mut params = self.initial_params(&sample, 0, &center)?;
        let (kind, k) = (self.covariance_type, self.n_components);
        let mut moments = Moments::of(&params);
        let mut batches = 0usize;
        let mut lower_bounds = Vec::with_capacity(online.epochs);
        for epoch in 1..=online.epochs {
            let mut log_likelihood = 0.0;
            chunks.for_each(|chunk| {
                let rows = chunk.dims()[0] as f64;
                let prepared = params.prepare(device, self.reg_covar)?;
                let stats = chunk_stats(&prepared, &chunk, &center, kind, None)?;
                log_likelihood += stats.log_likelihood;
                let per_point = |v: Vec<f64>| v.into_iter().map(|v| v / rows).collect::<Vec<_>>();
                let batch = Moments {
                    weights: per_point(stats.counts),
                    first: per_point(stats.sums),
                    second: per_point(stats.second),
                };
                batches += 1;
                moments.blend(batch, (batches as f64 + 1.0).powf(-online.decay));
                params = moments.params(kind, k, d, n, self.reg_covar);
                Ok(())
            })?;
            let mean = log_likelihood / n as f64;
            if !mean.is_finite() {
                return Err(ModelError::Diverged {
                    iteration: epoch,
                    value: mean,
                });
            }
            lower_bounds.push(mean);
            progress(EmProgress {
                restart: 0,
                iteration: epoch,
                lower_bound: mean,
            });
        }
        let (final_bound, _) = chunks.step(&params, &center, self.reg_covar)?;
        let report = FitReport {
            converged: false,
            n_iter: online.epochs,
            lower_bound: final_bound,
            lower_bounds,
            best_init: 0,
            config: self.clone(),
            bayesian: None,
        };
        Ok(Gmm::from_params(params, &center, report))
    }
}
