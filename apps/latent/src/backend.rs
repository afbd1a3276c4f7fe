//! Which burn backends this binary was compiled with, and the `Device` for the one asked for.
//! This is the only place in the project that names a backend.

use anyhow::{bail, Context, Result};
use burn::tensor::{Device, Tensor};
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

/// The forms `--devices` takes, for error messages and help.
pub const DEVICE_FORMS: &str = "ndarray, flex, wgpu, wgpu:N (the N-th discrete GPU), or \
     ws://HOST:PORT (a compute server started with `latent serve`)";

/// The devices of a `--devices` list, each checked to compute and read back a value, so that a
/// wrong address or a missing backend fails here and not in the middle of training.
pub fn named_devices(specs: &[String]) -> Result<Vec<NamedDevice>> {
    if specs.is_empty() {
        bail!("--devices is empty; give one or more of: {DEVICE_FORMS}");
    }
    specs.iter().map(|spec| named_device(spec.trim())).collect()
}

fn named_device(spec: &str) -> Result<NamedDevice> {
    let device = if spec.starts_with("ws://") || spec.starts_with("wss://") {
        remote_device(spec)?
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
        if index.is_some() && backend != Backend::Wgpu {
            bail!("device `{spec}`: only wgpu takes a GPU index");
        }
        backend.device(index)?
    };
    let answered = std::panic::catch_unwind(|| {
        Tensor::<1>::ones([1], &device)
            .try_into_data()
            .map_err(|e| format!("{e:?}"))
    })
    .unwrap_or_else(|_| Err("it panicked".into()));
    if let Err(problem) = answered {
        bail!("device {spec} does not compute: {problem}");
    }
    Ok(NamedDevice {
        name: spec.to_string(),
        device,
    })
}

/// A device on the compute server at `url` (`ws://HOST:PORT`), connected.
#[cfg(feature = "remote")]
fn remote_device(url: &str) -> Result<Device> {
    use burn::remote::RemoteHost;
    let Some(address) = url.strip_prefix("ws://") else {
        bail!("{url}: only unencrypted WebSocket (ws://HOST:PORT) is supported; see the README's \"Scaling out\"");
    };
    let address = address.trim_end_matches('/');
    let port_ok = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_ok {
        bail!("{url}: expected ws://HOST:PORT, e.g. ws://127.0.0.1:3000");
    }
    // burn's connect retries an address where nothing listens, and gives up on a silent peer
    // only after its handshake timeout: a plain TCP connect first says which it is, and a
    // thread bounds the wait for burn's handshake.
    reachable(address).map_err(|problem| {
        anyhow::anyhow!("cannot connect to the compute server {url}: {problem}")
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    let host = RemoteHost::websocket(url);
    std::thread::spawn(move || {
        let _ = tx.send(Device::remote_options(&host).init());
    });
    let hint = "is `latent serve --port PORT` running there, and the port open?";
    match rx.recv_timeout(CONNECT_TIMEOUT) {
        Ok(Ok(device)) => Ok(device),
        Ok(Err(e)) => bail!("cannot connect to the compute server {url}: {e} ({hint})"),
        Err(_) => bail!(
            "cannot connect to the compute server {url}: no answer within {} s ({hint})",
            CONNECT_TIMEOUT.as_secs()
        ),
    }
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
fn remote_device(url: &str) -> Result<Device> {
    bail!(
        "{url}: remote devices are not compiled into this binary; rebuild with \
         `cargo build -p latent --features remote`"
    )
}
