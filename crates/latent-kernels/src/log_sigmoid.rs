//! Σ ln σ(l) over each row of a matrix of logits, in one pass and without a logarithm per
//! element: the Bernoulli log-likelihood of importance-sampled evaluation, summed over pixels.

/// Running sums and products kept side by side: the width of the arithmetic on every path
/// (an AVX-512 register, two AVX2 ones), so that every path computes the same values.
const LANES: usize = 16;

/// Factors taken into a running product before its exponent is moved out: each factor lies in
/// (1, 2], so a product stays below 2^65 (f32 reaches 2^128).
const GROUP: usize = 64;

/// ln σ(l) summed over each row of `logits` (row-major, rows of `width` values) into `sums`,
/// one sum per row. The Bernoulli log-likelihood Σ_d [x_d·l_d − softplus(l_d)] is this sum
/// plus Σ_d (x_d − 1)·l_d, a matrix–vector product.
///
/// ln σ(l) = min(l, 0) − ln(1 + e^−|l|), and a row's second terms are summed as the logarithm
/// of their product, Σ ln(1 + eᵢ) = ln Π (1 + eᵢ), each factor 1 + eᵢ in (1, 2]: per element
/// one exponential (Cephes' `expf` polynomial, branch-free), an addition and a product, no
/// logarithm, no division and no store. The products' binary exponents are moved out every 64
/// factors (exactly: a product is its mantissa times a power of two), so they neither
/// overflow nor lose range, and each row takes one logarithm, in f64, at its end.
///
/// Accuracy: forming 1 + eᵢ in f32 rounds it by at most 2⁻²⁴, and so does each product; a
/// row's sum is within about 1.2·10⁻⁷ per element of the exact value (in practice far less,
/// as the roundings do not all go one way), where summing ln σ values one by one in f32 errs
/// by a similar amount. Logits of ±inf give 0 and −inf as ln σ does; a NaN makes its row's
/// sum NaN. The values are the same bit for bit on every compiled path.
///
/// # Panics
/// If `logits` does not hold `width` values for each entry of `sums`.
pub fn log_sigmoid_row_sums(logits: &[f32], width: usize, sums: &mut [f32]) {
    assert!(
        width.checked_mul(sums.len()) == Some(logits.len()),
        "log_sigmoid_row_sums: {} logits are not {} rows of {width}",
        logits.len(),
        sums.len()
    );
    if width == 0 {
        sums.fill(0.0);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[cfg(feature = "avx512")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { x86::rows_avx512(logits, width, sums) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { x86::rows_avx2(logits, width, sums) };
        }
    }
    rows(logits, width, sums)
}

/// The loop of [`log_sigmoid_row_sums`] over rows, inlined into each compiled form.
#[inline(always)]
fn rows(logits: &[f32], width: usize, sums: &mut [f32]) {
    for (row, sum) in logits.chunks_exact(width).zip(sums.iter_mut()) {
        *sum = row_sum(row);
    }
}

/// Σ ln σ(l) over one row.
#[inline(always)]
fn row_sum(row: &[f32]) -> f32 {
    let mut low = [0.0f32; LANES];
    let mut product = [1.0f32; LANES];
    let mut exponent = [0i32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    let mut factors = 0;
    for chunk in &mut chunks {
        for i in 0..LANES {
            let l = chunk[i];
            low[i] += below_zero(l);
            product[i] *= 1.0 + exp_neg_abs(l);
        }
        factors += 1;
        if factors == GROUP {
            move_exponents(&mut product, &mut exponent);
            factors = 0;
        }
    }
    // At most one more factor per running product.
    for (i, &l) in chunks.remainder().iter().enumerate() {
        low[i] += below_zero(l);
        product[i] *= 1.0 + exp_neg_abs(l);
    }
    move_exponents(&mut product, &mut exponent);
    // Sixteen mantissas in [1, 2) (or NaN): their product is below 2^16.
    let mantissas: f64 = product.iter().map(|&p| f64::from(p)).product();
    let exponents: i64 = exponent.iter().map(|&e| i64::from(e)).sum();
    let low: f64 = low.iter().map(|&v| f64::from(v)).sum();
    let log_product = mantissas.ln() + exponents as f64 * std::f64::consts::LN_2;
    (low - log_product) as f32
}

/// min(l, 0); 0 for NaN (whose row the product makes NaN).
#[inline(always)]
fn below_zero(l: f32) -> f32 {
    if l < 0.0 {
        l
    } else {
        0.0
    }
}

/// Each product (at least 1) as its mantissa in [1, 2), its binary exponent added to
/// `exponent`; a NaN stays NaN.
#[inline(always)]
fn move_exponents(product: &mut [f32; LANES], exponent: &mut [i32; LANES]) {
    for i in 0..LANES {
        let p = product[i];
        let bits = p.to_bits();
        exponent[i] = exponent[i].wrapping_add((bits >> 23) as i32 - 127);
        let mantissa = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
        product[i] = if p.is_nan() { p } else { mantissa };
    }
}

/// e^−|l| where 1 + e^−|l| differs from 1 in f32 (below e^−20 it does not, and the value is
/// e^−20); NaN for NaN.
#[inline(always)]
fn exp_neg_abs(l: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two (Cody-Waite), the first with few mantissa bits so n·C1 is exact.
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding it rounds to an integer, held in the low bits of the mantissa.
    const ROUND: f32 = 12_582_912.0;
    let x = -l.abs();
    // NaN stays NaN: the comparison is false.
    let x = if x < -20.0 { -20.0 } else { x };
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * C1 - n * C2;
    // Cephes' `expf` polynomial for e^r, r in [−ln 2 / 2, ln 2 / 2] (its 5.0000001e-1 is 0.5
    // in f32).
    let p = (((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 0.5)
        * (r * r)
        + r
        + 1.0;
    // n in [−29, 0] as an integer (the bits of `shifted`), 2^n a normal number.
    let n = (shifted.to_bits() as i32).wrapping_sub(0x4b40_0000);
    let scale = f32::from_bits((n.wrapping_add(127) as u32) << 23);
    p * scale
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::rows;

    /// [`rows`] compiled with each named target feature.
    macro_rules! compiled_for {
        ($($name:ident = $feature:literal),+) => {$(
            #[target_feature(enable = $feature)]
            pub(super) fn $name(logits: &[f32], width: usize, sums: &mut [f32]) {
                rows(logits, width, sums)
            }
        )+};
    }

    compiled_for!(rows_avx2 = "avx2");
    #[cfg(feature = "avx512")]
    compiled_for!(rows_avx512 = "avx512f");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Σ ln σ(l) in f64: min(l, 0) − ln(1 + e^−|l|) per element.
    fn exact(row: &[f32]) -> f64 {
        row.iter()
            .map(|&l| {
                let l = f64::from(l);
                l.min(0.0) - (-l.abs()).exp().ln_1p()
            })
            .sum()
    }

    /// The signature of [`log_sigmoid_row_sums`] and of each of its compiled forms.
    type RowSums = fn(&[f32], usize, &mut [f32]);

    /// Every compiled form this CPU can run, by name.
    fn forms() -> Vec<(&'static str, RowSums)> {
        let mut forms: Vec<(&'static str, RowSums)> =
            vec![("dispatched", log_sigmoid_row_sums), ("baseline", rows)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: called only on a CPU with AVX2 (checked just above).
                forms.push(("avx2", |l, w, s| unsafe { x86::rows_avx2(l, w, s) }));
            }
            #[cfg(feature = "avx512")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: called only on a CPU with AVX-512F (checked just above).
                forms.push(("avx512", |l, w, s| unsafe { x86::rows_avx512(l, w, s) }));
            }
        }
        forms
    }

    /// A pseudo-random logit in [−spread, spread] (a fixed sequence: the test is repeatable).
    fn logit(i: usize, spread: f32) -> f32 {
        let u =
            ((i as u64).wrapping_mul(6_364_136_223_846_793_005) >> 40) as f32 / (1u64 << 24) as f32;
        (2.0 * u - 1.0) * spread
    }

    /// Rows of many widths (a partial chunk of 16, a whole one, MNIST's 784, and 5000, where
    /// the products' exponents move out several times) and spreads (logits near 0, typical,
    /// and beyond ±20, where 1 + e^−|l| is 1 in f32): every row's sum within its rounding of
    /// the f64 value — 1.2·10⁻⁷ per element for the products, the textbook bound of f32
    /// summation for the 16 running sums of min(l, 0), and the final rounding — and every
    /// compiled form the same bit for bit.
    #[test]
    fn row_sums_are_the_f64_sums_within_their_rounding_on_every_path() {
        let eps = f64::from(f32::EPSILON);
        for width in [1, 7, 16, 33, 784, 5000] {
            for spread in [0.5f32, 8.0, 60.0] {
                let rows = 9;
                let logits: Vec<f32> = (0..rows * width)
                    .map(|i| logit(i + 1000 * width, spread))
                    .collect();
                let mut sums = vec![f32::NAN; rows];
                log_sigmoid_row_sums(&logits, width, &mut sums);
                for (row, &sum) in logits.chunks_exact(width).zip(&sums) {
                    let want = exact(row);
                    let negative: f64 = row.iter().map(|&l| f64::from(l.min(0.0)).abs()).sum();
                    let terms_per_lane = width.div_ceil(LANES) as f64;
                    let bound =
                        1.2e-7 * width as f64 + eps * (terms_per_lane * negative + want.abs());
                    let error = (f64::from(sum) - want).abs();
                    assert!(
                        error <= bound,
                        "width {width}, spread {spread}: {sum} vs {want} (error {error:e}, \
                         bound {bound:e})"
                    );
                }
                for (name, form) in forms() {
                    let mut again = vec![f32::NAN; rows];
                    form(&logits, width, &mut again);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&again), bits(&sums), "{name}, width {width}");
                }
            }
        }
    }

    /// Logits of 0 give −ln 2 each: a row of 5000 is −5000 ln 2 to f32's rounding (the
    /// products reach 2^64 before their exponents move out; a product kept in f32 would
    /// overflow past 2^128). Infinite logits give ln σ(+inf) = 0 and ln σ(−inf) = −inf, a NaN
    /// makes its row NaN and no other, and rows of width 0 sum to 0.
    #[test]
    fn long_rows_special_values_and_empty_rows() {
        let mut sum = [0.0f32];
        log_sigmoid_row_sums(&vec![0.0; 5000], 5000, &mut sum);
        let want = -5000.0 * std::f64::consts::LN_2;
        assert!(
            (f64::from(sum[0]) - want).abs() <= 1e-7 * want.abs(),
            "{}",
            sum[0]
        );

        let mut rows = vec![1.5f32; 3 * 40];
        rows[3] = f32::INFINITY;
        let mut sums = [0.0f32; 3];
        log_sigmoid_row_sums(&rows, 40, &mut sums);
        let one = exact(&[1.5]) as f32;
        assert!((sums[0] - 39.0 * one).abs() < 1e-5, "{}", sums[0]);
        rows[45] = f32::NEG_INFINITY;
        rows[90] = f32::NAN;
        log_sigmoid_row_sums(&rows, 40, &mut sums);
        assert_eq!(sums[1], f32::NEG_INFINITY);
        assert!(sums[2].is_nan());
        assert!((sums[0] - 39.0 * one).abs() < 1e-5, "{}", sums[0]);

        let mut empty = [f32::NAN; 4];
        log_sigmoid_row_sums(&[], 0, &mut empty);
        assert_eq!(empty, [0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "are not 3 rows of 5")]
    fn a_length_that_is_not_whole_rows_panics() {
        log_sigmoid_row_sums(&[0.0; 14], 5, &mut [0.0; 3]);
    }
}
