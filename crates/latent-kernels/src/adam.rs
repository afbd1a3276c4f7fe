//! Adam's update of one parameter, in one pass over its values, gradient and moments.

/// The constants of one Adam step, as burn 0.22.1's `Adam` computes them (`burn-optim`,
/// `optim/adam.rs`): [`adam_step`] with these gives the same values, bit for bit, as burn's
/// sequence of tensor operations.
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
    #[cfg(target_arch = "x86_64")]
    {
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

    compiled_for!(adam_avx512 = "avx512f", adam_avx2 = "avx2");
}

/// Every compiled form of the loop this CPU can run, by name, the dispatching [`adam_step`]
/// among them (for the tests: each must give the same values).
#[cfg(test)]
fn compiled_forms() -> Vec<(&'static str, AdamFn)> {
    let mut forms: Vec<(&'static str, AdamFn)> =
        vec![("dispatched", adam_step), ("baseline", adam_loop)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: called only on a CPU with AVX2 (checked just above).
            forms.push(("avx2", |s, f, p, g, m, v| unsafe {
                x86::adam_avx2(s, f, p, g, m, v)
            }));
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: called only on a CPU with AVX-512F (checked just above).
            forms.push(("avx512", |s, f, p, g, m, v| unsafe {
                x86::adam_avx512(s, f, p, g, m, v)
            }));
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop of burn's operations, one operation at a time over whole arrays (as burn runs
    /// them): the reference for every compiled form.
    fn burn_sequence(
        step: &AdamStep,
        first: bool,
        param: &mut [f32],
        grad: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        let g: Vec<f32> = match step.weight_decay {
            Some(w) => param.iter().zip(grad).map(|(p, g)| p * w + g).collect(),
            None => grad.to_vec(),
        };
        let f1 = 1.0 - step.beta_1;
        let f2 = 1.0 - step.beta_2;
        let g1: Vec<f32> = g.iter().map(|g| g * f1).collect();
        let g2: Vec<f32> = g.iter().map(|g| (g * g) * f2).collect();
        for i in 0..m.len() {
            m[i] = if first {
                g1[i]
            } else {
                m[i] * step.beta_1 + g1[i]
            };
            v[i] = if first {
                g2[i]
            } else {
                v[i] * step.beta_2 + g2[i]
            };
        }
        let num: Vec<f32> = m.iter().map(|m| m * step.combined_factor).collect();
        let den: Vec<f32> = v.iter().map(|v| v.sqrt() + step.epsilon).collect();
        for i in 0..param.len() {
            param[i] -= (num[i] / den[i]) * step.lr;
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

    /// Every compiled form this CPU runs gives burn's values bit for bit, over several steps,
    /// with and without weight decay, at lengths that leave a tail after any vector width.
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
