//! The built-in likelihoods p(x | θ) of the decoders: Bernoulli pixels from logits, Gaussian
//! pixels with a fixed variance, or with a learned variance per pixel.

use burn::module::{Module, Param};
use burn::tensor::{activation, Device, Distribution as Noise, Tensor};
use latent_distributions::{
    bernoulli_log_prob_elementwise, bernoulli_log_prob_samples, normal_log_prob_elementwise,
    normal_log_prob_elementwise_fixed,
};
use serde::{Deserialize, Serialize};

use super::parts::{summed_over_dimensions, LikelihoodModel};

/// Which built-in likelihood a decoder has (the value `config.json` records).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Likelihood {
    /// Independent Bernoulli pixels from logits (binary cross-entropy).
    Bernoulli,
    /// Independent Gaussians with a fixed log-variance: a scaled squared error.
    Gaussian {
        /// log σ² of every pixel.
        log_var: f64,
    },
    /// Independent Gaussians with a learned log-variance per pixel (a parameter of the
    /// likelihood, initialised at 0, used within [[`MIN_PIXEL_LOG_VAR`],
    /// [`MAX_PIXEL_LOG_VAR`]]).
    GaussianLearned,
}

impl Likelihood {
    /// E[x | θ] from the decoder output θ: σ(logits) for Bernoulli, θ itself for Gaussian.
    pub fn mean(self, output: Tensor<2>) -> Tensor<2> {
        match self {
            Likelihood::Bernoulli => activation::sigmoid(output),
            Likelihood::Gaussian { .. } | Likelihood::GaussianLearned => output,
        }
    }
}

/// Lower end of a learned pixel log-variance: σ is floored at e^(−3.5) ≈ 0.03, for on
/// always-blank pixels the variance would otherwise shrink towards 0 and the likelihood
/// diverge.
pub const MIN_PIXEL_LOG_VAR: f64 = -7.0;
/// Upper end of a learned pixel log-variance.
pub const MAX_PIXEL_LOG_VAR: f64 = 7.0;

/// A built-in likelihood as a module: the [`Likelihood`] it is, and for
/// [`Likelihood::GaussianLearned`] the learned log-variance of each of the `dim` pixels.
#[derive(Module, Debug)]
pub struct PixelLikelihood {
    /// The learned per-pixel log-variance (`[dim]`), for [`Likelihood::GaussianLearned`] only.
    log_var: Option<Param<Tensor<1>>>,
    #[module(skip)]
    kind: Likelihood,
}

impl PixelLikelihood {
    /// The likelihood `kind` over `dim` data dimensions, its learned log-variances (if any) at
    /// 0 on `device`.
    pub fn new(kind: Likelihood, dim: usize, device: &Device) -> Self {
        Self {
            log_var: (kind == Likelihood::GaussianLearned)
                .then(|| Param::from_tensor(Tensor::zeros([dim], device))),
            kind,
        }
    }

    /// Bernoulli pixels from logits.
    pub fn bernoulli() -> Self {
        Self {
            log_var: None,
            kind: Likelihood::Bernoulli,
        }
    }

    /// Which likelihood this is.
    pub fn kind(&self) -> Likelihood {
        self.kind
    }

    /// The learned per-pixel log-variance, for [`Likelihood::GaussianLearned`].
    pub fn log_var(&self) -> Option<Tensor<1>> {
        self.log_var.as_ref().map(Param::val)
    }

    /// The log-variance in use: the learned one clamped to its range, shaped `[1, …, 1, dim]`
    /// to broadcast against rank-`D` outputs.
    fn learned_log_var<const D: usize>(&self) -> Tensor<D> {
        let log_var = self
            .log_var()
            .expect("a learned-variance likelihood is always built with its log-variance")
            .clamp(MIN_PIXEL_LOG_VAR, MAX_PIXEL_LOG_VAR);
        let mut shape = [1; D];
        shape[D - 1] = log_var.dims()[0];
        log_var.reshape(shape)
    }
}

impl LikelihoodModel for PixelLikelihood {
    fn log_prob_elementwise<const D: usize>(&self, x: Tensor<D>, params: Tensor<D>) -> Tensor<D> {
        match self.kind {
            Likelihood::Bernoulli => bernoulli_log_prob_elementwise(params, x),
            Likelihood::Gaussian { log_var } => {
                normal_log_prob_elementwise_fixed(params, log_var, x)
            }
            Likelihood::GaussianLearned => {
                normal_log_prob_elementwise(params, self.learned_log_var(), x)
            }
        }
    }

    fn log_prob_samples(&self, x: Tensor<2>, params: Tensor<3>) -> Tensor<3> {
        match self.kind {
            Likelihood::Bernoulli => bernoulli_log_prob_samples(params, x),
            _ => summed_over_dimensions(self, x, params),
        }
    }

    fn mean(&self, params: Tensor<2>) -> Tensor<2> {
        self.kind.mean(params)
    }

    fn sample(&self, params: Tensor<2>) -> Tensor<2> {
        let mean = self.mean(params).detach();
        let device = mean.device();
        match self.kind {
            Likelihood::Bernoulli => Tensor::<2>::random(mean.shape(), Noise::Default, &device)
                .lower(mean)
                .float(),
            Likelihood::Gaussian { log_var } => {
                let noise = Tensor::<2>::random(mean.shape(), Noise::Normal(0.0, 1.0), &device);
                mean + noise.mul_scalar((0.5 * log_var).exp())
            }
            Likelihood::GaussianLearned => {
                let noise = Tensor::<2>::random(mean.shape(), Noise::Normal(0.0, 1.0), &device);
                let std = self.learned_log_var::<2>().detach().mul_scalar(0.5).exp();
                mean + noise * std
            }
        }
    }

    fn binary(&self) -> bool {
        self.kind == Likelihood::Bernoulli
    }
}
