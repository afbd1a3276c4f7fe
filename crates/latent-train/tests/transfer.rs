//! Transfer on small budgets: fine-tuning beats scratch at equal N and steps (over seeds), a
//! frozen encoder stays bit for bit, and bad studies fail clearly.

mod common;

use latent_data::{MnistBatcher, Split};
use latent_models::VaeConfig;
use latent_train::transfer::{run_transfer, TransferConfig};
use latent_train::{load_vae, ModelKind, TrainConfig};

use common::{device, scratch, serial};

/// Digits 0–4 as the source, 5–9 as the target; a small model and budget.
fn study() -> TransferConfig {
    let mnist_dir = latent_data::default_mnist_dir();
    TransferConfig {
        base: TrainConfig {
            model: VaeConfig {
                hidden: vec![128],
                latent: 8,
                ..VaeConfig::default()
            },
            batch_size: 50,
            ..TrainConfig::new(ModelKind::Vae, mnist_dir)
        },
        source: "mnist:classes=0-4".into(),
        target: "mnist:classes=5-9".into(),
        target_sizes: vec![100],
        seeds: 3,
        source_epochs: 3,
        source_limit: Some(3000),
        target_epochs: 3,
        iw_samples: 10,
        eval_limit: 300,
        probe_limit: 1000,
        probe_steps: 100,
    }
}

#[test]
fn fine_tuning_beats_scratch_and_a_frozen_encoder_does_not_move() {
    let _serial = serial();
    let out = scratch("study");
    let report = run_transfer(&study(), &out, None, &device(), |_| {}).unwrap();
    assert_eq!(report.runs.len(), 3);
    // Equal N, equal steps, equal seeds: the fine-tuned model's target ELBO is higher for
    // every seed, and the mean gain is far outside the seed-to-seed spread.
    let gains: Vec<f64> = report
        .runs
        .iter()
        .map(|r| r.fine_tuned.elbo - r.scratch.elbo)
        .collect();
    assert!(gains.iter().all(|g| *g > 0.0), "{gains:?}");
    let mean = gains.iter().sum::<f64>() / 3.0;
    let sd = (gains.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!(mean > 3.0 * sd / 3f64.sqrt(), "gain {mean} ± {sd}");
    // Bounds in the right order for every model: −log p(x) ≤ −ELBO.
    for r in &report.runs {
        for f in [r.scratch, r.fine_tuned, r.decoder_only] {
            assert!(f.nll <= -f.elbo + 1e-6, "{f:?}");
        }
    }
    assert_eq!(report.few_label_probes.len(), 1);
    assert!(report.cross_probes.is_empty(), "0–4 and 5–9 share no class");
    assert!(out.join("transfer.json").is_file());

    // The decoder-only run kept the source encoder bit for bit and changed the decoder.
    let device = device();
    let (_, source) = load_vae(&out.join("source"), &device).unwrap();
    let (config, tuned) = load_vae(&out.join("n100-seed0/decoder-only"), &device).unwrap();
    assert!(config.freeze_encoder);
    let test = config.load_split(Split::Test, Some(20)).unwrap();
    let x = MnistBatcher::grey().images(&test, 0..20, &device);
    let bits = |t: burn::tensor::Tensor<2>| -> Vec<u32> {
        t.try_into_vec_as::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    let (a, b) = (source.posterior(x.clone()), tuned.posterior(x.clone()));
    assert_eq!(bits(a.mean.clone()), bits(b.mean.clone()));
    assert_eq!(bits(a.log_var), bits(b.log_var));
    assert_ne!(
        bits(source.decode_mean(a.mean.clone())),
        bits(tuned.decode_mean(a.mean))
    );
    // The fully fine-tuned run moved its encoder.
    let (_, full) = load_vae(&out.join("n100-seed0/fine-tuned"), &device).unwrap();
    assert_ne!(
        bits(source.posterior(x.clone()).mean),
        bits(full.posterior(x).mean)
    );

    // Rerunning the finished study reuses every run and reports the same figures.
    let again = run_transfer(&study(), &out, None, &device, |_| {}).unwrap();
    assert_eq!(again.runs, report.runs);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bad_studies_fail_clearly() {
    let _serial = serial();
    let out = scratch("bad");
    let too_many = TransferConfig {
        target_sizes: vec![100_000],
        ..study()
    };
    let err = run_transfer(&too_many, &out, None, &device(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("100000 target images"), "{err}");
    assert!(
        !out.join("source").exists(),
        "refused before training anything"
    );
    let bad_spec = TransferConfig {
        target: "mnist:rotate".into(),
        ..study()
    };
    let err = run_transfer(&bad_spec, &out, None, &device(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("rotate=DEG"), "{err}");
    let _ = std::fs::remove_dir_all(&out);
}
