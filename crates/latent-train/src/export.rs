//! Weights that leave the project, and come back: safetensors files laid out as PyTorch
//! expects them.
//!
//! A model's tensors are named by their path in the module, enum variants left out, and
//! linear weights are transposed to PyTorch's `[out, in]`; convolution weights are already laid
//! out alike. The built-in VAE of `hidden` sizes `[h₁, h₂, …]` writes
//!
//! | tensor | shape (PyTorch) |
//! |---|---|
//! | `encoder.trunk.layers.{i}.weight`, `.bias` | `[hᵢ₊₁, hᵢ]`, `[hᵢ₊₁]` (h₀ = D, the input size: 784 for MNIST) |
//! | `encoder.mean.weight`, `encoder.log_var.weight` (and `.bias`) | `[latent, h_last]` |
//! | `decoder.trunk.layers.{i}.weight`, `.bias` | the hidden sizes mirrored, from `latent` |
//! | `decoder.output.weight`, `.bias` | `[D, h₁]` |
//! | `likelihood.log_var` | `[D]`, a learned-variance decoder only |
//!
//! and the convolutional networks add `encoder.conv1`, `encoder.conv2` (`[out, in, 4, 4]`),
//! `decoder.expand` (a linear layer to 64 × H/4 × W/4: 64 × 7 × 7 for MNIST) and
//! `decoder.deconv1`, `decoder.deconv2` (`[in, out, 4, 4]`).
//! `scripts/reference/safetensors_interop.py` holds the equivalent PyTorch modules, which load
//! such a file with `load_state_dict` and write one back.
//!
//! [`export_run`] also writes what the weights need of the run's data into the file's
//! metadata: `latent.data_shape` (the example's shape, JSON) and, for real-valued data, the
//! `latent.standardisation` the model was trained behind (JSON `{"mean": […], "std": […]}`:
//! give the encoder (x − mean)/std, and take the decoder's output back as y · std + mean).

use std::path::Path;

use burn::module::Module;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};

use crate::config::{ModelKind, TrainConfig};
use crate::error::{Result, TrainError};
use crate::run_dir::{apply_store, RunDir};

/// Writes `model`'s weights to the safetensors file `path` in PyTorch's layout (see the
/// module's documentation). An existing file is not replaced.
pub fn export_safetensors<M: Module>(model: &M, path: &Path) -> Result<()> {
    export_safetensors_with(model, path, &[])
}

/// [`export_safetensors`] with these `(key, value)` pairs added to the file's metadata.
pub fn export_safetensors_with<M: Module>(
    model: &M,
    path: &Path,
    metadata: &[(String, String)],
) -> Result<()> {
    if path.exists() {
        return Err(TrainError::Checkpoint {
            path: path.to_path_buf(),
            problem: "already exists; remove it or choose another file".into(),
        });
    }
    let mut store = SafetensorsStore::from_file(path)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .metadata("producer", "latent");
    for (key, value) in metadata {
        store = store.metadata(key.as_str(), value.as_str());
    }
    model
        .save_into(&mut store)
        .map_err(|e| TrainError::Checkpoint {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })
}

/// `model` with the weights of the safetensors file `path`, laid out as PyTorch's (a state
/// dict saved by `safetensors.torch.save_file`, or a file of [`export_safetensors`]). Every
/// parameter of the model must be there with its shape, and nothing else.
pub fn import_safetensors<M: Module>(model: M, path: &Path) -> Result<M> {
    let store = SafetensorsStore::from_file(path)
        .with_from_adapter(PyTorchToBurnAdapter)
        .skip_enum_variants(true);
    apply_store(model, path, store)
}

/// Exports the weights of the run of the built-in networks in `run` to `out` (see
/// [`export_safetensors`]), with the data's shape and standardisation in its metadata.
pub fn export_run(run: &Path, out: &Path, device: &burn::tensor::Device) -> Result<()> {
    let (config, model) = crate::load::load_run(run, device)?;
    let mut metadata = vec![(
        "latent.data_shape".to_string(),
        serde_json::to_string(&config.example_shape()).expect("plain data serialises"),
    )];
    if let Some(standardisation) = &config.standardisation {
        metadata.push((
            "latent.standardisation".into(),
            serde_json::to_string(standardisation).expect("plain data serialises"),
        ));
    }
    crate::with_model!(&model, m => export_safetensors_with(m, out, &metadata))
}

/// Makes the run directory `out` of the built-in networks of `config` with the weights of the
/// safetensors file `weights` (see [`import_safetensors`]): its `config.json` and checkpoint,
/// and no epochs (it evaluates, samples and reports like a trained run, and warm-starts
/// others with `--init-from`). `out` must not hold a run; nothing is written when the
/// weights do not fit.
pub fn import_run(
    config: &TrainConfig,
    weights: &Path,
    out: &Path,
    device: &burn::tensor::Device,
) -> Result<()> {
    config.check()?;
    let run = RunDir::new(out);
    if run.holds_run() {
        return Err(TrainError::BadRun {
            path: out.to_path_buf(),
            problem: "already holds a run; choose another --out".into(),
        });
    }
    /// Seed of the weights the file replaces.
    const PLACEHOLDER_SEED: u64 = 0;
    let existed = run.path().exists();
    let lock = run.lock()?;
    let outcome = write_imported(config, weights, &run, device, PLACEHOLDER_SEED);
    drop(lock);
    if outcome.is_err() && !existed {
        let _ = std::fs::remove_dir_all(out);
    }
    outcome
}

/// The run of [`import_run`], written under its lock: the weights are read first (nothing is
/// written when they do not fit), then the configuration, then the checkpoint marked with the
/// configuration's run id.
fn write_imported(
    config: &TrainConfig,
    weights: &Path,
    run: &RunDir,
    device: &burn::tensor::Device,
    seed: u64,
) -> Result<()> {
    let config = TrainConfig {
        run_id: Some(crate::run_dir::new_run_id()),
        ..config.clone()
    };
    let save = |save_model: &dyn Fn() -> Result<()>| -> Result<()> {
        run.create()?;
        run.write_config(&config)?;
        save_model()
    };
    match config.kind {
        ModelKind::Vae => {
            let vae = import_safetensors(config.model.init_vae(device, seed)?, weights)?;
            save(&|| run.save_model(&vae))
        }
        ModelKind::Ae => {
            let ae = import_safetensors(config.model.init_autoencoder(device, seed)?, weights)?;
            save(&|| run.save_model(&ae))
        }
    }
}
