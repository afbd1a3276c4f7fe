//! Adam in one pass over host memory, for parameters on burn-flex.
//!
//! burn's `Adam` updates a parameter by a dozen tensor operations, each a pass over the
//! parameter's elements and most a new buffer; on a CPU those passes were about an eighth of a
//! training step of the default VAE (a profile in BENCHMARKS.md). [`HostAdam`] reads the
//! parameter, its gradient and its moments into host memory (no copy on burn-flex where the
//! tensor is not shared) and updates them in one loop ([`latent_kernels::adam_step`]), with the
//! same operations in the same order as burn: the same values bit for bit, except that values
//! below `f32::MIN_POSITIVE` in magnitude (subnormals) are zero on x86-64, where they would
//! slow the loop down several times over (see [`latent_kernels::adam_step`]). Its state is burn's
//! own `AdamState`, so its checkpoints are burn's, and a run may resume on either. Where the
//! tensors are not `f32`, it is burn's `Adam`.

use burn::optim::{
    decay::WeightDecayConfig, Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate,
    Optimizer,
};
use burn::tensor::{DType, Device, Tensor, TensorData};
use latent_kernels::{adam_step, AdamStep};

/// Adam with burn's formulas and state, stepping in host memory.
#[derive(Clone)]
pub(crate) struct HostAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: Option<f32>,
    /// burn's own Adam, for tensors of another float type.
    burn: Adam,
}

impl HostAdam {
    /// Adam with these betas, burn's default ε (1e-5) and the L2 penalty `weight_decay` if any:
    /// what [`adam_config`] of the same settings builds.
    pub(crate) fn new(beta_1: f32, beta_2: f32, weight_decay: Option<f32>) -> Self {
        Self {
            beta_1,
            beta_2,
            epsilon: EPSILON,
            weight_decay,
            burn: adam_config(beta_1, beta_2, weight_decay).build(),
        }
    }
}

/// burn's Adam with these betas, its default ε and the L2 penalty `weight_decay` if any.
pub(crate) fn adam_config(beta_1: f32, beta_2: f32, weight_decay: Option<f32>) -> AdamConfig {
    AdamConfig::new()
        .with_beta_1(beta_1)
        .with_beta_2(beta_2)
        .with_weight_decay(weight_decay.map(WeightDecayConfig::new))
}

/// burn 0.22.1's default ε of `AdamConfig`.
const EPSILON: f32 = 1e-5;

/// `data` (of `f32`s) in a buffer this process may write: itself, or a copy where its bytes
/// are read-only or unaligned.
fn writable(mut data: TensorData) -> TensorData {
    if data.as_mut_slice::<f32>().is_ok() {
        return data;
    }
    let values: Vec<f32> = data.iter::<f32>().collect();
    TensorData::new(values, data.shape().clone())
}

/// The `f32` values of a buffer written by [`writable`].
fn values(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice::<f32>()
        .expect("`writable` made the buffer writable f32s")
}

impl Optimizer for HostAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let f32s = tensor.dtype() == DType::F32
            && grad.dtype() == DType::F32
            && state.as_ref().is_none_or(|s| {
                s.momentum.moment_1.dtype() == DType::F32
                    && s.momentum.moment_2.dtype() == DType::F32
                    && s.momentum.max_moment_2.is_none()
            });
        if !f32s {
            return self.burn.step(lr, tensor, grad, state);
        }
        #[cfg(test)]
        tests::HOST_STEPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let device = tensor.device();
        let shape = tensor.shape();
        let (time, m, v) = match state {
            Some(state) => {
                let momentum = state.momentum;
                (
                    momentum.time + 1,
                    momentum.moment_1.into_data(),
                    momentum.moment_2.into_data(),
                )
            }
            None => {
                let zeros = || TensorData::zeros::<f32, _>(shape.clone());
                (1, zeros(), zeros())
            }
        };
        let mut param = writable(tensor.into_data());
        let mut grad = writable(grad.into_data());
        let (mut m, mut v) = (writable(m), writable(v));
        let step = AdamStep::new(
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.weight_decay,
            lr,
            time,
        );
        adam_step(
            &step,
            time == 1,
            values(&mut param),
            values(&mut grad),
            values(&mut m),
            values(&mut v),
        );
        // f32 again, whatever the device's default float type.
        let back = |data: TensorData| Tensor::<D>::from_data(data, (&device, DType::F32));
        let momentum = AdaptiveMomentumState::new(time, back(m), back(v));
        (back(param), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        Adam::to_device(state, device)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, ModuleOptimizer};
    use burn::tensor::Distribution;

    use super::*;

    /// Steps taken in host memory (the test below checks that its steps were).
    pub(crate) static HOST_STEPS: AtomicUsize = AtomicUsize::new(0);

    fn bits(model: &Linear) -> Vec<u32> {
        let mut all = crate::values(model.weight.val()).unwrap();
        all.extend(crate::values(model.bias.as_ref().expect("a bias").val()).unwrap());
        all.into_iter().map(f32::to_bits).collect()
    }

    fn grads(model: &Linear, input: &Tensor<2>, scale: f32) -> GradientsParams {
        let loss = model
            .forward(input.clone())
            .square()
            .sum()
            .mul_scalar(scale);
        GradientsParams::from_grads(loss.backward(), model)
    }

    /// burn's Adam and HostAdam from one start: the same weights bit for bit after every step,
    /// on both CPU backends, with and without weight decay; and each one's checkpointed state
    /// continues in the other exactly as in itself.
    #[test]
    fn host_adam_steps_as_burns_adam_bit_for_bit_and_shares_its_state() {
        #[allow(deprecated)]
        let backends = [Device::default(), Device::ndarray()];
        for device in backends {
            for weight_decay in [None, Some(0.05)] {
                let device = device.clone().autodiff();
                let burns = || adam_config(0.8, 0.99, weight_decay).init();
                let hosts = || ModuleOptimizer::from(HostAdam::new(0.8, 0.99, weight_decay));
                let start = LinearConfig::new(37, 5).init(&device);
                let input = Tensor::<2>::random([8, 37], Distribution::Normal(0.0, 1.0), &device);
                let (mut burn_optim, mut host_optim) = (burns(), hosts());
                let (mut a, mut b) = (start.clone(), start);
                let before = HOST_STEPS.load(Ordering::Relaxed);
                for step in 0..5 {
                    let scale = [1.0, 0.5, -0.3, 2.0, 0.01][step];
                    a = burn_optim.step(1e-2, a.clone(), grads(&a, &input, scale));
                    b = host_optim.step(1e-2, b.clone(), grads(&b, &input, scale));
                    assert_eq!(
                        bits(&a),
                        bits(&b),
                        "{device:?}, decay {weight_decay:?}, step {step}"
                    );
                }
                // Two parameters, five steps: at least ten of them in host memory (other tests
                // may add theirs).
                assert!(HOST_STEPS.load(Ordering::Relaxed) - before >= 10);
                // Each state, saved, goes on in the other optimiser as in its own.
                let mut host_from_burn = hosts().load_record(burn_optim.to_record());
                let mut burn_from_host = burns().load_record(host_optim.to_record());
                let g = grads(&a, &input, -1.0);
                let expected = bits(&burn_optim.step(1e-2, a.clone(), g));
                let g = grads(&a, &input, -1.0);
                assert_eq!(bits(&host_from_burn.step(1e-2, a.clone(), g)), expected);
                let g = grads(&b, &input, -1.0);
                assert_eq!(bits(&burn_from_host.step(1e-2, b.clone(), g)), expected);
            }
        }
    }
}
