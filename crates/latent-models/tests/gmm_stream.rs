//! Exact EM over data read in chunks equals EM in memory; the initialisation's sample, and
//! the `.npy` source.

use latent_data::{MixtureSpec, NpyRows, Points};
use latent_models::gmm::{OnlineEm, Streaming};
use latent_models::{CovarianceType, GmmConfig, InitMethod, Mixture};

mod common;

use common::{device, same_fit};

/// Three overlapping 3-D components, offset from the origin.
fn points(n: usize, seed: u64) -> Points {
    let spec = MixtureSpec {
        weights: vec![0.5, 0.3, 0.2],
        means: vec![
            vec![10.0, 0.0, -5.0],
            vec![12.5, 1.0, -5.0],
            vec![9.0, 3.0, -4.0],
        ],
        covariances: vec![
            vec![
                vec![1.0, 0.3, 0.0],
                vec![0.3, 0.8, 0.2],
                vec![0.0, 0.2, 1.0],
            ],
            vec![
                vec![0.6, 0.0, 0.0],
                vec![0.0, 1.4, 0.0],
                vec![0.0, 0.0, 0.7],
            ],
            vec![
                vec![0.5, -0.2, 0.0],
                vec![-0.2, 0.7, 0.0],
                vec![0.0, 0.0, 0.3],
            ],
        ],
    };
    spec.sample(n, seed).unwrap().0
}

#[test]
fn streamed_em_is_in_memory_em() {
    let data = points(997, 1);
    let x = data.to_tensor(&device());
    // Chunks of 97 rows: the last one short. Ten iterations from the same initialisation
    // (all 997 points are its sample), with a tolerance below float32 noise so neither stops
    // early.
    let streaming = Streaming {
        chunk_rows: 97,
        init_rows: 1000,
    };
    for kind in CovarianceType::ALL {
        // (Not `random`, whose near-equal responsibilities start EM by a saddle, nor
        // `random-from-data`, whose one-point components start with variance reg_covar:
        // from either, float32 rounding decides how the components part, in memory as in
        // chunks.)
        for init in [InitMethod::Kmeans, InitMethod::KmeansPlusPlus] {
            let config = GmmConfig::new(3)
                .with_covariance_type(kind)
                .with_init(init)
                .with_tol(1e-12)
                .with_max_iter(10);
            let memory = config.fit(&x).unwrap();
            let streamed = config
                .fit_streaming(&data, streaming, &device(), |_| {})
                .unwrap();
            same_fit(&streamed, &memory, 2e-5, &format!("{kind} {}", init.name()));
        }
    }
}

#[test]
fn a_sampled_initialisation_and_the_npy_source() {
    let data = points(3000, 2);
    let path = std::env::temp_dir().join(format!("latent-stream-{}.npy", std::process::id()));
    latent_data::write_points(&data, &path).unwrap();
    let file = NpyRows::open(&path).unwrap();
    let streaming = Streaming {
        chunk_rows: 256,
        init_rows: 400,
    };
    let config = GmmConfig::new(3)
        .with_tol(1e-6)
        .with_max_iter(300)
        .with_n_init(2);
    let from_file = config
        .fit_streaming(&file, streaming, &device(), |_| {})
        .unwrap();
    let from_memory = config
        .fit_streaming(&data, streaming, &device(), |_| {})
        .unwrap();
    assert_eq!(from_file, from_memory, "the same rows give the same fit");
    let bounds = &from_file.fit.as_ref().unwrap().lower_bounds;
    for pair in bounds.windows(2) {
        assert!(pair[1] >= pair[0] - 1e-6, "{pair:?}");
    }
    // Initialised on 400 of the 3,000 points, the converged fit is as good as in memory's.
    let x = data.to_tensor(&device());
    let ours = from_file.score(&x).unwrap();
    let memory = config.fit(&x).unwrap().score(&x).unwrap();
    assert!((ours - memory).abs() < 2e-3, "{ours} against {memory}");
    let bad = config.fit_streaming(
        &data,
        Streaming {
            chunk_rows: 0,
            ..streaming
        },
        &device(),
        |_| {},
    );
    assert!(bad.unwrap_err().to_string().contains("chunk_rows"));
    let _ = std::fs::remove_file(path);
}

#[test]
fn online_em_comes_within_a_hundredth_of_a_nat_of_exact_em() {
    let data = points(20_000, 5);
    let x = data.to_tensor(&device());
    let config = GmmConfig::new(3).with_tol(1e-7).with_max_iter(500);
    let exact = config.fit(&x).unwrap().score(&x).unwrap();
    // Batches of 500 points: 40 updates a pass, three passes.
    let streaming = Streaming {
        chunk_rows: 500,
        init_rows: 2000,
    };
    let online = config
        .fit_online(&data, streaming, OnlineEm::default(), &device(), |_| {})
        .unwrap();
    let report = online.fit.as_ref().unwrap();
    assert_eq!(report.lower_bounds.len(), 3);
    let score = online.score(&x).unwrap();
    assert!(
        (report.lower_bound - score).abs() < 1e-4,
        "{} against {score}",
        report.lower_bound
    );
    assert!(score > exact - 0.01, "online {score} against exact {exact}");
    // The first pass starts from the initialisation: later passes do better.
    assert!(
        report.lower_bounds[2] > report.lower_bounds[0],
        "{:?}",
        report.lower_bounds
    );
    for decay in [0.5, 1.5] {
        let bad = config.fit_online(
            &data,
            streaming,
            OnlineEm { epochs: 3, decay },
            &device(),
            |_| {},
        );
        assert!(bad.unwrap_err().to_string().contains("κ in (0.5, 1]"));
    }
}
