//! The linear probe: multinomial logistic regression on latent codes, a measure of how much
//! of the labels a representation carries linearly.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{activation, Device, Int, Tensor, TensorData};
use latent_data::mnist::CLASSES;
use latent_data::Split;
use latent_models::Codec;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::Result;
use crate::figures::{class_labels, first_of_split, labelled_images};

/// Full-batch Adam steps of a probe, unless told otherwise.
pub const PROBE_STEPS: usize = 300;

/// The probe's Adam learning rate.
const PROBE_LR: f64 = 1e-2;

/// Added to the features' standard deviations before dividing by them.
const STD_FLOOR: f64 = 1e-6;

/// Accuracy of the probe on the data it was trained on and on held-out data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Fraction right on the training features.
    pub train_accuracy: f64,
    /// Fraction right on the held-out features.
    pub test_accuracy: f64,
    /// Adam steps taken.
    pub steps: usize,
}

/// A fitted softmax regression on standardised features.
#[derive(Debug)]
pub struct LinearProbe {
    layer: Linear,
    mean: Tensor<2>,
    std: Tensor<2>,
    /// Fraction right on the training features.
    pub train_accuracy: f64,
    /// Adam steps taken.
    pub steps: usize,
}

impl LinearProbe {
    /// Trains softmax regression on `train` features (`[n, d]`, standardised with the training
    /// mean and deviation) to predict `train_labels` (0..classes) by full-batch Adam.
    pub fn fit(train: Tensor<2>, train_labels: &[usize], classes: usize, steps: usize) -> Self {
        let device = train.device().without_autodiff();
        let mean = train.clone().mean_dim(0);
        let std = train.clone().var(0).sqrt().add_scalar(STD_FLOOR);
        let standardised = (train.clone() - mean.clone()) / std.clone();
        let ad = device.clone().autodiff();
        ad.seed(0);
        let mut layer: Linear = LinearConfig::new(train.dims()[1], classes).init(&ad);
        let mut optim = AdamConfig::new().init();
        let x = standardised.to_device(&ad);
        let y = labels(train_labels, &ad);
        for _ in 0..steps {
            let log_probs = activation::log_softmax(layer.forward(x.clone()), 1);
            let loss = log_probs.gather(1, y.clone().unsqueeze_dim(1)).mean().neg();
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = optim.step(PROBE_LR, layer, grads);
        }
        let mut probe = Self {
            layer: layer.valid(),
            mean,
            std,
            train_accuracy: 0.0,
            steps,
        };
        probe.train_accuracy = probe.accuracy(train, train_labels);
        probe
    }

    /// The fraction of `x`'s rows whose most probable class is `truth`.
    pub fn accuracy(&self, x: Tensor<2>, truth: &[usize]) -> f64 {
        let x = (x - self.mean.clone()) / self.std.clone();
        let predicted: Vec<i64> = self
            .layer
            .forward(x)
            .argmax(1)
            .try_into_vec_as::<i64>()
            .unwrap_or_default();
        let right = predicted
            .iter()
            .zip(truth)
            .filter(|(p, t)| **p as usize == **t)
            .count();
        right as f64 / truth.len().max(1) as f64
    }
}

/// Trains the probe on `train` and scores it there and on `test`.
pub fn linear_probe(
    train: Tensor<2>,
    train_labels: &[usize],
    test: Tensor<2>,
    test_labels: &[usize],
    classes: usize,
    steps: usize,
) -> ProbeReport {
    let probe = LinearProbe::fit(train, train_labels, classes, steps);
    ProbeReport {
        train_accuracy: probe.train_accuracy,
        test_accuracy: probe.accuracy(test, test_labels),
        steps,
    }
}

/// A probe on a run's codes, and the same on raw pixels when asked for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CodeProbe {
    /// Softmax regression on the codes.
    pub latent: ProbeReport,
    /// The same on the raw pixels, for comparison.
    pub pixels: Option<ProbeReport>,
    /// Training images the probes saw.
    pub train_images: usize,
}

/// Trains the linear probe on the codes by `model` of the first `train_limit` training images
/// of the run's data (all when `None`), scores it on every test image, and with `pixels` does
/// the same on the raw pixels.
pub fn probe_codes<C, M: Codec>(
    model: &M,
    config: &TrainConfig<C>,
    train_limit: Option<usize>,
    steps: usize,
    pixels: bool,
    device: &Device,
) -> Result<CodeProbe> {
    let unlabelled = || {
        crate::error::invalid(
            "data",
            format!(
                "{} has no labels, and a probe learns to predict them (give labels=FILE, or a \
                 folder with one sub-folder per class)",
                config.data
            ),
        )
    };
    let (train_x, train_y) = labelled_images(config, Split::Train, train_limit, device)?;
    let train_y = train_y.ok_or_else(unlabelled)?;
    if train_y.is_empty() {
        return Err(crate::error::invalid(
            "limit",
            "no training images to fit the probe on",
        ));
    }
    let (test_x, test_y) = labelled_images(config, Split::Test, None, device)?;
    let test_y = test_y.ok_or_else(unlabelled)?;
    let classes = train_y
        .iter()
        .chain(&test_y)
        .max()
        .map_or(CLASSES, |m| (m + 1).max(CLASSES));
    let (train_z, test_z) = (model.encode(train_x.clone()), model.encode(test_x.clone()));
    let latent = linear_probe(train_z, &train_y, test_z, &test_y, classes, steps);
    let pixels = pixels.then(|| linear_probe(train_x, &train_y, test_x, &test_y, classes, steps));
    Ok(CodeProbe {
        latent,
        pixels,
        train_images: train_y.len(),
    })
}

/// Examples encoded at a time by [`split_codes`]: bounds the memory of encoding a large set.
const ENCODE_CHUNK: usize = 10_000;

/// The codes of a split of a run's data, as [`split_codes`] returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitCodes {
    /// The codes, `rows × dim` values, row after row in the data's order.
    pub values: Vec<f32>,
    /// The examples encoded.
    pub rows: usize,
    /// The dimension of a code.
    pub dim: usize,
    /// The examples' labels, where the data have them.
    pub labels: Option<Vec<usize>>,
}

/// The codes by `model` — a VAE's posterior means E_q[z | x], an autoencoder's codes — of the
/// first `at_most` examples of the run's `split` (all when `None`), as the model sees them
/// (grey levels, standardised as the run was), with their labels. These are the features of
/// M1+M2 (a semi-supervised VAE trained on a VAE's codes) or of any other model on top.
pub fn split_codes<C, M: Codec>(
    model: &M,
    config: &TrainConfig<C>,
    split: Split,
    at_most: Option<usize>,
    device: &Device,
) -> Result<SplitCodes> {
    let data = first_of_split(config, split, at_most)?;
    let inputs = config.inputs().plain();
    let dim = model.latent_dim();
    let mut values = Vec::with_capacity(data.len() * dim);
    for start in (0..data.len()).step_by(ENCODE_CHUNK) {
        let end = (start + ENCODE_CHUNK).min(data.len());
        let x = inputs.images(&data, start..end, device);
        values.extend(crate::values(model.encode(x))?);
    }
    Ok(SplitCodes {
        rows: data.len(),
        dim,
        values,
        labels: class_labels(&data),
    })
}

fn labels(values: &[usize], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = values.iter().map(|v| *v as i64).collect();
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution as Noise;

    #[allow(deprecated)] // ndarray is the project's default CPU backend.
    fn device() -> Device {
        Device::ndarray()
    }

    /// Three classes separated along the first feature; the second is noise.
    fn blobs(n: usize, device: &Device) -> (Tensor<2>, Vec<usize>) {
        let y: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let noise = Tensor::<2>::random([n, 2], Noise::Normal(0.0, 0.3), device);
        let centres: Vec<f32> = y
            .iter()
            .flat_map(|c| [*c as f32 * 3.0 + 100.0, 0.0])
            .collect();
        (
            noise + Tensor::from_data(TensorData::new(centres, [n, 2]), device),
            y,
        )
    }

    #[test]
    fn separable_classes_are_learned_and_noise_is_not() {
        let device = device();
        device.seed(1);
        let (train, y) = blobs(300, &device);
        let (test, y_test) = blobs(150, &device);
        let report = linear_probe(train.clone(), &y, test.clone(), &y_test, 3, 200);
        assert!(report.test_accuracy > 0.97, "{report:?}");
        // Permuted training labels (0→0, 1→2, 2→1): the probe learns the permutation, so
        // against the true held-out labels it is right on class 0 only (≈ 1/3).
        let shuffled: Vec<usize> = y.iter().map(|v| (v * 7 + 1) % 3).rev().collect();
        let chance = linear_probe(train, &shuffled, test, &y_test, 3, 200);
        assert!(chance.test_accuracy < 0.6, "{chance:?}");
    }
}
