//! `latent serve`: this machine's device as a burn compute server, for `--devices ws://…`.

use anyhow::Result;
use clap::Args;

use crate::backend::Backend;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TCP port to listen on (0: any free port; the one taken is printed).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Address to listen on: 127.0.0.1 serves this machine only; 0.0.0.0 every network
    /// interface (WebSocket is unencrypted and unauthenticated: trusted networks only).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
}

/// Serves `backend`'s device until Ctrl+C or SIGTERM.
#[cfg(feature = "remote")]
pub fn run(args: ServeArgs, backend: Backend, gpu: Option<usize>) -> Result<()> {
    use anyhow::Context;
    use burn::server::{RemoteServer, WebSocketTransport};
    use std::io::Write;

    let device = backend.device(gpu)?;
    let listener = std::net::TcpListener::bind((args.host.as_str(), args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let address = listener.local_addr()?;
    println!(
        "serving the {} device on ws://{address} (train with --devices ws://{}:{}); Ctrl+C stops",
        backend.name(),
        if address.ip().is_unspecified() {
            "THIS-HOST".to_string()
        } else {
            address.ip().to_string()
        },
        address.port()
    );
    std::io::stdout().flush()?;
    RemoteServer::new([device])
        .serve(WebSocketTransport::from_listener(listener))
        .map_err(|e| anyhow::anyhow!("the compute server on {address} stopped: {e}"))
}

#[cfg(not(feature = "remote"))]
pub fn run(_: ServeArgs, _: Backend, _: Option<usize>) -> Result<()> {
    anyhow::bail!(
        "the compute server is not compiled into this binary; rebuild with \
         `cargo build -p latent --features remote`"
    )
}
