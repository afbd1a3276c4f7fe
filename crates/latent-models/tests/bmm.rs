//! The Bernoulli mixture: recovery of planted prototypes, EM behaviour, exact densities, and
//! binarised MNIST.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use latent_data::{Mnist, MnistBatcher, Split};
use latent_models::{Bmm, BmmConfig, InitMethod, Mixture, ModelError};

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

/// Three 30-pixel prototypes (p ∈ {0.1, 0.9} in different blocks), weights 0.5 / 0.3 / 0.2.
fn planted() -> Bmm {
    let probs = (0..3)
        .map(|k| {
            (0..30)
                .map(|j| if j / 10 == k { 0.9 } else { 0.1 })
                .collect()
        })
        .collect();
    let mut model = BmmConfig::new(3)
        .fit(&Tensor::<2>::from_data(
            TensorData::new(vec![0f32; 90], [3, 30]),
            &device(),
        ))
        .unwrap();
    model.weights = vec![0.5, 0.3, 0.2];
    model.probs = probs;
    model
}

fn to_tensor(points: &latent_data::Points) -> Tensor<2> {
    points.to_tensor(&device())
}

#[test]
fn recovers_planted_prototypes_and_weights() {
    let truth = planted();
    let (points, _) = truth.sample(3000, 1).unwrap();
    let x = to_tensor(&points);
    let fitted = BmmConfig::new(3)
        .with_n_init(3)
        .with_tol(1e-6)
        .fit(&x)
        .unwrap();
    for (k, prototype) in truth.probs.iter().enumerate() {
        // The fitted component nearest to this prototype.
        let (best, err) = fitted
            .probs
            .iter()
            .enumerate()
            .map(|(c, p)| {
                (
                    c,
                    p.iter()
                        .zip(prototype)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max),
                )
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert!(err < 0.08, "prototype {k}: largest pixel error {err}");
        assert!(
            (fitted.weights[best] - truth.weights[k]).abs() < 0.03,
            "weights {:?}",
            fitted.weights
        );
    }
    // Maximum likelihood on the training data is at least the truth's likelihood (up to the
    // smoothing and float32).
    let ours = fitted.score(&x).unwrap();
    let theirs = truth.score(&x).unwrap();
    assert!(ours >= theirs - 1e-3 * theirs.abs(), "{ours} < {theirs}");
}

#[test]
fn densities_match_a_direct_computation() {
    let model = planted();
    let (points, _) = model.sample(20, 2).unwrap();
    let ours: Vec<f32> = model
        .score_samples(&to_tensor(&points))
        .unwrap()
        .try_into_vec_as()
        .unwrap();
    for (i, got) in ours.iter().enumerate() {
        let x = points.row(i);
        let terms: Vec<f64> = (0..3)
            .map(|k| {
                model.weights[k].ln()
                    + x.iter()
                        .zip(&model.probs[k])
                        .map(|(v, p)| if *v == 1.0 { p.ln() } else { (1.0 - p).ln() })
                        .sum::<f64>()
            })
            .collect();
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let want = max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln();
        assert!(
            (*got as f64 - want).abs() < 1e-4 * want.abs(),
            "{got} vs {want}"
        );
    }
}

#[test]
fn em_never_lowers_the_likelihood_with_negligible_smoothing() {
    let (points, _) = planted().sample(1500, 3).unwrap();
    let x = to_tensor(&points);
    // From random responsibilities, so that EM takes many steps (greedy k-means++ then
    // k-means starts it at the optimum of these well-separated prototypes).
    let model = BmmConfig::new(4)
        .with_init(InitMethod::Random)
        .with_smoothing(1e-9)
        .with_tol(1e-9)
        .with_max_iter(60)
        .fit(&x)
        .unwrap();
    assert!(model.lower_bounds.len() > 5);
    for pair in model.lower_bounds.windows(2) {
        assert!(pair[1] >= pair[0] - 1e-6 * pair[0].abs(), "{pair:?}");
    }
}

#[test]
fn refuses_non_binary_data_and_bad_settings() {
    let grey = Tensor::<2>::from_data(
        TensorData::new(vec![0.0f32, 0.5, 1.0, 1.0], [2, 2]),
        &device(),
    );
    let err = BmmConfig::new(1).fit(&grey).unwrap_err();
    assert!(
        matches!(err, ModelError::InvalidData(_)) && err.to_string().contains("binar"),
        "{err}"
    );
    let binary = Tensor::<2>::from_data(
        TensorData::new(vec![0.0f32, 1.0, 1.0, 1.0], [2, 2]),
        &device(),
    );
    let err = BmmConfig::new(1)
        .with_smoothing(0.0)
        .fit(&binary)
        .unwrap_err();
    assert!(err.to_string().contains("`smoothing`"), "{err}");
    let err = BmmConfig::new(3).fit(&binary).unwrap_err();
    assert!(err.to_string().contains("`n_components`"), "{err}");
}

fn mnist(split: Split, n: usize) -> Tensor<2> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/mnist"));
    let data = Mnist::load(&dir, split, Some(n)).unwrap();
    MnistBatcher::fixed(0).images(&data, 0..n, &device())
}

#[test]
fn on_binarised_mnist_more_components_explain_held_out_digits_better() {
    let train = mnist(Split::Train, 3000);
    let test = mnist(Split::Test, 1000);
    let one = BmmConfig::new(1).fit(&train).unwrap().score(&test).unwrap();
    let ten = BmmConfig::new(10).with_max_iter(30).fit(&train).unwrap();
    let ten_score = ten.score(&test).unwrap();
    // Independent pixels score about −206 nats per test digit; ten prototypes do far better.
    assert!(ten_score > one + 20.0, "K=10 {ten_score} vs K=1 {one}");
    let (samples, labels) = ten.sample(50, 1).unwrap();
    assert_eq!((samples.len(), samples.dim(), labels.len()), (50, 784, 50));
    assert!(samples.values().iter().all(|v| *v == 0.0 || *v == 1.0));
    let dir = std::env::temp_dir().join(format!("latent-bmm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bmm.json");
    ten.save(&path).unwrap();
    assert_eq!(Bmm::load(&path).unwrap(), ten);
    std::fs::write(
        &path,
        "{\"format\": \"latent-gmm\", \"version\": 1, \"model\": {}}",
    )
    .unwrap();
    assert!(matches!(
        Bmm::load(&path),
        Err(ModelError::BadModelFile { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
