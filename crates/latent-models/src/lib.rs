//! Latent-variable models on burn, on any [`Device`](burn::tensor::Device):
//!
//! - [`gmm`]: the Gaussian mixture fitted by EM (full, tied, diag and spherical covariances;
//!   k-means++ / k-means / random initialisation, restarts, warm start; density, sampling,
//!   clustering, BIC/AIC), with scikit-learn's `GaussianMixture` as the anchor;
//! - [`bmm`]: its binary twin, the Bernoulli mixture;
//! - [`vae`]: the variational autoencoder (ELBO, IWAE bound, importance-sampled log p(x)) and
//!   the deterministic autoencoder, with MLP encoders and decoders behind small traits.

pub mod bmm;
mod em;
mod error;
pub mod gmm;
mod host;
mod kmeans;
mod mixture;
mod model_file;
pub mod vae;

pub use bmm::{Bmm, BmmConfig};
pub use error::{ModelError, Result};
pub use gmm::{CovarianceType, EmProgress, Gmm, GmmConfig, InitMethod};
pub use mixture::{Fit, Mixture};
pub use vae::{Activation, Architecture, Autoencoder, Likelihood, Vae, VaeConfig};
