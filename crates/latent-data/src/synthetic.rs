//! Seeded synthetic data from a known Gaussian mixture: the ground truth for testing EM.

use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::StandardNormal;

use latent_distributions::linalg::cholesky;

use crate::error::{DataError, Result};
use crate::points::Points;

/// A Gaussian mixture p(x) = Σ_k α_k N(x; μ_k, Σ_k) with full covariances.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MixtureSpec {
    /// α_k: positive, summing to 1 (within 1e-6).
    pub weights: Vec<f64>,
    /// μ_k, each of dimension D.
    pub means: Vec<Vec<f64>>,
    /// Σ_k, each D × D, symmetric positive definite (row-major nested vectors).
    pub covariances: Vec<Vec<Vec<f64>>>,
}

impl MixtureSpec {
    /// A mixture with isotropic covariances σ_k² I.
    pub fn isotropic(weights: Vec<f64>, means: Vec<Vec<f64>>, variances: &[f64]) -> Self {
        let covariances = means
            .iter()
            .zip(variances)
            .map(|(mean, var)| {
                let d = mean.len();
                (0..d)
                    .map(|i| (0..d).map(|j| if i == j { *var } else { 0.0 }).collect())
                    .collect()
            })
            .collect();
        Self {
            weights,
            means,
            covariances,
        }
    }

    /// K equal-weight unit-variance blobs in `dim` dimensions whose centres are drawn (from
    /// `seed`) uniformly in a cube of side `separation · K^(1/dim)`, so that typical
    /// neighbours are about `separation` standard deviations apart.
    pub fn blobs(k: usize, dim: usize, separation: f64, seed: u64) -> Result<Self> {
        if k == 0 || dim == 0 {
            return Err(DataError::InvalidMixture(
                "blobs need at least one component and one dimension".into(),
            ));
        }
        let side = separation * (k as f64).powf(1.0 / dim as f64);
        let centre_spec = MixtureSpec::isotropic(vec![1.0], vec![vec![0.0; dim]], &[1.0]);
        // Uniform centres from the seeded Gaussian sampler: Φ maps N(0, 1) to U(0, 1).
        let (raw, _) = centre_spec.sample(k, seed ^ BLOB_CENTRE_SALT)?;
        let means = (0..k)
            .map(|i| raw.row(i).iter().map(|z| side * normal_cdf(*z)).collect())
            .collect();
        Ok(MixtureSpec::isotropic(
            vec![1.0 / k as f64; k],
            means,
            &vec![1.0; k],
        ))
    }

    /// The dimension D: that of the first mean (0 when there are no components).
    pub fn dim(&self) -> usize {
        self.means.first().map_or(0, Vec::len)
    }

    /// Checks the weights, shapes and positive-definiteness; returns the Cholesky factors.
    fn validate(&self) -> Result<Vec<Vec<f64>>> {
        let invalid = |m: String| DataError::InvalidMixture(m);
        let k = self.weights.len();
        if k == 0 {
            return Err(invalid("no components".into()));
        }
        if self.means.len() != k || self.covariances.len() != k {
            return Err(invalid(format!(
                "{k} weights but {} means and {} covariances",
                self.means.len(),
                self.covariances.len()
            )));
        }
        if let Some(w) = self.weights.iter().find(|w| **w <= 0.0 || !w.is_finite()) {
            return Err(invalid(format!("weight {w} is not positive")));
        }
        let total: f64 = self.weights.iter().sum();
        if (total - 1.0).abs() > 1e-6 {
            return Err(invalid(format!("weights sum to {total}, not 1")));
        }
        let d = self.dim();
        if d == 0 {
            return Err(invalid("means have dimension 0".into()));
        }
        let mut factors = Vec::with_capacity(k);
        for (c, (mean, cov)) in self.means.iter().zip(&self.covariances).enumerate() {
            if mean.len() != d || cov.len() != d || cov.iter().any(|r| r.len() != d) {
                return Err(invalid(format!("component {c}: expected dimension {d}")));
            }
            if mean
                .iter()
                .chain(cov.iter().flatten())
                .any(|v| !v.is_finite())
            {
                return Err(invalid(format!("component {c}: non-finite parameter")));
            }
            for (i, row) in cov.iter().enumerate() {
                for (j, v) in row.iter().enumerate().take(i) {
                    if (v - cov[j][i]).abs() > 1e-9 * (1.0 + v.abs()) {
                        return Err(invalid(format!("component {c}: covariance not symmetric")));
                    }
                }
            }
            let flat: Vec<f64> = cov.iter().flatten().copied().collect();
            let factor = cholesky(&flat, d).ok_or_else(|| {
                invalid(format!("component {c}: covariance not positive definite"))
            })?;
            factors.push(factor);
        }
        Ok(factors)
    }

    /// Draws `n` points and the component each came from, reproducibly for a given `seed`:
    /// k ~ Categorical(α), x = μ_k + L_k ε with L_k L_kᵀ = Σ_k and ε ~ N(0, I).
    pub fn sample(&self, n: usize, seed: u64) -> Result<(Points, Vec<usize>)> {
        let factors = self.validate()?;
        let d = self.dim();
        let mut rng = StdRng::seed_from_u64(seed);
        let choose = WeightedIndex::new(&self.weights)
            .map_err(|e| DataError::InvalidMixture(e.to_string()))?;
        let mut values = Vec::with_capacity(n * d);
        let mut labels = Vec::with_capacity(n);
        let mut eps = vec![0.0; d];
        for _ in 0..n {
            let k = choose.sample(&mut rng);
            for e in eps.iter_mut() {
                *e = StandardNormal.sample(&mut rng);
            }
            let l = &factors[k];
            for i in 0..d {
                let shift: f64 = (0..=i).map(|j| l[i * d + j] * eps[j]).sum();
                values.push(self.means[k][i] + shift);
            }
            labels.push(k);
        }
        Ok((Points::new(n, d, values)?, labels))
    }
}

/// Mixed into the seed of the blobs' centres, so that they and the points drawn from the same
/// seed are different streams.
const BLOB_CENTRE_SALT: u64 = 0x5EED;

/// Φ(z), the standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    0.5 * (1.0 + erf.copysign(z))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_blobs() -> MixtureSpec {
        MixtureSpec {
            weights: vec![0.3, 0.7],
            means: vec![vec![-2.0, 0.0], vec![3.0, 1.0]],
            covariances: vec![
                vec![vec![1.0, 0.6], vec![0.6, 0.5]],
                vec![vec![0.25, 0.0], vec![0.0, 2.0]],
            ],
        }
    }

    #[test]
    fn sample_moments_match_the_spec_within_four_standard_errors() {
        let spec = two_blobs();
        let n = 40_000;
        let (points, labels) = spec.sample(n, 1).unwrap();
        // Component frequencies.
        let n0 = labels.iter().filter(|k| **k == 0).count() as f64;
        let se = (0.3 * 0.7 / n as f64).sqrt();
        assert!((n0 / n as f64 - 0.3).abs() < 4.0 * se);
        // Per-component means and covariances.
        for k in 0..2 {
            let rows: Vec<&[f64]> = (0..n)
                .filter(|i| labels[*i] == k)
                .map(|i| points.row(i))
                .collect();
            let m = rows.len() as f64;
            for i in 0..2 {
                let mean = rows.iter().map(|r| r[i]).sum::<f64>() / m;
                let var_ii = spec.covariances[k][i][i];
                assert!((mean - spec.means[k][i]).abs() < 4.0 * (var_ii / m).sqrt());
                for j in 0..2 {
                    let mean_j = rows.iter().map(|r| r[j]).sum::<f64>() / m;
                    let cov = rows
                        .iter()
                        .map(|r| (r[i] - mean) * (r[j] - mean_j))
                        .sum::<f64>()
                        / (m - 1.0);
                    // Var of a sample covariance of Gaussians: (Σ_ii Σ_jj + Σ_ij²) / m.
                    let s = &spec.covariances[k];
                    let se = ((s[i][i] * s[j][j] + s[i][j] * s[i][j]) / m).sqrt();
                    assert!(
                        (cov - s[i][j]).abs() < 4.0 * se,
                        "k{k} cov[{i}][{j}] = {cov}"
                    );
                }
            }
        }
    }

    #[test]
    fn same_seed_same_points_other_seed_other_points() {
        let spec = two_blobs();
        assert_eq!(spec.sample(50, 9).unwrap(), spec.sample(50, 9).unwrap());
        assert_ne!(
            spec.sample(50, 9).unwrap().0,
            spec.sample(50, 10).unwrap().0
        );
    }

    #[test]
    fn invalid_specs_are_rejected_with_reasons() {
        let mut bad = two_blobs();
        bad.weights = vec![0.5, 0.6];
        assert!(bad.sample(1, 0).unwrap_err().to_string().contains("sum to"));
        let mut bad = two_blobs();
        bad.covariances[1] = vec![vec![1.0, 2.0], vec![2.0, 1.0]];
        assert!(bad
            .sample(1, 0)
            .unwrap_err()
            .to_string()
            .contains("positive definite"));
        let mut bad = two_blobs();
        bad.covariances[0][0][1] = 0.1;
        assert!(bad
            .sample(1, 0)
            .unwrap_err()
            .to_string()
            .contains("symmetric"));
        let mut bad = two_blobs();
        bad.means[1] = vec![1.0];
        assert!(bad
            .sample(1, 0)
            .unwrap_err()
            .to_string()
            .contains("dimension"));
        let iso = MixtureSpec::isotropic(vec![1.0], vec![vec![0.0, 0.0, 0.0]], &[2.0]);
        assert_eq!(iso.covariances[0][1], vec![0.0, 2.0, 0.0]);
    }
}
