//! Which burn backends this binary was compiled with, and the `Device` for the one asked for.
//! This is the only place in the project that names a backend.

use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use latent_train::NamedDevice;

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
    /// burn-cuda on an NVIDIA GPU through the CUDA driver (cargo feature `cuda`; its build needs
    /// the LLVM that `scripts/setup/cuda-llvm.sh` installs).
    Cuda,
}

impl Backend {
    pub const ALL: [Backend; 4] = [
        Backend::Ndarray,
        Backend::Flex,
        Backend::Wgpu,
        Backend::Cuda,
    ];

    /// The backend used without `--backend`: flex (the fastest CPU backend measured, see
    /// BENCHMARKS.md), else the first compiled in of ndarray, wgpu and cuda.
    pub fn default_compiled() -> Backend {
        [
            Backend::Flex,
            Backend::Ndarray,
            Backend::Wgpu,
            Backend::Cuda,
        ]
        .into_iter()
        .find(|b| b.compiled())
        .unwrap_or(Backend::Flex)
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Ndarray => "ndarray",
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// Whether the backend computes on the CPU, with the process's thread pool (`--threads`).
    pub fn is_cpu(self) -> bool {
        matches!(self, Backend::Ndarray | Backend::Flex)
    }

    /// Whether this binary was built with the backend's cargo feature.
    pub fn compiled(self) -> bool {
        match self {
            Backend::Ndarray => cfg!(feature = "ndarray"),
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// Whether `--gpu N` (or `NAME:N` in `--devices`) picks one of this backend's devices.
    pub fn takes_gpu_index(self) -> bool {
        matches!(self, Backend::Wgpu | Backend::Cuda)
    }

    /// The device of this backend, or an error naming the cargo feature to build with. For
    /// wgpu, `gpu` picks the n-th discrete GPU; without it wgpu's default adapter is used. For
    /// cuda, `gpu` is the CUDA device index (default 0); a machine without the CUDA driver or
    /// its libdevice gets an error saying which is missing, not a panic inside the backend.
    pub fn device(self, gpu: Option<usize>) -> Result<Device> {
        if let (Some(index), false) = (gpu, self.takes_gpu_index()) {
            bail!(
                "--gpu {index} picks a GPU of the wgpu or cuda backend, but the {} backend runs \
                 on the CPU; add `--backend wgpu` or `--backend cuda`, or leave --gpu out",
                self.name(),
            );
        }
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
            #[cfg(feature = "cuda")]
            Backend::Cuda => {
                let driver = crate::cuda::driver()?;
                let index = gpu.unwrap_or(0);
                if index >= driver.devices {
                    bail!(
                        "--gpu {index}: the CUDA driver ({}) sees {} device(s), numbered from 0",
                        driver.version,
                        driver.devices,
                    );
                }
                crate::cuda::libdevice()?;
                Ok(Device::cuda(index))
            }
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

/// The forms `--devices` takes, for error messages and help.
pub const DEVICE_FORMS: &str = "ndarray, flex, wgpu, wgpu:N (the N-th discrete GPU), cuda, \
     cuda:N (CUDA device N), or a \
     compute server started with `latent serve`: ws://HOST:PORT, iroh://ID@HOST:PORT or iroh://ID";

/// The devices of a `--devices` list, each checked to compute and read back a value, so that a
/// wrong address or a missing backend fails here and not in the middle of training.
/// `token` is the one remote servers were started with (`latent serve --token`).
pub fn named_devices(specs: &[String], token: Option<&str>) -> Result<Vec<NamedDevice>> {
    if specs.is_empty() {
        bail!("--devices is empty; give one or more of: {DEVICE_FORMS}");
    }
    specs
        .iter()
        .map(|spec| named_device(spec.trim(), token))
        .collect()
}

fn named_device(spec: &str, token: Option<&str>) -> Result<NamedDevice> {
    let device = if spec.contains("://") {
        remote_device(spec, token)?
    } else {
        let (name, index) = match spec.split_once(':') {
            Some((name, index)) => {
                let index = index
                    .parse::<usize>()
                    .with_context(|| format!("device `{spec}`: `{index}` is not a GPU index"))?;
                (name, Some(index))
            }
            None => (spec, None),
        };
        let backend = Backend::ALL
            .into_iter()
            .find(|b| b.name() == name)
            .with_context(|| format!("unknown device `{spec}`; use {DEVICE_FORMS}"))?;
        if index.is_some() && !backend.takes_gpu_index() {
            bail!("device `{spec}`: only wgpu and cuda take a GPU index");
        }
        backend.device(index)?
    };
    if let Err(problem) = latent_train::device_check(&device) {
        bail!("device {spec} does not compute: {problem}");
    }
    Ok(NamedDevice::new(spec, device))
}

/// A device on the compute server at `url` — `ws://HOST:PORT`, `iroh://ID@HOST:PORT` (relays
/// disabled) or `iroh://ID` (n0's public relays) — connected, with `token` if given.
#[cfg(feature = "remote")]
fn remote_device(url: &str, token: Option<&str>) -> Result<Device> {
    use burn::remote::{EndpointId, IrohHost, IrohRelays, RemoteHost};
    use std::net::ToSocketAddrs;

    let host_port = |address: &str| -> Result<()> {
        let ok = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            bail!("{url}: expected {DEVICE_FORMS}");
        }
        Ok(())
    };
    let host = if let Some(address) = url.strip_prefix("ws://") {
        let address = address.trim_end_matches('/');
        host_port(address)?;
        // burn's connect retries an address where nothing listens, and gives up on a silent
        // peer only after its handshake timeout: a plain TCP connect first says which it is.
        reachable(address).map_err(|problem| {
            anyhow::anyhow!("cannot connect to the compute server {url}: {problem}")
        })?;
        RemoteHost::websocket(url)
    } else if let Some(rest) = url.strip_prefix("iroh://") {
        let (id, address) = match rest.split_once('@') {
            Some((id, address)) => (id, Some(address)),
            None => (rest, None),
        };
        let id: EndpointId = id
            .parse()
            .map_err(|e| anyhow::anyhow!("{url}: `{id}` is not an Iroh server id: {e}"))?;
        let mut host = IrohHost::new(id);
        if let Some(address) = address {
            host_port(address)?;
            host = host.with_relays(IrohRelays::Disabled);
            let sockets = address
                .to_socket_addrs()
                .with_context(|| format!("{url}: cannot resolve {address}"))?;
            for socket in sockets {
                host = host.with_address(socket);
            }
        }
        RemoteHost::iroh(host)
    } else {
        bail!("{url}: expected {DEVICE_FORMS}");
    };
    let host = match token {
        Some(token) => host.with_credential(token),
        None => host,
    };
    // A thread bounds the wait for burn's handshake.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Device::remote_options(&host).init());
    });
    let hint = "is `latent serve` running there, and the port open?";
    match rx.recv_timeout(CONNECT_TIMEOUT) {
        Ok(Ok(device)) => Ok(device),
        Ok(Err(e @ burn::remote::ConnectError::Unauthorized)) => bail!(
            "cannot connect to the compute server {url}: {e} (give --token, the token the server \
             was started with)"
        ),
        Ok(Err(e)) => bail!("cannot connect to the compute server {url}: {e} ({hint})"),
        Err(_) => bail!(
            "cannot connect to the compute server {url}: no answer within {} s ({hint})",
            CONNECT_TIMEOUT.as_secs()
        ),
    }
}

/// The WebSocket servers among `devices` that no longer accept connections.
pub fn unreachable_servers(devices: &[NamedDevice]) -> Vec<String> {
    devices
        .iter()
        .filter_map(|d| {
            let address = d.name.strip_prefix("ws://")?.trim_end_matches('/');
            #[cfg(feature = "remote")]
            let gone = reachable(address).is_err();
            #[cfg(not(feature = "remote"))]
            let gone = {
                let _ = address;
                false
            };
            gone.then(|| d.name.clone())
        })
        .collect()
}

/// Whether something accepts TCP connections at `address` (HOST:PORT).
#[cfg(feature = "remote")]
fn reachable(address: &str) -> std::result::Result<(), String> {
    use std::net::{TcpStream, ToSocketAddrs};
    let addresses: Vec<_> = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {address}: {e}"))?
        .collect();
    let mut last = format!("{address} resolves to no address");
    for socket in addresses {
        match TcpStream::connect_timeout(&socket, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("nothing accepts connections at {socket} ({e})"),
        }
    }
    Err(last)
}

/// How long connecting to a compute server may take.
#[cfg(feature = "remote")]
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(not(feature = "remote"))]
fn remote_device(url: &str, _: Option<&str>) -> Result<Device> {
    bail!(
        "{url}: remote devices are not compiled into this binary; rebuild with \
         `cargo build -p latent --features remote`"
    )
}
