//! `latent serve`: this machine's device as a burn compute server, for `--devices ws://…` or
//! `--devices iroh://…`.

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::backend::Backend;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on: TCP for WebSocket (0: any free port; the one taken is printed), UDP
    /// for Iroh.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Address to listen on (WebSocket): 127.0.0.1 serves this machine only; 0.0.0.0 every
    /// network interface. Iroh always listens on every interface.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// `websocket`: unencrypted, for trusted networks; `iroh`: authenticated and encrypted
    /// (QUIC), for any network.
    #[arg(long, value_enum, default_value_t = Transport::Websocket)]
    transport: Transport,
    /// Accept only clients that give this token (`latent train --token`). Over WebSocket it
    /// travels in clear; over Iroh it is encrypted.
    #[arg(long)]
    token: Option<String>,
    /// Iroh: keep the server's identity (its secret key) in FILE, created on first use, so that
    /// its address stays the same across restarts [default: a new identity every start].
    #[arg(long)]
    key: Option<std::path::PathBuf>,
    /// Iroh: `disabled` (clients dial the address printed, iroh://ID@HOST:PORT) or `public`
    /// (n0's public relays, which also find the server from its id alone; needs the internet).
    #[arg(long, default_value = "disabled")]
    relays: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    Websocket,
    Iroh,
}

/// Serves `backend`'s device until Ctrl+C or SIGTERM.
#[cfg(feature = "remote")]
pub fn run(args: ServeArgs, backend: Backend, gpu: Option<usize>) -> Result<()> {
    use anyhow::Context;
    use burn::server::{
        IrohIdentity, IrohRelays, IrohTransport, RemoteServer, TokenAuthorizer, WebSocketTransport,
    };
    use std::io::Write;

    let device = backend.device(gpu)?;
    let mut server = RemoteServer::new([device]);
    if let Some(token) = &args.token {
        server = server.with_authorizer(
            TokenAuthorizer::new(token.as_str()).context("--token must not be empty")?,
        );
    }
    let name = backend.name();
    match args.transport {
        Transport::Websocket => {
            let listener = std::net::TcpListener::bind((args.host.as_str(), args.port))
                .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
            let address = listener.local_addr()?;
            let host = if address.ip().is_unspecified() {
                "THIS-HOST".to_string()
            } else {
                address.ip().to_string()
            };
            println!(
                "serving the {name} device on ws://{address} (train with --devices ws://{host}:{}); \
                 Ctrl+C stops",
                address.port()
            );
            std::io::stdout().flush()?;
            server
                .serve(WebSocketTransport::from_listener(listener))
                .map_err(|e| anyhow::anyhow!("the compute server on {address} stopped: {e}"))
        }
        Transport::Iroh => {
            let relays: IrohRelays = args
                .relays
                .parse()
                .map_err(|e| anyhow::anyhow!("--relays: {e}"))?;
            if args.port == 0 && relays == IrohRelays::Disabled {
                anyhow::bail!(
                    "with relays disabled, clients dial the server's port: give --port P (not 0)"
                );
            }
            let identity = match &args.key {
                Some(path) => IrohIdentity::load_or_create(path)
                    .with_context(|| format!("cannot read or create {}", path.display()))?,
                None => IrohIdentity::random(),
            };
            let id = identity.id();
            let address = if relays == IrohRelays::Disabled {
                format!("iroh://{id}@THIS-HOST:{}", args.port)
            } else {
                format!("iroh://{id}")
            };
            println!(
                "serving the {name} device over Iroh (UDP port {}, relays {relays}) as {address}; \
                 Ctrl+C stops",
                args.port
            );
            std::io::stdout().flush()?;
            server
                .serve(
                    IrohTransport::new(identity)
                        .with_relays(relays)
                        .with_port(args.port),
                )
                .map_err(|e| anyhow::anyhow!("the Iroh compute server {id} stopped: {e}"))
        }
    }
}

#[cfg(not(feature = "remote"))]
pub fn run(_: ServeArgs, _: Backend, _: Option<usize>) -> Result<()> {
    anyhow::bail!(
        "the compute server is not compiled into this binary; rebuild with \
         `cargo build -p latent --features remote`"
    )
}
