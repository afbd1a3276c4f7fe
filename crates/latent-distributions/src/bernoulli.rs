//! Bernoulli over binary (or grey-level) pixels, parametrised by logits.

use burn::tensor::{activation, Distribution as Noise, Tensor};

use crate::Distribution;

/// A batch of independent Bernoulli variables with success probability σ(logits), `[batch, dim]`.
/// One row is one event (for example 784 pixels).
#[derive(Debug, Clone)]
pub struct Bernoulli {
    /// The logits l = log(p / (1 − p)), `[batch, dim]`.
    pub logits: Tensor<2>,
}

impl Bernoulli {
    /// Bern(σ(logits)), one variable per element of `logits` (`[batch, dim]`).
    pub fn new(logits: Tensor<2>) -> Self {
        Self { logits }
    }

    /// p = σ(logits).
    pub fn probs(&self) -> Tensor<2> {
        activation::sigmoid(self.logits.clone())
    }

    /// The mean p = σ(logits).
    pub fn mean(&self) -> Tensor<2> {
        self.probs()
    }

    /// log p(x) per element: x·log σ(l) + (1 − x)·log σ(−l), which is −BCE-with-logits.
    ///
    /// Never forms log(p): it is evaluated as ln σ(l) + (x − 1)·l, exact algebra (x·l −
    /// softplus(l), and softplus(l) = l − ln σ(l)) through burn's `log_sigmoid`, which every
    /// backend computes stably (min(l, 0) − ln(1 + exp(−|l|)); logits of ±100 stay finite) and
    /// differentiates as one operation: the gradient σ(−l) + x − 1 = x − σ(l) with no
    /// subgradient of a max at l = 0. On flex it is one vectorised pass each way (the patched
    /// burn-flex, patches/README.md) where the softplus it replaces took seven operations, and
    /// the CPU backends' scalar exp and log1p were once the largest single cost of
    /// importance-sampled evaluation (see BENCHMARKS.md). `x` may be grey levels in [0, 1]
    /// (then it is the cross-entropy, not a normalised likelihood).
    pub fn log_prob_elementwise(&self, x: Tensor<2>) -> Tensor<2> {
        bernoulli_log_prob_elementwise(self.logits.clone(), x)
    }

    /// Entropy per element: −[p log σ(l) + (1 − p) log σ(−l)].
    pub fn entropy_elementwise(&self) -> Tensor<2> {
        self.log_prob_elementwise(self.probs()).neg()
    }
}

/// [`Bernoulli::log_prob_elementwise`] for logits and values of any rank, `x` broadcast against
/// `logits` (size-1 dimensions repeat): e.g. logits `[k, batch, d]` of k samples per example
/// against the examples `[1, batch, d]`, without copying the examples k times.
pub fn bernoulli_log_prob_elementwise<const D: usize>(
    logits: Tensor<D>,
    x: Tensor<D>,
) -> Tensor<D> {
    // The product first: it reads a shared copy of the logits, which then leaves
    // `log_sigmoid` their only owner, to compute in place where nothing else holds them (in
    // evaluation; autodiff keeps them for the gradient). The sum is the same either way.
    let linear = logits.clone() * x.sub_scalar(1.0);
    activation::log_sigmoid(logits) + linear
}

/// Σ_d log p(x_d | l_d) for k sets of logits per example, `[k, batch, d]`, against the examples
/// `[batch, d]`: `[k, batch, 1]`. The same sum as [`bernoulli_log_prob_elementwise`] summed
/// over d (up to the rounding of the float sums), computed as Σ_d ln σ(l_d) plus
/// Σ_d (x_d − 1)·l_d, the latter one matrix–vector product per example: no `[k, batch, d]`
/// product is formed, so the logits are read three times instead of about seven. Where nothing
/// records the logits for a gradient and the device keeps its tensors in host memory
/// (burn-flex), Σ_d ln σ(l_d) is one pass over them that stores nothing per element and takes
/// no logarithm per element ([`latent_kernels::log_sigmoid_row_sums`]: the logarithm of a
/// product of the factors 1 + e^−|l|); elsewhere it is burn's `log_sigmoid` summed. The two
/// agree to within about 10⁻⁷ per pixel.
pub fn bernoulli_log_prob_samples(logits: Tensor<3>, x: Tensor<2>) -> Tensor<3> {
    // [batch, k, d] · [batch, d, 1] → [batch, k, 1]. The product reads a shared copy of the
    // logits, which it drops before the sum of ln σ takes them over (in place, or read without
    // a copy, where nothing else holds them).
    let linear = logits
        .clone()
        .swap_dims(0, 1)
        .matmul(x.sub_scalar(1.0).unsqueeze_dim::<3>(2))
        .swap_dims(0, 1);
    let log_sigmoid_sums = if crate::host::sums_in_host_memory(&logits) {
        crate::host::log_sigmoid_sums(logits)
    } else {
        activation::log_sigmoid(logits).sum_dim(2)
    };
    log_sigmoid_sums + linear
}

impl Distribution for Bernoulli {
    type Value = Tensor<2>;

    fn log_prob(&self, value: Tensor<2>) -> Tensor<1> {
        self.log_prob_elementwise(value).sum_dim(1).squeeze_dim(1)
    }

    /// x = 1 if u < p, else 0, with u ~ U[0, 1).
    fn sample(&self) -> Tensor<2> {
        let uniform = Tensor::random(self.logits.shape(), Noise::Default, &self.logits.device());
        uniform.lower(self.probs().detach()).float()
    }

    fn entropy(&self) -> Tensor<1> {
        self.entropy_elementwise().sum_dim(1).squeeze_dim(1)
    }

    /// 1 where p > ½ (logit > 0), else 0.
    fn mode(&self) -> Tensor<2> {
        self.logits.clone().greater_elem(0.0).float()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{device, mean_and_se, tensor2, to_vec};

    /// Values broadcast over a leading sample axis give what the values copied per sample give.
    #[test]
    fn broadcast_values_match_copied_values() {
        let device = device();
        let logits = [
            -3.0f32, 0.5, 2.0, -0.1, 7.0, -9.0, 0.0, 1.5, -2.5, 4.0, -6.0, 0.3,
        ];
        let x = [1.0f32, 0.0, 0.25, 1.0, 0.0, 1.0];
        // logits [k = 2, batch = 2, d = 3] against x [batch = 2, d = 3].
        let logits3 = Tensor::<1>::from_floats(logits, &device).reshape([2, 2, 3]);
        let x3 = Tensor::<1>::from_floats(x, &device).reshape([1, 2, 3]);
        let broadcast = to_vec(bernoulli_log_prob_elementwise(logits3, x3));
        let copied: Vec<f32> = x.iter().chain(&x).copied().collect();
        let flat = Bernoulli::new(tensor2(&logits, 4, 3, &device))
            .log_prob_elementwise(tensor2(&copied, 4, 3, &device));
        assert_eq!(broadcast, to_vec(flat));
    }

    /// The per-sample sums through one product per example are the element-wise values
    /// summed, for ordinary and extreme logits and grey or binary x; and their gradient is
    /// x − σ(l), as the element-wise form's.
    #[test]
    fn sample_sums_match_the_summed_elementwise_values_and_their_gradient() {
        let ad = device().autodiff();
        let (k, batch, d) = (3, 4, 37);
        let logits: Vec<f32> = (0..k * batch * d)
            .map(|i| match i % 13 {
                0 => 100.0,
                1 => -100.0,
                2 => 0.0,
                _ => ((i * 7919) % 200) as f32 / 20.0 - 5.0,
            })
            .collect();
        let xs: Vec<f32> = (0..batch * d).map(|i| [0.0, 1.0, 0.25][i % 3]).collect();
        let l = Tensor::<1>::from_floats(logits.as_slice(), &ad)
            .reshape([k, batch, d])
            .require_grad();
        let x = Tensor::<1>::from_floats(xs.as_slice(), &ad).reshape([batch, d]);
        let sums = bernoulli_log_prob_samples(l.clone(), x.clone());
        assert_eq!(sums.dims(), [k, batch, 1]);
        let expected =
            bernoulli_log_prob_elementwise(l.clone(), x.clone().unsqueeze_dim::<3>(0)).sum_dim(2);
        for (a, b) in to_vec(sums.clone()).iter().zip(to_vec(expected)) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
        let grads = sums.sum().backward();
        let grad = to_vec(l.grad(&grads).expect("a gradient").reshape([k * batch * d]));
        for (i, g) in grad.iter().enumerate() {
            let (li, xi) = (logits[i], xs[i % (batch * d)]);
            let want = xi - 1.0 / (1.0 + (-li).exp());
            assert!((g - want).abs() < 1e-6, "element {i}: {g} vs {want}");
        }
    }

    #[test]
    fn log_prob_gradient_is_x_minus_sigmoid_even_for_extreme_logits() {
        let ad = device().autodiff();
        let logits = [-30.0f32, -3.0, -0.5, 0.0, 0.7, 4.0, 30.0, 100.0];
        let xs = [1.0f32, 0.0, 1.0, 0.3, 0.0, 1.0, 0.0, 1.0];
        let l = Tensor::<2>::from_floats([logits], &ad).require_grad();
        let x = Tensor::<2>::from_floats([xs], &ad);
        let grads = Bernoulli::new(l.clone()).log_prob(x).sum().backward();
        let g = to_vec(l.grad(&grads).unwrap());
        for ((gi, li), xi) in g.iter().zip(logits).zip(xs) {
            let want = xi as f64 - 1.0 / (1.0 + (-(li as f64)).exp());
            assert!(
                (*gi as f64 - want).abs() < 1e-6,
                "logit {li}: {gi} vs {want}"
            );
        }
    }

    #[test]
    fn sample_frequencies_match_probabilities_within_four_standard_errors() {
        let device = device();
        device.seed(11);
        let n = 20_000;
        let logits = [-2.0f32, 0.0, 1.5];
        let bern = Bernoulli::new(Tensor::<2>::from_floats([logits], &device).repeat_dim(0, n));
        let samples = to_vec(bern.sample());
        assert!(samples.iter().all(|v| *v == 0.0 || *v == 1.0));
        for (d, logit) in logits.iter().enumerate() {
            let xs: Vec<f64> = samples
                .iter()
                .skip(d)
                .step_by(3)
                .map(|v| *v as f64)
                .collect();
            let p = 1.0 / (1.0 + (-(*logit as f64)).exp());
            let (freq, _) = mean_and_se(&xs);
            let se = (p * (1.0 - p) / xs.len() as f64).sqrt();
            assert!((freq - p).abs() < 4.0 * se, "dim {d}: {freq} vs {p}");
        }
    }

    #[test]
    fn log_prob_matches_log_sigmoid_for_extreme_logits() {
        let device = device();
        let bern = Bernoulli::new(tensor2(&[100.0, -100.0, 100.0, -100.0], 1, 4, &device));
        let lp = to_vec(bern.log_prob_elementwise(tensor2(&[1.0, 0.0, 0.0, 1.0], 1, 4, &device)));
        // log σ(100) ≈ −3.7e−44 and log σ(−100) ≈ −100: both finite, neither −∞.
        assert!(lp[0].abs() < 1e-6 && lp[1].abs() < 1e-6, "{lp:?}");
        assert!(
            (lp[2] + 100.0).abs() < 1e-4 && (lp[3] + 100.0).abs() < 1e-4,
            "{lp:?}"
        );
    }

    #[test]
    fn extreme_logits_give_finite_gradients() {
        let device = device().autodiff();
        let logits = tensor2(&[100.0, -100.0, 100.0, -100.0], 2, 2, &device).require_grad();
        let bern = Bernoulli::new(logits.clone());
        let x = tensor2(&[1.0, 0.0, 0.0, 1.0], 2, 2, &device);
        let total = bern.log_prob(x).sum() + bern.entropy().sum();
        assert!(to_vec(total.clone())[0].is_finite());
        let grad = to_vec(logits.grad(&total.backward()).unwrap());
        assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
        // d/dl [x log σ(l) + (1−x) log σ(−l)] = x − σ(l): −1 for (x=0, l=100), +1 for (1, −100).
        assert!(
            (grad[2] + 1.0).abs() < 1e-4 && (grad[3] - 1.0).abs() < 1e-4,
            "{grad:?}"
        );
    }

    #[test]
    fn mode_thresholds_at_zero_logit() {
        let device = device();
        let bern = Bernoulli::new(tensor2(&[-0.1, 0.1, 3.0], 1, 3, &device));
        assert_eq!(to_vec(bern.mode()), vec![0.0, 1.0, 1.0]);
    }
}
