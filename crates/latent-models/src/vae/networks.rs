//! The built-in networks: fully connected encoders and decoders, and convolutional ones for
//! 28 × 28 images; each an ordinary [`Encoder`] or [`Decoder`], with weights drawn on the host
//! by an [`Initializer`] so that a seed gives the same weights on every backend.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{activation, Device, Tensor, TensorData};
use latent_distributions::Normal;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::parts::{Decoder, Encoder};

/// Non-linearity between hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(x, 0).
    #[default]
    Relu,
    /// tanh(x).
    Tanh,
}

impl Activation {
    /// The non-linearity applied element by element.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::Tanh => activation::tanh(x),
        }
    }
}

/// Mixed into the seed of the initial weights, so that a model's seed and its training seed
/// (which drives the noise) do not draw the same stream.
const INIT_SEED_SALT: u64 = 0x1a7e_2715_0000_0000;

/// Initial weights drawn on the host from a seeded generator and then placed on the device.
///
/// burn initialises parameters lazily from the device's own generator, which differs between
/// backends, so a seed alone would give other weights on another backend. Networks built
/// through one `Initializer` get the same weights, bit for bit, everywhere: burn's default
/// layer initialisation U(−1/√fan_in, 1/√fan_in), drawn in the order the layers are made.
pub struct Initializer<'a> {
    device: &'a Device,
    rng: StdRng,
}

impl<'a> Initializer<'a> {
    /// Draws from `seed`, placing parameters on `device`.
    pub fn new(device: &'a Device, seed: u64) -> Self {
        Self {
            device,
            rng: StdRng::seed_from_u64(seed ^ INIT_SEED_SALT),
        }
    }

    /// The device the parameters go to.
    pub fn device(&self) -> &'a Device {
        self.device
    }

    /// A parameter of `shape` drawn from U(−1/√fan_in, 1/√fan_in).
    pub fn uniform<const D: usize>(
        &mut self,
        shape: [usize; D],
        fan_in: usize,
    ) -> Param<Tensor<D>> {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let count: usize = shape.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|_| (2.0 * self.rng.random::<f32>() - 1.0) * bound)
            .collect();
        self.given(shape, values)
    }

    /// A parameter of `shape` drawn from N(`mean`, `std`²) (Box–Muller on the same stream).
    pub fn normal<const D: usize>(
        &mut self,
        shape: [usize; D],
        mean: f32,
        std: f32,
    ) -> Param<Tensor<D>> {
        let count: usize = shape.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|_| {
                let u1 = 1.0 - self.rng.random::<f32>();
                let u2 = self.rng.random::<f32>();
                let r = (-2.0 * u1.ln()).sqrt();
                mean + std * r * (std::f32::consts::TAU * u2).cos()
            })
            .collect();
        self.given(shape, values)
    }

    /// A parameter of `shape` holding the given row-major `values` (drawing nothing).
    pub fn given<const D: usize>(
        &mut self,
        shape: [usize; D],
        values: Vec<f32>,
    ) -> Param<Tensor<D>> {
        Param::from_tensor(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    /// A parameter of `shape` holding `value` everywhere (drawing nothing).
    pub fn constant<const D: usize>(&mut self, shape: [usize; D], value: f32) -> Param<Tensor<D>> {
        Param::from_tensor(Tensor::full(shape, value, self.device))
    }

    /// A linear layer `d_in` → `d_out` (weight `[d_in, d_out]`, then bias).
    pub fn linear(&mut self, d_in: usize, d_out: usize) -> Linear {
        let mut layer = LinearConfig::new(d_in, d_out).init(self.device);
        layer.weight = self.uniform([d_in, d_out], d_in);
        layer.bias = Some(self.uniform([d_out], d_in));
        layer
    }

    /// A 4 × 4, stride-2 convolution halving the side (`channels` in, out).
    pub fn conv(&mut self, channels: [usize; 2]) -> Conv2d {
        let mut layer = Conv2dConfig::new(channels, [KERNEL, KERNEL])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(self.device);
        let fan_in = channels[0] * KERNEL * KERNEL;
        layer.weight = self.uniform([channels[1], channels[0], KERNEL, KERNEL], fan_in);
        layer.bias = Some(self.uniform([channels[1]], fan_in));
        layer
    }

    /// A 4 × 4, stride-2 transposed convolution doubling the side (`channels` in, out).
    pub fn deconv(&mut self, channels: [usize; 2]) -> ConvTranspose2d {
        let mut layer = ConvTranspose2dConfig::new(channels, [KERNEL, KERNEL])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .init(self.device);
        let fan_in = channels[1] * KERNEL * KERNEL;
        layer.weight = self.uniform([channels[0], channels[1], KERNEL, KERNEL], fan_in);
        layer.bias = Some(self.uniform([channels[1]], fan_in));
        layer
    }
}

/// Side of the convolutions' kernels.
const KERNEL: usize = 4;

/// Linear layers with the activation after each.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    #[module(skip)]
    activation: Activation,
}

impl Mlp {
    /// Layers between consecutive `sizes` (`[a, b, c]`: a → b → c), each followed by
    /// `activation`.
    pub fn new(sizes: &[usize], activation: Activation, init: &mut Initializer) -> Self {
        let layers = sizes.windows(2).map(|w| init.linear(w[0], w[1])).collect();
        Self { layers, activation }
    }

    /// The layers and activations in turn.
    pub fn forward<const D: usize>(&self, mut x: Tensor<D>) -> Tensor<D> {
        for layer in &self.layers {
            x = self.activation.apply(layer.forward(x));
        }
        x
    }
}

/// `first` followed by `rest`, as one list of layer sizes.
fn sizes(first: usize, rest: impl IntoIterator<Item = usize>) -> Vec<usize> {
    std::iter::once(first).chain(rest).collect()
}

/// Fully connected: an [`Mlp`] trunk, then linear heads for μ and log σ².
#[derive(Module, Debug)]
pub struct MlpEncoder {
    trunk: Mlp,
    mean: Linear,
    log_var: Linear,
    #[module(skip)]
    latent: usize,
}

impl MlpEncoder {
    /// `input` → `hidden`… → (μ, log σ²) of dimension `latent`.
    pub fn new(
        input: usize,
        hidden: &[usize],
        latent: usize,
        activation: Activation,
        init: &mut Initializer,
    ) -> Self {
        let sizes = sizes(input, hidden.iter().copied());
        let last = *sizes.last().expect("at least the input");
        Self {
            trunk: Mlp::new(&sizes, activation, init),
            mean: init.linear(last, latent),
            log_var: init.linear(last, latent),
            latent,
        }
    }
}

/// q(z | x) from the last hidden layer `h`: the heads' μ and log σ².
fn gaussian_heads(mean: &Linear, log_var: &Linear, h: Tensor<2>) -> Normal {
    Normal::new(mean.forward(h.clone()), log_var.forward(h))
}

impl Encoder for MlpEncoder {
    fn encode(&self, x: Tensor<2>) -> Normal {
        gaussian_heads(&self.mean, &self.log_var, self.trunk.forward(x))
    }

    fn latent_dim(&self) -> usize {
        self.latent
    }
}

/// Fully connected: an [`Mlp`] trunk, then a linear output layer.
#[derive(Module, Debug)]
pub struct MlpDecoder {
    trunk: Mlp,
    output: Linear,
}

impl MlpDecoder {
    /// `latent` → `hidden`… → `output` values (the likelihood's parameters).
    pub fn new(
        latent: usize,
        hidden: &[usize],
        output: usize,
        activation: Activation,
        init: &mut Initializer,
    ) -> Self {
        let sizes = sizes(latent, hidden.iter().copied());
        let last = *sizes.last().expect("at least the latent");
        Self {
            trunk: Mlp::new(&sizes, activation, init),
            output: init.linear(last, output),
        }
    }
}

impl Decoder for MlpDecoder {
    fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.trunk.forward(z))
    }
}

/// An image's (height, width, channels), as the convolutional networks take it (planar:
/// C × H × W per example).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageGeometry {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// 1 (grey) or 3 (colour).
    pub channels: usize,
}

impl ImageGeometry {
    /// MNIST's 28 × 28 grey images.
    pub const MNIST: ImageGeometry = ImageGeometry {
        height: 28,
        width: 28,
        channels: 1,
    };

    /// Values per image.
    pub fn dim(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Why the convolutional networks cannot take these images, if they cannot: the two
    /// stride-2 convolutions halve each side twice and the decoder doubles it back, so each
    /// side must be a multiple of [`CONV_SIDE_MULTIPLE`] (and at least that).
    pub fn conv_problem(&self) -> Option<String> {
        let m = CONV_SIDE_MULTIPLE;
        if !matches!(self.channels, 1 | 3) {
            return Some(format!(
                "images of {} channels (1 or 3 are taken)",
                self.channels
            ));
        }
        if self.height < m
            || self.width < m
            || !self.height.is_multiple_of(m)
            || !self.width.is_multiple_of(m)
        {
            let (h, w) = (
                self.height.max(m).div_ceil(m) * m,
                self.width.max(m).div_ceil(m) * m,
            );
            return Some(format!(
                "{} × {} images: each side must be a multiple of {m} (at least {m} × {m}); \
                 resize them (e.g. size={h}x{w} in the data spec, or --image-size {h}x{w})",
                self.height, self.width,
            ));
        }
        None
    }

    /// Side lengths after the two convolutions.
    fn inner(&self) -> (usize, usize) {
        (
            self.height / CONV_SIDE_MULTIPLE,
            self.width / CONV_SIDE_MULTIPLE,
        )
    }

    /// Values after the two convolutions, flattened.
    fn flat(&self) -> usize {
        let (h, w) = self.inner();
        CONV_CHANNELS[1] * h * w
    }
}

/// What each side of an image the convolutional networks take must divide by: two stride-2
/// convolutions.
pub const CONV_SIDE_MULTIPLE: usize = 4;
/// Side of MNIST's images, which the convolutional networks of older runs take.
pub const CONV_SIDE: usize = 28;
/// Channels after the first and the second convolution.
const CONV_CHANNELS: [usize; 2] = [32, 64];

/// Two stride-2 convolutions (each side halved twice; 32 and 64 channels), flattened, then an
/// [`Mlp`] trunk and the heads.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    conv1: Conv2d,
    conv2: Conv2d,
    trunk: Mlp,
    mean: Linear,
    log_var: Linear,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    latent: usize,
    #[module(skip)]
    geometry: ImageGeometry,
}

impl ConvEncoder {
    /// Images of `geometry` (see [`ImageGeometry::conv_problem`]) → convolutions → `hidden`…
    /// → (μ, log σ²) of dimension `latent`.
    pub fn new(
        geometry: ImageGeometry,
        hidden: &[usize],
        latent: usize,
        activation: Activation,
        init: &mut Initializer,
    ) -> Self {
        let sizes = sizes(geometry.flat(), hidden.iter().copied());
        let last = *sizes.last().expect("at least the convolutions' output");
        Self {
            conv1: init.conv([geometry.channels, CONV_CHANNELS[0]]),
            conv2: init.conv(CONV_CHANNELS),
            trunk: Mlp::new(&sizes, activation, init),
            mean: init.linear(last, latent),
            log_var: init.linear(last, latent),
            activation,
            latent,
            geometry,
        }
    }
}

impl Encoder for ConvEncoder {
    fn encode(&self, x: Tensor<2>) -> Normal {
        let batch = x.dims()[0];
        let g = self.geometry;
        let image: Tensor<4> = x.reshape([batch, g.channels, g.height, g.width]);
        let act = |t: Tensor<4>| self.activation.apply(t);
        let h = act(self.conv2.forward(act(self.conv1.forward(image))));
        let h = self.trunk.forward(h.reshape([batch, g.flat()]));
        gaussian_heads(&self.mean, &self.log_var, h)
    }

    fn latent_dim(&self) -> usize {
        self.latent
    }
}

/// An [`Mlp`] trunk, a linear layer to 64 channels at a quarter of each side, then two
/// stride-2 transposed convolutions back to the images' size; one value per pixel and channel.
#[derive(Module, Debug)]
pub struct ConvDecoder {
    trunk: Mlp,
    expand: Linear,
    deconv1: ConvTranspose2d,
    deconv2: ConvTranspose2d,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    geometry: ImageGeometry,
}

impl ConvDecoder {
    /// `latent` → `hidden`… → transposed convolutions → images of `geometry`.
    pub fn new(
        geometry: ImageGeometry,
        latent: usize,
        hidden: &[usize],
        activation: Activation,
        init: &mut Initializer,
    ) -> Self {
        let sizes = sizes(latent, hidden.iter().copied());
        let last = *sizes.last().expect("at least the latent");
        Self {
            trunk: Mlp::new(&sizes, activation, init),
            expand: init.linear(last, geometry.flat()),
            deconv1: init.deconv([CONV_CHANNELS[1], CONV_CHANNELS[0]]),
            deconv2: init.deconv([CONV_CHANNELS[0], geometry.channels]),
            activation,
            geometry,
        }
    }
}

impl Decoder for ConvDecoder {
    fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        let batch = z.dims()[0];
        let g = self.geometry;
        let (h, w) = g.inner();
        let (h2, w2) = (2 * h, 2 * w);
        let x = self
            .activation
            .apply(self.expand.forward(self.trunk.forward(z)));
        let x: Tensor<4> = self
            .deconv1
            .forward(x.reshape([batch, CONV_CHANNELS[1], h, w]));
        let x = self
            .activation
            .apply(x.reshape([batch, CONV_CHANNELS[0] * h2 * w2]));
        let out = self
            .deconv2
            .forward(x.reshape([batch, CONV_CHANNELS[0], h2, w2]));
        out.reshape([batch, g.dim()])
    }
}

/// The encoder of either built-in architecture, chosen at run time from a configuration: an
/// [`Encoder`] like any other. (A model holds exactly one, so the variants' sizes do not
/// matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum EncoderNet {
    /// Fully connected.
    Mlp(MlpEncoder),
    /// Convolutional, for 28 × 28 images.
    Conv(ConvEncoder),
}

impl Encoder for EncoderNet {
    fn encode(&self, x: Tensor<2>) -> Normal {
        match self {
            Self::Mlp(net) => net.encode(x),
            Self::Conv(net) => net.encode(x),
        }
    }

    fn latent_dim(&self) -> usize {
        match self {
            Self::Mlp(net) => net.latent_dim(),
            Self::Conv(net) => net.latent_dim(),
        }
    }
}

/// The decoder of either built-in architecture.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum DecoderNet {
    /// Fully connected.
    Mlp(MlpDecoder),
    /// Transposed convolutions, to 28 × 28 images.
    Conv(ConvDecoder),
}

impl Decoder for DecoderNet {
    fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Mlp(net) => net.decode(z),
            Self::Conv(net) => net.decode(z),
        }
    }
}
