//! MNIST: the IDX files, a burn `Dataset`, a `Batcher` with dynamic or fixed binarisation,
//! and the SHA-256 check of the bundled copy.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::examples::{ExampleBatch, ExampleBatcher, ExampleItem, ExampleShape, Examples};
use crate::idx::{read_idx, IMAGES_MAGIC, LABELS_MAGIC};

/// Side length of an MNIST image.
pub const SIDE: usize = 28;
/// Pixels per image (28 × 28).
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes (digits 0–9).
pub const CLASSES: usize = 10;

pub use crate::examples::Split;

impl Split {
    /// The image and label file names of this split, as in the original distribution.
    pub fn file_names(self) -> (&'static str, &'static str) {
        match self {
            Split::Train => ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
            Split::Test => ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        }
    }

    /// The number of examples of the full split.
    pub fn num_examples(self) -> usize {
        match self {
            Split::Train => 60_000,
            Split::Test => 10_000,
        }
    }
}

/// The MNIST loader: a split of the four IDX files of a directory, as [`Examples`] (28 × 28
/// grey images, 0–255, with their digits).
#[derive(Debug, Clone, Copy)]
pub struct Mnist;

impl Mnist {
    /// Loads a split from `dir` (holding the four `.gz` IDX files, or the same names
    /// uncompressed), keeping the first `limit` examples if given.
    ///
    /// Every structural problem is an error naming the file: wrong magic, wrong image size,
    /// truncated data, image and label counts that differ, labels outside 0–9, or a `limit`
    /// larger than the split.
    pub fn load(dir: &Path, split: Split, limit: Option<usize>) -> Result<Examples> {
        load_idx_split(dir, split, limit, Some(SIDE))
    }
}

/// A split of a directory laid out as MNIST is (`train-images-idx3-ubyte.gz`,
/// `train-labels-idx1-ubyte.gz`, `t10k-…` for the test split; gzipped or not): grey images of
/// any size (of `side` × `side` if given), labelled 0–9.
pub fn load_idx_split(
    dir: &Path,
    split: Split,
    limit: Option<usize>,
    side: Option<usize>,
) -> Result<Examples> {
    let (images_name, labels_name) = split.file_names();
    let images_path = find_file(dir, images_name);
    let labels_path = find_file(dir, labels_name);
    let images = read_idx(&images_path, IMAGES_MAGIC)?;
    let labels = read_idx(&labels_path, LABELS_MAGIC)?;
    if let Some(side) = side {
        if images.dims[1..] != [side, side] {
            return Err(DataError::IdxBadDims {
                path: images_path,
                dims: images.dims,
                problem: "MNIST images must be 28 × 28",
            });
        }
    }
    let (n_images, n_labels) = (images.dims[0], labels.dims[0]);
    if n_images != n_labels {
        return Err(DataError::CountMismatch {
            images: images_path,
            labels: labels_path,
            n_images,
            n_labels,
        });
    }
    if let Some((index, label)) = labels.data.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(DataError::BadLabel {
            path: labels_path,
            index,
            label: *label,
        });
    }
    let n = match limit {
        Some(requested) if requested > n_images => {
            return Err(DataError::LimitTooLarge {
                path: images_path,
                requested,
                available: n_images,
            })
        }
        Some(requested) => requested,
        None => n_images,
    };
    let shape = ExampleShape::Image {
        height: images.dims[1],
        width: images.dims[2],
        channels: 1,
    };
    let mut pixels = images.data;
    pixels.truncate(n * shape.dim());
    let labels = labels.data[..n].iter().map(|l| *l as u32).collect();
    Examples::from_bytes(pixels, shape, Some(labels), split, &images_path)
}

/// Accepts the gzipped name or, failing that, the same name without `.gz`.
fn find_file(dir: &Path, gz_name: &str) -> PathBuf {
    let gz = dir.join(gz_name);
    let raw = dir.join(gz_name.trim_end_matches(".gz"));
    if !gz.exists() && raw.exists() {
        raw
    } else {
        gz
    }
}

/// MNIST's name for [`ExampleBatcher`].
pub type MnistBatcher = ExampleBatcher;
/// MNIST's name for [`ExampleBatch`].
pub type MnistBatch = ExampleBatch;
/// MNIST's name for [`ExampleItem`].
pub type MnistItem = ExampleItem;

/// Checks every file listed in `dir/SHA256SUMS` (lines `HEX  NAME`) and returns the names
/// checked. A missing file, a mismatch or a malformed list is an error.
pub fn verify_sha256sums(dir: &Path) -> Result<Vec<String>> {
    let list_path = dir.join("SHA256SUMS");
    let list = std::fs::read_to_string(&list_path).map_err(|e| DataError::io(&list_path, e))?;
    let mut checked = Vec::new();
    for (line_no, line) in list
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let malformed = || DataError::Checksum {
            path: list_path.clone(),
            problem: format!("line {} is not `SHA256  FILE`: {line:?}", line_no + 1),
        };
        let (hex, name) = line.split_once(char::is_whitespace).ok_or_else(malformed)?;
        let name = name.trim().trim_start_matches('*');
        if hex.len() != 64 || name.is_empty() {
            return Err(malformed());
        }
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        let actual: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !actual.eq_ignore_ascii_case(hex) {
            return Err(DataError::Checksum {
                path,
                problem: format!("SHA-256 is {actual}, SHA256SUMS says {hex}"),
            });
        }
        checked.push(name.to_string());
    }
    Ok(checked)
}
