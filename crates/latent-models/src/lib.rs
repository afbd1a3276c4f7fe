//! Latent-variable models on burn, on any [`Device`](burn::tensor::Device):
//!
//! - [`vae`]: the variational autoencoder (ELBO, IWAE bound, importance-sampled log p(x)) and
//!   the deterministic autoencoder, generic over four small traits — [`Encoder`],
//!   [`Decoder`], [`LikelihoodModel`], [`Prior`] — with built-in MLP and convolutional networks
//!   that implement them like any user's network would;
//! - [`model`]: what the trainer, the evaluation and the pictures ask of a model
//!   ([`Codec`], [`LatentVariableModel`], [`Trainable`]);
//! - [`gmm`]: the Gaussian mixture fitted by EM (full, tied, diag and spherical covariances;
//!   k-means++ / k-means / random initialisation, restarts, warm start; density, sampling,
//!   clustering, BIC/AIC), with scikit-learn's `GaussianMixture` as the anchor; sample
//!   weights, missing values, the Bayesian mixture (`BayesianGaussianMixture`'s), and exact or
//!   online EM streamed over data larger than memory;
//! - [`bmm`]: its binary twin, the Bernoulli mixture.
//!
//! A VAE with an encoder of your own — here a one-layer encoder with a residual connection —
//! and the built-in decoder, likelihood and prior:
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::Linear;
//! use burn::tensor::{Device, Tensor};
//! use latent_distributions::Normal;
//! use latent_models::vae::{Activation, Initializer, MlpDecoder, PixelLikelihood, StandardNormal};
//! use latent_models::{Encoder, LatentVariableModel, Vae};
//!
//! #[derive(Module, Debug)]
//! struct ResidualEncoder {
//!     input: Linear,
//!     residual: Linear,
//!     mean: Linear,
//!     log_var: Linear,
//!     #[module(skip)]
//!     latent: usize,
//! }
//!
//! impl Encoder for ResidualEncoder {
//!     fn encode(&self, x: Tensor<2>) -> Normal {
//!         let h = burn::tensor::activation::relu(self.input.forward(x));
//!         let h = h.clone() + burn::tensor::activation::relu(self.residual.forward(h));
//!         Normal::new(self.mean.forward(h.clone()), self.log_var.forward(h))
//!     }
//!     fn latent_dim(&self) -> usize {
//!         self.latent
//!     }
//! }
//!
//! # #[allow(deprecated)]
//! let device = Device::ndarray();
//! let mut init = Initializer::new(&device, 0);
//! let encoder = ResidualEncoder {
//!     input: init.linear(784, 64),
//!     residual: init.linear(64, 64),
//!     mean: init.linear(64, 8),
//!     log_var: init.linear(64, 8),
//!     latent: 8,
//! };
//! let decoder = MlpDecoder::new(8, &[64], 784, Activation::Relu, &mut init);
//! let vae = Vae::new(encoder, decoder, PixelLikelihood::bernoulli(), StandardNormal);
//!
//! let x = Tensor::<2>::zeros([4, 784], &device);
//! let elbo = vae.elbo_terms(x.clone(), 1.0).loss.neg(); // per-batch ELBO
//! let log_px = vae.log_likelihood_estimate(x, 100, 50); // importance-sampled, [4]
//! assert!(log_px.mean().into_scalar::<f32>() >= elbo.into_scalar::<f32>() - 1.0);
//! let samples = vae.decode_mean(vae.sample_prior(16, &device)); // [16, 784]
//! assert_eq!(samples.dims(), [16, 784]);
//! ```

#![warn(missing_docs)]

pub mod bmm;
mod em;
mod error;
pub mod gmm;
mod host;
mod kmeans;
mod mixture;
pub mod model;
mod model_file;
pub mod vae;
mod weights;

pub use bmm::{Bmm, BmmConfig};
pub use error::{ModelError, Result};
pub use gmm::{BayesianPrior, CovarianceType, EmProgress, Gmm, GmmConfig, InitMethod, WeightPrior};
pub use mixture::{Fit, Mixture};
pub use model::{Codec, LatentVariableModel, Trainable};
pub use vae::{
    Activation, Architecture, Autoencoder, ConditionalVae, Conditioning, Decoder, Encoder,
    HierarchicalVae, Likelihood, LikelihoodModel, Prior, PriorConfig, PseudoInputStart,
    SemiSupervisedVae, TopLayer, Vae, VaeConfig,
};
