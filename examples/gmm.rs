//! A Gaussian mixture fitted, scored, sampled and selected, scikit-learn style.
//!
//! ```sh
//! cargo run --release -p latent --example gmm
//! ```

use burn::tensor::Device;
use latent_data::MixtureSpec;
use latent_models::gmm::{select, Criterion};
use latent_models::{CovarianceType, GmmConfig, Mixture};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::flex();
    // 3,000 points from three well-separated 2-D blobs, and 1,000 more held out.
    let truth = MixtureSpec::blobs(3, 2, 12.0, 0)?;
    let (train, _) = truth.sample(3000, 1)?;
    let (test, labels) = truth.sample(1000, 2)?;
    let (x, x_test) = (train.to_tensor(&device), test.to_tensor(&device));

    let gmm = GmmConfig::new(3)
        .with_covariance_type(CovarianceType::Full)
        .with_n_init(3)
        .with_seed(0)
        .fit(&x)?;
    let held_out = gmm.fit_figures(&x_test)?;
    println!(
        "K = 3 full: held-out mean log-likelihood {:.4} nats, BIC {:.1}",
        held_out.mean_log_likelihood, held_out.bic
    );
    // Components recovered: held-out points grouped as the mixture that drew them.
    let predicted = gmm.predict_labels(&x_test)?;
    let agree = pairs_agreeing(&predicted, &labels);
    println!("pairs of held-out points grouped alike by model and truth: {agree:.3}");

    let (samples, _) = gmm.sample(5, 3)?;
    println!(
        "5 samples: {:?}",
        samples.values().chunks(2).collect::<Vec<_>>()
    );

    let choice = select(
        &x,
        &GmmConfig::new(1),
        &[1, 2, 3, 4, 5],
        &CovarianceType::ALL,
        Criterion::Bic,
        |_| {},
    )?;
    let best = &choice.best().model;
    println!(
        "best by BIC: K = {} ({})",
        best.n_components(),
        best.covariance_type.name()
    );
    Ok(())
}

/// The fraction of pairs (i, j) that both labelings put together or both put apart (the Rand
/// index, blind to how components are numbered).
fn pairs_agreeing(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len().min(200);
    let (mut same, mut all) = (0usize, 0usize);
    for i in 0..n {
        for j in i + 1..n {
            same += usize::from((a[i] == a[j]) == (b[i] == b[j]));
            all += 1;
        }
    }
    same as f64 / all as f64
}
