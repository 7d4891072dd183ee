//! `ConnectionActor`: one stream, framed both ways; frames in become typed messages to the PeerActor.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio_util::codec::FramedRead;
use tracing::{debug, trace, Instrument, Span};

use super::peer::{
    Advertise, AdvertiseReply, Broadcast, Closed, ConnectionRefused, Custom, Direct, DirectAck,
    Malformed, Opened, PeerActor, Ping, Pong, ReadEnded, Test,
};
use super::write_queue::{write_loop, write_queue};
use crate::codec::{CodecError, FrameCodec};
use crate::config::NodeConfig;
use crate::proto::{Body, ConnId, Direction, DisconnectReason, Frame, FrameError};

/// Initial read buffer of a connection; it grows as frames need. Small, so
/// that tens of thousands of idle in-memory links stay cheap.
const READ_BUFFER_INITIAL: usize = 1024;

/// What the PeerActor tells a connection (frames go straight into its [`WriteQueue`]).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum ToConnection {
    /// Flush what is queued, then close (a slow peer is closed at once).
    Close(DisconnectReason),
}

/// Owns one stream (TCP, or an in-memory duplex): reads frames as a
/// `StreamHandler` over `FramedRead`, writes them through a bounded queue.
pub struct ConnectionActor<S> {
    conn: ConnId,
    dir: Direction,
    remote: Option<String>,
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
    span: Span,
}

impl ConnectionSpawner {
    /// A spawner for the node whose PeerActor is `peer`.
    pub fn new(peer: Addr<PeerActor>, config: Arc<NodeConfig>, span: Span) -> Self {
        ConnectionSpawner {
            peer,
            ids: Arc::new(AtomicU64::new(1)),
            open: Arc::new(AtomicUsize::new(0)),
            config,
            span,
        }
    }

    /// True when the node holds `max_connections` already.
    pub fn full(&self) -> bool {
        self.open.load(Ordering::Relaxed) >= self.config.max_connections
    }

    /// Tells the node an inbound connection was refused (for its counters).
    pub fn refused(&self) {
        self.peer.do_send(ConnectionRefused);
    }

    /// Starts a ConnectionActor on `stream`.
    pub fn spawn<S>(&self, stream: S, dir: Direction, remote: Option<String>) -> ConnId
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let conn = ConnId(self.ids.fetch_add(1, Ordering::Relaxed));
        self.open.fetch_add(1, Ordering::Relaxed);
        ConnectionActor {
            open: self.open.clone(),
            conn,
            dir,
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

impl<S> ConnectionActor<S> {
    fn stop_with(&mut self, reason: DisconnectReason, ctx: &mut Context<Self>)
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        self.reason.get_or_insert(reason);
        ctx.stop();
    }
}

impl<S> Actor for ConnectionActor<S>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(stream) = self.stream.take() else {
            return ctx.stop();
        };
        let (read, write) = tokio::io::split(stream);
        let codec = FrameCodec::new(self.max_frame_len);
        ctx.add_stream(FramedRead::with_capacity(read, codec, READ_BUFFER_INITIAL));
        let (queue, reader) = write_queue(self.send_queue_bytes);
        let (close, closing) = oneshot::channel();
        self.close = Some(close);
        let writer = write_loop(write, reader, closing).instrument(self.span.clone());
        ctx.spawn(writer.into_actor(self).map(|result, act, ctx| {
            if let Err(error) = result {
                let _e = act.span.enter();
                debug!(conn = %act.conn, %error, "write failed");
            }
            act.stop_with(DisconnectReason::Closed, ctx);
        }));
        self.peer.do_send(Opened {
            conn: self.conn,
            dir: self.dir.clone(),
            remote: self.remote.clone(),
            outbox: ctx.address().recipient(),
            queue,
        });
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

impl<S> Handler<ToConnection> for ConnectionActor<S>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    type Result = ();

    fn handle(&mut self, msg: ToConnection, ctx: &mut Context<Self>) {
        let ToConnection::Close(reason) = msg;
        if reason == DisconnectReason::SlowPeer {
            debug!(parent: &self.span, conn = %self.conn, "send queue full, dropping slow peer");
            return self.stop_with(reason, ctx);
        }
        self.reason.get_or_insert(reason);
        // The writer flushes what is queued and shuts the stream; a peer that
        // never reads gets `close_timeout`.
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
        ctx.run_later(self.close_timeout, |act, ctx| {
            act.stop_with(DisconnectReason::Closed, ctx)
        });
    }
}

impl<S> StreamHandler<Result<Result<Frame, FrameError>, CodecError>> for ConnectionActor<S>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
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
        Body::Custom => peer.do_send(Custom { conn, frame }),
    }
}
