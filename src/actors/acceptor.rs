//! The listener: each accepted TCP stream becomes a ConnectionActor.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tracing::{debug, warn, Instrument, Span};

use super::connection::{ConnectionSpawner, Slot};
use crate::proto::{Direction, DisconnectReason, PeerAddr};
use crate::secure::establish::{self, Progress};
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
    // Dropped when the loop ends: links still being set up are abandoned.
    let (listening, _) = watch::channel(());
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
                    let slot = spawner.reserve();
                    let set_up = set_up(stream, remote, slot, spawner.clone());
                    let mut closed = listening.subscribe();
                    let until_closed = async move {
                        tokio::select! {
                            _ = set_up => {}
                            _ = closed.changed() => debug!(%remote, "listener closed during setup"),
                        }
                    };
                    actix_rt::spawn(until_closed.instrument(Span::current()));
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

/// Looks at an accepted stream's first bytes and runs the secure handshake
/// (or takes it as plaintext) within `handshake_timeout`, holding its place
/// among `max_connections`; then starts its ConnectionActor, or counts why not.
async fn set_up(stream: TcpStream, remote: SocketAddr, slot: Slot, spawner: ConnectionSpawner) {
    let local = stream.local_addr().ok();
    let config = spawner.config();
    let mut progress = Progress::default();
    let accept = establish::accept(stream, spawner.keys(), config.require_secure, &mut progress);
    let outcome = tokio::time::timeout(config.handshake_timeout, accept).await;
    match outcome {
        Ok(Ok(link)) => {
            let conn = spawner.spawn_in(slot, link, Direction::Inbound, local, Some(remote));
            debug!(%conn, %remote, "accepted");
        }
        Ok(Err(DisconnectReason::Closed)) => debug!(%remote, "closed before it said anything"),
        Ok(Err(reason)) => {
            debug!(%remote, %reason, "connection closed while set up");
            spawner.link_failed(reason);
        }
        Err(_) if progress.secure => {
            debug!(%remote, "secure handshake stalled past handshake_timeout");
            spawner.link_failed(DisconnectReason::HandshakeTimeout);
        }
        Err(_) => debug!(%remote, "silent past handshake_timeout, closed"),
    }
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
