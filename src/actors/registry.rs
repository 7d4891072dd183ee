//! `RegistryActor`: makes the node's outbound connections (bootstrap, join, advertised peers).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tracing::{debug, Span};

use super::connection::ConnectionSpawner;
use super::dial::connect;
use super::peer::{DialFailed, OneShotFinished, PeerActor};
use crate::proto::{DialError, Direction, Frame, PeerAddr};
use crate::resolve::Resolver;
use crate::secure::establish::{self, Established, Progress};
use crate::transport::MemoryNetwork;

/// Dial `addr` securely; the PeerActor hears `Opened` (and `Authenticated`)
/// from the new connection, or `DialFailed` (`DialError::Insecure` when the
/// peer gave no secure answer).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Dial(pub PeerAddr);

/// Dial `addr` in plaintext (the fallback the state machine allowed for a
/// peer that gave no secure answer); reported like [`Dial`].
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DialPlain(pub PeerAddr);

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
/// new stream to a new ConnectionActor. A host name is resolved again at
/// every attempt, through the node's [`Resolver`], and each of its addresses
/// is tried in turn.
pub struct RegistryActor {
    peer: Addr<PeerActor>,
    /// Set for a node on an in-memory network: dials go there instead of TCP.
    memory: Option<MemoryNetwork>,
    spawner: ConnectionSpawner,
    resolver: Arc<dyn Resolver>,
    connect_timeout: Duration,
    in_flight: HashSet<PeerAddr>,
    span: Span,
}

impl RegistryActor {
    /// A registry dialling for the node of `peer`, resolving names with `resolver`.
    pub fn new(
        peer: Addr<PeerActor>,
        spawner: ConnectionSpawner,
        resolver: Arc<dyn Resolver>,
        connect_timeout: Duration,
        span: Span,
    ) -> Self {
        RegistryActor {
            peer,
            memory: None,
            spawner,
            resolver,
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
                self.spawner
                    .spawn(stream, Direction::Outbound { addr }, None, None);
            }
            // Nothing listens there on the in-memory network.
            None => self.peer.do_send(DialFailed {
                addr,
                error: DialError::Refused,
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
        self.dial_tcp(addr, true, ctx);
    }
}

impl Handler<DialPlain> for RegistryActor {
    type Result = ();

    fn handle(&mut self, DialPlain(addr): DialPlain, ctx: &mut Context<Self>) {
        self.dial_tcp(addr, false, ctx);
    }
}

impl RegistryActor {
    /// Connects to `addr` and, when `secure`, runs the Noise handshake as
    /// initiator within `handshake_timeout`: a peer that stays silent that
    /// long gave no secure answer (a legacy peer waits for a `PING`); one
    /// that answered and then stalled failed the handshake.
    fn dial_tcp(&mut self, addr: PeerAddr, secure: bool, ctx: &mut Context<Self>) {
        if let Some(net) = self.memory.clone() {
            return self.dial_memory(&net, addr);
        }
        if !self.in_flight.insert(addr.clone()) {
            return;
        }
        debug!(parent: &self.span, %addr, secure, "dialling");
        let (resolver, timeout, span) = (
            self.resolver.clone(),
            self.connect_timeout,
            self.span.clone(),
        );
        let keys = self.spawner.keys().clone();
        let handshake_timeout = self.spawner.config().handshake_timeout;
        let target = addr.clone();
        let dial = async move {
            let stream = connect(resolver.as_ref(), &target, timeout, &span).await?;
            let _ = stream.set_nodelay(true);
            let ends = (stream.local_addr().ok(), stream.peer_addr().ok());
            if !secure {
                let read = BytesMut::new();
                return Ok((Established::Plain { stream, read }, ends));
            }
            let mut progress = Progress::default();
            let handshake = establish::dial(stream, &keys, &mut progress);
            let outcome = tokio::time::timeout(handshake_timeout, handshake).await;
            match outcome {
                Ok(result) => result.map(|link| (link, ends)),
                Err(_) if progress.answered => Err(DialError::HandshakeFailed),
                Err(_) => Err(DialError::Insecure),
            }
        };
        ctx.spawn(dial.into_actor(self).map(move |result, act, _ctx| {
            act.in_flight.remove(&addr);
            match result {
                Ok((link, (local, remote))) => {
                    act.spawner
                        .spawn(link, Direction::Outbound { addr }, local, remote);
                }
                Err(error) => act.peer.do_send(DialFailed { addr, error }),
            }
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
        let resolver = self.resolver.clone();
        let send = async move {
            let result = match connect(resolver.as_ref(), &addr, timeout, &span).await {
                Ok(mut stream) => {
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
                Err(error) => Err(error.to_string()),
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
