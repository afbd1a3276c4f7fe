//! The priors beyond N(0, I) (a learned mixture, the VampPrior), the two-layer VAE and free
//! bits: their bounds ordered as theory says, their Monte-Carlo KL against the closed form,
//! their densities against direct computations; the importance weights' two parts and the
//! warm-up's tempered IWAE bound.

use burn::tensor::{Device, Distribution as Noise, Tensor, TensorData};
use latent_distributions::{kl, log_sum_exp, normal_log_prob_elementwise, Normal};
use latent_models::model::{elbo_loss_terms, Objective, StepNoise};
use latent_models::vae::{Initializer, MixturePrior, PriorNet};
use latent_models::{
    Codec, Conditioning, HierarchicalVae, LatentVariableModel, Likelihood, Prior, PriorConfig,
    PseudoInputStart, TopLayer, Vae, VaeConfig,
};

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

const INPUT: usize = 20;
const LATENT: usize = 4;

fn config(prior: PriorConfig, top: Option<TopLayer>) -> VaeConfig {
    VaeConfig {
        input_dim: INPUT,
        hidden: vec![16],
        latent: LATENT,
        likelihood: Likelihood::Bernoulli,
        prior,
        top,
        ..VaeConfig::default()
    }
}

fn two_layers() -> Option<TopLayer> {
    Some(TopLayer {
        hidden: vec![8],
        latent: 3,
    })
}

/// Every prior of the one-layer VAE.
fn priors() -> [PriorConfig; 3] {
    [
        PriorConfig::Standard,
        PriorConfig::Mixture { components: 3 },
        PriorConfig::Vamp {
            components: 5,
            start: PseudoInputStart::Noise,
        },
    ]
}

fn binary_batch(n: usize, device: &Device) -> Tensor<2> {
    Tensor::<2>::random([n, INPUT], Noise::Bernoulli(0.3), device)
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

fn values(t: Tensor<1>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .unwrap()
}

/// Mean and standard error of `xs`.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (v / n).sqrt())
}

/// The batch-mean ELBO and IWAE bounds of `model` on `x` over `reps` draws: (ELBO, IWAE_1,
/// IWAE_k), each as (mean, standard error).
fn bounds<M: LatentVariableModel>(
    model: &M,
    x: &Tensor<2>,
    k: usize,
    reps: usize,
) -> [(f64, f64); 3] {
    let [batch, _] = x.dims();
    let device = x.device();
    let dim = model.noise_dim();
    let normal = Noise::Normal(0.0, 1.0);
    let mut draws = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..reps {
        let one = Tensor::<2>::random([batch, dim], normal, &device);
        let elbo = model.elbo_terms_with_noise(x.clone(), one, 1.0).loss.neg();
        draws[0].push(scalar(elbo));
        let one = Tensor::<3>::random([1, batch, dim], normal, &device);
        draws[1].push(scalar(model.iwae_bound_with_noise(x.clone(), one).mean()));
        let many = Tensor::<3>::random([k, batch, dim], normal, &device);
        draws[2].push(scalar(model.iwae_bound_with_noise(x.clone(), many).mean()));
    }
    draws.map(|d| mean_se(&d))
}

/// E[IWAE_1] = ELBO and ELBO ≤ IWAE_k, within 4 standard errors, for `model`.
fn check_bounds<M: LatentVariableModel>(name: &str, model: &M, device: &Device) {
    let x = binary_batch(16, device);
    let [(elbo, se_e), (iw1, se_1), (iwk, se_k)] = bounds(model, &x, 50, 120);
    let se = (se_e.powi(2) + se_1.powi(2)).sqrt();
    assert!(
        (iw1 - elbo).abs() < 4.0 * se,
        "{name}: E[IWAE_1] {iw1} vs ELBO {elbo} (se {se})"
    );
    let se = (se_e.powi(2) + se_k.powi(2)).sqrt();
    assert!(
        iwk > elbo + 4.0 * se,
        "{name}: IWAE_50 {iwk} not above the ELBO {elbo} (se {se})"
    );
}

#[test]
fn every_prior_and_the_two_layer_model_order_their_bounds() {
    let device = device();
    device.seed(3);
    for prior in priors() {
        let vae = config(prior, None).init_vae(&device, 1).unwrap();
        check_bounds(&format!("one layer, prior {prior}"), &vae, &device);
        let hvae = config(prior, two_layers())
            .init_hierarchical(&device, 1)
            .unwrap();
        check_bounds(&format!("two layers, prior {prior}"), &hvae, &device);
    }
}

#[test]
fn importance_sampled_likelihood_is_above_the_elbo_for_every_model() {
    let device = device();
    device.seed(5);
    let x = binary_batch(32, &device);
    for prior in priors() {
        let vae = config(prior, None).init_vae(&device, 2).unwrap();
        let elbo: f64 = (0..20)
            .map(|_| scalar(vae.elbo_terms(x.clone(), 1.0).loss.neg()))
            .sum::<f64>()
            / 20.0;
        let log_px = scalar(vae.log_likelihood_estimate(x.clone(), 2000, 250).mean());
        assert!(
            log_px > elbo,
            "prior {prior}: log p(x) {log_px} ≤ ELBO {elbo}"
        );
        let hvae = config(prior, two_layers())
            .init_hierarchical(&device, 2)
            .unwrap();
        // The ELBO averaged over 50 draws per example, as for one layer: a single draw's
        // standard error (a few hundredths of a nat) is of the order of the gap to log p(x)
        // of an untrained model, and the device's generator, shared with tests running
        // beside this one, does not repeat the same draws from run to run.
        let elbo: f64 = (0..50)
            .map(|_| {
                scalar(
                    hvae.elbo_terms_with_noise(
                        x.clone(),
                        Tensor::random([32, hvae.noise_dim()], Noise::Normal(0.0, 1.0), &device),
                        1.0,
                    )
                    .loss
                    .neg(),
                )
            })
            .sum::<f64>()
            / 50.0;
        let noise = Tensor::<3>::random(
            [2000, 32, hvae.noise_dim()],
            Noise::Normal(0.0, 1.0),
            &device,
        );
        let log_px = scalar(hvae.iwae_bound_with_noise(x.clone(), noise).mean());
        assert!(
            log_px > elbo,
            "two layers, prior {prior}: log p(x) {log_px} ≤ ELBO {elbo}"
        );
    }
}

#[test]
fn monte_carlo_kl_to_a_one_component_mixture_is_the_closed_form() {
    let device = device();
    device.seed(11);
    let mut init = Initializer::new(&device, 9);
    let prior = MixturePrior::new(1, LATENT, &mut init);
    // A component away from N(0, I): mean N(0, 1) draws, log-variance 0.7.
    let prior = MixturePrior {
        log_vars: burn::module::Param::from_tensor(Tensor::full([1, LATENT], 0.7, &device)),
        ..prior
    };
    let q = Normal::new(
        Tensor::random([6, LATENT], Noise::Normal(0.0, 1.0), &device),
        Tensor::random([6, LATENT], Noise::Uniform(-1.5, 0.5), &device),
    );
    let p = Normal::new(
        prior.means.val().repeat_dim(0, 6),
        prior.log_vars.val().repeat_dim(0, 6),
    );
    let closed = values(kl::kl_normal_normal(&q, &p));
    let unused = |_: Tensor<2>| -> Normal { unreachable!("a mixture prior needs no encoder") };
    let draws: Vec<Vec<f64>> = (0..4000)
        .map(|_| {
            let z = q.rsample();
            values(
                prior
                    .kl_elementwise(&q, z, &unused)
                    .sum_dim(1)
                    .squeeze_dim(1),
            )
        })
        .collect();
    for (i, want) in closed.iter().enumerate() {
        let column: Vec<f64> = draws.iter().map(|d| d[i]).collect();
        let (mc, se) = mean_se(&column);
        assert!(
            (mc - want).abs() < 4.0 * se,
            "example {i}: Monte-Carlo KL {mc} ± {se} vs closed form {want}"
        );
    }
}

#[test]
fn vamp_prior_is_the_mixture_of_the_encoders_posteriors_at_its_pseudo_inputs() {
    let device = device();
    device.seed(2);
    let vae: Vae = config(
        PriorConfig::Vamp {
            components: 5,
            start: PseudoInputStart::Noise,
        },
        None,
    )
    .init_vae(&device, 4)
    .unwrap();
    let PriorNet::Vamp(vamp) = &vae.prior else {
        panic!("a VampPrior was configured");
    };
    let z = Tensor::<3>::random([2, 3, LATENT], Noise::Normal(0.0, 1.0), &device);
    let encode = |x: Tensor<2>| vae.posterior(x);
    let got = values(
        vamp.log_prob_elementwise(z.clone(), &encode)
            .sum_dim(2)
            .reshape([6]),
    );
    let q = vae.posterior(vamp.pseudo_inputs.val());
    let flat = z.reshape([6, LATENT]);
    let per_component: Vec<Tensor<2>> = (0..5)
        .map(|k| {
            normal_log_prob_elementwise(
                q.mean.clone().narrow(0, k, 1),
                q.log_var.clone().narrow(0, k, 1),
                flat.clone(),
            )
            .sum_dim(1)
        })
        .collect();
    let want = values(
        log_sum_exp(Tensor::cat(per_component, 1), 1)
            .sub_scalar(5f64.ln())
            .squeeze_dim(1),
    );
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-4, "VampPrior log p(z) {g} vs {w}");
    }
}

#[test]
fn mixture_prior_samples_pick_components_by_their_weights() {
    let device = device();
    device.seed(8);
    let prior = MixturePrior {
        logits: burn::module::Param::from_tensor(Tensor::from_floats(
            [0.8f32.ln(), 0.2f32.ln()],
            &device,
        )),
        means: burn::module::Param::from_tensor(Tensor::from_floats([[-5.0f32], [5.0]], &device)),
        log_vars: burn::module::Param::from_tensor(Tensor::full([2, 1], -2.0, &device)),
    };
    let unused = |_: Tensor<2>| -> Normal { unreachable!("a mixture prior needs no encoder") };
    let n = 20_000;
    let z = values(prior.sample(n, 1, &unused, &device).reshape([n]));
    let left: Vec<f64> = z.iter().map(|v| f64::from(*v < 0.0)).collect();
    let (share, se) = mean_se(&left);
    assert!(
        (share - 0.8).abs() < 4.0 * se,
        "{share} ± {se} of draws from the 0.8 component"
    );
    // Within a component, its own mean and variance.
    let lefts: Vec<f64> = z.iter().copied().filter(|v| *v < 0.0).collect();
    let (mean, se) = mean_se(&lefts);
    assert!(
        (mean + 5.0).abs() < 4.0 * se,
        "component mean {mean} ± {se}"
    );
}

#[test]
fn free_bits_floor_each_dimensions_kl_in_the_loss() {
    let device = device();
    device.seed(6);
    let vae = config(PriorConfig::Standard, None)
        .init_vae(&device, 3)
        .unwrap();
    let x = binary_batch(8, &device);
    let noise = Tensor::<3>::random([1, 8, LATENT], Noise::Normal(0.0, 1.0), &device);
    let terms = vae.elbo_terms_with_noise(x.clone(), noise.clone().squeeze_dim(0), 1.0);
    let per_dim = values(terms.kl_per_dim.clone());
    // A floor between the dimensions' KLs: some are raised, some are not.
    let mut sorted = per_dim.clone();
    sorted.sort_by(f64::total_cmp);
    let lambda = (sorted[1] + sorted[2]) / 2.0;
    let objective = Objective {
        free_bits: lambda,
        ..Objective::ELBO
    };
    let loss = scalar(elbo_loss_terms(&vae, x, StepNoise::none().with(noise), &objective).loss);
    let want = scalar(terms.reconstruction) + per_dim.iter().map(|k| k.max(lambda)).sum::<f64>();
    assert!(
        (loss - want).abs() < 1e-4,
        "free-bits loss {loss} vs {want}"
    );
    assert!(loss > scalar(terms.loss), "the floor raised no dimension");
}

#[test]
fn two_layer_weights_match_their_definition() {
    let device = device();
    device.seed(12);
    let hvae: HierarchicalVae = config(PriorConfig::Standard, two_layers())
        .init_hierarchical(&device, 5)
        .unwrap();
    let x = binary_batch(4, &device);
    let noise = Tensor::<3>::random([1, 4, LATENT + 3], Noise::Normal(0.0, 1.0), &device);
    let got = values(
        hvae.log_importance_weights_with_noise(x.clone(), noise.clone())
            .squeeze_dim(0),
    );
    // By hand, layer by layer.
    use latent_models::{Decoder, Encoder, LikelihoodModel};
    let eps = noise.squeeze_dim::<2>(0);
    let q1 = hvae.encoder.encode(x.clone());
    let z1 = q1.rsample_with_noise(eps.clone().narrow(1, 0, LATENT));
    let q2 = hvae.up.encode(z1.clone());
    let z2 = q2.rsample_with_noise(eps.narrow(1, LATENT, 3));
    let p1 = hvae.down.encode(z2.clone());
    let log_px = hvae.likelihood.log_prob(x, hvae.decoder.decode(z1.clone()));
    let log_pz2 = Normal::standard(4, 3, &device)
        .log_prob_elementwise(z2.clone())
        .sum_dim(1);
    let want = values(
        log_px
            + (p1.log_prob_elementwise(z1.clone()).sum_dim(1) + log_pz2
                - q1.log_prob_elementwise(z1).sum_dim(1)
                - q2.log_prob_elementwise(z2).sum_dim(1))
            .squeeze_dim(1),
    );
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-4 * w.abs().max(1.0), "log w {g} vs {w}");
    }
}

#[test]
fn bad_prior_specs_are_refused_by_name() {
    for bad in [
        "mog",
        "mog:0",
        "vamp:x",
        "gauss:3",
        "",
        "mog:3:noise",
        "vamp:0:noise",
    ] {
        let err = bad.parse::<PriorConfig>().unwrap_err();
        assert!(
            err.contains("standard, mog:K, vamp:K or vamp:K:noise"),
            "{bad:?}: {err}"
        );
    }
    for (spec, start) in [
        ("vamp:500", PseudoInputStart::Data),
        ("vamp:500:noise", PseudoInputStart::Noise),
    ] {
        let prior = spec.parse::<PriorConfig>().unwrap();
        assert_eq!(
            prior,
            PriorConfig::Vamp {
                components: 500,
                start
            }
        );
        assert_eq!(prior.to_string(), spec, "printed as parsed");
    }
    // A run recorded before the choice existed started its pseudo-inputs from noise.
    let recorded: PriorConfig =
        serde_json::from_str(r#"{"kind": "vamp", "components": 8}"#).unwrap();
    assert_eq!(
        recorded,
        PriorConfig::Vamp {
            components: 8,
            start: PseudoInputStart::Noise
        }
    );
    let device = device();
    let err = config(PriorConfig::Standard, two_layers())
        .init_vae(&device, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("HierarchicalVae"), "{err}");
}

const CLASSES: usize = 3;

fn labelled_config(conditioning: Conditioning) -> VaeConfig {
    VaeConfig {
        conditioning,
        ..config(PriorConfig::Standard, None)
    }
}

/// A batch of `n` binary examples followed by their label columns: one-hot of `class(i)`, or
/// zeros where it is `None`.
fn with_labels(x: Tensor<2>, class: impl Fn(usize) -> Option<usize>) -> Tensor<2> {
    let [n, _] = x.dims();
    let device = x.device();
    let rows: Vec<f32> = (0..n)
        .flat_map(|i| (0..CLASSES).map(move |c| (c, i)))
        .map(|(c, i)| f32::from(class(i) == Some(c)))
        .collect();
    let labels = Tensor::<2>::from_data(TensorData::new(rows, [n, CLASSES]), &device);
    Tensor::cat(vec![x, labels], 1)
}

#[test]
fn conditional_and_semi_supervised_bounds_are_ordered() {
    let device = device();
    device.seed(21);
    let cvae = labelled_config(Conditioning::Conditional { classes: CLASSES })
        .init_conditional(&device, 1)
        .unwrap();
    let x = with_labels(binary_batch(16, &device), |i| Some(i % CLASSES));
    let [(elbo, se_e), (iw1, se_1), (iwk, se_k)] = bounds(&cvae, &x, 50, 120);
    let se = (se_e.powi(2) + se_1.powi(2)).sqrt();
    assert!(
        (iw1 - elbo).abs() < 4.0 * se,
        "CVAE: E[IWAE_1] {iw1} vs ELBO {elbo}"
    );
    assert!(
        iwk > elbo + 4.0 * (se_e.powi(2) + se_k.powi(2)).sqrt(),
        "CVAE: {iwk} vs {elbo}"
    );
    let m2 = labelled_config(Conditioning::SemiSupervised {
        classes: CLASSES,
        classifier_weight: 1.0,
    })
    .init_semi_supervised(&device, 1)
    .unwrap();
    // Half the examples labelled, half not: log p(x, y) and log p(x) bounds.
    let x = with_labels(binary_batch(16, &device), |i| {
        (i % 2 == 0).then_some(i % CLASSES)
    });
    let [(elbo, se_e), (iw1, se_1), (iwk, se_k)] = bounds(&m2, &x, 50, 120);
    // Summing the classes inside the logarithm, IWAE_1 is already at least the ELBO.
    assert!(
        iw1 > elbo - 4.0 * (se_e.powi(2) + se_1.powi(2)).sqrt(),
        "M2: {iw1} vs {elbo}"
    );
    assert!(
        iwk > iw1 + 4.0 * (se_1.powi(2) + se_k.powi(2)).sqrt(),
        "M2: {iwk} vs {iw1}"
    );
}

#[test]
fn m2_unlabelled_bound_is_the_labelled_bounds_weighted_by_the_classifier() {
    let device = device();
    device.seed(22);
    let m2 = labelled_config(Conditioning::SemiSupervised {
        classes: CLASSES,
        classifier_weight: 1.0,
    })
    .init_semi_supervised(&device, 2)
    .unwrap();
    let data = binary_batch(5, &device);
    let noise = Tensor::<2>::random([1, LATENT], Noise::Normal(0.0, 1.0), &device);
    for i in 0..5 {
        let x = data.clone().narrow(0, i, 1);
        let hidden = with_labels(x.clone(), |_| None);
        let unlabelled = scalar(
            m2.elbo_terms_with_noise(hidden.clone(), noise.clone(), 1.0)
                .loss,
        );
        let log_q = values(m2.class_log_probs(hidden).unwrap().reshape([CLASSES]));
        // −U(x) = Σ_y q(y | x) (−L(x, y)) − H(q(y | x)), each −L(x, y) from the same noise.
        let want: f64 = (0..CLASSES)
            .map(|y| {
                let shown = with_labels(x.clone(), |_| Some(y));
                let labelled = scalar(m2.elbo_terms_with_noise(shown, noise.clone(), 1.0).loss);
                log_q[y].exp() * (labelled + log_q[y])
            })
            .sum();
        assert!(
            (unlabelled - want).abs() < 1e-4 * want.abs(),
            "example {i}: −U {unlabelled} vs Σ_y q (−L) − H {want}"
        );
    }
}

#[test]
fn class_samples_carry_their_class_into_the_decoder() {
    let device = device();
    device.seed(23);
    let cvae = labelled_config(Conditioning::Conditional { classes: CLASSES })
        .init_conditional(&device, 3)
        .unwrap();
    let codes = cvae.sample_prior_of_class(6, 2, &device).unwrap();
    assert_eq!(codes.dims(), [6, LATENT + CLASSES]);
    let labels = values(
        codes
            .clone()
            .narrow(1, LATENT, CLASSES)
            .sum_dim(0)
            .reshape([CLASSES]),
    );
    assert_eq!(labels, vec![0.0, 0.0, 6.0]);
    // Another class, same z: another image.
    let z = codes.narrow(1, 0, LATENT);
    let decode = |class: usize| {
        let one_hot = Tensor::<1>::full([6], class as f64, &device).one_hot(CLASSES);
        cvae.decode_mean(Tensor::cat(vec![z.clone(), one_hot], 1))
    };
    let gap = scalar((decode(0) - decode(2)).abs().sum());
    assert!(gap > 1e-3, "the decoder ignores the class ({gap})");
    assert_eq!(decode(2).dims(), [6, INPUT]);
    assert!(cvae.sample_prior_of_class(1, 0, &device).is_some());
    let plain = config(PriorConfig::Standard, None)
        .init_vae(&device, 0)
        .unwrap();
    assert!(plain.sample_prior_of_class(1, 0, &device).is_none());
}

/// The weights' two parts of `model` on `x` sum to its log weights; with one sample and β = 0
/// the tempered bound is the likelihood part alone, log p(x | z), which is minus the
/// reconstruction term of the ELBO drawn with the same noise; with β = 1 it is the IWAE bound.
fn check_weight_parts<M: LatentVariableModel>(name: &str, model: &M, x: &Tensor<2>) {
    let [batch, _] = x.dims();
    let device = x.device();
    let normal = Noise::Normal(0.0, 1.0);
    let noise = Tensor::<3>::random([7, batch, model.noise_dim()], normal, &device);
    let [likelihood, latent] = model
        .log_importance_weight_parts_with_noise(x.clone(), noise.clone())
        .unwrap_or_else(|| panic!("{name}: no weight parts"));
    let weights = model.log_importance_weights_with_noise(x.clone(), noise.clone());
    let gap = scalar((likelihood.clone() + latent - weights).abs().max());
    assert!(gap < 1e-3, "{name}: parts miss the weights by {gap}");
    assert!(
        scalar(likelihood.clone().abs().min()) > 1.0,
        "{name}: {likelihood}"
    );
    let tempered = model.tempered_iwae_bound_with_noise(x.clone(), noise.clone(), 1.0);
    let plain = model.iwae_bound_with_noise(x.clone(), noise.clone());
    assert_eq!(values(tempered), values(plain), "{name}");
    let one = noise.narrow(0, 0, 1);
    let reconstruction = model
        .elbo_terms_with_noise(x.clone(), one.clone().squeeze_dim(0), 1.0)
        .reconstruction;
    let log_px_z = model
        .tempered_iwae_bound_with_noise(x.clone(), one, 0.0)
        .mean();
    let (a, b) = (scalar(log_px_z), -scalar(reconstruction));
    assert!((a - b).abs() < 1e-3 * b.abs(), "{name}: {a} vs {b}");
}

#[test]
fn the_tempered_iwae_bound_weights_the_latent_part_of_every_weight() {
    let device = device();
    device.seed(31);
    let x = binary_batch(12, &device);
    for prior in priors() {
        let vae = config(prior, None).init_vae(&device, 4).unwrap();
        check_weight_parts(&format!("one layer, prior {prior}"), &vae, &x);
        let hvae = config(prior, two_layers())
            .init_hierarchical(&device, 4)
            .unwrap();
        check_weight_parts(&format!("two layers, prior {prior}"), &hvae, &x);
    }
    let labelled = with_labels(binary_batch(12, &device), |i| Some(i % CLASSES));
    let cvae = labelled_config(Conditioning::Conditional { classes: CLASSES })
        .init_conditional(&device, 4)
        .unwrap();
    check_weight_parts("CVAE", &cvae, &labelled);
    // M2's weights sum over classes and do not split: every β gives its plain bound.
    let m2 = labelled_config(Conditioning::SemiSupervised {
        classes: CLASSES,
        classifier_weight: 1.0,
    })
    .init_semi_supervised(&device, 4)
    .unwrap();
    let noise = Tensor::<3>::random([5, 12, m2.noise_dim()], Noise::Normal(0.0, 1.0), &device);
    assert!(m2
        .log_importance_weight_parts_with_noise(labelled.clone(), noise.clone())
        .is_none());
    assert_eq!(
        values(m2.tempered_iwae_bound_with_noise(labelled.clone(), noise.clone(), 0.3)),
        values(m2.iwae_bound_with_noise(labelled, noise))
    );
}

#[test]
fn a_warm_up_tempers_the_iwae_loss_and_ends_at_the_bound() {
    let device = device();
    device.seed(33);
    let x = binary_batch(10, &device);
    let hvae = config(PriorConfig::Standard, two_layers())
        .init_hierarchical(&device, 6)
        .unwrap();
    let noise = StepNoise::none()
        .with(Tensor::random(
            [1, 10, hvae.noise_dim()],
            Noise::Normal(0.0, 1.0),
            &device,
        ))
        .with(Tensor::random(
            [5, 10, hvae.noise_dim()],
            Noise::Normal(0.0, 1.0),
            &device,
        ));
    let objective = |kl_weight| Objective {
        kl_weight,
        iwae_samples: 5,
        free_bits: 0.0,
    };
    let loss = |kl_weight| {
        scalar(elbo_loss_terms(&hvae, x.clone(), noise.clone(), &objective(kl_weight)).loss)
    };
    let [likelihood, latent] =
        hvae.log_importance_weight_parts_with_noise(x.clone(), noise.part(1));
    // log (1/k) Σ_i exp(a_i) by hand, in f64, per example.
    let by_hand = |beta: f64| {
        let lik = values(likelihood.clone().reshape([50]));
        let lat = values(latent.clone().reshape([50]));
        let per_example: Vec<f64> = (0..10)
            .map(|b| {
                let a: Vec<f64> = (0..5)
                    .map(|i| lik[i * 10 + b] + beta * lat[i * 10 + b])
                    .collect();
                let m = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                m + (a.iter().map(|v| (v - m).exp()).sum::<f64>() / 5.0).ln()
            })
            .collect();
        -per_example.iter().sum::<f64>() / 10.0
    };
    for beta in [0.0, 0.25, 1.0] {
        let (got, want) = (loss(beta), by_hand(beta));
        assert!(
            (got - want).abs() < 1e-3 * want.abs(),
            "β {beta}: {got} vs {want}"
        );
    }
    // β changes the loss (the latent parts are not nil).
    let spread = (loss(0.0) - loss(1.0)).abs();
    assert!(spread > 0.1, "{spread}");
}
