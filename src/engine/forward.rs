//! A confined clone's port on the host. Its server listens only inside its own network
//! namespace ([`crate::pg::netns`]), so the engine accepts on the clone's address and
//! port and relays each connection to the server's loopback in there. Connections arrive
//! at the server as TCP ones, so they need the clone's password exactly as before; the
//! engine's own superuser connection keeps using the private socket.

use crate::pg::netns::Dialer;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Relays one clone's port while it lives; stops when dropped.
pub struct Forwarder {
    stop: CancellationToken,
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Forwarder {
    /// Listens on `at` and relays each connection through `dialer`.
    pub async fn start(at: SocketAddr, dialer: Dialer) -> std::io::Result<Forwarder> {
        let listener = TcpListener::bind(at).await?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut client, _)) = accepted else {
                    continue;
                };
                let dialer = dialer.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move {
                    let mut server = match dialer.dial().await {
                        Ok(server) => server,
                        Err(e) => {
                            tracing::warn!(port = at.port(), error = %e, "cannot reach the confined clone server");
                            return;
                        }
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    tokio::select! {
                        _ = stopped.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        Ok(Forwarder { stop })
    }
}
