//! `latent encode`: a run's codes of its training or test examples, written as features for
//! another model (M1+M2: a semi-supervised VAE trained on a VAE's codes) or another tool.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use clap::Args;
use latent_data::ExampleShape;
use latent_train::figures::write_examples;
use latent_train::{load_run, split_codes};

use crate::args::{print_figures, RunArg, SplitArg};

#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    run: RunArg,
    /// Which of the run's examples: its training set or its test set.
    #[arg(long, value_enum, default_value_t = SplitArg::Train)]
    split: SplitArg,
    /// Encode only the first N examples of the split.
    #[arg(long)]
    limit: Option<usize>,
    /// The codes, one example per row: .npy (float32, [n, latent]) or .csv. A VAE's code is
    /// its posterior mean E_q[z | x]; a conditional or semi-supervised VAE's is followed by
    /// the one-hot class.
    #[arg(long, short)]
    out: PathBuf,
    /// Also write the examples' labels, in the same order, as a 1-D int64 .npy (for
    /// `--data CODES.npy:labels=FILE`); an error for data without labels.
    #[arg(long, value_name = "FILE.npy")]
    labels_out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn run_encode(args: EncodeArgs, device: &Device) -> Result<()> {
    if args.limit == Some(0) {
        bail!("--limit must be at least 1");
    }
    if let Some(labels) = &args.labels_out {
        if labels.extension().and_then(|e| e.to_str()) != Some("npy") {
            bail!(
                "--labels-out {}: labels are written as .npy",
                labels.display()
            );
        }
        if *labels == args.out {
            bail!("--labels-out and --out name the same file");
        }
    }
    let (config, model) = load_run(&args.run.run, device)?;
    let codes = split_codes(&model, &config, args.split.into(), args.limit, device)?;
    let labels = match (&args.labels_out, &codes.labels) {
        (None, _) => None,
        (Some(path), Some(labels)) => Some((path, labels)),
        (Some(_), None) => bail!(
            "--labels-out: {} has no labels (give labels=FILE, or a folder with one sub-folder \
             per class)",
            config.data
        ),
    };
    write_examples(
        &codes.values,
        ExampleShape::Vector { dim: codes.dim },
        1,
        &args.out,
    )?;
    if let Some((path, labels)) = labels {
        write_labels(path, labels)?;
    }
    eprintln!(
        "wrote the {}-dimensional codes of {} {} examples to {}",
        codes.dim,
        codes.rows,
        match args.split {
            SplitArg::Train => "training",
            SplitArg::Test => "test",
        },
        args.out.display()
    );
    let figures = serde_json::json!({
        "examples": codes.rows,
        "latent_dim": codes.dim,
        "out": args.out,
        "labels_out": args.labels_out,
    });
    print_figures(&figures, args.json);
    Ok(())
}

/// `labels` as a 1-D little-endian int64 `.npy`.
fn write_labels(path: &Path, labels: &[usize]) -> Result<()> {
    let data: Vec<u8> = labels
        .iter()
        .flat_map(|l| (*l as i64).to_le_bytes())
        .collect();
    let bytes = latent_data::npy::encode("<i8", &[labels.len()], &data);
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
