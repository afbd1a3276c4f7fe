//! Categorical over K classes, parametrised by (unnormalised) logits.

use burn::tensor::{activation, Distribution as Noise, Int, Tensor};

use crate::Distribution;

/// A batch of categorical distributions over `K` classes: logits `[batch, K]`, normalised by
/// log-softmax (log-sum-exp), so any finite shift of a row's logits is the same distribution.
/// Values are class indices `[batch]`.
#[derive(Debug, Clone)]
pub struct Categorical {
    /// Unnormalised log-probabilities l, `[batch, K]`: π = softmax(l) along the classes.
    pub logits: Tensor<2>,
}

impl Categorical {
    /// Cat(softmax(logits)), one distribution per row of `logits` (`[batch, K]`).
    pub fn new(logits: Tensor<2>) -> Self {
        Self { logits }
    }

    /// Normalised log-probabilities log π_k = l_k − log Σ_j exp(l_j): `[batch, K]`.
    pub fn log_probs(&self) -> Tensor<2> {
        activation::log_softmax(self.logits.clone(), 1)
    }

    /// Probabilities π = softmax(logits): `[batch, K]`.
    pub fn probs(&self) -> Tensor<2> {
        activation::softmax(self.logits.clone(), 1)
    }

    /// Number of classes K.
    pub fn num_classes(&self) -> usize {
        self.logits.dims()[1]
    }
}

impl Distribution for Categorical {
    type Value = Tensor<1, Int>;

    fn log_prob(&self, value: Tensor<1, Int>) -> Tensor<1> {
        self.log_probs()
            .gather(1, value.unsqueeze_dim(1))
            .squeeze_dim(1)
    }

    /// Gumbel-max: argmax_k (l_k + g_k) with g = −log(−log u), u ~ U(0, 1).
    fn sample(&self) -> Tensor<1, Int> {
        let device = self.logits.device();
        let uniform = Tensor::<2>::random(
            self.logits.shape(),
            Noise::Uniform(f32::MIN_POSITIVE as f64, 1.0),
            &device,
        );
        let gumbel = uniform.log().neg().log().neg();
        (self.logits.clone().detach() + gumbel)
            .argmax(1)
            .squeeze_dim(1)
    }

    /// −Σ_k π_k log π_k; classes with π_k = 0 (logit −∞) contribute 0.
    fn entropy(&self) -> Tensor<1> {
        let probs = self.probs();
        let terms = probs.clone() * self.log_probs();
        let terms = terms.mask_fill(probs.equal_elem(0.0), 0.0);
        terms.sum_dim(1).squeeze_dim::<1>(1).neg()
    }

    fn mode(&self) -> Tensor<1, Int> {
        self.logits.clone().argmax(1).squeeze_dim(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{device, tensor2, to_vec};

    #[test]
    fn sample_frequencies_match_softmax_within_four_standard_errors() {
        let device = device();
        device.seed(5);
        let n = 20_000;
        let logits = [0.0f32, 1.0, -1.0, 2.0];
        let cat = Categorical::new(Tensor::<2>::from_floats([logits], &device).repeat_dim(0, n));
        let samples: Vec<i64> = cat.sample().try_into_vec_as::<i64>().unwrap();
        let z: f64 = logits.iter().map(|l| (*l as f64).exp()).sum();
        for (k, logit) in logits.iter().enumerate() {
            let p = (*logit as f64).exp() / z;
            let freq = samples.iter().filter(|s| **s == k as i64).count() as f64 / n as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt();
            assert!((freq - p).abs() < 4.0 * se, "class {k}: {freq} vs {p}");
        }
    }

    #[test]
    fn log_prob_is_shift_invariant_and_finite_for_extreme_logits() {
        let device = device();
        let a = Categorical::new(tensor2(&[100.0, -100.0, 0.0], 1, 3, &device));
        let b = Categorical::new(tensor2(&[200.0, 0.0, 100.0], 1, 3, &device));
        let value = Tensor::<1, Int>::from_ints([1], &device);
        let (la, lb) = (
            to_vec(a.log_prob(value.clone()))[0],
            to_vec(b.log_prob(value))[0],
        );
        assert!(
            (la + 200.0).abs() < 1e-3 && (la - lb).abs() < 1e-3,
            "{la} {lb}"
        );
        assert!(to_vec(a.entropy())[0].is_finite());
    }

    #[test]
    fn extreme_logits_give_finite_gradients() {
        let device = device().autodiff();
        let logits =
            tensor2(&[100.0, -100.0, 0.0, -100.0, 100.0, 50.0], 2, 3, &device).require_grad();
        let p = Categorical::new(logits.clone());
        let q = Categorical::new(tensor2(&[0.0, 1.0, -1.0, 2.0, 0.0, 0.0], 2, 3, &device));
        let value = Tensor::<1, Int>::from_ints([1, 2], &device);
        let total = p.log_prob(value).sum()
            + p.entropy().sum()
            + crate::kl::kl_categorical_categorical(&p, &q).sum();
        assert!(to_vec(total.clone())[0].is_finite());
        let grad = to_vec(logits.grad(&total.backward()).unwrap());
        assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
    }

    #[test]
    fn masked_class_has_zero_probability_and_no_nan_entropy() {
        let device = device();
        let cat = Categorical::new(tensor2(&[0.0, 0.0, f32::NEG_INFINITY], 1, 3, &device));
        let entropy = to_vec(cat.entropy())[0];
        assert!((entropy - 2f32.ln()).abs() < 1e-6, "{entropy}");
        let mode: Vec<i64> = cat.mode().try_into_vec_as::<i64>().unwrap();
        assert!(mode[0] < 2);
    }
}
