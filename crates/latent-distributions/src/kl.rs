//! Closed-form Kullback–Leibler divergences KL(p ‖ q) = E_p[log p(x) − log q(x)].
//!
//! Each returns one value per event (`[batch]`, summed over the event's dimensions); the
//! `*_elementwise` forms keep `[batch, dim]` (per-latent KL, for active-unit diagnostics).
//! Mixtures have no closed form: estimate those by Monte Carlo.

use burn::tensor::{activation, Tensor};

use crate::{Bernoulli, Categorical, Normal};

fn sum_event(per_element: Tensor<2>) -> Tensor<1> {
    per_element.sum_dim(1).squeeze_dim(1)
}

/// KL(N(μp, σp²) ‖ N(μq, σq²)) per element: ½ (r + (μp − μq)²/σq² − 1 − log r), r = σp²/σq².
pub fn kl_normal_normal_elementwise(p: &Normal, q: &Normal) -> Tensor<2> {
    let log_ratio = p.log_var.clone() - q.log_var.clone();
    let mean_term =
        (p.mean.clone() - q.mean.clone()).powi_scalar(2) * q.log_var.clone().neg().exp();
    (log_ratio.clone().exp() + mean_term - log_ratio)
        .sub_scalar(1.0)
        .mul_scalar(0.5)
}

/// KL(p ‖ q) for diagonal Gaussians, summed over the event: `[batch]`.
pub fn kl_normal_normal(p: &Normal, q: &Normal) -> Tensor<1> {
    sum_event(kl_normal_normal_elementwise(p, q))
}

/// KL(N(μ, σ²) ‖ N(0, 1)) per element: ½ (σ² + μ² − 1 − log σ²). The VAE's KL term.
pub fn kl_normal_std_normal_elementwise(p: &Normal) -> Tensor<2> {
    (p.log_var.clone().exp() + p.mean.clone().powi_scalar(2) - p.log_var.clone())
        .sub_scalar(1.0)
        .mul_scalar(0.5)
}

/// KL(N(μ, diag σ²) ‖ N(0, I)), summed over the event: `[batch]`.
pub fn kl_normal_std_normal(p: &Normal) -> Tensor<1> {
    sum_event(kl_normal_std_normal_elementwise(p))
}

/// KL(Bern(σ(a)) ‖ Bern(σ(b))) per element:
/// σ(a)·(log σ(a) − log σ(b)) + σ(−a)·(log σ(−a) − log σ(−b)), all in log-sigmoid form.
pub fn kl_bernoulli_bernoulli_elementwise(p: &Bernoulli, q: &Bernoulli) -> Tensor<2> {
    let (a, b) = (p.logits.clone(), q.logits.clone());
    let on = activation::log_sigmoid(a.clone()) - activation::log_sigmoid(b.clone());
    let off = activation::log_sigmoid(a.clone().neg()) - activation::log_sigmoid(b.neg());
    activation::sigmoid(a.clone()) * on + activation::sigmoid(a.neg()) * off
}

/// KL between Bernoulli events, summed over the event: `[batch]`.
pub fn kl_bernoulli_bernoulli(p: &Bernoulli, q: &Bernoulli) -> Tensor<1> {
    sum_event(kl_bernoulli_bernoulli_elementwise(p, q))
}

/// KL(Cat(πp) ‖ Cat(πq)) = Σ_k πp_k (log πp_k − log πq_k): `[batch]`. Classes with πp_k = 0
/// contribute 0.
pub fn kl_categorical_categorical(p: &Categorical, q: &Categorical) -> Tensor<1> {
    let probs = p.probs();
    let terms = probs.clone() * (p.log_probs() - q.log_probs());
    sum_event(terms.mask_fill(probs.equal_elem(0.0), 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{device, mean_and_se, tensor2, to_vec};
    use crate::Distribution;

    /// Monte-Carlo KL: mean of log p(x) − log q(x) over x ~ p, with its standard error.
    fn monte_carlo(log_ratio: Vec<f32>) -> (f64, f64) {
        let xs: Vec<f64> = log_ratio.into_iter().map(f64::from).collect();
        mean_and_se(&xs)
    }

    const N: usize = 40_000;

    #[test]
    fn normal_kl_agrees_with_monte_carlo() {
        let device = device();
        device.seed(21);
        let row = |v: [f32; 3]| Tensor::<2>::from_floats([v], &device).repeat_dim(0, N);
        let p = Normal::new(row([0.3, -1.0, 2.0]), row([0.2, -0.7, 0.5]));
        let q = Normal::new(row([-0.5, 0.0, 1.0]), row([0.0, 0.4, -0.3]));
        let x = p.sample();
        let (mc, se) = monte_carlo(to_vec(p.log_prob(x.clone()) - q.log_prob(x)));
        let closed = to_vec(kl_normal_normal(&p, &q))[0] as f64;
        assert!(
            (mc - closed).abs() < 4.0 * se,
            "closed {closed}, MC {mc} ± {se}"
        );
        let std = Normal::standard(N, 3, &device);
        let closed_std = to_vec(kl_normal_std_normal(&p))[0] as f64;
        let closed_via_general = to_vec(kl_normal_normal(&p, &std))[0] as f64;
        assert!((closed_std - closed_via_general).abs() < 1e-5);
    }

    #[test]
    fn bernoulli_kl_agrees_with_monte_carlo() {
        let device = device();
        device.seed(22);
        let row = |v: [f32; 3]| Tensor::<2>::from_floats([v], &device).repeat_dim(0, N);
        let p = Bernoulli::new(row([-1.0, 0.5, 2.0]));
        let q = Bernoulli::new(row([0.3, -0.5, 1.0]));
        let x = p.sample();
        let (mc, se) = monte_carlo(to_vec(p.log_prob(x.clone()) - q.log_prob(x)));
        let closed = to_vec(kl_bernoulli_bernoulli(&p, &q))[0] as f64;
        assert!(
            (mc - closed).abs() < 4.0 * se,
            "closed {closed}, MC {mc} ± {se}"
        );
    }

    #[test]
    fn categorical_kl_agrees_with_monte_carlo() {
        let device = device();
        device.seed(23);
        let row = |v: [f32; 4]| Tensor::<2>::from_floats([v], &device).repeat_dim(0, N);
        let p = Categorical::new(row([0.0, 1.0, -1.0, 0.5]));
        let q = Categorical::new(row([1.0, 0.0, 0.0, -0.5]));
        let x = p.sample();
        let (mc, se) = monte_carlo(to_vec(p.log_prob(x.clone()) - q.log_prob(x)));
        let closed = to_vec(kl_categorical_categorical(&p, &q))[0] as f64;
        assert!(
            (mc - closed).abs() < 4.0 * se,
            "closed {closed}, MC {mc} ± {se}"
        );
    }

    #[test]
    fn kl_of_a_distribution_with_itself_is_zero_and_otherwise_positive() {
        let device = device();
        let p = Normal::new(
            tensor2(&[0.5, -2.0], 1, 2, &device),
            tensor2(&[30.0, -30.0], 1, 2, &device),
        );
        let q = Normal::new(
            tensor2(&[0.0, -2.0], 1, 2, &device),
            tensor2(&[29.0, -29.0], 1, 2, &device),
        );
        assert_eq!(to_vec(kl_normal_normal(&p, &p))[0], 0.0);
        let kl = to_vec(kl_normal_normal(&p, &q))[0];
        assert!(kl.is_finite() && kl > 0.0, "{kl}");
        let b = Bernoulli::new(tensor2(&[100.0, -100.0], 1, 2, &device));
        let c = Bernoulli::new(tensor2(&[-100.0, 100.0], 1, 2, &device));
        let kl_bc = to_vec(kl_bernoulli_bernoulli(&b, &c))[0];
        assert!((kl_bc - 200.0).abs() < 1e-3, "{kl_bc}");
        assert!(to_vec(kl_bernoulli_bernoulli(&b, &b))[0].abs() < 1e-6);
    }
}
