//! What can go wrong in a run, with messages that name the run directory, file, setting or
//! device at fault and say what to do.

use std::path::{Path, PathBuf};

/// Everything training, evaluation and the run directory can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file or directory could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// The directory is not a run this code can use (no `config.json`, a damaged file, another
    /// kind of model).
    #[error("{path}: not a usable latent run: {problem}")]
    BadRun {
        /// The run directory.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A checkpoint (or exported weights file) could not be written, read or applied.
    #[error("{path}: cannot read or write the checkpoint: {problem}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The loss became NaN or infinite.
    #[error(
        "training diverged in epoch {epoch}, step {step}: the loss became {value}; \
         lower --lr or raise --warmup ({})",
        kept(*epoch)
    )]
    Diverged {
        /// The epoch (1-based).
        epoch: usize,
        /// The step within the epoch (1-based).
        step: usize,
        /// The non-finite value.
        value: f64,
    },
    /// A setting is out of range; checked before any work starts.
    #[error("invalid setting `{field}`: {problem}")]
    InvalidSetting {
        /// The setting's name.
        field: &'static str,
        /// Why it is refused.
        problem: String,
    },
    /// A device stopped answering while training (a remote server gone, say).
    #[error("device {device} failed in epoch {epoch}: {problem}; {}", kept_for_devices(*epoch))]
    Device {
        /// The device or devices that no longer answer.
        device: String,
        /// The epoch it failed in.
        epoch: usize,
        /// What burn said.
        problem: String,
    },
    /// A device stopped answering while evaluating.
    #[error("device {device} failed while evaluating: {problem}")]
    Evaluation {
        /// The device or devices that no longer answer.
        device: String,
        /// What burn said.
        problem: String,
    },
    /// Another process is writing the run.
    #[error(
        "{path} is in use by another latent process{}; wait for it to finish or stop it",
        pid.map(|p| format!(" (PID {p})")).unwrap_or_default()
    )]
    Locked {
        /// The run directory.
        path: PathBuf,
        /// The process holding the lock, as it recorded itself.
        pid: Option<u32>,
    },
    /// `--resume` was given a setting other than the run's own.
    #[error(
        "--resume continues the run as recorded, and `{field}` is {recorded} there, not \
         {given}; only the number of epochs (to extend it), the devices, replicas and threads \
         may change on resume (train a new run, or --init-from this one, to change the rest)"
    )]
    ResumeMismatch {
        /// The setting, as `config.json` names it.
        field: String,
        /// Its value asked for.
        given: String,
        /// Its value in the run.
        recorded: String,
    },
    /// A value could not be read back from the device.
    #[error("reading values back from the device: {0}")]
    ReadBack(String),
    /// A model refused its configuration.
    #[error(transparent)]
    Model(#[from] latent_models::ModelError),
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] latent_data::DataError),
    /// A picture could not be drawn or written.
    #[error(transparent)]
    Picture(#[from] latent_viz::VizError),
}

/// What a failure in `epoch` leaves behind: the previous epoch's checkpoint, or none.
fn kept(epoch: usize) -> String {
    match epoch.saturating_sub(1) {
        0 => "no epoch completed, so no checkpoint was written; training the run again starts \
              it afresh"
            .into(),
        done => format!("the checkpoint of epoch {done} is kept"),
    }
}

/// [`kept`], with what `--resume` can do with it.
fn kept_for_devices(epoch: usize) -> String {
    match epoch.saturating_sub(1) {
        0 => kept(epoch),
        _ => format!(
            "{} (`latent train --resume` continues it, on other --devices if need be)",
            kept(epoch)
        ),
    }
}

/// The result of everything in this crate.
pub type Result<T> = std::result::Result<T, TrainError>;

/// The [`TrainError::Io`] of `path`.
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |cause| TrainError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// An [`TrainError::InvalidSetting`].
pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> TrainError {
    TrainError::InvalidSetting {
        field,
        problem: problem.into(),
    }
}
