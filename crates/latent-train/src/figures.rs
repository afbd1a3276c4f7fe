//! What the pictures of a run are made of, for any model with codes ([`Codec`]): test images
//! above their reconstructions, straight lines between codes, the 2-D manifold's grid of
//! codes, samples from the prior or from a Gaussian mixture fitted to an autoencoder's codes.

use std::path::Path;

use burn::data::dataset::Dataset;
use burn::tensor::{Device, Distribution as Noise, Tensor, TensorData};
use latent_data::mnist::{PIXELS, SIDE};
use latent_data::{MnistBatcher, Points, Split};
use latent_models::{Codec, GmmConfig, LatentVariableModel};
use latent_viz::Grid;

use crate::config::TrainConfig;
use crate::error::{io, Result, TrainError};
use crate::readback::values;
use crate::run_dir::RunDir;

/// Prior samples in a run's `images/samples.png`, eight to a row.
const RUN_SAMPLES: usize = 64;
/// Columns of sample grids.
const GRID_COLUMNS: usize = 8;
/// Test digits in a run's `images/reconstructions.png`.
const RUN_RECONSTRUCTIONS: usize = 8;

/// A trained VAE's pictures, written after training: `images/samples.png` (64
/// decoded prior samples, seeded by the run's seed) and `images/reconstructions.png` (the
/// first test digits above their reconstructions).
pub fn write_training_pictures<C, M: LatentVariableModel>(
    run: &RunDir,
    config: &TrainConfig<C>,
    model: &M,
    device: &Device,
) -> Result<()> {
    let images = run.images()?;
    device.seed(config.seed);
    let samples = model.decode_mean(model.sample_prior(RUN_SAMPLES, device));
    Grid::mnist(GRID_COLUMNS).write_png(&values(samples)?, &images.join("samples.png"))?;
    let indices: Vec<usize> = (0..RUN_RECONSTRUCTIONS).collect();
    let pictures = reconstructions(model, test_images(config, &indices, device)?)?;
    Grid::mnist(GRID_COLUMNS).write_png(&pictures, &images.join("reconstructions.png"))?;
    Ok(())
}

/// Writes `n` images of 28 × 28 values (`pixels`, image after image) to `out` by its
/// extension: `.png` (a grid, eight to a row), `.npy` (float32 `[n, 28, 28]`) or `.csv` (one
/// image of 784 values per line).
pub fn write_images(pixels: &[f32], n: usize, out: &Path) -> Result<()> {
    match out.extension().and_then(|e| e.to_str()) {
        Some("png") => Ok(Grid::mnist(GRID_COLUMNS).write_png(pixels, out)?),
        Some("npy") => {
            let bytes = latent_data::points::encode_npy_f32(pixels, &[n, SIDE, SIDE]);
            std::fs::write(out, bytes).map_err(io(out))
        }
        Some("csv") => {
            let points = Points::new(n, PIXELS, pixels.iter().map(|v| *v as f64).collect())?;
            Ok(latent_data::write_points(&points, out)?)
        }
        _ => Err(TrainError::InvalidSetting {
            field: "out",
            problem: format!("{} must end in .png, .npy or .csv", out.display()),
        }),
    }
}

/// Grey-level images and labels of a split of the run's data: the first `at_most` (all when
/// `None` or when the split holds fewer).
pub fn labelled_images<C>(
    config: &TrainConfig<C>,
    split: Split,
    at_most: Option<usize>,
    device: &Device,
) -> Result<(Tensor<2>, Vec<usize>)> {
    let mut data = config.load_split(split, None)?;
    if let Some(n) = at_most {
        data = data.truncated(n);
    }
    let x = MnistBatcher::grey().images(&data, 0..data.len(), device);
    Ok((x, data.labels().iter().map(|l| *l as usize).collect()))
}

/// The test images `indices` of the run's data, grey levels, on `device`; an index beyond the
/// test set is an error that gives its size.
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
    Ok(MnistBatcher::grey().images(&test, indices.iter().copied(), device))
}

/// The images `x` followed by their reconstructions E[x | z = code(x)], as pixel values: two
/// rows of a grid.
pub fn reconstructions<M: Codec>(model: &M, x: Tensor<2>) -> Result<Vec<f32>> {
    let decoded = model.decode_mean(model.encode(x.clone()));
    let mut both = values(x)?;
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
