//! Training, evaluation and reporting of latent-variable models — the built-in VAE and
//! autoencoder or any model of a user's that implements [`Trainable`](latent_models::Trainable) — on MNIST and its
//! domain shifts, on one device, CPU replicas, several local devices or remote compute
//! servers.
//!
//! - [`trainer`]: the epochs ([`train_on`] for the built-in networks, [`train_model`] for any
//!   `Trainable` model with its constructor); Adam with per-epoch learning-rate decay, KL
//!   warm-up, β, the IWAE objective; exact resume and warm start;
//! - [`run_dir`]: the run directory ([`RunDir`] alone reads and writes its files);
//! - [`evaluate`](mod@evaluate): the ELBO, the importance-sampled −log p(x), KL per dimension and active
//!   units of any [`LatentVariableModel`](latent_models::LatentVariableModel);
//! - [`figures`] and [`report`]: reconstructions, interpolations, samples, the manifold and the
//!   HTML report; [`probe`]: linear probes on codes; [`transfer`]: transfer studies;
//! - [`devices`]: named devices and CPU replicas.
//!
//! Training a small built-in VAE for one epoch on 512 digits, then evaluating it:
//!
//! ```
//! use latent_train::{evaluate, load_vae, train, EvalConfig, ModelKind, TrainConfig};
//! use latent_data::Split;
//!
//! # #[allow(deprecated)]
//! let device = burn::tensor::Device::ndarray();
//! let mut config = TrainConfig::new(ModelKind::Vae, latent_data::default_mnist_dir());
//! config.model.hidden = vec![32];
//! config.model.latent = 4;
//! config.epochs = 1;
//! config.train_limit = Some(512);
//! config.test_limit = Some(100);
//! let run = std::env::temp_dir().join(format!("latent-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&run);
//! let metrics = train(&config, &run, &device, false, None, |_| {})?;
//! assert!(metrics[0].test_neg_elbo < 543.0); // p = ½ for every pixel would be 543 nats
//!
//! let (config, vae) = load_vae(&run, &device)?;
//! let test = config.load_split(Split::Test, Some(50))?;
//! let report = evaluate(&vae, &test, &EvalConfig::with_samples(20), &device)?;
//! assert!(report.nll <= -report.elbo + 1e-3); // −log p(x) ≤ −ELBO
//! # std::fs::remove_dir_all(&run).unwrap();
//! # Ok::<(), latent_train::TrainError>(())
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod devices;
mod epochs;
mod error;
pub mod evaluate;
pub mod export;
pub mod figures;
pub mod gmm_plot;
mod grouped;
mod host_adam;
mod load;
pub mod probe;
mod readback;
pub mod report;
pub mod run_dir;
pub mod trainer;
pub mod transfer;

pub use config::{
    Execution, Inputs, ModelKind, OptimizerConfig, Strategy, TrainConfig, DEFAULT_TEST_FRACTION,
    RESUMABLE_SETTINGS,
};
pub use devices::{cpu_replicas, device_check, shard_ranges, NamedDevice, ReplicaCount};
pub use error::{Result, TrainError};
pub use evaluate::{
    evaluate, evaluate_inputs_on, evaluate_on, EvalConfig, EvalReport, ACTIVE_UNIT_THRESHOLD,
    DEFAULT_IW_CHUNK,
};
pub use export::{export_safetensors, import_safetensors};
pub use load::{load_run, load_vae, load_variational, TrainedModel};
pub use probe::{
    linear_probe, probe_codes, split_codes, CodeProbe, LinearProbe, ProbeReport, SplitCodes,
};
pub use readback::{scalar, values, values_f64};
pub use run_dir::{EpochMetrics, RunDir, RunLock};
pub use trainer::{train, train_model, train_on, Start, TrainEvent, TrainProgress};
