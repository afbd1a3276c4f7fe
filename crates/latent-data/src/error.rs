use std::path::PathBuf;

/// Everything that can go wrong reading or making data. Each variant names the file (and the
/// line or record) and says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("{path}: the file starts like gzip but does not decompress: {cause}")]
    Gzip {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("{path}: IDX file is {len} bytes, too short for its header ({needed} bytes)")]
    IdxTruncatedHeader {
        path: PathBuf,
        len: usize,
        needed: usize,
    },

    #[error(
        "{path}: IDX magic number is {found:#010x}, expected {expected:#010x} ({what}); \
         is this the right file?"
    )]
    IdxBadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        what: &'static str,
    },

    #[error("{path}: IDX dimensions {dims:?} are invalid: {problem}")]
    IdxBadDims {
        path: PathBuf,
        dims: Vec<usize>,
        problem: &'static str,
    },

    #[error(
        "{path}: IDX dimensions {dims:?} need {expected} data bytes but the file has {found} \
         (truncated or corrupt download?)"
    )]
    IdxLength {
        path: PathBuf,
        dims: Vec<usize>,
        expected: usize,
        found: usize,
    },

    #[error("{images} has {n_images} images but {labels} has {n_labels} labels")]
    CountMismatch {
        images: PathBuf,
        labels: PathBuf,
        n_images: usize,
        n_labels: usize,
    },

    #[error("{path}: label {label} at index {index} is not a digit 0-9")]
    BadLabel {
        path: PathBuf,
        index: usize,
        label: u8,
    },

    #[error("asked for {requested} examples but {path} has only {available}")]
    LimitTooLarge {
        path: PathBuf,
        requested: usize,
        available: usize,
    },

    #[error("asked for {requested} examples of {spec} but its {split} split has only {available}")]
    SpecTooSmall {
        spec: String,
        split: &'static str,
        requested: usize,
        available: usize,
    },

    #[error("bad data spec `{spec}`: {problem}. The forms are: {forms}")]
    BadSpec {
        spec: String,
        problem: String,
        forms: &'static str,
    },

    #[error("{path}: {problem}")]
    Checksum { path: PathBuf, problem: String },

    #[error("{path}:{line}: {problem}")]
    Points {
        path: PathBuf,
        /// 1-based line of a CSV file, or 1-based row of an NPY array.
        line: usize,
        problem: String,
    },

    #[error("{path}: {problem}")]
    Npy { path: PathBuf, problem: String },

    #[error("{path}: no data rows")]
    Empty { path: PathBuf },

    #[error("{path}: unsupported points format; use a .csv or .npy file")]
    UnknownFormat { path: PathBuf },

    #[error("invalid Gaussian mixture: {0}")]
    InvalidMixture(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            cause,
        }
    }
}

pub type Result<T> = std::result::Result<T, DataError>;
