//! `RegistryActor`: makes the node's outbound connections (bootstrap, join, advertised peers).

use std::collections::HashSet;
use std::time::Duration;

use actix::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::{debug, Span};

use super::connection::ConnectionSpawner;
use super::peer::{DialFailed, OneShotFinished, PeerActor};
use crate::proto::{Direction, Frame, PeerAddr};
use crate::transport::MemoryNetwork;

/// Dial `addr`; the PeerActor hears `Opened` from the new connection or `DialFailed`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Dial(pub PeerAddr);

/// Deliver one frame to an original peer: connect, write, close; then tell
/// the PeerActor [`OneShotFinished`], however it went.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct OneShot {
    pub addr: PeerAddr,
    pub frame: Frame,
}

/// Stop dialling; pending dials are dropped.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopRegistry;

/// Dials with a timeout, never the same address twice at once, and hands each
/// new stream to a new ConnectionActor.
pub struct RegistryActor {
    peer: Addr<PeerActor>,
    /// Set for a node on an in-memory network: dials go there instead of TCP.
    memory: Option<MemoryNetwork>,
    spawner: ConnectionSpawner,
    connect_timeout: Duration,
    in_flight: HashSet<PeerAddr>,
    span: Span,
}

impl RegistryActor {
    /// A registry dialling for the node of `peer`.
    pub fn new(
        peer: Addr<PeerActor>,
        spawner: ConnectionSpawner,
        connect_timeout: Duration,
        span: Span,
    ) -> Self {
        RegistryActor {
            peer,
            memory: None,
            spawner,
            connect_timeout,
            in_flight: HashSet::new(),
            span,
        }
    }
}

impl RegistryActor {
    /// Dials over `net` instead of TCP.
    pub fn on_memory(mut self, net: MemoryNetwork) -> Self {
        self.memory = Some(net);
        self
    }

    /// An in-memory dial: immediate, no timeout needed.
    fn dial_memory(&mut self, net: &MemoryNetwork, addr: PeerAddr) {
        match net.connect(&addr, self.spawner.config().send_queue_bytes) {
            Some(stream) => {
                self.spawner.spawn(
                    stream,
                    Direction::Outbound { addr },
                    Some("memory".to_string()),
                );
            }
            None => self.peer.do_send(DialFailed {
                addr,
                error: "nothing listens there (in-memory network)".to_string(),
            }),
        }
    }
}

impl Actor for RegistryActor {
    type Context = Context<Self>;
}

impl Handler<Dial> for RegistryActor {
    type Result = ();

    fn handle(&mut self, Dial(addr): Dial, ctx: &mut Context<Self>) {
        if let Some(net) = self.memory.clone() {
            return self.dial_memory(&net, addr);
        }
        if !self.in_flight.insert(addr.clone()) {
            return;
        }
        debug!(parent: &self.span, %addr, "dialling");
        let connect = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((addr.host().to_string(), addr.port())),
        );
        ctx.spawn(connect.into_actor(self).map(move |result, act, _ctx| {
            act.in_flight.remove(&addr);
            let error = match result {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let remote = stream.peer_addr().ok().map(|a| a.to_string());
                    act.spawner
                        .spawn(stream, Direction::Outbound { addr }, remote);
                    return;
                }
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!("no connection within {:?}", act.connect_timeout),
            };
            act.peer.do_send(DialFailed { addr, error });
        }));
    }
}

impl Handler<OneShot> for RegistryActor {
    type Result = ();

    fn handle(&mut self, OneShot { addr, frame }: OneShot, ctx: &mut Context<Self>) {
        let timeout = self.connect_timeout;
        let span = self.span.clone();
        if let Some(net) = &self.memory {
            // The frame waits in the link for the other end, which reads
            // it and then sees the link end as this side drops it.
            if let Some(link) = net.connect(&addr, self.spawner.config().send_queue_bytes) {
                let _ = link.tx.push(frame);
            }
            return self.peer.do_send(OneShotFinished);
        }
        let peer = self.peer.clone();
        // Bounded by the connect timeout for the dial and again for the write,
        // so a peer that accepts and never reads cannot hold the task.
        let send = async move {
            let connect = TcpStream::connect((addr.host().to_string(), addr.port()));
            let result = match tokio::time::timeout(timeout, connect).await {
                Ok(Ok(mut stream)) => {
                    let mut bytes = Vec::with_capacity(frame.wire_len());
                    bytes.extend_from_slice(frame.bytes());
                    bytes.push(b'\n');
                    let write = async {
                        stream.write_all(&bytes).await?;
                        stream.shutdown().await
                    };
                    match tokio::time::timeout(timeout, write).await {
                        Ok(r) => r.map_err(|e| e.to_string()),
                        Err(_) => Err("write timed out".to_string()),
                    }
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("connect timed out".to_string()),
            };
            if let Err(error) = result {
                debug!(parent: &span, %addr, %error, "one-shot send failed");
            }
            peer.do_send(OneShotFinished);
        };
        ctx.spawn(send.into_actor(self));
    }
}

impl Handler<StopRegistry> for RegistryActor {
    type Result = ();

    fn handle(&mut self, _: StopRegistry, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
