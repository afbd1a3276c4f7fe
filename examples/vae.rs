//! The built-in VAE from Rust code, without the trainer: built from its configuration, trained
//! by a loop of your own on MNIST, saved, loaded back, and sampled to a PNG.
//!
//! ```sh
//! cargo run --release -p latent --example vae -- --steps 500 --out runs/vae-example
//! ```

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use latent_data::{Mnist, MnistBatcher, Split};
use latent_models::{LatentVariableModel, VaeConfig};
use latent_viz::Grid;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (steps, out) = args()?;
    std::fs::create_dir_all(&out)?;
    let device = Device::flex();
    let train = Mnist::load(
        &latent_data::default_mnist_dir(),
        Split::Train,
        Some(10_000),
    )?;

    // 784-400-20 with Bernoulli pixels (PyTorch's example), weights drawn from seed 0.
    let config = VaeConfig::default();
    let autodiff = device.clone().autodiff();
    autodiff.seed(0);
    let mut vae = config.init_vae(&autodiff, 0)?;
    let mut optim = AdamConfig::new().init();
    let batcher = MnistBatcher::dynamic(0);
    for step in 0..steps {
        let start = (step * 128) % (train.len() - 128);
        let x = batcher.images(&train, start..start + 128, &autodiff);
        let terms = vae.elbo_terms(x, 1.0);
        if step % 100 == 0 || step + 1 == steps {
            println!(
                "step {step}: −ELBO {:.2}",
                terms.loss.clone().into_scalar::<f32>()
            );
        }
        let grads = GradientsParams::from_grads(terms.loss.backward(), &vae);
        vae = optim.step(1e-3, vae, grads);
    }

    // Saved and loaded back into a freshly built model of the same configuration.
    let weights = out.join("vae.bpk");
    vae.valid().save_file(&weights)?;
    let loaded = config.init_vae(&device, 1)?.load_file(&weights);

    device.seed(0);
    let samples = loaded.decode_mean(loaded.sample_prior(64, &device));
    let png = out.join("samples.png");
    Grid::mnist(8).write_png(&samples.try_into_vec_as::<f32>()?, &png)?;
    println!("wrote {} and {}", weights.display(), png.display());
    Ok(())
}

/// `--steps N` (500) and `--out DIR` (runs/vae-example).
fn args() -> Result<(usize, std::path::PathBuf), String> {
    let (mut steps, mut out) = (500, std::path::PathBuf::from("runs/vae-example"));
    let given: Vec<String> = std::env::args().skip(1).collect();
    for pair in given.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--steps", Some(v)) => steps = v.parse().map_err(|e| format!("--steps: {e}"))?,
            ("--out", Some(v)) => out = v.into(),
            (flag, _) => return Err(format!("unknown option or missing value: {flag}")),
        }
    }
    Ok((steps, out))
}
