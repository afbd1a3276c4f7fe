//! Loops over host memory for the CPU path of `latent`, on plain slices (no burn).
//!
//! This crate is compiled at full optimisation even in the dev profile (the workspace's
//! `Cargo.toml`), so that its loops are vectorised in `cargo run` and `cargo test` as in a
//! release build. Each loop is also compiled for AVX2 and (with the default feature `avx512`)
//! for AVX-512, and picked at run time on x86-64: without the feature, an AVX-512 CPU runs the
//! AVX2 form, as an AVX2-only one would. The results are the same bit for bit on every path:
//! each element goes through the same IEEE operations in the same order (no fused multiply-add
//! is formed). On x86-64 they run with subnormals read and written as zeros
//! ([`without_subnormals`]), which other loops (burn's own Adam, say) can run under too.

#![deny(missing_docs)]

mod adam;
mod log_sigmoid;

pub use adam::{adam_step, without_subnormals, AdamStep};
pub use log_sigmoid::log_sigmoid_row_sums;
