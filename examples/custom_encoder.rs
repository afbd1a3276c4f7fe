//! A VAE with an encoder of your own, trained, resumed, evaluated and sampled through the
//! library — nothing here is privileged: the built-in networks are implementations of the same
//! `Encoder` trait.
//!
//! ```sh
//! cargo run --release -p latent --example custom_encoder -- --epochs 5 --out runs/residual
//! ```
//!
//! Options: `--epochs N` (5), `--limit N` training digits (all), `--iw-samples K` (500),
//! `--out DIR` (a new run directory; runs/residual).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{activation, Device, Tensor};
use latent_data::Split;
use latent_distributions::Normal;
use latent_models::vae::{Activation, Initializer, MlpDecoder, PixelLikelihood, StandardNormal};
use latent_models::{Encoder, LatentVariableModel, Vae};
use latent_train::figures::{write_examples, GRID_COLUMNS};
use latent_train::{
    cpu_replicas, evaluate_on, train_model, values, EvalConfig, ModelKind, ReplicaCount, RunDir,
    Start, TrainConfig,
};
use serde::{Deserialize, Serialize};

/// x ↦ h = relu(W₁x); h ↦ h + relu(W₂h), repeated `blocks` times; then the heads μ, log σ².
#[derive(Module, Debug)]
struct ResidualEncoder {
    input: Linear,
    blocks: Vec<Linear>,
    mean: Linear,
    log_var: Linear,
    #[module(skip)]
    latent: usize,
}

impl Encoder for ResidualEncoder {
    fn encode(&self, x: Tensor<2>) -> Normal {
        let mut h = activation::relu(self.input.forward(x));
        for block in &self.blocks {
            h = h.clone() + activation::relu(block.forward(h));
        }
        Normal::new(self.mean.forward(h.clone()), self.log_var.forward(h))
    }

    fn latent_dim(&self) -> usize {
        self.latent
    }
}

/// The model's configuration: what `config.json` records and the constructor reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ResidualConfig {
    hidden: usize,
    blocks: usize,
    latent: usize,
}

type ResidualVae = Vae<ResidualEncoder, MlpDecoder, PixelLikelihood, StandardNormal>;

/// Builds the model with weights drawn from `seed` (the same on every backend).
fn init(config: &ResidualConfig, device: &Device, seed: u64) -> latent_train::Result<ResidualVae> {
    let (h, z) = (config.hidden, config.latent);
    let mut weights = Initializer::new(device, seed);
    let encoder = ResidualEncoder {
        input: weights.linear(784, h),
        blocks: (0..config.blocks).map(|_| weights.linear(h, h)).collect(),
        mean: weights.linear(h, z),
        log_var: weights.linear(h, z),
        latent: z,
    };
    let decoder = MlpDecoder::new(z, &[h], 784, Activation::Relu, &mut weights);
    Ok(Vae::new(
        encoder,
        decoder,
        PixelLikelihood::bernoulli(),
        StandardNormal,
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    let device = Device::flex();
    // The CPU's threads shared out among data-parallel replicas, as `latent train` does.
    let devices = cpu_replicas("flex", &device, true, ReplicaCount::Auto, Some(128))?;
    let mut config = TrainConfig::with_model(
        ModelKind::Vae,
        ResidualConfig {
            hidden: 400,
            blocks: 2,
            latent: 20,
        },
        latent_data::default_mnist_dir(),
    );
    config.train_limit = args.limit;
    config.test_limit = args.limit.map(|n| n.min(1000));

    // Train all but the last epoch, then resume for the last: the run continues exactly.
    config.epochs = args.epochs.saturating_sub(1).max(1);
    let first = train_model(&config, &args.out, &devices, Start::Fresh, init, |_| {})?;
    config.epochs = args.epochs;
    let rest = train_model(&config, &args.out, &devices, Start::Resume, init, |_| {})?;
    for m in first.iter().chain(&rest) {
        println!(
            "epoch {}: train loss {:.2}, test −ELBO {:.2}",
            m.epoch, m.train_loss, m.test_neg_elbo
        );
    }

    // Back from the run directory through the same constructor; importance-sampled −log p(x).
    let run = RunDir::new(&args.out);
    let (config, vae) = run.load_trained(&device, init)?;
    let test = config.load_split(Split::Test, Some(args.eval_limit))?;
    let report = evaluate_on(
        &vae,
        &test,
        &EvalConfig::with_samples(args.iw_samples),
        &devices,
    )?;
    println!(
        "{} test digits: ELBO {:.2}, −log p(x) ≈ {:.2} nats (k = {}), active units {}/{}",
        report.images,
        report.elbo,
        report.nll,
        report.iw_samples,
        report.active_units,
        config.model.latent
    );

    device.seed(0);
    let samples = vae.decode_mean(vae.sample_prior(64, &device));
    let png = run.images()?.join("samples.png");
    write_examples(
        &values(samples)?,
        config.example_shape(),
        GRID_COLUMNS,
        &png,
    )?;
    println!("wrote {}", png.display());
    Ok(())
}

/// The command line: `--epochs N --limit N --iw-samples K --eval-limit N --out DIR`.
struct Args {
    epochs: usize,
    limit: Option<usize>,
    iw_samples: usize,
    eval_limit: usize,
    out: std::path::PathBuf,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut args = Args {
            epochs: 5,
            limit: None,
            iw_samples: 500,
            eval_limit: 1000,
            out: "runs/residual".into(),
        };
        let mut given = std::env::args().skip(1);
        while let Some(flag) = given.next() {
            let mut value = || given.next().ok_or(format!("{flag} needs a value"));
            let number = |text: String| text.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
            match flag.as_str() {
                "--epochs" => args.epochs = number(value()?)?.max(1),
                "--limit" => args.limit = Some(number(value()?)?),
                "--iw-samples" => args.iw_samples = number(value()?)?,
                "--eval-limit" => args.eval_limit = number(value()?)?,
                "--out" => args.out = value()?.into(),
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(args)
    }
}
