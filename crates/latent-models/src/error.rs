use std::path::PathBuf;

/// Everything the models can refuse or fail at. Messages name the setting or file at fault and
/// say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A hyper-parameter is out of range; checked before any work starts.
    #[error("invalid setting `{field}`: {problem}")]
    InvalidSetting {
        /// The setting at fault, as named in the configuration (e.g. `n_components`).
        field: &'static str,
        /// What is wrong with its value.
        problem: String,
    },

    /// The data do not fit the model or the request.
    #[error("invalid data: {0}")]
    InvalidData(String),

    /// A covariance is not positive definite (its Cholesky factorisation failed).
    #[error(
        "the covariance of component {component} is not positive definite (ill-conditioned); \
         increase reg_covar (now {reg_covar}), use fewer components, or rescale the data"
    )]
    IllConditioned {
        /// Index of the component (0 for a tied covariance).
        component: usize,
        /// The `reg_covar` in force.
        reg_covar: f64,
    },

    /// The mean log-likelihood of an EM iteration is not finite.
    #[error(
        "EM diverged: the log-likelihood became {value} at iteration {iteration}; \
         increase reg_covar or rescale the data"
    )]
    Diverged {
        /// 1-based EM iteration.
        iteration: usize,
        /// The value it reached (NaN or ±∞).
        value: f64,
    },

    /// A model file could not be read or written.
    #[error("cannot read or write {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },

    /// A file that is not a model of the expected kind: not JSON, another format tag, or
    /// inconsistent parameters.
    #[error("{path} is not a {expected} model file: {problem}")]
    BadModelFile {
        /// The file.
        path: PathBuf,
        /// The kind of model expected, in words ("Gaussian mixture").
        expected: &'static str,
        /// What is wrong with it.
        problem: String,
    },

    /// An error of `latent-data` (reading or making data).
    #[error(transparent)]
    Data(#[from] latent_data::DataError),

    /// Reading a tensor's values back from the device failed.
    #[error("reading a tensor back from the device failed: {0}")]
    Device(String),
}

/// A result whose error is a [`ModelError`].
pub type Result<T> = std::result::Result<T, ModelError>;

pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> ModelError {
    ModelError::InvalidSetting {
        field,
        problem: problem.into(),
    }
}
