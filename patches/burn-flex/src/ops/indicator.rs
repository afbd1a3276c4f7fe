//! f32 products whose left operand holds only zeros and ones, computed as sums of rows.
//!
//! Binarised data (a Bernoulli VAE's input, a one-hot or bag-of-words matrix) makes the first
//! linear layer's products `x · W` and, in its weight gradient, `xᵀ · δ` products of a sparse
//! 0/1 matrix: row i of the result is the sum of the rows k of the right operand where the
//! left holds a one. Summing those rows does `nnz · n` additions where gemm does `m · k · n`
//! multiply-adds. For MNIST binarised (13 % ones), training a VAE with gemm's AVX2 kernels on
//! two cores of an Intel Xeon, the sums of `x · W` (64 × 784 · 784 × 400) and `xᵀ · δ` took
//! about half and two thirds of gemm's time; with gemm's AVX-512 kernels the two were level,
//! and such a matrix is left to gemm there (see `max_density_inverse`; the times in
//! BENCHMARKS.md, *Binary inputs as sums of rows*).
//!
//! The sums run over each row's ones in increasing k, from +0, as gemm's kernels accumulate
//! a product whose depth is one block, so the values are gemm's bit for bit there (a multiply-
//! add by exactly 1 or 0 rounds as the addition alone); where gemm splits the depth into blocks
//! the last bits can differ, as between gemm's own kernels. A right operand with an infinite or
//! NaN value takes gemm's path, where `0 · ∞` makes the NaN that the sum of rows would skip.

use alloc::vec;
use alloc::vec::Vec;

/// Products below this many multiply-adds go to gemm: too small for the sums to matter.
const MIN_WORK: usize = 1 << 16;
/// Narrower right operands go to gemm (the sums' rows of 64 are measured for 400 and 784).
const MIN_WIDTH: usize = 64;
/// Output columns summed at a time: eight AVX2 registers, four AVX-512 ones.
const BLOCK: usize = 64;

/// Where an output entry goes: the uninitialised row-major output.
type Out = core::mem::MaybeUninit<f32>;

/// The ones of a 0/1 matrix, line by line in the order it is stored (rows of a row-major
/// matrix, columns of a column-major one): line l holds a one at each position in
/// `positions[starts[l]..starts[l + 1]]`, in increasing order.
struct Ones {
    starts: Vec<u32>,
    positions: Vec<u32>,
}

impl Ones {
    fn lines(&self) -> usize {
        self.starts.len() - 1
    }

    fn line(&self, l: usize) -> &[u32] {
        &self.positions[self.starts[l] as usize..self.starts[l + 1] as usize]
    }

    /// The same ones line by line across (`width` lines: the positions that the lines of
    /// `self` hold), each listing the lines of `self` in increasing order.
    fn transposed(&self, width: usize) -> Ones {
        let mut starts = vec![0u32; width + 1];
        for &p in &self.positions {
            starts[p as usize + 1] += 1;
        }
        for p in 0..width {
            starts[p + 1] += starts[p];
        }
        let mut next: Vec<u32> = starts[..width].to_vec();
        let mut positions = vec![0u32; self.positions.len()];
        for l in 0..self.lines() {
            for &p in self.line(l) {
                positions[next[p as usize] as usize] = l as u32;
                next[p as usize] += 1;
            }
        }
        Ones { starts, positions }
    }
}

/// `lhs · rhs` into `out` (row-major `m × n`) by sums of `rhs`'s rows, when `lhs` (`m × k`,
/// rows `lhs_rs` and columns `lhs_cs` apart, one of the two 1) holds only zeros and ones,
/// sparsely enough that this is faster than gemm (at most a fifth ones, a tenth where gemm runs
/// its AVX-512 kernels), and `rhs` (`k × n`, rows `rhs_rs` apart, columns contiguous) is
/// finite. Returns whether it computed the product; if not, the caller computes it and
/// overwrites whatever `out` holds.
#[allow(clippy::too_many_arguments)]
pub(crate) fn product_of_ones(
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: &[f32],
    rhs_rs: isize,
    rhs_cs: isize,
    out: &mut [Out],
) -> bool {
    let unit = |stride: isize| stride == 1;
    // Rows of the left operand or its columns contiguous; the right operand's rows contiguous.
    if rhs_cs != 1
        || rhs_rs < 0
        || !(unit(lhs_cs) && lhs_rs >= 0 || unit(lhs_rs) && lhs_cs >= 0)
        || n < MIN_WIDTH
        || m.saturating_mul(k).saturating_mul(n) < MIN_WORK
        || m.saturating_mul(k) >= u32::MAX as usize
    {
        return false;
    }
    let rhs_rs = rhs_rs as usize;
    let budget = m * k / max_density_inverse();
    let ones = crate::simd::widest(
        #[inline(always)]
        || {
            if lhs_cs == 1 {
                ones_of(lhs, lhs_rs as usize, m, k, budget)
            } else {
                ones_of(lhs, lhs_cs as usize, k, m, budget).map(|columns| columns.transposed(m))
            }
        },
    );
    let Some(ones) = ones else {
        return false;
    };
    // Where the rows summed hold an infinity or a NaN, so does some sum (see `gathered`); the
    // rows that no sum reads are checked on their own.
    let mut read = vec![false; k];
    for &r in &ones.positions {
        read[r as usize] = true;
    }
    let unread_finite = crate::simd::widest(
        #[inline(always)]
        || (0..k).all(|r| read[r] || finite(&rhs[r * rhs_rs..][..n])),
    );
    unread_finite && gathered(&ones, rhs, rhs_rs, n, &mut out[..m * n])
}

/// The inverse of the largest share of ones for which the sums are worth taking: with gemm's
/// AVX2 kernels a fifth (at 13 % ones the sums took half of gemm's time in training, measured
/// on one core each of two); its AVX-512 kernels (the `x86-v4` feature, on a CPU that has them)
/// take about two thirds of the time of its AVX2 ones there, while the sums, bound by their
/// loads, take hardly less, and at 13 % the two were level: a tenth.
fn max_density_inverse() -> usize {
    if crate::simd::vector_level() >= 2 {
        10
    } else {
        5
    }
}

/// The ones of `lines` lines of `length` values each, line l starting at `l · stride` in
/// `matrix`, or `None` if it holds any value other than 0 (either sign) and 1, or more than
/// `budget` ones. One pass in memory order: 16 values at a time become a mask of their
/// nonzeros (a vector comparison), and only the ones are visited.
#[inline(always)]
fn ones_of(
    matrix: &[f32],
    stride: usize,
    lines: usize,
    length: usize,
    budget: usize,
) -> Option<Ones> {
    const GROUP: usize = 16;
    let mut starts = Vec::with_capacity(lines + 1);
    starts.push(0u32);
    // Room for the budget and one line beyond it, not zeroed: most products that get here
    // are not of zeros and ones, and are turned down within their first line.
    let mut positions: Vec<u32> = Vec::with_capacity(budget + length);
    let slots = positions.spare_capacity_mut();
    let mut at = 0usize;
    for l in 0..lines {
        let line = &matrix[l * stride..][..length];
        let mut other = false;
        let mut base = 0u32;
        let groups = line.chunks_exact(GROUP);
        let rest = groups.remainder();
        for group in groups {
            let mut mask = 0u32;
            for (t, &v) in group.iter().enumerate() {
                mask |= ((v != 0.0) as u32) << t;
                other |= (v != 0.0) & (v != 1.0);
            }
            while mask != 0 {
                slots[at].write(base + mask.trailing_zeros());
                at += 1;
                mask &= mask - 1;
            }
            base += GROUP as u32;
        }
        for &v in rest {
            slots[at].write(base);
            at += (v != 0.0) as usize;
            other |= (v != 0.0) & (v != 1.0);
            base += 1;
        }
        if other || at > budget {
            return None;
        }
        starts.push(at as u32);
    }
    // SAFETY: `slots[..at]` were written above, and `at` is within the capacity (the slots'
    // indexing checked each write).
    unsafe { positions.set_len(at) };
    Some(Ones { starts, positions })
}

/// Whether every value of `values` is finite: below ∞ in magnitude, read as bits (an integer
/// maximum, which vectorises).
#[inline(always)]
fn finite(values: &[f32]) -> bool {
    let largest = values
        .iter()
        .fold(0u32, |most, &v| most.max(v.to_bits() & 0x7fff_ffff));
    largest < f32::INFINITY.to_bits()
}

/// Rows `rows` of the product into `out` (those rows), each the sum of the rows of `rhs` that
/// its line lists (zeros for none), `BLOCK` columns at a time with the sums in registers.
/// Returns whether every sum is finite.
#[inline(always)]
fn gather_rows(
    ones: &Ones,
    rows: core::ops::Range<usize>,
    rhs: &[f32],
    rs: usize,
    n: usize,
    out: &mut [Out],
) -> bool {
    let mut largest = 0u32;
    for (i, row) in rows.zip(out.chunks_exact_mut(n)) {
        let list = ones.line(i);
        let mut c0 = 0;
        while c0 < n {
            let width = BLOCK.min(n - c0);
            let mut acc = [0.0f32; BLOCK];
            if width == BLOCK {
                for &r in list {
                    let src = &rhs[r as usize * rs + c0..][..BLOCK];
                    for (a, v) in acc.iter_mut().zip(src) {
                        *a += v;
                    }
                }
            } else {
                for &r in list {
                    let src = &rhs[r as usize * rs + c0..][..width];
                    for (a, v) in acc.iter_mut().zip(src) {
                        *a += v;
                    }
                }
            }
            for (slot, a) in row[c0..c0 + width].iter_mut().zip(acc) {
                largest = largest.max(a.to_bits() & 0x7fff_ffff);
                slot.write(a);
            }
            c0 += width;
        }
    }
    largest < f32::INFINITY.to_bits()
}

/// The product by [`gather_rows`], split by rows among rayon's threads where there are several
/// and enough additions. Returns whether every sum is finite.
fn gathered(ones: &Ones, rhs: &[f32], rs: usize, n: usize, out: &mut [Out]) -> bool {
    let m = ones.lines();
    let run = |rows: core::ops::Range<usize>, out: &mut [Out]| {
        crate::simd::widest(
            #[inline(always)]
            || gather_rows(ones, rows, rhs, rs, n, out),
        )
    };
    #[cfg(feature = "rayon")]
    {
        let threads = rayon::current_num_threads();
        if threads > 1 && ones.positions.len() * n >= 4 * super::PARALLEL_THRESHOLD {
            use rayon::prelude::*;
            let rows_per_task = m.div_ceil(4 * threads).max(1);
            return out
                .par_chunks_mut(rows_per_task * n)
                .enumerate()
                .map(|(t, chunk)| {
                    let start = t * rows_per_task;
                    run(start..start + chunk.len() / n, chunk)
                })
                .reduce(|| true, |a, b| a & b);
        }
    }
    run(0..m, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 0/1 matrix of the given share of ones, and a real one, from a fixed generator.
    fn operands(m: usize, k: usize, n: usize, ones: f64) -> (Vec<f32>, Vec<f32>) {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let lhs = (0..m * k)
            .map(|_| if next() < ones { 1.0 } else { 0.0 })
            .collect();
        let rhs = (0..k * n).map(|_| (next() - 0.5) as f32).collect();
        (lhs, rhs)
    }

    /// The left operand's values and its row and column strides.
    type Lhs<'a> = (&'a [f32], usize, usize);

    fn run(
        (m, k, n): (usize, usize, usize),
        (lhs, lrs, lcs): Lhs,
        rhs: &[f32],
    ) -> Option<Vec<f32>> {
        let mut out = vec![core::mem::MaybeUninit::uninit(); m * n];
        product_of_ones(
            m,
            k,
            n,
            lhs,
            lrs as isize,
            lcs as isize,
            rhs,
            n as isize,
            1,
            &mut out,
        )
        .then(|| {
            out.into_iter()
                .map(|v| unsafe { v.assume_init() })
                .collect()
        })
    }

    /// The product in f64, each entry's terms in increasing k.
    fn reference((m, k, n): (usize, usize, usize), (lhs, lrs, lcs): Lhs, rhs: &[f32]) -> Vec<f64> {
        let mut out = vec![0.0f64; m * n];
        for i in 0..m {
            for kk in 0..k {
                let a = lhs[i * lrs + kk * lcs] as f64;
                for j in 0..n {
                    out[i * n + j] += a * rhs[kk * n + j] as f64;
                }
            }
        }
        out
    }

    /// Row-major and transposed (column-major) left operands, widths with and without a
    /// partial block: every entry within the rounding of its sum's terms of the f64 product.
    #[test]
    fn sums_of_rows_are_the_product() {
        for (m, k, n) in [(64, 784, 400), (5, 300, 100), (33, 200, 64), (128, 64, 130)] {
            let (lhs, rhs) = operands(m, k, n, 0.08);
            let layouts = [(k, 1), (1, m)];
            for (lrs, lcs) in layouts {
                // The same matrix read through the other layout is a different matrix, made
                // here by transposing the buffer for the column-major case.
                let stored: Vec<f32> = if lcs == 1 {
                    lhs.clone()
                } else {
                    let mut t = vec![0.0; m * k];
                    for i in 0..m {
                        for kk in 0..k {
                            t[kk * m + i] = lhs[i * k + kk];
                        }
                    }
                    t
                };
                let got = run((m, k, n), (&stored, lrs, lcs), &rhs).expect("a sparse 0/1 product");
                let want = reference((m, k, n), (&stored, lrs, lcs), &rhs);
                for (idx, (&g, &w)) in got.iter().zip(&want).enumerate() {
                    let terms = (0..k)
                        .filter(|&kk| stored[(idx / n) * lrs + kk * lcs] != 0.0)
                        .count();
                    let bound = (terms.max(1) as f64) * 0.5 * f32::EPSILON as f64;
                    assert!(
                        (g as f64 - w).abs() <= bound,
                        "{m}x{k}x{n} ({lrs},{lcs}) [{idx}]: {g} vs {w}"
                    );
                }
            }
        }
    }

    /// The sums are the sequential sums: the same bits as adding the listed rows in order.
    #[test]
    fn sums_add_the_rows_in_increasing_order() {
        let (m, k, n) = (16, 500, 200);
        let (lhs, rhs) = operands(m, k, n, 0.1);
        let got = run((m, k, n), (&lhs, k, 1), &rhs).unwrap();
        for i in 0..m {
            for j in 0..n {
                let mut sum = 0.0f32;
                for kk in 0..k {
                    if lhs[i * k + kk] == 1.0 {
                        sum += rhs[kk * n + j];
                    }
                }
                assert_eq!(got[i * n + j].to_bits(), sum.to_bits(), "[{i}, {j}]");
            }
        }
    }

    /// Anything but a sparse 0/1 left operand and a finite right one is left to gemm.
    #[test]
    fn other_operands_are_left_to_gemm() {
        let (m, k, n) = (32, 300, 128);
        let (lhs, rhs) = operands(m, k, n, 0.1);
        assert!(run((m, k, n), (&lhs, k, 1), &rhs).is_some());
        let mut half = lhs.clone();
        half[7 * k + 3] = 0.5;
        assert!(
            run((m, k, n), (&half, k, 1), &rhs).is_none(),
            "a value other than 0 and 1"
        );
        let (dense, _) = operands(m, k, n, 0.5);
        assert!(run((m, k, n), (&dense, k, 1), &rhs).is_none(), "half ones");
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            let mut rhs = rhs.clone();
            rhs[(k - 1) * n + n - 1] = bad;
            assert!(
                run((m, k, n), (&lhs, k, 1), &rhs).is_none(),
                "{bad} on the right"
            );
        }
        assert!(
            run((m, k, 32), (&lhs, k, 1), &rhs[..k * 32]).is_none(),
            "narrow"
        );
        // A negative zero counts as a zero.
        let mut signed = lhs.clone();
        for v in signed.iter_mut().filter(|v| **v == 0.0).step_by(3) {
            *v = -0.0;
        }
        assert_eq!(
            run((m, k, n), (&signed, k, 1), &rhs),
            run((m, k, n), (&lhs, k, 1), &rhs)
        );
    }

    /// Rows without a one are zeros.
    #[test]
    fn empty_rows_are_zeros() {
        let (m, k, n) = (8, 1000, 100);
        let (mut lhs, rhs) = operands(m, k, n, 0.05);
        lhs[3 * k..4 * k].fill(0.0);
        let got = run((m, k, n), (&lhs, k, 1), &rhs).unwrap();
        assert!(got[3 * n..4 * n].iter().all(|v| v.to_bits() == 0));
        assert!(got[2 * n..3 * n].iter().any(|&v| v != 0.0));
    }
}
