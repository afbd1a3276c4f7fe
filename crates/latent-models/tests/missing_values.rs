//! Missing values (NaN) in the Gaussian mixture: densities of the observed coordinates with
//! the others marginalised out, checked against direct computation; EM for incomplete data
//! never lowering the observed-data likelihood; planted parameters recovered with a fifth of
//! the entries missing; conditional-mean imputation; clear errors.

use burn::tensor::{Device, Tensor, TensorData};
use latent_data::MixtureSpec;
use latent_models::{BmmConfig, CovarianceType, Gmm, GmmConfig, Mixture};

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

fn tensor(values: &[f64], d: usize) -> Tensor<2> {
    let v: Vec<f32> = values.iter().map(|v| *v as f32).collect();
    Tensor::from_data(TensorData::new(v, [values.len() / d, d]), &device())
}

fn host(t: Tensor<1>) -> Vec<f64> {
    t.try_into_vec_as::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn host2(t: Tensor<2>) -> Vec<f64> {
    t.try_into_vec_as::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

const NAN: f64 = f64::NAN;

/// A two-component 3-D model of each covariance type with correlated full covariances.
fn model(kind: CovarianceType) -> Gmm {
    let full = [
        [2.0, 0.6, -0.3, 0.6, 1.0, 0.2, -0.3, 0.2, 0.5],
        [1.0, -0.4, 0.0, -0.4, 0.8, 0.3, 0.0, 0.3, 1.5],
    ];
    let covariances = match kind {
        CovarianceType::Full => full.concat(),
        CovarianceType::Tied => full[0].to_vec(),
        CovarianceType::Diag => vec![2.0, 1.0, 0.5, 1.0, 0.8, 1.5],
        CovarianceType::Spherical => vec![1.2, 0.7],
    };
    Gmm::from_parameters(
        kind,
        vec![0.35, 0.65],
        vec![vec![1.0, -1.0, 0.5], vec![-2.0, 0.5, 3.0]],
        covariances,
    )
    .unwrap()
}

/// log N(x; μ, Σ) for the coordinates `keep`, with Σ's sub-matrix inverted by Gauss–Jordan
/// elimination: an independent computation of the marginal density.
fn direct_log_normal(x: &[f64], mean: &[f64], cov: &[f64], d: usize, keep: &[usize]) -> f64 {
    let m = keep.len();
    let mut a: Vec<f64> = keep
        .iter()
        .flat_map(|&r| keep.iter().map(move |&c| cov[r * d + c]))
        .collect();
    let mut inv: Vec<f64> = (0..m * m)
        .map(|i| if i / m == i % m { 1.0 } else { 0.0 })
        .collect();
    let mut det = 1.0;
    for col in 0..m {
        let pivot = a[col * m + col];
        det *= pivot;
        for j in 0..m {
            a[col * m + j] /= pivot;
            inv[col * m + j] /= pivot;
        }
        for row in 0..m {
            if row != col {
                let f = a[row * m + col];
                for j in 0..m {
                    a[row * m + j] -= f * a[col * m + j];
                    inv[row * m + j] -= f * inv[col * m + j];
                }
            }
        }
    }
    let diff: Vec<f64> = keep.iter().map(|&j| x[j] - mean[j]).collect();
    let quad: f64 = (0..m)
        .map(|r| {
            (0..m)
                .map(|c| diff[r] * inv[r * m + c] * diff[c])
                .sum::<f64>()
        })
        .sum();
    -0.5 * (m as f64 * (2.0 * std::f64::consts::PI).ln() + det.ln() + quad)
}

#[test]
fn densities_of_incomplete_points_are_the_marginals_of_their_observed_coordinates() {
    let points = [
        [0.5, NAN, 1.0],
        [NAN, NAN, 2.5],
        [-1.0, 0.3, NAN],
        [NAN, 1.0, -0.5],
        [0.2, -0.7, 1.9],
    ];
    for kind in CovarianceType::ALL {
        let gmm = model(kind);
        let x = tensor(&points.concat(), 3);
        let scores = host(gmm.score_samples(&x).unwrap());
        let proba = host2(gmm.predict_proba(&x).unwrap());
        for (i, p) in points.iter().enumerate() {
            let keep: Vec<usize> = (0..3).filter(|j| !p[*j].is_nan()).collect();
            let joint: Vec<f64> = (0..2)
                .map(|k| {
                    gmm.weights[k].ln()
                        + direct_log_normal(p, &gmm.means[k], &gmm.covariance_matrix(k), 3, &keep)
                })
                .collect();
            let top = joint[0].max(joint[1]);
            let direct = top + joint.iter().map(|j| (j - top).exp()).sum::<f64>().ln();
            assert!(
                (scores[i] - direct).abs() < 1e-4,
                "{kind} point {i}: {} against {direct}",
                scores[i]
            );
            for k in 0..2 {
                let want = (joint[k] - direct).exp();
                assert!((proba[i * 2 + k] - want).abs() < 1e-5, "{kind} {i} {k}");
            }
        }
        // The complete point scores as it does alone, through the complete-data path.
        let alone = host(gmm.score_samples(&tensor(&points[4], 3)).unwrap());
        assert!((alone[0] - scores[4]).abs() < 1e-4, "{kind}");
    }
}

#[test]
fn imputation_is_the_conditional_mean() {
    // One full 2-D Gaussian: E[x_2 | x_1] = μ_2 + σ_12 / σ_11 (x_1 − μ_1).
    let gmm = Gmm::from_parameters(
        CovarianceType::Full,
        vec![1.0],
        vec![vec![1.0, -2.0]],
        vec![2.0, 1.2, 1.2, 1.5],
    )
    .unwrap();
    let x = tensor(&[3.0, NAN, NAN, 0.5, 0.25, 0.75], 2);
    let filled = host2(gmm.impute(&x).unwrap());
    let want = [
        3.0,
        -2.0 + 0.6 * 2.0,
        1.0 + 1.2 / 1.5 * 2.5,
        0.5,
        0.25,
        0.75,
    ];
    for (got, want) in filled.iter().zip(want) {
        assert!((got - want).abs() < 1e-5, "{filled:?} against {want:?}");
    }
    // Two components: the responsibilities of the observed coordinate mix the two
    // conditional means; a point far on one side takes that component's.
    let gmm = model(CovarianceType::Full);
    let far = host2(gmm.impute(&tensor(&[NAN, NAN, 9.0], 3)).unwrap());
    let c = gmm.covariance_matrix(1);
    let (s02, s12, s22) = (c[2], c[5], c[8]);
    let want = [
        gmm.means[1][0] + s02 / s22 * (9.0 - gmm.means[1][2]),
        gmm.means[1][1] + s12 / s22 * (9.0 - gmm.means[1][2]),
    ];
    assert!(
        (far[0] - want[0]).abs() < 1e-3 && (far[1] - want[1]).abs() < 1e-3,
        "{far:?}"
    );
}

/// `n` points of three separated 3-D components with full covariances.
fn planted() -> MixtureSpec {
    MixtureSpec {
        weights: vec![0.5, 0.3, 0.2],
        means: vec![
            vec![0.0, 0.0, 0.0],
            vec![6.0, 1.0, -2.0],
            vec![-3.0, 5.0, 4.0],
        ],
        covariances: vec![
            vec![
                vec![1.0, 0.6, 0.2],
                vec![0.6, 1.0, 0.3],
                vec![0.2, 0.3, 1.0],
            ],
            vec![
                vec![2.0, -0.5, 0.0],
                vec![-0.5, 0.8, 0.0],
                vec![0.0, 0.0, 0.5],
            ],
            vec![
                vec![0.7, 0.0, 0.3],
                vec![0.0, 1.5, -0.6],
                vec![0.3, -0.6, 1.2],
            ],
        ],
    }
}

/// The points with each entry missing with probability `fraction` (seeded; at least one
/// coordinate kept per point).
fn with_missing(values: &[f64], d: usize, fraction: f64, seed: u64) -> Vec<f64> {
    let mut state = seed;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut out = values.to_vec();
    for row in out.chunks_mut(d) {
        let keep = (uniform() * d as f64) as usize;
        for (j, v) in row.iter_mut().enumerate() {
            if j != keep && uniform() < fraction * d as f64 / (d - 1) as f64 {
                *v = NAN;
            }
        }
    }
    out
}

#[test]
fn em_with_missing_values_never_lowers_the_observed_likelihood() {
    let spec = planted();
    let points = spec.sample(600, 2).unwrap().0;
    let values = with_missing(points.values(), 3, 0.2, 5);
    let x = tensor(&values, 3);
    for kind in CovarianceType::ALL {
        let model = GmmConfig::new(3)
            .with_covariance_type(kind)
            .with_tol(1e-9)
            .with_max_iter(40)
            .fit(&x)
            .unwrap();
        let bounds = &model.fit.as_ref().unwrap().lower_bounds;
        assert!(bounds.len() > 2, "{kind}");
        for pair in bounds.windows(2) {
            assert!(
                pair[1] >= pair[0] - 1e-9,
                "{kind}: {} then {}",
                pair[0],
                pair[1]
            );
        }
        // The bound is the observed-data likelihood of the parameters it was computed with:
        // scoring the data under the fitted model continues the sequence upwards.
        let score = model.score(&x).unwrap();
        assert!(score >= bounds[bounds.len() - 1] - 1e-4, "{kind}: {score}");
    }
}

/// Mean absolute error of weights, means and covariances against the planted mixture, with
/// components matched by their nearest means.
fn errors(model: &Gmm, spec: &MixtureSpec) -> (f64, f64, f64) {
    let d = 3;
    let (mut w, mut m, mut c) = (0.0, 0.0, 0.0);
    for (k, mean) in spec.means.iter().enumerate() {
        let j = (0..3)
            .min_by(|a, b| {
                let dist = |i: usize| -> f64 {
                    model.means[i]
                        .iter()
                        .zip(mean)
                        .map(|(x, y)| (x - y).powi(2))
                        .sum()
                };
                dist(*a).total_cmp(&dist(*b))
            })
            .unwrap();
        w += (model.weights[j] - spec.weights[k]).abs() / 3.0;
        m += model.means[j]
            .iter()
            .zip(mean)
            .map(|(x, y)| (x - y).abs())
            .sum::<f64>()
            / 9.0;
        let cov = model.covariance_matrix(j);
        c += (0..d * d)
            .map(|i| (cov[i] - spec.covariances[k][i / d][i % d]).abs())
            .sum::<f64>()
            / 27.0;
    }
    (w, m, c)
}

#[test]
fn planted_parameters_are_recovered_with_a_fifth_of_the_entries_missing() {
    let spec = planted();
    let points = spec.sample(4000, 7).unwrap().0;
    let values = with_missing(points.values(), 3, 0.2, 11);
    let missing = values.iter().filter(|v| v.is_nan()).count() as f64 / values.len() as f64;
    assert!((missing - 0.2).abs() < 0.02, "{missing}");
    let config = GmmConfig::new(3).with_n_init(2).with_tol(1e-6);
    let model = config.fit(&tensor(&values, 3)).unwrap();
    let (w, m, c) = errors(&model, &spec);
    assert!(
        w < 0.02 && m < 0.08 && c < 0.1,
        "weights {w}, means {m}, covariances {c}"
    );
    // Filling the holes with column means instead and fitting as if complete shrinks the
    // covariances and biases the means: marginalising must do better.
    let mut means = [0.0; 3];
    let mut counts = [0.0; 3];
    for row in values.chunks(3) {
        for j in 0..3 {
            if !row[j].is_nan() {
                means[j] += row[j];
                counts[j] += 1.0;
            }
        }
    }
    let filled: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if v.is_nan() {
                means[i % 3] / counts[i % 3]
            } else {
                *v
            }
        })
        .collect();
    let naive = config.fit(&tensor(&filled, 3)).unwrap();
    let (_, naive_m, naive_c) = errors(&naive, &spec);
    assert!(
        naive_m + naive_c > 2.0 * (m + c),
        "naive {naive_m} + {naive_c}, EM {m} + {c}"
    );
    // Imputing the held-back entries with the fitted model beats the column means.
    let imputed = host2(model.impute(&tensor(&values, 3)).unwrap());
    let (mut ours, mut column) = (0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        if v.is_nan() {
            ours += (imputed[i] - points.values()[i]).powi(2);
            column += (filled[i] - points.values()[i]).powi(2);
        }
    }
    assert!(
        ours < 0.5 * column,
        "squared error {ours} against column means {column}"
    );
}

#[test]
fn points_without_any_value_and_nan_in_the_bernoulli_mixture_are_refused() {
    let x = tensor(&[1.0, 2.0, NAN, NAN, 0.5, 1.5, 2.0, 0.0], 2);
    let err = GmmConfig::new(1).fit(&x).unwrap_err().to_string();
    assert!(
        err.contains("point 2 (counting from 1) is missing every coordinate"),
        "{err}"
    );
    let gmm = model(CovarianceType::Diag);
    let err = gmm
        .score_samples(&tensor(&[NAN, NAN, NAN], 3))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing every coordinate"), "{err}");
    let column = tensor(&[1.0, NAN, 2.0, NAN], 2);
    let err = GmmConfig::new(1).fit(&column).unwrap_err().to_string();
    assert!(err.contains("column 2 has no observed value"), "{err}");
    let err = BmmConfig::new(1)
        .fit(&tensor(&[1.0, NAN, 0.0, 1.0], 2))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing values (NaN)"), "{err}");
}
