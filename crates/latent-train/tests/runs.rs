//! Runs that cannot be corrupted: empty selections refused before any work, `--resume` that
//! continues the recorded run or says why not, a metrics log cut back to its checkpoint, runs
//! that never completed an epoch started again, one writer at a time, and checkpoints that
//! belong to their run.

mod common;

use std::path::Path;

use latent_data::Split;
use latent_models::VaeConfig;
use latent_train::{
    evaluate, load_vae, probe_codes, train, EpochMetrics, EvalConfig, ModelKind, RunDir,
    TrainConfig, TrainError,
};

use common::{device, scratch, serial};

fn small(kind: ModelKind, epochs: usize) -> TrainConfig {
    let mut config = TrainConfig::new(kind, latent_data::default_mnist_dir());
    config.model = VaeConfig {
        hidden: vec![32],
        latent: 3,
        ..VaeConfig::default()
    };
    config.epochs = epochs;
    config.batch_size = 64;
    config.train_limit = Some(320);
    config.test_limit = Some(100);
    config.seed = 5;
    config
}

fn fresh(config: &TrainConfig, dir: &Path) -> Result<Vec<EpochMetrics>, TrainError> {
    train(config, dir, &device(), false, None, |_| {})
}

fn resume(config: &TrainConfig, dir: &Path) -> Result<Vec<EpochMetrics>, TrainError> {
    train(config, dir, &device(), true, None, |_| {})
}

fn epochs_logged(dir: &Path) -> Vec<usize> {
    RunDir::new(dir)
        .read_metrics()
        .unwrap()
        .iter()
        .map(|m| m.epoch)
        .collect()
}

#[test]
fn empty_selections_are_refused_before_any_work() {
    let _serial = serial();
    let dir = scratch("empty");
    for (config, field) in [
        (
            TrainConfig {
                train_limit: Some(0),
                ..small(ModelKind::Vae, 1)
            },
            "`train_limit`",
        ),
        (
            TrainConfig {
                test_limit: Some(0),
                ..small(ModelKind::Ae, 1)
            },
            "`test_limit`",
        ),
    ] {
        let err = fresh(&config, &dir).unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
        assert!(!dir.exists(), "nothing written");
    }
    // A selection the data cannot fill leaves no directory behind either.
    let too_many = TrainConfig {
        train_limit: Some(70_000),
        ..small(ModelKind::Vae, 1)
    };
    assert!(fresh(&too_many, &dir).is_err());
    assert!(!dir.exists(), "nothing written");

    fresh(&small(ModelKind::Vae, 1), &dir).unwrap();
    let (config, vae) = load_vae(&dir, &device()).unwrap();
    let none = config.load_split(Split::Test, Some(0)).unwrap();
    let err = evaluate(&vae, &none, &EvalConfig::with_samples(5), &device()).unwrap_err();
    assert!(err.to_string().contains("none to evaluate"), "{err}");
    let err = probe_codes(&vae, &config, Some(0), 10, false, &device()).unwrap_err();
    assert!(err.to_string().contains("no training images"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_continues_the_recorded_run_or_says_why_not() {
    let _serial = serial();
    let dir = scratch("resume");
    fresh(&small(ModelKind::Vae, 2), &dir).unwrap();
    // Finished: nothing to do, and nothing changes.
    assert!(resume(&small(ModelKind::Vae, 2), &dir).unwrap().is_empty());
    assert_eq!(epochs_logged(&dir), [1, 2]);
    // Fewer epochs than it has done.
    let err = resume(&small(ModelKind::Vae, 1), &dir).unwrap_err();
    assert!(err.to_string().contains("already completed 2"), "{err}");
    // Any other setting that differs is refused by name, with both values.
    let mut lr = small(ModelKind::Vae, 3);
    lr.optimizer.lr = 0.01;
    let mut latent = small(ModelKind::Vae, 3);
    latent.model.latent = 10;
    for (config, field, recorded, given) in [
        (lr, "`lr`", "0.001", "0.01"),
        (latent, "`model.latent`", "3", "10"),
        (small(ModelKind::Ae, 3), "`kind`", "\"vae\"", "\"ae\""),
    ] {
        let err = resume(&config, &dir).unwrap_err();
        assert!(matches!(err, TrainError::ResumeMismatch { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(field)
                && text.contains(&format!("{recorded} there"))
                && text.contains(&format!("not {given}")),
            "{text}"
        );
    }
    assert_eq!(epochs_logged(&dir), [1, 2], "nothing trained");
    // More epochs extend it, and the run records them.
    let more = resume(&small(ModelKind::Vae, 3), &dir).unwrap();
    assert_eq!(more.iter().map(|m| m.epoch).collect::<Vec<_>>(), [3]);
    assert_eq!(
        RunDir::new(&dir).read_config::<VaeConfig>().unwrap().epochs,
        3
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_metrics_log_is_cut_back_to_the_checkpoint_on_resume() {
    let _serial = serial();
    let dir = scratch("metrics");
    fresh(&small(ModelKind::Ae, 2), &dir).unwrap();
    let log = dir.join("metrics.jsonl");
    let whole = std::fs::read_to_string(&log).unwrap();
    // Killed while writing epoch 3's line (before its state): a torn line that is not glued
    // to the next one, which the resumed epoch 3 writes whole.
    let torn: String = whole.lines().next().unwrap().chars().take(40).collect();
    std::fs::write(
        &log,
        format!("{whole}{}", torn.replace("\"epoch\":1", "\"epoch\":3")),
    )
    .unwrap();
    resume(&small(ModelKind::Ae, 3), &dir).unwrap();
    assert_eq!(epochs_logged(&dir), [1, 2, 3]);
    // A whole line of an epoch beyond the checkpoint (written before a kill stopped its
    // state) goes too.
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.push(lines[2].replace("\"epoch\":3", "\"epoch\":4"));
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    resume(&small(ModelKind::Ae, 4), &dir).unwrap();
    assert_eq!(epochs_logged(&dir), [1, 2, 3, 4]);
    // A damaged line before the last: refused, by line, and left as it is.
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[1] = "{\"epoch\": 2, broken".into();
    let damaged = lines.join("\n") + "\n";
    std::fs::write(&log, &damaged).unwrap();
    let err = resume(&small(ModelKind::Ae, 5), &dir).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), damaged);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_run_that_never_completed_an_epoch_starts_again() {
    let _serial = serial();
    let dir = scratch("restart");
    let mut diverging = small(ModelKind::Vae, 2);
    diverging.optimizer.lr = 1e6;
    let err = fresh(&diverging, &dir).unwrap_err();
    // The message says what is true: there is no checkpoint to keep.
    assert!(
        matches!(err, TrainError::Diverged { epoch: 1, .. })
            && err.to_string().contains("no epoch completed"),
        "{err}"
    );
    assert!(dir.join("config.json").is_file() && !dir.join("state.json").exists());
    // Not a dead end: a new start and a --resume both train it from the beginning.
    let again = fresh(&small(ModelKind::Vae, 1), &dir).unwrap();
    assert_eq!(again.len(), 1);
    std::fs::remove_file(dir.join("state.json")).unwrap();
    let resumed = resume(&small(ModelKind::Vae, 2), &dir).unwrap();
    assert_eq!(resumed.iter().map(|m| m.epoch).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(epochs_logged(&dir), [1, 2]);
    // A resumed run that diverges keeps the checkpoint of its last epoch, and says so.
    let mut later = small(ModelKind::Vae, 3);
    later.optimizer.lr = 1e6;
    let recorded = RunDir::new(&dir).read_config::<VaeConfig>().unwrap();
    let mut config = TrainConfig {
        epochs: 3,
        ..recorded
    };
    config.optimizer.lr = 1e6;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    let err = resume(&later, &dir).unwrap_err();
    assert!(
        err.to_string().contains("checkpoint of epoch 2 is kept"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_writer_is_refused_naming_the_holder() {
    let _serial = serial();
    let dir = scratch("locked");
    let run = RunDir::new(&dir);
    let held = run.lock().unwrap();
    let err = fresh(&small(ModelKind::Ae, 1), &dir).unwrap_err();
    assert!(
        matches!(err, TrainError::Locked { pid: Some(pid), .. } if pid == std::process::id()),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("PID {}", std::process::id())),
        "{err}"
    );
    assert!(!run.holds_run(), "nothing written");
    drop(held);
    fresh(&small(ModelKind::Ae, 1), &dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoints_belong_to_their_run() {
    let _serial = serial();
    let (vae, ae) = (scratch("own-vae"), scratch("own-ae"));
    fresh(&small(ModelKind::Vae, 1), &vae).unwrap();
    fresh(&small(ModelKind::Ae, 1), &ae).unwrap();
    // An autoencoder's weights have the VAE's shapes: only the run id tells them apart.
    let checkpoint = |dir: &Path| dir.join("checkpoints/model.bpk");
    std::fs::copy(checkpoint(&ae), checkpoint(&vae)).unwrap();
    let err = load_vae(&vae, &device()).unwrap_err();
    assert!(err.to_string().contains("belongs to another run"), "{err}");
    let err = resume(&small(ModelKind::Vae, 2), &vae).unwrap_err();
    assert!(err.to_string().contains("belongs to another run"), "{err}");
    // A warm start from another run is the explicit way, and it works.
    let warm = scratch("warm");
    train(
        &small(ModelKind::Ae, 1),
        &warm,
        &device(),
        false,
        Some(&ae),
        |_| {},
    )
    .unwrap();
    for dir in [vae, ae, warm] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}
