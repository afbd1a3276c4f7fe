//! Per-point weights of a mixture fit (scikit-learn's `sample_weight`): point n counts w_n
//! times. EM with weights is EM on the weighted empirical distribution: the M-step's sums
//! Σ_n r_nk (…) become Σ_n w_n r_nk (…), N becomes Σ_n w_n, and the lower bound is the
//! weighted mean log-likelihood — so integer weights fit exactly what repeating the points
//! would, and a zero weight what dropping the point would.

use burn::tensor::{Device, Tensor};

use crate::error::{ModelError, Result};
use crate::host::{matrix, to_f64};

/// Checked weights: on the host and as a `[n, 1]` column on the data's device.
#[derive(Debug, Clone)]
pub(crate) struct Weighting {
    pub(crate) host: Vec<f64>,
    column: Tensor<2>,
    pub(crate) total: f64,
}

impl Weighting {
    /// `weights` for `n` points, fitted with `k` components: one per point, finite, ≥ 0,
    /// with at least `k` of them positive. `None` when there are none, or when all are equal
    /// (a constant weight changes nothing in EM: the fit is the unweighted one, to the bit).
    pub(crate) fn new(
        weights: Option<&[f64]>,
        n: usize,
        k: usize,
        device: &Device,
    ) -> Result<Option<Self>> {
        let Some(weights) = weights else {
            return Ok(None);
        };
        let bad = |message: String| Err(ModelError::InvalidData(message));
        if weights.len() != n {
            return bad(format!(
                "{} sample weights for {n} points: give one weight per point",
                weights.len()
            ));
        }
        if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return bad(format!(
                "sample weight {} (point {}, counting from 1) is {}: weights must be finite and \
                 0 or more",
                i + 1,
                i + 1,
                weights[i]
            ));
        }
        let positive = weights.iter().filter(|w| **w > 0.0).count();
        if positive < k.max(1) {
            return bad(format!(
                "only {positive} of the {n} sample weights are positive; {k} components need \
                 at least {k} points of positive weight"
            ));
        }
        if weights.iter().all(|w| *w == weights[0]) {
            return Ok(None);
        }
        Ok(Some(Self {
            host: weights.to_vec(),
            column: matrix(weights, n, 1, device),
            total: weights.iter().sum(),
        }))
    }

    /// Responsibilities `[n, k]` (or any `[n, m]` values) times each point's weight.
    pub(crate) fn apply(&self, values: Tensor<2>) -> Tensor<2> {
        values * self.column.clone()
    }

    /// The weighted mean of per-point values `[n]`.
    pub(crate) fn mean(&self, values: Tensor<1>) -> Result<f64> {
        let weighted = values.unsqueeze_dim::<2>(1) * self.column.clone();
        Ok(to_f64(weighted.sum())?[0] / self.total)
    }
}

/// Responsibilities weighted by `weighting` where there is one.
pub(crate) fn weighted(values: Tensor<2>, weighting: Option<&Weighting>) -> Tensor<2> {
    match weighting {
        Some(w) => w.apply(values),
        None => values,
    }
}

/// The (weighted) mean of per-point values `[n]`.
pub(crate) fn mean(values: Tensor<1>, weighting: Option<&Weighting>) -> Result<f64> {
    match weighting {
        Some(w) => w.mean(values),
        None => Ok(to_f64(values.mean())?[0]),
    }
}

/// Σ_n w_n: the weights' total, or the number of points.
pub(crate) fn total(n: usize, weighting: Option<&Weighting>) -> f64 {
    weighting.map_or(n as f64, |w| w.total)
}
