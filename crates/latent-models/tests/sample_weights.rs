//! Sample weights in the mixtures: point n counts w_n times. Integer weights must fit what
//! repeating the points fits, a zero weight what dropping the point fits, and EM with weights
//! must still never lower its (weighted) lower bound.

use burn::tensor::{Tensor, TensorData};
use latent_data::MixtureSpec;
use latent_models::{Bmm, BmmConfig, CovarianceType, GmmConfig, InitMethod, ModelError};

mod common;

use common::{close, device, same_bounds, same_fit};

/// `n` points of three overlapping 2-D components, as host rows.
fn points(n: usize, seed: u64) -> Vec<Vec<f64>> {
    let spec = MixtureSpec {
        weights: vec![0.5, 0.3, 0.2],
        means: vec![vec![0.0, 0.0], vec![2.5, 1.0], vec![-1.0, 3.0]],
        covariances: vec![
            vec![vec![1.0, 0.4], vec![0.4, 0.8]],
            vec![vec![0.6, 0.0], vec![0.0, 1.4]],
            vec![vec![0.5, -0.2], vec![-0.2, 0.7]],
        ],
    };
    let points = spec.sample(n, seed).unwrap().0;
    (0..points.len()).map(|i| points.row(i).to_vec()).collect()
}

fn tensor(rows: &[Vec<f64>]) -> Tensor<2> {
    let d = rows[0].len();
    let values: Vec<f32> = rows.iter().flatten().map(|v| *v as f32).collect();
    Tensor::from_data(TensorData::new(values, [rows.len(), d]), &device())
}

/// Weights 0, 1, 2 or 3 by a fixed pattern (not all equal, some zero).
fn integer_weights(n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i * 7 + 3) % 4) as f64).collect()
}

/// Every point repeated as many times as its (integer) weight.
fn repeated(rows: &[Vec<f64>], weights: &[f64]) -> Vec<Vec<f64>> {
    rows.iter()
        .zip(weights)
        .flat_map(|(r, w)| std::iter::repeat_n(r.clone(), *w as usize))
        .collect()
}

/// The same start for both fits, so that only EM is compared: given weights, means and
/// precisions in the layout of `kind`.
fn given_start(kind: CovarianceType) -> GmmConfig {
    let precisions = match kind {
        CovarianceType::Full => [1.0, 0.0, 0.0, 1.0].repeat(3),
        CovarianceType::Tied => vec![1.0, 0.0, 0.0, 1.0],
        CovarianceType::Diag => vec![1.0; 6],
        CovarianceType::Spherical => vec![1.0; 3],
    };
    GmmConfig::new(3)
        .with_covariance_type(kind)
        .with_weights_init(vec![0.4, 0.3, 0.3])
        .with_means_init(vec![vec![-0.5, 0.0], vec![2.0, 0.5], vec![0.0, 2.5]])
        .with_precisions_init(precisions)
        .with_tol(1e-12)
        .with_max_iter(MAX_ITER)
}

/// Comparisons run a fixed number of iterations with a tolerance far below float32 noise, so
/// that neither fit stops early by `tol` at the noise level. Ten: near convergence the
/// likelihood of these overlapping components is so flat (changes of 1e-7 nats) that float32
/// rounding moves the parameters by 1e-4 either way, in weighted and repeated fits alike.
const MAX_ITER: usize = 10;

#[test]
fn integer_weights_fit_what_repeating_the_points_fits() {
    let rows = points(300, 3);
    let weights = integer_weights(rows.len());
    let copies = repeated(&rows, &weights);
    assert!(copies.len() > rows.len(), "some points repeat");
    for kind in CovarianceType::ALL {
        let config = given_start(kind);
        let weighted = config.fit_weighted(&tensor(&rows), &weights).unwrap();
        let plain = config.fit(&tensor(&copies)).unwrap();
        same_fit(&weighted, &plain, 2e-5, kind.name());
        // And the weights matter: the unweighted fit of the same points is another one.
        let unweighted = config.fit(&tensor(&rows)).unwrap();
        let gap = (unweighted.weights[0] - weighted.weights[0]).abs()
            + (unweighted.means[1][0] - weighted.means[1][0]).abs();
        assert!(gap > 1e-3, "{kind}: weights changed nothing ({gap})");
    }
}

#[test]
fn a_zero_weight_fits_what_dropping_the_point_fits_from_any_initialisation() {
    let rows = points(240, 5);
    // Weights 0.5–2.0 on most points, 0 on every fifth.
    let weights: Vec<f64> = (0..rows.len())
        .map(|i| {
            if i % 5 == 2 {
                0.0
            } else {
                0.5 + (i % 4) as f64 * 0.5
            }
        })
        .collect();
    let kept: Vec<usize> = (0..rows.len()).filter(|i| weights[*i] > 0.0).collect();
    let kept_rows: Vec<Vec<f64>> = kept.iter().map(|i| rows[*i].clone()).collect();
    let kept_weights: Vec<f64> = kept.iter().map(|i| weights[*i]).collect();
    for init in [
        InitMethod::Kmeans,
        InitMethod::KmeansPlusPlus,
        InitMethod::RandomFromData,
    ] {
        for kind in [CovarianceType::Full, CovarianceType::Diag] {
            // k-means++ draws in proportion to the weights and random-from-data among the
            // points of positive weight, so a zero-weight point is never drawn and does not
            // shift the draws of the others: the fits are the same from the first step.
            let config = GmmConfig::new(3)
                .with_covariance_type(kind)
                .with_init(init)
                .with_seed(11)
                .with_tol(1e-12)
                .with_max_iter(MAX_ITER);
            let with_zeros = config.fit_weighted(&tensor(&rows), &weights).unwrap();
            let dropped = config
                .fit_weighted(&tensor(&kept_rows), &kept_weights)
                .unwrap();
            same_fit(
                &with_zeros,
                &dropped,
                2e-5,
                &format!("{kind} {}", init.name()),
            );
        }
    }
}

#[test]
fn weighted_em_never_lowers_its_lower_bound() {
    let rows = points(600, 8);
    let weights: Vec<f64> = (0..rows.len())
        .map(|i| 0.1 + ((i * 13) % 10) as f64 / 3.0)
        .collect();
    for kind in CovarianceType::ALL {
        for init in [InitMethod::Kmeans, InitMethod::Random] {
            let model = GmmConfig::new(3)
                .with_covariance_type(kind)
                .with_init(init)
                .with_tol(1e-9)
                .with_max_iter(60)
                .fit_weighted(&tensor(&rows), &weights)
                .unwrap();
            let bounds = &model.fit.as_ref().unwrap().lower_bounds;
            assert!(bounds.len() > 3, "{kind}: {} iterations", bounds.len());
            for pair in bounds.windows(2) {
                // Float32 E-steps: allow rounding-level wobble near convergence.
                assert!(
                    pair[1] >= pair[0] - 1e-5 * pair[0].abs().max(1.0),
                    "{kind} {}: {} then {}",
                    init.name(),
                    pair[0],
                    pair[1]
                );
            }
        }
    }
}

#[test]
fn equal_weights_are_the_unweighted_fit_to_the_bit() {
    let rows = points(200, 2);
    let config = GmmConfig::new(3).with_seed(4);
    let plain = config.fit(&tensor(&rows)).unwrap();
    let equal = config
        .fit_weighted(&tensor(&rows), &vec![2.5; rows.len()])
        .unwrap();
    assert_eq!(plain.weights, equal.weights);
    assert_eq!(plain.means, equal.means);
    assert_eq!(plain.covariances, equal.covariances);
}

#[test]
fn bad_weights_are_refused_with_what_is_wrong() {
    let rows = points(20, 1);
    let x = tensor(&rows);
    let config = GmmConfig::new(3);
    let refused = |weights: Vec<f64>, needle: &str| {
        for message in [
            config.fit_weighted(&x, &weights).unwrap_err().to_string(),
            BmmConfig::new(3)
                .fit_weighted(&tensor(&vec![vec![0.0, 1.0]; 20]), &weights)
                .unwrap_err()
                .to_string(),
        ] {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
    };
    refused(vec![1.0; 19], "19 sample weights for 20 points");
    let mut negative = vec![1.0; 20];
    negative[6] = -1.0;
    refused(negative, "sample weight 7 (point 7, counting from 1) is -1");
    let mut nan = vec![1.0; 20];
    nan[0] = f64::NAN;
    refused(nan, "is NaN");
    let mut two = vec![0.0; 20];
    two[3] = 1.0;
    two[9] = 2.0;
    refused(two, "only 2 of the 20 sample weights are positive");
    assert!(matches!(
        config.fit_weighted(&x, &[0.0; 20]),
        Err(ModelError::InvalidData(_))
    ));
}

/// Binary points: three 12-pixel prototypes with each pixel flipped with probability 0.15.
fn binary_rows(n: usize) -> Vec<Vec<f64>> {
    let mut state = 7u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            (0..12)
                .map(|j| {
                    let on = j / 4 == i % 3;
                    if (uniform() < 0.15) != on {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect()
}

fn same_bmm(a: &Bmm, b: &Bmm, tol: f64, what: &str) {
    close(&a.weights, &b.weights, tol, &format!("{what}: weights"));
    close(
        &a.probs.concat(),
        &b.probs.concat(),
        tol,
        &format!("{what}: probs"),
    );
    same_bounds(&a.lower_bounds, &b.lower_bounds, tol, what);
}

#[test]
fn the_bernoulli_mixture_weighs_points_as_the_gaussian_one() {
    let rows = binary_rows(300);
    let weights: Vec<f64> = (0..rows.len())
        .map(|i| {
            if i % 6 == 1 {
                0.0
            } else {
                1.0 + (i % 3) as f64
            }
        })
        .collect();
    let kept: Vec<usize> = (0..rows.len()).filter(|i| weights[*i] > 0.0).collect();
    let kept_rows: Vec<Vec<f64>> = kept.iter().map(|i| rows[*i].clone()).collect();
    let kept_weights: Vec<f64> = kept.iter().map(|i| weights[*i]).collect();
    for init in [InitMethod::Kmeans, InitMethod::RandomFromData] {
        let config = BmmConfig::new(3)
            .with_init(init)
            .with_tol(1e-12)
            .with_max_iter(MAX_ITER)
            .with_seed(2);
        let with_zeros = config.fit_weighted(&tensor(&rows), &weights).unwrap();
        let dropped = config
            .fit_weighted(&tensor(&kept_rows), &kept_weights)
            .unwrap();
        // 1e-4: float32 sums over 300 and 250 points differ in their last bits, and EM
        // carries that through its iterations.
        same_bmm(&with_zeros, &dropped, 1e-4, init.name());
        for pair in with_zeros.lower_bounds.windows(2) {
            assert!(pair[1] >= pair[0] - 1e-5 * pair[0].abs(), "{pair:?}");
        }
    }
    // One component: p_d = (Σ_n w_n x_nd + a) / (Σ_n w_n + 2a) exactly, as for the repeated
    // points.
    let single = BmmConfig::new(1)
        .fit_weighted(&tensor(&rows), &weights)
        .unwrap();
    let copies = repeated(&rows, &weights);
    let plain = BmmConfig::new(1).fit(&tensor(&copies)).unwrap();
    let a = BmmConfig::new(1).smoothing;
    let total: f64 = weights.iter().sum();
    let direct: Vec<f64> = (0..12)
        .map(|j| {
            let ones: f64 = rows.iter().zip(&weights).map(|(r, w)| w * r[j]).sum();
            (ones + a) / (total + 2.0 * a)
        })
        .collect();
    close(&single.probs[0], &direct, 1e-5, "K = 1 against the formula");
    close(&plain.probs[0], &direct, 1e-5, "K = 1 on repeated points");
}
