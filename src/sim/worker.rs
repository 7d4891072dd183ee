//! `Worker`: handles the events of a range of nodes, logging in order what they cause elsewhere.
//!
//! Handling an event for node `i` reads and changes only node `i`; everything
//! else it causes (frames and timers to queue, dials, deliveries and
//! registrations to track) goes into the worker's log, which the network
//! replays afterwards. Two workers on disjoint node ranges can therefore run
//! on two threads, and replaying the lower range's log first gives exactly
//! the run one worker over all nodes would have given.

use tracing::{debug, trace};

use std::time::Duration;

use super::node::{nanos, node_addr, parse_node_id, Ev, SimNode, Slow};
use super::report::KindCounts;
use crate::proto::{
    Body, ConnId, DialError, Direction, DisconnectReason, Event, InEvent, Instant, MessageId,
    OutEvent, PeerAddr, Timer,
};

/// Something handling a node's event asks of the rest of the network, in order.
#[derive(Debug)]
pub(super) enum Effect {
    /// Queue `ev` at time `at` (nanoseconds).
    Push(u64, Ev),
    /// `node` dials `addr`.
    Dial(u32, PeerAddr),
    /// `node` delivered broadcast `id`, whose copy crossed `hop` links.
    Delivered { node: u32, id: MessageId, hop: u32 },
    /// `node` registered `peer` (`None`: an id that names no model node).
    Registered { node: u32, peer: Option<u32> },
    /// `node` dropped `peer`.
    Dropped { peer: u32 },
}

/// Reusable buffers of a worker.
#[derive(Debug, Default)]
pub(super) struct Buffers {
    pub(super) out: Vec<OutEvent>,
    pub(super) log: Vec<Effect>,
}

/// Counts a worker keeps, added to the network's when its log is replayed.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tally {
    pub(super) frames_sent: u64,
    pub(super) bytes_sent: u64,
    pub(super) frames_lost: u64,
    /// Frames by kind (payload, control) and payload taken in.
    pub(super) kinds: KindCounts,
}

/// Handles events for the nodes `base..base + nodes.len()`.
pub(super) struct Worker<'a> {
    nodes: &'a mut [SimNode],
    base: u32,
    now: u64,
    pub(super) bufs: Buffers,
    pub(super) tally: Tally,
}

impl<'a> Worker<'a> {
    pub(super) fn new(nodes: &'a mut [SimNode], base: u32, now: u64, bufs: Buffers) -> Self {
        Worker {
            nodes,
            base,
            now,
            bufs,
            tally: Tally::default(),
        }
    }

    fn node(&mut self, i: u32) -> &mut SimNode {
        &mut self.nodes[(i - self.base) as usize]
    }

    /// Handles one event for a node of this worker's range ([`Ev::is_local`]).
    pub(super) fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Frame {
                node,
                conn,
                hop,
                frame,
            } => {
                let conn = ConnId(conn.into());
                if matches!(frame.body(), Body::Broadcast { .. }) && self.node(node).state.is_some()
                {
                    self.tally.kinds.payload_received += 1;
                }
                self.deliver(node, InEvent::Received { conn, frame }, hop);
            }
            Ev::Handshake { node, conn } => {
                let timer = Timer::Handshake(ConnId(conn.into()));
                self.deliver(node, InEvent::TimerFired(timer), 0);
            }
            Ev::KeepAlive { node, inc } => {
                if self.node(node).incarnation == inc {
                    self.deliver(node, InEvent::TimerFired(Timer::KeepAlive), 0);
                }
            }
            Ev::Established { node, conn } => {
                let Some(end) = self.node(node).link_end(conn) else {
                    return;
                };
                let dir = Direction::Outbound {
                    addr: node_addr(end.peer),
                };
                let (conn, local, remote) = (ConnId(conn.into()), None, None);
                let ev = InEvent::Connected {
                    conn,
                    dir,
                    local,
                    remote,
                };
                self.deliver(node, ev, 0);
            }
            Ev::Refused { node, inc, target } => {
                if self.node(node).incarnation == inc {
                    let addr = node_addr(target);
                    let error = DialError::Refused;
                    self.deliver(node, InEvent::DialFailed { addr, error }, 0);
                }
            }
            Ev::LocalClosed { node, conn, reason } => {
                let conn = ConnId(conn.into());
                self.deliver(node, InEvent::Disconnected { conn, reason }, 0);
            }
            Ev::RemoteClosed { node, conn } => {
                if self.node(node).remove_link_end(conn).is_some() {
                    let (conn, reason) = (ConnId(conn.into()), DisconnectReason::Closed);
                    self.deliver(node, InEvent::Disconnected { conn, reason }, 0);
                }
            }
            Ev::Other(slow) => match *slow {
                Slow::Timer { node, inc, timer } => {
                    if self.node(node).incarnation == inc {
                        self.deliver(node, InEvent::TimerFired(timer), 0);
                    }
                }
                Slow::QueueLow { node, inc, conn } => {
                    if self.node(node).incarnation == inc {
                        self.deliver(node, InEvent::QueueLow { conn }, 0);
                    }
                }
                Slow::FeedReserved { node, inc, limit } => {
                    if self.node(node).incarnation == inc {
                        self.deliver(node, InEvent::FeedReserved { limit }, 0);
                    }
                }
                Slow::DialFailed { node, inc, addr } => {
                    if self.node(node).incarnation == inc {
                        // Nobody listens at an address of a node that is down.
                        let error = DialError::Refused;
                        self.deliver(node, InEvent::DialFailed { addr, error }, 0);
                    }
                }
                slow => debug!(?slow, "not a node-local event"),
            },
            ev => debug!(?ev, "not a node-local event"),
        }
    }

    /// Feeds one event to a live node and carries out what it asks for.
    /// `hop` is how many links the frame being handled crossed (0 otherwise).
    pub(super) fn deliver(&mut self, node: u32, ev: InEvent, hop: u32) {
        let now = Instant::from_epoch(Duration::from_nanos(self.now));
        let i = (node - self.base) as usize;
        let Some(state) = self.nodes[i].state.as_mut() else {
            return;
        };
        let mut out = std::mem::take(&mut self.bufs.out);
        state.handle(ev, now, &mut out);
        for o in out.drain(..) {
            self.carry_out(node, o, hop);
        }
        self.bufs.out = out;
    }

    pub(super) fn carry_out(&mut self, node: u32, o: OutEvent, hop: u32) {
        let now = self.now;
        match o {
            OutEvent::Send { conn, frame } => {
                let Some(end) = self.node(node).link_end(conn.0 as u32) else {
                    self.tally.frames_lost += 1;
                    return trace!(node, %conn, "frame for a link that is gone");
                };
                if end.silent {
                    self.tally.frames_lost += 1;
                    return trace!(node, %conn, "frame lost on a silent link");
                }
                self.tally.frames_sent += 1;
                match frame.body() {
                    Body::Broadcast { .. } => self.tally.kinds.payload_sent += 1,
                    Body::IHave { .. } => self.tally.kinds.control_sent += 1,
                    Body::Graft { .. } => {
                        self.tally.kinds.control_sent += 1;
                        self.tally.kinds.grafts += 1;
                    }
                    Body::Prune => {
                        self.tally.kinds.control_sent += 1;
                        self.tally.kinds.prunes += 1;
                    }
                    _ => {}
                }
                self.tally.bytes_sent += frame.wire_len() as u64;
                let ev = Ev::Frame {
                    node: end.peer,
                    conn: end.peer_conn,
                    hop: hop + 1,
                    frame,
                };
                self.bufs.log.push(Effect::Push(end.arrival(now), ev));
            }
            // Every model node speaks version 1: nobody is reached one frame
            // per connection. Ignored, so finished at once.
            OutEvent::SendOneShot { addr, .. } => {
                debug!(node, %addr, "one-shot send ignored");
                if let Some(state) = self.node(node).state.as_mut() {
                    state.one_shot_finished();
                }
            }
            OutEvent::Dial(addr) | OutEvent::DialPlain(addr) => {
                self.bufs.log.push(Effect::Dial(node, addr))
            }
            OutEvent::Close { conn, reason } => {
                let conn = conn.0 as u32;
                let Some(end) = self.node(node).remove_link_end(conn) else {
                    return;
                };
                let log = &mut self.bufs.log;
                log.push(Effect::Push(now, Ev::LocalClosed { node, conn, reason }));
                let (peer, peer_conn) = (end.peer, end.peer_conn);
                let ev = Ev::RemoteClosed {
                    node: peer,
                    conn: peer_conn,
                };
                log.push(Effect::Push(end.arrival(now), ev));
            }
            OutEvent::Emit(event) => self.observe(node, event, hop),
            // The model registers no application handlers.
            OutEvent::Handle { .. } => {}
            OutEvent::Schedule { delay, timer } => {
                let at = now.saturating_add(nanos(delay));
                let inc = self.node(node).incarnation;
                let ev = match timer {
                    Timer::Handshake(conn) => Ev::Handshake {
                        node,
                        conn: conn.0 as u32,
                    },
                    Timer::KeepAlive => Ev::KeepAlive { node, inc },
                    timer => Ev::Other(Box::new(Slow::Timer { node, inc, timer })),
                };
                self.bufs.log.push(Effect::Push(at, ev));
            }
            // The model keeps no history on disk.
            OutEvent::Persist { .. } => {}
            // Nor pins.
            OutEvent::PinsChanged => {}
            // Nor a feed counter to make durable: reserved at once.
            OutEvent::ReserveFeed { limit } => {
                let inc = self.node(node).incarnation;
                let ev = Ev::Other(Box::new(Slow::FeedReserved { node, inc, limit }));
                self.bufs.log.push(Effect::Push(now, ev));
            }
            // The model has no send queues: a watched link is low at once.
            OutEvent::WatchQueue { conn } => {
                let inc = self.node(node).incarnation;
                let ev = Ev::Other(Box::new(Slow::QueueLow { node, inc, conn }));
                self.bufs.log.push(Effect::Push(now, ev));
            }
        }
    }

    fn observe(&mut self, node: u32, event: Event, hop: u32) {
        let effect = match event {
            Event::Broadcast { id: Some(id), .. } => Effect::Delivered { node, id, hop },
            Event::PeerConnected { peer, .. } => {
                let peer = parse_node_id(&peer);
                if let Some(p) = peer {
                    let reg = &mut self.node(node).registered;
                    if !reg.contains(&p) {
                        reg.push(p);
                    }
                }
                Effect::Registered { node, peer }
            }
            Event::PeerDisconnected { peer, .. } => {
                let Some(p) = parse_node_id(&peer) else {
                    return;
                };
                self.node(node).registered.retain(|&x| x != p);
                Effect::Dropped { peer: p }
            }
            _ => return,
        };
        self.bufs.log.push(effect);
    }
}
