//! Weights to and from PyTorch through safetensors, against fixtures written by
//! `scripts/reference/safetensors_interop.py`: PyTorch's state dicts load and give PyTorch's
//! outputs to 1e-5; what we export is PyTorch's state dict again, tensor for tensor; and the
//! committed export of a seeded model, which the script loaded into PyTorch and checked against
//! our outputs, is still what the code exports.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Tensor, TensorData};
use latent_models::{Vae, VaeConfig};
use latent_train::{export_safetensors, import_safetensors, TrainError};
use serde::{Deserialize, Serialize};

use common::{device, scratch_file};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

/// A model's configuration, inputs and outputs, as the script writes them.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    config: VaeConfig,
    inputs: Vec<Vec<f64>>,
    posterior_mean: Vec<Vec<f64>>,
    posterior_log_var: Vec<Vec<f64>>,
    decoder_mean: Vec<Vec<f64>>,
}

fn read_record(name: &str) -> Record {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

fn rows(t: Tensor<2>) -> Vec<Vec<f64>> {
    let [_, d] = t.dims();
    let values: Vec<f32> = t.try_into_vec_as().unwrap();
    values
        .chunks(d)
        .map(|row| row.iter().map(|v| *v as f64).collect())
        .collect()
}

/// The posterior and the decoder means at the posterior mean of `inputs`, as a record.
fn outputs(vae: &Vae, config: &VaeConfig, inputs: &[Vec<f64>]) -> Record {
    let (n, d) = (inputs.len(), inputs[0].len());
    let flat: Vec<f32> = inputs.iter().flatten().map(|v| *v as f32).collect();
    let x = Tensor::<2>::from_data(TensorData::new(flat, [n, d]), &device());
    let q = vae.posterior(x);
    Record {
        config: config.clone(),
        inputs: inputs.to_vec(),
        decoder_mean: rows(vae.decode_mean(q.mean.clone())),
        posterior_mean: rows(q.mean),
        posterior_log_var: rows(q.log_var),
    }
}

fn max_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// The tensors of a safetensors file: name → (dtype, shape, bytes).
fn tensors(path: &Path) -> BTreeMap<String, (String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let data = &bytes[8 + len..];
    header
        .into_iter()
        .filter(|(name, _)| name != "__metadata__")
        .map(|(name, entry)| {
            let range = entry["data_offsets"].as_array().unwrap();
            let (start, end) = (
                range[0].as_u64().unwrap() as usize,
                range[1].as_u64().unwrap() as usize,
            );
            let shape = entry["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            let dtype = entry["dtype"].as_str().unwrap().to_string();
            (name, (dtype, shape, data[start..end].to_vec()))
        })
        .collect()
}

#[test]
fn pytorch_state_dicts_load_give_pytorchs_outputs_and_export_back_unchanged() {
    for name in ["mlp", "conv"] {
        let record = read_record(&format!("torch_{name}.json"));
        let weights = fixture(&format!("torch_{name}.safetensors"));
        let vae =
            import_safetensors(record.config.init_vae(&device(), 0).unwrap(), &weights).unwrap();
        let ours = outputs(&vae, &record.config, &record.inputs);
        for (what, a, b) in [
            (
                "posterior mean",
                &ours.posterior_mean,
                &record.posterior_mean,
            ),
            (
                "posterior log-variance",
                &ours.posterior_log_var,
                &record.posterior_log_var,
            ),
            ("decoder mean", &ours.decoder_mean, &record.decoder_mean),
        ] {
            let diff = max_diff(a, b);
            eprintln!("{name}: {what}: largest difference from PyTorch's {diff:.2e}");
            assert!(
                diff <= 1e-5,
                "{name}: {what} differs from PyTorch's by {diff}"
            );
        }
        // The weights differ from a seeded model's: the import replaced them.
        let fresh = record.config.init_vae(&device(), 0).unwrap();
        let theirs = outputs(&fresh, &record.config, &record.inputs);
        assert!(max_diff(&theirs.posterior_mean, &record.posterior_mean) > 1e-3);

        let out = scratch_file(&format!("{name}.safetensors"));
        export_safetensors(&vae, &out).unwrap();
        let (exported, original) = (tensors(&out), tensors(&weights));
        assert_eq!(
            exported.keys().collect::<Vec<_>>(),
            original.keys().collect::<Vec<_>>(),
            "{name}: the names of PyTorch's state dict"
        );
        for (key, tensor) in &original {
            assert_eq!(&exported[key], tensor, "{name}: {key}");
        }
        // An export never replaces a file.
        let err = export_safetensors(&vae, &out).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        std::fs::remove_file(&out).unwrap();
    }
}

/// The seeded model whose export `latent_mlp.safetensors` is committed: the interop script
/// loaded it into PyTorch and compared PyTorch's outputs with ours (`latent_mlp.json`).
fn seeded() -> (VaeConfig, Vae) {
    let config = read_record("torch_mlp.json").config;
    let vae = config.init_vae(&device(), 11).unwrap();
    (config, vae)
}

#[test]
fn the_committed_export_checked_in_pytorch_is_what_we_export_now() {
    let (config, vae) = seeded();
    let inputs = read_record("torch_mlp.json").inputs;
    let ours = outputs(&vae, &config, &inputs);
    let out = scratch_file("seeded.safetensors");
    export_safetensors(&vae, &out).unwrap();
    if std::env::var_os("LATENT_WRITE_FIXTURES").is_some() {
        std::fs::copy(&out, fixture("latent_mlp.safetensors")).unwrap();
        std::fs::write(
            fixture("latent_mlp.json"),
            serde_json::to_string(&ours).unwrap(),
        )
        .unwrap();
    }
    assert_eq!(tensors(&out), tensors(&fixture("latent_mlp.safetensors")));
    let committed = read_record("latent_mlp.json");
    for (a, b) in [
        (&ours.posterior_mean, &committed.posterior_mean),
        (&ours.posterior_log_var, &committed.posterior_log_var),
        (&ours.decoder_mean, &committed.decoder_mean),
    ] {
        assert_eq!(max_diff(a, b), 0.0);
    }
    std::fs::remove_file(&out).unwrap();
}

#[test]
fn weights_that_do_not_fit_are_refused_by_name() {
    let (config, _) = seeded();
    let conv = fixture("torch_conv.safetensors");
    let err = import_safetensors(config.init_vae(&device(), 0).unwrap(), &conv).unwrap_err();
    // The message names the tensors that do not fit and their shapes.
    assert!(
        matches!(err, TrainError::Checkpoint { .. })
            && err.to_string().contains("encoder.trunk.layers.0.weight")
            && err.to_string().contains("[3136, 8]"),
        "{err}"
    );
    let truncated = scratch_file("half.safetensors");
    let bytes = std::fs::read(fixture("torch_mlp.safetensors")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = import_safetensors(config.init_vae(&device(), 0).unwrap(), &truncated).unwrap_err();
    assert!(
        matches!(err, TrainError::Checkpoint { .. })
            && err.to_string().contains("cannot be loaded"),
        "{err}"
    );
    let missing = scratch_file("missing.safetensors");
    let err = import_safetensors(config.init_vae(&device(), 0).unwrap(), &missing).unwrap_err();
    assert!(err.to_string().contains("no such file"), "{err}");
    std::fs::remove_file(&truncated).unwrap();
}
