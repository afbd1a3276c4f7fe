//! Hyper-parameters of the Gaussian mixture, validated once before any work.

use serde::{Deserialize, Serialize};

use crate::em::InitMethod;
use crate::error::{invalid, Result};

/// The shape of the component covariances (scikit-learn's `covariance_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CovarianceType {
    /// Each component its own full D × D covariance.
    Full,
    /// One full covariance shared by all components.
    Tied,
    /// Each component a diagonal covariance.
    Diag,
    /// Each component a single variance σ_k² I.
    Spherical,
}

impl CovarianceType {
    /// The four types, in the order full, tied, diag, spherical.
    pub const ALL: [CovarianceType; 4] = [Self::Full, Self::Tied, Self::Diag, Self::Spherical];

    /// scikit-learn's name of the type: `full`, `tied`, `diag` or `spherical`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Tied => "tied",
            Self::Diag => "diag",
            Self::Spherical => "spherical",
        }
    }

    /// Free covariance parameters for `k` components in dimension `d`: full K·D(D + 1)/2,
    /// tied D(D + 1)/2, diag K·D, spherical K.
    pub fn n_parameters(self, k: usize, d: usize) -> usize {
        match self {
            Self::Full => k * d * (d + 1) / 2,
            Self::Tied => d * (d + 1) / 2,
            Self::Diag => k * d,
            Self::Spherical => k,
        }
    }

    /// Length of the flat covariance vector: full K·D·D, tied D·D, diag K·D, spherical K.
    pub(crate) fn flat_len(self, k: usize, d: usize) -> usize {
        match self {
            Self::Full => k * d * d,
            Self::Tied => d * d,
            Self::Diag => k * d,
            Self::Spherical => k,
        }
    }
}

impl std::fmt::Display for CovarianceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The prior on the mixture weights of a Bayesian fit (scikit-learn's
/// `weight_concentration_prior_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightPrior {
    /// A Dirichlet process (stick-breaking, truncated at K): superfluous components are
    /// switched off (scikit-learn's default, `dirichlet_process`).
    DirichletProcess,
    /// A symmetric Dirichlet distribution (`dirichlet_distribution`).
    DirichletDistribution,
}

impl WeightPrior {
    /// The name on the command line: `dirichlet-process` or `dirichlet-distribution`.
    pub fn name(self) -> &'static str {
        match self {
            Self::DirichletProcess => "dirichlet-process",
            Self::DirichletDistribution => "dirichlet-distribution",
        }
    }
}

/// The priors of a Bayesian Gaussian mixture, fitted by variational inference (scikit-learn's
/// `BayesianGaussianMixture`): weights ~ the weight prior with concentration α₀, each mean
/// μ_k ~ N(m₀, (β₀ Λ_k)⁻¹), each precision Λ_k ~ Wishart(ν₀, Ψ₀⁻¹). `None` takes
/// scikit-learn's default, computed from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BayesianPrior {
    /// The prior on the weights.
    pub weight_prior: WeightPrior,
    /// α₀ > 0 (default 1 / K); smaller values leave fewer components active.
    pub weight_concentration: Option<f64>,
    /// β₀ > 0 (default 1), the precision of the prior on the means.
    pub mean_precision: Option<f64>,
    /// m₀ (D values; default the data's mean).
    pub mean_prior: Option<Vec<f64>>,
    /// ν₀ > D − 1 (default D).
    pub degrees_of_freedom: Option<f64>,
    /// Ψ₀ in the flat layout of the covariance type: D·D for full and tied (symmetric
    /// positive definite), D for diag, 1 for spherical (positive). Default the data's
    /// covariance (full, tied), variances (diag) or mean variance (spherical), with ddof 1.
    pub covariance_prior: Option<Vec<f64>>,
}

impl BayesianPrior {
    /// scikit-learn's defaults with the weight prior `weight_prior`.
    pub fn new(weight_prior: WeightPrior) -> Self {
        Self {
            weight_prior,
            weight_concentration: None,
            mean_precision: None,
            mean_prior: None,
            degrees_of_freedom: None,
            covariance_prior: None,
        }
    }
}

impl Default for BayesianPrior {
    fn default() -> Self {
        Self::new(WeightPrior::DirichletProcess)
    }
}

/// Hyper-parameters of [`Gmm`](super::Gmm) fitting; defaults are scikit-learn's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GmmConfig {
    /// K, the number of components (1 ≤ K ≤ number of points); scikit-learn's
    /// `n_components`.
    pub n_components: usize,
    /// The shape of the component covariances (scikit-learn's `covariance_type`).
    pub covariance_type: CovarianceType,
    /// Stop when the mean log-likelihood changes by less than this between iterations
    /// (scikit-learn's `tol`); 0 runs every one of `max_iter` iterations.
    pub tol: f64,
    /// Added to the covariance diagonals so they stay positive definite (scikit-learn's
    /// `reg_covar`).
    pub reg_covar: f64,
    /// EM iterations per restart (scikit-learn's `max_iter`).
    pub max_iter: usize,
    /// Restarts from different initialisations; the best final lower bound is kept
    /// (scikit-learn's `n_init`).
    pub n_init: usize,
    /// How the responsibilities of the first iteration are made (scikit-learn's
    /// `init_params`).
    pub init: InitMethod,
    /// Seed of every random choice (restart r uses a seed derived from it and r); the role of
    /// scikit-learn's `random_state`.
    pub seed: u64,
    /// Initial weights α (K, positive, summing to 1), replacing the initialisation's
    /// (scikit-learn's `weights_init`).
    pub weights_init: Option<Vec<f64>>,
    /// Initial means (K × D), replacing the initialisation's (scikit-learn's `means_init`).
    pub means_init: Option<Vec<Vec<f64>>>,
    /// Initial precision matrices (inverse covariances) in the flat layout of the covariance
    /// type: full K·D·D, tied D·D, diag K·D, spherical K (scikit-learn's `precisions_init`,
    /// flattened).
    pub precisions_init: Option<Vec<f64>>,
    /// Fit the Bayesian mixture with these priors, by variational inference (scikit-learn's
    /// `BayesianGaussianMixture`), instead of maximum likelihood by EM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bayesian: Option<BayesianPrior>,
    /// Start every restart from this partition (one component in 0..K per point, each
    /// component given at least one point) instead of `init`: a clustering or classes the
    /// user has. Not saved with the model.
    #[serde(skip)]
    pub initial_labels: Option<Vec<usize>>,
}

impl GmmConfig {
    /// scikit-learn's defaults: full covariances, tol 1e-3, reg_covar 1e-6, 100 iterations,
    /// one k-means initialisation.
    pub fn new(n_components: usize) -> Self {
        Self {
            n_components,
            covariance_type: CovarianceType::Full,
            tol: 1e-3,
            reg_covar: 1e-6,
            max_iter: 100,
            n_init: 1,
            init: InitMethod::Kmeans,
            seed: 0,
            weights_init: None,
            means_init: None,
            precisions_init: None,
            bayesian: None,
            initial_labels: None,
        }
    }

    /// This configuration starting from the partition `labels` (see
    /// [`initial_labels`](Self::initial_labels)).
    pub fn with_initial_labels(mut self, labels: Vec<usize>) -> Self {
        self.initial_labels = Some(labels);
        self
    }

    /// This configuration fitting the Bayesian mixture with the priors `prior`.
    pub fn with_bayesian(mut self, prior: BayesianPrior) -> Self {
        self.bayesian = Some(prior);
        self
    }

    /// This configuration with covariances of type `covariance_type`.
    pub fn with_covariance_type(mut self, covariance_type: CovarianceType) -> Self {
        self.covariance_type = covariance_type;
        self
    }

    /// This configuration with the convergence threshold `tol`.
    pub fn with_tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    /// This configuration with `reg_covar` added to the covariance diagonals.
    pub fn with_reg_covar(mut self, reg_covar: f64) -> Self {
        self.reg_covar = reg_covar;
        self
    }

    /// This configuration with `max_iter` EM iterations per restart.
    pub fn with_max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// This configuration with `n_init` restarts.
    pub fn with_n_init(mut self, n_init: usize) -> Self {
        self.n_init = n_init;
        self
    }

    /// This configuration with the initialisation `init`.
    pub fn with_init(mut self, init: InitMethod) -> Self {
        self.init = init;
        self
    }

    /// This configuration with the random seed `seed`.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// This configuration with the initial weights `weights` (scikit-learn's `weights_init`).
    pub fn with_weights_init(mut self, weights: Vec<f64>) -> Self {
        self.weights_init = Some(weights);
        self
    }

    /// This configuration with the initial means `means` (scikit-learn's `means_init`).
    pub fn with_means_init(mut self, means: Vec<Vec<f64>>) -> Self {
        self.means_init = Some(means);
        self
    }

    /// This configuration with the initial precisions `precisions`, in the flat layout of the
    /// covariance type (scikit-learn's `precisions_init`).
    pub fn with_precisions_init(mut self, precisions: Vec<f64>) -> Self {
        self.precisions_init = Some(precisions);
        self
    }

    /// Checks every setting against each other and against data of `n_samples` points of
    /// dimension `dim`; the error names the first field at fault.
    pub fn check(&self, n_samples: usize, dim: usize) -> Result<()> {
        let k = self.n_components;
        if k == 0 {
            return Err(invalid("n_components", "must be at least 1"));
        }
        if k > n_samples {
            return Err(invalid(
                "n_components",
                format!("{k} components need at least {k} points, the data have {n_samples}"),
            ));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(invalid(
                "tol",
                format!("must be ≥ 0 (0: run every iteration), got {}", self.tol),
            ));
        }
        if !(self.reg_covar.is_finite() && self.reg_covar >= 0.0) {
            return Err(invalid(
                "reg_covar",
                format!("must be ≥ 0, got {}", self.reg_covar),
            ));
        }
        if self.max_iter == 0 {
            return Err(invalid("max_iter", "must be at least 1"));
        }
        if self.n_init == 0 {
            return Err(invalid("n_init", "must be at least 1"));
        }
        if let Some(weights) = &self.weights_init {
            if weights.len() != k {
                return Err(invalid(
                    "weights_init",
                    format!("has {} weights for {k} components", weights.len()),
                ));
            }
            if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
                return Err(invalid("weights_init", "weights must be in [0, 1]"));
            }
            let total: f64 = weights.iter().sum();
            if (total - 1.0).abs() > 1e-6 {
                return Err(invalid("weights_init", format!("sum to {total}, not 1")));
            }
        }
        if let Some(means) = &self.means_init {
            if means.len() != k || means.iter().any(|m| m.len() != dim) {
                return Err(invalid(
                    "means_init",
                    format!("must be {k} means of dimension {dim}"),
                ));
            }
            if means.iter().flatten().any(|v| !v.is_finite()) {
                return Err(invalid("means_init", "has a non-finite value"));
            }
        }
        if let Some(precisions) = &self.precisions_init {
            let want = self.covariance_type.flat_len(k, dim);
            if precisions.len() != want {
                return Err(invalid(
                    "precisions_init",
                    format!(
                        "{} covariances of {k} components in dimension {dim} need {want} values, got {}",
                        self.covariance_type,
                        precisions.len()
                    ),
                ));
            }
        }
        if let Some(prior) = &self.bayesian {
            self.check_prior(prior, n_samples, dim)?;
        }
        if let Some(labels) = &self.initial_labels {
            let mut counts = vec![0usize; k];
            for l in labels {
                if *l >= k {
                    return Err(invalid(
                        "initial_labels",
                        format!("label {l} is not a component of 0..{k}"),
                    ));
                }
                counts[*l] += 1;
            }
            if labels.len() != n_samples {
                return Err(invalid(
                    "initial_labels",
                    format!("{} labels for {n_samples} points", labels.len()),
                ));
            }
            if let Some(empty) = counts.iter().position(|c| *c == 0) {
                return Err(invalid(
                    "initial_labels",
                    format!("component {empty} has no point"),
                ));
            }
        }
        Ok(())
    }

    fn check_prior(&self, prior: &BayesianPrior, n_samples: usize, dim: usize) -> Result<()> {
        if self.weights_init.is_some()
            || self.means_init.is_some()
            || self.precisions_init.is_some()
        {
            return Err(invalid(
                "bayesian",
                "a Bayesian fit starts from its initialisation alone: drop weights_init, \
                 means_init and precisions_init",
            ));
        }
        let positive = |field: &'static str, value: Option<f64>| match value {
            Some(v) if !(v.is_finite() && v > 0.0) => {
                Err(invalid(field, format!("must be positive, got {v}")))
            }
            _ => Ok(()),
        };
        positive("weight_concentration", prior.weight_concentration)?;
        positive("mean_precision", prior.mean_precision)?;
        if let Some(nu) = prior.degrees_of_freedom {
            if !(nu.is_finite() && nu > dim as f64 - 1.0) {
                return Err(invalid(
                    "degrees_of_freedom",
                    format!(
                        "must be greater than D − 1 = {}, got {nu}",
                        dim as f64 - 1.0
                    ),
                ));
            }
        }
        if let Some(mean) = &prior.mean_prior {
            if mean.len() != dim || mean.iter().any(|v| !v.is_finite()) {
                return Err(invalid(
                    "mean_prior",
                    format!("must be {dim} finite values, got {}", mean.len()),
                ));
            }
        }
        if let Some(cov) = &prior.covariance_prior {
            let want = self.covariance_type.flat_len(1, dim);
            if cov.len() != want {
                return Err(invalid(
                    "covariance_prior",
                    format!(
                        "a {} covariance prior in dimension {dim} has {want} values, got {}",
                        self.covariance_type,
                        cov.len()
                    ),
                ));
            }
            let ok = match self.covariance_type {
                CovarianceType::Full | CovarianceType::Tied => {
                    latent_distributions::linalg::spd_inverse(cov, dim).is_some()
                        && (0..dim).all(|i| (0..i).all(|j| cov[i * dim + j] == cov[j * dim + i]))
                }
                CovarianceType::Diag | CovarianceType::Spherical => {
                    cov.iter().all(|v| v.is_finite() && *v > 0.0)
                }
            };
            if !ok {
                return Err(invalid(
                    "covariance_prior",
                    "must be symmetric positive definite (full, tied) or positive (diag, \
                     spherical)",
                ));
            }
        } else if n_samples < 2 {
            return Err(invalid(
                "covariance_prior",
                "the default (the data's covariance) needs at least two points",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ModelError;

    fn field_of(result: Result<()>) -> &'static str {
        match result {
            Err(ModelError::InvalidSetting { field, .. }) => field,
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn each_bad_setting_names_its_field() {
        assert_eq!(field_of(GmmConfig::new(0).check(10, 2)), "n_components");
        assert_eq!(field_of(GmmConfig::new(11).check(10, 2)), "n_components");
        assert_eq!(
            field_of(GmmConfig::new(2).with_tol(-1e-9).check(10, 2)),
            "tol"
        );
        assert_eq!(
            field_of(GmmConfig::new(2).with_tol(f64::NAN).check(10, 2)),
            "tol"
        );
        assert_eq!(
            field_of(GmmConfig::new(2).with_reg_covar(-1e-6).check(10, 2)),
            "reg_covar"
        );
        assert_eq!(
            field_of(GmmConfig::new(2).with_max_iter(0).check(10, 2)),
            "max_iter"
        );
        assert_eq!(
            field_of(GmmConfig::new(2).with_n_init(0).check(10, 2)),
            "n_init"
        );
        assert_eq!(
            field_of(
                GmmConfig::new(2)
                    .with_weights_init(vec![0.5, 0.6])
                    .check(10, 2)
            ),
            "weights_init"
        );
        assert_eq!(
            field_of(
                GmmConfig::new(2)
                    .with_means_init(vec![vec![0.0, 1.0]])
                    .check(10, 2)
            ),
            "means_init"
        );
        assert_eq!(
            field_of(
                GmmConfig::new(2)
                    .with_precisions_init(vec![1.0; 3])
                    .check(10, 2)
            ),
            "precisions_init"
        );
        assert!(GmmConfig::new(10).check(10, 2).is_ok());
    }

    #[test]
    fn parameter_counts_match_scikit_learn() {
        // scikit-learn's _n_parameters = cov params + K·D means + K − 1 weights.
        assert_eq!(CovarianceType::Full.n_parameters(3, 2), 9);
        assert_eq!(CovarianceType::Tied.n_parameters(3, 2), 3);
        assert_eq!(CovarianceType::Diag.n_parameters(3, 2), 6);
        assert_eq!(CovarianceType::Spherical.n_parameters(3, 2), 3);
    }
}
