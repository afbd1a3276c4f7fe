//! The VAE's bounds and losses, statistically and by training a tiny model.

use std::path::PathBuf;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution as Noise, Tensor, TensorData};
use latent_data::{Mnist, MnistBatcher, Split};
use latent_distributions::{kl, Distribution};
use latent_models::{Likelihood, Vae, VaeConfig};

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

fn small(likelihood: Likelihood, device: &Device) -> Vae {
    VaeConfig {
        input_dim: 20,
        hidden: vec![16],
        latent: 4,
        likelihood,
        ..VaeConfig::default()
    }
    .init_vae(device, 0)
    .unwrap()
}

fn binary_batch(n: usize, d: usize, device: &Device) -> Tensor<2> {
    Tensor::<2>::random([n, d], Noise::Bernoulli(0.3), device)
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

/// Mean and standard error of `xs`.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (v / n).sqrt())
}

#[test]
fn elbo_below_iwae_k_below_iwae_larger_k() {
    let device = device();
    device.seed(1);
    let vae = small(Likelihood::Bernoulli, &device);
    let x = binary_batch(16, 20, &device);
    let reps = 150;
    let draw = |f: &dyn Fn() -> Tensor<1>| -> (f64, f64) {
        let values: Vec<f64> = (0..reps).map(|_| scalar(f().mean())).collect();
        mean_se(&values)
    };
    let (elbo, se_elbo) = draw(&|| vae.elbo_terms(x.clone(), 1.0).loss.neg());
    let (iw1, se1) = draw(&|| vae.iwae_bound(x.clone(), 1));
    let (iw5, se5) = draw(&|| vae.iwae_bound(x.clone(), 5));
    let (iw50, se50) = draw(&|| vae.iwae_bound(x.clone(), 50));
    // IWAE_1 is the ELBO with a Monte-Carlo KL: same expectation.
    let se = (se_elbo.powi(2) + se1.powi(2)).sqrt();
    assert!(
        (elbo - iw1).abs() < 4.0 * se,
        "ELBO {elbo} vs IWAE_1 {iw1} ± {se}"
    );
    // Strictly increasing in k, beyond the noise.
    assert!(
        iw5 - iw1 > 4.0 * (se1.powi(2) + se5.powi(2)).sqrt(),
        "{iw1} {iw5}"
    );
    assert!(
        iw50 - iw5 > 4.0 * (se5.powi(2) + se50.powi(2)).sqrt(),
        "{iw5} {iw50}"
    );
}

#[test]
fn kl_term_is_the_closed_form_of_the_distributions_crate() {
    let device = device();
    device.seed(2);
    let vae = small(Likelihood::Bernoulli, &device);
    let x = binary_batch(8, 20, &device);
    let terms = vae.elbo_terms(x.clone(), 0.5);
    let closed = scalar(kl::kl_normal_std_normal(&vae.posterior(x)).mean());
    assert!((scalar(terms.kl.clone()) - closed).abs() < 1e-5);
    assert!((scalar(terms.kl_per_dim.clone().sum()) - closed).abs() < 1e-4);
    // loss = reconstruction + β · KL.
    let want = scalar(terms.reconstruction) + 0.5 * closed;
    assert!((scalar(terms.loss) - want).abs() < 1e-4);
}

#[test]
fn importance_sampled_likelihood_is_chunk_independent_and_above_the_elbo() {
    let device = device();
    device.seed(3);
    let vae = small(Likelihood::Bernoulli, &device);
    let x = binary_batch(8, 20, &device);
    let reps = 40;
    let whole: Vec<f64> = (0..reps)
        .map(|_| scalar(vae.log_likelihood_estimate(x.clone(), 400, 400).mean()))
        .collect();
    let chunked: Vec<f64> = (0..reps)
        .map(|_| scalar(vae.log_likelihood_estimate(x.clone(), 400, 64).mean()))
        .collect();
    let (a, sa) = mean_se(&whole);
    let (b, sb) = mean_se(&chunked);
    assert!(
        (a - b).abs() < 4.0 * (sa * sa + sb * sb).sqrt() + 1e-4,
        "{a} vs {b}"
    );
    // The gap log p(x) − ELBO (the posterior's KL to the true one) is only about 0.13 nats for
    // this small model, so each ELBO draw averages 50 single-sample ELBOs of every example
    // (the batch repeated): its standard error is then a few hundredths, not a tenth, and the
    // comparison below does not hang on the luck of 40 draws (tests share ndarray's generator,
    // so the draws differ from run to run).
    let repeated = x.clone().repeat_dim(0, 50);
    let elbo: Vec<f64> = (0..reps)
        .map(|_| scalar(vae.elbo_terms(repeated.clone(), 1.0).loss.neg()))
        .collect();
    let (e, se) = mean_se(&elbo);
    assert!(
        a > e + 4.0 * (sa * sa + se * se).sqrt(),
        "log p(x) {a} vs ELBO {e}"
    );
}

#[test]
fn gaussian_likelihood_is_a_scaled_squared_error() {
    let device = device();
    let vae = small(Likelihood::Gaussian { log_var: 0.0 }, &device);
    let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 20], [1, 20]), &device);
    let mean = Tensor::<2>::from_data(TensorData::new(vec![0.25f32; 20], [1, 20]), &device);
    let got = scalar(vae.log_likelihood(x, mean));
    let want = -0.5 * 20.0 * (0.25f64 * 0.25) - 10.0 * (2.0 * std::f64::consts::PI).ln();
    assert!((got - want).abs() < 1e-4, "{got} vs {want}");
}

/// The importance weights, computed with the examples and parameters broadcast over the k
/// samples, equal the weights computed one sample at a time from the definition
/// log w = log p(x | z) + log p(z) − log q(z | x), for every likelihood (the learned pixel
/// variances first moved off their initial 0 by a few Adam steps).
#[test]
fn importance_weights_match_their_definition_sample_by_sample() {
    let device = device();
    device.seed(9);
    let ad = device.clone().autodiff();
    let x = binary_batch(5, 20, &device);
    for likelihood in [
        Likelihood::Bernoulli,
        Likelihood::Gaussian { log_var: -1.3 },
        Likelihood::GaussianLearned,
    ] {
        let mut vae = small(likelihood, &ad);
        let mut optim = AdamConfig::new().init();
        for _ in 0..3 {
            let loss = vae.elbo_terms(x.clone().to_device(&ad), 1.0).loss;
            let grads = GradientsParams::from_grads(loss.backward(), &vae);
            vae = optim.step(0.1, vae, grads);
        }
        let vae = vae.valid();
        if likelihood == Likelihood::GaussianLearned {
            let lv: Vec<f32> = vae
                .pixel_log_var()
                .unwrap()
                .to_data()
                .try_to_vec::<f32>()
                .unwrap();
            assert!(
                lv.iter().any(|v| v.abs() > 0.05),
                "pixel log-variances still 0"
            );
        }
        let k = 3;
        let noise = Tensor::<3>::random([k, 5, 4], Noise::Normal(0.0, 1.0), &device);
        let got: Vec<f32> = vae
            .log_importance_weights_with_noise(x.clone(), noise.clone())
            .to_data()
            .try_to_vec::<f32>()
            .unwrap();
        let q = vae.posterior(x.clone());
        for i in 0..k {
            let eps = noise.clone().narrow(0, i, 1).squeeze_dim::<2>(0);
            let z = q.rsample_with_noise(eps);
            let prior = latent_distributions::Normal::standard(5, 4, &device);
            let want: Vec<f32> = (vae.log_likelihood(x.clone(), vae.decode(z.clone()))
                + prior.log_prob(z.clone())
                - q.log_prob(z))
            .to_data()
            .try_to_vec::<f32>()
            .unwrap();
            for (j, w) in want.iter().enumerate() {
                let g = got[i * 5 + j];
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{likelihood:?}, sample {i}, example {j}: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn a_tiny_vae_overfits_a_few_digits() {
    let device = device();
    device.seed(4);
    let ad = device.clone().autodiff();
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/mnist"));
    let data = Mnist::load(&dir, Split::Train, Some(8)).unwrap();
    let x = MnistBatcher::fixed(0).images(&data, 0..8, &ad);
    let config = VaeConfig {
        hidden: vec![64],
        latent: 4,
        ..VaeConfig::default()
    };
    let mut vae = config.init_vae(&ad, 0).unwrap();
    let mut optim = AdamConfig::new().init();
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..300 {
        let loss = vae.elbo_terms(x.clone(), 1.0).loss;
        last = loss.clone().into_scalar::<f32>() as f64;
        first.get_or_insert(last);
        let grads = GradientsParams::from_grads(loss.backward(), &vae);
        vae = optim.step(3e-3, vae, grads);
    }
    let first = first.unwrap();
    // From ~543 nats (784 pixels at p ≈ ½) to a small fraction of it on 8 memorised digits.
    assert!(last < 0.35 * first, "negative ELBO {first} → {last}");
}

#[test]
fn importance_sampling_converges_to_log_px_by_quadrature_with_a_1d_latent() {
    let device = device();
    device.seed(5);
    let vae = VaeConfig {
        input_dim: 12,
        hidden: vec![8],
        latent: 1,
        ..VaeConfig::default()
    }
    .init_vae(&device, 0)
    .unwrap();
    let x = binary_batch(4, 12, &device);
    // log p(x) = log ∫ p(x | z) N(z; 0, 1) dz on a fine grid over [−10, 10].
    let steps = 4001;
    let dz = 20.0 / (steps - 1) as f64;
    let grid: Vec<f32> = (0..steps).map(|i| (-10.0 + i as f64 * dz) as f32).collect();
    let z = Tensor::<2>::from_data(TensorData::new(grid.clone(), [steps, 1]), &device);
    let logits = vae.decode(z); // [steps, 12]
    let xs: Vec<f32> = x.clone().try_into_vec_as().unwrap();
    let estimate: Vec<f32> = vae
        .log_likelihood_estimate(x, 20_000, 2_000)
        .try_into_vec_as()
        .unwrap();
    for (b, row) in xs.chunks(12).enumerate() {
        let xb = Tensor::<2>::from_data(TensorData::new(row.to_vec(), [1, 12]), &device)
            .repeat_dim(0, steps);
        let log_px_z: Vec<f32> = vae
            .log_likelihood(xb, logits.clone())
            .try_into_vec_as()
            .unwrap();
        let terms: Vec<f64> = log_px_z
            .iter()
            .zip(&grid)
            .map(|(l, z)| {
                *l as f64 - 0.5 * (*z as f64).powi(2) - 0.5 * (2.0 * std::f64::consts::PI).ln()
            })
            .collect();
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exact = max + (terms.iter().map(|t| (t - max).exp()).sum::<f64>() * dz).ln();
        let got = estimate[b] as f64;
        assert!(
            (got - exact).abs() < 0.02,
            "example {b}: IS {got} vs quadrature {exact}"
        );
    }
}
