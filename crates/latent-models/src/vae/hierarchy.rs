//! A VAE with two stochastic layers (Burda et al. 2015, §5): q(z1 | x) q(z2 | z1) and
//! p(z2) p(z1 | z2) p(x | z1), each conditional a diagonal Gaussian given by a small network.
//! Trained on the ELBO or the IWAE bound like the one-layer [`Vae`](super::Vae), with the same
//! trainer, evaluation and pictures: it is one more implementation of the model-level traits.
//!
//! The KL of the first layer, E_q[log q(z1 | x) − log p(z1 | z2)], has no closed form (p(z1 |
//! z2) depends on the sampled z2): it is the one-sample Monte-Carlo estimate. The top layer's
//! KL(q(z2 | z1) ‖ p(z2)) is the prior's (closed form for N(0, I)).

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use latent_distributions::{normal_log_prob_elementwise, Normal};

use super::likelihood::PixelLikelihood;
use super::networks::{DecoderNet, EncoderNet, MlpEncoder};
use super::parts::{Decoder, Encoder, LikelihoodModel, Prior};
use super::prior::PriorNet;
use crate::model::{
    draw_elbo_noise, elbo_loss_terms, Codec, ElboTerms, LatentVariableModel, LossTerms, Objective,
    StepNoise, Trainable,
};

/// A two-layer VAE. `encoder` and `decoder` are the bottom layer's x → q(z1 | x) and z1 → the
/// likelihood's parameters, as in a one-layer VAE; `up` is z1 → q(z2 | z1) and `down` is z2 →
/// p(z1 | z2) (both [`Encoder`]s: maps to a diagonal Gaussian); `prior` is p(z2).
#[derive(Module, Debug)]
pub struct HierarchicalVae<
    E = EncoderNet,
    D = DecoderNet,
    L = PixelLikelihood,
    P = PriorNet,
    U = MlpEncoder,
    W = MlpEncoder,
> {
    /// x → q(z1 | x).
    pub encoder: E,
    /// z1 → q(z2 | z1).
    pub up: U,
    /// z2 → p(z1 | z2).
    pub down: W,
    /// z1 → the likelihood's parameters.
    pub decoder: D,
    /// p(x | decoder output).
    pub likelihood: L,
    /// p(z2).
    pub prior: P,
    #[module(skip)]
    latents: [usize; 2],
}

/// One sample of both layers, `[n, ·]` rows (n = k × batch): z1, q(z2 | z1), z2 and p(z1 | z2).
struct Draw {
    z1: Tensor<2>,
    q2: Normal,
    z2: Tensor<2>,
    p1: Normal,
}

impl<E, D, L, P, U, W> HierarchicalVae<E, D, L, P, U, W>
where
    E: Encoder,
    D: Decoder,
    L: LikelihoodModel,
    P: Prior,
    U: Encoder,
    W: Encoder,
{
    /// A two-layer VAE of these parts: z1 has the encoder's dimension, z2 `up`'s.
    pub fn new(encoder: E, up: U, down: W, decoder: D, likelihood: L, prior: P) -> Self {
        let latents = [encoder.latent_dim(), up.latent_dim()];
        Self {
            encoder,
            up,
            down,
            decoder,
            likelihood,
            prior,
            latents,
        }
    }

    /// The dimensions of z1 and z2.
    pub fn latent_dims(&self) -> [usize; 2] {
        self.latents
    }

    /// x ↦ q(z2 | E_q[z1 | x]): the map a prior built from the encoder (the VampPrior) uses.
    fn top_posterior(&self, x: Tensor<2>) -> Normal {
        self.up.encode(self.encoder.encode(x).mean)
    }

    /// z2 for the rows `z1` with the noise `noise2`, and p(z1 | z2).
    fn draw_top(&self, z1: Tensor<2>, noise2: Tensor<2>) -> Draw {
        let q2 = self.up.encode(z1.clone());
        let z2 = q2.rsample_with_noise(noise2);
        let p1 = self.down.encode(z2.clone());
        Draw { z1, q2, z2, p1 }
    }

    /// The noise of one sample per example split into the layers' parts.
    fn split(&self, noise: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let [l1, l2] = self.latents;
        (noise.clone().narrow(1, 0, l1), noise.narrow(1, l1, l2))
    }

    /// The negative ELBO with weight `beta` on the KL of both layers, from one sample per
    /// example given by `noise` (`[batch, latent1 + latent2]`). `kl_per_dim` has the first
    /// layer's dimensions, then the second's.
    pub fn elbo_terms_with_noise(&self, x: Tensor<2>, noise: Tensor<2>, beta: f64) -> ElboTerms {
        let (noise1, noise2) = self.split(noise);
        let q1 = self.encoder.encode(x.clone());
        let z1 = q1.rsample_with_noise(noise1);
        let draw = self.draw_top(z1, noise2);
        let kl1 = normal_log_prob_elementwise(q1.mean, q1.log_var, draw.z1.clone())
            - normal_log_prob_elementwise(draw.p1.mean, draw.p1.log_var, draw.z1.clone());
        let encode = |x: Tensor<2>| self.top_posterior(x);
        let kl2 = self.prior.kl_elementwise(&draw.q2, draw.z2, &encode);
        let kl_elementwise = Tensor::cat(vec![kl1, kl2], 1);
        let reconstruction = self
            .likelihood
            .log_prob(x, self.decoder.decode(draw.z1))
            .neg()
            .mean();
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

    /// log w = log p(x | z1) + log p(z1 | z2) + log p(z2) − log q(z1 | x) − log q(z2 | z1) of
    /// the samples given by `noise` (`[k, batch, latent1 + latent2]`): `[k, batch]`.
    pub fn log_importance_weights_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<2> {
        let [log_px, top, log_q1] = self.importance_weight_terms(x, noise);
        log_px + top - log_q1
    }

    /// log w's two parts, log p(x | z1) and log p(z1 | z2) + log p(z2) − log q(z1 | x) −
    /// log q(z2 | z1), each `[k, batch]`.
    pub fn log_importance_weight_parts_with_noise(
        &self,
        x: Tensor<2>,
        noise: Tensor<3>,
    ) -> [Tensor<2>; 2] {
        let [log_px, top, log_q1] = self.importance_weight_terms(x, noise);
        [log_px, top - log_q1]
    }

    /// log p(x | z1), log p(z1 | z2) + log p(z2) − log q(z2 | z1) and log q(z1 | x) of the
    /// samples given by `noise`, each `[k, batch]`.
    fn importance_weight_terms(&self, x: Tensor<2>, noise: Tensor<3>) -> [Tensor<2>; 3] {
        let [k, batch, _] = noise.dims();
        let [l1, l2] = self.latents;
        let d = x.dims()[1];
        let q1 = self.encoder.encode(x.clone());
        let z1 = q1.rsample_n_with_noise(noise.clone().narrow(2, 0, l1));
        let log_q1 = normal_log_prob_elementwise(
            q1.mean.unsqueeze_dim::<3>(0),
            q1.log_var.unsqueeze_dim::<3>(0),
            z1.clone(),
        )
        .sum_dim(2)
        .reshape([k, batch]);
        let rows = k * batch;
        let draw = self.draw_top(
            z1.reshape([rows, l1]),
            noise.narrow(2, l1, l2).reshape([rows, l2]),
        );
        let log_q2 = draw.q2.log_prob_elementwise(draw.z2.clone()).sum_dim(1);
        let log_p1 = draw.p1.log_prob_elementwise(draw.z1.clone()).sum_dim(1);
        let encode = |x: Tensor<2>| self.top_posterior(x);
        let log_p2 = self
            .prior
            .log_prob_elementwise(draw.z2.reshape([k, batch, l2]), &encode)
            .sum_dim(2)
            .reshape([rows, 1]);
        let output = self.decoder.decode(draw.z1).reshape([k, batch, d]);
        let log_px = self
            .likelihood
            .log_prob_samples(x, output)
            .reshape([k, batch]);
        let top = (log_p1 + log_p2 - log_q2).reshape([k, batch]);
        [log_px, top, log_q1]
    }
}

impl<E, D, L, P, U, W> Codec for HierarchicalVae<E, D, L, P, U, W>
where
    E: Encoder,
    D: Decoder,
    L: LikelihoodModel,
    P: Prior,
    U: Encoder,
    W: Encoder,
{
    /// The first layer's dimension: codes are E_q[z1 | x].
    fn latent_dim(&self) -> usize {
        self.latents[0]
    }

    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        self.encoder.encode(x).mean
    }

    fn decode_mean(&self, z: Tensor<2>) -> Tensor<2> {
        self.likelihood.mean(self.decoder.decode(z))
    }

    fn decode_sample(&self, z: Tensor<2>) -> Tensor<2> {
        self.likelihood.sample(self.decoder.decode(z))
    }

    fn binary_data(&self) -> bool {
        self.likelihood.binary()
    }
}

impl<E, D, L, P, U, W> LatentVariableModel for HierarchicalVae<E, D, L, P, U, W>
where
    E: Encoder,
    D: Decoder,
    L: LikelihoodModel,
    P: Prior,
    U: Encoder,
    W: Encoder,
{
    fn noise_dim(&self) -> usize {
        self.latents[0] + self.latents[1]
    }

    /// Codes z1 of the whole generative path: z2 ~ p(z2), then z1 ~ p(z1 | z2).
    fn sample_prior(&self, n: usize, device: &Device) -> Tensor<2> {
        let encode = |x: Tensor<2>| self.top_posterior(x);
        let z2 = self.prior.sample(n, self.latents[1], &encode, device);
        self.down.encode(z2).rsample().detach()
    }

    /// E_q[z1 | x], and E_q[z2 | z1] at z1 = E_q[z1 | x].
    fn layer_codes(&self, x: Tensor<2>) -> Vec<Tensor<2>> {
        let mean1 = self.encoder.encode(x).mean;
        let mean2 = self.up.encode(mean1.clone()).mean;
        vec![mean1, mean2]
    }

    fn elbo_terms_with_noise(&self, x: Tensor<2>, noise: Tensor<2>, beta: f64) -> ElboTerms {
        HierarchicalVae::elbo_terms_with_noise(self, x, noise, beta)
    }

    fn log_importance_weights_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<2> {
        HierarchicalVae::log_importance_weights_with_noise(self, x, noise)
    }

    fn log_importance_weight_parts_with_noise(
        &self,
        x: Tensor<2>,
        noise: Tensor<3>,
    ) -> Option<[Tensor<2>; 2]> {
        Some(HierarchicalVae::log_importance_weight_parts_with_noise(
            self, x, noise,
        ))
    }
}

impl<E, D, L, P, U, W> Trainable for HierarchicalVae<E, D, L, P, U, W>
where
    E: Encoder + Sync,
    D: Decoder + Sync,
    L: LikelihoodModel + Sync,
    P: Prior + Sync,
    U: Encoder + Sync,
    W: Encoder + Sync,
{
    fn draw_noise(&self, n: usize, objective: &Objective, device: &Device) -> StepNoise {
        draw_elbo_noise(self, n, objective, device)
    }

    fn loss_terms(&self, x: Tensor<2>, noise: StepNoise, objective: &Objective) -> LossTerms {
        elbo_loss_terms(self, x, noise, objective)
    }

    /// Both encoders (`encoder` and `up`) are frozen.
    fn freeze_encoder(self) -> Self {
        Self {
            encoder: self.encoder.no_grad(),
            up: self.up.no_grad(),
            ..self
        }
    }
}
