//! Which burn backends this binary was compiled with, and the `Device` for the one asked for.
//! This is the only place in the project that names a backend.

use anyhow::{bail, Result};
use burn::tensor::Device;

/// A backend selectable with `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn-ndarray on the CPU (cargo feature `ndarray`, on by default).
    Ndarray,
    /// burn-flex, burn's newer pure-Rust CPU backend (cargo feature `flex`, on by default; the
    /// backend used without --backend).
    Flex,
    /// burn-wgpu on a GPU through Vulkan / Metal / DX12 (cargo feature `wgpu`).
    Wgpu,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Ndarray, Backend::Flex, Backend::Wgpu];

    /// The backend used without `--backend`: flex (the fastest CPU backend measured, see
    /// BENCHMARKS.md), else the first compiled in of ndarray and wgpu.
    pub fn default_compiled() -> Backend {
        [Backend::Flex, Backend::Ndarray, Backend::Wgpu]
            .into_iter()
            .find(|b| b.compiled())
            .unwrap_or(Backend::Flex)
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Ndarray => "ndarray",
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
        }
    }

    /// Whether this binary was built with the backend's cargo feature.
    pub fn compiled(self) -> bool {
        match self {
            Backend::Ndarray => cfg!(feature = "ndarray"),
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The device of this backend, or an error naming the cargo feature to build with. For
    /// wgpu, `gpu` picks the n-th discrete GPU; without it wgpu's default adapter is used.
    pub fn device(self, gpu: Option<usize>) -> Result<Device> {
        if !self.compiled() {
            bail!(
                "the {name} backend is not compiled into this binary; rebuild with \
                 `cargo build -p latent --features {name}` (compiled in: {})",
                compiled_names().join(", "),
                name = self.name(),
            );
        }
        match self {
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // burn 0.22 deprecates ndarray in favour of flex; we keep both.
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(match gpu {
                Some(index) => burn::tensor::DeviceKind::DiscreteGpu(index),
                None => burn::tensor::DeviceKind::DefaultDevice,
            })),
            #[allow(unreachable_patterns)]
            _ => {
                let _ = gpu;
                unreachable!("checked by compiled()")
            }
        }
    }
}

/// Names of the backends compiled in.
pub fn compiled_names() -> Vec<&'static str> {
    Backend::ALL
        .iter()
        .filter(|b| b.compiled())
        .map(|b| b.name())
        .collect()
}
