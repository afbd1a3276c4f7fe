//! The priors p(z): the standard normal N(0, I) with its closed-form KL, a learned mixture of
//! Gaussians, and the VampPrior (a mixture of the encoder's posteriors at learned
//! pseudo-inputs, Tomczak & Welling 2018). A mixture has no closed-form KL to a Gaussian
//! posterior: its KL is the one-sample Monte-Carlo estimate log q(z | x) − log p(z) at the
//! reparameterised sample, unbiased, and its log-density enters the importance weights exactly.
//! [`PriorNet`] is the built-in choice among the three, which [`PriorConfig`] names.

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution as Noise, Int, Tensor};
use latent_distributions::{
    kl, log_sum_exp, normal_log_prob_elementwise, normal_log_prob_elementwise_fixed,
    normal_log_prob_matrix, Normal,
};
use serde::{Deserialize, Serialize};

use super::networks::Initializer;
use super::parts::{PosteriorMap, Prior};

/// p(z) = N(0, I). It factorises over dimensions and has a closed-form KL to a diagonal
/// Gaussian posterior: ½ (σ² + μ² − 1 − log σ²) per dimension.
#[derive(Module, Debug)]
pub struct StandardNormal;

impl Prior for StandardNormal {
    fn log_prob_elementwise(&self, z: Tensor<3>, _posterior: PosteriorMap) -> Tensor<3> {
        normal_log_prob_elementwise_fixed(z.zeros_like(), 0.0, z)
    }

    fn sample(
        &self,
        n: usize,
        latent: usize,
        _posterior: PosteriorMap,
        device: &Device,
    ) -> Tensor<2> {
        Tensor::random([n, latent], Noise::Normal(0.0, 1.0), device)
    }

    fn kl_elementwise(&self, q: &Normal, _z: Tensor<2>, _posterior: PosteriorMap) -> Tensor<2> {
        kl::kl_normal_std_normal_elementwise(q)
    }
}

/// A mixture of diagonal Gaussians given by its log-weights `[components]` and its
/// components' means and log-variances `[components, latent]`.
struct Components {
    log_weights: Tensor<1>,
    mean: Tensor<2>,
    log_var: Tensor<2>,
}

impl Components {
    /// log p(z) of samples `z` (`[k, batch, latent]`), spread evenly over the dimensions.
    fn log_prob_elementwise(&self, z: Tensor<3>) -> Tensor<3> {
        let [k, batch, latent] = z.dims();
        let joint = normal_log_prob_matrix(
            z.reshape([k * batch, latent]),
            self.mean.clone(),
            self.log_var.clone(),
        ) + self.log_weights.clone().unsqueeze_dim(0);
        log_sum_exp(joint, 1)
            .div_scalar(latent as f64)
            .reshape([k, batch, 1])
            .repeat_dim(2, latent)
    }

    /// `n` draws: a component by the Gumbel-max trick on its log-weight, then its Gaussian.
    fn sample(&self, n: usize, device: &Device) -> Tensor<2> {
        let [components, latent] = self.mean.dims();
        let uniform = Tensor::<2>::random([n, components], Noise::Uniform(1e-12, 1.0), device);
        let gumbel = uniform.log().neg().log().neg();
        let choice: Tensor<1, Int> = (gumbel + self.log_weights.clone().unsqueeze_dim(0))
            .argmax(1)
            .squeeze_dim(1);
        let mean = self.mean.clone().select(0, choice.clone());
        let std = self.log_var.clone().select(0, choice).mul_scalar(0.5).exp();
        let noise = Tensor::<2>::random([n, latent], Noise::Normal(0.0, 1.0), device);
        (mean + std * noise).detach()
    }

    /// The one-sample Monte-Carlo KL log q(z | x) − log p(z), per dimension as
    /// [`Components::log_prob_elementwise`] spreads it.
    fn kl_elementwise(&self, q: &Normal, z: Tensor<2>) -> Tensor<2> {
        let log_q = normal_log_prob_elementwise(q.mean.clone(), q.log_var.clone(), z.clone());
        let log_p = self.log_prob_elementwise(z.unsqueeze_dim(0)).squeeze_dim(0);
        log_q - log_p
    }
}

/// A learned mixture of Gaussians p(z) = Σ_c π_c N(z; μ_c, diag σ²_c): the weights (by their
/// logits), means and log-variances are trained with the rest of the model. Means start at
/// N(0, 1) draws, log-variances at 0 and the weights equal.
#[derive(Module, Debug)]
pub struct MixturePrior {
    /// Unnormalised log-weights `[components]`.
    pub logits: Param<Tensor<1>>,
    /// The components' means `[components, latent]`.
    pub means: Param<Tensor<2>>,
    /// The components' log-variances `[components, latent]`.
    pub log_vars: Param<Tensor<2>>,
}

impl MixturePrior {
    /// `components` Gaussians over `latent` dimensions, drawn by `init`.
    pub fn new(components: usize, latent: usize, init: &mut Initializer) -> Self {
        Self {
            means: init.normal([components, latent], 0.0, 1.0),
            log_vars: init.constant([components, latent], 0.0),
            logits: init.constant([components], 0.0),
        }
    }

    fn components(&self) -> Components {
        let logits = self.logits.val();
        Components {
            log_weights: logits.clone() - log_sum_exp(logits, 0),
            mean: self.means.val(),
            log_var: self.log_vars.val(),
        }
    }
}

impl Prior for MixturePrior {
    fn log_prob_elementwise(&self, z: Tensor<3>, _posterior: PosteriorMap) -> Tensor<3> {
        self.components().log_prob_elementwise(z)
    }

    fn sample(&self, n: usize, _: usize, _posterior: PosteriorMap, device: &Device) -> Tensor<2> {
        self.components().sample(n, device)
    }

    fn kl_elementwise(&self, q: &Normal, z: Tensor<2>, _posterior: PosteriorMap) -> Tensor<2> {
        self.components().kl_elementwise(q, z)
    }
}

/// The VampPrior: p(z) = (1/K) Σ_k q(z | u_k), the encoder's own posteriors at K learned
/// pseudo-inputs u_k (Tomczak & Welling 2018). The pseudo-inputs are parameters of the data's
/// shape, trained with the model; every evaluation of the prior encodes them.
#[derive(Module, Debug)]
pub struct VampPrior {
    /// The pseudo-inputs `[K, input]`.
    pub pseudo_inputs: Param<Tensor<2>>,
}

impl VampPrior {
    /// `components` pseudo-inputs of dimension `input`, drawn from N(`mean`, `std`²) by `init`
    /// (the paper's N(0.05, 0.01²) for pixels in [0, 1]).
    pub fn new(
        components: usize,
        input: usize,
        (mean, std): (f32, f32),
        init: &mut Initializer,
    ) -> Self {
        Self {
            pseudo_inputs: init.normal([components, input], mean, std),
        }
    }

    /// The pseudo-inputs given as rows (`[components, input]`, row-major), as
    /// [`PseudoInputStart::Data`] starts them.
    pub fn from_rows(
        components: usize,
        input: usize,
        rows: Vec<f32>,
        init: &mut Initializer,
    ) -> Self {
        Self {
            pseudo_inputs: init.given([components, input], rows),
        }
    }

    fn components(&self, posterior: PosteriorMap) -> Components {
        let k = self.pseudo_inputs.dims()[0];
        let q = posterior(self.pseudo_inputs.val());
        Components {
            log_weights: Tensor::full([k], -(k as f64).ln(), &q.mean.device()),
            mean: q.mean,
            log_var: q.log_var,
        }
    }
}

impl Prior for VampPrior {
    fn log_prob_elementwise(&self, z: Tensor<3>, posterior: PosteriorMap) -> Tensor<3> {
        self.components(posterior).log_prob_elementwise(z)
    }

    fn sample(&self, n: usize, _: usize, posterior: PosteriorMap, device: &Device) -> Tensor<2> {
        self.components(posterior).sample(n, device)
    }

    fn kl_elementwise(&self, q: &Normal, z: Tensor<2>, posterior: PosteriorMap) -> Tensor<2> {
        self.components(posterior).kl_elementwise(q, z)
    }
}

/// The built-in priors, as [`PriorConfig`] chooses.
#[derive(Module, Debug)]
pub enum PriorNet {
    /// N(0, I).
    Standard(StandardNormal),
    /// A learned mixture of Gaussians.
    Mixture(MixturePrior),
    /// The VampPrior.
    Vamp(VampPrior),
}

impl Prior for PriorNet {
    fn log_prob_elementwise(&self, z: Tensor<3>, posterior: PosteriorMap) -> Tensor<3> {
        match self {
            PriorNet::Standard(p) => p.log_prob_elementwise(z, posterior),
            PriorNet::Mixture(p) => p.log_prob_elementwise(z, posterior),
            PriorNet::Vamp(p) => p.log_prob_elementwise(z, posterior),
        }
    }

    fn sample(
        &self,
        n: usize,
        latent: usize,
        posterior: PosteriorMap,
        device: &Device,
    ) -> Tensor<2> {
        match self {
            PriorNet::Standard(p) => p.sample(n, latent, posterior, device),
            PriorNet::Mixture(p) => p.sample(n, latent, posterior, device),
            PriorNet::Vamp(p) => p.sample(n, latent, posterior, device),
        }
    }

    fn kl_elementwise(&self, q: &Normal, z: Tensor<2>, posterior: PosteriorMap) -> Tensor<2> {
        match self {
            PriorNet::Standard(p) => p.kl_elementwise(q, z, posterior),
            PriorNet::Mixture(p) => p.kl_elementwise(q, z, posterior),
            PriorNet::Vamp(p) => p.kl_elementwise(q, z, posterior),
        }
    }
}

/// Which prior a built-in VAE has (`standard`, `mog:K` or `vamp:K` on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum PriorConfig {
    /// N(0, I), with the closed-form KL.
    #[default]
    Standard,
    /// A learned mixture of `components` Gaussians (Monte-Carlo KL).
    Mixture {
        /// Number of Gaussians.
        components: usize,
    },
    /// The VampPrior with `components` pseudo-inputs (Monte-Carlo KL).
    Vamp {
        /// Number of pseudo-inputs.
        components: usize,
        /// Where the pseudo-inputs start (noise in a run recorded before the choice existed).
        #[serde(default)]
        start: PseudoInputStart,
    },
}

/// Where the VampPrior's pseudo-inputs start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PseudoInputStart {
    /// Gaussian noise: the paper's N(0.05, 0.01²) for pixels in [0, 1], N(0, 1) draws
    /// otherwise (`vamp:K:noise`).
    #[default]
    Noise,
    /// Distinct training examples drawn at random, as the model sees them (grey pixels, or
    /// standardised values), which the trainer passes in
    /// [`VaeConfig::pseudo_input_start`](super::VaeConfig::pseudo_input_start) (`vamp:K`, the
    /// command line's default; the VampPrior code's `use_training_data_init`). Noise starts
    /// all pseudo-inputs alike, so that every component of the prior is the encoder's
    /// posterior of one blank input: an encoder that ignores its input then has KL 0, a
    /// collapse that training-example starts avoid.
    Data,
}

impl PriorConfig {
    /// Whether this is N(0, I) (what a configuration without a prior means).
    pub fn is_standard(&self) -> bool {
        *self == PriorConfig::Standard
    }

    /// The number of mixture components (none for N(0, I)).
    pub fn components(&self) -> Option<usize> {
        match *self {
            PriorConfig::Standard => None,
            PriorConfig::Mixture { components } | PriorConfig::Vamp { components, .. } => {
                Some(components)
            }
        }
    }
}

impl fmt::Display for PriorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriorConfig::Standard => write!(f, "standard"),
            PriorConfig::Mixture { components } => write!(f, "mog:{components}"),
            PriorConfig::Vamp {
                components,
                start: PseudoInputStart::Data,
            } => write!(f, "vamp:{components}"),
            PriorConfig::Vamp {
                components,
                start: PseudoInputStart::Noise,
            } => write!(f, "vamp:{components}:noise"),
        }
    }
}

impl FromStr for PriorConfig {
    type Err = String;

    /// `standard`, `mog:K` (or `mixture:K`), `vamp:K` (pseudo-inputs from training examples)
    /// or `vamp:K:noise`, K ≥ 1.
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "expected standard, mog:K, vamp:K or vamp:K:noise (K components, at least 1)";
        if s == "standard" {
            return Ok(PriorConfig::Standard);
        }
        let (kind, k) = s.split_once(':').ok_or_else(|| format!("{s:?}: {usage}"))?;
        let (k, start) = match k.strip_suffix(":noise") {
            Some(k) if kind == "vamp" => (k, PseudoInputStart::Noise),
            _ => (k, PseudoInputStart::Data),
        };
        let components: usize = k
            .parse()
            .ok()
            .filter(|k| *k >= 1)
            .ok_or_else(|| format!("{s:?}: {usage}"))?;
        match kind {
            "mog" | "mixture" => Ok(PriorConfig::Mixture { components }),
            "vamp" => Ok(PriorConfig::Vamp { components, start }),
            _ => Err(format!("{s:?}: {usage}")),
        }
    }
}
