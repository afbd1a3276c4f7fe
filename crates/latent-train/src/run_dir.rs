//! The run directory, the one place that knows its format:
//!
//! | file | what it holds |
//! |---|---|
//! | `config.json` | the [`TrainConfig`]: everything needed to rebuild the model and continue |
//! | `metrics.jsonl` | one [`EpochMetrics`] line per completed epoch |
//! | `state.json` | the last completed epoch, written after its checkpoint |
//! | `summary.json` | the last epoch's metrics |
//! | `checkpoints/model.bpk` | the model's weights (burnpack) |
//! | `checkpoints/optimizer.bpk`, `optimizer-1.bpk`, … | Adam's state, one file per parameter group |
//! | `images/`, `report.html` | pictures and the report |
//! | `transfer.json`, `source/`, `n{N}-seed{S}/{arm}/` | a transfer study's results and runs |
//!
//! Every file is written to a temporary name and renamed into place, so a kill never leaves a
//! half-written file; the checkpoint comes before the state that points at it.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::store::{BurnpackStore, ModuleSnapshot, ModuleStore};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{io, Result, TrainError};

const CONFIG_FILE: &str = "config.json";
const METRICS_FILE: &str = "metrics.jsonl";
const STATE_FILE: &str = "state.json";
const SUMMARY_FILE: &str = "summary.json";
const CHECKPOINTS: &str = "checkpoints";
const MODEL_FILE: &str = "model.bpk";
const TRANSFER_FILE: &str = "transfer.json";
const IMAGES: &str = "images";
const REPORT_FILE: &str = "report.html";
const SOURCE_RUN: &str = "source";
const LOCK_FILE: &str = "run.lock";
/// The checkpoint metadata entry that names the run a checkpoint belongs to.
const RUN_ID_KEY: &str = "latent_run_id";

/// Where runs written before the likelihood became a module of its own kept a learned
/// per-pixel log-variance, and where it is now: checkpoints of either age load.
const LEGACY_PIXEL_LOG_VAR: (&str, &str) = ("^pixel_log_var$", "likelihood.log_var");

/// One line of `metrics.jsonl`. Losses are per image in nats (negative ELBO terms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// The epoch (1-based).
    pub epoch: usize,
    /// The KL weight β of the epoch.
    pub kl_weight: f64,
    /// The learning rate of the epoch.
    #[serde(default)]
    pub lr: f64,
    /// The training loss (−ELBO, −IWAE bound, or reconstruction loss), averaged over the
    /// epoch's batches as the weights moved.
    pub train_loss: f64,
    /// The training reconstruction term.
    pub train_reconstruction: f64,
    /// The training KL term.
    pub train_kl: f64,
    /// −ELBO on the fixed-binarised test set (for an AE: its reconstruction loss).
    pub test_neg_elbo: f64,
    /// The test reconstruction term.
    pub test_reconstruction: f64,
    /// The test KL term.
    pub test_kl: f64,
    /// Seconds of training (the test figures excluded).
    pub seconds: f64,
    /// Training images per second.
    pub samples_per_second: f64,
    /// Of `seconds`, the time spent moving weights out to the devices and gradients back to
    /// the main device (the slowest device's, summed over steps; 0 on one device).
    #[serde(default)]
    pub exchange_seconds: f64,
}

/// An exclusive lock on a run directory (see [`RunDir::lock`]), released when dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

/// The run id a checkpoint is marked with, if it has one (and can be read).
fn checkpoint_run_id(path: &Path) -> Option<String> {
    let reader = burn::store::burn_pack::Reader::from_file(path).ok()?;
    reader.metadata().get(RUN_ID_KEY).cloned()
}

/// A new run id: 64 random bits, in hex.
pub(crate) fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    format!("{:016x}", hasher.finish())
}

/// `state.json`: how far the run got.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    completed_epochs: usize,
}

/// A run directory (it may not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run directory at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn bad(&self, problem: impl Into<String>) -> TrainError {
        TrainError::BadRun {
            path: self.path.clone(),
            problem: problem.into(),
        }
    }

    /// Whether it holds a run (its `config.json`).
    pub fn holds_run(&self) -> bool {
        self.file(CONFIG_FILE).is_file()
    }

    /// Whether it holds a transfer study (a `transfer.json` and no run of its own).
    pub fn holds_study(&self) -> bool {
        !self.holds_run() && self.file(TRANSFER_FILE).is_file()
    }

    /// Makes the directory and its `checkpoints/`.
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(self.path.join(CHECKPOINTS)).map_err(io(&self.path))
    }

    /// The run's configuration, with the model's configuration as `M`.
    pub fn read_config<M: DeserializeOwned>(&self) -> Result<TrainConfig<M>> {
        self.read_json(CONFIG_FILE)
    }

    /// Writes the run's configuration.
    pub fn write_config<M: Serialize>(&self, config: &TrainConfig<M>) -> Result<()> {
        self.write_json(CONFIG_FILE, config)
    }

    /// The epochs the run has completed (the checkpoint holds the last of them).
    pub fn completed_epochs(&self) -> Result<usize> {
        Ok(self.read_json::<RunState>(STATE_FILE)?.completed_epochs)
    }

    /// Whether the run has completed at least one epoch (it has a checkpoint to resume from).
    pub fn has_state(&self) -> bool {
        self.file(STATE_FILE).is_file()
    }

    /// Records an epoch as done: the model's checkpoint must already be written.
    pub fn write_state(&self, completed_epochs: usize) -> Result<()> {
        self.write_json(STATE_FILE, &RunState { completed_epochs })
    }

    /// Appends an epoch's line to `metrics.jsonl`.
    pub fn append_metrics(&self, metrics: &EpochMetrics) -> Result<()> {
        let path = self.file(METRICS_FILE);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        writeln!(
            file,
            "{}",
            serde_json::to_string(metrics).expect("plain data serialises")
        )
        .map_err(io(&path))
    }

    /// Every line of `metrics.jsonl` (none where the run has none, as an imported one).
    pub fn read_metrics(&self) -> Result<Vec<EpochMetrics>> {
        let path = self.file(METRICS_FILE);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| {
                    self.bad(format!(
                        "{}, line {}: not a metrics line ({e})",
                        path.display(),
                        i + 1
                    ))
                })
            })
            .collect()
    }

    /// Writes `summary.json`: the last epoch's metrics.
    pub fn write_summary(&self, last: &EpochMetrics) -> Result<()> {
        self.write_json(SUMMARY_FILE, last)
    }

    /// The model's checkpoint file.
    pub fn model_checkpoint(&self) -> PathBuf {
        self.path.join(CHECKPOINTS).join(MODEL_FILE)
    }

    /// Saves `model`'s weights as the checkpoint, marked with the run's id.
    pub fn save_model<M: Module>(&self, model: &M) -> Result<()> {
        let run_id = self.recorded_run_id()?;
        save_via_tmp(&self.model_checkpoint(), |tmp| {
            let mut store = BurnpackStore::from_file(tmp)
                .auto_extension(false)
                .overwrite(true);
            if let Some(id) = &run_id {
                store = store.metadata(RUN_ID_KEY, id.as_str());
            }
            model.save_into(&mut store)
        })
    }

    /// `model` with the checkpoint's weights (and parameter ids, which Adam's state is keyed
    /// by). A checkpoint that is missing, truncated, of another model — a tensor it lacks, one
    /// of another shape, or one the model has no place for — or of another run (its run id is
    /// not the one `config.json` records) is refused.
    pub fn load_model<M: Module>(&self, model: M) -> Result<M> {
        let path = self.model_checkpoint();
        if let (Some(ours), Some(theirs)) = (self.recorded_run_id()?, checkpoint_run_id(&path)) {
            if ours != theirs {
                return Err(TrainError::Checkpoint {
                    path,
                    problem: format!(
                        "belongs to another run (run id {theirs}; this run's is {ours}): a \
                         checkpoint copied in from elsewhere? Use --init-from with that run, \
                         or latent export / import, to start from another run's weights"
                    ),
                });
            }
        }
        load_weights(model, &path)
    }

    /// The run id `config.json` records (none for a run from before run ids, or one not
    /// started yet).
    fn recorded_run_id(&self) -> Result<Option<String>> {
        if !self.holds_run() {
            return Ok(None);
        }
        let config: serde_json::Value = self.read_json(CONFIG_FILE)?;
        Ok(config["run_id"].as_str().map(str::to_string))
    }

    /// Removes what a run's epochs wrote (metrics, state, summary, checkpoints), for a run that
    /// never completed an epoch and starts again.
    pub fn reset_progress(&self) -> Result<()> {
        for name in [METRICS_FILE, STATE_FILE, SUMMARY_FILE] {
            let path = self.file(name);
            if path.exists() {
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        let checkpoints = self.path.join(CHECKPOINTS);
        if checkpoints.exists() {
            std::fs::remove_dir_all(&checkpoints).map_err(io(&checkpoints))?;
        }
        Ok(())
    }

    /// Cuts `metrics.jsonl` back to the epochs the checkpoint holds (`completed`): a line of a
    /// later epoch (written before a kill stopped its state) and a torn last line (a kill in
    /// the middle of writing it) go; a damaged line before the last is an error.
    pub fn trim_metrics(&self, completed: usize) -> Result<()> {
        let path = self.file(METRICS_FILE);
        if !path.exists() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut kept = String::new();
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str::<EpochMetrics>(line) {
                Ok(m) if m.epoch <= completed => {
                    kept.push_str(line);
                    kept.push('\n');
                }
                Ok(_) => {}
                Err(_) if i + 1 == lines.len() => {
                    tracing::warn!("{}: the last line was cut off; dropped", path.display());
                }
                Err(e) => {
                    return Err(self.bad(format!(
                        "{}, line {}: damaged ({e}); repair or remove the line to resume",
                        path.display(),
                        i + 1
                    )))
                }
            }
        }
        if kept != text {
            write_atomic(&path, kept.as_bytes())?;
        }
        Ok(())
    }

    /// An exclusive lock on the run, held until the returned guard is dropped (or the process
    /// ends, however it ends): a second writer gets [`TrainError::Locked`] at once, naming the
    /// holder's PID. Makes the directory if need be.
    pub fn lock(&self) -> Result<RunLock> {
        std::fs::create_dir_all(&self.path).map_err(io(&self.path))?;
        let path = self.file(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {
                use std::io::Seek;
                file.set_len(0).map_err(io(&path))?;
                file.seek(std::io::SeekFrom::Start(0)).map_err(io(&path))?;
                writeln!(file, "{}", std::process::id()).map_err(io(&path))?;
                Ok(RunLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| text.trim().parse().ok());
                Err(TrainError::Locked {
                    path: self.path.clone(),
                    pid,
                })
            }
            Err(std::fs::TryLockError::Error(cause)) => Err(TrainError::Io { path, cause }),
        }
    }

    /// The checkpoint file of Adam's parameter group `g`: `optimizer.bpk`, then
    /// `optimizer-1.bpk`, ….
    pub fn optimizer_checkpoint(&self, g: usize) -> PathBuf {
        let dir = self.path.join(CHECKPOINTS);
        if g == 0 {
            dir.join("optimizer.bpk")
        } else {
            dir.join(format!("optimizer-{g}.bpk"))
        }
    }

    /// Saves parameter group `g`'s Adam state.
    pub fn save_optimizer(&self, g: usize, record: OptimizerRecord) -> Result<()> {
        save_via_tmp(&self.optimizer_checkpoint(g), |tmp| record.save(tmp))
    }

    /// Parameter group `g`'s Adam state.
    pub fn load_optimizer(&self, g: usize) -> Result<OptimizerRecord> {
        let path = self.optimizer_checkpoint(g);
        OptimizerRecord::load(&path).map_err(|e| TrainError::Checkpoint {
            path,
            problem: format!("{e:?}"),
        })
    }

    /// The pictures' directory, made if need be.
    pub fn images(&self) -> Result<PathBuf> {
        let dir = self.path.join(IMAGES);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(dir)
    }

    /// The report's page.
    pub fn report_page(&self) -> PathBuf {
        self.file(REPORT_FILE)
    }

    /// A transfer study's results (`transfer.json`).
    pub fn read_transfer<T: DeserializeOwned>(&self) -> Result<T> {
        self.read_json(TRANSFER_FILE)
    }

    /// Writes a transfer study's results.
    pub fn write_transfer<T: Serialize>(&self, report: &T) -> Result<()> {
        std::fs::create_dir_all(&self.path).map_err(io(&self.path))?;
        self.write_json(TRANSFER_FILE, report)
    }

    /// The run of a transfer study's source model.
    pub fn study_source(&self) -> RunDir {
        RunDir::new(self.path.join(SOURCE_RUN))
    }

    /// The run of a transfer study's `arm` (`scratch`, `fine-tuned`, `decoder-only`) at target
    /// size `n` and seed `seed`: `n{N}-seed{S}/{arm}/`.
    pub fn study_member(&self, n: usize, seed: u64, arm: &str) -> RunDir {
        RunDir::new(self.path.join(format!("n{n}-seed{seed}")).join(arm))
    }

    fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value).expect("plain data serialises");
        write_atomic(&self.file(name), text.as_bytes())
    }

    fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let path = self.file(name);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        serde_json::from_str(&text).map_err(|e| self.bad(format!("{}: {e}", path.display())))
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Writes the checkpoint file `path` with `save` into `path`.tmp and renames it into place, so
/// that a kill never leaves a half-written checkpoint.
fn save_via_tmp<E: std::fmt::Debug>(
    path: &Path,
    save: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> Result<()> {
    let tmp = path.with_extension("bpk.tmp");
    save(&tmp).map_err(|e| TrainError::Checkpoint {
        path: tmp.clone(),
        problem: format!("{e:?}"),
    })?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// `model` with the weights of the burnpack file `path` (see [`RunDir::load_model`]).
pub(crate) fn load_weights<M: Module>(model: M, path: &Path) -> Result<M> {
    let store = BurnpackStore::from_file(path)
        .auto_extension(false)
        .with_remap_pattern(LEGACY_PIXEL_LOG_VAR.0, LEGACY_PIXEL_LOG_VAR.1);
    apply_store(model, path, store)
}

/// `model` with the weights `store` reads from the file `path`: every parameter of the model
/// must be there with its shape, and nothing else (a tensor the model has no place for means
/// the file is another model's).
pub(crate) fn apply_store<M: Module, S: ModuleStore>(
    mut model: M,
    path: &Path,
    mut store: S,
) -> Result<M> {
    let refuse = |problem: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        problem,
    };
    if !path.is_file() {
        return Err(refuse("no such file".into()));
    }
    let applied = model.load_from(&mut store).map_err(|e| {
        refuse(format!(
            "cannot be loaded into this model: {e} (truncated, or another model's?)"
        ))
    })?;
    if !applied.unused.is_empty() {
        return Err(refuse(format!(
            "does not fit this model: it holds tensors the model has no place for: {:?}",
            applied.unused
        )));
    }
    Ok(model)
}
