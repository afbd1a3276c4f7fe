//! The richer built-in VAEs (mixture and Vamp priors, two stochastic layers, free bits) through
//! the trainer on small MNIST slices: exact resume, evaluation bounds, prior samples, loading.

mod common;

use std::path::PathBuf;

use latent_data::{Mnist, Split};
use latent_models::vae::PriorNet;
use latent_models::{
    Conditioning, LatentVariableModel, PriorConfig, PseudoInputStart, TopLayer, VaeConfig,
};
use latent_train::{
    evaluate, evaluate_inputs_on, load_run, load_vae, train, with_vae, EvalConfig, ModelKind,
    NamedDevice, TrainConfig, TrainedModel,
};

use common::{assert_same_epochs, device, metrics, scratch, serial};

fn mnist_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/mnist"))
}

/// The variants, each a small configuration of `epochs` epochs.
fn variants(epochs: usize) -> Vec<(&'static str, TrainConfig)> {
    let base = |model: VaeConfig| {
        let mut config = TrainConfig::new(ModelKind::Vae, mnist_dir());
        config.model = model;
        config.epochs = epochs;
        config.batch_size = 64;
        config.train_limit = Some(640);
        config.test_limit = Some(200);
        config.seed = 3;
        config
    };
    let one = VaeConfig {
        hidden: vec![64],
        latent: 4,
        ..VaeConfig::default()
    };
    let two = VaeConfig {
        top: Some(TopLayer {
            hidden: vec![16],
            latent: 2,
        }),
        ..one.clone()
    };
    let mut free_bits = base(one.clone());
    free_bits.free_bits = 0.5;
    let mut iwae = base(two.clone());
    iwae.iwae_samples = 3;
    vec![
        (
            "mixture prior",
            base(VaeConfig {
                prior: PriorConfig::Mixture { components: 4 },
                ..one.clone()
            }),
        ),
        (
            "VampPrior, pseudo-inputs from training examples",
            base(VaeConfig {
                prior: PriorConfig::Vamp {
                    components: 8,
                    start: PseudoInputStart::Data,
                },
                ..one.clone()
            }),
        ),
        ("two layers", base(two.clone())),
        ("two layers, IWAE k = 3", iwae),
        (
            "two layers, VampPrior on top, pseudo-inputs from noise",
            base(VaeConfig {
                prior: PriorConfig::Vamp {
                    components: 8,
                    start: PseudoInputStart::Noise,
                },
                ..two
            }),
        ),
        ("free bits", free_bits),
        (
            "conditional",
            base(VaeConfig {
                conditioning: Conditioning::Conditional { classes: 0 },
                ..one.clone()
            }),
        ),
        ("semi-supervised, 100 labels", {
            let mut m2 = base(VaeConfig {
                conditioning: Conditioning::SemiSupervised {
                    classes: 0,
                    classifier_weight: 1.0,
                },
                ..one
            });
            m2.labelled = Some(100);
            m2
        }),
    ]
}

#[test]
fn each_richer_model_resumes_exactly() {
    let _serial = serial();
    for ((name, two), (_, one)) in variants(2).into_iter().zip(variants(1)) {
        let straight = scratch("richer-straight");
        let resumed = scratch("richer-resumed");
        train(&two, &straight, &device(), false, None, |_| {}).unwrap();
        train(&one, &resumed, &device(), false, None, |_| {}).unwrap();
        train(&two, &resumed, &device(), true, None, |_| {}).unwrap();
        let (a, b) = (metrics(&straight), metrics(&resumed));
        assert_eq!(b.len(), 2, "{name}");
        assert_same_epochs(&a, &b, name);
        std::fs::remove_dir_all(&straight).unwrap();
        std::fs::remove_dir_all(&resumed).unwrap();
    }
}

#[test]
fn each_richer_model_evaluates_below_its_elbo_and_samples_its_prior() {
    let _serial = serial();
    let test = Mnist::load(&mnist_dir(), Split::Test, Some(100)).unwrap();
    for (name, config) in variants(2) {
        let run = scratch("richer-eval");
        train(&config, &run, &device(), false, None, |_| {}).unwrap();
        let (trained, model) = load_run(&run, &device()).unwrap();
        let two_layers = config.model.top.is_some();
        let conditioned = !config.model.conditioning.is_none();
        assert_eq!(
            matches!(model, TrainedModel::Hierarchical(_)),
            two_layers,
            "{name}"
        );
        let report = with_vae!(
            &model,
            vae => {
                let samples = vae.sample_prior(5, &device());
                let classes = vae.classes().unwrap_or(0);
                assert_eq!(classes, if conditioned { 10 } else { 0 }, "{name}");
                assert_eq!(samples.dims(), [5, 4 + classes], "{name}");
                let settings = EvalConfig::with_samples(500);
                if conditioned {
                    // Without its label columns a conditional model's inputs are refused.
                    let err = evaluate(vae, &test, &settings, &device()).unwrap_err();
                    assert!(err.to_string().contains("label columns"), "{name}: {err}");
                }
                let devices = [NamedDevice::unnamed(&device())];
                evaluate_inputs_on(vae, &test, &trained.inputs(), &settings, &devices).unwrap()
            },
            _ => panic!("{name}: trained a VAE")
        );
        // −log p(x) ≤ −ELBO (the importance-sampled estimate of 500 samples against one).
        assert!(report.nll < -report.elbo, "{name}: {report:?}");
        assert_eq!(
            report.layer_active_units.len(),
            if two_layers { 2 } else { 1 },
            "{name}"
        );
        assert_eq!(
            report.kl_per_dim.len(),
            if two_layers { 6 } else { 4 },
            "{name}"
        );
        if two_layers {
            let err = load_vae(&run, &device()).unwrap_err().to_string();
            assert!(err.contains("two stochastic layers"), "{name}: {err}");
        }
        // Only M2 has a classifier; its error is a fraction of the test set.
        let semi = matches!(
            config.model.conditioning,
            Conditioning::SemiSupervised { .. }
        );
        match report.classification_error {
            Some(e) => assert!(semi && (0.0..=1.0).contains(&e), "{name}: {e}"),
            None => assert!(!semi, "{name}: no classification error"),
        }
        std::fs::remove_dir_all(&run).unwrap();
    }
}

#[test]
fn richer_settings_are_refused_where_they_do_not_apply() {
    let _serial = serial();
    let (_, mut config) = variants(1).remove(0);
    config.kind = ModelKind::Ae;
    let err = config.check().unwrap_err().to_string();
    assert!(err.contains("need a VAE"), "{err}");
    let (_, mut config) = variants(1)
        .into_iter()
        .find(|(name, _)| *name == "free bits")
        .unwrap();
    config.iwae_samples = 2;
    let err = config.check().unwrap_err().to_string();
    assert!(err.contains("free_bits"), "{err}");
    config.iwae_samples = 1;
    config.free_bits = -1.0;
    let err = config.check().unwrap_err().to_string();
    assert!(err.contains("free_bits"), "{err}");
    // Partial labels need M2, and M2 trains on its own bound.
    let (_, mut m2) = variants(1).pop().unwrap();
    m2.check().unwrap();
    m2.iwae_samples = 2;
    let err = m2.check().unwrap_err().to_string();
    assert!(err.contains("its own bound"), "{err}");
    let (_, mut plain) = variants(1).remove(0);
    plain.labelled = Some(100);
    let err = plain.check().unwrap_err().to_string();
    assert!(err.contains("partly labelled"), "{err}");
    let (_, mut cvae) = variants(1)
        .into_iter()
        .find(|(n, _)| *n == "conditional")
        .unwrap();
    cvae.kind = ModelKind::Ae;
    let err = cvae.check().unwrap_err().to_string();
    assert!(err.contains("need a VAE"), "{err}");
}

#[test]
fn m2_learns_to_classify_from_a_hundred_labels() {
    let _serial = serial();
    let mut config = TrainConfig::new(ModelKind::Vae, mnist_dir());
    config.data = "digits".parse().unwrap();
    config.model = VaeConfig {
        hidden: vec![64],
        latent: 6,
        conditioning: Conditioning::SemiSupervised {
            classes: 0,
            classifier_weight: 1.0,
        },
        ..VaeConfig::default()
    };
    config.epochs = 10;
    config.labelled = Some(100);
    let run = scratch("m2-digits");
    train(&config, &run, &device(), false, None, |_| {}).unwrap();
    let (config, model) = load_run(&run, &device()).unwrap();
    let test = config.load_split(latent_data::Split::Test, None).unwrap();
    let report = with_vae!(
        &model,
        vae => latent_train::evaluate_inputs_on(
            vae,
            &test,
            &config.inputs(),
            &EvalConfig::with_samples(10),
            &[latent_train::NamedDevice::unnamed(&device())],
        )
        .unwrap(),
        _ => panic!("trained a VAE")
    );
    // Chance is 90 % error; 10 labels of each class and the unlabelled bound do far better.
    let error = report.classification_error.unwrap();
    assert!(error < 0.7, "test error {error}");
    // The hidden labels stay hidden: 100 kept of the training examples, the rest shown as none.
    let bad = {
        let mut c = config.clone();
        c.labelled = Some(105);
        c.run_id = None;
        train(
            &c,
            &scratch("m2-unbalanced"),
            &device(),
            false,
            None,
            |_| {},
        )
        .unwrap_err()
    };
    assert!(bad.to_string().contains("multiple of 10"), "{bad}");
    std::fs::remove_dir_all(&run).unwrap();
}

/// The VampPrior's pseudo-inputs of a new run start as distinct training examples (grey pixels,
/// as the model sees them) under `vamp:K`, and as the paper's faint noise under `vamp:K:noise`;
/// a learning rate of 1e-12 keeps them where they started through one epoch. Too few training
/// examples for K distinct ones are refused by name.
#[test]
fn vamp_pseudo_inputs_start_at_distinct_training_examples_or_noise() {
    let _serial = serial();
    let train_images = Mnist::load(&mnist_dir(), Split::Train, Some(640)).unwrap();
    let pixels: Vec<Vec<f32>> = train_images
        .pixels()
        .chunks(784)
        .map(|image| image.iter().map(|&v| v as f32 / 255.0).collect())
        .collect();
    for start in [PseudoInputStart::Data, PseudoInputStart::Noise] {
        let (_, mut config) = variants(1).swap_remove(1);
        config.model.prior = PriorConfig::Vamp {
            components: 8,
            start,
        };
        config.optimizer.lr = 1e-12;
        let run = scratch("richer-vamp-start");
        train(&config, &run, &device(), false, None, |_| {}).unwrap();
        let (_, vae) = load_vae(&run, &device()).unwrap();
        let PriorNet::Vamp(vamp) = &vae.prior else {
            panic!("a VampPrior was configured");
        };
        let rows = vamp
            .pseudo_inputs
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let mut matched: Vec<usize> = rows
            .chunks(784)
            .filter_map(|row| {
                pixels
                    .iter()
                    .position(|image| image.iter().zip(row).all(|(a, b)| (a - b).abs() < 1e-5))
            })
            .collect();
        match start {
            PseudoInputStart::Data => {
                assert_eq!(matched.len(), 8, "every pseudo-input is a training image");
                matched.sort_unstable();
                matched.dedup();
                assert_eq!(matched.len(), 8, "eight distinct images");
            }
            PseudoInputStart::Noise => {
                assert!(matched.is_empty(), "noise starts match no image");
                let mean = rows.iter().sum::<f32>() / rows.len() as f32;
                assert!(
                    (mean - 0.05).abs() < 0.002,
                    "N(0.05, 0.01²) starts: mean {mean}"
                );
            }
        }
        std::fs::remove_dir_all(&run).unwrap();
    }
    let (_, mut config) = variants(1).swap_remove(1);
    config.model.prior = PriorConfig::Vamp {
        components: 641,
        start: PseudoInputStart::Data,
    };
    let run = scratch("richer-vamp-too-few");
    let err = train(&config, &run, &device(), false, None, |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("641 distinct") && err.contains("vamp:641:noise"),
        "{err}"
    );
    assert!(!run.exists(), "nothing written for a refused run");
}
