//! The deterministic autoencoder: x → code → decoder output, trained on the reconstruction
//! loss alone. Its codes fill no known distribution, so N(0, I) is no sampler for it (measured
//! in the README); a mixture fitted to its codes is.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::likelihood::PixelLikelihood;
use super::networks::{DecoderNet, EncoderNet};
use super::parts::{Decoder, Encoder, LikelihoodModel};
use crate::model::{Codec, LossTerms, Objective, StepNoise, Trainable};

/// A deterministic autoencoder: the code is the [`Encoder`]'s mean head, the loss
/// −log p(x | decode(code)) under the [`LikelihoodModel`]. Without type arguments, the
/// built-in parts.
#[derive(Module, Debug)]
pub struct Autoencoder<E = EncoderNet, D = DecoderNet, L = PixelLikelihood> {
    /// x → code (the mean of its output).
    pub encoder: E,
    /// code → the likelihood's parameters.
    pub decoder: D,
    /// p(x | decoder output): the reconstruction loss.
    pub likelihood: L,
    #[module(skip)]
    latent: usize,
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel> Autoencoder<E, D, L> {
    /// An autoencoder of these parts.
    pub fn new(encoder: E, decoder: D, likelihood: L) -> Self {
        let latent = encoder.latent_dim();
        Self {
            encoder,
            decoder,
            likelihood,
            latent,
        }
    }

    /// The same model with the encoder's parameters excluded from gradients, so that training
    /// tunes the decoder alone (the encoder stays bit for bit as it is).
    pub fn freeze_encoder(self) -> Self {
        Self {
            encoder: self.encoder.no_grad(),
            ..self
        }
    }

    /// The code of each example: `[batch, latent]`.
    pub fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        self.encoder.encode(x).mean
    }

    /// Decoder output (the likelihood's parameters) for codes z.
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.decoder.decode(z)
    }

    /// E[x | z].
    pub fn decode_mean(&self, z: Tensor<2>) -> Tensor<2> {
        self.likelihood.mean(self.decode(z))
    }

    /// Dimension of the code.
    pub fn latent_dim(&self) -> usize {
        self.latent
    }

    /// Reconstruction loss −log p(x | decode(encode(x))), averaged over the batch.
    pub fn loss(&self, x: Tensor<2>) -> Tensor<1> {
        let output = self.decode(self.encode(x.clone()));
        self.likelihood.log_prob(x, output).neg().mean()
    }
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel> Codec for Autoencoder<E, D, L> {
    fn latent_dim(&self) -> usize {
        self.latent
    }

    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        Autoencoder::encode(self, x)
    }

    fn decode_mean(&self, z: Tensor<2>) -> Tensor<2> {
        Autoencoder::decode_mean(self, z)
    }

    fn decode_sample(&self, z: Tensor<2>) -> Tensor<2> {
        self.likelihood.sample(self.decoder.decode(z))
    }

    fn binary_data(&self) -> bool {
        self.likelihood.binary()
    }
}

impl<E, D, L> Trainable for Autoencoder<E, D, L>
where
    E: Encoder + Sync,
    D: Decoder + Sync,
    L: LikelihoodModel + Sync,
{
    fn draw_noise(&self, _: usize, _: &Objective, _: &Device) -> StepNoise {
        StepNoise::none()
    }

    /// The reconstruction loss; no KL (reported as 0).
    fn loss_terms(&self, x: Tensor<2>, _: StepNoise, _: &Objective) -> LossTerms {
        let loss = self.loss(x);
        let kl = loss.zeros_like();
        LossTerms {
            loss: loss.clone(),
            reconstruction: loss,
            kl,
        }
    }

    fn freeze_encoder(self) -> Self {
        Autoencoder::freeze_encoder(self)
    }
}
