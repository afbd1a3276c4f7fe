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
    // Three 2-D blobs: 3,000 points to fit, 1,000 held out.
    let truth = MixtureSpec::blobs(3, 2, 12.0, 0)?;
    let (x, x_test) = (truth.sample(3000, 1)?.0, truth.sample(1000, 2)?.0);
    let (x, x_test) = (x.to_tensor(&device), x_test.to_tensor(&device));

    let gmm = GmmConfig::new(3)
        .with_covariance_type(CovarianceType::Full)
        .with_n_init(3)
        .fit(&x)?;
    let held_out = gmm.fit_figures(&x_test)?;
    println!(
        "held-out mean log-likelihood {:.4} nats, BIC {:.1}",
        held_out.mean_log_likelihood, held_out.bic
    );
    println!(
        "components of the first held-out points: {:?}",
        &gmm.predict_labels(&x_test)?[..10]
    );
    let (samples, components) = gmm.sample(3, 0)?;
    println!(
        "3 samples {:?} from components {components:?}",
        samples.values()
    );

    let ks = [1, 2, 3, 4, 5];
    let choice = select(
        &x,
        &GmmConfig::new(1),
        &ks,
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
