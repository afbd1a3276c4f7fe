//! Log-space helpers shared by every density in the project.

use burn::tensor::Tensor;

/// ln(2π), the constant of the Gaussian log-density.
pub const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// log Σ_i exp(x_i) along `dim`, keeping `dim` (size 1).
///
/// Computed as m + log Σ exp(x − m) with m = max(x) so nothing overflows. A slice that is all
/// −∞ gives −∞ (not NaN): its shift is taken as 0.
pub fn log_sum_exp<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    // The shift only guards the exponent; the result does not depend on it, so no gradient
    // needs to flow through it.
    let max = x.clone().max_dim(dim).detach();
    let max = max.clone().mask_fill(max.is_inf(), 0.0);
    (x - max.clone()).exp().sum_dim(dim).log() + max
}

/// log((1/n) Σ_i exp(x_i)) along `dim` (size n), keeping `dim`: the log of an average of
/// probabilities given in log space, as in an importance-sampled likelihood.
pub fn log_mean_exp<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let n = x.dims()[dim] as f64;
    log_sum_exp(x, dim).sub_scalar(n.ln())
}

/// Log-density of a mixture: log p(x_n) = log Σ_k exp(log α_k + log p_k(x_n)).
///
/// `component_log_probs` is `[n, k]` (log p_k(x_n)), `log_weights` is `[k]` (log α_k,
/// normalised). Returns `[n]`.
pub fn mixture_log_prob(component_log_probs: Tensor<2>, log_weights: Tensor<1>) -> Tensor<1> {
    let joint = component_log_probs + log_weights.unsqueeze_dim(0);
    log_sum_exp(joint, 1).squeeze_dim(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{device, tensor2, to_vec};

    #[test]
    fn log_sum_exp_matches_direct_sum_on_moderate_values() {
        let device = device();
        let values = [0.5f32, -1.0, 2.0, 0.0, 3.0, -2.5];
        let lse = to_vec(log_sum_exp(tensor2(&values, 2, 3, &device), 1));
        for (row, got) in values.chunks(3).zip(lse) {
            let want = row.iter().map(|v| (*v as f64).exp()).sum::<f64>().ln();
            assert!((got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn log_sum_exp_survives_huge_and_minus_infinite_inputs() {
        let device = device();
        let values = [1000.0f32, 1000.0, f32::NEG_INFINITY, f32::NEG_INFINITY];
        let lse = to_vec(log_sum_exp(tensor2(&values, 2, 2, &device), 1));
        assert!((lse[0] - (1000.0 + 2f32.ln())).abs() < 1e-3, "{}", lse[0]);
        assert_eq!(lse[1], f32::NEG_INFINITY);
    }

    #[test]
    fn log_mean_exp_of_equal_values_is_that_value() {
        let device = device();
        let lme = to_vec(log_mean_exp(tensor2(&[-700.0; 5], 1, 5, &device), 1));
        assert!((lme[0] + 700.0).abs() < 1e-3, "{}", lme[0]);
    }

    #[test]
    fn mixture_of_identical_components_is_the_component() {
        let device = device();
        let component = tensor2(&[-1.5, -1.5, -3.0, -3.0], 2, 2, &device);
        let log_weights = Tensor::<1>::from_floats([0.3f32.ln(), 0.7f32.ln()], &device);
        let got = to_vec(mixture_log_prob(component, log_weights));
        assert!(
            (got[0] + 1.5).abs() < 1e-6 && (got[1] + 3.0).abs() < 1e-6,
            "{got:?}"
        );
    }
}
