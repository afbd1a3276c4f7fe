//! A Gaussian mixture fitted, scored, sampled and selected, scikit-learn style; then what
//! scikit-learn's `GaussianMixture` lacks: sample weights, missing values, the Bayesian
//! mixture and a fit streamed a chunk of rows at a time.
//!
//! ```sh
//! cargo run --release -p latent --example gmm
//! ```

use burn::tensor::Device;
use burn::tensor::{Tensor, TensorData};
use latent_data::MixtureSpec;
use latent_models::gmm::{select, Criterion, Streaming};
use latent_models::{BayesianPrior, CovarianceType, GmmConfig, Mixture, WeightPrior};

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

    // Sample weights: point n counts w_n times (here every other point twice).
    let points = truth.sample(3000, 1)?.0;
    let weights: Vec<f64> = (0..points.len()).map(|i| 1.0 + (i % 2) as f64).collect();
    let weighted = GmmConfig::new(3).fit_weighted(&x, &weights)?;
    println!("weighted fit: weights {:.3?}", weighted.weights);

    // Missing values: NaN entries are marginalised out, and imputed by conditional means.
    let mut holes: Vec<f32> = points.values().iter().map(|v| *v as f32).collect();
    holes.iter_mut().step_by(7).for_each(|v| *v = f32::NAN);
    let holey = Tensor::<2>::from_data(TensorData::new(holes, [points.len(), 2]), &device);
    let incomplete = GmmConfig::new(3).fit(&holey)?;
    let filled: Vec<f32> = incomplete.impute(&holey)?.try_into_vec_as::<f32>()?;
    println!(
        "with every 7th value missing: mean log-likelihood {:.4}; first point imputed as {:.3?}",
        incomplete.score(&holey)?,
        &filled[..2]
    );

    // The Bayesian mixture: offered 6 components, it keeps those the data need.
    let bayesian = GmmConfig::new(6)
        .with_bayesian(BayesianPrior {
            weight_concentration: Some(1e-3),
            ..BayesianPrior::new(WeightPrior::DirichletProcess)
        })
        .fit(&x)?;
    let report = bayesian.fit.as_ref().and_then(|f| f.bayesian.as_ref());
    println!(
        "Bayesian fit: {} effective components of 6",
        report.map_or(0, |r| r.effective_components)
    );

    // Exact EM a chunk of rows at a time, from any RowSource (here the points in memory; a
    // large .npy is latent_data::NpyRows::open(path)).
    let streaming = Streaming {
        chunk_rows: 500,
        init_rows: 10_000,
    };
    let streamed = GmmConfig::new(3).fit_streaming(&points, streaming, &device, |_| {})?;
    let in_memory = GmmConfig::new(3).fit(&x)?;
    let bound = |g: &latent_models::Gmm| g.fit.as_ref().map_or(f64::NAN, |f| f.lower_bound);
    println!(
        "streamed in chunks of 500: lower bound {:.6}, in memory {:.6}",
        bound(&streamed),
        bound(&in_memory)
    );
    Ok(())
}
