//! The Bayesian Gaussian mixture against scikit-learn's BayesianGaussianMixture, from the
//! committed fixture written by `scripts/reference/bayesian_gmm_fixture.py` (the five data
//! sets of `sklearn_gmm.json`, K = true K + 2, both weight priors, four covariance types,
//! default and hand-set priors; both sides started from the same stored labels). And the
//! theory: the variational bound never decreases.

use burn::tensor::{Device, Tensor, TensorData};
use latent_models::{BayesianPrior, CovarianceType, GmmConfig, Mixture, WeightPrior};
use serde_json::Value;

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not numeric: {other}"),
    }
}

fn data(set: &Value) -> Tensor<2> {
    let x: Vec<Vec<f64>> = set["x"].as_array().unwrap().iter().map(floats).collect();
    let (n, d) = (x.len(), x[0].len());
    let flat: Vec<f32> = x.into_iter().flatten().map(|v| v as f32).collect();
    Tensor::from_data(TensorData::new(flat, [n, d]), &device())
}

fn parse_type(name: &str) -> CovarianceType {
    CovarianceType::ALL
        .into_iter()
        .find(|c| c.name() == name)
        .unwrap()
}

/// The fit's settings and priors as the fixture states them.
fn config(fit: &Value, labels: Vec<usize>) -> GmmConfig {
    let weight_prior = match fit["weight_prior"].as_str().unwrap() {
        "dirichlet_process" => WeightPrior::DirichletProcess,
        _ => WeightPrior::DirichletDistribution,
    };
    let priors = &fit["priors"];
    let scalar = |key: &str| priors.get(key).map(|v| v.as_f64().unwrap());
    let prior = BayesianPrior {
        weight_prior,
        weight_concentration: scalar("weight_concentration_prior"),
        mean_precision: scalar("mean_precision_prior"),
        mean_prior: priors.get("mean_prior").map(floats),
        degrees_of_freedom: scalar("degrees_of_freedom_prior"),
        covariance_prior: priors.get("covariance_prior").map(floats),
    };
    GmmConfig::new(fit["k"].as_u64().unwrap() as usize)
        .with_covariance_type(parse_type(fit["covariance"].as_str().unwrap()))
        .with_tol(1e-6)
        .with_max_iter(2000)
        .with_reg_covar(1e-6)
        .with_bayesian(prior)
        .with_initial_labels(labels)
}

fn close(ours: &[f64], theirs: &[f64], abs: f64, rel: f64, what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - b).abs() <= abs + rel * b.abs(),
            "{what}[{i}]: {a} against {b} (expected)"
        );
    }
}

#[test]
fn matches_scikit_learn_bound_weights_means_and_covariances() {
    let source: Value = serde_json::from_str(include_str!("fixtures/sklearn_gmm.json")).unwrap();
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/sklearn_bayesian_gmm.json")).unwrap();
    let (mut checked, mut flat) = (0, 0);
    for (set, reference) in source["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .zip(fixture["datasets"].as_array().unwrap())
    {
        assert_eq!(set["name"], reference["name"]);
        let x = data(set);
        let labels: Vec<usize> = floats(&reference["initial_labels"])
            .into_iter()
            .map(|v| v as usize)
            .collect();
        for fit in reference["fits"].as_array().unwrap() {
            let what = format!(
                "{} {} {}{}",
                set["name"].as_str().unwrap(),
                fit["weight_prior"].as_str().unwrap(),
                fit["covariance"].as_str().unwrap(),
                if fit["priors"].as_object().unwrap().is_empty() {
                    ""
                } else {
                    " (priors set)"
                }
            );
            let model = config(fit, labels.clone()).fit(&x).unwrap();
            let report = model.fit.as_ref().unwrap();
            let bayesian = report.bayesian.as_ref().unwrap();
            let bound = fit["lower_bound"].as_f64().unwrap();
            close(
                &[report.lower_bound],
                &[bound],
                0.0,
                1e-4,
                &format!("{what}: bound"),
            );
            // Where scikit-learn itself needs hundreds of iterations (overlap2d's full and
            // tied fits: 400–1,100), the bound is so flat near its maximum that the float32
            // E-step's rounding (changes of 1e-5 in a bound of 500) stops or steers EM
            // elsewhere along the ridge: there the bound is compared, not the parameters.
            let ridge = set["name"] == "overlap2d_k2"
                && matches!(fit["covariance"].as_str(), Some("full" | "tied"));
            if ridge {
                flat += 1;
                continue;
            }
            close(
                &model.weights,
                &floats(&fit["weights"]),
                2e-3,
                0.0,
                &format!("{what}: weights"),
            );
            close(
                &model.means.concat(),
                &floats(&fit["means"]),
                5e-3,
                5e-4,
                &format!("{what}: means"),
            );
            close(
                &model.covariances,
                &floats(&fit["covariances"]),
                5e-3,
                5e-3,
                &format!("{what}: covariances"),
            );
            close(
                &bayesian.mean_precision,
                &floats(&fit["mean_precision"]),
                0.5,
                2e-3,
                &format!("{what}: β"),
            );
            close(
                &bayesian.degrees_of_freedom,
                &floats(&fit["degrees_of_freedom"]),
                0.5,
                2e-3,
                &format!("{what}: ν"),
            );
            close(
                &bayesian.weight_concentration.concat(),
                &floats(&fit["weight_concentration"]),
                0.5,
                2e-3,
                &format!("{what}: concentration"),
            );
            assert_eq!(
                bayesian.effective_components as u64,
                fit["effective_components"].as_u64().unwrap(),
                "{what}"
            );
            checked += 1;
        }
    }
    assert_eq!((checked, flat), (38, 4));
}

fn three_blobs_spec() -> latent_data::MixtureSpec {
    latent_data::MixtureSpec {
        weights: vec![0.5, 0.3, 0.2],
        means: vec![vec![0.0, 0.0], vec![8.0, 2.0], vec![-4.0, 9.0]],
        covariances: vec![
            vec![vec![1.0, 0.3], vec![0.3, 0.7]],
            vec![vec![0.6, 0.0], vec![0.0, 1.4]],
            vec![vec![0.9, -0.2], vec![-0.2, 0.5]],
        ],
    }
}

/// 900 points of three well-separated 2-D components.
fn three_blobs() -> Tensor<2> {
    three_blobs_spec()
        .sample(900, 3)
        .unwrap()
        .0
        .to_tensor(&device())
}

#[test]
fn the_bound_never_decreases_and_the_fit_is_a_good_density() {
    let spec = three_blobs_spec();
    let x = three_blobs();
    let held_out = spec.sample(3000, 4).unwrap().0.to_tensor(&device());
    let truth = latent_models::Gmm::from_parameters(
        CovarianceType::Full,
        spec.weights.clone(),
        spec.means.clone(),
        spec.covariances
            .iter()
            .flatten()
            .flatten()
            .copied()
            .collect(),
    )
    .unwrap()
    .score(&held_out)
    .unwrap();
    for weight_prior in [
        WeightPrior::DirichletProcess,
        WeightPrior::DirichletDistribution,
    ] {
        for covariance in CovarianceType::ALL {
            let model = GmmConfig::new(8)
                .with_covariance_type(covariance)
                .with_tol(1e-4)
                .with_max_iter(500)
                .with_bayesian(BayesianPrior::new(weight_prior))
                .fit(&x)
                .unwrap();
            let report = model.fit.as_ref().unwrap();
            let what = format!("{} {covariance}", weight_prior.name());
            assert!(report.lower_bounds.len() > 3, "{what}");
            for pair in report.lower_bounds.windows(2) {
                // Float32 E-steps: rounding-level wobble (1e-7 of the bound) is allowed.
                assert!(
                    pair[1] >= pair[0] - 1e-6 * pair[0].abs(),
                    "{what}: {} then {}",
                    pair[0],
                    pair[1]
                );
            }
            // Eight components offered, three in the data: at least three stay active (the
            // blobs are too far apart to share one), and the fitted density scores held-out
            // points within 0.1 nats of the true one (full covariances; the others cannot
            // represent the tilted blobs exactly and are allowed 0.3).
            let effective = report.bayesian.as_ref().unwrap().effective_components;
            assert!(
                (3..=8).contains(&effective),
                "{what}: {effective} components"
            );
            let score = model.score(&held_out).unwrap();
            let slack = if covariance == CovarianceType::Full {
                0.1
            } else {
                0.3
            };
            assert!(
                score > truth - slack,
                "{what}: {score} against the truth's {truth}"
            );
        }
    }
}

#[test]
fn bad_priors_are_refused_by_name() {
    let x = three_blobs();
    let field = |prior: BayesianPrior, covariance: CovarianceType| -> String {
        GmmConfig::new(3)
            .with_covariance_type(covariance)
            .with_bayesian(prior)
            .fit(&x)
            .unwrap_err()
            .to_string()
    };
    let base = BayesianPrior::default;
    for (prior, covariance, needle) in [
        (
            BayesianPrior {
                weight_concentration: Some(0.0),
                ..base()
            },
            CovarianceType::Full,
            "weight_concentration",
        ),
        (
            BayesianPrior {
                mean_precision: Some(f64::NAN),
                ..base()
            },
            CovarianceType::Full,
            "mean_precision",
        ),
        (
            BayesianPrior {
                degrees_of_freedom: Some(0.5),
                ..base()
            },
            CovarianceType::Full,
            "greater than D − 1 = 1",
        ),
        (
            BayesianPrior {
                mean_prior: Some(vec![1.0]),
                ..base()
            },
            CovarianceType::Full,
            "mean_prior",
        ),
        (
            BayesianPrior {
                covariance_prior: Some(vec![1.0, 2.0, 2.0, 1.0]),
                ..base()
            },
            CovarianceType::Full,
            "positive definite",
        ),
        (
            BayesianPrior {
                covariance_prior: Some(vec![1.0, -1.0]),
                ..base()
            },
            CovarianceType::Diag,
            "positive",
        ),
        (
            BayesianPrior {
                covariance_prior: Some(vec![1.0, 1.0]),
                ..base()
            },
            CovarianceType::Spherical,
            "has 1 values, got 2",
        ),
    ] {
        let message = field(prior, covariance);
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    let holes = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, f32::NAN, 0.5, 2.0, 1.5, 0.0], [3, 2]),
        &device(),
    );
    let missing = GmmConfig::new(2)
        .with_bayesian(base())
        .fit(&holes)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("no missing values"), "{missing}");
}

#[test]
fn sample_weights_count_each_point_as_often_as_repeating_it() {
    let spec = three_blobs_spec();
    let points = spec.sample(300, 8).unwrap().0;
    let d = 2;
    let weights: Vec<f64> = (0..300).map(|i| ((i * 5 + 1) % 4) as f64).collect();
    // The same start for both: labels by position (then repeated with their points).
    let labels: Vec<usize> = (0..300).map(|i| (i * 7) % 5).collect();
    let (mut copies, mut copy_labels) = (Vec::new(), Vec::new());
    for i in 0..300 {
        for _ in 0..weights[i] as usize {
            copies.extend_from_slice(points.row(i));
            copy_labels.push(labels[i]);
        }
    }
    let tensor = |values: &[f64]| {
        let v: Vec<f32> = values.iter().map(|v| *v as f32).collect();
        Tensor::<2>::from_data(TensorData::new(v, [values.len() / d, d]), &device())
    };
    for weight_prior in [
        WeightPrior::DirichletProcess,
        WeightPrior::DirichletDistribution,
    ] {
        for covariance in CovarianceType::ALL {
            let config = |labels: Vec<usize>| {
                GmmConfig::new(5)
                    .with_covariance_type(covariance)
                    .with_tol(1e-12)
                    .with_max_iter(10)
                    .with_bayesian(BayesianPrior::new(weight_prior))
                    .with_initial_labels(labels)
            };
            let weighted = config(labels.clone())
                .fit_weighted(&tensor(points.values()), &weights)
                .unwrap();
            let repeated = config(copy_labels.clone()).fit(&tensor(&copies)).unwrap();
            let what = format!("{} {covariance}", weight_prior.name());
            let (a, b) = (
                weighted.fit.as_ref().unwrap(),
                repeated.fit.as_ref().unwrap(),
            );
            let n = a.lower_bounds.len().min(b.lower_bounds.len());
            close(
                &a.lower_bounds[..n],
                &b.lower_bounds[..n],
                0.0,
                1e-5,
                &format!("{what}: bounds"),
            );
            close(
                &weighted.weights,
                &repeated.weights,
                1e-4,
                0.0,
                &format!("{what}: weights"),
            );
            close(
                &weighted.means.concat(),
                &repeated.means.concat(),
                1e-4,
                1e-4,
                &format!("{what}: means"),
            );
            close(
                &weighted.covariances,
                &repeated.covariances,
                1e-4,
                1e-4,
                &format!("{what}: covariances"),
            );
        }
    }
}
