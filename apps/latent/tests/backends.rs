//! One model, every compiled-in backend (ndarray and flex by default; wgpu too when built with
//! `--features wgpu`, cuda with `--features cuda` and LATENT_TEST_CUDA=1): the same seed gives
//! the same initial weights bit for bit, and the same weights and inputs give the same
//! posterior, decoder output, ELBO terms, gradients and Adam step, and the same EM iteration of
//! a GMM, within a stated tolerance.
//!
//! Tolerance: |a − b| ≤ 1e-4 · max(|a|, |b|) + 1e-6 · max|reference tensor| — single precision
//! summed in different orders, never widened to make a backend pass.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use latent_data::Points;
use latent_models::{Architecture, GmmConfig, Likelihood, VaeConfig};

const REL: f64 = 1e-4;
const ABS: f64 = 1e-6;

#[allow(clippy::vec_init_then_push)] // which pushes happen depends on the features
fn devices() -> Vec<(&'static str, Device)> {
    #[allow(unused_mut)]
    let mut all: Vec<(&'static str, Device)> = Vec::new();
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    all.push(("ndarray", Device::ndarray()));
    #[cfg(feature = "flex")]
    all.push(("flex", Device::flex()));
    #[cfg(feature = "wgpu")]
    all.push((
        "wgpu",
        Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
    ));
    // CUDA only where asked for (scripts/bench/gpu_check.sh sets LATENT_TEST_CUDA=1): a build
    // with the feature on a machine without an NVIDIA driver still tests its other backends.
    #[cfg(feature = "cuda")]
    if std::env::var("LATENT_TEST_CUDA").is_ok_and(|v| v == "1") {
        all.push(("cuda", Device::cuda(0)));
    }
    assert!(
        all.len() >= 2,
        "the cross-backend tests need two backends (default features: ndarray and flex)"
    );
    all
}

/// Every float parameter's values, in visiting order.
struct Collect(Vec<f32>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.extend(values(param.val()));
    }
}

fn weights<M: Module>(model: &M) -> Vec<f32> {
    let mut collect = Collect(Vec::new());
    model.visit(&mut collect);
    collect.0
}

/// The gradient of every float parameter (zeros where it has none), in visiting order.
struct CollectGrads<'a>(&'a GradientsParams, Vec<f32>);

impl ModuleVisitor for CollectGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match self.0.get::<D>(param.id) {
            Some(grad) => self.1.extend(values(grad)),
            None => self.1.extend(vec![0.0; param.val().shape().num_elements()]),
        }
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().expect("values read back")
}

fn close(what: &str, backend: &str, reference: &[f32], other: &[f32]) {
    assert_eq!(reference.len(), other.len(), "{what} on {backend}: sizes");
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    for (i, (a, b)) in reference.iter().zip(other).enumerate() {
        let (a, b) = (*a as f64, *b as f64);
        let allowed = REL * a.abs().max(b.abs()) + ABS * scale;
        assert!(
            (a - b).abs() <= allowed,
            "{what} on {backend}, element {i}: {b} against {a} (allowed ±{allowed:e})"
        );
    }
}

/// Deterministic host data: binary pixels and standard-normal-like noise.
fn batch(n: usize, d: usize) -> Vec<f32> {
    (0..n * d)
        .map(|i| {
            if (i * 7 + i / d * 3) % 5 < 2 {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

fn noise(n: usize, d: usize) -> Vec<f32> {
    (0..n * d)
        .map(|i| ((i as f32 * 1.618).sin() * 1.7).clamp(-2.5, 2.5))
        .collect()
}

fn tensor(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn configs() -> Vec<(&'static str, VaeConfig)> {
    vec![
        (
            "MLP VAE, Bernoulli",
            VaeConfig {
                hidden: vec![32, 16],
                latent: 4,
                ..VaeConfig::default()
            },
        ),
        (
            "conv VAE, learned Gaussian variance",
            VaeConfig {
                hidden: vec![16],
                latent: 3,
                likelihood: Likelihood::GaussianLearned,
                architecture: Architecture::Conv,
                ..VaeConfig::default()
            },
        ),
    ]
}

#[test]
fn the_same_seed_gives_the_same_weights_bit_for_bit_on_every_backend() {
    let devices = devices();
    for (name, config) in configs() {
        let bits = |device: &Device, seed| -> Vec<u32> {
            let vae = config.init_vae(device, seed).unwrap();
            weights(&vae).iter().map(|v| v.to_bits()).collect()
        };
        let reference = bits(&devices[0].1, 11);
        for (backend, device) in &devices[1..] {
            assert_eq!(reference, bits(device, 11), "{name} on {backend}");
        }
        assert_ne!(reference, bits(&devices[0].1, 12), "{name}: seeds differ");
        // Through the autodiff device too (training builds the model there).
        let ad = devices[1].1.clone().autodiff();
        assert_eq!(reference, bits(&ad, 11), "{name} on autodiff");
    }
    let ae = |device: &Device| weights(&VaeConfig::default().init_autoencoder(device, 3).unwrap());
    for (backend, device) in &devices[1..] {
        assert_eq!(ae(&devices[0].1), ae(device), "autoencoder on {backend}");
    }
}

#[test]
fn the_same_weights_and_inputs_give_the_same_elbo_gradients_and_adam_step() {
    let n = 6;
    for (name, config) in configs() {
        let mut reference: Option<Vec<Vec<f32>>> = None;
        for (backend, device) in devices() {
            let ad = device.autodiff();
            let vae = config.init_vae(&ad, 5).unwrap();
            let x = tensor(batch(n, 784), [n, 784], &ad);
            let eps = tensor(noise(n, config.latent), [n, config.latent], &ad);
            let q = vae.posterior(x.clone());
            let output = vae.decode(q.mean.clone());
            let terms = vae.elbo_terms_with_noise(x, eps, 1.0);
            let scalars = vec![
                values(terms.loss.clone())[0],
                values(terms.reconstruction.clone())[0],
                values(terms.kl.clone())[0],
            ];
            let grads = GradientsParams::from_grads(terms.loss.backward(), &vae);
            let mut collect = CollectGrads(&grads, Vec::new());
            vae.visit(&mut collect);
            let gradients = collect.1;
            let mut optim = AdamConfig::new().init();
            let stepped = optim.step(1e-3, vae.clone(), grads);
            let figures = vec![
                values(q.mean),
                values(q.log_var),
                values(output),
                scalars,
                gradients,
                weights(&stepped),
            ];
            match &reference {
                None => {
                    // Something to compare: gradients that are not all zero, and a step that
                    // moved the weights.
                    assert!(
                        figures[4].iter().filter(|g| **g != 0.0).count() > 100,
                        "{name}"
                    );
                    assert_ne!(figures[5], weights(&vae), "{name}");
                    reference = Some(figures);
                }
                Some(expected) => {
                    let names = [
                        "posterior mean",
                        "posterior log-variance",
                        "decoder output",
                        "ELBO terms",
                        "gradients",
                        "weights after one Adam step",
                    ];
                    for ((what, a), b) in names.iter().zip(expected).zip(&figures) {
                        close(&format!("{name}: {what}"), backend, a, b);
                    }
                }
            }
        }
    }
}

#[test]
fn the_autoencoder_loss_and_one_em_iteration_agree_across_backends() {
    let n = 8;
    let config = VaeConfig {
        hidden: vec![24],
        latent: 2,
        likelihood: Likelihood::Gaussian { log_var: 0.0 },
        ..VaeConfig::default()
    };
    // 300 points of three 2-D blobs, made on the host.
    let points: Vec<f64> = (0..300)
        .flat_map(|i| {
            let t = i as f64;
            let centre = [(0.0, 0.0), (5.0, 1.0), (1.0, 6.0)][i % 3];
            [centre.0 + (t * 0.37).sin(), centre.1 + (t * 0.91).cos()]
        })
        .collect();
    let mut reference: Option<Vec<Vec<f32>>> = None;
    for (backend, device) in devices() {
        let ad = device.clone().autodiff();
        let ae = config.init_autoencoder(&ad, 9).unwrap();
        let x = tensor(batch(n, 784), [n, 784], &ad);
        let loss = ae.loss(x);
        let grads = GradientsParams::from_grads(loss.clone().backward(), &ae);
        let mut collect = CollectGrads(&grads, Vec::new());
        ae.visit(&mut collect);

        let data = Points::new(300, 2, points.clone())
            .unwrap()
            .to_tensor(&device);
        let gmm = GmmConfig::new(3)
            .with_max_iter(1)
            .with_seed(4)
            .fit(&data)
            .unwrap();
        let mut mixture: Vec<f32> = gmm.weights.iter().map(|v| *v as f32).collect();
        mixture.extend(gmm.means.iter().flatten().map(|v| *v as f32));
        mixture.extend(gmm.covariances.iter().map(|v| *v as f32));
        mixture.push(gmm.fit.as_ref().unwrap().lower_bound as f32);
        let figures = vec![values(loss), collect.1, mixture];
        match &reference {
            None => reference = Some(figures),
            Some(expected) => {
                for ((what, a), b) in [
                    "autoencoder loss",
                    "autoencoder gradients",
                    "GMM after one EM iteration",
                ]
                .iter()
                .zip(expected)
                .zip(&figures)
                {
                    close(what, backend, a, b);
                }
            }
        }
    }
}
