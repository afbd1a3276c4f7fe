//! Real-valued data of the user's: standardised with the training set's own statistics, and
//! −log p(x) in nats of the data as given — the standardisation's Jacobian accounted for, so
//! that rescaling the data by 10 moves every figure by exactly D · ln 10.

mod common;

use latent_data::points::encode_npy_f32;
use latent_data::{DataSource, Split};
use latent_models::{Likelihood, VaeConfig};
use latent_train::{
    evaluate_inputs_on, load_vae, EvalConfig, Inputs, ModelKind, NamedDevice, TrainConfig,
};

use common::{device, scratch, serial};

const ROWS: usize = 300;
const DIM: usize = 4;

/// `ROWS` × `DIM` correlated values of our own seeded generator, near 0 with unit-ish spread.
fn table() -> Vec<f32> {
    let mut state = 99u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut values = Vec::with_capacity(ROWS * DIM);
    for _ in 0..ROWS {
        let mut normal = || {
            let (u, v) = (uniform(), uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let z = normal();
        for d in 0..DIM {
            values.push((z * (d as f64 + 1.0) * 0.5 + normal()) as f32);
        }
    }
    values
}

#[test]
fn nats_are_those_of_the_data_as_given() {
    let _serial = serial();
    let dir = scratch("own-jacobian");
    std::fs::create_dir_all(&dir).unwrap();
    let x = table();
    let y: Vec<f32> = x.iter().map(|v| 10.0 * v + 100.0).collect();
    let (x_path, y_path) = (dir.join("x.npy"), dir.join("y.npy"));
    std::fs::write(&x_path, encode_npy_f32(&x, &[ROWS, DIM])).unwrap();
    std::fs::write(&y_path, encode_npy_f32(&y, &[ROWS, DIM])).unwrap();

    let mut config = TrainConfig::new(ModelKind::Vae, dir.clone());
    config.model = VaeConfig {
        hidden: vec![16],
        latent: 2,
        likelihood: Likelihood::GaussianLearned,
        ..VaeConfig::default()
    };
    config.data = DataSource::path(&x_path);
    config.epochs = 2;
    config.batch_size = 30;
    let run = dir.join("run");
    latent_train::train(&config, &run, &device(), false, None, |_| {}).unwrap();
    let (recorded, vae) = load_vae(&run, &device()).unwrap();

    // The standardisation is the training set's own (the held-out tenth not included).
    let (train, test) = recorded.load_data(None, None).unwrap();
    assert_eq!((train.len(), test.len()), (270, 30));
    let drawn = recorded
        .standardisation
        .clone()
        .expect("real values are standardised");
    let own = train.standardisation();
    assert_eq!(drawn, own);
    let full = recorded
        .data
        .load(&dir, Split::Train, None)
        .unwrap()
        .standardisation();
    assert_ne!(drawn, full, "the test rows are not part of it");

    // The same rows of y = 10 x + 100, standardised by y's training statistics: the same
    // standardised values, so the same model's nats differ by the Jacobian alone.
    let mut rescaled = recorded.clone();
    rescaled.data = DataSource::path(&y_path);
    let (train_y, test_y) = rescaled.load_data(None, None).unwrap();
    let inputs_y = Inputs {
        standardisation: Some(train_y.standardisation()),
        ..recorded.inputs()
    };
    let devices = [NamedDevice::new("ndarray", device())];
    let settings = EvalConfig::with_samples(50);
    let on_x = evaluate_inputs_on(&vae, &test, &recorded.inputs(), &settings, &devices).unwrap();
    let on_y = evaluate_inputs_on(&vae, &test_y, &inputs_y, &settings, &devices).unwrap();
    let jacobian = DIM as f64 * 10f64.ln();
    assert!(
        (on_y.nll - on_x.nll - jacobian).abs() < 1e-3,
        "−log p: {} on y, {} on x, D ln 10 = {jacobian}",
        on_y.nll,
        on_x.nll
    );
    assert!(
        (on_x.elbo - on_y.elbo - jacobian).abs() < 1e-3,
        "ELBO: {} on x, {} on y",
        on_x.elbo,
        on_y.elbo
    );
    // And log |det J| is −Σ log σ of the standardisation: what separates the figures from
    // those of the standardised values (which a report would otherwise give).
    let sum_log_sd: f64 = own.std.iter().map(|s| s.ln()).sum();
    assert!((recorded.inputs().log_jacobian() + sum_log_sd).abs() < 1e-9);
    std::fs::remove_dir_all(&dir).unwrap();
}
