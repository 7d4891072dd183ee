//! The PeerActor's side of the history database: `Persist` and `ReserveFeed` carried out, peers recorded, failures counted and told once.
//!
//! Without a database (no data directory, or no `sqlite` feature) nothing is
//! written and a feed reservation is answered at once.

use actix::prelude::*;

use super::PeerActor;
use crate::error::Result;
use crate::history::HistoryEntry;
use crate::proto::{Event, Frame, InEvent, OutEvent};

#[cfg(feature = "sqlite")]
use crate::history::{
    actor::{HistoryDb, Query, ReserveFeed, WriteBatch},
    batch::{Batcher, Next},
    now_ms, Write,
};

/// The PeerActor's link to its [`HistoryDb`].
#[cfg(feature = "sqlite")]
pub struct HistoryLink {
    db: Addr<HistoryDb>,
    /// The database file (for errors).
    path: std::path::PathBuf,
    batcher: Batcher,
    /// `Event::StorageFailed` was emitted (it is emitted once).
    told: bool,
}

#[cfg(feature = "sqlite")]
impl HistoryLink {
    /// A link to `db` (the database at `path`), batching as `config` says.
    pub fn new(
        db: Addr<HistoryDb>,
        path: std::path::PathBuf,
        config: &crate::config::StorageConfig,
    ) -> HistoryLink {
        HistoryLink {
            db,
            path,
            batcher: Batcher::new(config),
            told: false,
        }
    }
}

/// How a [`WriteBatch`] went; `tracked`: it was the batcher's transaction
/// under way (not one flushed before a query or at shutdown).
#[cfg(feature = "sqlite")]
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct BatchDone {
    /// The database's answer.
    pub result: std::result::Result<(), String>,
    /// Whether the batcher waits for it.
    pub tracked: bool,
}

#[cfg(feature = "sqlite")]
impl Handler<BatchDone> for PeerActor {
    type Result = ();

    fn handle(&mut self, msg: BatchDone, ctx: &mut Context<Self>) {
        if let Err(reason) = msg.result {
            self.storage_failed(reason);
        }
        if msg.tracked {
            if let Some(next) = self.history.as_mut().map(|l| l.batcher.done()) {
                self.carry_out(next, ctx);
            }
        }
    }
}

/// The newest `n` messages of the node's history (empty without a database).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<HistoryEntry>>")]
pub struct GetHistory(pub usize);

impl PeerActor {
    /// Gives the actor its history database: broadcasts accepted as new are
    /// written there from now on.
    #[cfg(feature = "sqlite")]
    pub fn attach_history(&mut self, link: HistoryLink) {
        self.state.set_persist(true);
        self.history = Some(link);
    }

    /// `OutEvent::Persist`: the frame joins the next transaction.
    pub(super) fn persist(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        #[cfg(feature = "sqlite")]
        self.push_write(
            Write::Message {
                frame,
                at_ms: now_ms(),
            },
            ctx,
        );
        #[cfg(not(feature = "sqlite"))]
        let _ = (frame, ctx);
    }

    /// A `PeerConnected` event: the peer is remembered (for bootstrapping later).
    pub(super) fn record_peer(&mut self, event: &Event, ctx: &mut Context<Self>) {
        #[cfg(feature = "sqlite")]
        if let (Event::PeerConnected { peer, addr, .. }, Some(_)) = (event, &self.history) {
            let write = Write::Peer {
                id: peer.clone(),
                addr: addr.clone(),
                key: None,
                at_ms: now_ms(),
            };
            self.push_write(write, ctx);
        }
        #[cfg(not(feature = "sqlite"))]
        let _ = (event, ctx);
    }

    /// `OutEvent::ReserveFeed`: stored and synced, then answered with
    /// `InEvent::FeedReserved`; without a database answered at once (into `more`).
    /// A reservation that cannot be stored is a storage failure; it is
    /// answered anyway (the node goes on in memory).
    pub(super) fn reserve_feed(
        &mut self,
        limit: u64,
        more: &mut Vec<OutEvent>,
        ctx: &mut Context<Self>,
    ) {
        #[cfg(feature = "sqlite")]
        if let Some(link) = &self.history {
            let request = link.db.send(ReserveFeed { limit });
            ctx.spawn(request.into_actor(self).map(move |result, act, ctx| {
                if let Err(reason) = result.unwrap_or_else(|e| Err(e.to_string())) {
                    act.storage_failed(reason);
                }
                act.apply(InEvent::FeedReserved { limit }, ctx);
            }));
            return;
        }
        let _ = ctx;
        let now = self.now();
        let _e = self.span.enter();
        self.state
            .handle(InEvent::FeedReserved { limit }, now, more);
    }

    /// Sends everything waiting to the database now (before a query, and
    /// at shutdown): the database's queue keeps the order.
    pub(super) fn flush_history(&mut self, ctx: &mut Context<Self>) {
        #[cfg(feature = "sqlite")]
        {
            let Some(link) = &mut self.history else {
                return;
            };
            for writes in link.batcher.drain() {
                link.db.do_send(WriteBatch {
                    writes,
                    done: ctx.address().recipient(),
                    tracked: false,
                });
            }
        }
        #[cfg(not(feature = "sqlite"))]
        let _ = ctx;
    }

    #[cfg(feature = "sqlite")]
    fn push_write(&mut self, write: Write, ctx: &mut Context<Self>) {
        let Some(link) = &mut self.history else {
            return;
        };
        match link.batcher.push(write) {
            Some(next) => self.carry_out(next, ctx),
            None => self.state.count_history_writes_dropped(1),
        }
    }

    #[cfg(feature = "sqlite")]
    fn carry_out(&mut self, next: Next, ctx: &mut Context<Self>) {
        let Some(link) = &self.history else {
            return;
        };
        match next {
            Next::Wait => {}
            Next::Arm(delay) => {
                ctx.run_later(delay, |act, ctx| {
                    if let Some(next) = act.history.as_mut().map(|l| l.batcher.timer_fired()) {
                        act.carry_out(next, ctx);
                    }
                });
            }
            Next::Send(writes) => link.db.do_send(WriteBatch {
                writes,
                done: ctx.address().recipient(),
                tracked: true,
            }),
        }
    }

    /// Counts a failed write; the first one is logged and told as `Event::StorageFailed`.
    #[cfg(feature = "sqlite")]
    fn storage_failed(&mut self, reason: String) {
        self.state.count_history_write_failure();
        let Some(link) = &mut self.history else {
            return;
        };
        if !link.told {
            link.told = true;
            let path = link.path.display().to_string();
            tracing::error!(parent: &self.span, %path, %reason, "history database write failed; going on in memory");
            self.emit(Event::StorageFailed { reason });
        }
    }
}

impl Handler<GetHistory> for PeerActor {
    type Result = ResponseFuture<Result<Vec<HistoryEntry>>>;

    fn handle(&mut self, GetHistory(n): GetHistory, ctx: &mut Context<Self>) -> Self::Result {
        #[cfg(feature = "sqlite")]
        if let Some(link) = &self.history {
            let (db, path) = (link.db.clone(), link.path.clone());
            self.flush_history(ctx);
            return Box::pin(async move {
                let database = |reason: String| crate::Error::Database { path, reason };
                match db.send(Query(n)).await {
                    Ok(result) => result.map_err(database),
                    Err(e) => Err(database(e.to_string())),
                }
            });
        }
        let _ = (n, ctx);
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Every broadcast the node's history store holds (in memory).
#[derive(Debug, Message)]
#[rtype(result = "Vec<Frame>")]
pub struct HeldHistory;

impl Handler<HeldHistory> for PeerActor {
    type Result = Vec<Frame>;

    fn handle(&mut self, _: HeldHistory, _: &mut Context<Self>) -> Vec<Frame> {
        self.state.history_frames()
    }
}
