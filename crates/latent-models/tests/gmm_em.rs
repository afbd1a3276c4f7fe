//! Properties of EM and of the fitted Gaussian mixture that theory guarantees.

use burn::tensor::{Device, Tensor};
use latent_data::MixtureSpec;
use latent_models::{CovarianceType, Gmm, GmmConfig, InitMethod, Mixture, ModelError};

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

/// Three overlapping 3-D components: EM takes many iterations here.
fn overlapping(n: usize, seed: u64) -> Tensor<2> {
    let spec = MixtureSpec {
        weights: vec![0.5, 0.3, 0.2],
        means: vec![
            vec![0.0, 0.0, 0.0],
            vec![1.5, 0.5, 0.0],
            vec![0.0, 2.0, 1.0],
        ],
        covariances: vec![
            vec![
                vec![1.0, 0.3, 0.0],
                vec![0.3, 1.0, 0.2],
                vec![0.0, 0.2, 1.0],
            ],
            vec![
                vec![0.5, 0.0, 0.0],
                vec![0.0, 1.5, 0.0],
                vec![0.0, 0.0, 0.7],
            ],
            vec![
                vec![1.2, -0.4, 0.0],
                vec![-0.4, 0.8, 0.0],
                vec![0.0, 0.0, 0.3],
            ],
        ],
    };
    spec.sample(n, seed).unwrap().0.to_tensor(&device())
}

#[test]
fn em_log_likelihood_never_decreases() {
    let x = overlapping(1500, 1);
    for covariance in CovarianceType::ALL {
        let mut longest = 0;
        for init in [
            InitMethod::Kmeans,
            InitMethod::Random,
            InitMethod::RandomFromData,
        ] {
            let model = GmmConfig::new(3)
                .with_covariance_type(covariance)
                .with_init(init)
                .with_tol(1e-8)
                .with_max_iter(150)
                .fit(&x)
                .unwrap();
            let bounds = &model.fit.as_ref().unwrap().lower_bounds;
            longest = longest.max(bounds.len());
            for (i, pair) in bounds.windows(2).enumerate() {
                // Float32 E-steps round at ~1e-7 relative; EM itself never goes down.
                let slack = 1e-6 * pair[0].abs();
                assert!(
                    pair[1] >= pair[0] - slack,
                    "{covariance} {init:?}: iteration {} lowered the bound {} → {}",
                    i + 2,
                    pair[0],
                    pair[1]
                );
            }
        }
        // (Random responsibilities can start at the symmetric fixed point and stop at once.)
        assert!(
            longest > 10,
            "{covariance}: at most {longest} iterations, too few to test"
        );
    }
}

#[test]
fn more_restarts_never_end_lower() {
    let x = overlapping(800, 2);
    let one = GmmConfig::new(3).with_seed(5).fit(&x).unwrap();
    let five = GmmConfig::new(3)
        .with_seed(5)
        .with_n_init(5)
        .fit(&x)
        .unwrap();
    // Restart 0 of both runs is the same; the best of five can only be as good or better.
    assert!(five.fit.unwrap().lower_bound >= one.fit.unwrap().lower_bound - 1e-9);
}

#[test]
fn warm_start_continues_from_a_fitted_model() {
    let x = overlapping(1000, 3);
    let rough = GmmConfig::new(3).with_max_iter(2).fit(&x).unwrap();
    assert!(
        !rough.fit.as_ref().unwrap().converged,
        "two iterations cannot converge here"
    );
    let rough_score = rough.score(&x).unwrap();
    let refined = GmmConfig::new(3)
        .with_max_iter(200)
        .fit_from(&x, &rough)
        .unwrap();
    assert!(refined.score(&x).unwrap() > rough_score);
    let mismatch = GmmConfig::new(2).fit_from(&x, &rough).unwrap_err();
    assert!(matches!(
        mismatch,
        ModelError::InvalidSetting {
            field: "warm_start",
            ..
        }
    ));
}

#[test]
fn predictions_are_consistent_and_posteriors_normalised() {
    let x = overlapping(500, 4);
    let model = GmmConfig::new(3)
        .with_covariance_type(CovarianceType::Diag)
        .fit(&x)
        .unwrap();
    let proba: Vec<f32> = model.predict_proba(&x).unwrap().try_into_vec_as().unwrap();
    let labels: Vec<i64> = model.predict(&x).unwrap().try_into_vec_as().unwrap();
    for (row, label) in proba.chunks(3).zip(labels) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let argmax = (0..3).max_by(|a, b| row[*a].total_cmp(&row[*b])).unwrap();
        assert_eq!(argmax as i64, label);
    }
    // BIC and AIC follow from the score and the parameter count.
    let n = 500.0f64;
    let log_l = model.score(&x).unwrap() * n;
    let p = model.n_parameters() as f64;
    assert!((model.bic(&x).unwrap() - (-2.0 * log_l + p * n.ln())).abs() < 1e-6);
    assert!((model.aic(&x).unwrap() - (-2.0 * log_l + 2.0 * p)).abs() < 1e-6);
}

#[test]
fn samples_follow_the_fitted_weights() {
    let x = overlapping(1000, 5);
    for covariance in CovarianceType::ALL {
        let model = GmmConfig::new(3)
            .with_covariance_type(covariance)
            .fit(&x)
            .unwrap();
        let n = 20_000;
        let (points, labels) = model.sample(n, 9).unwrap();
        assert_eq!((points.len(), points.dim()), (n, 3));
        for k in 0..3 {
            let freq = labels.iter().filter(|l| **l == k).count() as f64 / n as f64;
            let w = model.weights[k];
            assert!(
                (freq - w).abs() < 4.0 * (w * (1.0 - w) / n as f64).sqrt(),
                "{covariance}"
            );
            // The sampled mean of component k is within 4 standard errors of μ_k.
            let rows: Vec<&[f64]> = (0..n)
                .filter(|i| labels[*i] == k)
                .map(|i| points.row(i))
                .collect();
            let cov = model.covariance_matrix(k);
            for j in 0..3 {
                let mean = rows.iter().map(|r| r[j]).sum::<f64>() / rows.len() as f64;
                let se = (cov[j * 3 + j] / rows.len() as f64).sqrt();
                assert!(
                    (mean - model.means[k][j]).abs() < 4.0 * se,
                    "{covariance} k{k} d{j}"
                );
            }
        }
    }
}

#[test]
fn degenerate_data_give_finite_results_or_a_clear_error() {
    // Duplicated points and a constant column.
    let mut values = Vec::new();
    for i in 0..60 {
        let v = (i % 3) as f64;
        values.extend([v, 5.0, v * 2.0]);
    }
    let points = latent_data::Points::new(60, 3, values).unwrap();
    let x = points.to_tensor(&device());
    for covariance in CovarianceType::ALL {
        let model = GmmConfig::new(2)
            .with_covariance_type(covariance)
            .fit(&x)
            .unwrap();
        let score = model.score(&x).unwrap();
        assert!(score.is_finite(), "{covariance}: {score}");
    }
    let err = GmmConfig::new(2).with_reg_covar(0.0).fit(&x).unwrap_err();
    assert!(matches!(err, ModelError::IllConditioned { .. }), "{err}");
    assert!(err.to_string().contains("reg_covar"), "{err}");
}

#[test]
fn one_component_is_the_maximum_likelihood_gaussian() {
    let x = overlapping(400, 11);
    for init in [
        InitMethod::Kmeans,
        InitMethod::KmeansPlusPlus,
        InitMethod::Random,
        InitMethod::RandomFromData,
    ] {
        let model = GmmConfig::new(1).with_init(init).fit(&x).unwrap();
        // K = 1: the sample mean, whatever the initialisation.
        let values: Vec<f32> = x.clone().mean_dim(0).try_into_vec_as().unwrap();
        for (m, v) in model.means[0].iter().zip(values) {
            assert!((m - v as f64).abs() < 1e-4, "{init:?}");
        }
        assert!((model.weights[0] - 1.0).abs() < 1e-6);
    }
}

/// `tol = 0` (as scikit-learn allows) never stops early: every one of `max_iter` iterations
/// runs, which timing comparisons need; any tol > 0 stops a well separated fit long before.
#[test]
fn a_zero_tolerance_runs_every_iteration() {
    let x = overlapping(600, 4);
    for (tol, max_iter) in [(0.0, 40), (0.0, 3), (1e-3, 40)] {
        let model = GmmConfig::new(3)
            .with_tol(tol)
            .with_max_iter(max_iter)
            .fit(&x)
            .unwrap();
        let fit = model.fit.as_ref().unwrap();
        if tol == 0.0 {
            assert_eq!(fit.n_iter, max_iter, "tol 0, max_iter {max_iter}");
            assert!(!fit.converged, "tol 0 can never be met");
        } else {
            assert!(
                fit.n_iter < max_iter,
                "tol {tol}: {} iterations",
                fit.n_iter
            );
            assert!(fit.converged);
        }
    }
}

#[test]
fn settings_are_checked_before_any_work() {
    let x = overlapping(5, 6);
    let err = GmmConfig::new(6).fit(&x).unwrap_err();
    assert!(err.to_string().contains("n_components"), "{err}");
    let err = GmmConfig::new(2).with_tol(-1.0).fit(&x).unwrap_err();
    assert!(err.to_string().contains("`tol`"), "{err}");
}

#[test]
fn user_given_initial_parameters_are_used() {
    let x = overlapping(600, 7);
    let means = vec![
        vec![0.0, 0.0, 0.0],
        vec![1.5, 0.5, 0.0],
        vec![0.0, 2.0, 1.0],
    ];
    let model = GmmConfig::new(3)
        .with_means_init(means.clone())
        .with_weights_init(vec![0.5, 0.3, 0.2])
        .with_covariance_type(CovarianceType::Spherical)
        .with_precisions_init(vec![1.0, 1.0, 1.0])
        .with_max_iter(1)
        .fit(&x)
        .unwrap();
    // One EM step from the given start: the bound is that of the given parameters.
    let given = Gmm::from_parameters(
        CovarianceType::Spherical,
        vec![0.5, 0.3, 0.2],
        means,
        vec![1.0; 3],
    )
    .unwrap();
    let bound = model.fit.unwrap().lower_bound;
    assert!((bound - given.score(&x).unwrap()).abs() < 1e-4, "{bound}");
}

#[test]
fn save_load_round_trip_and_foreign_files_are_rejected() {
    let x = overlapping(300, 8);
    let model = GmmConfig::new(2)
        .with_covariance_type(CovarianceType::Tied)
        .fit(&x)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("latent-gmm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.json");
    model.save(&path).unwrap();
    assert_eq!(Gmm::load(&path).unwrap(), model);
    std::fs::write(&path, r#"{"format": "something-else", "version": 1}"#).unwrap();
    assert!(matches!(
        Gmm::load(&path),
        Err(ModelError::BadModelFile { .. })
    ));
    let text = serde_json::to_string(&serde_json::json!({
        "format": "latent-gmm", "version": 1,
        "model": {"covariance_type": "diag", "weights": [1.0], "means": [[0.0, 1.0]],
                  "covariances": [1.0], "fit": null}
    }))
    .unwrap();
    std::fs::write(&path, text).unwrap();
    let err = Gmm::load(&path).unwrap_err();
    assert!(err.to_string().contains("need 2 values"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_same_fit_on_ndarray_and_flex_agrees() {
    // Host-side seeds make the initialisation identical; only float rounding may differ.
    let x_nd = overlapping(600, 12);
    let values: Vec<f32> = x_nd.clone().try_into_vec_as().unwrap();
    let flex = Device::flex();
    let x_flex = Tensor::<2>::from_data(burn::tensor::TensorData::new(values, [600, 3]), &flex);
    for covariance in CovarianceType::ALL {
        // Exactly 20 iterations on both, so both did the same computation.
        let config = GmmConfig::new(3)
            .with_covariance_type(covariance)
            .with_tol(1e-12)
            .with_max_iter(20);
        let a = config.fit(&x_nd).unwrap();
        let b = config.fit(&x_flex).unwrap();
        let (la, lb) = (
            &a.fit.as_ref().unwrap().lower_bounds,
            &b.fit.as_ref().unwrap().lower_bounds,
        );
        assert_eq!(la.len(), lb.len(), "{covariance}");
        for (x, y) in la.iter().zip(lb) {
            assert!(
                (x - y).abs() < 1e-5 * x.abs(),
                "{covariance}: bound {x} vs {y}"
            );
        }
        let (sa, sb) = (a.score(&x_nd).unwrap(), b.score(&x_flex).unwrap());
        assert!(
            (sa - sb).abs() < 1e-4 * sa.abs(),
            "{covariance}: {sa} vs {sb}"
        );
        for (ma, mb) in a.means.iter().flatten().zip(b.means.iter().flatten()) {
            assert!((ma - mb).abs() < 1e-3, "{covariance}: means {ma} vs {mb}");
        }
    }
}
