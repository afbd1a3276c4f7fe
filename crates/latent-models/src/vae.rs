//! Variational autoencoder and deterministic autoencoder with MLP encoders and decoders.
//!
//! VAE: prior p(z) = N(0, I); encoder q_φ(z | x) = N(μ_φ(x), diag exp(log σ²_φ(x))); decoder
//! p_θ(x | z) Bernoulli (logits) or Gaussian (fixed variance). Training maximises the ELBO
//! E_q[log p(x | z)] − KL(q ‖ p) with z = μ + σ ⊙ ε and the KL in closed form; the IWAE bound
//! log (1/k) Σ_i p(x, z_i) / q(z_i | x) tightens it and, with large k, estimates log p(x).
//! Every log-density and KL comes from `latent-distributions`.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{activation, Device, Tensor, TensorData};
use latent_distributions::{
    bernoulli_log_prob_elementwise, kl, log_mean_exp, log_sum_exp, normal_log_prob_elementwise,
    normal_log_prob_elementwise_fixed, Normal,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

/// Non-linearity between hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Relu,
    Tanh,
}

impl Likelihood {
    /// E[x] from the decoder output: σ(logits) for Bernoulli, the output itself for Gaussian.
    pub fn mean(self, output: Tensor<2>) -> Tensor<2> {
        match self {
            Likelihood::Bernoulli => activation::sigmoid(output),
            Likelihood::Gaussian { .. } | Likelihood::GaussianLearned => output,
        }
    }
}

impl Activation {
    fn apply(self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::Tanh => activation::tanh(x),
        }
    }
}

/// The decoder's likelihood p(x | z).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Likelihood {
    /// Independent Bernoulli pixels from logits (binary cross-entropy).
    Bernoulli,
    /// Independent Gaussians with a fixed log-variance: a scaled squared error.
    Gaussian { log_var: f64 },
    /// Independent Gaussians with a learned log-variance per pixel (a decoder parameter,
    /// initialised at 0, used within [−7, 7]).
    GaussianLearned,
}

/// The networks' kind.
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

/// Shape of a VAE or AE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Dimension of x (784 for MNIST).
    pub input_dim: usize,
    /// Hidden layer sizes of the encoder; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Dimension of z.
    pub latent: usize,
    pub activation: Activation,
    pub likelihood: Likelihood,
    #[serde(default)]
    pub architecture: Architecture,
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
        }
    }
}

impl VaeConfig {
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
        if self.architecture == Architecture::Conv && self.input_dim != CONV_SIDE * CONV_SIDE {
            return Err(invalid(
                "architecture",
                format!(
                    "the convolutional networks take 28 × 28 images (784 inputs), not {}",
                    self.input_dim
                ),
            ));
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
        self.check()?;
        let mut init = Init::new(device, seed);
        Ok(Vae {
            encoder: EncoderNet::new(self, &mut init),
            decoder: DecoderNet::new(self, &mut init),
            pixel_log_var: self.pixel_log_var(device),
            likelihood: self.likelihood,
            latent: self.latent,
        })
    }

    /// A deterministic autoencoder of this shape (the encoder's mean head is the code),
    /// initialised on the host from `seed` like [`VaeConfig::init_vae`].
    pub fn init_autoencoder(&self, device: &Device, seed: u64) -> Result<Autoencoder> {
        self.check()?;
        let mut init = Init::new(device, seed);
        Ok(Autoencoder {
            encoder: EncoderNet::new(self, &mut init),
            decoder: DecoderNet::new(self, &mut init),
            pixel_log_var: self.pixel_log_var(device),
            likelihood: self.likelihood,
            latent: self.latent,
        })
    }

    /// The learned per-pixel log-variance parameter, for that likelihood only (initialised 0).
    fn pixel_log_var(&self, device: &Device) -> Option<Param<Tensor<1>>> {
        (self.likelihood == Likelihood::GaussianLearned)
            .then(|| Param::from_tensor(Tensor::zeros([self.input_dim], device)))
    }
}

/// Initial weights drawn on the host from a seeded generator and then placed on the device:
/// burn initialises parameters lazily from the device's own RNG, which differs between
/// backends, so a seed alone would give other weights on another backend.
pub(crate) struct Init<'a> {
    device: &'a Device,
    rng: StdRng,
}

impl<'a> Init<'a> {
    pub(crate) fn new(device: &'a Device, seed: u64) -> Self {
        Self {
            device,
            rng: StdRng::seed_from_u64(seed ^ 0x1a7e_2715_0000_0000),
        }
    }

    /// A parameter of `shape` drawn from U(−1/√fan_in, 1/√fan_in), burn's default for linear
    /// and convolution layers.
    fn uniform<const D: usize>(&mut self, shape: [usize; D], fan_in: usize) -> Param<Tensor<D>> {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let count: usize = shape.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|_| (2.0 * self.rng.random::<f32>() - 1.0) * bound)
            .collect();
        Param::from_tensor(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    fn linear(&mut self, d_in: usize, d_out: usize) -> Linear {
        let mut layer = LinearConfig::new(d_in, d_out).init(self.device);
        layer.weight = self.uniform([d_in, d_out], d_in);
        layer.bias = Some(self.uniform([d_out], d_in));
        layer
    }

    /// A 4 × 4, stride-2 convolution halving the side.
    fn conv(&mut self, channels: [usize; 2]) -> Conv2d {
        let mut layer = Conv2dConfig::new(channels, [4, 4])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(self.device);
        let fan_in = channels[0] * 16;
        layer.weight = self.uniform([channels[1], channels[0], 4, 4], fan_in);
        layer.bias = Some(self.uniform([channels[1]], fan_in));
        layer
    }

    /// A 4 × 4, stride-2 transposed convolution doubling the side.
    fn deconv(&mut self, channels: [usize; 2]) -> ConvTranspose2d {
        let mut layer = ConvTranspose2dConfig::new(channels, [4, 4])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .init(self.device);
        let fan_in = channels[1] * 16;
        layer.weight = self.uniform([channels[0], channels[1], 4, 4], fan_in);
        layer.bias = Some(self.uniform([channels[1]], fan_in));
        layer
    }
}

/// Linear layers with the activation after each.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    #[module(skip)]
    activation: Activation,
}

impl Mlp {
    fn new(sizes: &[usize], activation: Activation, init: &mut Init) -> Self {
        let layers = sizes.windows(2).map(|w| init.linear(w[0], w[1])).collect();
        Self { layers, activation }
    }

    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for layer in &self.layers {
            x = self.activation.apply(layer.forward(x));
        }
        x
    }
}

/// Maps x to the parameters of a diagonal Gaussian over z.
pub trait Encoder {
    fn encode(&self, x: Tensor<2>) -> Normal;
}

/// Maps z to the parameters of p(x | z): logits (Bernoulli) or means (Gaussian).
pub trait Decoder {
    fn decode(&self, z: Tensor<2>) -> Tensor<2>;
}

/// MLP trunk, then linear heads for μ and log σ².
#[derive(Module, Debug)]
pub struct GaussianEncoder {
    trunk: Mlp,
    mean: Linear,
    log_var: Linear,
}

impl GaussianEncoder {
    fn new(config: &VaeConfig, init: &mut Init) -> Self {
        let mut sizes = vec![config.input_dim];
        sizes.extend(&config.hidden);
        let last = *sizes.last().unwrap();
        Self {
            trunk: Mlp::new(&sizes, config.activation, init),
            mean: init.linear(last, config.latent),
            log_var: init.linear(last, config.latent),
        }
    }
}

impl Encoder for GaussianEncoder {
    fn encode(&self, x: Tensor<2>) -> Normal {
        let h = self.trunk.forward(x);
        Normal::new(self.mean.forward(h.clone()), self.log_var.forward(h))
    }
}

/// MLP trunk mirroring the encoder, then a linear output layer.
#[derive(Module, Debug)]
pub struct MlpDecoder {
    trunk: Mlp,
    output: Linear,
}

impl MlpDecoder {
    fn new(config: &VaeConfig, init: &mut Init) -> Self {
        let mut sizes = vec![config.latent];
        sizes.extend(config.hidden.iter().rev());
        let last = *sizes.last().unwrap();
        Self {
            trunk: Mlp::new(&sizes, config.activation, init),
            output: init.linear(last, config.input_dim),
        }
    }
}

impl Decoder for MlpDecoder {
    fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.trunk.forward(z))
    }
}

/// Side of the images the convolutional networks take.
const CONV_SIDE: usize = 28;
/// Channels after the two convolutions, at 7 × 7.
const CONV_CHANNELS: [usize; 2] = [32, 64];
const CONV_FLAT: usize = 64 * 7 * 7;

/// Two stride-2 convolutions (28 → 14 → 7), flattened, then the MLP trunk and the heads.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    conv1: Conv2d,
    conv2: Conv2d,
    trunk: Mlp,
    mean: Linear,
    log_var: Linear,
    #[module(skip)]
    activation: Activation,
}

impl ConvEncoder {
    fn new(config: &VaeConfig, init: &mut Init) -> Self {
        let mut sizes = vec![CONV_FLAT];
        sizes.extend(&config.hidden);
        let last = *sizes.last().unwrap();
        Self {
            conv1: init.conv([1, CONV_CHANNELS[0]]),
            conv2: init.conv(CONV_CHANNELS),
            trunk: Mlp::new(&sizes, config.activation, init),
            mean: init.linear(last, config.latent),
            log_var: init.linear(last, config.latent),
            activation: config.activation,
        }
    }
}

impl Encoder for ConvEncoder {
    fn encode(&self, x: Tensor<2>) -> Normal {
        let batch = x.dims()[0];
        let image: Tensor<4> = x.reshape([batch, 1, CONV_SIDE, CONV_SIDE]);
        let act = |t: Tensor<4>| -> Tensor<4> {
            let shape = t.dims();
            self.activation
                .apply(t.reshape([batch, shape[1] * shape[2] * shape[3]]))
                .reshape(shape)
        };
        let h = act(self.conv2.forward(act(self.conv1.forward(image))));
        let h = self.trunk.forward(h.reshape([batch, CONV_FLAT]));
        Normal::new(self.mean.forward(h.clone()), self.log_var.forward(h))
    }
}

/// The MLP trunk, a linear layer to 64 × 7 × 7, then two stride-2 transposed convolutions
/// (7 → 14 → 28); outputs one value per pixel.
#[derive(Module, Debug)]
pub struct ConvDecoder {
    trunk: Mlp,
    expand: Linear,
    deconv1: ConvTranspose2d,
    deconv2: ConvTranspose2d,
    #[module(skip)]
    activation: Activation,
}

impl ConvDecoder {
    fn new(config: &VaeConfig, init: &mut Init) -> Self {
        let mut sizes = vec![config.latent];
        sizes.extend(config.hidden.iter().rev());
        let last = *sizes.last().unwrap();
        Self {
            trunk: Mlp::new(&sizes, config.activation, init),
            expand: init.linear(last, CONV_FLAT),
            deconv1: init.deconv([CONV_CHANNELS[1], CONV_CHANNELS[0]]),
            deconv2: init.deconv([CONV_CHANNELS[0], 1]),
            activation: config.activation,
        }
    }
}

impl Decoder for ConvDecoder {
    fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        let batch = z.dims()[0];
        let h = self
            .activation
            .apply(self.expand.forward(self.trunk.forward(z)));
        let h: Tensor<4> = self
            .deconv1
            .forward(h.reshape([batch, CONV_CHANNELS[1], 7, 7]));
        let h = self
            .activation
            .apply(h.reshape([batch, CONV_CHANNELS[0] * 14 * 14]));
        let out = self
            .deconv2
            .forward(h.reshape([batch, CONV_CHANNELS[0], 14, 14]));
        out.reshape([batch, CONV_SIDE * CONV_SIDE])
    }
}

/// The encoder of either architecture. (A model holds exactly one: the variants' sizes do not
/// matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum EncoderNet {
    Mlp(GaussianEncoder),
    Conv(ConvEncoder),
}

impl EncoderNet {
    fn new(config: &VaeConfig, init: &mut Init) -> Self {
        match config.architecture {
            Architecture::Mlp => Self::Mlp(GaussianEncoder::new(config, init)),
            Architecture::Conv => Self::Conv(ConvEncoder::new(config, init)),
        }
    }
}

impl Encoder for EncoderNet {
    fn encode(&self, x: Tensor<2>) -> Normal {
        match self {
            Self::Mlp(net) => net.encode(x),
            Self::Conv(net) => net.encode(x),
        }
    }
}

/// The decoder of either architecture.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum DecoderNet {
    Mlp(MlpDecoder),
    Conv(ConvDecoder),
}

impl DecoderNet {
    fn new(config: &VaeConfig, init: &mut Init) -> Self {
        match config.architecture {
            Architecture::Mlp => Self::Mlp(MlpDecoder::new(config, init)),
            Architecture::Conv => Self::Conv(ConvDecoder::new(config, init)),
        }
    }
}

impl Decoder for DecoderNet {
    fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Mlp(net) => net.decode(z),
            Self::Conv(net) => net.decode(z),
        }
    }
}

/// Range of a learned pixel log-variance.
pub const MIN_PIXEL_LOG_VAR: f64 = -7.0;
pub const MAX_PIXEL_LOG_VAR: f64 = 7.0;

/// log p(x | decoder output) per example, summed over pixels: `[batch]`. `pixel_log_var` is
/// the decoder's learned log-variance (`[pixels]`) when the likelihood has one.
fn log_likelihood(
    likelihood: Likelihood,
    pixel_log_var: Option<Tensor<1>>,
    x: Tensor<2>,
    output: Tensor<2>,
) -> Tensor<1> {
    log_likelihood_elementwise(likelihood, pixel_log_var, x, output)
        .sum_dim(1)
        .squeeze_dim(1)
}

/// log p(x | output) per pixel, for decoder outputs `[…, d]` of any rank with the examples
/// broadcast against them (size-1 dimensions repeat, e.g. `[1, batch, d]` against the k samples'
/// outputs `[k, batch, d]`): nothing is copied to the outputs' size but the result.
fn log_likelihood_elementwise<const D: usize>(
    likelihood: Likelihood,
    pixel_log_var: Option<Tensor<1>>,
    x: Tensor<D>,
    output: Tensor<D>,
) -> Tensor<D> {
    match (likelihood, pixel_log_var) {
        (Likelihood::Bernoulli, _) => bernoulli_log_prob_elementwise(output, x),
        (Likelihood::Gaussian { log_var }, _) => {
            normal_log_prob_elementwise_fixed(output, log_var, x)
        }
        (Likelihood::GaussianLearned, Some(pixel_log_var)) => {
            // Floor σ at e^(−3.5) ≈ 0.03: on always-blank pixels the variance would otherwise
            // shrink towards 0 and the likelihood diverge.
            let pixel_log_var = pixel_log_var.clamp(MIN_PIXEL_LOG_VAR, MAX_PIXEL_LOG_VAR);
            let mut shape = [1; D];
            shape[D - 1] = pixel_log_var.dims()[0];
            normal_log_prob_elementwise(output, pixel_log_var.reshape(shape), x)
        }
        (Likelihood::GaussianLearned, None) => {
            unreachable!("a learned-variance decoder is always built with its log-variance")
        }
    }
}

/// The terms of the (β-weighted) negative ELBO of a batch, each averaged over the batch.
#[derive(Debug, Clone)]
pub struct ElboTerms {
    /// −E_q[log p(x | z)] per example (one-sample estimate).
    pub reconstruction: Tensor<1>,
    /// KL(q(z | x) ‖ N(0, I)) per example, closed form.
    pub kl: Tensor<1>,
    /// KL per latent dimension, averaged over the batch: `[latent]`.
    pub kl_per_dim: Tensor<1>,
    /// reconstruction + β · kl: what training minimises.
    pub loss: Tensor<1>,
}

/// A variational autoencoder.
#[derive(Module, Debug)]
pub struct Vae {
    pub encoder: EncoderNet,
    pub decoder: DecoderNet,
    /// The learned per-pixel log-variance of a `GaussianLearned` likelihood.
    pixel_log_var: Option<Param<Tensor<1>>>,
    #[module(skip)]
    pub likelihood: Likelihood,
    #[module(skip)]
    latent: usize,
}

impl Vae {
    /// The same model with the encoder's parameters excluded from gradients, so that training
    /// tunes the decoder alone (the encoder stays bit for bit as it is).
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

    /// Decoder output (logits or means) for codes z.
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.decoder.decode(z)
    }

    /// Pixel means E[x | z]: σ(logits) for Bernoulli, the means for Gaussian.
    pub fn decode_mean(&self, z: Tensor<2>) -> Tensor<2> {
        self.likelihood.mean(self.decode(z))
    }

    /// log p(x | decoder output): `[batch]`.
    pub fn log_likelihood(&self, x: Tensor<2>, output: Tensor<2>) -> Tensor<1> {
        log_likelihood(self.likelihood, self.pixel_log_var(), x, output)
    }

    /// The learned per-pixel log-variance, for a `GaussianLearned` likelihood.
    pub fn pixel_log_var(&self) -> Option<Tensor<1>> {
        self.pixel_log_var.as_ref().map(Param::val)
    }

    /// The negative ELBO with weight `beta` on the KL, from one reparameterised sample.
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
    /// deterministic, for comparing backends or sharing noise between models.
    pub fn elbo_terms_with_noise(&self, x: Tensor<2>, noise: Tensor<2>, beta: f64) -> ElboTerms {
        let q = self.posterior(x.clone());
        let z = q.rsample_with_noise(noise);
        let reconstruction = self.log_likelihood(x, self.decode(z)).neg().mean();
        let kl_elementwise = kl::kl_normal_std_normal_elementwise(&q);
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

    /// log w_i = log p(x | z_i) + log p(z_i) − log q(z_i | x) for k samples z_i ~ q(z | x):
    /// `[k, batch]`.
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
    /// The examples, the posterior's parameters and the pixel variances are broadcast over
    /// the k samples, not copied k times: copying the examples was 8 % of an importance-sampled
    /// evaluation (BENCHMARKS.md).
    fn importance_weights_of(&self, x: Tensor<2>, q: Normal, z: Tensor<3>) -> Tensor<2> {
        let [k, batch, latent] = z.dims();
        let d = x.dims()[1];
        let output = self
            .decode(z.clone().reshape([k * batch, latent]))
            .reshape([k, batch, d]);
        let log_px_z = log_likelihood_elementwise(
            self.likelihood,
            self.pixel_log_var(),
            x.unsqueeze_dim::<3>(0),
            output,
        )
        .sum_dim(2);
        let log_q = normal_log_prob_elementwise(
            q.mean.unsqueeze_dim::<3>(0),
            q.log_var.unsqueeze_dim::<3>(0),
            z.clone(),
        );
        let log_prior = normal_log_prob_elementwise_fixed(z.zeros_like(), 0.0, z);
        (log_px_z + (log_prior - log_q).sum_dim(2)).squeeze_dim(2)
    }

    /// The IWAE bound with k samples per example: `[batch]`. k = 1 is an unbiased one-sample
    /// ELBO (with a Monte-Carlo KL); the bound rises towards log p(x) as k grows.
    pub fn iwae_bound(&self, x: Tensor<2>, k: usize) -> Tensor<1> {
        log_mean_exp(self.log_importance_weights(x, k), 0).squeeze_dim(0)
    }

    /// [`Vae::iwae_bound`] with the noise ε (`[k, batch, latent]`) given.
    pub fn iwae_bound_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<1> {
        log_mean_exp(self.log_importance_weights_with_noise(x, noise), 0).squeeze_dim(0)
    }

    /// log p(x) estimated by importance sampling with `k` samples per example, drawn `chunk`
    /// at a time to bound memory: log (1/k) Σ_i w_i, `[batch]`.
    pub fn log_likelihood_estimate(&self, x: Tensor<2>, k: usize, chunk: usize) -> Tensor<1> {
        let partial = sample_chunks(k, chunk)
            .map(|m| log_sum_exp(self.log_importance_weights(x.clone(), m), 0))
            .collect();
        combine_log_weight_sums(partial, k)
    }

    /// log Σ_i w_i over the samples of the given noise ε (`[k, batch, latent]`): `[1, batch]`,
    /// one chunk's part of [`Vae::log_likelihood_estimate`] (see [`combine_log_weight_sums`]).
    pub fn log_weight_sum_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<2> {
        log_sum_exp(self.log_importance_weights_with_noise(x, noise), 0)
    }
}

/// The sizes of the chunks in which `k` samples are drawn, `chunk` (at least 1) at a time: all
/// `chunk` but a smaller last one.
pub fn sample_chunks(k: usize, chunk: usize) -> impl Iterator<Item = usize> {
    let chunk = chunk.max(1);
    (0..k).step_by(chunk).map(move |done| chunk.min(k - done))
}

/// The importance-sampled log p(x), `[batch]`, from the log Σ w of chunks of samples
/// (each `[1, batch]`) that drew `k` samples per example in all: log (1/k) Σ_chunks Σ w.
pub fn combine_log_weight_sums(chunks: Vec<Tensor<2>>, k: usize) -> Tensor<1> {
    log_sum_exp(Tensor::cat(chunks, 0), 0)
        .squeeze_dim(0)
        .sub_scalar((k as f64).ln())
}

/// A deterministic autoencoder: x → code (the encoder's mean head) → decoder output.
#[derive(Module, Debug)]
pub struct Autoencoder {
    pub encoder: EncoderNet,
    pub decoder: DecoderNet,
    pixel_log_var: Option<Param<Tensor<1>>>,
    #[module(skip)]
    pub likelihood: Likelihood,
    #[module(skip)]
    latent: usize,
}

impl Autoencoder {
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

    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.decoder.decode(z)
    }

    /// Pixel means E[x | z].
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
        log_likelihood(
            self.likelihood,
            self.pixel_log_var.as_ref().map(Param::val),
            x,
            output,
        )
        .neg()
        .mean()
    }
}
