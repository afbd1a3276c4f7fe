//! The standard normal prior p(z) = N(0, I), with its closed-form KL.

use burn::module::Module;
use burn::tensor::{Device, Distribution as Noise, Tensor};
use latent_distributions::{kl, normal_log_prob_elementwise_fixed, Normal};

use super::parts::Prior;

/// p(z) = N(0, I). It factorises over dimensions and has a closed-form KL to a diagonal
/// Gaussian posterior: ½ (σ² + μ² − 1 − log σ²) per dimension.
#[derive(Module, Debug)]
pub struct StandardNormal;

impl Prior for StandardNormal {
    fn log_prob_elementwise(&self, z: Tensor<3>) -> Tensor<3> {
        normal_log_prob_elementwise_fixed(z.zeros_like(), 0.0, z)
    }

    fn sample(&self, n: usize, latent: usize, device: &Device) -> Tensor<2> {
        Tensor::random([n, latent], Noise::Normal(0.0, 1.0), device)
    }

    fn kl_elementwise(&self, q: &Normal, _z: Tensor<2>) -> Tensor<2> {
        kl::kl_normal_std_normal_elementwise(q)
    }
}
