//! VAEs that use the examples' labels: the conditional VAE (Sohn et al. 2015), whose encoder
//! and decoder both see the class, and the semi-supervised M2 (Kingma et al. 2014), which
//! also learns a classifier q(y | x) and treats the class of an unlabelled example as a latent
//! variable, marginalised exactly over the C classes.
//!
//! Both take their labels as inputs: each row of x is the example's values followed by C
//! one-hot columns of its class, all zero where the label is hidden (what the trainer hands a
//! model whose run has `label_columns`, see `latent_data::LabelColumns`). Their codes are the
//! latent z followed by the one-hot class, so that the decoder of a code needs nothing else:
//! [`Codec::decode_mean`] of `[z, onehot(7)]` draws a 7.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{activation, Device, Distribution as Noise, Int, Tensor};
use latent_distributions::{kl, normal_log_prob_elementwise, normal_log_prob_elementwise_fixed};

use super::likelihood::PixelLikelihood;
use super::networks::{DecoderNet, EncoderNet, Initializer, Mlp};
use super::parts::{Decoder, Encoder, LikelihoodModel};
use crate::model::{
    draw_elbo_noise, elbo_loss_terms, Codec, ElboTerms, LatentVariableModel, LossTerms, Objective,
    StepNoise, Trainable,
};

/// The data columns and the label columns of conditional inputs `[batch, data + classes]`.
fn split_labels(x: Tensor<2>, data: usize, classes: usize) -> (Tensor<2>, Tensor<2>) {
    (x.clone().narrow(1, 0, data), x.narrow(1, data, classes))
}

/// `n` one-hot rows of classes drawn uniformly with the generator of `device`.
fn uniform_classes(n: usize, classes: usize, device: &Device) -> Tensor<2> {
    Tensor::<1>::random([n], Noise::Uniform(0.0, classes as f64), device)
        .floor()
        .clamp(0.0, (classes - 1) as f64)
        .one_hot(classes)
}

/// One-hot rows of every class for each of `batch` examples, class-major: class 0's `batch`
/// rows, then class 1's, …: `[classes · batch, classes]`.
fn every_class(batch: usize, classes: usize, device: &Device) -> Tensor<2> {
    Tensor::<1, Int>::arange(0..classes as i64, device)
        .float()
        .unsqueeze_dim::<2>(1)
        .repeat_dim(1, batch)
        .reshape([classes * batch])
        .one_hot(classes)
}

/// [z, onehot(y)] for `n` draws z ~ N(0, I) of dimension `latent`, with the classes `labels`
/// (`[n, classes]`) or, without them, classes drawn uniformly.
fn prior_codes(
    n: usize,
    latent: usize,
    classes: usize,
    labels: Option<Tensor<2>>,
    device: &Device,
) -> Tensor<2> {
    let z = Tensor::random([n, latent], Noise::Normal(0.0, 1.0), device);
    let labels = labels.unwrap_or_else(|| uniform_classes(n, classes, device));
    Tensor::cat(vec![z, labels], 1)
}

/// `n` one-hot rows of class `class`.
fn class_rows(n: usize, class: usize, classes: usize, device: &Device) -> Tensor<2> {
    Tensor::<1>::full([n], class as f64, device).one_hot(classes)
}

/// A conditional VAE: q(z | x, y) = N(μ(x, y), σ²(x, y)), p(z) = N(0, I), p(x | z, y). Its
/// ELBO and importance-sampled likelihood are of log p(x | y): class-conditional.
#[derive(Module, Debug)]
pub struct ConditionalVae<E = EncoderNet, D = DecoderNet, L = PixelLikelihood> {
    /// [x, y] → q(z | x, y).
    pub encoder: E,
    /// [z, y] → the likelihood's parameters.
    pub decoder: D,
    /// p(x | decoder output).
    pub likelihood: L,
    #[module(skip)]
    data: usize,
    #[module(skip)]
    classes: usize,
    #[module(skip)]
    latent: usize,
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel> ConditionalVae<E, D, L> {
    /// A CVAE over `data` values and `classes` classes: the encoder takes `data + classes`
    /// inputs, the decoder the encoder's latent dimension plus `classes`.
    pub fn new(encoder: E, decoder: D, likelihood: L, data: usize, classes: usize) -> Self {
        let latent = encoder.latent_dim();
        Self {
            encoder,
            decoder,
            likelihood,
            data,
            classes,
            latent,
        }
    }
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel> ConditionalVae<E, D, L> {
    /// The bound's terms of each row of the conditional inputs `x` with the noise `noise`
    /// (`[n, latent]`): −log p(x | z, y) `[n]` and KL(q(z | x, y) ‖ N(0, I)) per dimension
    /// `[n, latent]`.
    fn bound_rows(&self, x: Tensor<2>, noise: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
        let (data, y) = split_labels(x.clone(), self.data, self.classes);
        let q = self.encoder.encode(x);
        let kl_elementwise = kl::kl_normal_std_normal_elementwise(&q);
        let z = q.rsample_with_noise(noise);
        let output = self.decoder.decode(Tensor::cat(vec![z, y], 1));
        (self.likelihood.log_prob(data, output).neg(), kl_elementwise)
    }

    /// log p(x | y, z_i) and log p(z_i) − log q(z_i | x, y) of the samples given by `noise`
    /// (`[k, batch, latent]`), each `[k, batch, 1]`.
    fn importance_weight_parts(&self, x: Tensor<2>, noise: Tensor<3>) -> [Tensor<3>; 2] {
        let [k, batch, latent] = noise.dims();
        let (data, y) = split_labels(x.clone(), self.data, self.classes);
        let q = self.encoder.encode(x);
        let z = q.rsample_n_with_noise(noise);
        let codes = Tensor::cat(vec![z.clone(), y.unsqueeze_dim::<3>(0).repeat_dim(0, k)], 2);
        let output = self
            .decoder
            .decode(codes.reshape([k * batch, latent + self.classes]))
            .reshape([k, batch, self.data]);
        let log_px = self.likelihood.log_prob_samples(data, output);
        let log_q = normal_log_prob_elementwise(
            q.mean.unsqueeze_dim::<3>(0),
            q.log_var.unsqueeze_dim::<3>(0),
            z.clone(),
        );
        let log_prior = normal_log_prob_elementwise_fixed(z.zeros_like(), 0.0, z);
        [log_px, (log_prior - log_q).sum_dim(2)]
    }

    /// Conditional inputs of the examples `data` (`[batch, data]`) under every class,
    /// class-major (see [`every_class`]): `[classes · batch, data + classes]`.
    fn under_every_class(&self, data: Tensor<2>) -> Tensor<2> {
        let [batch, _] = data.dims();
        let labels = every_class(batch, self.classes, &data.device());
        Tensor::cat(vec![data.repeat_dim(0, self.classes), labels], 1)
    }
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel> Codec for ConditionalVae<E, D, L> {
    /// z's dimension plus the classes: a code is [z, onehot(y)].
    fn latent_dim(&self) -> usize {
        self.latent + self.classes
    }

    /// [E_q[z | x, y], onehot(y)].
    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        let (_, y) = split_labels(x.clone(), self.data, self.classes);
        Tensor::cat(vec![self.encoder.encode(x).mean, y], 1)
    }

    fn decode_mean(&self, code: Tensor<2>) -> Tensor<2> {
        self.likelihood.mean(self.decoder.decode(code))
    }

    fn decode_sample(&self, code: Tensor<2>) -> Tensor<2> {
        self.likelihood.sample(self.decoder.decode(code))
    }

    fn binary_data(&self) -> bool {
        self.likelihood.binary()
    }
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel> LatentVariableModel for ConditionalVae<E, D, L> {
    fn noise_dim(&self) -> usize {
        self.latent
    }

    /// [z, onehot(y)] with z ~ N(0, I) and y uniform over the classes.
    fn sample_prior(&self, n: usize, device: &Device) -> Tensor<2> {
        prior_codes(n, self.latent, self.classes, None, device)
    }

    fn sample_prior_of_class(&self, n: usize, class: usize, device: &Device) -> Option<Tensor<2>> {
        let labels = class_rows(n, class, self.classes, device);
        Some(prior_codes(
            n,
            self.latent,
            self.classes,
            Some(labels),
            device,
        ))
    }

    fn classes(&self) -> Option<usize> {
        Some(self.classes)
    }

    fn layer_codes(&self, x: Tensor<2>) -> Vec<Tensor<2>> {
        vec![self.encoder.encode(x).mean]
    }

    fn elbo_terms_with_noise(&self, x: Tensor<2>, noise: Tensor<2>, beta: f64) -> ElboTerms {
        let (reconstruction, kl_elementwise) = self.bound_rows(x, noise);
        let reconstruction = reconstruction.mean();
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

    fn log_importance_weights_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<2> {
        let [likelihood, latent] = self.importance_weight_parts(x, noise);
        (likelihood + latent).squeeze_dim(2)
    }

    fn log_importance_weight_parts_with_noise(
        &self,
        x: Tensor<2>,
        noise: Tensor<3>,
    ) -> Option<[Tensor<2>; 2]> {
        Some(
            self.importance_weight_parts(x, noise)
                .map(|part| part.squeeze_dim(2)),
        )
    }
}

impl<E, D, L> Trainable for ConditionalVae<E, D, L>
where
    E: Encoder + Sync,
    D: Decoder + Sync,
    L: LikelihoodModel + Sync,
{
    fn draw_noise(&self, n: usize, objective: &Objective, device: &Device) -> StepNoise {
        draw_elbo_noise(self, n, objective, device)
    }

    fn loss_terms(&self, x: Tensor<2>, noise: StepNoise, objective: &Objective) -> LossTerms {
        elbo_loss_terms(self, x, noise, objective)
    }

    fn freeze_encoder(self) -> Self {
        Self {
            encoder: self.encoder.no_grad(),
            ..self
        }
    }
}

/// The classifier q(y | x) of M2: fully connected layers, then a linear layer to the classes'
/// logits.
#[derive(Module, Debug)]
pub struct MlpClassifier {
    trunk: Mlp,
    head: Linear,
}

impl MlpClassifier {
    /// `input` → `hidden`… → `classes` logits.
    pub fn new(
        input: usize,
        hidden: &[usize],
        classes: usize,
        activation: super::networks::Activation,
        init: &mut Initializer,
    ) -> Self {
        let sizes: Vec<usize> = std::iter::once(input)
            .chain(hidden.iter().copied())
            .collect();
        let last = *sizes.last().expect("at least the input");
        Self {
            trunk: Mlp::new(&sizes, activation, init),
            head: init.linear(last, classes),
        }
    }

    /// log q(y | x) of every class: `[batch, classes]`.
    pub fn log_probs(&self, x: Tensor<2>) -> Tensor<2> {
        activation::log_softmax(self.head.forward(self.trunk.forward(x)), 1)
    }
}

/// The bound's terms of every example under every class, `[classes, batch]` each:
/// −log p(x | y, z) and KL(q(z | x, y) ‖ p(z)) (one sample z per example and class, from the
/// same noise), and the per-dimension KL `[classes, batch, latent]`.
struct PerClass {
    reconstruction: Tensor<2>,
    kl: Tensor<2>,
    kl_elementwise: Tensor<3>,
}

/// M2 (Kingma et al. 2014): p(y) uniform over C classes, p(z) = N(0, I), p(x | y, z); q(y | x)
/// a classifier and q(z | x, y) a Gaussian encoder. A labelled example's bound is
/// L(x, y) = E_q(z|x,y)[log p(x | y, z)] − KL(q(z | x, y) ‖ p(z)) + log p(y); an unlabelled
/// one's U(x) = Σ_y q(y | x) L(x, y) + H(q(y | x)), the sum over classes computed exactly.
/// Training minimises −L − α log q(y | x) on labelled examples (α the classifier weight) and
/// −U on the others.
#[derive(Module, Debug)]
pub struct SemiSupervisedVae<E = EncoderNet, D = DecoderNet, L = PixelLikelihood> {
    /// x → log q(y | x).
    pub classifier: MlpClassifier,
    /// q(z | x, y) and p(x | z, y): a conditional VAE, which bounds log p(x, y) of every
    /// class.
    pub conditional: ConditionalVae<E, D, L>,
    #[module(skip)]
    classifier_weight: f64,
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel> SemiSupervisedVae<E, D, L> {
    /// M2 of a classifier and a conditional VAE over the same classes, with weight
    /// `classifier_weight` (α) on the labelled examples' classification loss.
    pub fn new(
        classifier: MlpClassifier,
        conditional: ConditionalVae<E, D, L>,
        classifier_weight: f64,
    ) -> Self {
        Self {
            classifier,
            conditional,
            classifier_weight,
        }
    }

    /// The data columns and the label columns of inputs `x`.
    fn split(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        split_labels(x, self.conditional.data, self.conditional.classes)
    }

    /// The labelled bound's terms of the data `data` (`[batch, data]`) under every class,
    /// with the noise ε `[batch, latent]` shared by the classes.
    fn per_class(&self, data: Tensor<2>, noise: Tensor<2>) -> PerClass {
        let [batch, _] = data.dims();
        let c = self.conditional.classes;
        let rows = self.conditional.under_every_class(data);
        let (reconstruction, kl_elementwise) =
            self.conditional.bound_rows(rows, noise.repeat_dim(0, c));
        PerClass {
            reconstruction: reconstruction.reshape([c, batch]),
            kl: kl_elementwise.clone().sum_dim(1).reshape([c, batch]),
            kl_elementwise: kl_elementwise.reshape([c, batch, self.conditional.latent]),
        }
    }

    /// Per example of the data `data` and label columns `y`: the weights of the classes in its
    /// bound (`[classes, batch]`: its one-hot label if it has one, else q(y | x)), whether it is labelled (`[batch]`, 0 or 1), and
    /// log q(y | x) (`[batch, classes]`).
    fn class_weights(&self, data: Tensor<2>, y: Tensor<2>) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
        let log_q = self.classifier.log_probs(data);
        let labelled = y.clone().sum_dim(1); // [batch, 1]
        let weights = y + log_q.clone().exp() * labelled.clone().neg().add_scalar(1.0);
        (weights.transpose(), labelled, log_q)
    }

    /// The bound's terms per example (`[batch]` each, means taken by the caller): the
    /// reconstruction and the KL of the joint posterior q(y, z | x) to p(y, z) (for a labelled
    /// example the point mass on its class: KL ln C), the KL per latent dimension `[batch,
    /// latent]`, and the classification loss −log q(y | x) of labelled examples (0 for the
    /// others).
    fn bound_terms(
        &self,
        x: Tensor<2>,
        noise: Tensor<2>,
    ) -> (Tensor<1>, Tensor<1>, Tensor<2>, Tensor<1>) {
        let (data, y) = self.split(x);
        let per_class = self.per_class(data.clone(), noise);
        let (weights, labelled, log_q) = self.class_weights(data, y.clone());
        let reconstruction = (per_class.reconstruction * weights.clone())
            .sum_dim(0)
            .squeeze_dim(0);
        let kl_z = (per_class.kl * weights.clone()).sum_dim(0).squeeze_dim(0);
        let kl_per_dim = (per_class.kl_elementwise * weights.clone().unsqueeze_dim::<3>(2))
            .sum_dim(0)
            .squeeze_dim(0);
        // KL(q(y | x) ‖ uniform) = Σ_y q log q + ln C; a labelled example's q is its label.
        let log_c = (self.conditional.classes as f64).ln();
        let unlabelled = labelled.clone().neg().add_scalar(1.0).squeeze_dim(1);
        let kl_y = (weights.transpose() * log_q.clone())
            .sum_dim(1)
            .squeeze_dim(1)
            * unlabelled
            + log_c;
        let classification = (y * log_q).sum_dim(1).squeeze_dim(1).neg();
        (reconstruction, kl_z + kl_y, kl_per_dim, classification)
    }
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel> Codec for SemiSupervisedVae<E, D, L> {
    /// z's dimension plus the classes: a code is [z, onehot(y)].
    fn latent_dim(&self) -> usize {
        self.conditional.latent_dim()
    }

    /// [E_q[z | x, ŷ], onehot(ŷ)] with ŷ the example's label if it is shown, else the
    /// classifier's most probable class.
    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        let (data, y) = self.split(x);
        let guess = self
            .classifier
            .log_probs(data.clone())
            .argmax(1)
            .float()
            .squeeze_dim::<1>(1)
            .one_hot(self.conditional.classes);
        let labelled = y.clone().sum_dim(1);
        let shown = y + guess * labelled.neg().add_scalar(1.0);
        self.conditional.encode(Tensor::cat(vec![data, shown], 1))
    }

    fn decode_mean(&self, code: Tensor<2>) -> Tensor<2> {
        self.conditional.decode_mean(code)
    }

    fn decode_sample(&self, code: Tensor<2>) -> Tensor<2> {
        self.conditional.decode_sample(code)
    }

    fn binary_data(&self) -> bool {
        self.conditional.binary_data()
    }
}

impl<E: Encoder, D: Decoder, L: LikelihoodModel> LatentVariableModel
    for SemiSupervisedVae<E, D, L>
{
    fn noise_dim(&self) -> usize {
        self.conditional.noise_dim()
    }

    /// [z, onehot(y)] with z ~ N(0, I) and y ~ p(y), uniform.
    fn sample_prior(&self, n: usize, device: &Device) -> Tensor<2> {
        self.conditional.sample_prior(n, device)
    }

    fn sample_prior_of_class(&self, n: usize, class: usize, device: &Device) -> Option<Tensor<2>> {
        self.conditional.sample_prior_of_class(n, class, device)
    }

    fn classes(&self) -> Option<usize> {
        Some(self.conditional.classes)
    }

    fn class_log_probs(&self, x: Tensor<2>) -> Option<Tensor<2>> {
        Some(self.classifier.log_probs(self.split(x).0))
    }

    fn layer_codes(&self, x: Tensor<2>) -> Vec<Tensor<2>> {
        vec![self.encode(x).narrow(1, 0, self.conditional.latent)]
    }

    /// −L(x, y) for a labelled example, −U(x) for an unlabelled one.
    fn elbo_terms_with_noise(&self, x: Tensor<2>, noise: Tensor<2>, beta: f64) -> ElboTerms {
        let (reconstruction, kl, kl_per_dim, _) = self.bound_terms(x, noise);
        let reconstruction = reconstruction.mean();
        let kl_per_dim = kl_per_dim.mean_dim(0).squeeze_dim(0);
        let kl = kl.mean();
        let loss = reconstruction.clone() + kl.clone().mul_scalar(beta);
        ElboTerms {
            reconstruction,
            kl,
            kl_per_dim,
            loss,
        }
    }

    /// log w_i = log Σ_y p(y) p(x | y, z_i^y) p(z_i^y) / q(z_i^y | x, y), every class with
    /// its own z_i^y = μ(x, y) + σ(x, y) ⊙ ε_i (the conditional VAE's weights under every
    /// class): unbiased for p(x) (for p(x, y) where the label is shown, which keeps only its
    /// class).
    fn log_importance_weights_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<2> {
        let [k, batch, _] = noise.dims();
        let c = self.conditional.classes;
        let (data, y) = self.split(x);
        // [k, c·batch]: every class of every example with the same k noises.
        let per_class = self
            .conditional
            .log_importance_weights_with_noise(
                self.conditional.under_every_class(data),
                noise.repeat_dim(1, c),
            )
            .reshape([k, c, batch]);
        // A shown label keeps its class only: log of its one-hot (0 or −∞); else all classes.
        let labelled = y.clone().sum_dim(1);
        let allowed = (y + labelled.neg().add_scalar(1.0)).transpose().log(); // [c, batch]
        let joint = per_class + allowed.unsqueeze_dim::<3>(0) - (c as f64).ln();
        latent_distributions::log_sum_exp(joint, 1).squeeze_dim(1)
    }
}

impl<E, D, L> Trainable for SemiSupervisedVae<E, D, L>
where
    E: Encoder + Sync,
    D: Decoder + Sync,
    L: LikelihoodModel + Sync,
{
    fn draw_noise(&self, n: usize, objective: &Objective, device: &Device) -> StepNoise {
        draw_elbo_noise(self, n, objective, device)
    }

    /// −L − α log q(y | x) on labelled examples, −U on the others, with β on the KL.
    fn loss_terms(&self, x: Tensor<2>, noise: StepNoise, objective: &Objective) -> LossTerms {
        let noise = noise.part(0).squeeze_dim::<2>(0);
        let (reconstruction, kl, _, classification) = self.bound_terms(x, noise);
        let (reconstruction, kl) = (reconstruction.mean(), kl.mean());
        let loss = reconstruction.clone()
            + kl.clone().mul_scalar(objective.kl_weight)
            + classification.mean().mul_scalar(self.classifier_weight);
        LossTerms {
            loss,
            reconstruction,
            kl,
        }
    }

    fn freeze_encoder(self) -> Self {
        Self {
            conditional: self.conditional.freeze_encoder(),
            classifier: self.classifier.no_grad(),
            ..self
        }
    }
}
