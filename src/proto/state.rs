//! `NodeState`: every decision a node makes, as a pure function of events and time.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use tracing::{debug, trace};

use super::addr;
use super::caps::Caps;
use super::clock::Instant;
use super::dedup::{SeenCache, SeenKey};
use super::error::{ProtoError, Result};
use super::event::{
    Command, ConnId, DialError, Direction, DisconnectReason, Event, InEvent, OutEvent, Timer,
};
use super::frame::{types, Body, Frame, FrameError};
use super::identity::{Identity, KeyCache, NodeKey};
use super::metrics::Metrics;
use super::peers::{Link, PeerEnds, PeerEntry, PeerInfo, PeerSlot, PeerTable};
use super::rate::{Bucket, RateLimit};
use super::secure::SecureMemory;
use super::small_map::SmallMap;
use super::store::{HistoryLimits, MessageStore};
use super::trust::Pins;
use super::wire::{Envelope, MessageId, PeerAddr, PeerId, WireTime, PROTOCOL_VERSION};
use crate::config::NodeConfig;

/// One open connection, as the protocol sees it.
#[derive(Debug)]
struct Conn {
    dir: Direction,
    /// The peer registered on this connection, once its hello arrived.
    peer: Option<PeerSlot>,
    /// What the executor said of the socket; `None` for an in-memory link
    /// (the simulator's), which has neither addresses nor a proved key.
    ends: Option<Box<ConnEnds>>,
    /// Last time any frame arrived (valid or not).
    last_rx: Instant,
    malformed: u32,
    /// `ADVERTISE_REPLY` referrals still accepted on this connection (a dial
    /// refused at the peer limit is answered with a few).
    referrals: u32,
    /// Its place in the broadcast tree.
    tree: tree::TreeLink,
    /// New message ids this connection may still bring (`new_id_rate`).
    new_ids: Bucket,
    /// Messages with a bad signature it brought (`max_bad_signatures` close it).
    bad_sigs: u32,
}

/// A connection's socket, as the executor described it (boxed in [`Conn`]:
/// a simulated million nodes' links have none of it).
#[derive(Debug, Default)]
struct ConnEnds {
    /// This end's socket address (normalised): a node on `0.0.0.0` advertises its IP here.
    local: Option<SocketAddr>,
    /// The other end's socket address (normalised): the source a hello's
    /// unusable host is corrected to, and who may be handed loopback addresses.
    remote: Option<SocketAddr>,
    /// The key this link's secure handshake proved (`None`: plaintext).
    key: Option<NodeKey>,
}

impl Conn {
    /// This end's socket address (see [`ConnEnds::local`]).
    fn local(&self) -> Option<SocketAddr> {
        self.ends.as_ref().and_then(|e| e.local)
    }

    /// The other end's socket address (see [`ConnEnds::remote`]).
    fn remote(&self) -> Option<SocketAddr> {
        self.ends.as_ref().and_then(|e| e.remote)
    }

    /// The key this link's secure handshake proved.
    fn key(&self) -> Option<NodeKey> {
        self.ends.as_ref().and_then(|e| e.key)
    }

    /// Records the key the link's secure handshake proved.
    fn set_key(&mut self, key: NodeKey) {
        self.ends.get_or_insert_default().key = Some(key);
    }
}

/// The protocol state of one node: peers, connections, the seen-cache, counters.
///
/// Feed it [`InEvent`]s with the current time; it appends what to do to `out`.
/// It never touches a socket, a clock or a global RNG, so the actors and the
/// simulator run the same code.
#[derive(Debug)]
pub struct NodeState {
    id: PeerId,
    /// The listen address; an unspecified host (`0.0.0.0`, `::`) means "each
    /// connection's local IP" (see [`addr::hello_addr`]).
    addr: PeerAddr,
    /// Shared, not copied: a simulation holds millions of nodes of one configuration.
    config: Arc<NodeConfig>,
    /// Wall-clock time at `Instant::ZERO`, used only to write `time` fields.
    wall_epoch: DateTime<Utc>,
    peers: PeerTable,
    conns: SmallMap<ConnId, Conn>,
    dialing: SmallMap<PeerAddr, ()>,
    seen: SeenCache,
    handled_types: HashSet<String>,
    /// Addresses to dial again, with the attempts made so far.
    redials: BTreeMap<PeerAddr, u32>,
    /// Addresses given to `bootstrap`, retried while the node has no peers.
    bootstrap: BTreeSet<PeerAddr>,
    /// `ADVERTISE_REPLY` frames still accepted from each peer this node asked
    /// (`ADVERTISE`); replies nobody asked for are ignored.
    advertise_budget: BTreeMap<PeerId, usize>,
    /// Seeded generator for backoff jitter (never a global RNG).
    rng: u64,
    /// Most connections open at once so far.
    peak_connections: u64,
    /// `DIRECT`s sent and not yet acknowledged: target and send time.
    pending_direct: BTreeMap<MessageId, (PeerId, Instant)>,
    /// How fast one connection may bring new message ids.
    new_id_limit: RateLimit,
    /// Sends to one-shot peers and their limits.
    one_shots: OneShots,
    metrics: Metrics,
    /// Broadcasts kept to answer `GRAFT`s (tree mode).
    store: MessageStore,
    /// Announced ids this node lacks, awaiting their graft timers.
    missing: BTreeMap<MessageId, tree::Missing>,
    /// The `IHAVE` dispatch timer is set.
    dispatch_armed: bool,
    /// Until then this node is repairing its part of the tree (it lost an
    /// eager link): announced ids it lacks are grafted at once.
    repair_until: Instant,
    /// Ids this node grafted lately, and the links it asked (bounded by
    /// `max_pending_grafts`): a later duplicate shows a graft was needless.
    recent_grafts: BTreeMap<MessageId, (ConnId, Instant)>,
    /// The same ids, oldest first (the bound drops the oldest).
    recent_graft_order: std::collections::VecDeque<MessageId>,
    /// How late eager copies and graft answers come: the waits before a
    /// `GRAFT`, learned between their floors and `graft_timeout_max`.
    graft_timing: graft_timing::GraftTiming,
    /// The sweep timer is set; the last sweep covered what arrived before this.
    sweep_armed: bool,
    last_sweep: Instant,
    /// The last `PRUNE` encoded and when: prunes sent at that same instant
    /// reuse it (byte for byte the frame they would encode; a flood's
    /// duplicates come in together). Dropped at the first event of a later
    /// instant, so it holds nothing between bursts.
    prune_frame: Option<(Instant, Frame)>,
    /// A reused buffer (lazy links of one forward).
    scratch: Vec<ConnId>,
    /// This node's key pair, given by the executor ([`NodeState::set_identity`]);
    /// `None`: the node has no key (it signs nothing).
    identity: Option<Box<Identity>>,
    /// The executor keeps a history database: say `OutEvent::Persist` for
    /// each new broadcast ([`NodeState::set_persist`]).
    persist: bool,
    /// Addresses and keys seen secure: no plaintext fallback for them.
    secure: SecureMemory,
    /// Which key each name is pinned to (given and saved by the executor).
    pins: Pins,
    /// Signing keys kept decompressed for verification.
    keys: KeyCache,
    /// Numbered feeds and catch-up (boxed: a simulated million nodes share little of it).
    catchup: Box<catchup::CatchUp>,
}

impl NodeState {
    /// A node called `id`, listening on `addr` (the bound address: on
    /// `0.0.0.0` or `[::]` each hello names the connection's local IP, unless
    /// `config.advertise` says otherwise). `wall_epoch` is the wall-clock
    /// time that `Instant::ZERO` stands for (it only shapes `time` fields).
    /// `config` is a [`NodeConfig`] or an `Arc` of one that many nodes share.
    pub fn new(
        id: PeerId,
        addr: PeerAddr,
        config: impl Into<Arc<NodeConfig>>,
        wall_epoch: DateTime<Utc>,
    ) -> Self {
        let config = config.into();
        let seen = SeenCache::new(config.seen_capacity, config.seen_ttl);
        let h = &config.history;
        let limits = h.feeds.then_some(HistoryLimits {
            per_feed: h.per_feed,
            feed_bytes: h.feed_bytes,
            max_bytes: h.max_bytes,
            age: h.age,
            max_feeds: h.max_feeds,
        });
        let store =
            MessageStore::with_history(config.tree.store_bytes, config.tree.store_ttl, limits);
        let secure = SecureMemory::new(config.secure_memory);
        let pins = Pins::new()
            .with_capacity(config.sig.max_pins)
            .with_others_per_name(config.sig.other_keys_per_name);
        let keys = KeyCache::new(config.sig.key_cache);
        let new_id_limit = RateLimit::new(config.new_id_rate, config.new_id_burst);
        let one_shots = OneShots {
            max_frame: config.one_shot_max_frame,
            max_in_flight: config.max_one_shot_in_flight,
            in_flight: 0,
        };
        NodeState {
            id,
            addr,
            config,
            wall_epoch,
            peers: PeerTable::default(),
            conns: SmallMap::new(),
            dialing: SmallMap::new(),
            seen,
            handled_types: HashSet::new(),
            pending_direct: BTreeMap::new(),
            peak_connections: 0,
            redials: BTreeMap::new(),
            bootstrap: BTreeSet::new(),
            advertise_budget: BTreeMap::new(),
            rng: 0x9e37_79b9_7f4a_7c15,
            new_id_limit,
            one_shots,
            metrics: Metrics::default(),
            store,
            missing: BTreeMap::new(),
            dispatch_armed: false,
            repair_until: Instant::ZERO,
            graft_timing: Default::default(),
            recent_grafts: BTreeMap::new(),
            recent_graft_order: Default::default(),
            sweep_armed: false,
            last_sweep: Instant::ZERO,
            prune_frame: None,
            scratch: Vec::new(),
            identity: None,
            persist: false,
            secure,
            pins,
            keys,
            catchup: Default::default(),
        }
    }

    /// Seeds the jitter generator (the actor from a random value, the simulator from its RNG).
    pub fn seed(&mut self, seed: u64) {
        self.rng = seed;
    }

    /// Gives the node its key pair (the executor's: drawn at start, or
    /// loaded from a data directory). Call before [`NodeState::start`].
    pub fn set_identity(&mut self, identity: Identity) {
        self.identity = Some(Box::new(identity));
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// This node's key pair, if it was given one.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_deref()
    }

    /// Frames of `msg_type` go to an application handler ([`OutEvent::Handle`]).
    pub fn add_handled_type(&mut self, msg_type: impl Into<String>) {
        self.handled_types.insert(msg_type.into());
    }

    /// Starts the periodic work (keep-alive). Call once, before any event.
    pub fn start(&mut self, _now: Instant, out: &mut Vec<OutEvent>) {
        out.push(OutEvent::Schedule {
            delay: self.config.ping_interval,
            timer: Timer::KeepAlive,
        });
        // A feed set by the executor is reserved ahead now, so the first
        // broadcast does not wait for the disk.
        if self.feeds_on() {
            self.reserve_ahead(out);
        }
    }

    /// This node's id.
    pub fn id(&self) -> &PeerId {
        &self.id
    }

    /// The address this node listens on (what its `PING`/`PONG` advertise,
    /// unless `NodeConfig::advertise` is set or the host is unspecified).
    pub fn addr(&self) -> &PeerAddr {
        &self.addr
    }

    /// The registered peers.
    pub fn peers(&self, now: Instant) -> Vec<PeerInfo> {
        let mut infos = self.peers.infos(now);
        infos.iter_mut().for_each(|i| self.add_fingerprint(i));
        infos
    }

    /// One registered peer: of namesakes, the one under the key pinned
    /// for the name, else the first.
    pub fn peer(&self, id: &PeerId, now: Instant) -> Option<PeerInfo> {
        let slot = self.peers.pick(id, self.pins.get(id))?;
        let mut info = self.peers.info(slot, now)?;
        self.add_fingerprint(&mut info);
        Some(info)
    }

    /// The counters.
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics.clone();
        m.peers = self.peers.len() as u64;
        m.connections = self.conns.len() as u64;
        m.peak_connections = self.peak_connections;
        m.seen_entries = self.seen.len() as u64;
        m.stored_messages = self.store.len() as u64;
        m.history_messages = self.store.history().len() as u64;
        m.history_feeds = self.store.history().feeds() as u64;
        m.feeds_evicted = self.store.history().feeds_evicted;
        m
    }

    /// Counts events the executor could not hand to a subscriber.
    pub fn count_dropped_events(&mut self, n: u64) {
        self.metrics.events_dropped += n;
    }

    /// Counts an inbound connection the executor refused at `max_connections`.
    pub fn count_refused_connection(&mut self) {
        self.metrics.connections_refused += 1;
    }

    /// Counts a connection the executor dropped because its peer read too slowly.
    pub fn count_slow_peer(&mut self) {
        self.metrics.slow_peer_drops += 1;
    }

    /// Counts an application handler that panicked (the executor caught it).
    pub fn count_handler_panic(&mut self) {
        self.metrics.handler_panics += 1;
    }

    /// Handles one event at time `now`, appending what to do to `out`.
    pub fn handle(&mut self, event: InEvent, now: Instant, out: &mut Vec<OutEvent>) {
        if self.prune_frame.as_ref().is_some_and(|(at, _)| *at != now) {
            self.prune_frame = None;
        }
        match event {
            InEvent::Connected {
                conn,
                dir,
                local,
                remote,
            } => self.on_connected(conn, dir, (local, remote), now, out),
            InEvent::FeedReserved { limit } => self.on_feed_reserved(limit, now, out),
            InEvent::Received { conn, frame } => {
                self.metrics.frames_in += 1;
                self.metrics.bytes_in += frame.wire_len() as u64;
                match self.conns.get_mut(&conn) {
                    Some(c) => c.last_rx = now,
                    None => return trace!(%conn, "frame on a closed connection"),
                }
                self.on_frame(Some(conn), frame, now, out);
            }
            InEvent::Authenticated { conn, key } => self.on_authenticated(conn, key),
            InEvent::Malformed { conn, error } => self.on_malformed(conn, error, now, out),
            InEvent::Disconnected { conn, reason } => self.on_disconnected(conn, reason, now, out),
            InEvent::QueueLow { conn } => {
                self.serve_grafts(conn, out);
                self.serve_pulls(conn, now, out);
            }
            InEvent::DialFailed { addr, error } => self.on_dial_failed(addr, error, out),
            InEvent::TimerFired(timer) => self.on_timer(timer, now, out),
            InEvent::Command(cmd) => {
                if let Err(error) = self.command(cmd, now, out) {
                    debug!(%error, "command failed");
                }
            }
        }
    }

    /// Carries out an application command; errors (an unknown peer) are returned.
    pub fn command(&mut self, cmd: Command, now: Instant, out: &mut Vec<OutEvent>) -> Result<()> {
        match cmd {
            Command::Join(addr) => {
                self.dial(addr, out);
                Ok(())
            }
            Command::Bootstrap(addrs) => {
                for addr in addrs {
                    self.bootstrap.insert(addr.clone());
                    self.dial(addr, out);
                }
                Ok(())
            }
            Command::Broadcast { id, text } => self.broadcast(id, text, now, out).map(|_| ()),
            Command::Send { to, msg_type, msg } => {
                let frame = self.app_frame(self.envelope(&msg_type, msg, now))?;
                if to == self.id {
                    self.on_frame(None, frame, now, out);
                    return Ok(());
                }
                let link = self.link_of(&to)?;
                self.send_link(link, frame, out);
                Ok(())
            }
            Command::Reply {
                conn,
                msg_type,
                msg,
            } => {
                let frame = self.app_frame(self.envelope(&msg_type, msg, now))?;
                match conn {
                    Some(conn) if self.conns.contains_key(&conn) => self.send(conn, frame, out),
                    Some(conn) => debug!(%conn, "reply to a closed connection dropped"),
                    None => self.on_frame(None, frame, now, out),
                }
                Ok(())
            }
            Command::Direct { id, to, text } => self.direct(id, to, text, now, out).map(|_| ()),
            Command::GetPeersFrom(peer) => {
                let link = self.link_of(&peer)?;
                self.advertise_budget
                    .insert(peer.clone(), self.config.max_advertise);
                let frame = Frame::encode(self.envelope(types::ADVERTISE, Value::from(""), now))?;
                self.send_link(link, frame, out);
                Ok(())
            }
        }
    }

    /// How to reach `peer` by name: of namesakes, the one under the key
    /// pinned for the name, else the first.
    pub(super) fn link_of(&self, peer: &PeerId) -> Result<Link> {
        self.peers
            .pick(peer, self.pins.get(peer))
            .and_then(|slot| self.peers.get(slot))
            .map(|p| p.link())
            .ok_or_else(|| ProtoError::UnknownPeer(peer.clone()))
    }

    fn on_connected(
        &mut self,
        conn: ConnId,
        dir: Direction,
        (local, remote): (Option<SocketAddr>, Option<SocketAddr>),
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let normal = |a: SocketAddr| SocketAddr::new(addr::normalize_ip(a.ip()), a.port());
        if let Direction::Outbound { addr } = &dir {
            self.dialing.remove(addr);
        }
        let outbound = matches!(dir, Direction::Outbound { .. });
        self.conns.insert(
            conn,
            Conn {
                dir,
                peer: None,
                ends: (local.is_some() || remote.is_some()).then(|| {
                    Box::new(ConnEnds {
                        local: local.map(normal),
                        remote: remote.map(normal),
                        key: None,
                    })
                }),
                last_rx: now,
                malformed: 0,
                tree: Default::default(),
                referrals: if outbound {
                    u32::try_from(self.config.peer_limit_referrals).unwrap_or(u32::MAX)
                } else {
                    0
                },
                new_ids: Bucket::default(),
                bad_sigs: 0,
            },
        );
        self.peak_connections = self.peak_connections.max(self.conns.len() as u64);
        out.push(OutEvent::Schedule {
            delay: self.config.handshake_timeout,
            timer: Timer::Handshake(conn),
        });
        if outbound {
            self.send_hello(Link::Conn(conn), types::PING, now, out);
        }
    }

    fn on_disconnected(
        &mut self,
        conn: ConnId,
        reason: DisconnectReason,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        if reason == DisconnectReason::DecryptFailed {
            self.count_link_failure(reason);
        }
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        self.catchup_link_down(conn, out);
        // This node's own shutdown needs no repair; nor does a duplicate
        // connection, whose peer stays on the one kept.
        if !matches!(
            reason,
            DisconnectReason::Shutdown | DisconnectReason::Duplicate
        ) {
            self.tree_link_lost(&c, now, out);
        }
        let Some(slot) = c.peer else {
            // A dial that connected but never registered counts as a failed redial.
            if let Direction::Outbound { addr } = c.dir {
                self.after_dial_failed(addr, out);
            }
            return;
        };
        // A peer whose connection was replaced (duplicate) stays registered.
        if self.peers.get(&slot).is_some_and(|p| p.conn == Some(conn)) {
            let entry = self.peers.remove(&slot);
            let peer = slot.name;
            if !self.peers.has_name(&peer) {
                self.advertise_budget.remove(&peer);
            }
            debug!(%peer, %reason, "peer disconnected");
            out.push(OutEvent::Emit(Event::PeerDisconnected { peer, reason }));
            if let Some(entry) = entry {
                self.after_peer_lost(entry.addr, reason, out);
            }
        }
    }

    fn on_malformed(
        &mut self,
        conn: ConnId,
        error: FrameError,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        self.metrics.malformed_frames += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.last_rx = now;
        c.malformed += 1;
        debug!(%conn, remote = ?c.remote(), peer = ?c.peer, %error, "malformed frame");
        if let FrameError::TooLong { .. } = error {
            self.close(conn, DisconnectReason::FrameTooLong, out);
        } else if c.malformed >= self.config.max_malformed {
            self.close(conn, DisconnectReason::Malformed, out);
        }
    }

    fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<OutEvent>) {
        match timer {
            Timer::Handshake(conn) => self.on_handshake_timer(conn, out),
            Timer::KeepAlive => self.on_keep_alive(now, out),
            Timer::Redial(addr) => self.on_redial_timer(addr, out),
            Timer::Direct(id) => self.direct_timed_out(id, out),
            Timer::Graft(id) => self.on_graft_timer(id, now, out),
            Timer::TreeDispatch => self.on_dispatch(now, out),
            Timer::TreeSweep => self.on_sweep(now, out),
            Timer::Holdback => self.on_holdback(now, out),
            Timer::Digest => self.on_digest_timer(now, out),
            Timer::DigestSoon => self.on_digest_soon(now, out),
            Timer::CatchUp => self.on_catchup_tick(now, out),
        }
    }

    /// Handles a valid frame; `src` is the connection it came on (`None`: from this node).
    fn on_frame(
        &mut self,
        src: Option<ConnId>,
        frame: Frame,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        // Matched by reference: most frames of a flood are duplicates, which
        // must cost a seen-cache lookup and nothing more (no copy of the text).
        let from = &frame.envelope().originator;
        match frame.body() {
            Body::Ping { addr } | Body::Pong { addr } => {
                let is_ping = matches!(frame.body(), Body::Ping { .. });
                if let Some(conn) = src {
                    self.on_hello(conn, &frame, addr.clone(), is_ping, now, out);
                }
            }
            Body::Advertise => {
                if let Some(conn) = src {
                    self.on_advertise(conn, from, now, out);
                }
            }
            Body::AdvertiseReply { peer, addr } => {
                if self.solicited(src, from) {
                    let (from, peer, addr) = (from.clone(), peer.clone(), addr.clone());
                    self.on_advertise_reply(src, from, peer, addr, out);
                } else {
                    self.metrics.rejected_frames += 1;
                    trace!(%from, "advertise reply nobody asked for, ignored");
                }
            }
            Body::Broadcast { text } => self.on_broadcast(src, &frame, text, now, out),
            Body::IHave { ids } => {
                if let Some(conn) = src {
                    self.on_ihave(conn, ids, now, out);
                }
            }
            Body::Graft { ids } => {
                if let Some(conn) = src {
                    self.on_graft(conn, ids, now, out);
                }
            }
            Body::Prune => {
                if let Some(conn) = src {
                    self.on_prune(conn);
                }
            }
            Body::Digest { digest } => self.on_digest(src, digest, now, out),
            Body::Summary { entries } => self.on_summary(src, entries, now, out),
            Body::Pull { feed, from, to } => self.on_pull(src, (feed, *from, *to), now, out),
            Body::History { frame: inner } => self.on_history(src, inner, now, out),
            Body::Test { text } => {
                self.metrics.deliveries += 1;
                let (from, text) = (from.clone(), text.clone());
                out.push(OutEvent::Emit(Event::Test { from, text }));
            }
            Body::Direct { text } => {
                let text = text.clone();
                self.on_direct(src, frame, text, now, out)
            }
            Body::DirectAck { ack } => {
                let ack = *ack;
                self.on_direct_ack(src, frame, ack, now, out)
            }
            Body::Custom => {
                if self.handled_types.contains(&frame.envelope().msg_type) {
                    self.metrics.deliveries += 1;
                    out.push(OutEvent::Handle { conn: src, frame });
                } else {
                    self.metrics.unhandled_frames += 1;
                    let remote = src
                        .and_then(|c| self.conns.get(&c))
                        .and_then(|c| c.remote());
                    debug!(msg_type = %frame.envelope().msg_type, %from, ?remote, "no handler for message type");
                }
            }
        }
    }

    /// Dials `addr` unless it is this node, a known peer's, already being
    /// dialled, or the node has no room for another peer.
    pub(super) fn dial(&mut self, addr: PeerAddr, out: &mut Vec<OutEvent>) {
        if addr == self.addr || self.dialing.contains_key(&addr) || self.peers.has_addr(&addr) {
            return;
        }
        if self.peers.len() + self.dialing.len() >= self.config.max_peers {
            debug!(%addr, "at the peer limit, not dialling");
            return;
        }
        self.metrics.dials += 1;
        self.dialing.insert(addr.clone(), ());
        out.push(OutEvent::Dial(addr));
    }

    /// Sends `frame` to every registered peer except the one on `src` and
    /// the originator (by key for a signed frame, else by name: [`PeerSlot::is_origin`]).
    pub(super) fn forward(&mut self, frame: &Frame, src: Option<ConnId>, out: &mut Vec<OutEvent>) {
        let (origin, signer) = origin_of(frame.envelope());
        // Straight from the peer table into `out`: no list of targets is built.
        for (slot, p) in self.peers.iter() {
            if !slot.is_origin(origin, signer) && (p.conn.is_none() || p.conn != src) {
                let one_shots = &mut self.one_shots;
                push_link(&mut self.metrics, one_shots, p.link(), frame.clone(), out);
            }
        }
    }

    /// A `PING` or `PONG` naming where this node is reached, with `v` and
    /// `caps`: the address [`addr::hello_addr`] gives for the connection it
    /// goes on (for a one-shot peer, the one its hello last came on).
    pub(super) fn send_hello(
        &mut self,
        link: Link,
        msg_type: &str,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let local = match &link {
            Link::Conn(conn) => self.conns.get(conn).and_then(|c| c.local()),
            Link::OneShot(to) => self
                .peers
                .iter()
                .find(|(_, p)| p.conn.is_none() && &p.addr == to)
                .and_then(|(_, p)| p.local()),
        };
        let me = addr::hello_addr(self.config.advertise.as_ref(), &self.addr, local);
        let msg = serde_json::json!(me);
        let mut env = self.envelope(msg_type, msg, now);
        env.v = Some(PROTOCOL_VERSION);
        let mut caps = Caps::announced(self.tree_mode());
        if self.signer().is_none() {
            caps = caps.without(super::caps::SIG);
        }
        if !self.feeds_on() {
            caps = caps.without(super::caps::SEQ);
        }
        env.caps = Some(caps.to_wire());
        env.key = self.identity.as_deref().map(Identity::key);
        match Frame::encode(env) {
            Ok(frame) => self.send_link(link, frame, out),
            Err(error) => debug!(%error, "cannot encode hello"),
        }
    }

    /// Sends `frame` on an open connection or, to a one-shot peer, on a fresh one
    /// (unless it is larger than such a peer can read, or too many are under way).
    pub(super) fn send_link(&mut self, link: Link, frame: Frame, out: &mut Vec<OutEvent>) {
        push_link(&mut self.metrics, &mut self.one_shots, link, frame, out);
    }

    pub(super) fn send(&mut self, conn: ConnId, frame: Frame, out: &mut Vec<OutEvent>) {
        self.send_link(Link::Conn(conn), frame, out);
    }

    pub(super) fn close(
        &mut self,
        conn: ConnId,
        reason: DisconnectReason,
        out: &mut Vec<OutEvent>,
    ) {
        if self.conns.contains_key(&conn) {
            out.push(OutEvent::Close { conn, reason });
        }
    }

    pub(super) fn envelope(&self, msg_type: &str, msg: Value, now: Instant) -> Envelope {
        Envelope::new(msg_type, msg, self.id.clone(), self.wire_time(now))
    }

    /// `now` as RFC 3339 UTC with milliseconds.
    pub fn wire_time(&self, now: Instant) -> WireTime {
        let at =
            self.wall_epoch + chrono::Duration::from_std(now.since_epoch()).unwrap_or_default();
        WireTime::Text(at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    /// True when this node has handled the message `env` (its seen-cache
    /// key: the signed id, or the hash of an unsigned one's id, type,
    /// originator and text).
    pub fn has_seen(&self, env: &Envelope) -> bool {
        self.seen.contains(&SeenKey::of(env))
    }

    /// True when this node holds a message under the bare `id`: a signed
    /// one whose derived id verified, or any in its message store. `IHAVE`
    /// and `GRAFT` name messages by id alone, so the tree asks this; an
    /// unsigned message is deduplicated by its hash ([`NodeState::has_seen`]).
    pub fn has_id(&self, id: MessageId) -> bool {
        self.seen.contains(&SeenKey::Signed(id.as_uuid().as_u128()))
            || self.store.get(&id).is_some()
    }
}

/// Who a frame comes from: its `originator`, and its signing key if it is signed.
pub(super) fn origin_of(env: &Envelope) -> (&PeerId, Option<&NodeKey>) {
    let signer = env.key.as_ref().filter(|_| env.sig.is_some());
    (&env.originator, signer)
}

mod advertise;
mod catchup;
mod direct;
mod feeds;
mod graft_timing;
mod hello;
mod limits;
mod liveness;
mod persist;
mod secure;
mod tree;
mod verify;

use limits::{push_link, OneShots, Refused};
use verify::{Arrival, Verdict};

#[cfg(test)]
mod tests;
