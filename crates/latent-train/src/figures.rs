//! What the pictures of a run are made of, for any model with codes ([`Codec`]): test images
//! above their reconstructions, straight lines between codes, the 2-D manifold's grid of
//! codes, samples from the prior or from a Gaussian mixture fitted to an autoencoder's codes.

use std::path::Path;

use burn::tensor::{Device, Distribution as Noise, Tensor, TensorData};
use latent_data::{ExampleShape, Examples, Points, Split};
use latent_models::{Codec, GmmConfig, LatentVariableModel};
use latent_viz::Grid;

use crate::config::TrainConfig;
use crate::error::{io, Result, TrainError};
use crate::readback::values;
use crate::run_dir::RunDir;

/// Prior samples in a run's `images/samples.png`, eight to a row.
const RUN_SAMPLES: usize = 64;
/// Columns of sample grids.
pub const GRID_COLUMNS: usize = 8;
/// Test images in a run's `images/reconstructions.png`.
const RUN_RECONSTRUCTIONS: usize = 8;
/// Points of each set in the pairs plots of vector data.
pub const PAIRS_POINTS: usize = 500;
/// Dimensions a pairs plot shows (the first ones).
const PAIRS_SHOWN: usize = 4;

/// The grid that pictures images of `shape`, `columns` to a row; `None` for vectors.
pub fn image_grid(shape: ExampleShape, columns: usize) -> Option<Grid> {
    shape
        .image()
        .map(|(height, width, channels)| Grid::new(columns, height, width, channels))
}

/// A pairs plot of vector data (of `dim` values each, in the data's units): each set's points
/// over the first few dimensions.
pub fn write_pairs(path: &Path, title: &str, sets: &[(&str, &[f32])], dim: usize) -> Result<()> {
    let sets: Vec<(&str, Vec<f64>)> = sets
        .iter()
        .map(|(name, values)| (*name, values.iter().map(|v| *v as f64).collect()))
        .collect();
    let borrowed: Vec<(&str, &[f64])> = sets.iter().map(|(n, v)| (*n, v.as_slice())).collect();
    let shown = dim.clamp(2, PAIRS_SHOWN);
    if dim < 2 {
        return Err(TrainError::InvalidSetting {
            field: "data",
            problem: "a pairs plot needs at least two dimensions".into(),
        });
    }
    Ok(latent_viz::plot::pairs_plot(
        path, title, &borrowed, dim, shown,
    )?)
}

/// A trained VAE's pictures, written after training: `images/samples.png` (decoded prior
/// samples, seeded by the run's seed: the decoder's means for images, draws x ~ p(x | z) for
/// vectors) and `images/reconstructions.png` (the first test
/// examples above their reconstructions) — grids for images, pairs plots against the test
/// data for vectors.
pub fn write_training_pictures<C, M: LatentVariableModel>(
    run: &RunDir,
    config: &TrainConfig<C>,
    model: &M,
    device: &Device,
) -> Result<()> {
    let images = run.images()?;
    let shape = config.example_shape();
    let inputs = config.inputs();
    let grid = image_grid(shape, GRID_COLUMNS);
    let n_samples = if grid.is_some() {
        RUN_SAMPLES
    } else {
        PAIRS_POINTS
    };
    device.seed(config.seed);
    let z = model.sample_prior(n_samples, device);
    // Images show the decoder's means; vectors its draws (a mean has none of the spread).
    let mut samples = values(if grid.is_some() {
        model.decode_mean(z)
    } else {
        model.decode_sample(z)
    })?;
    inputs.to_data_units(&mut samples);
    let test = config.load_split(Split::Test, None)?;
    let shown = if grid.is_some() {
        RUN_RECONSTRUCTIONS
    } else {
        PAIRS_POINTS
    };
    let x = inputs
        .plain()
        .images(&test, 0..shown.min(test.len()), device);
    let mut both = reconstructions(model, x)?;
    inputs.to_data_units(&mut both);
    match grid {
        Some(grid) => {
            grid.write_png(&samples, &images.join("samples.png"))?;
            grid.write_png(&both, &images.join("reconstructions.png"))?;
        }
        None => {
            let (real, rebuilt) = both.split_at(both.len() / 2);
            let d = shape.dim();
            write_pairs(
                &images.join("samples.png"),
                "test data and samples from the model",
                &[("test data", real), ("samples", &samples)],
                d,
            )?;
            write_pairs(
                &images.join("reconstructions.png"),
                "test data and their reconstructions",
                &[("test data", real), ("reconstructions", rebuilt)],
                d,
            )?;
        }
    }
    Ok(())
}

/// Writes examples of `shape` (`values`, example after example, in the data's units; images
/// planar) to `out` by its extension: `.png` (a grid of images, `columns` to a row), `.npy`
/// (float32: `[n, H, W]` grey images, `[n, H, W, C]` colour ones, `[n, D]` vectors) or `.csv`
/// (one example per line).
pub fn write_examples(
    values: &[f32],
    shape: ExampleShape,
    columns: usize,
    out: &Path,
) -> Result<()> {
    let d = shape.dim();
    let n = values.len() / d.max(1);
    let refuse = |problem: String| TrainError::InvalidSetting {
        field: "out",
        problem,
    };
    match out.extension().and_then(|e| e.to_str()) {
        Some("png") => match image_grid(shape, columns.max(1)) {
            Some(grid) => Ok(grid.write_png(values, out)?),
            None => Err(refuse(format!(
                "{}: a PNG pictures images, and these are {shape}; write .npy or .csv",
                out.display()
            ))),
        },
        Some("npy") => {
            let bytes = match shape.image() {
                Some((h, w, 1)) => latent_data::points::encode_npy_f32(values, &[n, h, w]),
                Some((h, w, c)) => latent_data::points::encode_npy_f32(
                    &interleaved(values, (h, w, c)),
                    &[n, h, w, c],
                ),
                None => latent_data::points::encode_npy_f32(values, &[n, d]),
            };
            std::fs::write(out, bytes).map_err(io(out))
        }
        Some("csv") => {
            let points = Points::new(n, d, values.iter().map(|v| *v as f64).collect())?;
            Ok(latent_data::write_points(&points, out)?)
        }
        _ => Err(refuse(format!(
            "{} must end in .png, .npy or .csv",
            out.display()
        ))),
    }
}

/// Planar images (C × H × W) with their channels interleaved again (H × W × C).
fn interleaved(values: &[f32], (h, w, c): (usize, usize, usize)) -> Vec<f32> {
    let per_image = h * w * c;
    let mut out = Vec::with_capacity(values.len());
    for image in values.chunks_exact(per_image) {
        for pixel in 0..h * w {
            out.extend((0..c).map(|channel| image[channel * h * w + pixel]));
        }
    }
    out
}

/// Examples and labels of a split of the run's data as model inputs (grey levels, or
/// standardised values): the first `at_most` (all when `None` or when the split holds fewer),
/// and their labels if the data have them.
pub fn labelled_images<C>(
    config: &TrainConfig<C>,
    split: Split,
    at_most: Option<usize>,
    device: &Device,
) -> Result<(Tensor<2>, Option<Vec<usize>>)> {
    let data = first_of_split(config, split, at_most)?;
    let x = config.inputs().plain().images(&data, 0..data.len(), device);
    Ok((x, class_labels(&data)))
}

/// The first `at_most` examples of a split of the run's data (all when `None` or when the
/// split holds fewer): the split is drawn whole first, so that a held-out test fraction is
/// the run's own.
pub(crate) fn first_of_split<C>(
    config: &TrainConfig<C>,
    split: Split,
    at_most: Option<usize>,
) -> Result<Examples> {
    let data = config.load_split(split, None)?;
    Ok(match at_most {
        Some(n) => data.truncated(n),
        None => data,
    })
}

/// The examples' labels as class indices, if the data have them.
pub(crate) fn class_labels(data: &Examples) -> Option<Vec<usize>> {
    data.labels()
        .map(|labels| labels.iter().map(|l| *l as usize).collect())
}

/// The test examples `indices` of the run's data as model inputs, on `device`; an index
/// beyond the test set is an error that gives its size.
pub fn test_images<C>(
    config: &TrainConfig<C>,
    indices: &[usize],
    device: &Device,
) -> Result<Tensor<2>> {
    let test = config.load_split(Split::Test, None)?;
    if let Some(last) = indices.iter().copied().filter(|i| *i >= test.len()).max() {
        return Err(TrainError::InvalidSetting {
            field: "test image",
            problem: format!(
                "test digit {last} does not exist (the test set has {})",
                test.len()
            ),
        });
    }
    Ok(config
        .inputs()
        .plain()
        .images(&test, indices.iter().copied(), device))
}

/// The images `x` followed by their reconstructions E[x | z = code(x)], as pixel values: two
/// rows of a grid. Inputs that carry label columns after the data (a conditional model's)
/// are shown without them.
pub fn reconstructions<M: Codec>(model: &M, x: Tensor<2>) -> Result<Vec<f32>> {
    let decoded = model.decode_mean(model.encode(x.clone()));
    let data = decoded.dims()[1];
    let mut both = values(x.narrow(1, 0, data))?;
    both.extend(values(decoded)?);
    Ok(both)
}

/// `steps` codes evenly spaced on the straight line from `a` to `b` (each `[1, latent]`), ends
/// included: `[steps, latent]`.
pub fn interpolate(a: Tensor<2>, b: Tensor<2>, steps: usize) -> Tensor<2> {
    let path: Vec<Tensor<2>> = (0..steps)
        .map(|i| {
            let t = i as f64 / (steps - 1).max(1) as f64;
            a.clone().mul_scalar(1.0 - t) + b.clone().mul_scalar(t)
        })
        .collect();
    Tensor::cat(path, 0)
}

/// One Bernoulli draw per pixel of the means `pixels` (values in [0, 1]): binary images.
pub fn binarize(pixels: Tensor<2>) -> Tensor<2> {
    let uniform = Tensor::<2>::random(pixels.shape(), Noise::Default, &pixels.device());
    uniform.lower(pixels).float()
}

/// `n` codes from N(0, I) of dimension `latent`.
pub fn standard_normal_codes(n: usize, latent: usize, device: &Device) -> Tensor<2> {
    Tensor::random([n, latent], Noise::Normal(0.0, 1.0), device)
}

/// Ex-post density estimation for an autoencoder (or any model with codes): a `k`-component
/// Gaussian mixture fitted to the codes of the first `fit_limit` training images of the run's
/// data, and `n` codes sampled from it.
pub fn latent_gmm_codes<C, M: Codec>(
    model: &M,
    config: &TrainConfig<C>,
    k: usize,
    fit_limit: usize,
    n: usize,
    seed: u64,
    device: &Device,
) -> Result<Tensor<2>> {
    let (x, _) = labelled_images(config, Split::Train, Some(fit_limit), device)?;
    let gmm = GmmConfig::new(k).with_seed(seed).fit(&model.encode(x))?;
    let (codes, _) = gmm.sample(n, seed)?;
    Ok(codes.to_tensor(device))
}

/// Φ⁻¹(p), the standard normal quantile (Acklam's rational approximation, relative error
/// below 1.2e-9 on (0, 1)).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    /// Below this (and above 1 − this) the tail approximation takes over.
    const TAIL: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < TAIL {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - TAIL {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Kingma & Welling's manifold figure: the codes Φ⁻¹ of a regular `side` × `side` grid on the
/// unit square (cell centres), row after row going down the second coordinate: `[side², 2]`
/// on `device`.
pub fn manifold_codes(side: usize, device: &Device) -> Tensor<2> {
    let quantiles: Vec<f64> = (0..side)
        .map(|i| normal_quantile((i as f64 + 0.5) / side as f64))
        .collect();
    let codes: Vec<f32> = (0..side * side)
        .flat_map(|cell| {
            [
                quantiles[cell % side] as f32,
                quantiles[side - 1 - cell / side] as f32,
            ]
        })
        .collect();
    Tensor::from_data(TensorData::new(codes, [side * side, 2]), device)
}

#[cfg(test)]
mod tests {
    use super::normal_quantile;

    #[test]
    fn normal_quantile_inverts_known_values() {
        // Φ⁻¹ at 0.5, 0.975, 0.001 and their mirror images.
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.001, -3.090_232_306_167_813_6),
        ] {
            assert!((normal_quantile(p) - z).abs() < 1e-8, "{p}");
            assert!((normal_quantile(1.0 - p) + z).abs() < 1e-8, "{p}");
        }
    }
}
