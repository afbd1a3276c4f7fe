//! The contract between a latent-variable model and the code that trains, evaluates and draws
//! it: [`Codec`] (codes in and out), [`LatentVariableModel`] (prior, posterior, ELBO and
//! importance weights) and [`Trainable`] (the loss of one optimisation step and its noise).
//!
//! [`Vae`](crate::Vae) and [`Autoencoder`](crate::Autoencoder) implement these traits like any
//! model of a user's would; `latent-train` asks for nothing else. A user who only swaps a
//! network plugs it into [`Vae`](crate::Vae) through the smaller traits of [`crate::vae`]
//! ([`Encoder`](crate::vae::Encoder), [`Decoder`](crate::vae::Decoder), …) and gets these three
//! for free.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use latent_distributions::{log_mean_exp, log_sum_exp};

/// A model with codes: data x ↦ code z, and z ↦ the mean of p(x | z). Reconstructions,
/// interpolations, latent scatters and linear probes need only this.
pub trait Codec {
    /// Dimension of a code.
    fn latent_dim(&self) -> usize;

    /// The code of each example of `x` (`[batch, input]` → `[batch, latent]`): the posterior
    /// mean E_q[z | x] of a VAE, the code of an autoencoder.
    fn encode(&self, x: Tensor<2>) -> Tensor<2>;

    /// E[x | z] for codes `z` (`[n, latent]` → `[n, input]`), in the data's own units.
    fn decode_mean(&self, z: Tensor<2>) -> Tensor<2>;

    /// One draw x ~ p(x | z) for each of the codes `z` (`[n, latent]` → `[n, input]`): binary
    /// values of a Bernoulli likelihood, the mean plus the likelihood's noise of a Gaussian one.
    fn decode_sample(&self, z: Tensor<2>) -> Tensor<2>;

    /// Whether the likelihood is over binary data: the trainer then binarises inputs in [0, 1]
    /// (a fresh draw at every presentation while training, a fixed seeded draw for the test
    /// figures); otherwise it feeds the grey levels as they are.
    fn binary_data(&self) -> bool;
}

/// A latent-variable model p(z) p(x | z) with an approximate posterior q(z | x) reparameterised
/// by standard-normal noise ε: what the ELBO, the importance-sampled log p(x), active units
/// and prior samples are computed from.
pub trait LatentVariableModel: Codec {
    /// Size of the noise ε of one sample of q(z | x) for one example: the latent dimension for
    /// one Gaussian layer (z = μ + σ ⊙ ε), the sum of the layers' sizes for a hierarchy.
    fn noise_dim(&self) -> usize {
        self.latent_dim()
    }

    /// `n` codes drawn from the prior p(z): `[n, latent]`.
    fn sample_prior(&self, n: usize, device: &Device) -> Tensor<2>;

    /// The number of classes of a model conditioned on labels (whose inputs carry them as
    /// one-hot columns after the data, and whose codes end with them); `None` for others.
    fn classes(&self) -> Option<usize> {
        None
    }

    /// `n` codes drawn from the prior of class `class` (a conditional model's); `None` for a
    /// model without classes.
    fn sample_prior_of_class(
        &self,
        _n: usize,
        _class: usize,
        _device: &Device,
    ) -> Option<Tensor<2>> {
        None
    }

    /// log q(y | x) of every class (`[batch, classes]`) for a model with a classifier (M2);
    /// `None` for others.
    fn class_log_probs(&self, _x: Tensor<2>) -> Option<Tensor<2>> {
        None
    }

    /// The posterior means of each stochastic layer for `x`, bottom layer first (each `[batch,
    /// layer's dimension]`), whose variance over the data counts the layer's active units.
    /// One layer: [`Codec::encode`].
    fn layer_codes(&self, x: Tensor<2>) -> Vec<Tensor<2>> {
        vec![self.encode(x)]
    }

    /// The terms of the negative ELBO with weight `beta` on the KL, from one sample of q per
    /// example given by its noise `noise` (`[batch, noise_dim]`, standard normal).
    fn elbo_terms_with_noise(&self, x: Tensor<2>, noise: Tensor<2>, beta: f64) -> ElboTerms;

    /// Log importance weights log w_i = log p(x, z_i) − log q(z_i | x) of the samples given by
    /// `noise` (`[k, batch, noise_dim]`): `[k, batch]`.
    fn log_importance_weights_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<2>;

    /// The log importance weights of the samples given by `noise` (`[k, batch, noise_dim]`) in
    /// two parts, each `[k, batch]`: log p(x | z_i), and log p(z_i) − log q(z_i | x) (every
    /// latent layer's terms). Their sum is
    /// [`log_importance_weights_with_noise`](Self::log_importance_weights_with_noise).
    /// KL warm-up under the IWAE bound weights the second part by β (see
    /// [`tempered_iwae_bound_with_noise`](LatentVariableModel::tempered_iwae_bound_with_noise)).
    /// `None`, the default, for a model whose weights do not split so (the semi-supervised
    /// VAE's weights are a sum over classes).
    fn log_importance_weight_parts_with_noise(
        &self,
        _x: Tensor<2>,
        _noise: Tensor<3>,
    ) -> Option<[Tensor<2>; 2]> {
        None
    }

    /// The IWAE bound log (1/k) Σ_i w_i of the samples of `noise` (`[k, batch, noise_dim]`):
    /// `[batch]`. k = 1 is a one-sample ELBO; the bound rises towards log p(x) with k.
    fn iwae_bound_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<1> {
        log_mean_exp(self.log_importance_weights_with_noise(x, noise), 0).squeeze_dim(0)
    }

    /// The IWAE bound with the latent part of every weight raised to the power β:
    /// log (1/k) Σ_i p(x | z_i) (p(z_i) / q(z_i | x))^β, `[batch]` (Sønderby et al. 2016 train
    /// on it during KL warm-up). k = 1 is the β-weighted one-sample ELBO; β = 1 is
    /// [`iwae_bound_with_noise`](LatentVariableModel::iwae_bound_with_noise), computed by it.
    /// A model without the
    /// [weight parts](LatentVariableModel::log_importance_weight_parts_with_noise) gets the
    /// untempered bound whatever β.
    fn tempered_iwae_bound_with_noise(
        &self,
        x: Tensor<2>,
        noise: Tensor<3>,
        beta: f64,
    ) -> Tensor<1> {
        if beta == 1.0 {
            return self.iwae_bound_with_noise(x, noise);
        }
        match self.log_importance_weight_parts_with_noise(x.clone(), noise.clone()) {
            Some([likelihood, latent]) => {
                log_mean_exp(likelihood + latent.mul_scalar(beta), 0).squeeze_dim(0)
            }
            None => self.iwae_bound_with_noise(x, noise),
        }
    }

    /// log Σ_i w_i over the samples of `noise` (`[k, batch, noise_dim]`): `[1, batch]`, one
    /// chunk's part of an importance-sampled log p(x) (see [`combine_log_weight_sums`]).
    fn log_weight_sum_with_noise(&self, x: Tensor<2>, noise: Tensor<3>) -> Tensor<2> {
        log_sum_exp(self.log_importance_weights_with_noise(x, noise), 0)
    }
}

/// The terms of the (β-weighted) negative ELBO of a batch, each averaged over the batch.
#[derive(Debug, Clone)]
pub struct ElboTerms {
    /// −E_q[log p(x | z)] per example (one-sample estimate).
    pub reconstruction: Tensor<1>,
    /// KL(q(z | x) ‖ p(z)) per example: closed form where the prior has one.
    pub kl: Tensor<1>,
    /// The KL per latent dimension, averaged over the batch: `[latent]` (for a prior that does
    /// not factorise over dimensions, its whole KL sits in the first entry).
    pub kl_per_dim: Tensor<1>,
    /// reconstruction + β · kl: what training minimises.
    pub loss: Tensor<1>,
}

/// The training objective of one step, as the trainer's schedule sets it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    /// Weight β of the KL term (the KL warm-up's value in this epoch; 1 is the ELBO). Under the
    /// IWAE bound, the power of every weight's latent part p(z) / q(z | x).
    pub kl_weight: f64,
    /// Importance samples k of the bound: 1 is the ELBO, k > 1 the IWAE bound.
    pub iwae_samples: usize,
    /// Free bits λ (Kingma et al. 2016), in nats per latent dimension: the KL of each
    /// dimension, averaged over the batch, enters the loss as max(λ, KL_j), so that no
    /// dimension is pushed below λ (against posterior collapse). 0: the plain KL.
    pub free_bits: f64,
}

impl Objective {
    /// The plain ELBO: β = 1, one sample. The test figures of every epoch use it.
    pub const ELBO: Objective = Objective {
        kl_weight: 1.0,
        iwae_samples: 1,
        free_bits: 0.0,
    };
}

/// The loss of one step on a batch, each term averaged over the batch's examples.
#[derive(Debug, Clone)]
pub struct LossTerms {
    /// What the step minimises (differentiable).
    pub loss: Tensor<1>,
    /// The reconstruction term −E_q[log p(x | z)] reported beside it.
    pub reconstruction: Tensor<1>,
    /// The KL term reported beside it (0 for a model without one).
    pub kl: Tensor<1>,
}

/// The random numbers of one step: a list of tensors `[samples, batch, dim]` with the batch on
/// axis 1. The trainer draws them on its main device for a whole batch and hands each device the
/// rows of its slice of the batch, so that a step computes the same thing on one device or on
/// several.
#[derive(Debug, Clone, Default)]
pub struct StepNoise {
    parts: Vec<Tensor<3>>,
}

impl StepNoise {
    /// No noise (a deterministic model).
    pub fn none() -> Self {
        Self::default()
    }

    /// This noise with one more part `[samples, batch, dim]`.
    pub fn with(mut self, part: Tensor<3>) -> Self {
        self.parts.push(part);
        self
    }

    /// Part `i`, in the order the parts were added.
    ///
    /// # Panics
    /// If there is no such part: a model reads back the parts its own `draw_noise` added.
    pub fn part(&self, i: usize) -> Tensor<3> {
        self.parts[i].clone()
    }

    /// The number of parts.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether there are no parts.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The noise of the examples `rows` of the batch, on `device`.
    pub fn rows(&self, rows: std::ops::Range<usize>, device: &Device) -> Self {
        Self {
            parts: self
                .parts
                .iter()
                .map(|t| {
                    t.clone()
                        .narrow(1, rows.start, rows.len())
                        .to_device(device)
                })
                .collect(),
        }
    }
}

/// A model the trainer can optimise: its loss on a batch and the noise that loss needs.
/// [`Vae`](crate::Vae) and [`Autoencoder`](crate::Autoencoder) implement it; so can any
/// [`Module`] of a user's (see [`draw_elbo_noise`] and [`elbo_loss_terms`] for a
/// [`LatentVariableModel`]).
pub trait Trainable: Module + Codec + Sync {
    /// The noise a step on `n` examples draws, on `device` (the trainer's main device, whose
    /// random generator it seeds per epoch).
    fn draw_noise(&self, n: usize, objective: &Objective, device: &Device) -> StepNoise;

    /// The loss terms of the batch `x` with the noise `noise` (the batch's rows of what
    /// [`Trainable::draw_noise`] drew).
    fn loss_terms(&self, x: Tensor<2>, noise: StepNoise, objective: &Objective) -> LossTerms;

    /// The same model with its encoder excluded from gradients (training then tunes the rest;
    /// the encoder stays bit for bit).
    fn freeze_encoder(self) -> Self;
}

/// The noise of [`elbo_loss_terms`] for `n` examples: ε of the one-sample ELBO
/// (`[1, n, noise_dim]`), then with k = `objective.iwae_samples` > 1 that of the IWAE bound
/// (`[k, n, noise_dim]`), drawn in that order from the generator of `device`.
pub fn draw_elbo_noise<M: LatentVariableModel>(
    model: &M,
    n: usize,
    objective: &Objective,
    device: &Device,
) -> StepNoise {
    let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
    let dim = model.noise_dim();
    let elbo = Tensor::<2>::random([n, dim], normal, device).unsqueeze_dim::<3>(0);
    let noise = StepNoise::none().with(elbo);
    if objective.iwae_samples > 1 {
        noise.with(Tensor::random(
            [objective.iwae_samples, n, dim],
            normal,
            device,
        ))
    } else {
        noise
    }
}

/// The loss of a [`LatentVariableModel`] under `objective`: the β-weighted negative ELBO (with
/// free bits, Σ_j max(λ, KL_j) in place of the KL), or with k > 1 importance samples the
/// negative IWAE bound, its weights' latent part tempered by β during a warm-up (its
/// reconstruction and KL then describe the one-sample ELBO of the same batch). `noise` is what
/// [`draw_elbo_noise`] drew.
pub fn elbo_loss_terms<M: LatentVariableModel>(
    model: &M,
    x: Tensor<2>,
    noise: StepNoise,
    objective: &Objective,
) -> LossTerms {
    let elbo_noise = noise.part(0).squeeze_dim::<2>(0);
    let terms = model.elbo_terms_with_noise(x.clone(), elbo_noise, objective.kl_weight);
    if objective.iwae_samples > 1 {
        let loss = model
            .tempered_iwae_bound_with_noise(x, noise.part(1), objective.kl_weight)
            .mean()
            .neg();
        LossTerms {
            loss,
            reconstruction: terms.reconstruction.detach(),
            kl: terms.kl.detach(),
        }
    } else if objective.free_bits > 0.0 {
        let floored = terms.kl_per_dim.clamp_min(objective.free_bits).sum();
        LossTerms {
            loss: terms.reconstruction.clone() + floored.mul_scalar(objective.kl_weight),
            reconstruction: terms.reconstruction,
            kl: terms.kl,
        }
    } else {
        LossTerms {
            loss: terms.loss,
            reconstruction: terms.reconstruction,
            kl: terms.kl,
        }
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
