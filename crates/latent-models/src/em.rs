//! The EM iteration shared by the mixtures: E-step, M-step, stop when the mean log-likelihood
//! changes by less than `tol`, report progress, refuse to go on from a non-finite value.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// One EM iteration, for progress reporting.
#[derive(Debug, Clone, Copy)]
pub struct EmProgress {
    /// 0-based index of the restart (of `n_init`).
    pub restart: usize,
    /// 1-based iteration within the restart.
    pub iteration: usize,
    /// Mean log-likelihood per point of the data under the parameters before this
    /// iteration's M-step, in nats.
    pub lower_bound: f64,
}

/// How the responsibilities of the first EM iteration are made (scikit-learn's `init_params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitMethod {
    /// Greedy k-means++ seeding (scikit-learn's: 2 + ⌊ln K⌋ trials a centre) then Lloyd's
    /// k-means; hard assignments (the default).
    #[serde(rename = "kmeans")]
    Kmeans,
    /// Greedy k-means++ seeding only; each point assigned to its nearest seed.
    #[serde(rename = "kmeans++")]
    KmeansPlusPlus,
    /// Uniform random responsibilities, normalised per point.
    #[serde(rename = "random")]
    Random,
    /// K distinct random points, each the sole member of one component (as scikit-learn).
    #[serde(rename = "random-from-data")]
    RandomFromData,
}

impl InitMethod {
    /// The name used on the command line and in `config.json`: `kmeans`, `kmeans++`,
    /// `random` or `random-from-data`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kmeans => "kmeans",
            Self::KmeansPlusPlus => "kmeans++",
            Self::Random => "random",
            Self::RandomFromData => "random-from-data",
        }
    }
}

/// The end of one EM run.
pub(crate) struct EmRun<P> {
    pub params: P,
    /// Mean log-likelihood before each M-step.
    pub lower_bounds: Vec<f64>,
    pub converged: bool,
}

impl<P> EmRun<P> {
    /// The last lower bound (−∞ if no iteration ran).
    pub fn lower_bound(&self) -> f64 {
        self.lower_bounds
            .last()
            .copied()
            .unwrap_or(f64::NEG_INFINITY)
    }
}

/// Iterates `step` (one E-step and M-step: the mean log-likelihood under the current
/// parameters, and the next parameters) from `params`, at most `max_iter` times.
pub(crate) fn iterate<P>(
    mut params: P,
    max_iter: usize,
    tol: f64,
    restart: usize,
    progress: &mut impl FnMut(EmProgress),
    mut step: impl FnMut(&P) -> Result<(f64, P)>,
) -> Result<EmRun<P>> {
    let mut lower_bounds: Vec<f64> = Vec::new();
    for iteration in 1..=max_iter {
        let (lower_bound, next) = step(&params)?;
        if !lower_bound.is_finite() {
            return Err(ModelError::Diverged {
                iteration,
                value: lower_bound,
            });
        }
        params = next;
        let previous = lower_bounds.last().copied().unwrap_or(f64::NEG_INFINITY);
        lower_bounds.push(lower_bound);
        progress(EmProgress {
            restart,
            iteration,
            lower_bound,
        });
        if (lower_bound - previous).abs() < tol {
            return Ok(EmRun {
                params,
                lower_bounds,
                converged: true,
            });
        }
    }
    tracing::warn!(
        restart,
        max_iter,
        "EM did not converge: the mean log-likelihood still changed by more than tol in the \
         last iteration; raise max_iter (or tol)"
    );
    Ok(EmRun {
        params,
        lower_bounds,
        converged: false,
    })
}
