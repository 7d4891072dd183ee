//! `ConnectionActor`: one link (a framed byte stream, or an in-memory frame link); frames in become typed messages to the PeerActor.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio_util::codec::FramedRead;
use tracing::{debug, trace, Instrument, Span};

use super::peer::{
    Advertise, AdvertiseReply, Authenticated, Broadcast, CatchUp, Closed, ConnectionRefused,
    Custom, Direct, DirectAck, Graft, IHave, LinkFailed, Malformed, Opened, PeerActor, Ping, Pong,
    Prune, ReadEnded, Test,
};
use super::write_queue::{write_loop, write_queue, WriteQueue};
use crate::codec::{CodecError, FrameCodec};
use crate::config::NodeConfig;
use crate::proto::{Body, ConnId, Direction, DisconnectReason, Frame, FrameError, NodeKey};
use crate::secure::establish::{Established, Prefixed};
use crate::secure::{LinkKeys, NoiseWriter, SecureCodec};
use crate::transport::MemoryLink;

/// Initial read buffer of a byte-stream connection; it grows as frames need
/// (the codec keeps room for the next frame). Small, so that thousands of
/// idle TCP links stay cheap.
const READ_BUFFER_INITIAL: usize = 1024;

/// What the PeerActor tells a connection (frames go straight into its [`WriteQueue`]).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum ToConnection {
    /// Flush what is queued, then close (a slow peer is closed at once).
    Close(DisconnectReason),
}

/// What a [`ConnectionActor`] runs on: a byte stream set up as plaintext
/// (framed with the newline-JSON codec) or secure (the same frames sealed
/// in Noise messages), or a [`MemoryLink`], which carries frames as they are.
pub trait Link: Sized + Unpin + 'static {
    /// The key the link's secure handshake proved, if it had one.
    fn remote_key(&self) -> Option<NodeKey> {
        None
    }

    /// Starts reading into the actor and writing from a new queue. Returns
    /// the queue the PeerActor pushes frames into and, when a writer task
    /// drains it, the switch that tells that writer to flush and close.
    fn attach(
        self,
        act: &mut ConnectionActor<Self>,
        ctx: &mut Context<ConnectionActor<Self>>,
    ) -> (WriteQueue, Option<oneshot::Sender<()>>);
}

impl<S> Link for Established<S>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    fn remote_key(&self) -> Option<NodeKey> {
        match self {
            Established::Secure { transport, .. } => Some(transport.remote()),
            Established::Plain { .. } => None,
        }
    }

    fn attach(
        self,
        act: &mut ConnectionActor<Self>,
        ctx: &mut Context<ConnectionActor<Self>>,
    ) -> (WriteQueue, Option<oneshot::Sender<()>>) {
        // The bytes read while the link was set up come first.
        match self {
            Established::Plain { stream, read } => {
                let (rd, wr) = tokio::io::split(stream);
                let rd = Prefixed::new(read, rd);
                let codec = FrameCodec::new(act.max_frame_len);
                ctx.add_stream(FramedRead::with_capacity(rd, codec, READ_BUFFER_INITIAL));
                start_writer(wr, act, ctx)
            }
            Established::Secure {
                stream,
                transport,
                read,
            } => {
                let (sealer, opener) = transport.split();
                let (rd, wr) = tokio::io::split(stream);
                let rd = Prefixed::new(read, rd);
                let codec = SecureCodec::new(opener, act.max_frame_len);
                ctx.add_stream(FramedRead::with_capacity(rd, codec, READ_BUFFER_INITIAL));
                start_writer(NoiseWriter::new(wr, sealer), act, ctx)
            }
        }
    }
}

/// Starts the task writing the connection's queue to `out`.
fn start_writer<W, S>(
    out: W,
    act: &mut ConnectionActor<S>,
    ctx: &mut Context<ConnectionActor<S>>,
) -> (WriteQueue, Option<oneshot::Sender<()>>)
where
    W: AsyncWrite + Unpin + 'static,
    S: Link,
{
    let (queue, reader) = write_queue(act.send_queue_bytes);
    let (close, closing) = oneshot::channel();
    let writer = write_loop(out, reader, closing).instrument(act.span.clone());
    ctx.spawn(writer.into_actor(act).map(|result, act, ctx| {
        if let Err(error) = result {
            let _e = act.span.enter();
            debug!(conn = %act.conn, %error, "write failed");
        }
        act.stop_with(DisconnectReason::Closed, ctx);
    }));
    (queue, Some(close))
}

impl Link for MemoryLink {
    /// Frames pushed here are the other end's reads: no writer task, no codec.
    fn attach(
        self,
        act: &mut ConnectionActor<MemoryLink>,
        ctx: &mut Context<ConnectionActor<MemoryLink>>,
    ) -> (WriteQueue, Option<oneshot::Sender<()>>) {
        let MemoryLink { mut tx, rx, gate } = self;
        tx.set_limit(act.send_queue_bytes);
        ctx.add_stream(rx.into_frames(act.max_frame_len).gated(gate));
        (tx, None)
    }
}

/// Owns one link (a TCP stream, or an in-memory link): reads frames as a
/// `StreamHandler`, writes them through a bounded queue.
pub struct ConnectionActor<S> {
    conn: ConnId,
    dir: Direction,
    /// The socket's two ends (`None` on an in-memory link).
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    peer: Addr<PeerActor>,
    stream: Option<S>,
    /// Tells the writer to flush and close.
    close: Option<oneshot::Sender<()>>,
    reason: Option<DisconnectReason>,
    max_frame_len: usize,
    send_queue_bytes: usize,
    close_timeout: std::time::Duration,
    span: Span,
    open: Arc<AtomicUsize>,
}

/// Makes ConnectionActors for one node: numbers them and wires them to its PeerActor.
#[derive(Clone)]
pub struct ConnectionSpawner {
    peer: Addr<PeerActor>,
    ids: Arc<AtomicU64>,
    /// Connections of this node now open (started and not yet stopped).
    open: Arc<AtomicUsize>,
    config: Arc<NodeConfig>,
    /// The node's keys for secure links.
    keys: Arc<LinkKeys>,
    /// Connections still being set up (counted in `open` too).
    setting_up: Arc<AtomicUsize>,
    span: Span,
}

/// A place among `max_connections` held for a connection being set up (its
/// secure handshake); given back when dropped, unless a ConnectionActor
/// takes it over.
pub struct Slot {
    open: Option<Arc<AtomicUsize>>,
    setting_up: Arc<AtomicUsize>,
}

impl Slot {
    /// The place passes to a ConnectionActor, which gives it back when it stops.
    fn hand_over(mut self) {
        self.open = None;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.setting_up.fetch_sub(1, Ordering::Relaxed);
        if let Some(open) = self.open.take() {
            open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl ConnectionSpawner {
    /// A spawner for the node whose PeerActor is `peer`, with `keys` for its secure links.
    pub fn new(
        peer: Addr<PeerActor>,
        config: Arc<NodeConfig>,
        keys: Arc<LinkKeys>,
        span: Span,
    ) -> Self {
        ConnectionSpawner {
            peer,
            ids: Arc::new(AtomicU64::new(1)),
            open: Arc::new(AtomicUsize::new(0)),
            config,
            keys,
            setting_up: Arc::new(AtomicUsize::new(0)),
            span,
        }
    }

    /// The count of connections still being set up (the node adds it to its
    /// `connections` metric: they hold sockets too).
    pub fn setting_up(&self) -> Arc<AtomicUsize> {
        self.setting_up.clone()
    }

    /// The node's keys for secure links.
    pub fn keys(&self) -> &Arc<LinkKeys> {
        &self.keys
    }

    /// Holds a place for a connection being set up: counted as open until
    /// the slot is dropped or handed to [`ConnectionSpawner::spawn_in`].
    pub fn reserve(&self) -> Slot {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.setting_up.fetch_add(1, Ordering::Relaxed);
        Slot {
            open: Some(self.open.clone()),
            setting_up: self.setting_up.clone(),
        }
    }

    /// Tells the node a connection failed before it started (a secure
    /// handshake that failed or stalled, a plaintext one refused), for its counters.
    pub fn link_failed(&self, reason: DisconnectReason) {
        self.peer.do_send(LinkFailed { reason });
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// True when the node holds `max_connections` already.
    pub fn full(&self) -> bool {
        self.open.load(Ordering::Relaxed) >= self.config.max_connections
    }

    /// Tells the node an inbound connection was refused (for its counters).
    pub fn refused(&self) {
        self.peer.do_send(ConnectionRefused);
    }

    /// Starts a ConnectionActor on `stream`, whose socket ends are `local`
    /// and `remote` (`None` for in-memory links).
    pub fn spawn<S: Link>(
        &self,
        stream: S,
        dir: Direction,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> ConnId {
        self.spawn_in(self.reserve(), stream, dir, local, remote)
    }

    /// As [`ConnectionSpawner::spawn`], in the place `slot` holds.
    pub fn spawn_in<S: Link>(
        &self,
        slot: Slot,
        stream: S,
        dir: Direction,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> ConnId {
        let conn = ConnId(self.ids.fetch_add(1, Ordering::Relaxed));
        slot.hand_over();
        ConnectionActor {
            open: self.open.clone(),
            conn,
            dir,
            local,
            remote,
            peer: self.peer.clone(),
            stream: Some(stream),
            close: None,
            reason: None,
            max_frame_len: self.config.max_frame_len,
            send_queue_bytes: self.config.send_queue_bytes,
            close_timeout: self.config.close_timeout,
            span: self.span.clone(),
        }
        .start();
        conn
    }
}

impl<S: Link> ConnectionActor<S> {
    fn stop_with(&mut self, reason: DisconnectReason, ctx: &mut Context<Self>) {
        self.reason.get_or_insert(reason);
        ctx.stop();
    }
}

impl<S: Link> Actor for ConnectionActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(stream) = self.stream.take() else {
            return ctx.stop();
        };
        let key = stream.remote_key();
        let (queue, close) = stream.attach(self, ctx);
        self.close = close;
        self.peer.do_send(Opened {
            conn: self.conn,
            dir: self.dir.clone(),
            local: self.local,
            remote: self.remote,
            outbox: ctx.address().recipient(),
            queue,
        });
        // Before any frame of the stream: the mailbox keeps this order.
        if let Some(key) = key {
            self.peer.do_send(Authenticated {
                conn: self.conn,
                key,
            });
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    fn stopping(&mut self, _ctx: &mut Context<Self>) -> Running {
        self.peer.do_send(Closed {
            conn: self.conn,
            reason: self.reason.unwrap_or(DisconnectReason::Closed),
        });
        Running::Stop
    }
}

impl<S: Link> Handler<ToConnection> for ConnectionActor<S> {
    type Result = ();

    fn handle(&mut self, msg: ToConnection, ctx: &mut Context<Self>) {
        let ToConnection::Close(reason) = msg;
        if reason == DisconnectReason::SlowPeer {
            debug!(parent: &self.span, conn = %self.conn, "send queue full, dropping slow peer");
            return self.stop_with(reason, ctx);
        }
        self.reason.get_or_insert(reason);
        // The writer flushes what is queued and shuts the stream; a peer that
        // never reads gets `close_timeout`. An in-memory link has no writer:
        // what was pushed is already the other end's to read, and its stream
        // ends once this connection is gone.
        let Some(close) = self.close.take() else {
            return self.stop_with(reason, ctx);
        };
        let _ = close.send(());
        ctx.run_later(self.close_timeout, |act, ctx| {
            act.stop_with(DisconnectReason::Closed, ctx)
        });
    }
}

impl<S: Link> StreamHandler<Result<Result<Frame, FrameError>, CodecError>> for ConnectionActor<S> {
    fn handle(
        &mut self,
        item: Result<Result<Frame, FrameError>, CodecError>,
        ctx: &mut Context<Self>,
    ) {
        let conn = self.conn;
        match item {
            Ok(Ok(frame)) => {
                trace!(parent: &self.span, %conn, bytes = frame.wire_len(), "frame in");
                route(&self.peer, conn, frame);
            }
            Ok(Err(error)) => self.peer.do_send(Malformed { conn, error }),
            Err(CodecError::TooLong { max }) => {
                self.peer.do_send(Malformed {
                    conn,
                    error: FrameError::TooLong { max },
                });
                self.stop_with(DisconnectReason::FrameTooLong, ctx);
            }
            Err(CodecError::Decrypt) => {
                debug!(parent: &self.span, %conn, "noise message did not decrypt");
                self.stop_with(DisconnectReason::DecryptFailed, ctx);
            }
            Err(CodecError::Io(error)) => {
                debug!(parent: &self.span, %conn, %error, "read failed");
            }
        }
    }

    /// The remote side stopped sending. The PeerActor answers what came before
    /// (its mailbox is in order), then tells this connection to close, so a
    /// reply to the last frame is still written.
    fn finished(&mut self, _ctx: &mut Context<Self>) {
        self.reason.get_or_insert(DisconnectReason::Closed);
        self.peer.do_send(ReadEnded { conn: self.conn });
    }
}

/// Sends a frame to the PeerActor as the typed message of its kind.
fn route(peer: &Addr<PeerActor>, conn: ConnId, frame: Frame) {
    match frame.body() {
        Body::Ping { .. } => peer.do_send(Ping { conn, frame }),
        Body::Pong { .. } => peer.do_send(Pong { conn, frame }),
        Body::Advertise => peer.do_send(Advertise { conn, frame }),
        Body::AdvertiseReply { .. } => peer.do_send(AdvertiseReply { conn, frame }),
        Body::Broadcast { .. } => peer.do_send(Broadcast { conn, frame }),
        Body::Test { .. } => peer.do_send(Test { conn, frame }),
        Body::Direct { .. } => peer.do_send(Direct { conn, frame }),
        Body::DirectAck { .. } => peer.do_send(DirectAck { conn, frame }),
        Body::IHave { .. } => peer.do_send(IHave { conn, frame }),
        Body::Graft { .. } => peer.do_send(Graft { conn, frame }),
        Body::Prune => peer.do_send(Prune { conn, frame }),
        Body::Digest { .. } | Body::Summary { .. } | Body::Pull { .. } | Body::History { .. } => {
            peer.do_send(CatchUp { conn, frame })
        }
        Body::Custom => peer.do_send(Custom { conn, frame }),
    }
}
