use std::path::PathBuf;

/// Everything that can go wrong reading or making data. Each variant names the file (and the
/// line or record) and says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read or written.
    #[error("cannot read or write {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },

    /// A file starts with the gzip magic bytes but does not decompress.
    #[error("{path}: the file starts like gzip but does not decompress: {cause}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decompressor's error.
        cause: std::io::Error,
    },

    /// An IDX file ends before its header does.
    #[error("{path}: IDX file is {len} bytes, too short for its header ({needed} bytes)")]
    IdxTruncatedHeader {
        /// The file.
        path: PathBuf,
        /// Its length in bytes (after decompression).
        len: usize,
        /// The header's length in bytes: 4 for the magic number, then 4 per dimension.
        needed: usize,
    },

    /// An IDX file's magic number is not the one expected (another element type or another
    /// number of dimensions).
    #[error(
        "{path}: IDX magic number is {found:#010x}, expected {expected:#010x} ({what}); \
         is this the right file?"
    )]
    IdxBadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number read.
        found: u32,
        /// The magic number expected ([`LABELS_MAGIC`](crate::idx::LABELS_MAGIC) or
        /// [`IMAGES_MAGIC`](crate::idx::IMAGES_MAGIC)).
        expected: u32,
        /// What the expected magic number stands for, in words.
        what: &'static str,
    },

    /// An IDX file's dimensions are unusable: one is zero, their product overflows, or they
    /// are not those of 28 × 28 images.
    #[error("{path}: IDX dimensions {dims:?} are invalid: {problem}")]
    IdxBadDims {
        /// The file.
        path: PathBuf,
        /// The dimensions read from the header.
        dims: Vec<usize>,
        /// What is wrong with them.
        problem: &'static str,
    },

    /// An IDX file's data are not exactly as long as its dimensions say.
    #[error(
        "{path}: IDX dimensions {dims:?} need {expected} data bytes but the file has {found} \
         (truncated or corrupt download?)"
    )]
    IdxLength {
        /// The file.
        path: PathBuf,
        /// The dimensions read from the header.
        dims: Vec<usize>,
        /// Data bytes the dimensions call for: their product.
        expected: usize,
        /// Data bytes after the header.
        found: usize,
    },

    /// An images file and its labels file hold different numbers of examples.
    #[error("{images} has {n_images} images but {labels} has {n_labels} labels")]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Number of images.
        n_images: usize,
        /// Number of labels.
        n_labels: usize,
    },

    /// A label is not a digit 0–9.
    #[error("{path}: label {label} at index {index} is not a digit 0-9")]
    BadLabel {
        /// The labels file.
        path: PathBuf,
        /// 0-based index of the first bad label.
        index: usize,
        /// Its value.
        label: u8,
    },

    /// More examples were asked for than a file holds.
    #[error("asked for {requested} examples but {path} has only {available}")]
    LimitTooLarge {
        /// The file.
        path: PathBuf,
        /// Examples asked for.
        requested: usize,
        /// Examples the file holds.
        available: usize,
    },

    /// More examples were asked for than a data spec (after its class filter) holds.
    #[error("asked for {requested} examples of {spec} but its {split} split has only {available}")]
    SpecTooSmall {
        /// The canonical data spec, e.g. `mnist:classes=5-9`.
        spec: String,
        /// The split, in words (`training` or `test`).
        split: &'static str,
        /// Examples asked for.
        requested: usize,
        /// Examples the spec keeps of the split.
        available: usize,
    },

    /// A data spec does not parse.
    #[error("bad data spec `{spec}`: {problem}. The forms are: {forms}")]
    BadSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        problem: String,
        /// The forms a spec may take ([`SPEC_FORMS`](crate::domain::SPEC_FORMS)).
        forms: &'static str,
    },

    /// A `SHA256SUMS` list is malformed or a file's digest does not match it.
    #[error("{path}: {problem}")]
    Checksum {
        /// The list, or the file that does not match.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },

    /// A bad row of a point set: ragged, not a number, or not finite.
    #[error("{path}:{line}: {problem}")]
    Points {
        /// The file.
        path: PathBuf,
        /// 1-based line of a CSV file, or 1-based row of an NPY array.
        line: usize,
        /// What is wrong with the row.
        problem: String,
    },

    /// An NPY file is not one this reader takes: bad magic, unsupported version or dtype, not
    /// 2-D, or truncated.
    #[error("{path}: {problem}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },

    /// A point set has no data rows.
    #[error("{path}: no data rows")]
    Empty {
        /// The file.
        path: PathBuf,
    },

    /// A point-set file whose extension is neither `.csv` nor `.npy`.
    #[error("{path}: unsupported points format; use a .csv or .npy file")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },

    /// Invalid parameters of a Gaussian mixture or of a point set (shapes, weights,
    /// positive-definiteness, non-finite values); the message says which.
    #[error("invalid Gaussian mixture: {0}")]
    InvalidMixture(String),

    /// An image folder or image file that cannot be used: no images, class folders mixed with
    /// loose images, an empty class folder, images of different sizes, an image that does not
    /// decode, or a bad image size; the message says what to do.
    #[error("{path}: {problem}")]
    Image {
        /// The folder, or the image file.
        path: PathBuf,
        /// What is wrong, and what to do about it.
        problem: String,
    },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            cause,
        }
    }
}

/// A result whose error is a [`DataError`].
pub type Result<T> = std::result::Result<T, DataError>;
