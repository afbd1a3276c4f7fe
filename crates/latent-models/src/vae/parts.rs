//! The four parts of a VAE, each a small trait: the [`Encoder`] x → q(z | x), the [`Decoder`]
//! z → the parameters of p(x | z), the [`LikelihoodModel`] p(x | ·) and the [`Prior`] p(z).
//! The built-in networks, likelihoods and prior implement them like any user's type would:
//! [`Vae`](super::Vae) is generic over all four. Each is a burn [`Module`] (with the
//! [`ModuleDisplay`] that `#[derive(Module)]` writes), so its parameters are trained, saved
//! and moved between devices with the model.

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Device, Tensor};
use latent_distributions::Normal;

/// Maps data to the approximate posterior q(z | x) = N(μ(x), diag σ²(x)).
pub trait Encoder: Module + ModuleDisplay {
    /// q(z | x) for a batch `x` (`[batch, input]`): mean and log-variance `[batch, latent]`.
    fn encode(&self, x: Tensor<2>) -> Normal;

    /// Dimension of z.
    fn latent_dim(&self) -> usize;
}

/// Maps codes to the parameters of p(x | z): logits for Bernoulli pixels, means for Gaussian
/// ones, one value per data dimension.
pub trait Decoder: Module + ModuleDisplay {
    /// The likelihood's parameters for codes `z` (`[n, latent]` → `[n, input]`).
    fn decode(&self, z: Tensor<2>) -> Tensor<2>;
}

/// The likelihood p(x | θ) of the data given the decoder's output θ, independent over data
/// dimensions. A [`Module`], so a likelihood may hold parameters of its own (a learned
/// variance).
pub trait LikelihoodModel: Module + ModuleDisplay {
    /// log p(x_j | θ_j) per element, for tensors of any rank broadcast against each other
    /// (size-1 dimensions repeat: the examples `[1, batch, d]` against the outputs of k samples
    /// `[k, batch, d]`).
    fn log_prob_elementwise<const D: usize>(&self, x: Tensor<D>, params: Tensor<D>) -> Tensor<D>;

    /// log p(x | θ) per example, summed over its dimensions: `[batch]`.
    fn log_prob(&self, x: Tensor<2>, params: Tensor<2>) -> Tensor<1> {
        self.log_prob_elementwise(x, params)
            .sum_dim(1)
            .squeeze_dim(1)
    }

    /// log p(x | θ) of k outputs per example, summed over the data dimensions: the examples
    /// `x` (`[batch, d]`) against the outputs of k samples `params` (`[k, batch, d]`); `[k,
    /// batch, 1]`. By default [`log_prob_elementwise`](Self::log_prob_elementwise) broadcast
    /// over the samples and summed; a likelihood may compute the sum more directly (the
    /// Bernoulli one does, see `bernoulli_log_prob_samples`).
    fn log_prob_samples(&self, x: Tensor<2>, params: Tensor<3>) -> Tensor<3> {
        summed_over_dimensions(self, x, params)
    }

    /// E[x | θ]: `[n, input]`.
    fn mean(&self, params: Tensor<2>) -> Tensor<2>;

    /// One draw x ~ p(x | θ) per row, without gradient.
    fn sample(&self, params: Tensor<2>) -> Tensor<2>;

    /// Whether x is binary (a Bernoulli likelihood): the trainer then binarises grey levels.
    fn binary(&self) -> bool;
}

/// [`LikelihoodModel::log_prob_samples`] as its default computes it: the element-wise values,
/// the examples broadcast over the samples, summed over the data dimensions (for a likelihood
/// that computes some kinds more directly and the others so).
pub(crate) fn summed_over_dimensions<L: LikelihoodModel>(
    likelihood: &L,
    x: Tensor<2>,
    params: Tensor<3>,
) -> Tensor<3> {
    likelihood
        .log_prob_elementwise(x.unsqueeze_dim::<3>(0), params)
        .sum_dim(2)
}

/// The encoder's map x ↦ q(z | x), handed to a [`Prior`]: one built from the encoder (the
/// VampPrior, a mixture of the posteriors of learned pseudo-inputs) evaluates it; the others
/// ignore it.
pub type PosteriorMap<'a> = &'a dyn Fn(Tensor<2>) -> Normal;

/// The prior p(z).
///
/// Per-dimension terms: a prior that factorises over the latent dimensions (N(0, I)) returns
/// one term per dimension; one that does not (a mixture) spreads its whole value evenly over
/// the dimensions. Sums over the last axis are then always the full value, the factorised
/// case is summed together with the posterior's terms as before, and free bits (a floor λ on
/// each dimension's KL) give a non-factorised prior the floor λ · latent on its whole KL.
pub trait Prior: Module + ModuleDisplay {
    /// log p(z) in per-dimension terms for samples `z` (`[k, batch, latent]`): `[k, batch,
    /// latent]`, summing over the last axis to log p(z).
    fn log_prob_elementwise(&self, z: Tensor<3>, posterior: PosteriorMap) -> Tensor<3>;

    /// `n` draws from p(z) of dimension `latent`, on `device`: `[n, latent]`.
    fn sample(
        &self,
        n: usize,
        latent: usize,
        posterior: PosteriorMap,
        device: &Device,
    ) -> Tensor<2>;

    /// KL(q(z | x) ‖ p(z)) in per-dimension terms `[batch, latent]`, given the reparameterised
    /// sample `z` (`[batch, latent]`) of `q`: the closed form where one exists (it ignores
    /// `z`), else the one-sample Monte-Carlo estimate log q(z | x) − log p(z).
    fn kl_elementwise(&self, q: &Normal, z: Tensor<2>, posterior: PosteriorMap) -> Tensor<2>;
}
