//! The variational autoencoder and the deterministic autoencoder, generic over their parts.
//!
//! VAE: prior p(z) (N(0, I) by default); encoder q_φ(z | x) = N(μ_φ(x), diag exp(log σ²_φ(x)));
//! decoder p_θ(x | z), Bernoulli (logits) or Gaussian. Training maximises the ELBO
//! E_q[log p(x | z)] − KL(q ‖ p) with z = μ + σ ⊙ ε and the KL in closed form where the prior
//! has one; the IWAE bound log (1/k) Σ_i p(x, z_i) / q(z_i | x) tightens it and, with large
//! k, estimates log p(x). Every log-density and KL comes from `latent-distributions`.
//!
//! Each part is a small trait of [`parts`]: [`Encoder`], [`Decoder`], [`LikelihoodModel`] and
//! [`Prior`]. [`Vae`] and [`Autoencoder`] take any implementations (defaulting to the built-in
//! [`EncoderNet`], [`DecoderNet`], [`PixelLikelihood`] and [`StandardNormal`], which
//! [`VaeConfig`] builds from a configuration), and implement the model-level traits of
//! [`crate::model`] that the trainer, the evaluation and the pictures use.
//!
//! Generic rather than boxed: burn's `Module` (parameters visited, saved and moved between
//! devices by the derive) cannot be a trait object, and static dispatch costs nothing at run
//! time.

mod autoencoder;
mod conditional;
mod config;
mod hierarchy;
mod likelihood;
mod networks;
pub mod parts;
mod prior;

pub use autoencoder::Autoencoder;
pub use conditional::{ConditionalVae, MlpClassifier, SemiSupervisedVae};
pub use config::{Architecture, Conditioning, TopLayer, VaeConfig};
pub use hierarchy::HierarchicalVae;
pub use likelihood::{Likelihood, PixelLikelihood, MAX_PIXEL_LOG_VAR, MIN_PIXEL_LOG_VAR};
pub use networks::{
    Activation, ConvDecoder, ConvEncoder, DecoderNet, EncoderNet, ImageGeometry, Initializer, Mlp,
    MlpDecoder, MlpEncoder, CONV_SIDE, CONV_SIDE_MULTIPLE,
};
pub use parts::{Decoder, Encoder, LikelihoodModel, PosteriorMap, Prior};
pub use prior::{MixturePrior, PriorConfig, PriorNet, PseudoInputStart, StandardNormal, VampPrior};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use latent_distributions::{log_mean_exp, log_sum_exp, normal_log_prob_elementwise, Normal};

use crate::model::{
    combine_log_weight_sums, draw_elbo_noise, elbo_loss_terms, sample_chunks, Codec, ElboTerms,
    LatentVariableModel, LossTerms, Objective, StepNoise, Trainable,
};

/// A variational autoencoder: an [`Encoder`], a [`Decoder`], the [`LikelihoodModel`] of the
/// decoder's output and a [`Prior`]. Without type arguments, the built-in parts.
#[derive(Module, Debug)]
pub struct Vae<E = EncoderNet, D = DecoderNet, L = PixelLikelihood, P = PriorNet> {
    /// x → q(z | x).
    pub encoder: E,
    /// z → the likelihood's parameters.
    pub decoder: D,
    /// p(x | decoder output), with its own parameters if it has any.
    pub likelihood: L,
    /// p(z).
    pub prior: P,
    #[module(skip)]
    latent: usize,
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel, P: Prior> Vae<E, D, L, P> {
    /// A VAE of these parts; z has the encoder's dimension.
    pub fn new(encoder: E, decoder: D, likelihood: L, prior: P) -> Self {
        let latent = encoder.latent_dim();
        Self {
            encoder,
            decoder,
            likelihood,
            prior,
            latent,
        }
    }

    /// The same model with the encoder's parameters excluded from gradients, so that training
    /// tunes the rest (the encoder stays bit for bit as it is).
    pub fn freeze_encoder(self) -> Self {
        Self {
            encoder: self.encoder.no_grad(),
            ..self
        }
    }

    /// Dimension of z.
    pub fn latent_dim(&self) -> usize {
        self.latent
    }

    /// q(z | x).
    pub fn posterior(&self, x: Tensor<2>) -> Normal {
        self.encoder.encode(x)
    }

    /// Decoder output (the likelihood's parameters: logits or means) for codes z.
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.decoder.decode(z)
    }

    /// E[x | z]: σ(logits) for Bernoulli pixels, the means for Gaussian ones.
    pub fn decode_mean(&self, z: Tensor<2>) -> Tensor<2> {
        self.likelihood.mean(self.decode(z))
    }

    /// log p(x | decoder output): `[batch]`.
    pub fn log_likelihood(&self, x: Tensor<2>, output: Tensor<2>) -> Tensor<1> {
        self.likelihood.log_prob(x, output)
    }

    /// The negative ELBO with weight `beta` on the KL, from one reparameterised sample drawn
    /// on `x`'s device.
    pub fn elbo_terms(&self, x: Tensor<2>, beta: f64) -> ElboTerms {
        let [batch, _] = x.dims();
        let noise = Tensor::random(
            [batch, self.latent],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &x.device(),
        );
        self.elbo_terms_with_noise(x, noise, beta)
    }

    /// [`Vae::elbo_terms`] with the reparameterisation noise ε (`[batch, latent]`) given:
    /// deterministic, for comparing backends or sharing noise between devices.
    pub fn elbo_terms_with_noise(&self, x: Tensor<2>, noise: Tensor<2>, beta: f64) -> ElboTerms {
        let q = self.posterior(x.clone());
        let z = q.rsample_with_noise(noise);
        let encode = |x: Tensor<2>| self.encoder.encode(x);
        let kl_elementwise = self.prior.kl_elementwise(&q, z.clone(), &encode);
        let reconstruction = self.log_likelihood(x, self.decode(z)).neg().mean();
        let kl_per_dim = kl_elementwise.clone().mean_dim(0).squeeze_dim(0);
        let kl = kl_elementwise.sum_dim(1).mean();
        let loss = reconstruction.clone() + kl.clone().mul_scalar(beta);
        ElboTerms {
            reconstruction,
            kl,
            kl_per_dim,
            loss,
        }
    }

    /// log w_i = log p(x | z_i) + log p(z_i) − log q(z_i | x) for k samples z_i ~ q(z | x)
    /// drawn on `x`'s device: `[k, batch]`.
    pub fn log_importance_weights(&self, x: Tensor<2>, k: usize) -> Tensor<2> {
        let q = self.posterior(x.clone());
        let z = q.rsample_n(k);
        self.importance_weights_of(x, q, z)
    }

    /// [`Vae::log_importance_weights`] with the noise ε (`[k, batch, latent]`) given.
    pub fn log_importance_weights_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<2> {
        let q = self.posterior(x.clone());
        let z = q.rsample_n_with_noise(noise);
        self.importance_weights_of(x, q, z)
    }

    /// log w for the samples `z` (`[k, batch, latent]`) of the posterior `q` of `x`.
    ///
    /// The examples, the posterior's parameters and the likelihood's parameters are broadcast
    /// over the k samples, not copied k times: copying the examples was 8 % of an
    /// importance-sampled evaluation (BENCHMARKS.md).
    fn importance_weights_of(&self, x: Tensor<2>, q: Normal, z: Tensor<3>) -> Tensor<2> {
        let [likelihood, latent] = self.importance_weight_parts_of(x, q, z);
        (likelihood + latent).squeeze_dim(2)
    }

    /// [`Vae::importance_weights_of`] in its two parts, log p(x | z) and log p(z) − log q(z |
    /// x), each `[k, batch, 1]`.
    fn importance_weight_parts_of(&self, x: Tensor<2>, q: Normal, z: Tensor<3>) -> [Tensor<3>; 2] {
        let [k, batch, latent] = z.dims();
        let d = x.dims()[1];
        let output = self
            .decode(z.clone().reshape([k * batch, latent]))
            .reshape([k, batch, d]);
        let log_px_z = self.likelihood.log_prob_samples(x, output);
        let log_q = normal_log_prob_elementwise(
            q.mean.unsqueeze_dim::<3>(0),
            q.log_var.unsqueeze_dim::<3>(0),
            z.clone(),
        );
        let encode = |x: Tensor<2>| self.encoder.encode(x);
        let log_prior = self.prior.log_prob_elementwise(z, &encode);
        [log_px_z, (log_prior - log_q).sum_dim(2)]
    }

    /// The IWAE bound with k samples per example: `[batch]`. k = 1 is an unbiased one-sample
    /// ELBO (with a Monte-Carlo KL); the bound rises towards log p(x) as k grows.
    pub fn iwae_bound(&self, x: Tensor<2>, k: usize) -> Tensor<1> {
        log_mean_exp(self.log_importance_weights(x, k), 0).squeeze_dim(0)
    }

    /// log p(x) estimated by importance sampling with `k` samples per example, drawn `chunk`
    /// at a time to bound memory: log (1/k) Σ_i w_i, `[batch]`.
    pub fn log_likelihood_estimate(&self, x: Tensor<2>, k: usize, chunk: usize) -> Tensor<1> {
        let partial = sample_chunks(k, chunk)
            .map(|m| log_sum_exp(self.log_importance_weights(x.clone(), m), 0))
            .collect();
        combine_log_weight_sums(partial, k)
    }
}

impl<E: Encoder, D: Decoder, P: Prior> Vae<E, D, PixelLikelihood, P> {
    /// The learned per-pixel log-variance, for a [`Likelihood::GaussianLearned`] decoder.
    pub fn pixel_log_var(&self) -> Option<Tensor<1>> {
        self.likelihood.log_var()
    }
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel, P: Prior> Codec for Vae<E, D, L, P> {
    fn latent_dim(&self) -> usize {
        self.latent
    }

    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        self.posterior(x).mean
    }

    fn decode_mean(&self, z: Tensor<2>) -> Tensor<2> {
        Vae::decode_mean(self, z)
    }

    fn decode_sample(&self, z: Tensor<2>) -> Tensor<2> {
        self.likelihood.sample(self.decoder.decode(z))
    }

    fn binary_data(&self) -> bool {
        self.likelihood.binary()
    }
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel, P: Prior> LatentVariableModel for Vae<E, D, L, P> {
    fn sample_prior(&self, n: usize, device: &Device) -> Tensor<2> {
        let encode = |x: Tensor<2>| self.encoder.encode(x);
        self.prior.sample(n, self.latent, &encode, device)
    }

    fn elbo_terms_with_noise(&self, x: Tensor<2>, noise: Tensor<2>, beta: f64) -> ElboTerms {
        Vae::elbo_terms_with_noise(self, x, noise, beta)
    }

    fn log_importance_weights_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<2> {
        Vae::log_importance_weights_with_noise(self, x, noise)
    }

    fn log_importance_weight_parts_with_noise(
        &self,
        x: Tensor<2>,
        noise: Tensor<3>,
    ) -> Option<[Tensor<2>; 2]> {
        let q = self.posterior(x.clone());
        let z = q.rsample_n_with_noise(noise);
        Some(
            self.importance_weight_parts_of(x, q, z)
                .map(|part| part.squeeze_dim(2)),
        )
    }
}

impl<E, D, L, P> Trainable for Vae<E, D, L, P>
where
    E: Encoder + Sync,
    D: Decoder + Sync,
    L: LikelihoodModel + Sync,
    P: Prior + Sync,
{
    fn draw_noise(&self, n: usize, objective: &Objective, device: &Device) -> StepNoise {
        draw_elbo_noise(self, n, objective, device)
    }

    fn loss_terms(&self, x: Tensor<2>, noise: StepNoise, objective: &Objective) -> LossTerms {
        elbo_loss_terms(self, x, noise, objective)
    }

    fn freeze_encoder(self) -> Self {
        Vae::freeze_encoder(self)
    }
}
