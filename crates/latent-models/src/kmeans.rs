//! k-means++ seeding and Lloyd's k-means on the device: the default initialisation of the
//! mixture models.

use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::RngExt;

use crate::em::InitMethod;
use crate::error::Result;
use crate::host::{matrix, to_f64, to_i64};
use crate::weights::{weighted, Weighting};

/// The responsibilities `[n, k]` that start EM, for both mixtures. With sample weights,
/// k-means++ draws points in proportion to w_n (times the squared distance), Lloyd's centres
/// are weighted means, and random-from-data picks among the points of positive weight.
pub(crate) fn initial_responsibilities(
    method: InitMethod,
    x: &Tensor<2>,
    k: usize,
    rng: &mut StdRng,
    weighting: Option<&Weighting>,
) -> Result<Tensor<2>> {
    let [n, _] = x.dims();
    let device = x.device();
    let weights = weighting.map(|w| w.host.as_slice());
    Ok(match method {
        InitMethod::Kmeans => {
            let x_sq = x.clone().powi_scalar(2).sum_dim(1);
            let seeds = kmeans_plus_plus(x, &x_sq, k, rng, weights)?;
            one_hot(kmeans(x, &x_sq, &seeds, 300, weighting)?, k)
        }
        InitMethod::KmeansPlusPlus => {
            let x_sq = x.clone().powi_scalar(2).sum_dim(1);
            let seeds = kmeans_plus_plus(x, &x_sq, k, rng, weights)?;
            one_hot(nearest_centre(x, &x_sq, rows(x, &seeds)), k)
        }
        InitMethod::Random => {
            let mut values: Vec<f32> = (0..n * k).map(|_| rng.random::<f32>()).collect();
            for row in values.chunks_mut(k) {
                let total: f32 = row.iter().sum();
                row.iter_mut().for_each(|v| *v /= total);
            }
            Tensor::from_data(TensorData::new(values, [n, k]), &device)
        }
        InitMethod::RandomFromData => {
            let chosen = match weights {
                None => rand::seq::index::sample(rng, n, k).into_vec(),
                Some(w) => {
                    let positive: Vec<usize> = (0..n).filter(|i| w[*i] > 0.0).collect();
                    rand::seq::index::sample(rng, positive.len(), k)
                        .into_iter()
                        .map(|i| positive[i])
                        .collect()
                }
            };
            let mut values = vec![0f32; n * k];
            for (c, i) in chosen.into_iter().enumerate() {
                values[i * k + c] = 1.0;
            }
            Tensor::from_data(TensorData::new(values, [n, k]), &device)
        }
    })
}

/// One-hot responsibilities `[n, k]` of a given partition.
pub(crate) fn labelled(labels: &[usize], k: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let mut values = vec![0f32; labels.len() * k];
    for (i, l) in labels.iter().enumerate() {
        values[i * k + l] = 1.0;
    }
    Tensor::from_data(TensorData::new(values, [labels.len(), k]), device)
}

/// `[n, k]` indicators of `labels` (`[n]`, values in 0..k); unlike burn's `one_hot`, k = 1 is
/// allowed.
fn one_hot(labels: Tensor<1, Int>, k: usize) -> Tensor<2> {
    let n = labels.dims()[0];
    let classes = Tensor::<1, Int>::arange(0..k as i64, &labels.device())
        .unsqueeze_dim::<2>(0)
        .repeat_dim(0, n);
    labels
        .unsqueeze_dim::<2>(1)
        .repeat_dim(1, k)
        .equal(classes)
        .float()
}

/// The rows `indices` of `x`, stacked.
fn rows(x: &Tensor<2>, indices: &[usize]) -> Tensor<2> {
    Tensor::cat(
        indices.iter().map(|i| x.clone().narrow(0, *i, 1)).collect(),
        0,
    )
}

/// ‖x_n − c_k‖² for all n, k as `[n, k]`, through ‖x‖² − 2 x·c + ‖c‖² (a matrix product);
/// clamped at 0 against rounding.
pub(crate) fn squared_distances(x: &Tensor<2>, x_sq: &Tensor<2>, centres: Tensor<2>) -> Tensor<2> {
    let c_sq = centres.clone().powi_scalar(2).sum_dim(1).transpose(); // [1, k]
    let cross = x.clone().matmul(centres.transpose()); // [n, k]
    (x_sq.clone() - cross.mul_scalar(2.0) + c_sq).clamp_min(0.0)
}

/// Greedy k-means++ seeding, as scikit-learn's (Arthur & Vassilvitskii 2007, with
/// 2 + ⌊ln K⌋ local trials): the first centre uniformly at random; for each next one,
/// 2 + ⌊ln K⌋ candidates drawn with probability proportional to their squared distance to the
/// nearest centre chosen so far, and the candidate that leaves the smallest total squared
/// distance kept (`x_sq` = ‖x_n‖², `[n, 1]`). With `weights`, draws and totals are weighted
/// by w_n as well. Returns the indices of the chosen points.
fn kmeans_plus_plus(
    x: &Tensor<2>,
    x_sq: &Tensor<2>,
    k: usize,
    rng: &mut StdRng,
    weights: Option<&[f64]>,
) -> Result<Vec<usize>> {
    let [n, _] = x.dims();
    let trials = 2 + (k as f64).ln() as usize;
    let any = |rng: &mut StdRng| match weights {
        None => rng.random_range(0..n),
        Some(w) => draw(w, rng).unwrap_or(n - 1),
    };
    let first = any(rng);
    let mut chosen = vec![first];
    let mut nearest = squared_distances(x, x_sq, rows(x, &[first])); // [n, 1]
    let column = weights.map(|w| matrix(w, n, 1, &x.device()));
    while chosen.len() < k {
        let mut odds = to_f64(nearest.clone())?;
        if let Some(w) = weights {
            odds.iter_mut().zip(w).for_each(|(o, w)| *o *= w);
        }
        // Every point (of positive weight) at a chosen centre: any points will do.
        let candidates: Vec<usize> = (0..trials)
            .map(|_| draw(&odds, rng).unwrap_or_else(|| any(rng)))
            .collect();
        let distances = squared_distances(x, x_sq, rows(x, &candidates))
            .min_pair(nearest.clone().repeat_dim(1, trials)); // [n, trials]
        let weighted = match &column {
            Some(w) => distances.clone() * w.clone(),
            None => distances.clone(),
        };
        let totals = to_f64(weighted.sum_dim(0))?;
        let best = (0..trials)
            .min_by(|a, b| totals[*a].total_cmp(&totals[*b]))
            .expect("at least two trials");
        nearest = distances.narrow(1, best, 1);
        chosen.push(candidates[best]);
    }
    Ok(chosen)
}

/// An index drawn with probability proportional to `odds` (≥ 0); `None` if they sum to 0.
fn draw(odds: &[f64], rng: &mut StdRng) -> Option<usize> {
    let total: f64 = odds.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mut target = rng.random::<f64>() * total;
    let last = odds.iter().rposition(|o| *o > 0.0)?;
    Some(
        odds.iter()
            .position(|o| {
                target -= o;
                target < 0.0
            })
            .unwrap_or(last),
    )
}

/// The index of the nearest of `centres` (`[k, d]`) for every point (`x_sq` = ‖x_n‖², `[n, 1]`):
/// `[n]`.
fn nearest_centre(x: &Tensor<2>, x_sq: &Tensor<2>, centres: Tensor<2>) -> Tensor<1, Int> {
    squared_distances(x, x_sq, centres).argmin(1).squeeze_dim(1)
}

/// Lloyd's algorithm from the given seed points, stopping when no label changes or, as
/// scikit-learn's KMeans, when the centres move by less than 1e-4 × the mean feature variance
/// (squared distance summed over centres); at most `max_iter` rounds. An emptied cluster keeps
/// its previous centre (`x_sq` = ‖x_n‖², `[n, 1]`). With a weighting, centres are weighted
/// means and the variance is the weighted one. Returns the labels.
fn kmeans(
    x: &Tensor<2>,
    x_sq: &Tensor<2>,
    seeds: &[usize],
    max_iter: usize,
    weighting: Option<&Weighting>,
) -> Result<Tensor<1, Int>> {
    let [_, d] = x.dims();
    let k = seeds.len();
    let device = x.device();
    let variance = match weighting {
        None => to_f64(x.clone().var(0).mean())?[0],
        Some(w) => {
            let total = w.total;
            let mean = w.apply(x.clone()).sum_dim(0).div_scalar(total);
            let second = w
                .apply(x.clone().powi_scalar(2))
                .sum_dim(0)
                .div_scalar(total);
            to_f64((second - mean.powi_scalar(2)).clamp_min(0.0).mean())?[0]
        }
    };
    let shift_tol = 1e-4 * variance;
    let mut centres = rows(x, seeds);
    let mut old = to_f64(centres.clone())?;
    let mut labels = nearest_centre(x, x_sq, centres.clone());
    let mut previous = to_i64(labels.clone())?;
    let started = std::time::Instant::now();
    for round in 1..=max_iter {
        let one_hot = weighted(one_hot(labels.clone(), k), weighting); // [n, k]
        let counts = to_f64(one_hot.clone().sum_dim(0))?;
        let sums = to_f64(one_hot.transpose().matmul(x.clone()))?;
        let new: Vec<f64> = (0..k * d)
            .map(|i| {
                let c = counts[i / d];
                if c > 0.0 {
                    sums[i] / c
                } else {
                    old[i]
                }
            })
            .collect();
        let shift: f64 = new.iter().zip(&old).map(|(a, b)| (a - b).powi(2)).sum();
        centres = matrix(&new, k, d, &device);
        old = new;
        labels = nearest_centre(x, x_sq, centres.clone());
        let current = to_i64(labels.clone())?;
        if current == previous || shift <= shift_tol || round == max_iter {
            tracing::debug!(
                rounds = round,
                seconds = started.elapsed().as_secs_f64(),
                "k-means converged"
            );
            break;
        }
        previous = current;
    }
    Ok(labels)
}
