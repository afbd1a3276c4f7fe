//! Data for `latent`: the user's own data — `.npy` arrays (memory-mapped), IDX files of any
//! image size, folders of PNG/JPEG images, CSV tables — and the bundled MNIST and 8 × 8 digits,
//! as [`Examples`] (vectors, grey or colour images, with optional labels) with a burn
//! [`Dataset`] and [`Batcher`]; seeded domain shifts; seeded training/test splits; CSV and NPY
//! point sets for the mixture models, and seeded synthetic Gaussian mixtures.
//!
//! Every reader validates what it reads and fails with a [`DataError`] naming the file and the
//! problem: never a panic, never a silently short dataset.
//!
//! The first 100 test digits of the bundled MNIST, a batch of them as model inputs, and a
//! shifted domain of the same split:
//!
//! ```
//! use burn::data::dataset::Dataset;
//! use latent_data::{default_mnist_dir, Domain, Mnist, MnistBatcher, Split};
//!
//! let data = Mnist::load(&default_mnist_dir(), Split::Test, Some(100))?;
//! assert_eq!(data.len(), 100);
//! assert!(data.labels().unwrap().iter().all(|digit| *digit <= 9));
//!
//! # #[allow(deprecated)]
//! let device = burn::tensor::Device::ndarray();
//! let x = MnistBatcher::grey().images(&data, 0..10, &device); // grey levels / 255
//! assert_eq!(x.dims(), [10, 784]);
//! assert!(x.clone().min().into_scalar::<f32>() >= 0.0);
//! assert!(x.max().into_scalar::<f32>() <= 1.0);
//!
//! let domain: Domain = "mnist:classes=5-9:rotate=45".parse()?;
//! assert_eq!(domain.to_string(), "mnist:classes=5-9:rotate=45");
//! let shifted = domain.load(&default_mnist_dir(), Split::Test, Some(10))?;
//! assert_eq!(shifted.len(), 10);
//! assert!(shifted.labels().unwrap().iter().all(|digit| (5..=9).contains(digit)));
//! # Ok::<(), latent_data::DataError>(())
//! ```
//!
//! [`Dataset`]: burn::data::dataset::Dataset
//! [`Batcher`]: burn::data::dataloader::batcher::Batcher

#![warn(missing_docs)]

pub mod domain;
mod error;
pub mod examples;
mod files;
pub mod folder;
pub mod idx;
pub mod mnist;
pub mod npy;
pub mod points;
mod rows;
mod shift;
mod source;
pub mod synthetic;

pub use domain::{DataSource, Domain};
pub use error::{DataError, Result};
pub use examples::{
    ExampleBatch, ExampleBatcher, ExampleItem, ExampleShape, Examples, ItemValues, LabelColumns,
    Standardisation, Values,
};
pub use mnist::{verify_sha256sums, Mnist, MnistBatch, MnistBatcher, MnistItem, Split};
pub use points::{
    read_points, read_points_allowing_missing, read_sample_weights, write_points, Points,
};
pub use rows::{NpyRows, RowSource};
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

/// Where the bundled 8 × 8 digits are looked for: `$LATENT_DIGITS_DIR` if set, else
/// `datasets/digits` under the current directory if it exists, else the copy in this source
/// tree.
pub fn default_digits_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LATENT_DIGITS_DIR") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("datasets/digits");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../datasets/digits"
    ))
}
