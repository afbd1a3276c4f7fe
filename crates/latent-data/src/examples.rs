//! A data set of examples of any shape — vectors, grey or colour images — held once in memory
//! (or memory-mapped from an `.npy` file) with optional class labels, a burn [`Dataset`] of its
//! examples, and the [`Batcher`] that turns them into model inputs: grey levels scaled to
//! [0, 1], binarised (a fresh draw per presentation, or a fixed seeded draw), or real values
//! standardised.
//!
//! Images are stored planar (channel-major: C × H × W per image), the layout convolutions take.
//! A subset (the first N, a seeded test split) is a view of the same values, not a copy.

use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// The two splits of a data set: training and test (MNIST's 60,000 and 10,000 images).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training examples.
    Train,
    /// The test examples.
    Test,
}

/// What one example is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum ExampleShape {
    /// A vector of `dim` values (a table's row).
    Vector {
        /// Its length.
        dim: usize,
    },
    /// An image, stored planar (C × H × W).
    Image {
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
        /// 1 (grey) or 3 (colour).
        channels: usize,
    },
}

impl ExampleShape {
    /// A grey `side` × `side` image (MNIST: 28).
    pub const fn grey_square(side: usize) -> Self {
        ExampleShape::Image {
            height: side,
            width: side,
            channels: 1,
        }
    }

    /// A grey `height` × `width` image.
    pub const fn grey(height: usize, width: usize) -> Self {
        ExampleShape::Image {
            height,
            width,
            channels: 1,
        }
    }

    /// The number of values of one example.
    pub fn dim(&self) -> usize {
        match *self {
            ExampleShape::Vector { dim } => dim,
            ExampleShape::Image {
                height,
                width,
                channels,
            } => height * width * channels,
        }
    }

    /// (height, width, channels) of an image.
    pub fn image(&self) -> Option<(usize, usize, usize)> {
        match *self {
            ExampleShape::Image {
                height,
                width,
                channels,
            } => Some((height, width, channels)),
            ExampleShape::Vector { .. } => None,
        }
    }
}

impl std::fmt::Display for ExampleShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ExampleShape::Vector { dim } => write!(f, "vectors of {dim} values"),
            ExampleShape::Image {
                height,
                width,
                channels: 1,
            } => write!(f, "{height} × {width} grey images"),
            ExampleShape::Image {
                height,
                width,
                channels,
            } => write!(f, "{height} × {width} images of {channels} channels"),
        }
    }
}

/// Values held in memory or memory-mapped from a file.
pub(crate) enum Buffer<T: 'static> {
    /// Read or decoded into memory.
    Owned(Vec<T>),
    /// `len` values at byte `offset` of a mapped file (aligned for `T`, checked when made).
    Mapped {
        map: memmap2::Mmap,
        offset: usize,
        len: usize,
    },
}

impl<T: Copy + 'static> Buffer<T> {
    /// `len` values of `T` at byte `offset` of `map`, if they are aligned for `T` and lie
    /// within it.
    pub(crate) fn mapped(map: memmap2::Mmap, offset: usize, len: usize) -> Option<Self> {
        let aligned = (map.as_ptr() as usize + offset).is_multiple_of(std::mem::align_of::<T>());
        let fits = offset
            .checked_add(len.checked_mul(std::mem::size_of::<T>())?)
            .is_some_and(|end| end <= map.len());
        (aligned && fits).then_some(Buffer::Mapped { map, offset, len })
    }

    /// Lets the operating system drop the resident pages of the values `range` of a mapped
    /// buffer (they are read from the file again if touched), so that copying a mapped array
    /// does not hold both copies in memory at once. Does nothing for an owned buffer, or off
    /// Unix.
    pub(crate) fn release(&self, range: std::ops::Range<usize>) {
        #[cfg(unix)]
        if let Buffer::Mapped { map, offset, len } = self {
            let size = std::mem::size_of::<T>();
            let end = range.end.min(*len);
            if range.start >= end {
                return;
            }
            // SAFETY: the map is a read-only mapping of a file that nothing here writes:
            // dropped pages are read from the file again on the next access, so no value any
            // slice of it holds changes.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    offset + range.start * size,
                    (end - range.start) * size,
                )
            };
        }
        #[cfg(not(unix))]
        let _ = range;
    }
}

impl<T: Copy + 'static> Deref for Buffer<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Buffer::Owned(values) => values,
            Buffer::Mapped { map, offset, len } => {
                // SAFETY: `mapped` checked that the `len` values at `offset` lie within the
                // mapping and are aligned for T; T is a plain number type (u8 or f32), valid
                // for every bit pattern; the mapping is read-only and lives as long as `self`.
                unsafe { std::slice::from_raw_parts(map.as_ptr().add(*offset) as *const T, *len) }
            }
        }
    }
}

/// All the values of a data set: grey levels (0–255) or real numbers.
#[derive(Clone)]
pub(crate) enum Store {
    /// 8-bit values, scaled to [0, 1] as model inputs.
    Bytes(Arc<Buffer<u8>>),
    /// Real values, taken as they are (or standardised).
    Floats(Arc<Buffer<f32>>),
}

/// One example's values.
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    /// Grey levels 0–255.
    Bytes(&'a [u8]),
    /// Real values.
    Floats(&'a [f32]),
}

/// A data set: `len` examples of one [`ExampleShape`], their values and optional labels.
#[derive(Clone)]
pub struct Examples {
    store: Store,
    shape: ExampleShape,
    /// The stored row of each example of this set (`None`: rows 0..len in order).
    rows: Option<Arc<Vec<usize>>>,
    len: usize,
    /// One label per example of this set, in this set's order.
    labels: Option<Arc<Vec<u32>>>,
    /// Class names, indexed by label, where the source has them.
    classes: Option<Arc<Vec<String>>>,
    split: Split,
}

impl std::fmt::Debug for Examples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Examples")
            .field("len", &self.len)
            .field("shape", &self.shape)
            .field("bytes", &matches!(self.store, Store::Bytes(_)))
            .field("labelled", &self.labels.is_some())
            .field("split", &self.split)
            .finish()
    }
}

impl Examples {
    /// A data set of 8-bit values (example after example, `shape.dim()` each), with one label
    /// per example if given. `path` names the source in errors.
    pub fn from_bytes(
        values: Vec<u8>,
        shape: ExampleShape,
        labels: Option<Vec<u32>>,
        split: Split,
        path: &Path,
    ) -> Result<Self> {
        Self::from_byte_buffer(Buffer::Owned(values), shape, labels, split, path)
    }

    /// A data set of real values (example after example); a NaN or infinite value is an error
    /// naming the example.
    pub fn from_floats(
        values: Vec<f32>,
        shape: ExampleShape,
        labels: Option<Vec<u32>>,
        split: Split,
        path: &Path,
    ) -> Result<Self> {
        Self::from_float_buffer(Buffer::Owned(values), shape, labels, split, path)
    }

    pub(crate) fn from_float_buffer(
        values: Buffer<f32>,
        shape: ExampleShape,
        labels: Option<Vec<u32>>,
        split: Split,
        path: &Path,
    ) -> Result<Self> {
        let len = count(values.len(), shape, labels.as_deref(), path)?;
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(DataError::Points {
                path: path.to_path_buf(),
                line: at / shape.dim().max(1) + 1,
                problem: format!("the value {} is not finite", values[at]),
            });
        }
        Ok(Self::from_store(
            Store::Floats(Arc::new(values)),
            shape,
            len,
            labels,
            split,
        ))
    }

    pub(crate) fn from_byte_buffer(
        values: Buffer<u8>,
        shape: ExampleShape,
        labels: Option<Vec<u32>>,
        split: Split,
        path: &Path,
    ) -> Result<Self> {
        let len = count(values.len(), shape, labels.as_deref(), path)?;
        Ok(Self::from_store(
            Store::Bytes(Arc::new(values)),
            shape,
            len,
            labels,
            split,
        ))
    }

    fn from_store(
        store: Store,
        shape: ExampleShape,
        len: usize,
        labels: Option<Vec<u32>>,
        split: Split,
    ) -> Self {
        Self {
            store,
            shape,
            rows: None,
            len,
            labels: labels.map(Arc::new),
            classes: None,
            split,
        }
    }

    /// The same examples with these class names (indexed by label).
    pub fn with_classes(mut self, classes: Vec<String>) -> Self {
        self.classes = Some(Arc::new(classes));
        self
    }

    /// The same examples, said to come from `split` (which seeds the noise of domain shifts).
    pub fn with_split(mut self, split: Split) -> Self {
        self.split = split;
        self
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What one example is.
    pub fn shape(&self) -> ExampleShape {
        self.shape
    }

    /// Values per example.
    pub fn dim(&self) -> usize {
        self.shape.dim()
    }

    /// The split these examples come from.
    pub fn split(&self) -> Split {
        self.split
    }

    /// Whether the values are 8-bit grey levels (scaled to [0, 1] as inputs).
    pub fn is_bytes(&self) -> bool {
        matches!(self.store, Store::Bytes(_))
    }

    /// The labels, one per example, if the source has them.
    pub fn labels(&self) -> Option<&[u32]> {
        self.labels.as_deref().map(Vec::as_slice)
    }

    /// The class names, indexed by label, where the source names its classes (an image
    /// folder's sub-folders).
    pub fn classes(&self) -> Option<&[String]> {
        self.classes.as_deref().map(Vec::as_slice)
    }

    /// The stored row of example `i`.
    fn row(&self, i: usize) -> usize {
        match &self.rows {
            Some(rows) => rows[i],
            None => i,
        }
    }

    /// The values of example `index` (panics if out of range: check user-given indices
    /// against `len` first).
    pub fn values(&self, index: usize) -> Values<'_> {
        assert!(index < self.len, "example {index} of {}", self.len);
        let (d, row) = (self.dim(), self.row(index));
        match &self.store {
            Store::Bytes(b) => Values::Bytes(&b[row * d..(row + 1) * d]),
            Store::Floats(f) => Values::Floats(&f[row * d..(row + 1) * d]),
        }
    }

    /// The grey levels of example `index` of an 8-bit data set.
    ///
    /// # Panics
    /// For a data set of real values (see [`Examples::is_bytes`]), or an index out of range.
    pub fn image(&self, index: usize) -> &[u8] {
        match self.values(index) {
            Values::Bytes(b) => b,
            Values::Floats(_) => panic!("Examples::image: these examples are real values"),
        }
    }

    /// Every grey level of an 8-bit data set that is not a view (as loaded), example after
    /// example.
    ///
    /// # Panics
    /// For real values, or for a subset made by [`Examples::select`].
    pub fn pixels(&self) -> &[u8] {
        match (&self.store, &self.rows) {
            (Store::Bytes(b), None) => &b[..self.len * self.dim()],
            _ => panic!("Examples::pixels: an 8-bit data set as loaded"),
        }
    }

    /// Example `index` as a dataset item.
    pub fn item(&self, index: usize) -> ExampleItem {
        ExampleItem {
            index,
            values: match self.values(index) {
                Values::Bytes(b) => ItemValues::Bytes(b.to_vec()),
                Values::Floats(f) => ItemValues::Floats(f.to_vec()),
            },
            label: self.labels().map(|l| l[index]),
        }
    }

    /// The first `n` examples (all of them if there are fewer): a view, not a copy.
    pub fn truncated(&self, n: usize) -> Self {
        let n = n.min(self.len);
        let mut first = self.clone();
        first.len = n;
        first.rows = self.rows.as_ref().map(|r| Arc::new(r[..n].to_vec()));
        first.labels = self.labels.as_ref().map(|l| Arc::new(l[..n].to_vec()));
        first
    }

    /// The examples `indices` of this set, in that order: a view, not a copy.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Self {
        let mut chosen = self.clone();
        chosen.len = indices.len();
        chosen.rows = Some(Arc::new(indices.iter().map(|i| self.row(*i)).collect()));
        chosen.labels = self
            .labels
            .as_ref()
            .map(|l| Arc::new(indices.iter().map(|i| l[*i]).collect()));
        chosen
    }

    /// This set with the labels of its first `n` examples hidden (set to [`u32::MAX`], which
    /// no class has): the unlabelled part of a semi-supervised training set.
    pub fn hide_labels_before(&self, n: usize) -> Self {
        let mut hidden = self.clone();
        hidden.labels = self.labels.as_ref().map(|l| {
            Arc::new(
                l.iter()
                    .enumerate()
                    .map(|(i, v)| if i < n { u32::MAX } else { *v })
                    .collect(),
            )
        });
        hidden
    }

    /// A seeded split into (training, test) views: `fraction` of the examples (at least one,
    /// and at least one left to train on) drawn at random for the test set, both in a seeded
    /// random order — so that the first N of either (a limit, the examples a report shows) are
    /// a random N, not the first classes of a folder sorted by class.
    pub fn split_off(&self, fraction: f64, seed: u64) -> Result<(Self, Self)> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(DataError::InvalidMixture(format!(
                "the test fraction must be in (0, 1), not {fraction}"
            )));
        }
        if self.len < 2 {
            return Err(DataError::InvalidMixture(format!(
                "{} example(s) cannot be split into a training and a test set",
                self.len
            )));
        }
        let n_test = ((self.len as f64 * fraction).round() as usize).clamp(1, self.len - 1);
        let mut rng = StdRng::seed_from_u64(seed ^ SPLIT_SEED_SALT);
        let order = rand::seq::index::sample(&mut rng, self.len, self.len).into_vec();
        let (test, train) = order.split_at(n_test);
        Ok((
            self.select(train).with_split(Split::Train),
            self.select(test).with_split(Split::Test),
        ))
    }

    /// `n` distinct examples drawn at random (seeded by `seed`), in the order drawn; an error
    /// if there are fewer than `n`.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Self> {
        if n > self.len {
            return Err(DataError::InvalidMixture(format!(
                "{n} distinct examples cannot be drawn from {}",
                self.len
            )));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        Ok(self.select(&rand::seq::index::sample(&mut rng, self.len, n).into_vec()))
    }

    /// How many examples of each class there are (`classes` entries, or one more than the
    /// largest label); empty without labels.
    pub fn class_counts(&self) -> Vec<usize> {
        let Some(labels) = self.labels() else {
            return Vec::new();
        };
        let classes = self.classes().map(<[String]>::len).unwrap_or_else(|| {
            labels
                .iter()
                .filter(|l| **l != u32::MAX)
                .max()
                .map_or(0, |m| *m as usize + 1)
        });
        let mut counts = vec![0usize; classes];
        // Hidden labels (u32::MAX) count in no class.
        for label in labels {
            if let Some(count) = counts.get_mut(*label as usize) {
                *count += 1;
            }
        }
        counts
    }

    /// The smallest and largest value as a model sees it (grey levels scaled to [0, 1]).
    pub fn value_range(&self) -> (f32, f32) {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for i in 0..self.len {
            match self.values(i) {
                Values::Bytes(b) => b.iter().for_each(|v| {
                    let v = *v as f32 / 255.0;
                    lo = lo.min(v);
                    hi = hi.max(v);
                }),
                Values::Floats(f) => f.iter().for_each(|v| {
                    lo = lo.min(*v);
                    hi = hi.max(*v);
                }),
            }
        }
        (lo, hi)
    }

    /// Whether every value (as a model sees it) lies in [0, 1], as a Bernoulli likelihood
    /// needs.
    pub fn unit_interval(&self) -> bool {
        if self.is_bytes() {
            return true;
        }
        let (lo, hi) = self.value_range();
        lo >= 0.0 && hi <= 1.0
    }

    /// The mean and the (population) standard deviation of every value of an 8-bit data set,
    /// scaled to [0, 1]; of the raw values otherwise.
    pub fn pixel_mean_std(&self) -> (f64, f64) {
        let scale = if self.is_bytes() { 1.0 / 255.0 } else { 1.0 };
        let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0usize);
        for i in 0..self.len {
            match self.values(i) {
                Values::Bytes(b) => b.iter().for_each(|v| {
                    let v = *v as f64 * scale;
                    sum += v;
                    sq += v * v;
                }),
                Values::Floats(f) => f.iter().for_each(|v| {
                    let v = *v as f64;
                    sum += v;
                    sq += v * v;
                }),
            }
            n += self.dim();
        }
        let mean = sum / n as f64;
        (mean, (sq / n as f64 - mean * mean).max(0.0).sqrt())
    }

    /// The standardisation of these examples' values, per dimension: their mean and standard
    /// deviation (a constant dimension gets 1, so that it maps to 0 and back).
    pub fn standardisation(&self) -> Standardisation {
        let d = self.dim();
        let (mut sum, mut sq) = (vec![0.0f64; d], vec![0.0f64; d]);
        for i in 0..self.len {
            let row: Vec<f64> = match self.values(i) {
                Values::Bytes(b) => b.iter().map(|v| *v as f64 / 255.0).collect(),
                Values::Floats(f) => f.iter().map(|v| *v as f64).collect(),
            };
            for (j, v) in row.iter().enumerate() {
                sum[j] += v;
                sq[j] += v * v;
            }
        }
        let n = self.len.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| {
                let s = (q / n - m * m).max(0.0).sqrt();
                if s > MIN_STD {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        Standardisation { mean, std }
    }
}

/// Mixed into the seed of a test split, so that it and the training draws are other streams.
const SPLIT_SEED_SALT: u64 = 0x7e57_5e7f;

/// A dimension whose standard deviation is below this is taken as constant.
const MIN_STD: f64 = 1e-12;

/// The number of examples of `len` values of `shape`, checked against the labels.
fn count(len: usize, shape: ExampleShape, labels: Option<&[u32]>, path: &Path) -> Result<usize> {
    let d = shape.dim();
    if d == 0 || !len.is_multiple_of(d) {
        return Err(DataError::Npy {
            path: path.to_path_buf(),
            problem: format!("{len} values are not a whole number of {shape}"),
        });
    }
    let n = len / d;
    if let Some(labels) = labels {
        if labels.len() != n {
            return Err(DataError::CountMismatch {
                images: path.to_path_buf(),
                labels: path.to_path_buf(),
                n_images: n,
                n_labels: labels.len(),
            });
        }
    }
    Ok(n)
}

/// Per-dimension affine scaling of real-valued data, x ↦ (x − mean) / std, recorded with a run
/// and undone for everything it shows in the data's own units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardisation {
    /// The training mean of each dimension.
    pub mean: Vec<f64>,
    /// The training standard deviation of each dimension (1 for a constant one).
    pub std: Vec<f64>,
}

impl Standardisation {
    /// log |det J| of x ↦ (x − mean)/std: −Σ_d log std_d. A density of the standardised values
    /// is one of the data as given after adding this: log p(x) = log p(x') + log |det J|.
    pub fn log_jacobian(&self) -> f64 {
        -self.std.iter().map(|s| s.ln()).sum::<f64>()
    }

    /// Standardised values back in the data's units: x = x' · std + mean, row after row.
    pub fn undo(&self, values: &mut [f32]) {
        let d = self.mean.len();
        for (j, v) in values.iter_mut().enumerate() {
            let k = j % d;
            *v = (*v as f64 * self.std[k] + self.mean[k]) as f32;
        }
    }
}

impl Dataset<ExampleItem> for Examples {
    fn get(&self, index: usize) -> std::result::Result<ExampleItem, DatasetError> {
        if index >= self.len {
            return Err(DatasetError::new(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("example index {index} out of range 0..{}", self.len),
            )));
        }
        Ok(self.item(index))
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// One example's values.
#[derive(Debug, Clone)]
pub enum ItemValues {
    /// Grey levels 0–255.
    Bytes(Vec<u8>),
    /// Real values.
    Floats(Vec<f32>),
}

/// One example: its index in the data set, its values and its label.
#[derive(Debug, Clone)]
pub struct ExampleItem {
    /// 0-based index of the example in its data set (it seeds fixed binarisation).
    pub index: usize,
    /// Its values.
    pub values: ItemValues,
    /// Its label, if the data set has labels.
    pub label: Option<u32>,
}

/// How values become model inputs.
#[derive(Debug)]
pub enum Binarization {
    /// Grey levels scaled to [0, 1]; real values as they are.
    None,
    /// A fresh Bernoulli draw x ~ Bern(v) of every value each time an example is batched,
    /// from a seeded generator: reproducible for the same seed and order of batches.
    Dynamic(Box<Mutex<StdRng>>),
    /// One fixed Bernoulli draw per (example index, value), the same every run and every
    /// backend for a given seed, whatever the batching: for likelihood evaluation.
    Fixed {
        /// The seed of the draws.
        seed: u64,
    },
}

/// Turns [`ExampleItem`]s into an [`ExampleBatch`] on a device.
#[derive(Debug)]
pub struct ExampleBatcher {
    binarization: Binarization,
    standardisation: Option<Arc<Standardisation>>,
    labels: Option<LabelColumns>,
}

/// The labels handed to a conditional model as inputs: `classes` one-hot columns after each
/// example's values, all zero where the label is hidden (or missing, or not below `classes`).
/// A label is shown for the examples of index `visible_from` and above: 0 shows every label,
/// [`usize::MAX`] none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelColumns {
    /// Number of classes (columns).
    pub classes: usize,
    /// The first example index whose label is shown.
    pub visible_from: usize,
}

/// A batch: inputs `[batch, dim]` and the examples' labels `[batch]` if they have them.
#[derive(Debug, Clone)]
pub struct ExampleBatch {
    /// The inputs, one row per example.
    pub images: Tensor<2>,
    /// The labels, where every example of the batch has one.
    pub labels: Option<Tensor<1, Int>>,
}

impl ExampleBatcher {
    /// Grey levels in [0, 1] (real values as they are).
    pub fn grey() -> Self {
        Self {
            binarization: Binarization::None,
            standardisation: None,
            labels: None,
        }
    }

    /// Dynamic binarisation: a fresh draw per presentation, seeded.
    pub fn dynamic(seed: u64) -> Self {
        Self {
            binarization: Binarization::Dynamic(Box::new(Mutex::new(StdRng::seed_from_u64(seed)))),
            standardisation: None,
            labels: None,
        }
    }

    /// Fixed binarisation: the same binary image for a given (seed, example index) every time.
    pub fn fixed(seed: u64) -> Self {
        Self {
            binarization: Binarization::Fixed { seed },
            standardisation: None,
            labels: None,
        }
    }

    /// This batcher with real values standardised by `standardisation` (after any
    /// binarisation; a standardised set is never binarised in practice).
    pub fn standardised(mut self, standardisation: Option<Standardisation>) -> Self {
        self.standardisation = standardisation.map(Arc::new);
        self
    }

    /// This batcher with the examples' labels appended to their inputs as `labels` says.
    pub fn with_labels(mut self, labels: Option<LabelColumns>) -> Self {
        self.labels = labels;
        self
    }

    /// The inputs of examples `indices` of `data` as one `[n, dim]` tensor on `device`
    /// (panics if an index is out of range).
    pub fn images(
        &self,
        data: &Examples,
        indices: impl IntoIterator<Item = usize>,
        device: &Device,
    ) -> Tensor<2> {
        let items = indices.into_iter().map(|i| data.item(i)).collect();
        self.batch(items, device).images
    }

    /// The model inputs of `items`, row after row.
    pub fn inputs(&self, items: &[ExampleItem]) -> Vec<f32> {
        let mut out = Vec::with_capacity(items.iter().map(item_len).sum());
        match &self.binarization {
            Binarization::None => {
                for item in items {
                    match &item.values {
                        ItemValues::Bytes(b) => out.extend(b.iter().map(|v| *v as f32 / 255.0)),
                        ItemValues::Floats(f) => out.extend_from_slice(f),
                    }
                }
            }
            Binarization::Dynamic(rng) => {
                let mut rng = rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                for item in items {
                    match &item.values {
                        // Black (0) and white (255) pixels — about four in five of MNIST's —
                        // are 0 and 1 with certainty: only the grey ones need a draw.
                        ItemValues::Bytes(b) => out.extend(b.iter().map(|&v| match v {
                            0 => 0.0,
                            255 => 1.0,
                            _ => bernoulli_pixel(v, rng.random()),
                        })),
                        ItemValues::Floats(f) => {
                            out.extend(f.iter().map(|&p| bernoulli_value(p, rng.random())))
                        }
                    }
                }
            }
            Binarization::Fixed { seed } => {
                for item in items {
                    let uniform = |p: usize| fixed_uniform(*seed, item.index, p);
                    match &item.values {
                        ItemValues::Bytes(b) => out.extend(
                            b.iter()
                                .enumerate()
                                .map(|(p, v)| bernoulli_pixel(*v, uniform(p))),
                        ),
                        ItemValues::Floats(f) => out.extend(
                            f.iter()
                                .enumerate()
                                .map(|(p, v)| bernoulli_value(*v, uniform(p))),
                        ),
                    }
                }
            }
        }
        if let Some(s) = &self.standardisation {
            let d = s.mean.len();
            for (j, v) in out.iter_mut().enumerate() {
                let k = j % d;
                *v = ((*v as f64 - s.mean[k]) / s.std[k]) as f32;
            }
        }
        match self.labels {
            Some(columns) => with_label_columns(out, items, columns),
            None => out,
        }
    }

    /// Inputs per example: its values, and the label columns if there are any.
    fn width(&self, item: &ExampleItem) -> usize {
        item_len(item) + self.labels.map_or(0, |l| l.classes)
    }
}

/// `values` (the items' values, row after row) with each row followed by its label's one-hot
/// columns (zeros where it is hidden).
fn with_label_columns(values: Vec<f32>, items: &[ExampleItem], columns: LabelColumns) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len() + items.len() * columns.classes);
    let mut rest = values.as_slice();
    for item in items {
        let (row, tail) = rest.split_at(item_len(item));
        rest = tail;
        out.extend_from_slice(row);
        let shown = item
            .label
            .map(|l| l as usize)
            .filter(|l| *l < columns.classes && item.index >= columns.visible_from);
        out.extend((0..columns.classes).map(|c| if Some(c) == shown { 1.0 } else { 0.0 }));
    }
    out
}

fn item_len(item: &ExampleItem) -> usize {
    match &item.values {
        ItemValues::Bytes(b) => b.len(),
        ItemValues::Floats(f) => f.len(),
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

/// 1 with probability p (clamped to [0, 1]).
fn bernoulli_value(p: f32, uniform: f32) -> f32 {
    if uniform < p {
        1.0
    } else {
        0.0
    }
}

/// A uniform number in [0, 1) that depends only on (seed, example, value): SplitMix64 of the
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

impl Batcher<ExampleItem, ExampleBatch> for ExampleBatcher {
    fn batch(&self, items: Vec<ExampleItem>, device: &Device) -> ExampleBatch {
        let n = items.len();
        let d = items.first().map_or(0, |item| self.width(item));
        let images = TensorData::new(self.inputs(&items), [n, d]);
        // A hidden label (u32::MAX) is no label: the batch then has none.
        let labels: Option<Vec<i64>> = items
            .iter()
            .map(|i| i.label.filter(|l| *l != u32::MAX).map(i64::from))
            .collect();
        ExampleBatch {
            images: Tensor::from_data(images, device),
            labels: labels.map(|l| Tensor::from_data(TensorData::new(l, [n]), device)),
        }
    }
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

    fn floats(values: Vec<f32>, d: usize) -> Examples {
        let labels = (0..values.len() / d).map(|i| i as u32 % 3).collect();
        Examples::from_floats(
            values,
            ExampleShape::Vector { dim: d },
            Some(labels),
            Split::Train,
            Path::new("x"),
        )
        .unwrap()
    }

    #[test]
    fn label_columns_follow_the_values_one_hot_or_zero_where_hidden() {
        // Labels 0, 1, 2, 0 (index % 3); the first two hidden.
        let data = floats((0..8).map(|v| v as f32).collect(), 2).hide_labels_before(2);
        let items: Vec<ExampleItem> = (0..4).map(|i| data.item(i)).collect();
        let columns = |visible_from| LabelColumns {
            classes: 3,
            visible_from,
        };
        let inputs = ExampleBatcher::grey()
            .with_labels(Some(columns(0)))
            .inputs(&items);
        #[rustfmt::skip]
        let want = [
            0.0, 1.0, 0.0, 0.0, 0.0,
            2.0, 3.0, 0.0, 0.0, 0.0,
            4.0, 5.0, 0.0, 0.0, 1.0,
            6.0, 7.0, 1.0, 0.0, 0.0,
        ];
        assert_eq!(inputs, want);
        // Shown from index 3 on only; none at usize::MAX.
        let later = ExampleBatcher::grey()
            .with_labels(Some(columns(3)))
            .inputs(&items);
        assert_eq!(&later[10..15], &[4.0, 5.0, 0.0, 0.0, 0.0]);
        assert_eq!(&later[15..], &[6.0, 7.0, 1.0, 0.0, 0.0]);
        let none = ExampleBatcher::grey()
            .with_labels(Some(columns(usize::MAX)))
            .inputs(&items);
        assert_eq!(none.iter().skip(2).step_by(5).sum::<f32>(), 0.0);
        // A batch with a hidden label has no label tensor, and the counts skip it.
        #[allow(deprecated)]
        let device = Device::ndarray();
        let batch = ExampleBatcher::grey().batch(items, &device);
        assert!(batch.labels.is_none());
        assert_eq!(batch.images.dims(), [4, 2]);
        assert_eq!(data.class_counts(), vec![1, 0, 1]);
    }

    #[test]
    fn views_select_rows_and_their_labels_without_copying_values() {
        let data = floats((0..20).map(|v| v as f32).collect(), 2);
        let view = data.select(&[4, 1]);
        assert_eq!(view.len(), 2);
        assert!(matches!(view.values(0), Values::Floats([8.0, 9.0])));
        assert_eq!(view.labels(), Some(&[1, 1][..]));
        let first = view.truncated(1);
        assert!(matches!(first.values(0), Values::Floats([8.0, 9.0])));
        assert_eq!(first.item(0).label, Some(1));
    }

    #[test]
    fn a_seeded_split_partitions_the_examples() {
        let data = floats((0..200).map(|v| v as f32).collect(), 2);
        let (train, test) = data.split_off(0.2, 7).unwrap();
        assert_eq!((train.len(), test.len()), (80, 20));
        let firsts = |set: &Examples| -> Vec<u32> {
            (0..set.len())
                .map(|i| match set.values(i) {
                    Values::Floats(f) => f[0] as u32 / 2,
                    Values::Bytes(_) => unreachable!(),
                })
                .collect()
        };
        let mut all: Vec<u32> = firsts(&train).into_iter().chain(firsts(&test)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>(), "each example once");
        let (_, again) = data.split_off(0.2, 7).unwrap();
        assert_eq!(
            firsts(&again),
            firsts(&test),
            "the same seed, the same split"
        );
        let (_, other) = data.split_off(0.2, 8).unwrap();
        assert_ne!(firsts(&other), firsts(&test));
        // A random order: the first ten training examples are not the data's first ten.
        assert_ne!(firsts(&train)[..10], (0..10).collect::<Vec<_>>()[..]);
        for bad in [0.0, 1.0, -0.5, f64::NAN] {
            assert!(data.split_off(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn standardisation_and_its_inverse_and_jacobian() {
        let data = floats(vec![1.0, 10.0, 3.0, 10.0, 5.0, 10.0], 2);
        let s = data.standardisation();
        assert_eq!(s.mean, vec![3.0, 10.0]);
        assert!((s.std[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.std[1], 1.0, "a constant column keeps unit scale");
        let batcher = ExampleBatcher::grey().standardised(Some(s.clone()));
        let items: Vec<_> = (0..3).map(|i| data.item(i)).collect();
        let mut x = batcher.inputs(&items);
        assert!((x[0] as f64 + (3.0f64 / 2.0).sqrt()).abs() < 1e-6 && x[1] == 0.0);
        s.undo(&mut x);
        assert!((x[4] - 5.0).abs() < 1e-5 && x[5] == 10.0);
        assert!((s.log_jacobian() + s.std[0].ln()).abs() < 1e-12);
    }

    #[test]
    fn bad_shapes_counts_and_values_are_refused() {
        let path = Path::new("data.npy");
        let shape = ExampleShape::Vector { dim: 3 };
        assert!(Examples::from_floats(vec![0.0; 7], shape, None, Split::Train, path).is_err());
        let err = Examples::from_floats(vec![0.0; 6], shape, Some(vec![1]), Split::Train, path)
            .unwrap_err();
        assert!(matches!(err, DataError::CountMismatch { .. }), "{err}");
        let err = Examples::from_floats(vec![0.0, f32::NAN, 0.0], shape, None, Split::Train, path)
            .unwrap_err();
        assert!(err.to_string().contains("not finite"), "{err}");
    }
}
