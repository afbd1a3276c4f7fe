//! log_prob, entropy and KL against scipy (float64), from the committed fixture written by
//! `scripts/reference/distributions_fixture.py`.

use burn::tensor::{Device, Int, Tensor, TensorData};
use latent_distributions::{kl, Bernoulli, Categorical, Distribution, Normal};
use serde_json::Value;

/// Relative tolerance in float32, with an absolute floor for values near zero (where only
/// absolute error means anything).
const REL_TOL: f64 = 1e-5;
const ABS_FLOOR: f64 = 1e-5;

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

fn fixture() -> Value {
    let text = include_str!("fixtures/scipy_reference.json");
    serde_json::from_str(text).expect("fixture is valid JSON")
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect()
}

fn row(value: &Value, device: &Device) -> Tensor<2> {
    let values = floats(value);
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [1, n]), device)
}

fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    tensor
        .try_into_vec_as::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = REL_TOL * w.abs() + ABS_FLOOR;
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g}, scipy {w}, tol {tol}"
        );
    }
}

fn want(value: &Value) -> Vec<f64> {
    floats(value).into_iter().map(f64::from).collect()
}

#[test]
fn normal_matches_scipy() {
    let device = device();
    for case in fixture()["normal"].as_array().unwrap() {
        let normal = Normal::new(row(&case["mean"], &device), row(&case["log_var"], &device));
        let x = row(&case["x"], &device);
        let log_prob = to_vec(normal.log_prob_elementwise(x.clone()));
        assert_close("normal log_prob", &log_prob, &want(&case["log_prob"]));
        let summed = to_vec(normal.log_prob(x))[0];
        assert_close("normal log_prob sum", &[summed], &[log_prob.iter().sum()]);
        let entropy = to_vec(normal.entropy_elementwise());
        assert_close("normal entropy", &entropy, &want(&case["entropy"]));
    }
}

#[test]
fn normal_kl_matches_numerical_integration() {
    let device = device();
    for case in fixture()["normal_kl"].as_array().unwrap() {
        let p = Normal::new(
            row(&case["p_mean"], &device),
            row(&case["p_log_var"], &device),
        );
        let q = Normal::new(
            row(&case["q_mean"], &device),
            row(&case["q_log_var"], &device),
        );
        let per_dim = to_vec(kl::kl_normal_normal_elementwise(&p, &q));
        assert_close("normal kl", &per_dim, &want(&case["kl_elementwise"]));
    }
}

#[test]
fn bernoulli_matches_scipy() {
    let device = device();
    for case in fixture()["bernoulli"].as_array().unwrap() {
        let p = Bernoulli::new(row(&case["logits"], &device));
        let q = Bernoulli::new(row(&case["q_logits"], &device));
        let log_prob = to_vec(p.log_prob_elementwise(row(&case["x"], &device)));
        assert_close("bernoulli log_prob", &log_prob, &want(&case["log_prob"]));
        let entropy = to_vec(p.entropy_elementwise());
        assert_close("bernoulli entropy", &entropy, &want(&case["entropy"]));
        let kl = to_vec(kl::kl_bernoulli_bernoulli_elementwise(&p, &q));
        assert_close("bernoulli kl", &kl, &want(&case["kl_elementwise"]));
    }
}

#[test]
fn categorical_matches_scipy() {
    let device = device();
    for case in fixture()["categorical"].as_array().unwrap() {
        let p = Categorical::new(row(&case["logits"], &device));
        let q = Categorical::new(row(&case["q_logits"], &device));
        let classes = p.num_classes();
        // Every class once: a batch of `classes` copies of the row, each asked for its own class.
        let batch = Categorical::new(p.logits.clone().repeat_dim(0, classes));
        let values = Tensor::<1, Int>::arange(0..classes as i64, &device);
        let log_prob = to_vec(batch.log_prob(values));
        assert_close(
            "categorical log_prob",
            &log_prob,
            &want(&case["log_prob_per_class"]),
        );
        let entropy = to_vec(p.entropy());
        assert_close(
            "categorical entropy",
            &entropy,
            &[case["entropy"].as_f64().unwrap()],
        );
        let kl = to_vec(kl::kl_categorical_categorical(&p, &q));
        assert_close("categorical kl", &kl, &[case["kl"].as_f64().unwrap()]);
    }
}
