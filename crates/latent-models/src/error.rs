use std::path::PathBuf;

/// Everything the models can refuse or fail at. Messages name the setting or file at fault and
/// say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A hyper-parameter is out of range; checked before any work starts.
    #[error("invalid setting `{field}`: {problem}")]
    InvalidSetting {
        field: &'static str,
        problem: String,
    },

    /// The data do not fit the model or the request.
    #[error("invalid data: {0}")]
    InvalidData(String),

    #[error(
        "the covariance of component {component} is not positive definite (ill-conditioned); \
         increase reg_covar (now {reg_covar}), use fewer components, or rescale the data"
    )]
    IllConditioned { component: usize, reg_covar: f64 },

    #[error(
        "EM diverged: the log-likelihood became {value} at iteration {iteration}; \
         increase reg_covar or rescale the data"
    )]
    Diverged { iteration: usize, value: f64 },

    #[error("cannot read or write {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("{path} is not a {expected} model file: {problem}")]
    BadModelFile {
        path: PathBuf,
        expected: &'static str,
        problem: String,
    },

    #[error(transparent)]
    Data(#[from] latent_data::DataError),

    #[error("reading a tensor back from the device failed: {0}")]
    Device(String),
}

pub type Result<T> = std::result::Result<T, ModelError>;

pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> ModelError {
    ModelError::InvalidSetting {
        field,
        problem: problem.into(),
    }
}
