//! `latent data …`: verify and summarise the bundled MNIST, read point files, and generate
//! synthetic Gaussian-mixture data.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use latent_data::{default_mnist_dir, MixtureSpec, Mnist, Split};
use serde::Serialize;

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
    /// Draw points from a Gaussian mixture and write them as .csv or .npy.
    Synth(SynthArgs),
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SplitArg {
    Train,
    Test,
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
        DataCommand::Synth(args) => synth(args),
    }
}

#[derive(Serialize)]
struct MnistSummary {
    dir: PathBuf,
    split: Split,
    images: usize,
    class_counts: [usize; 10],
    mean_pixel: f64,
    std_pixel: f64,
    mean_binarised: f64,
    backend: Backend,
}

fn mnist(args: MnistArgs, backend: Backend, gpu: Option<usize>) -> Result<()> {
    use burn::data::dataset::Dataset;

    let dir = args.dir.unwrap_or_else(default_mnist_dir);
    if args.verify {
        latent_data::verify_sha256sums(&dir)?;
    }
    let split = match args.split {
        SplitArg::Train => Split::Train,
        SplitArg::Test => Split::Test,
    };
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
