//! Test-set evaluation: the per-epoch test figures of training, and the full evaluation of a
//! latent-variable model — ELBO, importance-sampled −log p(x), KL per dimension and active
//! units — on one device or shared among several.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use latent_data::Examples;
use latent_models::model::{combine_log_weight_sums, sample_chunks, Objective};
use latent_models::{LatentVariableModel, Trainable};
use serde::{Deserialize, Serialize};

use crate::config::Inputs;
use crate::devices::{failed_device, spread, NamedDevice, Replica};
use crate::error::{invalid, Result, TrainError};
use crate::readback::{scalar, values_f64};

/// Importance samples drawn at once per image when estimating log p(x): with 100 images per
/// batch, 100 samples make 10,000 decoder rows — measured faster than 500 (k = 5000: 7.0 s
/// against 7.9 s for 100 digits) with a quarter of the memory (164 against 645 MiB).
pub const DEFAULT_IW_CHUNK: usize = 100;

/// Test images per evaluation batch.
pub const EVAL_BATCH: usize = 100;

/// Importance samples per image of the standard likelihood evaluation (Burda et al.).
pub const DEFAULT_IW_SAMPLES: usize = 5000;

/// A latent unit is active when its posterior mean varies across the data by more than this
/// (Burda et al.'s criterion, Var_x E_q\[z_u\] > 0.01).
pub const ACTIVE_UNIT_THRESHOLD: f64 = 0.01;

/// How to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalConfig {
    /// Importance samples k per image for −log p(x).
    pub iw_samples: usize,
    /// Samples drawn at once per image (bounds memory: `batch_size` × `chunk` decoder rows).
    pub chunk: usize,
    /// Test images per batch.
    pub batch_size: usize,
}

impl Default for EvalConfig {
    /// k = 5000, drawn [`DEFAULT_IW_CHUNK`] at a time, [`EVAL_BATCH`] images a batch.
    fn default() -> Self {
        Self::with_samples(DEFAULT_IW_SAMPLES)
    }
}

impl EvalConfig {
    /// `iw_samples` importance samples per image, the rest by default.
    pub fn with_samples(iw_samples: usize) -> Self {
        Self {
            iw_samples,
            chunk: DEFAULT_IW_CHUNK,
            batch_size: EVAL_BATCH,
        }
    }

    /// Checks that every count is at least 1.
    pub fn check(&self) -> Result<()> {
        for (field, value) in [
            ("iw_samples", self.iw_samples),
            ("chunk", self.chunk),
            ("batch_size", self.batch_size),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// Test-set evaluation of a latent-variable model, per image in nats.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    /// The ELBO (one reparameterised sample per image, closed-form KL where there is one).
    pub elbo: f64,
    /// −log p(x), importance-sampled with `iw_samples` samples per image.
    pub nll: f64,
    /// KL(q(z | x) ‖ p(z)).
    pub kl: f64,
    /// −E_q[log p(x | z)].
    pub recon: f64,
    /// Latent dimensions with Var_x(E_q\[z_u\]) > [`ACTIVE_UNIT_THRESHOLD`].
    pub active_units: usize,
    /// Var_x(E_q\[z_u\]) per latent dimension: each unit's activity (of every stochastic
    /// layer, the bottom one first).
    #[serde(default)]
    pub activity: Vec<f64>,
    /// Active units of each stochastic layer, the bottom one first (they sum to
    /// `active_units`).
    #[serde(default)]
    pub layer_active_units: Vec<usize>,
    /// The KL per latent dimension (of every layer, the bottom one first; a mixture prior's
    /// Monte-Carlo KL is spread evenly over its dimensions).
    pub kl_per_dim: Vec<f64>,
    /// The fraction of test examples whose label the model's classifier q(y | x) gets wrong
    /// (a model with a classifier, on labelled data; otherwise none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification_error: Option<f64>,
    /// Importance samples per image.
    pub iw_samples: usize,
    /// Test images evaluated.
    pub images: usize,
}

/// The test figures of one epoch, per image.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TestFigures {
    pub(crate) loss: f64,
    pub(crate) reconstruction: f64,
    pub(crate) kl: f64,
}

/// The ELBO's terms over the test set (whatever the training objective), per image.
pub(crate) fn test_terms<M: Trainable>(
    model: &M,
    test_set: &Examples,
    inputs: &Inputs,
    batch_size: usize,
    device: &Device,
) -> Result<TestFigures> {
    device.seed(0);
    let batcher = inputs.test(model.binary_data());
    let (mut l, mut r, mut k, mut n) = (0.0, 0.0, 0.0, 0usize);
    for start in (0..test_set.len()).step_by(batch_size) {
        let end = (start + batch_size).min(test_set.len());
        let x = batcher.images(test_set, start..end, device);
        let noise = model.draw_noise(end - start, &Objective::ELBO, device);
        let terms = model.loss_terms(x, noise, &Objective::ELBO);
        let m = (end - start) as f64;
        l += scalar(terms.loss)? * m;
        r += scalar(terms.reconstruction)? * m;
        k += scalar(terms.kl)? * m;
        n += end - start;
    }
    let n = n as f64;
    Ok(TestFigures {
        loss: l / n,
        reconstruction: r / n,
        kl: k / n,
    })
}

/// Evaluates `model` on `test_set` (binarised with a fixed seed for a binary likelihood):
/// ELBO, importance-sampled −log p(x), KL per dimension and active units.
pub fn evaluate<M>(
    model: &M,
    test_set: &Examples,
    config: &EvalConfig,
    device: &Device,
) -> Result<EvalReport>
where
    M: LatentVariableModel + Module + Sync,
{
    evaluate_on(model, test_set, config, &[NamedDevice::unnamed(device)])
}

/// [`evaluate`] with the importance sampling shared among `devices` (the first is the main
/// one, on which `model` lives): each takes a slice of every batch's images, side by side (in
/// its own thread pool for CPU replicas, else in a thread of its own). The main device draws
/// all the noise, so the report is the same for any number of devices, up to the order of
/// float sums.
pub fn evaluate_on<M>(
    model: &M,
    test_set: &Examples,
    config: &EvalConfig,
    devices: &[NamedDevice],
) -> Result<EvalReport>
where
    M: LatentVariableModel + Module + Sync,
{
    evaluate_inputs_on(model, test_set, &Inputs::default(), config, devices)
}

/// [`evaluate_on`] with a run's own inputs (its binarisation and standardisation, see
/// [`TrainConfig::inputs`](crate::TrainConfig::inputs)). The ELBO and −log p(x) are of the data
/// as given: the standardisation's log-Jacobian is added back.
pub fn evaluate_inputs_on<M>(
    model: &M,
    test_set: &Examples,
    inputs: &Inputs,
    config: &EvalConfig,
    devices: &[NamedDevice],
) -> Result<EvalReport>
where
    M: LatentVariableModel + Module + Sync,
{
    config.check()?;
    if test_set.is_empty() {
        return Err(invalid("test images", "none to evaluate"));
    }
    if model.classes() != inputs.labels.map(|l| l.classes) {
        return Err(invalid(
            "inputs",
            match model.classes() {
                Some(c) => format!(
                    "the model takes {c} label columns: evaluate it with its run's inputs \
                     (TrainConfig::inputs)"
                ),
                None => "the inputs carry labels, which the model does not take".into(),
            },
        ));
    }
    let workers = Replica::all(devices, false)?;
    let copies: Vec<M> = workers
        .iter()
        .map(|w| model.clone().to_device(&w.device))
        .collect();
    let device = &workers[0].device;
    let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
    let (k, noise_dim) = (config.iw_samples, model.noise_dim());
    device.seed(0);
    let batcher = inputs.test(model.binary_data());
    let n = test_set.len();
    let (mut elbo, mut nll, mut kl, mut recon) = (0.0, 0.0, 0.0, 0.0);
    let mut kl_per_dim: Vec<f64> = Vec::new();
    let labels = test_set.labels();
    let mut wrong: Option<usize> = None;
    // Each layer's posterior means, example after example.
    let mut means: Vec<(usize, Vec<f64>)> = Vec::new();
    for start in (0..n).step_by(config.batch_size) {
        let end = (start + config.batch_size).min(n);
        let rows = end - start;
        let m = rows as f64;
        let x = batcher.images(test_set, start..end, device);
        let noise = Tensor::<2>::random([rows, noise_dim], normal, device);
        let terms = model.elbo_terms_with_noise(x.clone(), noise, 1.0);
        elbo -= scalar(terms.loss)? * m;
        kl += scalar(terms.kl)? * m;
        recon += scalar(terms.reconstruction)? * m;
        let batch_kl = values_f64(terms.kl_per_dim)?;
        kl_per_dim.resize(batch_kl.len(), 0.0);
        for (acc, v) in kl_per_dim.iter_mut().zip(batch_kl) {
            *acc += v * m;
        }
        if let (Some(labels), Some(log_q)) = (labels, model.class_log_probs(x.clone())) {
            let guesses = log_q
                .argmax(1)
                .into_data()
                .convert::<i64>()
                .try_into_vec::<i64>()
                .map_err(|e| invalid("classifier", format!("{e:?}")))?;
            let missed = guesses
                .iter()
                .zip(&labels[start..end])
                .filter(|(g, l)| **g != i64::from(**l))
                .count();
            *wrong.get_or_insert(0) += missed;
        }
        let codes = model.layer_codes(x.clone());
        means.resize_with(codes.len(), || (0, Vec::new()));
        for (layer, code) in means.iter_mut().zip(codes) {
            layer.0 = code.dims()[1];
            layer.1.extend(values_f64(code)?);
        }
        // Each chunk's noise is drawn here and split by images among the workers.
        let mut partial = Vec::new();
        for samples in sample_chunks(k, config.chunk) {
            let noise = Tensor::<3>::random([samples, rows, noise_dim], normal, device);
            let parts = spread(&workers, rows, |i, slice| {
                let here = &workers[i].device;
                let x = x.clone().narrow(0, slice.start, slice.len());
                let noise = noise.clone().narrow(1, slice.start, slice.len());
                copies[i]
                    .log_weight_sum_with_noise(x.to_device(here), noise.to_device(here))
                    .to_device(device)
            })
            .map_err(|problem| TrainError::Evaluation {
                device: failed_device(devices),
                problem,
            })?;
            partial.push(Tensor::cat(parts, 1));
        }
        nll -= scalar(combine_log_weight_sums(partial, k).sum())?;
    }
    let layers: Vec<Vec<f64>> = means
        .iter()
        .map(|(latent, values)| unit_activity(values, *latent))
        .collect();
    let layer_active_units: Vec<usize> = layers
        .iter()
        .map(|a| a.iter().filter(|a| **a > ACTIVE_UNIT_THRESHOLD).count())
        .collect();
    let active_units = layer_active_units.iter().sum();
    let activity = layers.concat();
    let nf = n as f64;
    // log p(x) = log p(x′) + log |det J| for standardised values x′ = (x − m)/s.
    let jacobian = inputs.log_jacobian();
    Ok(EvalReport {
        elbo: elbo / nf + jacobian,
        nll: nll / nf - jacobian,
        kl: kl / nf,
        recon: recon / nf,
        active_units,
        activity,
        layer_active_units,
        classification_error: wrong.map(|w| w as f64 / nf),
        kl_per_dim: kl_per_dim.into_iter().map(|v| v / nf).collect(),
        iw_samples: k,
        images: n,
    })
}

/// Var_x of each of the `latent` columns of `means` (row after row).
fn unit_activity(means: &[f64], latent: usize) -> Vec<f64> {
    (0..latent)
        .map(|u| {
            let column: Vec<f64> = means.iter().skip(u).step_by(latent).copied().collect();
            let mean = column.iter().sum::<f64>() / column.len() as f64;
            column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / column.len() as f64
        })
        .collect()
}
