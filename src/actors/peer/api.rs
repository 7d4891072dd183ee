//! The messages a `NodeHandle` sends its PeerActor: commands, queries, subscribe, shutdown.

use actix::prelude::*;
use tokio::sync::oneshot;
use tracing::debug;

use super::PeerActor;
use crate::actors::connection::ToConnection;
use crate::actors::registry::StopRegistry;
use crate::error::Result;
use crate::events::{subscription, EventStream};
use crate::proto::{Command, DisconnectReason, MessageId, Metrics, PeerId, PeerInfo};

/// An application command.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct Apply(pub Command);

/// The outcome of a `DIRECT` sent with [`SendDirect`].
pub type DirectOutcome = Result<crate::node::Delivered>;

/// Send a direct message; the receiver resolves when it is acknowledged or times out.
#[derive(Debug, Message)]
#[rtype(result = "Result<oneshot::Receiver<DirectOutcome>>")]
pub struct SendDirect {
    pub to: PeerId,
    pub text: String,
}

/// The registered peers.
#[derive(Debug, Message)]
#[rtype(result = "Vec<PeerInfo>")]
pub struct GetPeers;

/// One registered peer.
#[derive(Debug, Message)]
#[rtype(result = "Option<PeerInfo>")]
pub struct GetPeer(pub PeerId);

/// The node's counters.
#[derive(Debug, Message)]
#[rtype(result = "Metrics")]
pub struct GetMetrics;

/// A new subscriber to the node's events.
#[derive(Debug, Message)]
#[rtype(result = "EventStream")]
pub struct Subscribe;

/// Stop the node; `done` fires when every connection and the listener are closed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown {
    pub done: oneshot::Sender<()>,
}

impl Handler<Apply> for PeerActor {
    type Result = Result<()>;

    fn handle(&mut self, Apply(cmd): Apply, ctx: &mut Context<Self>) -> Result<()> {
        let now = self.now();
        let mut out = Vec::new();
        let result = {
            let _e = self.span.enter();
            self.state.command(cmd, now, &mut out)
        };
        self.execute(out, ctx);
        result.map_err(Into::into)
    }
}

impl Handler<SendDirect> for PeerActor {
    type Result = Result<oneshot::Receiver<DirectOutcome>>;

    fn handle(&mut self, msg: SendDirect, ctx: &mut Context<Self>) -> Self::Result {
        let id = MessageId::from(uuid::Uuid::new_v4());
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let mut out = Vec::new();
        let result = {
            let _e = self.span.enter();
            self.state.direct(id, msg.to, msg.text, now, &mut out)
        };
        // Under the id it went out under (a signed one's is derived), before
        // `out` runs: a message to this node itself is settled in it.
        if let Ok(sent) = result {
            self.pending_direct.insert(sent, tx);
        }
        self.execute(out, ctx);
        result.map(|_| rx).map_err(Into::into)
    }
}

impl Handler<GetPeers> for PeerActor {
    type Result = Vec<PeerInfo>;

    fn handle(&mut self, _: GetPeers, _ctx: &mut Context<Self>) -> Vec<PeerInfo> {
        self.state.peers(self.now())
    }
}

impl Handler<GetPeer> for PeerActor {
    type Result = Option<PeerInfo>;

    fn handle(&mut self, GetPeer(id): GetPeer, _ctx: &mut Context<Self>) -> Option<PeerInfo> {
        self.state.peer(&id, self.now())
    }
}

impl Handler<GetMetrics> for PeerActor {
    type Result = MessageResult<GetMetrics>;

    fn handle(&mut self, _: GetMetrics, _ctx: &mut Context<Self>) -> Self::Result {
        let mut metrics = self.state.metrics();
        metrics.connections += self.setups_in_progress() as u64;
        MessageResult(metrics)
    }
}

impl Handler<Subscribe> for PeerActor {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, _: Subscribe, _ctx: &mut Context<Self>) -> Self::Result {
        let (sub, stream) = subscription(self.event_buffer);
        self.subscribers.push(sub);
        MessageResult(stream)
    }
}

impl Handler<Shutdown> for PeerActor {
    type Result = ();

    fn handle(&mut self, msg: Shutdown, ctx: &mut Context<Self>) {
        if let Some(waiters) = &mut self.stopping {
            waiters.push(msg.done);
            return;
        }
        debug!(parent: &self.span, "shutting down");
        self.save_pins();
        self.stopping = Some(vec![msg.done]);
        if let Some(registry) = self.registry.take() {
            registry.do_send(StopRegistry);
        }
        for handle in self.conns.values() {
            handle
                .outbox
                .do_send(ToConnection::Close(DisconnectReason::Shutdown));
        }
        match self.acceptor.take() {
            Some(acceptor) => {
                let _ = acceptor.stop.send(());
                ctx.spawn(acceptor.done.into_actor(self).map(|_, act, ctx| {
                    act.listener_closed = true;
                    act.finish_if_done(ctx);
                }));
            }
            None => {
                self.listener_closed = true;
                self.finish_if_done(ctx);
            }
        }
    }
}
