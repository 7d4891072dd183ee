//! `PeerActor`: one per node; runs the `NodeState` and carries out what it decides.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;
use tracing::{debug, error, Span};

use super::acceptor::Acceptor;
use super::connection::ToConnection;
use super::registry::{Dial, DialPlain, OneShot, RegistryActor};
use super::timers::Timers;
use super::write_queue::{PushError, WriteQueue};
use crate::config::PINS_SAVE_DELAY;
use crate::events::{Offered, Subscriber};
use crate::handler::{MessageHandler, Reply};
use crate::proto::{
    Command, ConnId, DialError, Direction, DisconnectReason, Envelope, Event, Frame, FrameError,
    InEvent, Instant, MessageId, NodeKey, NodeState, OutEvent, PeerAddr,
};

mod api;
mod history;
mod trust_api;

pub use api::{
    Apply, DirectOutcome, GetMetrics, GetPeer, GetPeers, SendDirect, Shutdown, Subscribe,
};
#[cfg(feature = "sqlite")]
pub use history::{BatchDone, HistoryLink};
pub use history::{GetHistory, HeldHistory};
pub use trust_api::{GetPins, SendBroadcast, SetPin};

/// Typed messages a ConnectionActor sends for each frame kind it decodes.
macro_rules! inbound {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Message)]
        #[rtype(result = "()")]
        pub struct $name {
            /// The connection it came on.
            pub conn: ConnId,
            /// The frame, parsed once.
            pub frame: Frame,
        }

        impl Handler<$name> for PeerActor {
            type Result = ();
            fn handle(&mut self, msg: $name, ctx: &mut Context<Self>) {
                self.apply(InEvent::Received { conn: msg.conn, frame: msg.frame }, ctx);
            }
        }
    )*};
}

inbound! {
    /// A `PING` frame.
    Ping,
    /// A `PONG` frame.
    Pong,
    /// An `ADVERTISE` frame.
    Advertise,
    /// An `ADVERTISE_REPLY` frame.
    AdvertiseReply,
    /// A `BROADCAST` frame.
    Broadcast,
    /// A `TEST` frame.
    Test,
    /// A `DIRECT` frame.
    Direct,
    /// A `DIRECT_ACK` frame.
    DirectAck,
    /// An `IHAVE` frame (tree announcements).
    IHave,
    /// A `GRAFT` frame (tree repair).
    Graft,
    /// A `PRUNE` frame (tree pruning).
    Prune,
    /// A catch-up frame: `DIGEST`, `SUMMARY`, `PULL` or `HISTORY`.
    CatchUp,
    /// A frame of an application type.
    Custom,
}

/// A connection started; `outbox` is where its frames go.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Opened {
    pub conn: ConnId,
    pub dir: Direction,
    /// The socket's ends (`None` on an in-memory link).
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub outbox: Recipient<ToConnection>,
    pub queue: WriteQueue,
}

/// A connection's secure handshake proved the peer's `key` (sent after
/// [`Opened`], before any frame).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Authenticated {
    pub conn: ConnId,
    pub key: NodeKey,
}

impl Handler<Authenticated> for PeerActor {
    type Result = ();

    fn handle(&mut self, msg: Authenticated, ctx: &mut Context<Self>) {
        let (conn, key) = (msg.conn, msg.key);
        self.apply(InEvent::Authenticated { conn, key }, ctx);
    }
}

/// A connection failed while it was set up, before it was opened (for the counters).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct LinkFailed {
    pub reason: DisconnectReason,
}

impl Handler<LinkFailed> for PeerActor {
    type Result = ();

    fn handle(&mut self, msg: LinkFailed, _ctx: &mut Context<Self>) {
        self.state.count_link_failure(msg.reason);
    }
}

/// The listener refused a connection at `max_connections`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ConnectionRefused;

impl Handler<ConnectionRefused> for PeerActor {
    type Result = ();

    fn handle(&mut self, _: ConnectionRefused, _ctx: &mut Context<Self>) {
        self.state.count_refused_connection();
    }
}

/// A connection stopped.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Closed {
    pub conn: ConnId,
    pub reason: DisconnectReason,
}

/// The remote side of a connection stopped sending.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ReadEnded {
    pub conn: ConnId,
}

/// A line that is not a valid frame.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Malformed {
    pub conn: ConnId,
    pub error: FrameError,
}

/// A one-shot send the registry was handed is done (delivered or failed).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct OneShotFinished;

impl Handler<OneShotFinished> for PeerActor {
    type Result = ();

    fn handle(&mut self, _: OneShotFinished, _ctx: &mut Context<Self>) {
        self.state.one_shot_finished();
    }
}

/// A dial that produced no connection.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DialFailed {
    pub addr: PeerAddr,
    pub error: DialError,
}

/// How often a watched send queue is looked at until it is low (answers to
/// `GRAFT`s wait for it): short against a link's drain time, long against a
/// timer's cost.
const QUEUE_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// How the PeerActor reaches one of its connections.
struct ConnHandle {
    /// For closing it.
    outbox: Recipient<ToConnection>,
    /// Frames go straight in here, one actor hop fewer per frame.
    queue: WriteQueue,
}

/// Runs one node's [`NodeState`]: turns what arrives into `InEvent`s and
/// carries out the `OutEvent`s (frames to connections, dials to the registry,
/// timers to the actor context, events to subscribers).
pub struct PeerActor {
    state: NodeState,
    epoch: tokio::time::Instant,
    timers: Timers,
    conns: HashMap<ConnId, ConnHandle>,
    registry: Option<Addr<RegistryActor>>,
    acceptor: Option<Acceptor>,
    subscribers: Vec<Subscriber>,
    /// `send_to` callers waiting for their ack.
    pending_direct: HashMap<MessageId, oneshot::Sender<DirectOutcome>>,
    handlers: Arc<HashMap<String, MessageHandler>>,
    event_buffer: usize,
    stopping: Option<Vec<oneshot::Sender<()>>>,
    listener_closed: bool,
    /// TCP connections accepted and still in their secure handshake.
    setting_up: Option<Arc<std::sync::atomic::AtomicUsize>>,
    span: Span,
    /// Where the pin table is saved when it changes (`DIR/pins`), if anywhere.
    pins_file: Option<std::path::PathBuf>,
    /// The history database, for a node with a data directory.
    #[cfg(feature = "sqlite")]
    history: Option<HistoryLink>,
    /// The pin table changed and a save is scheduled.
    pins_dirty: bool,
}

impl PeerActor {
    /// A PeerActor for `state`. `registry` and `acceptor` are attached by [`PeerActor::attach`].
    pub fn new(
        state: NodeState,
        handlers: Arc<HashMap<String, MessageHandler>>,
        event_buffer: usize,
        span: Span,
    ) -> Self {
        PeerActor {
            state,
            epoch: tokio::time::Instant::now(),
            timers: Timers::default(),
            conns: HashMap::new(),
            registry: None,
            acceptor: None,
            subscribers: Vec::new(),
            pending_direct: HashMap::new(),
            handlers,
            event_buffer: event_buffer.max(1),
            stopping: None,
            listener_closed: false,
            setting_up: None,
            span,
            #[cfg(feature = "sqlite")]
            history: None,
            pins_file: None,
            pins_dirty: false,
        }
    }

    /// Saves the pin table to `path` whenever it changes.
    pub fn save_pins_to(&mut self, path: std::path::PathBuf) {
        self.pins_file = Some(path);
    }

    /// Saves the pins [`PINS_SAVE_DELAY`] after the first change of a
    /// burst: a flood of new names costs one write a second, not one each.
    fn pins_changed(&mut self, ctx: &mut Context<Self>) {
        if self.pins_file.is_none() || self.pins_dirty {
            return;
        }
        self.pins_dirty = true;
        ctx.run_later(PINS_SAVE_DELAY, |actor, _| actor.save_pins());
    }

    /// Writes the pin table now if it changed since it was last written.
    fn save_pins(&mut self) {
        if !std::mem::take(&mut self.pins_dirty) {
            return;
        }
        if let Some(path) = &self.pins_file {
            if let Err(error) = crate::pins_file::save(path, self.state.pins()) {
                let _e = self.span.enter();
                tracing::warn!(path = %path.display(), %error, "cannot save pins");
            }
        }
    }

    /// Gives the actor its registry and listener (made once its address exists).
    pub fn attach(&mut self, registry: Addr<RegistryActor>, acceptor: Acceptor) {
        self.registry = Some(registry);
        self.acceptor = Some(acceptor);
    }

    /// Counts connections still being set up in `count` (the spawner's).
    pub fn count_setups(&mut self, count: Arc<std::sync::atomic::AtomicUsize>) {
        self.setting_up = Some(count);
    }

    fn setups_in_progress(&self) -> usize {
        self.setting_up
            .as_ref()
            .map_or(0, |n| n.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn now(&self) -> Instant {
        Instant::from_epoch(self.epoch.elapsed())
    }

    fn apply(&mut self, event: InEvent, ctx: &mut Context<Self>) {
        let now = self.now();
        let mut out = Vec::new();
        {
            let _e = self.span.enter();
            self.state.handle(event, now, &mut out);
        }
        self.execute(out, ctx);
    }

    fn execute(&mut self, mut out: Vec<OutEvent>, ctx: &mut Context<Self>) {
        while !out.is_empty() {
            let mut more = Vec::new();
            for event in out {
                self.execute_one(event, &mut more, ctx);
            }
            out = more;
        }
    }

    fn execute_one(&mut self, event: OutEvent, more: &mut Vec<OutEvent>, ctx: &mut Context<Self>) {
        match event {
            OutEvent::Send { conn, frame } => {
                if let Some(handle) = self.conns.get(&conn) {
                    if let Err(PushError::Full) = handle.queue.push(frame) {
                        // A peer that does not read: cut it off rather than grow.
                        handle
                            .outbox
                            .do_send(ToConnection::Close(DisconnectReason::SlowPeer));
                    }
                }
            }
            OutEvent::Close { conn, reason } => {
                if let Some(handle) = self.conns.get(&conn) {
                    handle.outbox.do_send(ToConnection::Close(reason));
                }
            }
            OutEvent::SendOneShot { addr, frame } => match &self.registry {
                Some(registry) if self.stopping.is_none() => {
                    registry.do_send(OneShot { addr, frame })
                }
                _ => self.state.one_shot_finished(),
            },
            OutEvent::Dial(addr) => match &self.registry {
                Some(registry) if self.stopping.is_none() && !self.state.config().secure_links => {
                    registry.do_send(DialPlain(addr))
                }
                Some(registry) if self.stopping.is_none() => registry.do_send(Dial(addr)),
                _ => {}
            },
            OutEvent::DialPlain(addr) => match &self.registry {
                Some(registry) if self.stopping.is_none() => registry.do_send(DialPlain(addr)),
                _ => {}
            },
            OutEvent::Emit(event) => {
                self.record_peer(&event, ctx);
                self.emit(event)
            }
            OutEvent::Handle { conn, frame } => {
                let envelope = frame.envelope().clone();
                if let Some(reply) = self.run_handler(&envelope) {
                    let cmd = Command::Reply {
                        conn,
                        msg_type: reply.msg_type,
                        msg: reply.msg,
                    };
                    let now = self.now();
                    let _e = self.span.enter();
                    if let Err(error) = self.state.command(cmd, now, more) {
                        debug!(%error, "handler reply not sent");
                    }
                }
                self.emit(Event::Custom {
                    from: envelope.originator.clone(),
                    envelope: Box::new(envelope),
                });
            }
            OutEvent::Schedule { delay, timer } => {
                let now = tokio::time::Instant::now();
                if let Some(at) = self.timers.schedule(now, delay, timer) {
                    self.arm(at, ctx);
                }
            }
            OutEvent::WatchQueue { conn } => self.watch_queue(conn, ctx),
            OutEvent::PinsChanged => self.pins_changed(ctx),
            // Written to the history database, if there is one (peer/history.rs).
            OutEvent::Persist { frame } => self.persist(frame, ctx),
            OutEvent::ReserveFeed { limit } => self.reserve_feed(limit, more, ctx),
        }
    }

    /// Tells the state when `conn`'s send queue is low: at once (on the next
    /// turn of the actor) if it is, else after looking again every [`QUEUE_POLL`].
    fn watch_queue(&mut self, conn: ConnId, ctx: &mut Context<Self>) {
        let Some(handle) = self.conns.get(&conn) else {
            return;
        };
        let delay = if handle.queue.is_low() {
            std::time::Duration::ZERO
        } else {
            QUEUE_POLL
        };
        ctx.run_later(delay, move |act, ctx| {
            match act.conns.get(&conn).map(|h| h.queue.is_low()) {
                Some(true) => act.apply(InEvent::QueueLow { conn }, ctx),
                Some(false) => act.watch_queue(conn, ctx),
                None => {}
            }
        });
    }

    /// Arms the one actix timer for `at`; when it fires, every due timer runs.
    fn arm(&mut self, at: tokio::time::Instant, ctx: &mut Context<Self>) {
        let delay = at.saturating_duration_since(tokio::time::Instant::now());
        ctx.run_later(delay, |act, ctx| {
            let (fired, next) = act.timers.fire(tokio::time::Instant::now());
            for timer in fired {
                act.apply(InEvent::TimerFired(timer), ctx);
            }
            if let Some(at) = next {
                act.arm(at, ctx);
            }
        });
    }

    fn emit(&mut self, event: Event) {
        match &event {
            Event::Delivered { id, round_trip, .. } => {
                if let Some(waiter) = self.pending_direct.remove(id) {
                    let _ = waiter.send(Ok(crate::node::Delivered {
                        id: *id,
                        round_trip: *round_trip,
                    }));
                }
            }
            Event::DeliveryTimeout { id, to } => {
                if let Some(waiter) = self.pending_direct.remove(id) {
                    let _ = waiter.send(Err(crate::Error::DeliveryTimeout {
                        id: *id,
                        to: to.clone(),
                    }));
                }
            }
            _ => {}
        }
        let mut dropped = 0;
        self.subscribers.retain(|sub| match sub.offer(&event) {
            Offered::Sent => true,
            Offered::Missed => {
                dropped += 1;
                true
            }
            Offered::Closed => false,
        });
        if dropped > 0 {
            let _e = self.span.enter();
            debug!(dropped, "event buffer full, subscriber missed an event");
            self.state.count_dropped_events(dropped);
        }
    }

    /// Runs the application's handler for `envelope`. A handler that panics
    /// is logged and counted, and the node goes on (this needs the default
    /// `panic = "unwind"`: with `abort` the process ends).
    fn run_handler(&mut self, envelope: &Envelope) -> Option<Reply> {
        let handler = self.handlers.get(&envelope.msg_type)?;
        // Unwind safe in fact: the handler borrows nothing of the node but an
        // envelope without interior mutability, so a panic leaves no state of
        // the node half-changed (its own captured state is the application's).
        match catch_unwind(AssertUnwindSafe(|| handler(envelope))) {
            Ok(reply) => reply,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-text panic".to_string());
                let _e = self.span.enter();
                error!(msg_type = %envelope.msg_type, from = %envelope.originator, panic = %what, "message handler panicked");
                self.state.count_handler_panic();
                None
            }
        }
    }

    fn finish_if_done(&mut self, ctx: &mut Context<Self>) {
        if self.listener_closed && self.conns.is_empty() {
            if self.stopping.is_some() {
                self.flush_history(ctx);
            }
            if let Some(waiters) = self.stopping.take() {
                for done in waiters {
                    let _ = done.send(());
                }
                ctx.stop();
            }
        }
    }
}

impl Actor for PeerActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.save_pins();
    }

    fn started(&mut self, ctx: &mut Context<Self>) {
        let mut out = Vec::new();
        let now = self.now();
        self.state.start(now, &mut out);
        self.execute(out, ctx);
    }
}

impl Handler<Opened> for PeerActor {
    type Result = ();

    fn handle(&mut self, msg: Opened, ctx: &mut Context<Self>) {
        if self.stopping.is_some() {
            msg.outbox
                .do_send(ToConnection::Close(DisconnectReason::Shutdown));
        }
        let handle = ConnHandle {
            outbox: msg.outbox,
            queue: msg.queue,
        };
        self.conns.insert(msg.conn, handle);
        self.apply(
            InEvent::Connected {
                conn: msg.conn,
                dir: msg.dir,
                local: msg.local,
                remote: msg.remote,
            },
            ctx,
        );
    }
}

impl Handler<Closed> for PeerActor {
    type Result = ();

    fn handle(&mut self, msg: Closed, ctx: &mut Context<Self>) {
        self.conns.remove(&msg.conn);
        if msg.reason == DisconnectReason::SlowPeer {
            self.state.count_slow_peer();
        }
        self.apply(
            InEvent::Disconnected {
                conn: msg.conn,
                reason: msg.reason,
            },
            ctx,
        );
        self.finish_if_done(ctx);
    }
}

impl Handler<ReadEnded> for PeerActor {
    type Result = ();

    fn handle(&mut self, msg: ReadEnded, _ctx: &mut Context<Self>) {
        if let Some(ConnHandle { outbox, .. }) = self.conns.get(&msg.conn) {
            outbox.do_send(ToConnection::Close(DisconnectReason::Closed));
        }
    }
}

impl Handler<Malformed> for PeerActor {
    type Result = ();

    fn handle(&mut self, msg: Malformed, ctx: &mut Context<Self>) {
        self.apply(
            InEvent::Malformed {
                conn: msg.conn,
                error: msg.error,
            },
            ctx,
        );
    }
}

impl Handler<DialFailed> for PeerActor {
    type Result = ();

    fn handle(&mut self, msg: DialFailed, ctx: &mut Context<Self>) {
        self.apply(
            InEvent::DialFailed {
                addr: msg.addr,
                error: msg.error,
            },
            ctx,
        );
    }
}
