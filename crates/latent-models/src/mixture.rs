//! What every fitted mixture answers, and the information criteria that follow from it.

use burn::tensor::Tensor;

use crate::error::Result;

/// Mean log-likelihood of a data set and the information criteria derived from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Mean log-likelihood per point, in nats.
    pub mean_log_likelihood: f64,
    /// Bayesian information criterion −2 log L + p log n (lower is better).
    pub bic: f64,
    /// Akaike information criterion −2 log L + 2p (lower is better).
    pub aic: f64,
    /// Number of points n.
    pub n: usize,
}

/// A fitted density model with a known number of free parameters.
pub trait Mixture {
    /// Mean log-likelihood per point of `x` (`[n, d]`), in nats.
    fn score(&self, x: &Tensor<2>) -> Result<f64>;

    /// Number of free parameters.
    fn n_parameters(&self) -> usize;

    /// The score of `x` and both criteria, from one pass over the data.
    fn fit_figures(&self, x: &Tensor<2>) -> Result<Fit> {
        let n = x.dims()[0];
        let mean_log_likelihood = self.score(x)?;
        let minus_two_log_l = -2.0 * mean_log_likelihood * n as f64;
        let p = self.n_parameters() as f64;
        Ok(Fit {
            mean_log_likelihood,
            bic: minus_two_log_l + p * (n as f64).ln(),
            aic: minus_two_log_l + 2.0 * p,
            n,
        })
    }

    /// Bayesian information criterion −2 log L + p log n (lower is better).
    fn bic(&self, x: &Tensor<2>) -> Result<f64> {
        Ok(self.fit_figures(x)?.bic)
    }

    /// Akaike information criterion −2 log L + 2p (lower is better).
    fn aic(&self, x: &Tensor<2>) -> Result<f64> {
        Ok(self.fit_figures(x)?.aic)
    }
}
