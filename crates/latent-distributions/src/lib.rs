//! Probability distributions on burn tensors, on any [`Device`](burn::tensor::Device).
//!
//! The anchor is `torch.distributions`: every distribution answers the same questions
//! ([`Distribution::log_prob`], [`Distribution::sample`], [`Distribution::entropy`], plus `mean`
//! and `mode`), and closed-form KL divergences are free functions in [`kl`].
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use latent_distributions::{kl, Distribution, Normal, LN_2PI};
//!
//! # #[allow(deprecated)] // burn marks ndarray deprecated in favour of flex
//! let device = Device::ndarray();
//! // One event of two latents: μ = (0.5, −1), σ² = (1, 4).
//! let (mu, log_var) = ([0.5f32, -1.0], [0.0f32, 4f32.ln()]);
//! let q = Normal::new(
//!     Tensor::<2>::from_floats([mu], &device),
//!     Tensor::<2>::from_floats([log_var], &device),
//! );
//!
//! // log N(x; μ, σ²), summed over the event: Σ_i −½ (ln 2π + log σ_i² + (x_i − μ_i)² / σ_i²).
//! let x = [1.0f32, 0.0];
//! let log_p = q.log_prob(Tensor::<2>::from_floats([x], &device));
//! let log_p = log_p.try_into_vec_as::<f32>().unwrap();
//! let want: f64 = (0..2)
//!     .map(|i| {
//!         let (m, lv, xi) = (mu[i] as f64, log_var[i] as f64, x[i] as f64);
//!         -0.5 * (LN_2PI + lv + (xi - m).powi(2) / lv.exp())
//!     })
//!     .sum();
//! assert_eq!(log_p.len(), 1); // one value per event
//! assert!((log_p[0] as f64 - want).abs() < 1e-5);
//!
//! // KL(q ‖ N(0, I)) = Σ_i ½ (σ_i² + μ_i² − 1 − log σ_i²), the VAE's KL term.
//! let kl_std = kl::kl_normal_std_normal(&q).try_into_vec_as::<f32>().unwrap();
//! let want: f64 = (0..2)
//!     .map(|i| {
//!         let (m, lv) = (mu[i] as f64, log_var[i] as f64);
//!         0.5 * (lv.exp() + m * m - 1.0 - lv)
//!     })
//!     .sum();
//! assert!((kl_std[0] as f64 - want).abs() < 1e-5);
//!
//! // A reparameterised sample has the parameters' shape.
//! assert_eq!(q.rsample().dims(), [1, 2]);
//! ```
//!
//! Shapes: a distribution holds a batch of independent events, one per row. A diagonal
//! [`Normal`] over 20 latents, or 784 [`Bernoulli`] pixels, is one event of a `[batch, dim]`
//! tensor; `log_prob`, `entropy` and the KLs sum over the event and return `[batch]`. The
//! `*_elementwise` variants keep `[batch, dim]`. A [`Categorical`] has logits `[batch, classes]`
//! and values `[batch]` (integers).
//!
//! Numerics are stable by construction: Bernoulli and Categorical take logits and work with
//! `log_sigmoid` / `log_softmax`, never the log of a probability; Normal takes a log-variance;
//! [`log_sum_exp`] shifts by the maximum. Logits of ±100 and log-variances of ±30 give finite
//! values and gradients (tested).

#![warn(missing_docs)]

mod bernoulli;
mod categorical;
pub mod host;
pub mod kl;
pub mod linalg;
mod math;
mod normal;
pub mod special;

pub use bernoulli::{bernoulli_log_prob_elementwise, bernoulli_log_prob_samples, Bernoulli};
pub use categorical::Categorical;
pub use math::{log_mean_exp, log_sum_exp, mixture_log_prob, LN_2PI};
pub use normal::{
    normal_log_prob_elementwise, normal_log_prob_elementwise_fixed, normal_log_prob_matrix, Normal,
};

/// What every distribution answers. `Value` is what it is a distribution over: a float tensor
/// `[batch, dim]` for [`Normal`] and [`Bernoulli`], an integer tensor `[batch]` for
/// [`Categorical`].
pub trait Distribution {
    /// The type of a sample (and of the argument of `log_prob`).
    type Value;

    /// log p(x) of each event, summed over the event's dimensions: `[batch]`.
    fn log_prob(&self, value: Self::Value) -> burn::tensor::Tensor<1>;

    /// One sample per event, without gradient.
    fn sample(&self) -> Self::Value;

    /// Entropy H(p) = −E_p[log p(x)] of each event: `[batch]`.
    fn entropy(&self) -> burn::tensor::Tensor<1>;

    /// The most probable value of each event.
    fn mode(&self) -> Self::Value;
}

#[cfg(test)]
pub(crate) mod test_support {
    use burn::tensor::{Device, Tensor, TensorData};

    /// The CPU device the unit tests run on (ndarray, the project's default backend).
    #[allow(deprecated)] // burn 0.22 marks ndarray deprecated in favour of flex; we keep it.
    pub fn device() -> Device {
        Device::ndarray()
    }

    pub fn tensor2(values: &[f32], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(values.to_vec(), [rows, cols]), device)
    }

    pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.try_into_vec_as::<f32>().expect("f32 data")
    }

    /// Mean and standard error of the mean of `xs`.
    pub fn mean_and_se(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, (var / n).sqrt())
    }
}
