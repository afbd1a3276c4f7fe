//! The report of a run — `report.html`, one self-contained page, and its pictures in
//! `images/` — for any model with codes, and the report of a transfer study ([`write_transfer_report`]).

mod page;
mod study;

use page::{curves, summary_rows, Page};
pub use study::write_transfer_report;

use std::fmt::Display;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use latent_data::{ExampleShape, Split};
use latent_models::{Codec, LatentVariableModel};
use latent_viz::pca::PrincipalPlane;
use latent_viz::plot::{bar_plot, labelled_grid, scatter_plot, Labels};
use latent_viz::Grid;

use crate::config::Inputs;
use crate::config::TrainConfig;
use crate::devices::NamedDevice;
use crate::error::Result;
use crate::evaluate::{evaluate_inputs_on, EvalConfig, ACTIVE_UNIT_THRESHOLD};
use crate::figures::{
    image_grid, interpolate, labelled_images, latent_gmm_codes, manifold_codes, reconstructions,
    standard_normal_codes, write_pairs, PAIRS_POINTS,
};
use crate::load::load_run;
use crate::probe::{probe_codes, PROBE_STEPS};
use crate::readback::{values, values_f64};
use crate::run_dir::RunDir;

/// What a run's report draws and estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportConfig {
    /// Test images of the evaluation and the latent-space picture (the first N).
    pub limit: usize,
    /// Importance samples per test image for −log p(x) (VAE runs).
    pub iw_samples: usize,
    /// Also train the linear probe on the codes of [`PROBE_TRAIN_IMAGES`] training images.
    pub probe: bool,
    /// Components of the mixture fitted to an autoencoder's codes, for its second set of
    /// samples.
    pub latent_gmm: usize,
    /// Seed of the samples drawn.
    pub seed: u64,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            limit: 1000,
            iw_samples: 1000,
            probe: false,
            latent_gmm: 10,
            seed: 0,
        }
    }
}

/// Training images of the report's linear probe, and of the mixture fitted to an
/// autoencoder's codes.
pub const PROBE_TRAIN_IMAGES: usize = 10_000;
/// Prior samples drawn for a VAE's report.
const SAMPLES: usize = 64;
/// Columns of the sample grids.
const SAMPLE_COLUMNS: usize = 8;
/// Samples per sampler in an autoencoder's report (two rows of eight each).
const AE_SAMPLES: usize = 16;
/// Images along each interpolation strip.
const STRIP_STEPS: usize = 10;
/// Images per side of a 2-D latent space's manifold figure.
const MANIFOLD_SIDE: usize = 20;
/// Digit classes: the reconstructions show the first test digit of each.
const CLASSES: usize = latent_data::mnist::CLASSES;

/// Writes the report of the VAE `model` trained in `run` (with configuration `config`):
/// training curves, reconstructions, interpolations, prior samples (and the manifold of a 2-D
/// latent space), the latent space, the importance-sampled evaluation with KL per dimension
/// and unit activity (on `devices`), and the probe if asked for. `log` hears each stage.
pub fn write_vae_report<C: Display, M>(
    run: &RunDir,
    config: &TrainConfig<C>,
    model: &M,
    settings: &ReportConfig,
    devices: &[NamedDevice],
    mut log: impl FnMut(&str),
) -> Result<PathBuf>
where
    M: LatentVariableModel + Module + Sync,
{
    let device = &devices[0].device;
    let mut page = common_sections(run, config, model, settings, device, &mut log)?;
    let d = model.latent_dim();
    let shape = config.example_shape();
    let images = image_grid(shape, 1).is_some();
    let inputs = config.inputs();
    let noun = examples_noun(config);
    device.seed(settings.seed);
    let n = if images { SAMPLES } else { PAIRS_POINTS };
    let z = model.sample_prior(n, device);
    let decoded = if images {
        model.decode_mean(z)
    } else {
        model.decode_sample(z)
    };
    let samples = in_data_units(&inputs, values(decoded)?);
    sample_picture(
        &page,
        config,
        "samples.png",
        "test data and samples from the model",
        &[("samples".into(), samples)],
        device,
    )?;
    let decoded = if images {
        "decoded to pixel means"
    } else {
        "then x ~ p(x | z)"
    };
    page.section(format!("{n} samples: z ~ p(z), {decoded}"), "samples.png");
    if let (Some(classes), true) = (model.classes(), images) {
        class_samples(&mut page, config, model, classes, device)?;
    }
    if d == 2 && images {
        let z = manifold_codes(MANIFOLD_SIDE, device);
        grid(shape, MANIFOLD_SIDE).write_png(
            &in_data_units(&inputs, values(model.decode_mean(z))?),
            &page.picture("manifold.png"),
        )?;
        page.section(
            "The learned manifold: codes Φ⁻¹ of a grid on the unit square",
            "manifold.png",
        );
    }
    latent_section(
        &mut page,
        config,
        model,
        settings,
        "posterior means",
        device,
        &mut log,
    )?;

    let test = config
        .load_split(Split::Test, None)?
        .truncated(settings.limit);
    log(&format!(
        "estimating −log p(x) on {} test {noun} with {} importance samples each",
        test.len(),
        settings.iw_samples
    ));
    let eval = evaluate_inputs_on(
        model,
        &test,
        &inputs,
        &EvalConfig::with_samples(settings.iw_samples),
        devices,
    )?;
    page.row(
        format!("test ELBO ({} {noun})", eval.images),
        format!("{:.2} nats", eval.elbo),
    );
    page.row(
        format!(
            "test −log p(x) (importance sampling, k = {}, {} {noun})",
            eval.iw_samples, eval.images
        ),
        format!("{:.2} nats", eval.nll),
    );
    page.row(
        format!("active units (Var_x E_q[z_u] > {ACTIVE_UNIT_THRESHOLD})"),
        format!("{} of {}", eval.active_units, eval.activity.len()),
    );
    if eval.layer_active_units.len() > 1 {
        let units: Vec<String> = eval
            .layer_active_units
            .iter()
            .map(usize::to_string)
            .collect();
        page.row("active units per layer, bottom first", units.join(", "));
    }
    if let Some(error) = eval.classification_error {
        page.row(
            format!(
                "test classification error of q(y | x) ({} {noun})",
                eval.images
            ),
            format!("{:.2} %", 100.0 * error),
        );
    }
    bar_plot(
        &page.picture("kl-per-dim.png"),
        Labels {
            title: "KL(q(z_u | x) ‖ p(z_u)) per latent dimension",
            x: "latent dimension u",
            y: "nats per image",
        },
        &eval.kl_per_dim,
        None,
    )?;
    page.section("KL per latent dimension", "kl-per-dim.png");
    bar_plot(
        &page.picture("activity.png"),
        Labels {
            title: &format!(
                "Activity Var_x E_q[z_u] per latent dimension (active above {ACTIVE_UNIT_THRESHOLD})"
            ),
            x: "latent dimension u",
            y: "variance",
        },
        &eval.activity,
        Some(ACTIVE_UNIT_THRESHOLD),
    )?;
    page.section("Active and collapsed units", "activity.png");
    probe_row(&mut page, config, model, settings, device, &mut log)?;
    page.write()
}

/// Writes the report of the autoencoder `model` trained in `run`: training curves,
/// reconstructions, interpolations, samples through N(0, I) beside samples through a Gaussian
/// mixture fitted to its training codes, the codes, and the probe if asked for.
pub fn write_autoencoder_report<C: Display, M: Codec>(
    run: &RunDir,
    config: &TrainConfig<C>,
    model: &M,
    settings: &ReportConfig,
    device: &Device,
    mut log: impl FnMut(&str),
) -> Result<PathBuf> {
    let mut page = common_sections(run, config, model, settings, device, &mut log)?;
    log(&format!(
        "fitting a {}-component GMM to the codes of up to {PROBE_TRAIN_IMAGES} training examples",
        settings.latent_gmm
    ));
    device.seed(settings.seed);
    let n = if image_grid(config.example_shape(), 1).is_some() {
        AE_SAMPLES
    } else {
        PAIRS_POINTS
    };
    let prior = standard_normal_codes(n, model.latent_dim(), device);
    let gmm = latent_gmm_codes(
        model,
        config,
        settings.latent_gmm,
        PROBE_TRAIN_IMAGES,
        n,
        settings.seed,
        device,
    )?;
    let inputs = config.inputs();
    let images = image_grid(config.example_shape(), 1).is_some();
    let decode = |z: Tensor<2>| {
        values(if images {
            model.decode_mean(z)
        } else {
            model.decode_sample(z)
        })
    };
    let gmm_label = format!("latent GMM (K = {})", settings.latent_gmm);
    sample_picture(
        &page,
        config,
        "samples.png",
        "test data and an autoencoder's samples",
        &[
            ("z ~ N(0, I)".into(), in_data_units(&inputs, decode(prior)?)),
            (gmm_label, in_data_units(&inputs, decode(gmm)?)),
        ],
        device,
    )?;
    page.section(
        "Autoencoder samples: decoded from z ~ N(0, I) (the latent space has no such \
         structure) and from a GMM fitted to the training codes (ex-post density estimation)",
        "samples.png",
    );
    latent_section(
        &mut page, config, model, settings, "codes", device, &mut log,
    )?;
    probe_row(&mut page, config, model, settings, device, &mut log)?;
    page.write()
}

/// The summary's rows, the training curves, the reconstructions and the interpolations: what
/// every run's report begins with. For vector data the reconstructions are a pairs plot beside
/// the test data, and there are no interpolations to picture.
fn common_sections<'a, C: Display, M: Codec>(
    run: &'a RunDir,
    config: &TrainConfig<C>,
    model: &M,
    settings: &ReportConfig,
    device: &Device,
    log: &mut impl FnMut(&str),
) -> Result<Page<'a>> {
    let metrics = run.read_metrics()?;
    let mut page = Page::new(run)?;
    page.summary = summary_rows(run, config, &metrics);
    if !metrics.is_empty() {
        log("plotting the training curves");
        curves(&mut page, config, &metrics)?;
    }
    log("drawing reconstructions and interpolations");
    let inputs = config.inputs();
    let noun = examples_noun(config);
    let (test_x, test_labels) = labelled_images(config, Split::Test, Some(settings.limit), device)?;
    let shape = config.example_shape();
    if image_grid(shape, 1).is_none() {
        let shown = PAIRS_POINTS.min(test_x.dims()[0]);
        let both = in_data_units(&inputs, reconstructions(model, test_x.narrow(0, 0, shown))?);
        let (real, rebuilt) = both.split_at(both.len() / 2);
        write_pairs(
            &page.picture("reconstructions.png"),
            &format!("{shown} test {noun} and their reconstructions"),
            &[("test data", real), ("reconstructed", rebuilt)],
            shape.dim(),
        )?;
        page.section(
            format!("Test {noun} beside their reconstructions (the first dimensions)"),
            "reconstructions.png",
        );
        return Ok(page);
    }
    let firsts = match &test_labels {
        Some(labels) => first_of_each_class(labels),
        None => (0..CLASSES.min(test_x.dims()[0])).collect(),
    };
    let chosen = Tensor::cat(
        firsts
            .iter()
            .map(|&i| test_x.clone().narrow(0, i, 1))
            .collect(),
        0,
    );
    labelled_grid(
        &page.picture("reconstructions.png"),
        &grid(shape, firsts.len().max(1)),
        &in_data_units(&inputs, reconstructions(model, chosen)?),
        &[format!("test {noun}"), "reconstructed".into()],
    )?;
    let which = if test_labels.is_some() {
        "one per class"
    } else {
        "the first"
    };
    page.section(
        format!("Test {noun} ({which}) above their reconstructions"),
        "reconstructions.png",
    );
    // Interpolation between consecutive classes (0 → 1, 2 → 3, …) or examples.
    let name = |i: usize| match &test_labels {
        Some(labels) => labels[i].to_string(),
        None => format!("#{i}"),
    };
    let codes = model.encode(test_x);
    let (strips, labels): (Vec<Tensor<2>>, Vec<String>) = firsts
        .chunks_exact(2)
        .map(|pair| {
            let a = codes.clone().narrow(0, pair[0], 1);
            let b = codes.clone().narrow(0, pair[1], 1);
            (
                interpolate(a, b, STRIP_STEPS),
                format!("{} → {}", name(pair[0]), name(pair[1])),
            )
        })
        .unzip();
    if !strips.is_empty() {
        labelled_grid(
            &page.picture("interpolations.png"),
            &grid(shape, STRIP_STEPS),
            &in_data_units(&inputs, values(model.decode_mean(Tensor::cat(strips, 0)))?),
            &labels,
        )?;
        page.section(
            format!("Decoded straight lines between the codes of two test {noun}"),
            "interpolations.png",
        );
    }
    Ok(page)
}

/// The image grid of `shape` (which the caller knows to be images), `columns` to a row.
fn grid(shape: ExampleShape, columns: usize) -> Grid {
    image_grid(shape, columns).unwrap_or_else(|| Grid::mnist(columns))
}

/// Model outputs in the data's own units.
fn in_data_units(inputs: &Inputs, mut values: Vec<f32>) -> Vec<f32> {
    inputs.to_data_units(&mut values);
    values
}

/// What the run's examples are called: digits for the bundled data, else examples.
fn examples_noun<C>(config: &TrainConfig<C>) -> &'static str {
    if config.data.has_splits() && config.test_data.is_none() {
        "digits"
    } else {
        "examples"
    }
}

/// A row of samples of each class, for a model conditioned on `classes` classes.
fn class_samples<C, M: LatentVariableModel>(
    page: &mut Page,
    config: &TrainConfig<C>,
    model: &M,
    classes: usize,
    device: &Device,
) -> Result<()> {
    let shape = config.example_shape();
    let mut all = Vec::new();
    let mut rows = Vec::new();
    for class in 0..classes {
        let z = model
            .sample_prior_of_class(SAMPLE_COLUMNS, class, device)
            .expect("a model with classes samples each");
        all.extend(in_data_units(
            &config.inputs(),
            values(model.decode_mean(z))?,
        ));
        rows.push(format!("class {class}"));
    }
    labelled_grid(
        &page.picture("class-samples.png"),
        &grid(shape, SAMPLE_COLUMNS),
        &all,
        &rows,
    )?;
    page.section(
        format!("{SAMPLE_COLUMNS} samples of each class: z ~ p(z), then E[x | z, y]"),
        "class-samples.png",
    );
    Ok(())
}

/// Decoded samples as a picture: an image grid, or for vectors a pairs plot beside the first
/// test examples; `sets` are the samples' names and values (in the data's units).
fn sample_picture<C>(
    page: &Page,
    config: &TrainConfig<C>,
    name: &str,
    title: &str,
    sets: &[(String, Vec<f32>)],
    device: &Device,
) -> Result<()> {
    let shape = config.example_shape();
    let path = page.picture(name);
    if image_grid(shape, 1).is_some() {
        let all: Vec<f32> = sets.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        let per_row = SAMPLE_COLUMNS * shape.dim();
        let rows: Vec<String> = sets
            .iter()
            .flat_map(|(label, v)| std::iter::repeat_n(label.clone(), v.len().div_ceil(per_row)))
            .collect();
        if sets.len() == 1 {
            return Ok(grid(shape, SAMPLE_COLUMNS).write_png(&all, &path)?);
        }
        return Ok(labelled_grid(
            &path,
            &grid(shape, SAMPLE_COLUMNS),
            &all,
            &rows,
        )?);
    }
    let (test, _) = labelled_images(config, Split::Test, Some(PAIRS_POINTS), device)?;
    // The data's columns only (a conditional model's inputs carry label columns after them).
    let test = in_data_units(&config.inputs(), values(test.narrow(1, 0, shape.dim()))?);
    let mut named: Vec<(&str, &[f32])> = vec![("test data", &test)];
    named.extend(sets.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
    write_pairs(&path, title, &named, shape.dim())
}

/// The test digits' codes as a scatter coloured by class: directly for a 2-D latent space,
/// else on their first two principal axes.
fn latent_section<C, M: Codec>(
    page: &mut Page,
    config: &TrainConfig<C>,
    model: &M,
    settings: &ReportConfig,
    what: &str,
    device: &Device,
    log: &mut impl FnMut(&str),
) -> Result<()> {
    log("plotting the latent space");
    let (test_x, test_labels) = labelled_images(config, Split::Test, Some(settings.limit), device)?;
    let d = model.latent_dim();
    let z = values_f64(model.encode(test_x))?;
    let (points, axes): (Vec<(f64, f64)>, _) = if d == 2 {
        (z.chunks(2).map(|p| (p[0], p[1])).collect(), ("z₁", "z₂"))
    } else {
        let plane = PrincipalPlane::fit(&z, d)?;
        (
            z.chunks(d).map(|row| plane.project(row)).collect(),
            ("first principal component", "second principal component"),
        )
    };
    let n = points.len();
    let noun = examples_noun(config);
    let (classes, names, coloured) = match test_labels {
        Some(labels) => {
            let word = if noun == "digits" { "digit" } else { "class" };
            let top = labels.iter().copied().max().unwrap_or(0);
            let names = (0..=top).map(|c| format!("{word} {c}")).collect();
            (labels, names, ", coloured by class")
        }
        None => (vec![0; n], vec![format!("test {noun}")], ""),
    };
    scatter_plot(
        &page.picture("latent.png"),
        Labels {
            title: &format!("Latent {what} of {n} test {noun}"),
            x: axes.0,
            y: axes.1,
        },
        &points,
        &classes,
        &names,
    )?;
    let plane = if d == 2 {
        ""
    } else {
        ", on their first two principal axes"
    };
    page.section(
        format!("The test {noun}' latent {what}{coloured}{plane}"),
        "latent.png",
    );
    Ok(())
}

/// The linear probe's row, if asked for.
fn probe_row<C, M: Codec>(
    page: &mut Page,
    config: &TrainConfig<C>,
    model: &M,
    settings: &ReportConfig,
    device: &Device,
    log: &mut impl FnMut(&str),
) -> Result<()> {
    if !settings.probe {
        return Ok(());
    }
    log(&format!(
        "training the linear probe on the codes of up to {PROBE_TRAIN_IMAGES} training examples"
    ));
    let probe = probe_codes(
        model,
        config,
        Some(PROBE_TRAIN_IMAGES),
        PROBE_STEPS,
        false,
        device,
    )?;
    page.row(
        format!(
            "linear probe on the codes ({} training digits, all test digits)",
            probe.train_images
        ),
        format!("{:.1} % test accuracy", 100.0 * probe.latent.test_accuracy),
    );
    Ok(())
}

/// The first test example of each class among `labels`, in the order of the classes (at most
/// [`CLASSES`] of them; classes that do not occur are left out).
fn first_of_each_class(labels: &[usize]) -> Vec<usize> {
    let mut firsts = std::collections::BTreeMap::new();
    for (i, label) in labels.iter().enumerate() {
        firsts.entry(*label).or_insert(i);
    }
    firsts.into_values().take(CLASSES).collect()
}

/// The report of the run or transfer study in `dir` of the built-in networks, on `devices`
/// (the first does everything but the importance sampling, which they share).
pub fn write_report(
    dir: &Path,
    settings: &ReportConfig,
    devices: &[NamedDevice],
    log: impl FnMut(&str),
) -> Result<PathBuf> {
    let run = RunDir::new(dir);
    let device = &devices[0].device;
    if run.holds_study() {
        let _lock = run.lock()?;
        return write_transfer_report(&run, device);
    }
    // Locked only once it is known to be a run (locking makes the directory).
    let _lock = if run.holds_run() {
        Some(run.lock()?)
    } else {
        None
    };
    let (config, model) = load_run(dir, device)?;
    crate::with_vae!(
        &model,
        vae => write_vae_report(&run, &config, vae, settings, devices, log),
        ae => write_autoencoder_report(&run, &config, ae, settings, device, log)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_representatives() {
        assert_eq!(first_of_each_class(&[3, 1, 3, 0, 1]), vec![3, 1, 0]);
    }
}
