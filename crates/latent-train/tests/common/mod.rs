//! What the test files share: the device, one training at a time, scratch paths.

#![allow(dead_code)] // each test file uses its own share of these

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use burn::tensor::Device;

/// The CPU device the tests run on (ndarray, the project's default backend).
#[allow(deprecated)]
pub fn device() -> Device {
    Device::ndarray()
}

/// burn's random generator is process-wide: tests that train hold this lock so that their
/// random draws do not interleave (that would break run-to-run reproducibility, which several
/// tests check).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A directory of this process's for `name`, removed if it exists.
pub fn scratch(name: &str) -> PathBuf {
    let dir = scratch_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A file of this process's for `name`, removed if it exists.
pub fn scratch_file(name: &str) -> PathBuf {
    let path = scratch_path(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn scratch_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("latent-test-{name}-{}", std::process::id()))
}

/// The metrics lines of the run in `run`.
pub fn metrics(run: &Path) -> Vec<latent_train::EpochMetrics> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Two runs' epochs are the same to 1e-4: as many, with the same training loss, test −ELBO
/// and test KL (`what` names the runs in a failure).
pub fn assert_same_epochs(
    a: &[latent_train::EpochMetrics],
    b: &[latent_train::EpochMetrics],
    what: &str,
) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        for (p, q) in [
            (x.train_loss, y.train_loss),
            (x.test_neg_elbo, y.test_neg_elbo),
            (x.test_kl, y.test_kl),
        ] {
            assert!(
                (p - q).abs() <= 1e-4 * p.abs(),
                "{what}, epoch {}: {p} vs {q}",
                x.epoch
            );
        }
    }
}
