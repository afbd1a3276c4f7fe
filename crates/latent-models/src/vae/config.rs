//! The configuration of the built-in VAE and autoencoder: sizes, activation, likelihood and
//! architecture, checked once, then built with seeded weights.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::autoencoder::Autoencoder;
use super::likelihood::{Likelihood, PixelLikelihood};
use super::networks::{
    Activation, ConvDecoder, ConvEncoder, DecoderNet, EncoderNet, ImageGeometry, Initializer,
    MlpDecoder, MlpEncoder,
};
use super::prior::StandardNormal;
use super::Vae;
use crate::error::{invalid, Result};

/// The built-in networks' kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Fully connected layers of the `hidden` sizes.
    #[default]
    Mlp,
    /// For 28 × 28 images: two stride-2 4 × 4 convolutions (32 and 64 channels) before the
    /// `hidden` layers, mirrored by transposed convolutions in the decoder.
    Conv,
}

/// Shape of a built-in VAE or AE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Dimension of x (784 for MNIST).
    pub input_dim: usize,
    /// Hidden layer sizes of the encoder; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Dimension of z.
    pub latent: usize,
    /// Non-linearity of the hidden layers.
    pub activation: Activation,
    /// The decoder's likelihood.
    pub likelihood: Likelihood,
    /// Fully connected or convolutional networks.
    #[serde(default)]
    pub architecture: Architecture,
    /// The images' geometry, for the convolutional networks (`None`: 28 × 28 grey, as MNIST's;
    /// the trainer sets it from the data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageGeometry>,
}

impl Default for VaeConfig {
    /// PyTorch's VAE example: 784-400-20, ReLU, Bernoulli decoder.
    fn default() -> Self {
        Self {
            input_dim: 784,
            hidden: vec![400],
            latent: 20,
            activation: Activation::Relu,
            likelihood: Likelihood::Bernoulli,
            architecture: Architecture::Mlp,
            image: None,
        }
    }
}

impl std::fmt::Display for VaeConfig {
    /// One line: `Mlp Relu network, hidden [400], latent 20, Bernoulli decoder`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} {:?} network, hidden {:?}, latent {}, {:?} decoder",
            self.architecture, self.activation, self.hidden, self.latent, self.likelihood
        )
    }
}

impl VaeConfig {
    /// The images' geometry: as given, else MNIST's 28 × 28 grey.
    pub fn geometry(&self) -> ImageGeometry {
        self.image.unwrap_or(ImageGeometry::MNIST)
    }

    /// Checks the sizes; the error names the field.
    pub fn check(&self) -> Result<()> {
        if self.input_dim == 0 {
            return Err(invalid("input_dim", "must be at least 1"));
        }
        if self.latent == 0 {
            return Err(invalid("latent", "must be at least 1"));
        }
        if self.hidden.contains(&0) {
            return Err(invalid("hidden", "layer sizes must be at least 1"));
        }
        if self.architecture == Architecture::Conv {
            let geometry = self.geometry();
            if let Some(problem) = geometry.conv_problem() {
                return Err(invalid(
                    "architecture",
                    format!("the convolutional networks cannot take {problem}"),
                ));
            }
            if geometry.dim() != self.input_dim {
                return Err(invalid(
                    "architecture",
                    format!(
                        "the convolutional networks take images ({} × {} × {} = {} inputs), \
                         not {} inputs",
                        geometry.height,
                        geometry.width,
                        geometry.channels,
                        geometry.dim(),
                        self.input_dim
                    ),
                ));
            }
        }
        if let Likelihood::Gaussian { log_var } = self.likelihood {
            if !log_var.is_finite() {
                return Err(invalid(
                    "likelihood",
                    "the Gaussian log-variance must be finite",
                ));
            }
        }
        Ok(())
    }

    /// A VAE of this shape on `device`. Its weights are drawn on the host from `seed` (burn's
    /// default layer initialisation, U(−1/√fan_in, 1/√fan_in)), so the same seed gives the
    /// same weights, bit for bit, on every backend.
    pub fn init_vae(&self, device: &Device, seed: u64) -> Result<Vae> {
        let (encoder, decoder, likelihood) = self.parts(device, seed)?;
        Ok(Vae::new(encoder, decoder, likelihood, StandardNormal))
    }

    /// A deterministic autoencoder of this shape (the encoder's mean head is the code),
    /// initialised on the host from `seed` like [`VaeConfig::init_vae`].
    pub fn init_autoencoder(&self, device: &Device, seed: u64) -> Result<Autoencoder> {
        let (encoder, decoder, likelihood) = self.parts(device, seed)?;
        Ok(Autoencoder::new(encoder, decoder, likelihood))
    }

    /// The checked networks (encoder weights drawn first, then the decoder's) and likelihood.
    fn parts(
        &self,
        device: &Device,
        seed: u64,
    ) -> Result<(EncoderNet, DecoderNet, PixelLikelihood)> {
        self.check()?;
        let mut init = Initializer::new(device, seed);
        let mirrored: Vec<usize> = self.hidden.iter().rev().copied().collect();
        let (encoder, decoder) = match self.architecture {
            Architecture::Mlp => {
                let encoder = MlpEncoder::new(
                    self.input_dim,
                    &self.hidden,
                    self.latent,
                    self.activation,
                    &mut init,
                );
                let decoder = MlpDecoder::new(
                    self.latent,
                    &mirrored,
                    self.input_dim,
                    self.activation,
                    &mut init,
                );
                (EncoderNet::Mlp(encoder), DecoderNet::Mlp(decoder))
            }
            Architecture::Conv => {
                let geometry = self.geometry();
                let encoder = ConvEncoder::new(
                    geometry,
                    &self.hidden,
                    self.latent,
                    self.activation,
                    &mut init,
                );
                let decoder =
                    ConvDecoder::new(geometry, self.latent, &mirrored, self.activation, &mut init);
                (EncoderNet::Conv(encoder), DecoderNet::Conv(decoder))
            }
        };
        let likelihood = PixelLikelihood::new(self.likelihood, self.input_dim, device);
        Ok((encoder, decoder, likelihood))
    }
}
