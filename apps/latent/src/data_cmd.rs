//! `latent data …`: verify and summarise the bundled MNIST, read point files, and generate
//! synthetic Gaussian-mixture data.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use latent_data::{default_mnist_dir, MixtureSpec, Mnist, Split};
use serde::Serialize;

use crate::args::SplitArg;
use crate::backend::Backend;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Check the MNIST files against their SHA256SUMS.
    Verify {
        /// Directory holding the MNIST IDX files and SHA256SUMS [default: datasets/mnist].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Load an MNIST split, validate it, and print its size, class counts and pixel statistics.
    Mnist(MnistArgs),
    /// Read a .csv or .npy point file and print its shape and per-column statistics.
    Points {
        /// The file (.csv with an optional header, or a 2-D float32/float64 .npy).
        file: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Read any data spec (as `latent train --data` takes it) and print what the trainer and
    /// the mixtures see: the examples, their shape, value range and labels.
    Show(ShowArgs),
    /// Draw points from a Gaussian mixture and write them as .csv or .npy.
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The data: mnist, digits (with an optional :train or :test), a .npy, .csv or IDX file, or
    /// a folder of images, with options and shifts (see `latent train --help`).
    #[arg(value_parser = latent_data::PointSource::parse)]
    spec: latent_data::PointSource,
    #[command(flatten)]
    mnist_dir: crate::args::MnistDirArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct SourceSummary {
    spec: String,
    examples: usize,
    shape: String,
    dim: usize,
    stored_as: &'static str,
    min: f32,
    max: f32,
    in_unit_interval: bool,
    classes: Option<Vec<String>>,
    class_counts: Option<Vec<usize>>,
}

fn show(args: ShowArgs) -> Result<()> {
    let data = args.spec.examples(&args.mnist_dir.resolve(), None)?;
    let (min, max) = data.value_range();
    let counts = data.labels().map(|_| data.class_counts());
    let classes = counts.as_ref().map(|counts| match data.classes() {
        Some(names) => names.to_vec(),
        None => (0..counts.len()).map(|c| c.to_string()).collect(),
    });
    let summary = SourceSummary {
        spec: args.spec.to_string(),
        examples: data.len(),
        shape: data.shape().to_string(),
        dim: data.dim(),
        stored_as: if data.is_bytes() {
            "uint8 (scaled to [0, 1])"
        } else {
            "float32"
        },
        min,
        max,
        in_unit_interval: data.unit_interval(),
        classes,
        class_counts: counts,
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    let values = if data.shape().image().is_some() {
        format!(" ({} values each)", summary.dim)
    } else {
        String::new()
    };
    println!(
        "{}: {} examples: {}{values}, stored as {}",
        summary.spec, summary.examples, summary.shape, summary.stored_as
    );
    let decoders = if summary.in_unit_interval {
        "in [0, 1]: the Bernoulli decoder (binarised afresh each epoch unless --no-binarize) \
         or a Gaussian one"
    } else {
        "real: standardised with the training set's mean and deviation, for a Gaussian decoder"
    };
    println!("values from {min} to {max}, {decoders}");
    match (&summary.classes, &summary.class_counts) {
        (Some(names), Some(counts)) => {
            let listed: Vec<String> = names
                .iter()
                .zip(counts)
                .filter(|(_, n)| **n > 0)
                .map(|(name, n)| format!("{name}: {n}"))
                .collect();
            println!("labels, {} classes: {}", listed.len(), listed.join(", "));
        }
        _ => println!("no labels (probe and the coloured latent scatter need them)"),
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct MnistArgs {
    /// Directory holding the MNIST IDX files [default: datasets/mnist].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Which split.
    #[arg(long, value_enum, default_value = "train")]
    split: SplitArg,
    /// Keep only the first N examples.
    #[arg(long)]
    limit: Option<usize>,
    /// Also check the SHA-256 sums before loading.
    #[arg(long)]
    verify: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// A mixture as JSON: {"weights": [...], "means": [[...]], "covariances": [[[...]]]}.
    #[arg(long, conflicts_with = "blobs")]
    spec: Option<PathBuf>,
    /// Instead of --spec: K equally weighted isotropic blobs with random centres.
    #[arg(long)]
    blobs: Option<usize>,
    /// Dimension of the --blobs centres.
    #[arg(long, default_value_t = 2)]
    dim: usize,
    /// Distance scale between --blobs centres, in units of the blobs' standard deviation.
    #[arg(long, default_value_t = 6.0)]
    separation: f64,
    /// Number of points.
    #[arg(long, short)]
    n: usize,
    /// Random seed (the same seed gives the same points).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output file, .csv or .npy.
    #[arg(long, short)]
    out: PathBuf,
    /// Also write each point's component to this file (one integer per line).
    #[arg(long)]
    labels_out: Option<PathBuf>,
}

pub fn run(cmd: DataCommand, backend: Backend, gpu: Option<usize>) -> Result<()> {
    match cmd {
        DataCommand::Verify { dir } => {
            let dir = dir.unwrap_or_else(default_mnist_dir);
            let checked = latent_data::verify_sha256sums(&dir)?;
            println!(
                "{}: {} files match SHA256SUMS",
                dir.display(),
                checked.len()
            );
            Ok(())
        }
        DataCommand::Mnist(args) => mnist(args, backend, gpu),
        DataCommand::Points { file, json } => points(&file, json),
        DataCommand::Show(args) => show(args),
        DataCommand::Synth(args) => synth(args),
    }
}

#[derive(Serialize)]
struct MnistSummary {
    dir: PathBuf,
    split: Split,
    images: usize,
    class_counts: Vec<usize>,
    mean_pixel: f64,
    std_pixel: f64,
    mean_binarised: f64,
    backend: Backend,
}

fn mnist(args: MnistArgs, backend: Backend, gpu: Option<usize>) -> Result<()> {
    let dir = args.dir.unwrap_or_else(default_mnist_dir);
    if args.verify {
        latent_data::verify_sha256sums(&dir)?;
    }
    let split: Split = args.split.into();
    let data = Mnist::load(&dir, split, args.limit)
        .with_context(|| format!("loading MNIST from {}", dir.display()))?;
    let class_counts = data.class_counts();
    let (mean, std) = data.pixel_mean_std();
    // One pass of the fixed binarisation through the batcher on the chosen device: the
    // evaluation inputs the models will see.
    let device = backend.device(gpu)?;
    let images = latent_data::MnistBatcher::fixed(0).images(&data, 0..data.len(), &device);
    let mean_binarised = images
        .mean()
        .try_into_scalar::<f32>()
        .map_err(|e| anyhow::anyhow!("reading the batch back from {}: {e:?}", backend.name()))?
        as f64;
    let summary = MnistSummary {
        dir,
        split,
        images: data.len(),
        class_counts,
        mean_pixel: mean,
        std_pixel: std,
        mean_binarised,
        backend,
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "MNIST {:?} from {}: {} images of 28×28",
            summary.split,
            summary.dir.display(),
            summary.images
        );
        println!("class counts 0-9: {:?}", summary.class_counts);
        println!(
            "pixel mean {:.4}, std {:.4} (grey levels in [0, 1]); fixed binarisation (seed 0) mean {:.4} on {}",
            summary.mean_pixel,
            summary.std_pixel,
            summary.mean_binarised,
            backend.name()
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct PointsSummary<'a> {
    file: &'a Path,
    n: usize,
    d: usize,
    column_mean: Vec<f64>,
    column_std: Vec<f64>,
}

fn points(file: &Path, json: bool) -> Result<()> {
    let points = latent_data::read_points(file)?;
    let (n, d) = (points.len(), points.dim());
    let (column_mean, column_std) = points.column_stats();
    let summary = PointsSummary {
        file,
        n,
        d,
        column_mean,
        column_std,
    };
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("{}: {n} points of dimension {d}", file.display());
        for c in 0..d {
            println!(
                "  column {}: mean {:.6}, std {:.6}",
                c + 1,
                summary.column_mean[c],
                summary.column_std[c]
            );
        }
    }
    Ok(())
}

fn synth(args: SynthArgs) -> Result<()> {
    let spec = match (&args.spec, args.blobs) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<MixtureSpec>(&text)
                .with_context(|| format!("{} is not a mixture spec", path.display()))?
        }
        (None, Some(k)) => MixtureSpec::blobs(k, args.dim, args.separation, args.seed)
            .context("--blobs and --dim must be at least 1")?,
        (None, None) => bail!("give either --spec FILE.json or --blobs K"),
    };
    if args.n == 0 {
        bail!("--n must be at least 1");
    }
    let (points, labels) = spec.sample(args.n, args.seed)?;
    latent_data::write_points(&points, &args.out)?;
    if let Some(path) = &args.labels_out {
        let text: String = labels.iter().map(|k| format!("{k}\n")).collect();
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "wrote {} points of dimension {} from {} components to {}",
        points.len(),
        points.dim(),
        spec.weights.len(),
        args.out.display()
    );
    Ok(())
}
