//! What every fitted mixture answers, and the information criteria that follow from it.

use burn::tensor::Tensor;

use crate::error::Result;

/// A fitted density model with a known number of free parameters.
pub trait Mixture {
    /// Mean log-likelihood per point of `x` (`[n, d]`), in nats.
    fn score(&self, x: &Tensor<2>) -> Result<f64>;

    /// Number of free parameters.
    fn n_parameters(&self) -> usize;

    /// Bayesian information criterion −2 log L + p log n (lower is better).
    fn bic(&self, x: &Tensor<2>) -> Result<f64> {
        let n = x.dims()[0] as f64;
        Ok(-2.0 * self.score(x)? * n + self.n_parameters() as f64 * n.ln())
    }

    /// Akaike information criterion −2 log L + 2p (lower is better).
    fn aic(&self, x: &Tensor<2>) -> Result<f64> {
        let n = x.dims()[0] as f64;
        Ok(-2.0 * self.score(x)? * n + 2.0 * self.n_parameters() as f64)
    }
}
