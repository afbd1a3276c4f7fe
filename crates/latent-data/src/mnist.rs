//! MNIST: the IDX files, a burn [`Dataset`], a [`Batcher`] with dynamic or fixed binarisation,
//! and the SHA-256 check of the bundled copy.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::idx::{read_idx, IMAGES_MAGIC, LABELS_MAGIC};

/// Side length of an MNIST image.
pub const SIDE: usize = 28;
/// Pixels per image (28 × 28).
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes (digits 0–9).
pub const CLASSES: usize = 10;

/// The two MNIST splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// 60,000 training images.
    Train,
    /// 10,000 test images.
    Test,
}

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

/// One MNIST split in memory: `len` images of 784 grey levels (0–255, row-major) and labels.
#[derive(Debug, Clone)]
pub struct Mnist {
    pixels: Arc<Vec<u8>>,
    labels: Arc<Vec<u8>>,
    split: Split,
}

/// One example: its index in the split, its pixels (0–255) and its digit.
#[derive(Debug, Clone)]
pub struct MnistItem {
    /// 0-based index of the example in its dataset (it seeds fixed binarisation).
    pub index: usize,
    /// The 784 grey levels (0–255), row-major.
    pub pixels: Vec<u8>,
    /// The digit, 0–9.
    pub label: u8,
}

impl Mnist {
    /// Loads a split from `dir` (holding the four `.gz` IDX files, or the same names
    /// uncompressed), keeping the first `limit` examples if given.
    ///
    /// Every structural problem is an error naming the file: wrong magic, wrong image size,
    /// truncated data, image and label counts that differ, labels outside 0–9, or a `limit`
    /// larger than the split.
    pub fn load(dir: &Path, split: Split, limit: Option<usize>) -> Result<Self> {
        let (images_name, labels_name) = split.file_names();
        let images_path = find_file(dir, images_name);
        let labels_path = find_file(dir, labels_name);
        let images = read_idx(&images_path, IMAGES_MAGIC)?;
        let labels = read_idx(&labels_path, LABELS_MAGIC)?;
        if images.dims[1..] != [SIDE, SIDE] {
            return Err(DataError::IdxBadDims {
                path: images_path,
                dims: images.dims,
                problem: "MNIST images must be 28 × 28",
            });
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
        let mut pixels = images.data;
        pixels.truncate(n * PIXELS);
        let mut labels = labels.data;
        labels.truncate(n);
        Ok(Self {
            pixels: Arc::new(pixels),
            labels: Arc::new(labels),
            split,
        })
    }

    /// A dataset from pixels (image after image, 784 each, 0–255) and their digits, as a
    /// domain shift makes them. Panics if the lengths disagree (a bug in the caller).
    pub(crate) fn from_parts(pixels: Vec<u8>, labels: Vec<u8>, split: Split) -> Self {
        assert_eq!(pixels.len(), labels.len() * PIXELS, "one image per label");
        Self {
            pixels: Arc::new(pixels),
            labels: Arc::new(labels),
            split,
        }
    }

    /// The first `n` examples (all of them if there are fewer).
    pub fn truncated(&self, n: usize) -> Self {
        let n = n.min(self.labels.len());
        Self::from_parts(
            self.pixels[..n * PIXELS].to_vec(),
            self.labels[..n].to_vec(),
            self.split,
        )
    }

    /// The split these examples come from.
    pub fn split(&self) -> Split {
        self.split
    }

    /// The pixels of image `index` (0–255).
    pub fn image(&self, index: usize) -> &[u8] {
        &self.pixels[index * PIXELS..(index + 1) * PIXELS]
    }

    /// Example `index` (panics if out of range: check user-given indices against `len` first).
    pub fn item(&self, index: usize) -> MnistItem {
        MnistItem {
            index,
            pixels: self.image(index).to_vec(),
            label: self.labels[index],
        }
    }

    /// All labels, in order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// All pixels, image after image (0–255).
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// How many images of each digit 0–9 there are.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0usize; CLASSES];
        for label in self.labels.iter() {
            counts[*label as usize] += 1;
        }
        counts
    }

    /// The mean and the (population) standard deviation of every pixel's grey level, scaled to
    /// [0, 1].
    pub fn pixel_mean_std(&self) -> (f64, f64) {
        let n = self.pixels.len() as f64;
        let mean = self.pixels.iter().map(|v| *v as f64).sum::<f64>() / n / 255.0;
        let var = self
            .pixels
            .iter()
            .map(|v| (*v as f64 / 255.0 - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }
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

impl Dataset<MnistItem> for Mnist {
    fn get(&self, index: usize) -> std::result::Result<MnistItem, DatasetError> {
        if index >= self.labels.len() {
            return Err(DatasetError::new(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("MNIST index {index} out of range 0..{}", self.labels.len()),
            )));
        }
        Ok(self.item(index))
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// How grey levels become model inputs.
#[derive(Debug)]
pub enum Binarization {
    /// Grey levels scaled to [0, 1].
    None,
    /// A fresh Bernoulli draw x ~ Bern(v / 255) of every pixel each time an image is batched,
    /// from a seeded generator: reproducible for the same seed and order of batches.
    Dynamic(Box<Mutex<StdRng>>),
    /// One fixed Bernoulli draw per (image index, pixel), the same every run and every
    /// backend for a given seed, whatever the batching: for likelihood evaluation.
    Fixed {
        /// Seed of the draws, mixed with the image index and the pixel.
        seed: u64,
    },
}

/// Turns [`MnistItem`]s into an [`MnistBatch`] on a device.
#[derive(Debug)]
pub struct MnistBatcher {
    binarization: Binarization,
}

/// A batch: images `[batch, 784]` in [0, 1] (binary when binarised) and digits `[batch]`.
#[derive(Debug, Clone)]
pub struct MnistBatch {
    /// The model inputs `[batch, 784]`, in [0, 1].
    pub images: Tensor<2>,
    /// The digits `[batch]`, 0–9.
    pub labels: Tensor<1, Int>,
}

impl MnistBatcher {
    /// Grey levels in [0, 1].
    pub fn grey() -> Self {
        Self {
            binarization: Binarization::None,
        }
    }

    /// Dynamic binarisation: a fresh draw per presentation, seeded.
    pub fn dynamic(seed: u64) -> Self {
        Self {
            binarization: Binarization::Dynamic(Box::new(Mutex::new(StdRng::seed_from_u64(seed)))),
        }
    }

    /// Fixed binarisation: the same binary image for a given (seed, image index) every time.
    pub fn fixed(seed: u64) -> Self {
        Self {
            binarization: Binarization::Fixed { seed },
        }
    }

    /// The inputs of examples `indices` of `data` as one `[n, 784]` tensor on `device`
    /// (panics if an index is out of range).
    pub fn images(
        &self,
        data: &Mnist,
        indices: impl IntoIterator<Item = usize>,
        device: &Device,
    ) -> Tensor<2> {
        let items = indices.into_iter().map(|i| data.item(i)).collect();
        self.batch(items, device).images
    }

    /// The model inputs of `items`, row after row, as floats in [0, 1].
    pub fn inputs(&self, items: &[MnistItem]) -> Vec<f32> {
        let mut out = Vec::with_capacity(items.len() * PIXELS);
        match &self.binarization {
            Binarization::None => {
                for item in items {
                    out.extend(item.pixels.iter().map(|v| *v as f32 / 255.0));
                }
            }
            Binarization::Dynamic(rng) => {
                let mut rng = rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                for item in items {
                    // Black (0) and white (255) pixels — about four in five of MNIST's — are
                    // 0 and 1 with certainty: only the grey ones need a draw.
                    out.extend(item.pixels.iter().map(|&v| match v {
                        0 => 0.0,
                        255 => 1.0,
                        _ => bernoulli_pixel(v, rng.random()),
                    }));
                }
            }
            Binarization::Fixed { seed } => {
                for item in items {
                    out.extend(
                        item.pixels
                            .iter()
                            .enumerate()
                            .map(|(p, v)| bernoulli_pixel(*v, fixed_uniform(*seed, item.index, p))),
                    );
                }
            }
        }
        out
    }
}

/// 1 with probability v/255: u < v/255 for u uniform in [0, 1).
fn bernoulli_pixel(value: u8, uniform: f32) -> f32 {
    if uniform * 255.0 < value as f32 {
        1.0
    } else {
        0.0
    }
}

/// A uniform number in [0, 1) that depends only on (seed, image, pixel): SplitMix64 of the
/// three, so fixed binarisation does not depend on batch order or size.
fn fixed_uniform(seed: u64, image: usize, pixel: usize) -> f32 {
    let mut x = seed
        ^ (image as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (pixel as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    // The top 24 bits give every float in [0, 1) on a 2⁻²⁴ grid.
    (x >> 40) as f32 / (1u64 << 24) as f32
}

impl Batcher<MnistItem, MnistBatch> for MnistBatcher {
    fn batch(&self, items: Vec<MnistItem>, device: &Device) -> MnistBatch {
        let n = items.len();
        let images = TensorData::new(self.inputs(&items), [n, PIXELS]);
        let labels: Vec<i64> = items.iter().map(|item| item.label as i64).collect();
        MnistBatch {
            images: Tensor::from_data(images, device),
            labels: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_uniform_is_uniform_enough_and_deterministic() {
        let draws: Vec<f32> = (0..100_000)
            .map(|i| fixed_uniform(3, i / 784, i % 784))
            .collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = draws.iter().map(|u| *u as f64).sum::<f64>() / draws.len() as f64;
        // Var of U(0,1) is 1/12: standard error of the mean ≈ 0.000913.
        assert!((mean - 0.5).abs() < 4.0 * (1.0f64 / 12.0 / draws.len() as f64).sqrt());
        assert_eq!(fixed_uniform(3, 17, 5), fixed_uniform(3, 17, 5));
        assert_ne!(fixed_uniform(3, 17, 5), fixed_uniform(4, 17, 5));
    }

    #[test]
    fn bernoulli_pixel_respects_the_extremes() {
        assert_eq!(bernoulli_pixel(0, 0.0), 0.0);
        assert_eq!(bernoulli_pixel(255, 0.999_999), 1.0);
    }
}
