//! Data for `latent`: the MNIST IDX reader (gzipped or raw) with a burn [`Dataset`] and
//! [`Batcher`], CSV and NPY point sets for the mixture models, and seeded synthetic Gaussian
//! mixtures.
//!
//! Every reader validates what it reads and fails with a [`DataError`] naming the file and the
//! problem: never a panic, never a silently short dataset.
//!
//! [`Dataset`]: burn::data::dataset::Dataset
//! [`Batcher`]: burn::data::dataloader::batcher::Batcher

pub mod domain;
mod error;
pub mod idx;
pub mod mnist;
pub mod points;
pub mod source;
pub mod synthetic;

pub use domain::Domain;
pub use error::{DataError, Result};
pub use mnist::{verify_sha256sums, Mnist, MnistBatch, MnistBatcher, MnistItem, Split};
pub use points::{read_points, write_points, Points};
pub use source::PointSource;
pub use synthetic::MixtureSpec;

use std::path::PathBuf;

/// Where the bundled MNIST is looked for: `$LATENT_MNIST_DIR` if set, else `datasets/mnist`
/// under the current directory if it exists, else the copy in this source tree.
pub fn default_mnist_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LATENT_MNIST_DIR") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("datasets/mnist");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/mnist"))
}
