//! A model of a user's own, defined here with the public API only — an encoder with a residual
//! block and a prior with a learned scale, in the library's generic `Vae` with its decoder and
//! likelihood — trains with exact resume and on CPU replicas, loads back through its own
//! constructor, is evaluated with importance sampling, sampled, reconstructed and reported.

mod common;

use std::fmt;
use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{activation, Device, Distribution as Noise, Tensor};
use latent_data::Split;
use latent_distributions::{kl, normal_log_prob_elementwise, Normal};
use latent_models::vae::{Activation, Initializer, MlpDecoder, PixelLikelihood, PosteriorMap};
use latent_models::{Encoder, LatentVariableModel, Prior, Vae};
use latent_train::figures::{reconstructions, test_images};
use latent_train::report::{write_vae_report, ReportConfig};
use latent_train::{
    evaluate, evaluate_on, train_model, EpochMetrics, EvalConfig, ModelKind, NamedDevice, RunDir,
    Start, TrainConfig,
};
use serde::{Deserialize, Serialize};

use common::{device, scratch, serial};

/// x → relu(W₁x) = h, h + relu(W₂h), then the two heads.
#[derive(Module, Debug)]
struct ResidualEncoder {
    input: Linear,
    residual: Linear,
    mean: Linear,
    log_var: Linear,
    #[module(skip)]
    latent: usize,
}

impl Encoder for ResidualEncoder {
    fn encode(&self, x: Tensor<2>) -> Normal {
        let h = activation::relu(self.input.forward(x));
        let h = h.clone() + activation::relu(self.residual.forward(h));
        Normal::new(self.mean.forward(h.clone()), self.log_var.forward(h))
    }

    fn latent_dim(&self) -> usize {
        self.latent
    }
}

/// p(z) = N(0, diag s²) with a learned log s² per dimension (initialised at 0: N(0, I)).
#[derive(Module, Debug)]
struct ScaledNormal {
    log_var: Param<Tensor<1>>,
}

impl ScaledNormal {
    /// The prior's log-variance shaped `[1, …, 1, latent]`.
    fn log_var<const D: usize>(&self) -> Tensor<D> {
        let v = self.log_var.val();
        let mut shape = [1; D];
        shape[D - 1] = v.dims()[0];
        v.reshape(shape)
    }
}

impl Prior for ScaledNormal {
    fn log_prob_elementwise(&self, z: Tensor<3>, _posterior: PosteriorMap) -> Tensor<3> {
        normal_log_prob_elementwise(z.zeros_like(), self.log_var(), z)
    }

    fn sample(&self, n: usize, latent: usize, _: PosteriorMap, device: &Device) -> Tensor<2> {
        let std = self.log_var::<2>().mul_scalar(0.5).exp();
        Tensor::<2>::random([n, latent], Noise::Normal(0.0, 1.0), device) * std
    }

    fn kl_elementwise(&self, q: &Normal, _z: Tensor<2>, _: PosteriorMap) -> Tensor<2> {
        let p = Normal::new(
            q.mean.zeros_like(),
            q.log_var.zeros_like() + self.log_var::<2>(),
        );
        kl::kl_normal_normal_elementwise(q, &p)
    }
}

type ResidualVae = Vae<ResidualEncoder, MlpDecoder, PixelLikelihood, ScaledNormal>;

/// The model's own configuration, as `config.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ResidualConfig {
    hidden: usize,
    latent: usize,
}

impl fmt::Display for ResidualConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "residual encoder {}, latent {}, learned prior scale",
            self.hidden, self.latent
        )
    }
}

/// The constructor the trainer and the loader share.
fn init(config: &ResidualConfig, device: &Device, seed: u64) -> latent_train::Result<ResidualVae> {
    let (h, z) = (config.hidden, config.latent);
    let mut weights = Initializer::new(device, seed);
    let encoder = ResidualEncoder {
        input: weights.linear(784, h),
        residual: weights.linear(h, h),
        mean: weights.linear(h, z),
        log_var: weights.linear(h, z),
        latent: z,
    };
    let decoder = MlpDecoder::new(z, &[h], 784, Activation::Relu, &mut weights);
    let prior = ScaledNormal {
        log_var: Param::from_tensor(Tensor::zeros([z], device)),
    };
    Ok(Vae::new(
        encoder,
        decoder,
        PixelLikelihood::bernoulli(),
        prior,
    ))
}

fn config(epochs: usize) -> TrainConfig<ResidualConfig> {
    let mut config = TrainConfig::with_model(
        ModelKind::Vae,
        ResidualConfig {
            hidden: 64,
            latent: 4,
        },
        latent_data::default_mnist_dir(),
    );
    config.epochs = epochs;
    config.batch_size = 64;
    config.train_limit = Some(640);
    config.test_limit = Some(200);
    config.seed = 3;
    config
}

fn train_into(
    config: &TrainConfig<ResidualConfig>,
    dir: &Path,
    devices: &[NamedDevice],
    start: Start,
) -> Vec<EpochMetrics> {
    train_model(config, dir, devices, start, init, |_| {}).unwrap()
}

fn close(a: &[EpochMetrics], b: &[EpochMetrics]) {
    common::assert_same_epochs(a, b, "the two runs");
}

#[test]
fn a_model_of_ones_own_trains_resumes_and_runs_on_replicas() {
    let _serial = serial();
    let one = [NamedDevice::new("ndarray", device())];
    let straight = scratch("straight");
    let got = train_into(&config(3), &straight, &one, Start::Fresh);
    assert!(got[2].test_neg_elbo < got[0].test_neg_elbo - 5.0, "{got:?}");
    // The learned prior moved: its scale is a parameter like any other.
    let (saved, vae) = RunDir::new(&straight)
        .load_trained(&device(), init)
        .unwrap();
    assert_eq!(saved.model, config(3).model);
    let scale: Vec<f32> = vae.prior.log_var.val().try_into_vec_as().unwrap();
    assert!(scale.iter().any(|v| v.abs() > 1e-3), "{scale:?}");

    // Interrupted after one epoch and resumed: the same three epochs.
    let resumed = scratch("resumed");
    train_into(&config(1), &resumed, &one, Start::Fresh);
    let rest = train_into(&config(3), &resumed, &one, Start::Resume);
    assert_eq!(rest.len(), 2);
    let all = RunDir::new(&resumed).read_metrics().unwrap();
    close(&got, &all);

    // Two single-threaded CPU replicas train it as one device does.
    let replica = NamedDevice {
        threads: Some(1),
        ..NamedDevice::new("ndarray", device())
    };
    let parallel = scratch("replicas");
    let on_two = train_into(
        &config(3),
        &parallel,
        &[replica.clone(), replica],
        Start::Fresh,
    );
    close(&got, &on_two);
    for dir in [straight, resumed, parallel] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_model_of_ones_own_is_evaluated_sampled_and_reported() {
    let _serial = serial();
    let dir = scratch("report");
    train_into(
        &config(2),
        &dir,
        &[NamedDevice::new("ndarray", device())],
        Start::Fresh,
    );
    let run = RunDir::new(&dir);
    let device = device();
    let (config, vae) = run.load_trained(&device, init).unwrap();
    let test = config.load_split(Split::Test, Some(100)).unwrap();
    let settings = EvalConfig::with_samples(50);
    let report = evaluate(&vae, &test, &settings, &device).unwrap();
    // −log p(x) ≤ −ELBO, and the KL is the learned prior's, closed form.
    assert!(report.nll < -report.elbo, "{report:?}");
    assert!((report.kl_per_dim.iter().sum::<f64>() - report.kl).abs() < 1e-3);
    let worker = NamedDevice {
        threads: Some(1),
        ..NamedDevice::new("ndarray", device.clone())
    };
    let shared = evaluate_on(&vae, &test, &settings, &[worker.clone(), worker]).unwrap();
    assert!((shared.nll - report.nll).abs() <= 1e-5 * report.nll.abs());

    let samples = vae.decode_mean(vae.sample_prior(16, &device));
    assert_eq!(samples.dims(), [16, 784]);
    let pictures =
        reconstructions(&vae, test_images(&config, &[0, 1, 2], &device).unwrap()).unwrap();
    assert_eq!(pictures.len(), 2 * 3 * 784);
    assert!(pictures.iter().all(|v| (0.0..=1.0).contains(v)));

    let page = write_vae_report(
        &run,
        &config,
        &vae,
        &ReportConfig {
            limit: 100,
            iw_samples: 10,
            ..ReportConfig::default()
        },
        &[NamedDevice::new("ndarray", device.clone())],
        |_| {},
    )
    .unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    assert!(
        html.contains("residual encoder 64"),
        "the model's own description"
    );
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 8);
    std::fs::remove_dir_all(&dir).unwrap();
}
