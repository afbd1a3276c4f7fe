//! Loops over tensors held in this process's memory, where a device keeps them there.

use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;

/// The backend's own form of `device` without its autodiff association, as its debug form
/// writes it: `Flex`, `NdArray(Cpu)`, `Remote(…)`, `Cube(…)`. A library crate names no backend;
/// this is how it tells the few kinds apart that it treats differently.
pub fn backend_form(device: &Device) -> String {
    let form = format!("{:?}", device.clone().without_autodiff());
    form.strip_prefix("Device<")
        .and_then(|rest| rest.strip_suffix('>'))
        .map_or(form.clone(), str::to_string)
}

/// Whether `device` (with or without autodiff) keeps its tensors in this process's memory and
/// reads one out without a copy where nothing else holds it: burn-flex's devices (their
/// [`backend_form`] is `Flex…`). Not ndarray's, where reading tensors out and back costs more
/// than the passes it saves (measured for Adam: half the training speed), nor a GPU's or a
/// remote server's. A form this does not know answers `false`, which only means burn's own
/// operations.
pub fn in_host_memory(device: &Device) -> bool {
    backend_form(device).starts_with("Flex")
}

/// Rows handed to one task of the thread pool.
const ROWS_PER_TASK: usize = 256;

/// Whether [`log_sigmoid_sums`] can sum `logits`: f32, on a device that keeps its tensors in
/// host memory ([`in_host_memory`]), and without autodiff (nothing records them for a
/// gradient).
pub(crate) fn sums_in_host_memory(logits: &Tensor<3>) -> bool {
    let device = logits.device();
    !device.is_autodiff() && logits.dtype() == DType::F32 && in_host_memory(&device)
}

/// Σ_d ln σ(l_d) over the last dimension of `logits` (`[k, batch, d]` → `[k, batch, 1]`) in
/// one pass over host memory ([`latent_kernels::log_sigmoid_row_sums`]), the rows shared among
/// the current thread pool's threads, for logits that [`sums_in_host_memory`] accepts. Read
/// without a copy where the caller held the only reference to their buffer.
pub(crate) fn log_sigmoid_sums(logits: Tensor<3>) -> Tensor<3> {
    #[cfg(test)]
    tests::HOST_SUMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let device = logits.device();
    let [k, batch, d] = logits.dims();
    let data = logits.into_data();
    let owned: Vec<f32>;
    let values = match data.as_slice::<f32>() {
        Ok(values) => values,
        Err(_) => {
            owned = data.iter::<f32>().collect();
            &owned
        }
    };
    let mut sums = vec![0.0f32; k * batch];
    if d > 0 {
        sums.par_chunks_mut(ROWS_PER_TASK)
            .zip(values.par_chunks(ROWS_PER_TASK * d))
            .for_each(|(sums, rows)| latent_kernels::log_sigmoid_row_sums(rows, d, sums));
    }
    Tensor::from_data(TensorData::new(sums, [k, batch, 1]), (&device, DType::F32))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use burn::tensor::activation;

    use super::*;
    use crate::bernoulli_log_prob_samples;
    use crate::test_support::to_vec;

    /// Sums made in host memory (the tests below check where they were).
    pub(crate) static HOST_SUMS: AtomicUsize = AtomicUsize::new(0);

    /// burn-flex's device (the default where no GPU backend is compiled in; burn's `train`
    /// feature always compiles flex in).
    fn flex() -> Device {
        let device = Device::default();
        assert!(in_host_memory(&device), "{device:?} is not burn-flex's");
        device
    }

    #[test]
    fn only_burn_flex_keeps_its_tensors_in_host_memory() {
        let flex = flex();
        assert!(in_host_memory(&flex.clone().autodiff()));
        #[allow(deprecated)]
        let ndarray = Device::ndarray();
        assert!(!in_host_memory(&ndarray));
        assert!(!in_host_memory(&ndarray.autodiff()));
    }

    /// Logits `[k, batch, d]` of every kind: near 0, typical, beyond ±20 and ±100.
    fn logits(k: usize, batch: usize, d: usize) -> Vec<f32> {
        (0..k * batch * d)
            .map(|i| match i % 17 {
                0 => 100.0,
                1 => -100.0,
                2 => 0.0,
                3 => 25.0,
                _ => ((i * 7919) % 4001) as f32 / 200.0 - 10.0,
            })
            .collect()
    }

    /// The Bernoulli log-likelihood of k samples of MNIST-sized logits on burn-flex (the sum
    /// of ln σ in host memory) against the f64 value and against burn's `log_sigmoid` summed,
    /// on flex with autodiff and on ndarray (which keep burn's operations): within 1.2·10⁻⁷
    /// per pixel plus f32's rounding of the sums. The host path runs exactly where it should.
    #[test]
    fn sample_sums_in_host_memory_agree_with_burns_operations_and_with_f64() {
        let (k, batch, d) = (3, 5, 784);
        let values = logits(k, batch, d);
        let xs: Vec<f32> = (0..batch * d)
            .map(|i| [0.0, 1.0][(i * 31 % 7) % 2])
            .collect();
        let on = |device: &Device| {
            let l = Tensor::<1>::from_floats(values.as_slice(), device).reshape([k, batch, d]);
            let x = Tensor::<1>::from_floats(xs.as_slice(), device).reshape([batch, d]);
            let before = HOST_SUMS.load(Ordering::Relaxed);
            let sums = to_vec(bernoulli_log_prob_samples(l, x));
            (sums, HOST_SUMS.load(Ordering::Relaxed) > before)
        };
        let (host, in_host) = on(&flex());
        assert!(in_host, "the host path ran on flex");
        #[allow(deprecated)]
        let others = [flex().autodiff(), Device::ndarray()];
        for device in others {
            // Other tests may add to the counter meanwhile: only flex without autodiff is
            // checked to have taken the path.
            let (theirs, _) = on(&device);
            for (row, (a, b)) in host.iter().zip(&theirs).enumerate() {
                let bound = 1.2e-7 * d as f64 + 1e-6 * f64::from(b.abs());
                assert!(
                    f64::from((a - b).abs()) <= bound,
                    "{device:?}, row {row}: {a} vs {b}"
                );
            }
        }
        for (row, &sum) in host.iter().enumerate() {
            let (logits, x) = (&values[row * d..(row + 1) * d], &xs[(row % batch) * d..]);
            let want: f64 = logits
                .iter()
                .zip(x)
                .map(|(&l, &x)| {
                    let (l, x) = (f64::from(l), f64::from(x));
                    x * l - (l.max(0.0) + (-l.abs()).exp().ln_1p())
                })
                .sum();
            let bound = 1.2e-7 * d as f64 + 1e-6 * want.abs();
            assert!(
                (f64::from(sum) - want).abs() <= bound,
                "row {row}: {sum} vs {want}"
            );
        }
    }

    /// Only f32 logits on burn-flex without autodiff are summed in host memory: not on an
    /// autodiff device (a gradient may be wanted), nor on ndarray, nor of another float type.
    /// And there the sums are burn's.
    #[test]
    fn only_f32_logits_on_flex_without_autodiff_are_summed_in_host_memory() {
        #[allow(deprecated)]
        let devices = [flex().autodiff(), Device::ndarray()];
        for device in devices {
            let l = Tensor::<3>::ones([2, 3, 4], &device);
            assert!(!sums_in_host_memory(&l), "{device:?}");
        }
        let f64s = Tensor::<3>::ones([2, 3, 4], (&flex(), DType::F64));
        assert!(!sums_in_host_memory(&f64s));
        let l = Tensor::<3>::zeros([2, 3, 4], &flex());
        assert!(sums_in_host_memory(&l));
        let sums = to_vec(log_sigmoid_sums(l.clone()));
        let burns = to_vec(activation::log_sigmoid(l).sum_dim(2));
        assert_eq!(sums.len(), 6);
        for (a, b) in sums.iter().zip(burns) {
            assert!((a - b).abs() < 1e-6 && (a + 4.0 * std::f32::consts::LN_2).abs() < 1e-6);
        }
    }
}
