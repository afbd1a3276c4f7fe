//! The Gaussian mixture against scikit-learn's GaussianMixture, from the committed fixture
//! written by `scripts/reference/gmm_fixture.py` (five data sets, four covariance types,
//! scikit-learn with n_init = 10).

use burn::tensor::{Device, Tensor, TensorData};
use latent_models::{CovarianceType, Gmm, GmmConfig, Mixture};
use serde_json::Value;

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/sklearn_gmm.json")).expect("fixture parses")
}

fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not numeric: {other}"),
    }
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(floats).collect()
}

fn data(set: &Value, device: &Device) -> Tensor<2> {
    let x = rows(&set["x"]);
    let (n, d) = (x.len(), x[0].len());
    let flat: Vec<f32> = x.into_iter().flatten().map(|v| v as f32).collect();
    Tensor::from_data(TensorData::new(flat, [n, d]), device)
}

fn parse_type(name: &str) -> CovarianceType {
    CovarianceType::ALL
        .into_iter()
        .find(|c| c.name() == name)
        .unwrap()
}

/// scikit-learn's settings for the fixture: n_init 10, tol 1e-6, max_iter 1000, reg 1e-6.
fn config(k: usize, covariance: CovarianceType) -> GmmConfig {
    GmmConfig::new(k)
        .with_covariance_type(covariance)
        .with_n_init(10)
        .with_tol(1e-6)
        .with_max_iter(1000)
        .with_reg_covar(1e-6)
}

#[test]
fn never_worse_than_scikit_learn_by_more_than_1e_3_relative() {
    let device = device();
    let fixture = fixture();
    let mut report = Vec::new();
    for set in fixture["datasets"].as_array().unwrap() {
        let x = data(set, &device);
        let k = set["k"].as_u64().unwrap() as usize;
        for (name, reference) in set["sklearn"].as_object().unwrap() {
            let covariance = parse_type(name);
            let model = config(k, covariance).fit(&x).unwrap();
            let ours = model.score(&x).unwrap();
            let theirs = reference["avg_log_likelihood"].as_f64().unwrap();
            let bic = model.bic(&x).unwrap();
            let their_bic = reference["bic"].as_f64().unwrap();
            report.push(format!(
                "{} {name}: ours {ours:.6} sklearn {theirs:.6}; BIC {bic:.3} vs {their_bic:.3}",
                set["name"].as_str().unwrap()
            ));
            assert_eq!(
                model.n_parameters() as u64,
                reference["n_parameters"].as_u64().unwrap()
            );
            assert!(
                ours >= theirs - 1e-3 * theirs.abs(),
                "{}: mean log-likelihood {ours} < scikit-learn {theirs}",
                report.last().unwrap()
            );
            assert!(
                bic <= their_bic + 1e-3 * their_bic.abs(),
                "{}",
                report.last().unwrap()
            );
            assert!(
                model.fit.as_ref().unwrap().converged,
                "{}",
                report.last().unwrap()
            );
        }
    }
    println!("{}", report.join("\n"));
}

/// Pairs each of `ours` with the nearest of `theirs` (both K × D) and returns the largest
/// coordinate difference.
fn matched_mean_error(ours: &[Vec<f64>], theirs: &[Vec<f64>]) -> f64 {
    ours.iter()
        .map(|m| {
            theirs
                .iter()
                .map(|t| {
                    m.iter()
                        .zip(t)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max)
                })
                .fold(f64::INFINITY, f64::min)
        })
        .fold(0.0, f64::max)
}

#[test]
fn recovers_planted_parameters_on_well_separated_data() {
    let device = device();
    let fixture = fixture();
    for name in ["blobs2d_k3", "offset4d_k3"] {
        let set = fixture["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap();
        let k = set["k"].as_u64().unwrap() as usize;
        let model = config(k, CovarianceType::Full)
            .with_n_init(3)
            .fit(&data(set, &device))
            .unwrap();
        let truth = rows(&set["true_means"]);
        let true_cov = rows(&set["true_covariances"]);
        // Each fitted mean within 0.5 true standard deviations of a planted one (the largest
        // variance of that component bounds the scale).
        let scale = true_cov
            .iter()
            .map(|c| c.iter().copied().fold(0.0, f64::max).sqrt())
            .fold(f64::INFINITY, f64::min);
        let err = matched_mean_error(&model.means, &truth);
        assert!(err < 0.5 * scale, "{name}: mean error {err}, scale {scale}");
        // And scikit-learn's fit agrees with ours much more closely.
        let sk = rows(&set["sklearn"]["full"]["means"]);
        let err = matched_mean_error(&model.means, &sk);
        assert!(
            err < 1e-3 * (1.0 + sk[0][0].abs()),
            "{name}: vs scikit-learn {err}"
        );
        let mut weights = model.weights.clone();
        let mut true_weights = floats(&set["true_weights"]);
        weights.sort_by(f64::total_cmp);
        true_weights.sort_by(f64::total_cmp);
        for (w, t) in weights.iter().zip(&true_weights) {
            assert!(
                (w - t).abs() < 0.02,
                "{name}: weights {weights:?} vs {true_weights:?}"
            );
        }
    }
}

#[test]
fn densities_and_posteriors_of_scikit_learns_parameters_match() {
    let device = device();
    let fixture = fixture();
    let set = &fixture["datasets"][0];
    let check = &set["score_samples_check"];
    let sk = &set["sklearn"]["full"];
    let model = Gmm::from_parameters(
        CovarianceType::Full,
        floats(&sk["weights"]),
        rows(&sk["means"]),
        floats(&sk["covariances"]),
    )
    .unwrap();
    let points = rows(&check["points"]);
    let (n, d) = (points.len(), points[0].len());
    let flat: Vec<f32> = points.into_iter().flatten().map(|v| v as f32).collect();
    let x = Tensor::<2>::from_data(TensorData::new(flat, [n, d]), &device);
    let ours: Vec<f32> = model.score_samples(&x).unwrap().try_into_vec_as().unwrap();
    for (o, t) in ours.iter().zip(floats(&check["full"])) {
        assert!(
            (*o as f64 - t).abs() <= 1e-5 * t.abs().max(1.0),
            "log density {o} vs {t}"
        );
    }
    let proba: Vec<f32> = model.predict_proba(&x).unwrap().try_into_vec_as().unwrap();
    for (o, t) in proba.iter().zip(floats(&check["predict_proba_full"])) {
        assert!((*o as f64 - t).abs() < 1e-5, "posterior {o} vs {t}");
    }
}
