//! The configuration of the built-in VAE and autoencoder: sizes, activation, likelihood and
//! architecture, checked once, then built with seeded weights.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::autoencoder::Autoencoder;
use super::conditional::{ConditionalVae, MlpClassifier, SemiSupervisedVae};
use super::hierarchy::HierarchicalVae;
use super::likelihood::{Likelihood, PixelLikelihood};
use super::networks::{
    Activation, ConvDecoder, ConvEncoder, DecoderNet, EncoderNet, ImageGeometry, Initializer,
    MlpDecoder, MlpEncoder,
};
use super::prior::{
    MixturePrior, PriorConfig, PriorNet, PseudoInputStart, StandardNormal, VampPrior,
};
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
    /// The prior p(z) (of the top layer, with two layers).
    #[serde(default, skip_serializing_if = "PriorConfig::is_standard")]
    pub prior: PriorConfig,
    /// A second stochastic layer z2 above z = z1 (`None`: one layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<TopLayer>,
    /// Whether and how the model uses the examples' labels.
    #[serde(default, skip_serializing_if = "Conditioning::is_none")]
    pub conditioning: Conditioning,
    /// The VampPrior's starting pseudo-inputs under [`PseudoInputStart::Data`]:
    /// `components × input_dim` values, row-major, as the model sees its inputs. The trainer
    /// draws them from the training set of a new run. Not recorded: a model built to load
    /// trained weights into (or built without them) starts its pseudo-inputs as noise.
    #[serde(skip)]
    pub pseudo_input_start: Option<Vec<f32>>,
}

/// Whether a built-in VAE uses the examples' labels. `classes` 0 means "as many as the data
/// have" (the trainer sets it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Conditioning {
    /// A plain VAE.
    #[default]
    None,
    /// A conditional VAE ([`ConditionalVae`]): encoder and decoder see the class.
    Conditional {
        /// Number of classes.
        classes: usize,
    },
    /// M2 ([`SemiSupervisedVae`]): a classifier q(y | x), and the class of an unlabelled
    /// example marginalised.
    SemiSupervised {
        /// Number of classes.
        classes: usize,
        /// Weight α of a labelled example's classification loss −log q(y | x), per example
        /// beside its bound (with the trainer's labelled examples a tenth of the rows, 1 is
        /// Kingma et al.'s α = 0.1 · N).
        classifier_weight: f64,
    },
}

impl Conditioning {
    /// Whether the model uses no labels.
    pub fn is_none(&self) -> bool {
        *self == Conditioning::None
    }

    /// The number of classes of a model that uses labels (0: not set yet).
    pub fn classes(&self) -> Option<usize> {
        match *self {
            Conditioning::None => None,
            Conditioning::Conditional { classes }
            | Conditioning::SemiSupervised { classes, .. } => Some(classes),
        }
    }

    /// The same conditioning with `classes` classes.
    pub fn with_classes(self, classes: usize) -> Self {
        match self {
            Conditioning::None => Conditioning::None,
            Conditioning::Conditional { .. } => Conditioning::Conditional { classes },
            Conditioning::SemiSupervised {
                classifier_weight, ..
            } => Conditioning::SemiSupervised {
                classes,
                classifier_weight,
            },
        }
    }
}

/// The second stochastic layer of a two-layer VAE: q(z2 | z1) through fully connected
/// `hidden` layers, and p(z1 | z2) through the same sizes mirrored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopLayer {
    /// Hidden layer sizes of q(z2 | z1).
    pub hidden: Vec<usize>,
    /// Dimension of z2.
    pub latent: usize,
}

impl TopLayer {
    /// The IWAE paper's second layer: 100-100 tanh units, z2 of dimension 50.
    pub fn iwae_paper() -> Self {
        Self {
            hidden: vec![100, 100],
            latent: 50,
        }
    }
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
            prior: PriorConfig::Standard,
            top: None,
            conditioning: Conditioning::None,
            pseudo_input_start: None,
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
        )?;
        if let Some(top) = &self.top {
            write!(
                f,
                ", second layer hidden {:?} latent {}",
                top.hidden, top.latent
            )?;
        }
        if !self.prior.is_standard() {
            write!(f, ", prior {}", self.prior)?;
        }
        match self.conditioning {
            Conditioning::None => {}
            Conditioning::Conditional { classes } => write!(f, ", conditional on {classes} classes")?,
            Conditioning::SemiSupervised {
                classes,
                classifier_weight,
            } => write!(
                f,
                ", semi-supervised (M2) over {classes} classes, classifier weight {classifier_weight}"
            )?,
        }
        Ok(())
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
        if self.prior.components() == Some(0) {
            return Err(invalid(
                "prior",
                "a mixture prior needs at least 1 component",
            ));
        }
        if let Some(top) = &self.top {
            if top.latent == 0 || top.hidden.contains(&0) {
                return Err(invalid(
                    "top",
                    "the second layer's sizes must be at least 1",
                ));
            }
        }
        if !self.conditioning.is_none() {
            if self.architecture != Architecture::Mlp
                || self.top.is_some()
                || !self.prior.is_standard()
            {
                return Err(invalid(
                    "conditioning",
                    "the conditional and semi-supervised VAEs are fully connected, with one \
                     layer and the N(0, I) prior",
                ));
            }
            if let Conditioning::SemiSupervised {
                classifier_weight, ..
            } = self.conditioning
            {
                if !(classifier_weight.is_finite() && classifier_weight >= 0.0) {
                    return Err(invalid("conditioning", "the classifier weight must be ≥ 0"));
                }
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
    ///
    /// A configuration with a second layer is refused here: [`VaeConfig::init_hierarchical`]
    /// builds it.
    pub fn init_vae(&self, device: &Device, seed: u64) -> Result<Vae> {
        if !self.conditioning.is_none() {
            return Err(invalid(
                "conditioning",
                "a configuration with labels builds a ConditionalVae or a SemiSupervisedVae",
            ));
        }
        if self.top.is_some() {
            return Err(invalid(
                "top",
                "a configuration with a second stochastic layer builds a HierarchicalVae",
            ));
        }
        let mut init = Initializer::new(device, seed);
        let (encoder, decoder, likelihood) = self.parts(&mut init)?;
        let prior = self.prior_net(self.latent, &mut init);
        Ok(Vae::new(encoder, decoder, likelihood, prior))
    }

    /// A two-layer VAE of this shape (its [`VaeConfig::top`] layer above the networks of a
    /// one-layer one), initialised on the host from `seed`: the bottom networks first, as in
    /// [`VaeConfig::init_vae`], then q(z2 | z1), p(z1 | z2) and the prior.
    pub fn init_hierarchical(&self, device: &Device, seed: u64) -> Result<HierarchicalVae> {
        let Some(top) = &self.top else {
            return Err(invalid(
                "top",
                "a two-layer VAE needs its second layer (top)",
            ));
        };
        let mut init = Initializer::new(device, seed);
        let (encoder, decoder, likelihood) = self.parts(&mut init)?;
        let mirrored: Vec<usize> = top.hidden.iter().rev().copied().collect();
        let up = MlpEncoder::new(
            self.latent,
            &top.hidden,
            top.latent,
            self.activation,
            &mut init,
        );
        let down = MlpEncoder::new(
            top.latent,
            &mirrored,
            self.latent,
            self.activation,
            &mut init,
        );
        let prior = self.prior_net(top.latent, &mut init);
        Ok(HierarchicalVae::new(
            encoder, up, down, decoder, likelihood, prior,
        ))
    }

    /// A conditional VAE of this shape (its [`Conditioning::Conditional`] classes C): the
    /// encoder takes `input_dim + C` inputs, the decoder `latent + C`; weights drawn like
    /// [`VaeConfig::init_vae`]'s.
    pub fn init_conditional(&self, device: &Device, seed: u64) -> Result<ConditionalVae> {
        let Conditioning::Conditional { classes } = self.conditioning else {
            return Err(invalid("conditioning", "not a conditional VAE"));
        };
        let mut init = Initializer::new(device, seed);
        let (encoder, decoder, likelihood) = self.labelled_parts(classes, &mut init)?;
        Ok(ConditionalVae::new(
            encoder,
            decoder,
            likelihood,
            self.input_dim,
            classes,
        ))
    }

    /// M2 of this shape (its [`Conditioning::SemiSupervised`] classes C and weight): the
    /// networks of [`VaeConfig::init_conditional`], then the classifier `input_dim` →
    /// `hidden` → C.
    pub fn init_semi_supervised(&self, device: &Device, seed: u64) -> Result<SemiSupervisedVae> {
        let Conditioning::SemiSupervised {
            classes,
            classifier_weight,
        } = self.conditioning
        else {
            return Err(invalid("conditioning", "not a semi-supervised VAE"));
        };
        let mut init = Initializer::new(device, seed);
        let (encoder, decoder, likelihood) = self.labelled_parts(classes, &mut init)?;
        let classifier = MlpClassifier::new(
            self.input_dim,
            &self.hidden,
            classes,
            self.activation,
            &mut init,
        );
        let conditional =
            ConditionalVae::new(encoder, decoder, likelihood, self.input_dim, classes);
        Ok(SemiSupervisedVae::new(
            classifier,
            conditional,
            classifier_weight,
        ))
    }

    /// The networks of a model that takes `classes` label columns.
    fn labelled_parts(
        &self,
        classes: usize,
        init: &mut Initializer,
    ) -> Result<(EncoderNet, DecoderNet, PixelLikelihood)> {
        self.check()?;
        if classes < 2 {
            return Err(invalid(
                "conditioning",
                format!("needs at least 2 classes, not {classes}"),
            ));
        }
        let mirrored: Vec<usize> = self.hidden.iter().rev().copied().collect();
        let encoder = MlpEncoder::new(
            self.input_dim + classes,
            &self.hidden,
            self.latent,
            self.activation,
            init,
        );
        let decoder = MlpDecoder::new(
            self.latent + classes,
            &mirrored,
            self.input_dim,
            self.activation,
            init,
        );
        let likelihood = PixelLikelihood::new(self.likelihood, self.input_dim, init.device());
        Ok((
            EncoderNet::Mlp(encoder),
            DecoderNet::Mlp(decoder),
            likelihood,
        ))
    }

    /// The configured prior over `latent` dimensions. The VampPrior's pseudo-inputs start
    /// as [`VaeConfig::pseudo_input_start`] under [`PseudoInputStart::Data`] where it has
    /// their shape; otherwise as the paper's N(0.05, 0.01²) for a Bernoulli likelihood (pixels
    /// in [0, 1]) and as N(0, 1) draws, like standardised data, for the others.
    fn prior_net(&self, latent: usize, init: &mut Initializer) -> PriorNet {
        match self.prior {
            PriorConfig::Standard => PriorNet::Standard(StandardNormal),
            PriorConfig::Mixture { components } => {
                PriorNet::Mixture(MixturePrior::new(components, latent, init))
            }
            PriorConfig::Vamp { components, start } => {
                let rows = self.pseudo_input_start.clone().filter(|rows| {
                    start == PseudoInputStart::Data && rows.len() == components * self.input_dim
                });
                if let Some(rows) = rows {
                    return PriorNet::Vamp(VampPrior::from_rows(
                        components,
                        self.input_dim,
                        rows,
                        init,
                    ));
                }
                let noise = if self.likelihood == Likelihood::Bernoulli {
                    (0.05, 0.01)
                } else {
                    (0.0, 1.0)
                };
                PriorNet::Vamp(VampPrior::new(components, self.input_dim, noise, init))
            }
        }
    }

    /// A deterministic autoencoder of this shape (the encoder's mean head is the code),
    /// initialised on the host from `seed` like [`VaeConfig::init_vae`].
    pub fn init_autoencoder(&self, device: &Device, seed: u64) -> Result<Autoencoder> {
        let (encoder, decoder, likelihood) = self.parts(&mut Initializer::new(device, seed))?;
        Ok(Autoencoder::new(encoder, decoder, likelihood))
    }

    /// The checked networks (encoder weights drawn first, then the decoder's) and likelihood.
    fn parts(&self, init: &mut Initializer) -> Result<(EncoderNet, DecoderNet, PixelLikelihood)> {
        self.check()?;
        let device = init.device();
        let mirrored: Vec<usize> = self.hidden.iter().rev().copied().collect();
        let (encoder, decoder) = match self.architecture {
            Architecture::Mlp => {
                let encoder = MlpEncoder::new(
                    self.input_dim,
                    &self.hidden,
                    self.latent,
                    self.activation,
                    init,
                );
                let decoder = MlpDecoder::new(
                    self.latent,
                    &mirrored,
                    self.input_dim,
                    self.activation,
                    init,
                );
                (EncoderNet::Mlp(encoder), DecoderNet::Mlp(decoder))
            }
            Architecture::Conv => {
                let geometry = self.geometry();
                let encoder =
                    ConvEncoder::new(geometry, &self.hidden, self.latent, self.activation, init);
                let decoder =
                    ConvDecoder::new(geometry, self.latent, &mirrored, self.activation, init);
                (EncoderNet::Conv(encoder), DecoderNet::Conv(decoder))
            }
        };
        let likelihood = PixelLikelihood::new(self.likelihood, self.input_dim, device);
        Ok((encoder, decoder, likelihood))
    }
}
