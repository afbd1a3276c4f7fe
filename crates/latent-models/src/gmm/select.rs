//! Model selection: mixtures of each number of components and covariance type fitted to the
//! same data, ranked by an information criterion.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::config::{CovarianceType, GmmConfig};
use super::Gmm;
use crate::error::{invalid, Result};
use crate::mixture::{Fit, Mixture};

/// Which information criterion to minimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// Bayesian: −2 log L + p log n.
    Bic,
    /// Akaike: −2 log L + 2p.
    Aic,
}

impl Criterion {
    /// `bic` or `aic`.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Bic => "bic",
            Criterion::Aic => "aic",
        }
    }

    /// The criterion's value of a fit.
    pub fn of(self, fit: &Fit) -> f64 {
        match self {
            Criterion::Bic => fit.bic,
            Criterion::Aic => fit.aic,
        }
    }
}

/// One fitted candidate.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The mixture.
    pub model: Gmm,
    /// Its mean log-likelihood, BIC and AIC on the data it was fitted to.
    pub fit: Fit,
}

/// Every candidate, in the order fitted (covariance types, then K), and the best.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The criterion minimised.
    pub criterion: Criterion,
    /// Every fit.
    pub candidates: Vec<Candidate>,
    /// Index of the best candidate.
    pub best: usize,
}

impl Selection {
    /// The best candidate.
    pub fn best(&self) -> &Candidate {
        &self.candidates[self.best]
    }
}

/// Fits `base` (its restarts, regularisation, seed, …) with each number of `components` for
/// each of the `covariances`, and keeps the one that minimises `criterion`. `progress` is
/// called after each fit.
pub fn select(
    x: &Tensor<2>,
    base: &GmmConfig,
    components: &[usize],
    covariances: &[CovarianceType],
    criterion: Criterion,
    mut progress: impl FnMut(&Candidate),
) -> Result<Selection> {
    if components.is_empty() || covariances.is_empty() {
        return Err(invalid(
            "n_components",
            "give at least one number of components and one covariance type",
        ));
    }
    let [n, d] = x.dims();
    for k in components {
        GmmConfig {
            n_components: *k,
            ..base.clone()
        }
        .check(n, d)?;
    }
    let mut candidates = Vec::new();
    for covariance in covariances {
        for k in components {
            let model = GmmConfig {
                n_components: *k,
                covariance_type: *covariance,
                ..base.clone()
            }
            .fit(x)?;
            let fit = model.fit_figures(x)?;
            let candidate = Candidate { model, fit };
            progress(&candidate);
            candidates.push(candidate);
        }
    }
    let best = candidates
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| criterion.of(&a.fit).total_cmp(&criterion.of(&b.fit)))
        .map(|(i, _)| i)
        .expect("at least one candidate");
    Ok(Selection {
        criterion,
        candidates,
        best,
    })
}
