//! `latent info`: the backends compiled in, each checked on a known KL value.

use anyhow::Result;

use crate::backend::Backend;

/// The adapters wgpu can see: name, type, driver and graphics API.
#[cfg(feature = "wgpu")]
fn wgpu_adapters() -> Vec<String> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    futures_lite::future::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(|adapter| {
            let info = adapter.get_info();
            format!(
                "{} ({:?}; driver {} {}; {:?})",
                info.name, info.device_type, info.driver, info.driver_info, info.backend
            )
        })
        .collect()
}

/// Prints each backend, whether it is compiled in, and for those that are, the KL divergence
/// of a fixed pair of Gaussians computed on it next to its closed form in f64.
pub fn run() -> Result<()> {
    use burn::tensor::Tensor;
    use latent_distributions::{kl, Normal};

    println!("latent {}", env!("CARGO_PKG_VERSION"));
    let (mean, log_var) = ([0.5f32, -1.0, 2.0], [0.3f32, -0.2, 1.0]);
    let want: f64 = mean
        .iter()
        .zip(&log_var)
        .map(|(m, lv)| 0.5 * ((*lv as f64).exp() + (*m as f64).powi(2) - 1.0 - *lv as f64))
        .sum();
    for backend in Backend::ALL {
        if !backend.compiled() {
            println!(
                "{:8} not compiled in (cargo feature `{}`)",
                backend.name(),
                backend.name()
            );
            continue;
        }
        #[cfg(feature = "wgpu")]
        if backend == Backend::Wgpu {
            let adapters = wgpu_adapters();
            if adapters.is_empty() {
                println!(
                    "{:8} compiled in, but wgpu finds no adapter: no Vulkan / Metal / DX12 driver \
                     (on Debian, `apt install mesa-vulkan-drivers` gives the lavapipe software one)",
                    backend.name()
                );
                continue;
            }
            for adapter in adapters {
                println!("{:8} adapter: {adapter}", backend.name());
            }
        }
        // The driver and its devices, where there is one; `device` below says what is missing
        // where there is not.
        #[cfg(feature = "cuda")]
        if backend == Backend::Cuda {
            if let Ok(driver) = crate::cuda::driver() {
                println!(
                    "{:8} driver: CUDA {}, {} device(s)",
                    backend.name(),
                    driver.version,
                    driver.devices
                );
                for (index, name) in driver.names.iter().enumerate() {
                    println!("{:8} device {index}: {name}", backend.name());
                }
            }
            if let Ok(path) = crate::cuda::libdevice() {
                println!("{:8} libdevice: {}", backend.name(), path.display());
            }
        }
        let device = match backend.device(None) {
            Ok(device) => device,
            Err(problem) => {
                println!(
                    "{:8} compiled in, but unusable here: {problem}",
                    backend.name()
                );
                continue;
            }
        };
        let normal = Normal::new(
            Tensor::<2>::from_floats([mean], &device),
            Tensor::<2>::from_floats([log_var], &device),
        );
        let got = kl::kl_normal_std_normal(&normal)
            .try_into_scalar::<f32>()
            .map_err(|e| anyhow::anyhow!("the {} backend failed: {e:?}", backend.name()))?;
        let status = if (got as f64 - want).abs() < 1e-5 * want.abs().max(1.0) {
            "ok"
        } else {
            "WRONG"
        };
        println!(
            "{:8} compiled in: {device:?}; check KL(N(μ,σ²)‖N(0,I)) = {got:.6} (exact {want:.6}) {status}",
            backend.name()
        );
    }
    if cfg!(feature = "remote") {
        println!(
            "remote   built in: `latent serve`, and --devices ws://HOST:PORT or iroh://ID@HOST:PORT"
        );
    } else {
        println!("remote   not compiled in (cargo feature `remote`)");
    }
    Ok(())
}
