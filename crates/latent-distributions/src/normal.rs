//! Diagonal Gaussian, parametrised by mean and log-variance.

use burn::tensor::{Distribution as Noise, Tensor};

use crate::{Distribution, LN_2PI};

/// A batch of diagonal Gaussians N(μ, diag σ²), parametrised by `mean` μ and `log_var` log σ²,
/// both `[batch, dim]`. One row is one event.
#[derive(Debug, Clone)]
pub struct Normal {
    /// The mean μ, `[batch, dim]`.
    pub mean: Tensor<2>,
    /// The log-variance log σ², `[batch, dim]` (same shape as `mean`).
    pub log_var: Tensor<2>,
}

impl Normal {
    /// N(μ, diag exp(log_var)). Panics if the shapes differ (a programming error).
    pub fn new(mean: Tensor<2>, log_var: Tensor<2>) -> Self {
        assert_eq!(
            mean.dims(),
            log_var.dims(),
            "Normal: mean and log_var must have the same shape"
        );
        Self { mean, log_var }
    }

    /// The standard normal N(0, I) with `batch` events of dimension `dim`.
    pub fn standard(batch: usize, dim: usize, device: &burn::tensor::Device) -> Self {
        Self::new(
            Tensor::zeros([batch, dim], device),
            Tensor::zeros([batch, dim], device),
        )
    }

    /// σ = exp(½ log σ²).
    pub fn std(&self) -> Tensor<2> {
        self.log_var.clone().mul_scalar(0.5).exp()
    }

    /// The mean μ (also the mode).
    pub fn mean(&self) -> Tensor<2> {
        self.mean.clone()
    }

    /// log N(x; μ, σ²) per element: −½ (ln 2π + log σ² + (x − μ)² / σ²).
    pub fn log_prob_elementwise(&self, x: Tensor<2>) -> Tensor<2> {
        normal_log_prob_elementwise(self.mean.clone(), self.log_var.clone(), x)
    }

    /// Reparameterised sample z = μ + σ ⊙ ε with ε ~ N(0, I) drawn on the tensors' device.
    /// Gradients flow to `mean` and `log_var`.
    pub fn rsample(&self) -> Tensor<2> {
        let noise = Tensor::random(
            self.mean.shape(),
            Noise::Normal(0.0, 1.0),
            &self.mean.device(),
        );
        self.rsample_with_noise(noise)
    }

    /// z = μ + σ ⊙ ε for a given ε (`[batch, dim]`): the reparameterisation with the noise made
    /// explicit, for reproducible or shared-noise computations.
    pub fn rsample_with_noise(&self, noise: Tensor<2>) -> Tensor<2> {
        self.mean.clone() + self.std() * noise
    }

    /// `n` reparameterised samples per event, stacked: `[n, batch, dim]`.
    pub fn rsample_n(&self, n: usize) -> Tensor<3> {
        let [batch, dim] = self.mean.dims();
        let noise = Tensor::<3>::random(
            [n, batch, dim],
            Noise::Normal(0.0, 1.0),
            &self.mean.device(),
        );
        self.rsample_n_with_noise(noise)
    }

    /// [`Normal::rsample_n`] for a given ε (`[n, batch, dim]`).
    pub fn rsample_n_with_noise(&self, noise: Tensor<3>) -> Tensor<3> {
        self.mean.clone().unsqueeze_dim::<3>(0) + self.std().unsqueeze_dim::<3>(0) * noise
    }

    /// Entropy per element: ½ (1 + ln 2π + log σ²).
    pub fn entropy_elementwise(&self) -> Tensor<2> {
        self.log_var
            .clone()
            .add_scalar(1.0 + LN_2PI)
            .mul_scalar(0.5)
    }
}

/// [`Normal::log_prob_elementwise`] for tensors of any rank, broadcast against each other
/// (size-1 dimensions repeat): e.g. the means `[k, batch, d]` of k samples per example against
/// the examples `[1, batch, d]` and one log-variance per pixel `[1, 1, d]`, without copying
/// the examples k times or filling a log-variance as large as the means.
pub fn normal_log_prob_elementwise<const D: usize>(
    mean: Tensor<D>,
    log_var: Tensor<D>,
    x: Tensor<D>,
) -> Tensor<D> {
    let sq = (x - mean).powi_scalar(2);
    let scaled = sq * log_var.clone().neg().exp();
    (scaled + log_var).add_scalar(LN_2PI).mul_scalar(-0.5)
}

/// [`normal_log_prob_elementwise`] with one log-variance for every element (a float): a
/// scaled squared error, −½ (ln 2π + log σ² + (x − μ)² / σ²).
pub fn normal_log_prob_elementwise_fixed<const D: usize>(
    mean: Tensor<D>,
    log_var: f64,
    x: Tensor<D>,
) -> Tensor<D> {
    (x - mean)
        .powi_scalar(2)
        .mul_scalar((-log_var).exp())
        .add_scalar(log_var + LN_2PI)
        .mul_scalar(-0.5)
}

/// log N(x_n; μ_c, diag σ²_c) of every point against every component, summed over the
/// dimensions: `x` `[n, d]`, `mean` and `log_var` `[components, d]` → `[n, components]`.
///
/// Expanded as −½ (Σ_j x²_nj / σ²_cj − 2 Σ_j x_nj μ_cj / σ²_cj + Σ_j μ²_cj / σ²_cj + Σ_j log
/// σ²_cj + d ln 2π): two matrix products, never the `[n, components, d]` tensor of
/// differences, so a mixture of hundreds of components costs memory of `[n, components]` only.
pub fn normal_log_prob_matrix(x: Tensor<2>, mean: Tensor<2>, log_var: Tensor<2>) -> Tensor<2> {
    let d = x.dims()[1] as f64;
    let precision = log_var.clone().neg().exp();
    let scaled_mean = mean.clone() * precision.clone();
    // [components]: Σ_j μ² / σ² + Σ_j log σ², as a row.
    let constant = (scaled_mean.clone() * mean + log_var)
        .sum_dim(1)
        .transpose();
    let quadratic = x.clone().powi_scalar(2).matmul(precision.transpose());
    let cross = x.matmul(scaled_mean.transpose());
    (quadratic - cross.mul_scalar(2.0) + constant)
        .add_scalar(d * LN_2PI)
        .mul_scalar(-0.5)
}

impl Distribution for Normal {
    type Value = Tensor<2>;

    fn log_prob(&self, value: Tensor<2>) -> Tensor<1> {
        self.log_prob_elementwise(value).sum_dim(1).squeeze_dim(1)
    }

    fn sample(&self) -> Tensor<2> {
        self.rsample().detach()
    }

    fn entropy(&self) -> Tensor<1> {
        self.entropy_elementwise().sum_dim(1).squeeze_dim(1)
    }

    fn mode(&self) -> Tensor<2> {
        self.mean()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{device, mean_and_se, tensor2, to_vec};

    #[test]
    fn log_prob_matrix_equals_the_direct_sum_for_every_pair() {
        let device = device();
        let x = [0.3f32, -1.2, 2.5, 0.0, -0.7, 1.1];
        let mean = [0.5f32, -1.0, 2.0, 1.0, -3.0, 0.25];
        let log_var = [0.0f32, -2.0, 1.5, 0.4, -0.5, 2.0];
        let matrix = to_vec(normal_log_prob_matrix(
            tensor2(&x, 3, 2, &device),
            tensor2(&mean, 3, 2, &device),
            tensor2(&log_var, 3, 2, &device),
        ));
        for n in 0..3 {
            for c in 0..3 {
                let want: f64 = (0..2)
                    .map(|j| {
                        let (xi, m, lv) = (x[2 * n + j], mean[2 * c + j], log_var[2 * c + j]);
                        let (xi, m, lv) = (xi as f64, m as f64, lv as f64);
                        -0.5 * (LN_2PI + lv + (xi - m).powi(2) / lv.exp())
                    })
                    .sum();
                let got = matrix[3 * n + c] as f64;
                assert!(
                    (got - want).abs() < 1e-4,
                    "x {n}, component {c}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn sample_moments_match_parameters_within_four_standard_errors() {
        let device = device();
        device.seed(7);
        let n = 20_000;
        let means = [1.5f32, -2.0];
        let log_vars = [0.0f32, (0.25f32).ln()];
        let mean = Tensor::<2>::from_floats([means], &device).repeat_dim(0, n);
        let log_var = Tensor::<2>::from_floats([log_vars], &device).repeat_dim(0, n);
        let samples = to_vec(Normal::new(mean, log_var).sample());
        for d in 0..2 {
            let xs: Vec<f64> = samples
                .iter()
                .skip(d)
                .step_by(2)
                .map(|v| *v as f64)
                .collect();
            let (m, se) = mean_and_se(&xs);
            assert!(
                (m - means[d] as f64).abs() < 4.0 * se,
                "dim {d}: mean {m} ± {se}"
            );
            // Var of the sample variance of a normal is 2σ⁴/(n−1).
            let sigma2 = (log_vars[d] as f64).exp();
            let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() as f64 - 1.0);
            let var_se = (2.0 * sigma2 * sigma2 / (xs.len() as f64 - 1.0)).sqrt();
            assert!(
                (var - sigma2).abs() < 4.0 * var_se,
                "dim {d}: var {var} vs {sigma2}"
            );
        }
    }

    /// Broadcast operands give what operands copied to the full shape give, for a
    /// log-variance per element, per column and one for all.
    #[test]
    fn broadcast_log_prob_matches_copied_operands() {
        let device = device();
        let means = [
            0.3f32, -1.0, 2.5, 0.0, 0.7, -0.2, 1.1, -3.0, 0.05, 4.0, -0.6, 0.9,
        ];
        let x = [0.5f32, -0.25, 2.0, 1.0, 0.0, -0.75];
        let col_log_var = [-1.5f32, 0.0, 2.0];
        // means [k = 2, batch = 2, d = 3] against x [1, 2, 3].
        let mean3 = Tensor::<1>::from_floats(means, &device).reshape([2, 2, 3]);
        let x3 = Tensor::<1>::from_floats(x, &device).reshape([1, 2, 3]);
        let lv3 = Tensor::<1>::from_floats(col_log_var, &device).reshape([1, 1, 3]);
        let x_copied: Vec<f32> = x.iter().chain(&x).copied().collect();
        let lv_copied: Vec<f32> = col_log_var.iter().cycle().take(12).copied().collect();
        let flat = |log_var: &[f32]| {
            to_vec(
                Normal::new(
                    tensor2(&means, 4, 3, &device),
                    tensor2(log_var, 4, 3, &device),
                )
                .log_prob_elementwise(tensor2(&x_copied, 4, 3, &device)),
            )
        };
        let per_column = to_vec(normal_log_prob_elementwise(mean3.clone(), lv3, x3.clone()));
        assert_eq!(per_column, flat(&lv_copied));
        let fixed = to_vec(normal_log_prob_elementwise_fixed(mean3, -0.7, x3));
        for (got, want) in fixed.iter().zip(flat(&[-0.7; 12])) {
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn rsample_n_has_one_independent_draw_per_slice() {
        let device = device();
        device.seed(3);
        let normal = Normal::standard(2, 3, &device);
        let draws = normal.rsample_n(4);
        assert_eq!(draws.dims(), [4, 2, 3]);
        let values = to_vec(draws);
        assert_ne!(values[0..6], values[6..12]);
    }

    #[test]
    fn extreme_log_variance_gives_finite_values_and_gradients() {
        let device = device().autodiff();
        let mean = tensor2(&[0.0, 1.0, -1.0, 2.0], 2, 2, &device).require_grad();
        let log_var = tensor2(&[30.0, -30.0, 30.0, -30.0], 2, 2, &device).require_grad();
        let normal = Normal::new(mean.clone(), log_var.clone());
        let x = tensor2(&[0.5, 1.0001, -3.0, 2.0], 2, 2, &device);
        let z = normal.rsample();
        let total = normal.log_prob(x).sum() + normal.entropy().sum() + z.sum();
        assert!(to_vec(total.clone()).iter().all(|v| v.is_finite()));
        let grads = total.backward();
        for g in [mean.grad(&grads).unwrap(), log_var.grad(&grads).unwrap()] {
            assert!(to_vec(g).iter().all(|v| v.is_finite()));
        }
    }
}
