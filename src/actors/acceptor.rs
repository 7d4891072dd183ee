//! The listener: each accepted TCP stream becomes a ConnectionActor.

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing::{debug, warn, Instrument, Span};

use super::connection::ConnectionSpawner;
use crate::proto::{Direction, PeerAddr};
use crate::transport::{MemoryListener, MemoryNetwork};

/// Pause after an accept error (out of file descriptors, say) before trying again.
const ACCEPT_ERROR_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// A running accept loop; dropping `stop` or sending on it ends the loop,
/// and awaiting `done` tells when the listener is closed.
pub struct Acceptor {
    pub stop: oneshot::Sender<()>,
    pub done: actix_rt::task::JoinHandle<()>,
}

impl Acceptor {
    /// Accepts in-memory streams on `addr` of `net` until stopped; then stops listening there.
    pub fn spawn_memory(
        net: MemoryNetwork,
        addr: PeerAddr,
        listener: MemoryListener,
        spawner: ConnectionSpawner,
        span: Span,
    ) -> Acceptor {
        let (stop, stopped) = oneshot::channel();
        let accept = memory_accept_loop(net, addr, listener, spawner, stopped).instrument(span);
        let done = actix_rt::spawn(accept);
        Acceptor { stop, done }
    }

    /// Accepts on `listener` until stopped.
    pub fn spawn(listener: TcpListener, spawner: ConnectionSpawner, span: Span) -> Acceptor {
        let (stop, stopped) = oneshot::channel();
        let done = actix_rt::spawn(accept_loop(listener, spawner, stopped).instrument(span));
        Acceptor { stop, done }
    }
}

async fn accept_loop(
    listener: TcpListener,
    spawner: ConnectionSpawner,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    if spawner.full() {
                        debug!(%remote, "at max_connections, connection refused");
                        spawner.refused();
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().ok();
                    let conn = spawner.spawn(stream, Direction::Inbound, local, Some(remote));
                    debug!(%conn, %remote, "accepted");
                }
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            }
        }
    }
    debug!("listener closed");
}

async fn memory_accept_loop(
    net: MemoryNetwork,
    addr: PeerAddr,
    mut listener: MemoryListener,
    spawner: ConnectionSpawner,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.recv() => match accepted {
                Some(stream) => {
                    if spawner.full() {
                        debug!("at max_connections, in-memory connection refused");
                        spawner.refused();
                        continue;
                    }
                    spawner.spawn(stream, Direction::Inbound, None, None);
                }
                None => break,
            }
        }
    }
    net.unlisten(&addr);
    debug!(%addr, "in-memory listener closed");
}
