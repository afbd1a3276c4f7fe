//! Adam's update of one parameter, in one pass over its values, gradient and moments.

/// The constants of one Adam step, as burn 0.22.1's `Adam` computes them (`burn-optim`,
/// `optim/adam.rs`): [`adam_step`] with these gives the same values, bit for bit, as burn's
/// sequence of tensor operations (subnormals aside: see [`adam_step`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// β₁, the first moment's decay.
    pub beta_1: f32,
    /// β₂, the second moment's decay.
    pub beta_2: f32,
    /// `√(1 − β₂ᵗ) / (1 − β₁ᵗ)`: both bias corrections in one factor of the first moment.
    pub combined_factor: f32,
    /// `ε · √(1 − β₂ᵗ)`, added to the second moment's root.
    pub epsilon: f32,
    /// The learning rate.
    pub lr: f32,
    /// The L2 penalty added to the gradient (`penalty · θ + g`), if any.
    pub weight_decay: Option<f32>,
}

impl AdamStep {
    /// The constants of step `time` (1 for the first) with learning rate `lr`, computed by the
    /// same expressions as burn's `Adam`.
    pub fn new(
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
        weight_decay: Option<f32>,
        lr: f64,
        time: usize,
    ) -> Self {
        let time = time as i32;
        let bias_correction2_sqrt = (1.0 - beta_2.powi(time)).sqrt();
        Self {
            beta_1,
            beta_2,
            combined_factor: bias_correction2_sqrt / (1.0 - beta_1.powi(time)),
            epsilon: epsilon * bias_correction2_sqrt,
            lr: lr as f32,
            weight_decay,
        }
    }
}

/// One Adam step of the parameter `param` with gradient `grad`, updating the moments `m` and
/// `v` in place. `first`: the parameter's first step, whose moments are `(1 − β₁)·g` and
/// `(1 − β₂)·g²` (whatever `m` and `v` hold on entry). For each element:
///
/// ```text
/// g ← penalty·θ + g          (with weight decay)
/// m ← β₁·m + (1 − β₁)·g
/// v ← β₂·v + (1 − β₂)·g²
/// θ ← θ − lr·(c·m / (√v + ε'))
/// ```
///
/// On x86-64 the loop runs with the CPU's flush-to-zero and denormals-are-zero modes on (see
/// [`without_subnormals`]): a value below `f32::MIN_POSITIVE` in magnitude, read or computed,
/// is zero. Otherwise the values are burn's bit for bit.
///
/// # Panics
/// If the four slices are not of one length.
pub fn adam_step(
    step: &AdamStep,
    first: bool,
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    let n = param.len();
    assert!(
        grad.len() == n && m.len() == n && v.len() == n,
        "adam_step: parameter {n}, gradient {}, moments {} and {}",
        grad.len(),
        m.len(),
        v.len()
    );
    without_subnormals(|| {
        #[cfg(target_arch = "x86_64")]
        {
            #[cfg(feature = "avx512")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                return unsafe { x86::adam_avx512(step, first, param, grad, m, v) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { x86::adam_avx2(step, first, param, grad, m, v) };
            }
        }
        adam_loop(step, first, param, grad, m, v)
    })
}

/// Runs `work` with x86-64's flush-to-zero (FTZ) and denormals-are-zero (DAZ) modes on in this
/// thread, and the thread's own modes back afterwards (also if `work` panics); elsewhere, runs
/// `work` as it is.
///
/// Why: a weight whose gradient is zero for many steps (a pixel that is rarely on, a unit that
/// rarely fires) has its first moment shrink by β₁ each step, into the subnormal range below
/// `f32::MIN_POSITIVE` within about 800 steps. Arithmetic on subnormals costs Intel and AMD
/// cores a microcode assist per vector instruction, so Adam's pass grew from a twentieth to
/// over a quarter of a training step of the default VAE by the fourth epoch over MNIST (its
/// epochs ran at 23,000 images/s, then 14,000: BENCHMARKS.md). With FTZ and DAZ such values are
/// zero, at no cost: they are below 1.2·10⁻³⁸, and Adam's update of a weight from them is
/// smaller still. (TensorFlow runs its CPU kernels in these modes; PyTorch offers them as
/// `torch.set_flush_denormal`.)
#[inline]
pub fn without_subnormals<T>(work: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    {
        /// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6).
        const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

        /// Puts MXCSR back to what it was when dropped.
        struct Restore(u32);

        impl Drop for Restore {
            fn drop(&mut self) {
                set_mxcsr(self.0);
            }
        }

        fn mxcsr() -> u32 {
            let mut value = 0u32;
            // SAFETY: stmxcsr stores the 32-bit MXCSR register (SSE, which every x86-64 CPU
            // has) at the address given, a local u32.
            unsafe {
                std::arch::asm!(
                    "stmxcsr [{}]",
                    in(reg) &mut value as *mut u32,
                    options(nostack, preserves_flags)
                );
            }
            value
        }

        fn set_mxcsr(value: u32) {
            // SAFETY: ldmxcsr loads MXCSR from the address given, a local u32 that holds a
            // value read from MXCSR with at most the FTZ and DAZ bits added (both valid on
            // every x86-64 CPU). It changes only how this thread's float arithmetic treats
            // subnormals; the asm is volatile and may touch memory, so no load or store of
            // `work` moves across it.
            unsafe {
                std::arch::asm!(
                    "ldmxcsr [{}]",
                    in(reg) &value as *const u32,
                    options(nostack, preserves_flags, readonly)
                );
            }
        }

        let restore = Restore(mxcsr());
        set_mxcsr(restore.0 | FTZ_DAZ);
        let result = work();
        drop(restore);
        result
    }
    #[cfg(not(target_arch = "x86_64"))]
    work()
}

/// The loop of [`adam_step`], inlined into each compiled form.
#[inline(always)]
fn adam_loop(
    step: &AdamStep,
    first: bool,
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    let &AdamStep {
        beta_1,
        beta_2,
        combined_factor,
        epsilon,
        lr,
        weight_decay,
    } = step;
    // burn's factors, computed as it does.
    let (f1, f2) = (1.0 - beta_1, 1.0 - beta_2);
    let penalty = weight_decay.unwrap_or(0.0);
    let decay = weight_decay.is_some();
    let elements = param
        .iter_mut()
        .zip(grad)
        .zip(m.iter_mut())
        .zip(v.iter_mut());
    for (((p, &g), m), v) in elements {
        // Branches on loop constants: the compiler takes them out of the loop.
        let g = if decay { *p * penalty + g } else { g };
        let (m_new, v_new) = if first {
            (g * f1, (g * g) * f2)
        } else {
            (*m * beta_1 + g * f1, *v * beta_2 + (g * g) * f2)
        };
        *m = m_new;
        *v = v_new;
        *p -= ((m_new * combined_factor) / (v_new.sqrt() + epsilon)) * lr;
    }
}

/// The signature of [`adam_step`] and of each of its compiled forms (for the tests).
#[cfg(test)]
type AdamFn = fn(&AdamStep, bool, &mut [f32], &[f32], &mut [f32], &mut [f32]);

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{adam_loop, AdamStep};

    /// [`adam_loop`] compiled with each named target feature.
    macro_rules! compiled_for {
        ($($name:ident = $feature:literal),+) => {$(
            #[target_feature(enable = $feature)]
            pub(super) fn $name(
                step: &AdamStep,
                first: bool,
                param: &mut [f32],
                grad: &[f32],
                m: &mut [f32],
                v: &mut [f32],
            ) {
                adam_loop(step, first, param, grad, m, v)
            }
        )+};
    }

    compiled_for!(adam_avx2 = "avx2");
    #[cfg(feature = "avx512")]
    compiled_for!(adam_avx512 = "avx512f");
}

/// Every compiled form of the loop this CPU can run, by name, the dispatching [`adam_step`]
/// among them, each run as `adam_step` runs it (for the tests: each must give the same values).
#[cfg(test)]
fn compiled_forms() -> Vec<(&'static str, AdamFn)> {
    let mut forms: Vec<(&'static str, AdamFn)> = vec![
        ("dispatched", adam_step),
        ("baseline", |s, f, p, g, m, v| {
            without_subnormals(|| adam_loop(s, f, p, g, m, v))
        }),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: called only on a CPU with AVX2 (checked just above).
            forms.push(("avx2", |s, f, p, g, m, v| {
                without_subnormals(|| unsafe { x86::adam_avx2(s, f, p, g, m, v) })
            }));
        }
        #[cfg(feature = "avx512")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: called only on a CPU with AVX-512F (checked just above).
            forms.push(("avx512", |s, f, p, g, m, v| {
                without_subnormals(|| unsafe { x86::adam_avx512(s, f, p, g, m, v) })
            }));
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x`, or a zero of its sign where it is subnormal and the CPU flushes subnormals (x86-64,
    /// in [`without_subnormals`]).
    fn flushed(x: f32) -> f32 {
        if cfg!(target_arch = "x86_64") && x.is_subnormal() {
            0.0f32.copysign(x)
        } else {
            x
        }
    }

    /// `a` and `b` as the CPU reads them inside [`without_subnormals`] (DAZ), combined by `op`,
    /// and the result as it writes it (FTZ).
    fn op(a: f32, b: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
        flushed(op(flushed(a), flushed(b)))
    }

    /// The loop of burn's operations, one operation at a time over whole arrays (as burn runs
    /// them), each reading and writing subnormals as zeros (see [`flushed`]): the reference
    /// for every compiled form.
    fn burn_sequence(
        step: &AdamStep,
        first: bool,
        param: &mut [f32],
        grad: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        let mul = |a, b| op(a, b, |a, b| a * b);
        let add = |a, b| op(a, b, |a, b| a + b);
        let g: Vec<f32> = match step.weight_decay {
            Some(w) => param
                .iter()
                .zip(grad)
                .map(|(&p, &g)| add(mul(p, w), g))
                .collect(),
            None => grad.iter().map(|&g| flushed(g)).collect(),
        };
        let f1 = 1.0 - step.beta_1;
        let f2 = 1.0 - step.beta_2;
        let g1: Vec<f32> = g.iter().map(|&g| mul(g, f1)).collect();
        let g2: Vec<f32> = g.iter().map(|&g| mul(mul(g, g), f2)).collect();
        for i in 0..m.len() {
            m[i] = if first {
                g1[i]
            } else {
                add(mul(m[i], step.beta_1), g1[i])
            };
            v[i] = if first {
                g2[i]
            } else {
                add(mul(v[i], step.beta_2), g2[i])
            };
        }
        let num: Vec<f32> = m.iter().map(|&m| mul(m, step.combined_factor)).collect();
        let den: Vec<f32> = v
            .iter()
            .map(|&v| add(flushed(flushed(v).sqrt()), step.epsilon))
            .collect();
        for i in 0..param.len() {
            let update = mul(op(num[i], den[i], |a, b| a / b), step.lr);
            param[i] = op(param[i], update, |a, b| a - b);
        }
    }

    /// A sequence of awkward values: zeros of both signs, subnormals, large and small.
    fn values(n: usize, salt: u32) -> Vec<f32> {
        let mut state = 0x9e37_79b9u32 ^ salt;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                match i % 11 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::MIN_POSITIVE / 8.0,
                    3 => 1e30,
                    _ => (state as f32 / u32::MAX as f32 - 0.5) * 4.0,
                }
            })
            .collect()
    }

    /// Every compiled form this CPU runs gives burn's values bit for bit (with subnormals read
    /// and written as zeros on x86-64), over several steps, with and without weight decay, at
    /// lengths that leave a tail after any vector width.
    #[test]
    fn adam_step_matches_burns_operations_bit_for_bit() {
        for (form, adam) in compiled_forms() {
            for n in [1, 7, 16, 33, 1000] {
                for weight_decay in [None, Some(1e-2)] {
                    let mut ours = (values(n, 1), vec![0.0; n], vec![0.0; n]);
                    let mut theirs = ours.clone();
                    for time in 1..=4 {
                        let step = AdamStep::new(0.9, 0.999, 1e-5, weight_decay, 1e-3, time);
                        let grad = values(n, 100 + time as u32);
                        let first = time == 1;
                        adam(&step, first, &mut ours.0, &grad, &mut ours.1, &mut ours.2);
                        burn_sequence(
                            &step,
                            first,
                            &mut theirs.0,
                            &grad,
                            &mut theirs.1,
                            &mut theirs.2,
                        );
                        for (a, b) in [
                            (&ours.0, &theirs.0),
                            (&ours.1, &theirs.1),
                            (&ours.2, &theirs.2),
                        ] {
                            let a: Vec<u32> = a.iter().map(|x| x.to_bits()).collect();
                            let b: Vec<u32> = b.iter().map(|x| x.to_bits()).collect();
                            assert_eq!(
                                a, b,
                                "{form}: n {n}, weight decay {weight_decay:?}, step {time}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// A first moment whose gradient stays zero decays below the normal range: there it is
    /// zero (plain float arithmetic keeps it subnormal), and so is a subnormal gradient's
    /// contribution; the weight stays as it is. The thread's float modes are its own again
    /// afterwards.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn moments_below_the_normal_range_are_zero() {
        for (form, adam) in compiled_forms() {
            let n = 33;
            let (mut p, mut m, mut v) = (vec![0.5f32; n], vec![0.0f32; n], vec![1e-3f32; n]);
            let step = AdamStep::new(0.9, 0.999, 1e-5, None, 1e-3, 1);
            let grad = vec![f32::MIN_POSITIVE * 4.0; n];
            adam(&step, true, &mut p, &grad, &mut m, &mut v);
            // (1 − β₁)·g is subnormal: flushed. So is (1 − β₂)·g².
            assert!(m.iter().all(|&m| m == 0.0), "{form}: {m:?}");
            assert!(v.iter().all(|&v| v == 0.0), "{form}: {v:?}");
            assert!(p.iter().all(|&p| p == 0.5), "{form}: {p:?}");
            // A first moment decaying by β₁ under zero gradients.
            m.fill(f32::MIN_POSITIVE * 2.0);
            let mut plain = f32::MIN_POSITIVE * 2.0;
            for time in 2..12 {
                let step = AdamStep::new(0.9, 0.999, 1e-5, None, 1e-3, time);
                adam(&step, false, &mut p, &[0.0; 33], &mut m, &mut v);
                plain = std::hint::black_box(plain) * 0.9;
            }
            assert!(plain.is_subnormal() && plain > 0.0);
            assert!(m.iter().all(|&m| m == 0.0), "{form}: {m:?}");
            // This thread computes subnormals again.
            let half = std::hint::black_box(f32::MIN_POSITIVE) / 2.0;
            assert!(half.is_subnormal(), "{form}: {half}");
        }
    }

    /// The first step ignores what the moments held.
    #[test]
    fn the_first_step_starts_the_moments_afresh() {
        let step = AdamStep::new(0.9, 0.999, 1e-5, None, 1e-3, 1);
        let grad = [0.5f32, -2.0];
        let (mut p, mut m, mut v) = ([1.0f32, 1.0], [7.0f32, 7.0], [9.0f32, 9.0]);
        adam_step(&step, true, &mut p, &grad, &mut m, &mut v);
        assert_eq!(m, [0.5 * (1.0 - 0.9f32), -2.0 * (1.0 - 0.9f32)]);
        assert_eq!(v, [0.25 * (1.0 - 0.999f32), 4.0 * (1.0 - 0.999f32)]);
        // Adam's first step moves each weight by about lr against its gradient's sign.
        assert!((p[0] - (1.0 - 1e-3)).abs() < 1e-5 && (p[1] - (1.0 + 1e-3)).abs() < 1e-5);
    }

    #[test]
    #[should_panic(expected = "adam_step")]
    fn slices_of_different_lengths_are_refused() {
        let step = AdamStep::new(0.9, 0.999, 1e-5, None, 1e-3, 1);
        adam_step(
            &step,
            true,
            &mut [0.0; 2],
            &[0.0; 3],
            &mut [0.0; 2],
            &mut [0.0; 2],
        );
    }
}
