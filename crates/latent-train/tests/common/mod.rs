//! What the test files share: the device, one training at a time, scratch paths.

#![allow(dead_code)] // each test file uses its own share of these

use std::path::PathBuf;
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
