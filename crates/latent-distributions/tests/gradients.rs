//! Gradients through the reparameterised sample, against central finite differences.

use burn::tensor::{Device, Tensor, TensorData};
use latent_distributions::{kl, Distribution, Normal};

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

fn tensor(values: &[f32], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [1, values.len()]), device)
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}

const MEAN: [f32; 3] = [0.4, -1.2, 2.0];
const LOG_VAR: [f32; 3] = [-0.5, 0.3, 1.1];
const NOISE: [f32; 3] = [0.7, -1.3, 0.25];
const WEIGHTS: [f32; 3] = [1.5, -0.5, 0.8];

/// A smooth scalar function of the parameters through z = μ + σ ⊙ ε (ε fixed):
/// L = Σ w ⊙ sin(z) + Σ z² + KL(q ‖ N(0, I)).
fn objective(mean: Tensor<2>, log_var: Tensor<2>, device: &Device) -> Tensor<1> {
    let normal = Normal::new(mean, log_var);
    let z = normal.rsample_with_noise(tensor(&NOISE, device));
    (z.clone().sin() * tensor(&WEIGHTS, device)).sum()
        + z.powi_scalar(2).sum()
        + kl::kl_normal_std_normal(&normal).sum()
}

fn value_at(mean: &[f32], log_var: &[f32], device: &Device) -> f64 {
    to_vec(objective(
        tensor(mean, device),
        tensor(log_var, device),
        device,
    ))[0] as f64
}

#[test]
fn rsample_gradients_match_finite_differences() {
    let plain = device();
    let ad = plain.clone().autodiff();
    let mean = tensor(&MEAN, &ad).require_grad();
    let log_var = tensor(&LOG_VAR, &ad).require_grad();
    let grads = objective(mean.clone(), log_var.clone(), &ad).backward();
    let grad_mean = to_vec(mean.grad(&grads).expect("gradient reaches the mean"));
    let grad_log_var = to_vec(
        log_var
            .grad(&grads)
            .expect("gradient reaches the log-variance"),
    );

    let h = 1e-2f32;
    for i in 0..3 {
        for (which, analytic) in [("mean", &grad_mean), ("log_var", &grad_log_var)] {
            let (mut up_m, mut up_v) = (MEAN, LOG_VAR);
            let (mut dn_m, mut dn_v) = (MEAN, LOG_VAR);
            if which == "mean" {
                up_m[i] += h;
                dn_m[i] -= h;
            } else {
                up_v[i] += h;
                dn_v[i] -= h;
            }
            let numeric = (value_at(&up_m, &up_v, &plain) - value_at(&dn_m, &dn_v, &plain))
                / (2.0 * h as f64);
            let err = (analytic[i] as f64 - numeric).abs();
            // Central differences in f32 with h = 1e-2: truncation O(h²·f''') plus rounding.
            assert!(
                err <= 2e-3 * numeric.abs().max(1.0),
                "d/d{which}[{i}]: autodiff {}, finite difference {numeric}",
                analytic[i]
            );
        }
    }
}

#[test]
fn rsample_with_device_noise_has_the_reparameterisation_gradient() {
    // L = Σ z², z = μ + σ ε  ⇒  ∂L/∂μ = 2z and ∂L/∂log σ² = 2z · ½σε = z (z − μ).
    let ad = device().autodiff();
    ad.seed(99);
    let mean = tensor(&MEAN, &ad).require_grad();
    let log_var = tensor(&LOG_VAR, &ad).require_grad();
    let normal = Normal::new(mean.clone(), log_var.clone());
    let z = normal.rsample();
    let grads = z.clone().powi_scalar(2).sum().backward();
    let z = to_vec(z);
    let grad_mean = to_vec(mean.grad(&grads).unwrap());
    let grad_log_var = to_vec(log_var.grad(&grads).unwrap());
    for i in 0..3 {
        assert!(
            (grad_mean[i] - 2.0 * z[i]).abs() < 1e-5,
            "{grad_mean:?} vs z {z:?}"
        );
        let want = z[i] * (z[i] - MEAN[i]);
        assert!((grad_log_var[i] - want).abs() < 1e-5, "{grad_log_var:?}");
    }
    // sample() is the same draw without a graph.
    assert!(!normal.sample().is_require_grad());
}
