//! What the binary's test files share: the `latent` command and scratch directories.

#![allow(dead_code)] // each test file uses its own share of these

use std::path::PathBuf;
use std::process::Command;

/// The `latent` binary, run from the package's directory without `$LATENT_MNIST_DIR`.
pub fn latent() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_latent"));
    command
        .env_remove("LATENT_MNIST_DIR")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// A fresh, empty directory of this process's for `name`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latent-cli-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
