//! Element-wise maps compiled for the CPU's widest vectors.
//!
//! The crate is built for the target's baseline (SSE2 on x86-64), so a loop such as
//! `for x in xs { *x = op(*x, s) }` vectorises four lanes wide at most. These helpers (and
//! [`widest`], which the crate's other vectorised loops go through) compile the same loop a
//! second and third time, for AVX-512 and for AVX2 + FMA, and pick one at run time; `op` is
//! inlined into each copy. Other targets run the plain loop. The AVX-512 copy is
//! compiled only with the `x86-v4` feature, which also turns on gemm's and macerator's AVX-512
//! code: without it, the crate runs on an AVX-512 CPU as on one with AVX2 alone.

use alloc::vec::Vec;

#[inline(always)]
fn each<E: Copy, Op: Fn(E) -> E>(xs: &mut [E], op: Op) {
    for x in xs.iter_mut() {
        *x = op(*x);
    }
}

#[inline(always)]
fn collected<E: Copy, Op: Fn(E) -> E>(src: &[E], op: Op) -> Vec<E> {
    src.iter().map(|&x| op(x)).collect()
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod x86 {
    /// 2 for AVX-512F (with the `x86-v4` feature only), 1 for AVX2 with FMA, 0 for neither.
    pub(super) fn level() -> u8 {
        if cfg!(feature = "x86-v4") && std::arch::is_x86_feature_detected!("avx512f") {
            2
        } else if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            1
        } else {
            0
        }
    }
}

/// 2 where the AVX-512 copies run (AVX-512F and the `x86-v4` feature), 1 where the AVX2 + FMA
/// ones do, 0 elsewhere.
pub(crate) fn vector_level() -> u8 {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    return x86::level();
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    0
}

/// `work()`, compiled for AVX-512 and for AVX2 + FMA as well and run in the widest copy that
/// the CPU has (see [`vector_level`]): the loops inlined into `work` vectorise that wide. Mark
/// a closure of any size `#[inline(always)]`: otherwise it may be compiled on its own, for the
/// baseline (SSE2), and only called from the copies.
#[inline]
pub(crate) fn widest<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        #[cfg(feature = "x86-v4")]
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512<R>(work: impl FnOnce() -> R) -> R {
            work()
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<R>(work: impl FnOnce() -> R) -> R {
            work()
        }
        match x86::level() {
            // SAFETY: the CPU has the features each copy is compiled for (`level` checked them).
            #[cfg(feature = "x86-v4")]
            2 => return unsafe { avx512(work) },
            1 => return unsafe { avx2(work) },
            _ => {}
        }
    }
    work()
}

/// `*x = op(*x)` for every element of `xs`.
#[inline]
pub fn map_inplace<E: Copy, Op: Fn(E) -> E>(xs: &mut [E], op: Op) {
    widest(
        #[inline(always)]
        || each(xs, op),
    )
}

/// `op` of every element of `src`, in a new vector.
#[inline]
pub fn map_collect<E: Copy, Op: Fn(E) -> E>(src: &[E], op: Op) -> Vec<E> {
    widest(
        #[inline(always)]
        || collected(src, op),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_agree_with_the_plain_loop_on_every_length() {
        for n in [0usize, 1, 3, 15, 16, 17, 63, 64, 65, 1000] {
            let src: Vec<f32> = (0..n).map(|i| i as f32 * 0.37 - 11.0).collect();
            let op = |x: f32| (x * 0.9 + 0.1).abs().sqrt();
            let want: Vec<f32> = src.iter().map(|&x| op(x)).collect();
            let mut inplace = src.clone();
            map_inplace(&mut inplace, op);
            assert_eq!(inplace, want, "in place, n = {n}");
            assert_eq!(map_collect(&src, op), want, "collected, n = {n}");
        }
    }
}
