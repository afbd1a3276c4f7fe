//! The EM iteration shared by the mixtures: E-step, M-step, stop when the mean log-likelihood
//! changes by less than `tol`, report progress, refuse to go on from a non-finite value.

use crate::error::{ModelError, Result};
use crate::gmm::EmProgress;

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
