//! Runs on small MNIST slices: files written, exact resume, refused checkpoints, evaluation.

mod common;

use std::path::{Path, PathBuf};

use latent_data::{Mnist, Split};
use latent_models::VaeConfig;
use latent_train::{
    evaluate, evaluate_on, load_vae, shard_ranges, train, train_on, EpochMetrics, EvalConfig,
    ModelKind, NamedDevice, Strategy, TrainConfig, TrainError,
};

use common::{assert_same_epochs, device, metrics, scratch, serial};

fn mnist_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/mnist"))
}

fn small(kind: ModelKind, epochs: usize) -> TrainConfig {
    let mut config = TrainConfig::new(kind, mnist_dir());
    config.model = VaeConfig {
        hidden: vec![64],
        latent: 4,
        ..VaeConfig::default()
    };
    config.epochs = epochs;
    config.batch_size = 64;
    config.train_limit = Some(640);
    config.test_limit = Some(200);
    config.seed = 7;
    config
}

/// A fresh run of `config` into `dir`, or a continuation (`resume`) or warm start (`from`).
fn train_into(
    config: &TrainConfig,
    dir: &Path,
    resume: bool,
    from: Option<&Path>,
) -> Result<Vec<EpochMetrics>, TrainError> {
    train(config, dir, &device(), resume, from, |_| {})
}

#[test]
fn a_run_writes_its_directory_and_learns() {
    let _serial = serial();
    let run = scratch("basic");
    let got = train_into(&small(ModelKind::Vae, 3), &run, false, None).unwrap();
    assert_eq!(got.len(), 3);
    for file in [
        "config.json",
        "metrics.jsonl",
        "state.json",
        "summary.json",
        "checkpoints/model.bpk",
        "checkpoints/optimizer.bpk",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    assert_eq!(metrics(&run), got);
    // The test −ELBO falls from the first epoch to the last (543 nats would be p = ½ everywhere).
    assert!(got[2].test_neg_elbo < got[0].test_neg_elbo, "{got:?}");
    assert!(got[2].test_neg_elbo < 400.0, "{got:?}");
    for m in &got {
        assert!((m.test_neg_elbo - m.test_reconstruction - m.test_kl).abs() < 1e-3);
    }
    // A second run into the same directory is refused unless resumed.
    let err = train_into(&small(ModelKind::Vae, 3), &run, false, None).unwrap_err();
    assert!(
        matches!(err, TrainError::BadRun { .. }) && err.to_string().contains("--resume"),
        "{err}"
    );
    std::fs::remove_dir_all(&run).unwrap();
}

#[test]
fn resume_continues_exactly_as_an_uninterrupted_run() {
    let _serial = serial();
    let straight = scratch("straight");
    let resumed = scratch("resumed");
    // With a decaying learning rate, so the resumed epoch must also pick up the schedule.
    let decaying = |epochs| {
        let mut config = small(ModelKind::Vae, epochs);
        config.optimizer.lr_decay = 0.5;
        config
    };
    train_into(&decaying(2), &straight, false, None).unwrap();
    train_into(&decaying(1), &resumed, false, None).unwrap();
    train_into(&decaying(2), &resumed, true, None).unwrap();
    let (a, b) = (metrics(&straight), metrics(&resumed));
    assert_eq!(b.len(), 2);
    let lr = decaying(2).optimizer.lr;
    assert_eq!((b[0].lr, b[1].lr), (lr, lr * 0.5));
    assert_same_epochs(&a, &b, "straight and resumed");
    std::fs::remove_dir_all(&straight).unwrap();
    std::fs::remove_dir_all(&resumed).unwrap();
}

#[test]
fn corrupted_and_foreign_checkpoints_are_refused_clearly() {
    let _serial = serial();
    let run = scratch("corrupt");
    train_into(&small(ModelKind::Vae, 1), &run, false, None).unwrap();
    // Another architecture: the checkpoint does not fit.
    let other = scratch("other");
    let mut bigger = small(ModelKind::Vae, 1);
    bigger.model.latent = 8;
    let err = train_into(&bigger, &other, false, Some(&run)).unwrap_err();
    assert!(matches!(err, TrainError::Checkpoint { .. }), "{err}");
    // Truncated checkpoint.
    let model = run.join("checkpoints/model.bpk");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_vae(&run, &device()).unwrap_err();
    assert!(matches!(err, TrainError::Checkpoint { .. }), "{err}");
    assert!(err.to_string().contains("model.bpk"), "{err}");
    // Not a run at all.
    let err = load_vae(&scratch("nothing"), &device()).unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");
    std::fs::remove_dir_all(&run).unwrap();
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn evaluation_orders_the_bounds_and_counts_active_units() {
    let _serial = serial();
    let run = scratch("eval");
    train_into(&small(ModelKind::Vae, 2), &run, false, None).unwrap();
    let (_, vae) = load_vae(&run, &device()).unwrap();
    let test = Mnist::load(&mnist_dir(), Split::Test, Some(100)).unwrap();
    let settings = EvalConfig {
        iw_samples: 200,
        chunk: 100,
        batch_size: 50,
    };
    let report = evaluate(&vae, &test, &settings, &device()).unwrap();
    // −log p(x) ≤ −ELBO: the importance-sampled estimate is the tighter bound.
    assert!(report.nll < -report.elbo, "{report:?}");
    assert!(
        (-report.elbo - report.recon - report.kl).abs() < 1e-3,
        "{report:?}"
    );
    assert!(report.active_units <= 4);
    // The count is the units whose activity passes the threshold, and activity is a variance.
    assert_eq!(report.activity.len(), 4);
    assert!(report.activity.iter().all(|a| *a >= 0.0));
    let counted = report
        .activity
        .iter()
        .filter(|a| **a > latent_train::ACTIVE_UNIT_THRESHOLD)
        .count();
    assert_eq!(counted, report.active_units);
    assert_eq!(report.kl_per_dim.len(), 4);
    assert!((report.kl_per_dim.iter().sum::<f64>() - report.kl).abs() < 1e-3);
    // Three single-threaded workers, each importance-sampling a third of every batch, give the
    // same report: the main device draws all the noise (1e-5 relative: float sums only).
    let worker = NamedDevice {
        threads: Some(1),
        ..NamedDevice::new("ndarray", device())
    };
    let workers = [worker.clone(), worker.clone(), worker];
    let shared = evaluate_on(&vae, &test, &settings, &workers).unwrap();
    for (a, b) in [
        (report.nll, shared.nll),
        (report.elbo, shared.elbo),
        (report.kl, shared.kl),
    ] {
        assert!((a - b).abs() <= 1e-5 * a.abs(), "{report:?}\n{shared:?}");
    }
    assert_eq!(report.active_units, shared.active_units);
    std::fs::remove_dir_all(&run).unwrap();
}

#[test]
fn warm_start_and_autoencoder_runs() {
    let _serial = serial();
    let source = scratch("source");
    let first = train_into(&small(ModelKind::Vae, 2), &source, false, None).unwrap();
    let target = scratch("target");
    let warm = train_into(&small(ModelKind::Vae, 1), &target, false, Some(&source)).unwrap();
    // Starting from trained weights, one epoch beats the source's own first epoch.
    assert!(
        warm[0].test_neg_elbo < first[0].test_neg_elbo,
        "{warm:?} vs {first:?}"
    );
    let ae = scratch("ae");
    let got = train_into(&small(ModelKind::Ae, 2), &ae, false, None).unwrap();
    assert!(got
        .iter()
        .all(|m| m.test_kl == 0.0 && m.test_neg_elbo.is_finite()));
    assert!(got[1].test_reconstruction < got[0].test_reconstruction);
    let err = load_vae(&ae, &device()).unwrap_err();
    assert!(err.to_string().contains("autoencoder"), "{err}");
    for dir in [source, target, ae] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn divergence_stops_with_a_message_and_no_checkpoint_of_the_bad_epoch() {
    let _serial = serial();
    let dir = scratch("diverge");
    let mut config = small(ModelKind::Vae, 2);
    config.optimizer.lr = 1e6;
    let err = train_into(&config, &dir, false, None).unwrap_err();
    assert!(
        matches!(err, TrainError::Diverged { epoch: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--lr"), "{err}");
    // Nothing of the diverged epoch was saved as if it were good.
    assert!(!dir.join("state.json").exists());
    assert!(!dir.join("checkpoints/model.bpk").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn iwae_training_minimises_a_bound_tighter_than_the_elbo() {
    let _serial = serial();
    let dir = scratch("iwae");
    let mut config = small(ModelKind::Vae, 2);
    config.iwae_samples = 5;
    let got = train_into(&config, &dir, false, None).unwrap();
    for m in &got {
        // −IWAE_5 ≤ −ELBO in expectation; averaged over an epoch's ten batches the gap is
        // several nats for a young model.
        assert!(
            m.train_loss < m.train_reconstruction + m.train_kl - 0.5,
            "{m:?}"
        );
    }
    assert!(got[1].test_neg_elbo < got[0].test_neg_elbo, "{got:?}");
    let _ = std::fs::remove_dir_all(&dir);
    // A warm-up tempers the weights' latent part: β = 0.5 in the first epoch, then the bound.
    // −(tempered IWAE_5) stays below the one-sample β-weighted −ELBO of the same batches.
    config.warmup_epochs = 2;
    let dir = scratch("iwae-warm");
    let warm = train_into(&config, &dir, false, None).unwrap();
    assert_eq!(
        warm.iter().map(|m| m.kl_weight).collect::<Vec<_>>(),
        [0.5, 1.0]
    );
    for m in &warm {
        assert!(
            m.train_loss < m.train_reconstruction + m.kl_weight * m.train_kl - 0.5,
            "{m:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    // β itself is not a weight of the IWAE bound.
    config.warmup_epochs = 0;
    config.beta = 0.5;
    let err = train_into(&config, &scratch("iwae-bad"), false, None).unwrap_err();
    assert!(err.to_string().contains("`iwae_samples`"), "{err}");
}

#[test]
fn a_learned_variance_gaussian_decoder_trains_and_its_variance_is_checkpointed() {
    let _serial = serial();
    let dir = scratch("learned");
    let mut config = small(ModelKind::Vae, 2);
    config.model.likelihood = latent_models::Likelihood::GaussianLearned;
    let got = train_into(&config, &dir, false, None).unwrap();
    assert!(got.iter().all(|m| m.test_neg_elbo.is_finite()), "{got:?}");
    assert!(got[1].train_loss < got[0].train_loss, "{got:?}");
    let (_, vae) = load_vae(&dir, &device()).unwrap();
    let log_var: Vec<f32> = vae
        .pixel_log_var()
        .expect("learned")
        .try_into_vec_as()
        .unwrap();
    assert_eq!(log_var.len(), 784);
    // Trained away from its initial 0 and saved with the checkpoint.
    assert!(
        log_var.iter().any(|v| v.abs() > 0.01),
        "{:?}",
        &log_var[..8]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_convolutional_vae_trains() {
    let _serial = serial();
    let dir = scratch("conv");
    let mut config = small(ModelKind::Vae, 2);
    config.model.architecture = latent_models::Architecture::Conv;
    config.model.hidden = vec![32];
    // Convolutions are slow on a CPU: fewer digits, same check.
    config.train_limit = Some(256);
    config.test_limit = Some(100);
    let got = train_into(&config, &dir, false, None).unwrap();
    // Four steps an epoch: the test −ELBO falls from the 543 nats of p = ½ and keeps falling.
    assert!(got[0].test_neg_elbo < 530.0, "{got:?}");
    assert!(
        got[1].test_neg_elbo < got[0].test_neg_elbo - 10.0,
        "{got:?}"
    );
    let (_, vae) = load_vae(&dir, &device()).unwrap();
    assert!(matches!(
        vae.encoder,
        latent_models::vae::EncoderNet::Conv(_)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    // Convolutions need 28 × 28 inputs.
    let mut bad = latent_models::VaeConfig {
        architecture: latent_models::Architecture::Conv,
        ..latent_models::VaeConfig::default()
    };
    bad.input_dim = 100;
    assert!(bad
        .check()
        .unwrap_err()
        .to_string()
        .contains("`architecture`"));
}

#[test]
fn slices_of_a_batch_cover_it_once_and_evenly() {
    for (n, devices) in [(128, 2), (65, 2), (64, 3), (2, 3), (1, 1), (7, 7)] {
        let shards = shard_ranges(n, devices);
        assert_eq!(shards.len(), devices);
        assert_eq!(shards[0].start, 0);
        assert_eq!(shards[devices - 1].end, n);
        for pair in shards.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "{shards:?}");
            assert!(pair[0].len() >= pair[1].len() && pair[0].len() <= pair[1].len() + 1);
        }
    }
    assert_eq!(shard_ranges(65, 2), vec![0..33, 33..65]);
    assert_eq!(shard_ranges(2, 3), vec![0..1, 1..2, 2..2]);
}

/// Data-parallel steps are the single-device step: the autoencoder has no noise, so the same
/// seed on one device and on three (slices of 22 + 21 + 21, and a last batch of 640 mod 64 = 0;
/// with 650 digits a last batch of 10 = 4 + 3 + 3) must give the same losses, up to the order
/// of float sums.
#[test]
fn three_devices_train_an_autoencoder_as_one_does() {
    let _guard = serial();
    let mut config = small(ModelKind::Ae, 2);
    config.train_limit = Some(650);
    let one = scratch("dp-one");
    let three = scratch("dp-three");
    let named = |i: usize| NamedDevice::new(format!("ndarray#{i}"), device());
    let single = train_on(&config, &one, &[named(0)], false, None, |_| {}).unwrap();
    let devices = [named(0), named(1), named(2)];
    let parallel = train_on(&config, &three, &devices, false, None, |_| {}).unwrap();
    for (a, b) in single.iter().zip(&parallel) {
        for (x, y) in [
            (a.train_loss, b.train_loss),
            (a.test_reconstruction, b.test_reconstruction),
        ] {
            assert!((x - y).abs() <= 1e-4 * x.abs(), "{a:?}\n{b:?}");
        }
    }
    // The loss falls, so the comparison above compares learning, not two untrained models.
    assert!(parallel[1].test_reconstruction < parallel[0].test_reconstruction - 1.0);
    let saved: TrainConfig =
        serde_json::from_str(&std::fs::read_to_string(three.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved.execution.strategy, Strategy::Multi);
    assert_eq!(
        saved.execution.devices,
        ["ndarray#0", "ndarray#1", "ndarray#2"]
    );
    assert_eq!(saved.execution.device_batch, [22, 21, 21]);
    assert_eq!(saved.execution.effective_batch_size, 64);
    // A data-parallel run resumes on one device.
    let resumed = train_on(
        &TrainConfig {
            epochs: 3,
            ..config.clone()
        },
        &three,
        &[named(0)],
        true,
        None,
        |_| {},
    )
    .unwrap();
    assert_eq!(resumed.len(), 1);
    assert!(resumed[0].test_reconstruction < parallel[1].test_reconstruction);
    let _ = std::fs::remove_dir_all(&one);
    let _ = std::fs::remove_dir_all(&three);
}

/// Two single-threaded replicas in their own thread pools train the VAE — ELBO and IWAE
/// objectives — as one device in the shared pool does, up to the order of float sums (1e-4
/// relative): the main device draws each step's noise for the whole batch and each replica
/// takes its rows (before that, each replica drew its own noise and the runs differed by nats).
#[test]
fn replicas_train_a_vae_as_one_device_does() {
    let _guard = serial();
    for iwae_samples in [1, 3] {
        let mut config = small(ModelKind::Vae, 2);
        config.iwae_samples = iwae_samples;
        let one = scratch(&format!("rep-one-{iwae_samples}"));
        let two = scratch(&format!("rep-two-{iwae_samples}"));
        let replica = NamedDevice {
            threads: Some(1),
            ..NamedDevice::new("ndarray", device())
        };
        let single = train_into(&config, &one, false, None).unwrap();
        let devices = [replica.clone(), replica];
        let parallel = train_on(&config, &two, &devices, false, None, |_| {}).unwrap();
        for (a, b) in single.iter().zip(&parallel) {
            for (x, y) in [
                (a.train_loss, b.train_loss),
                (a.train_kl, b.train_kl),
                (a.test_neg_elbo, b.test_neg_elbo),
                (a.test_kl, b.test_kl),
            ] {
                assert!((x - y).abs() <= 1e-4 * x.abs(), "{a:?}\n{b:?}");
            }
        }
        assert!(parallel[1].test_neg_elbo < parallel[0].test_neg_elbo - 1.0);
        let saved: TrainConfig =
            serde_json::from_str(&std::fs::read_to_string(two.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(saved.execution.device_threads, [Some(1), Some(1)]);
        let _ = std::fs::remove_dir_all(&one);
        let _ = std::fs::remove_dir_all(&two);
    }
}

/// A replica asked for a pool of no threads is refused before anything is written.
#[test]
fn a_replica_of_zero_threads_is_refused() {
    let run = scratch("zero-threads");
    let replica = NamedDevice {
        threads: Some(0),
        ..NamedDevice::new("ndarray", device())
    };
    let err = train_on(
        &small(ModelKind::Ae, 1),
        &run,
        &[replica],
        false,
        None,
        |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("threads"), "{err}");
    assert!(!run.exists());
}

/// Copies the run directory `from` (its files and `checkpoints/`) to `to`.
fn copy_run(from: &Path, to: &Path) {
    for sub in ["", "checkpoints"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for entry in std::fs::read_dir(from.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, to.join(sub).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
}

/// With two CPU replicas the parameters are split between two Adam optimisers that step side by
/// side, each checkpointed in a file of its own. A run resumes as it would have gone on, on the
/// replicas or on one device (which then steps the two groups in turn, as the run's
/// config.json keeps asking for two); a missing group file is refused by name.
#[test]
fn optimizer_groups_checkpoint_and_resume() {
    let _guard = serial();
    let config = |epochs| {
        let mut config = small(ModelKind::Vae, epochs);
        config.optimizer.lr_decay = 0.5;
        config
    };
    let replica = NamedDevice {
        threads: Some(1),
        ..NamedDevice::new("ndarray", device())
    };
    let two = [replica.clone(), replica];
    let (straight, resumed, on_one) = (
        scratch("groups-straight"),
        scratch("groups-resumed"),
        scratch("groups-on-one"),
    );
    train_on(&config(2), &straight, &two, false, None, |_| {}).unwrap();
    train_on(&config(1), &resumed, &two, false, None, |_| {}).unwrap();
    for file in ["optimizer.bpk", "optimizer-1.bpk"] {
        assert!(resumed.join("checkpoints").join(file).is_file(), "{file}");
    }
    copy_run(&resumed, &on_one);
    train_on(&config(2), &resumed, &two, true, None, |_| {}).unwrap();
    train_into(&config(2), &on_one, true, None).unwrap();
    let (a, b, c) = (metrics(&straight), metrics(&resumed), metrics(&on_one));
    assert_eq!((b.len(), c.len()), (2, 2));
    for ((x, y), z) in a.iter().zip(&b).zip(&c) {
        for (p, q, r) in [
            (x.train_loss, y.train_loss, z.train_loss),
            (x.test_neg_elbo, y.test_neg_elbo, z.test_neg_elbo),
            (x.test_kl, y.test_kl, z.test_kl),
        ] {
            assert_eq!(p, q, "epoch {}: resumed on the replicas", x.epoch);
            assert!(
                (p - r).abs() <= 1e-4 * p.abs(),
                "epoch {}: {p} vs {r}",
                x.epoch
            );
        }
    }
    let saved: TrainConfig =
        serde_json::from_str(&std::fs::read_to_string(on_one.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        (
            saved.execution.devices.len(),
            saved.execution.optimizer_groups
        ),
        (1, 2)
    );
    std::fs::remove_file(resumed.join("checkpoints/optimizer-1.bpk")).unwrap();
    let err = train_on(&config(3), &resumed, &two, true, None, |_| {}).unwrap_err();
    assert!(err.to_string().contains("optimizer-1.bpk"), "{err}");
    for dir in [straight, resumed, on_one] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
