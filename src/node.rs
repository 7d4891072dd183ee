//! The public API: `Node::builder(id)…start()` and the cloneable `NodeHandle`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing::info_span;

use crate::actors::acceptor::Acceptor;
use crate::actors::peer::{
    Apply, GetHistory, GetMetrics, GetPeer, GetPeers, SendDirect, Shutdown, Subscribe,
};
use crate::actors::peer::{GetPins, HeldHistory, SendBroadcast, SetPin};
use crate::actors::{ConnectionSpawner, PeerActor, RegistryActor};
use crate::config::NodeConfig;
use crate::data_dir::{generate_identity, DataDir};
use crate::error::{Error, Result};
use crate::events::EventStream;
use crate::handler::{MessageHandler, Reply};
use crate::history::HistoryEntry;
use crate::proto::{
    addr, types, Body, Command, Envelope, Frame, Identity, MessageId, Metrics, NodeKey, NodeState,
    PeerAddr, PeerId, PeerInfo, Pins,
};
use crate::resolve::{Resolver, SystemResolver};
use crate::transport::{MemoryListener, MemoryNetwork};

/// A direct message that arrived: its id and how long until the ack came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The message id.
    pub id: MessageId,
    /// Time from sending to the ack.
    pub round_trip: std::time::Duration,
}

/// Entry point: `Node::builder("alice")`.
pub struct Node;

impl Node {
    /// Starts describing a node called `id`.
    pub fn builder(id: impl Into<PeerId>) -> NodeBuilder {
        NodeBuilder {
            id: id.into(),
            listen: "127.0.0.1:0".to_string(),
            advertise_host: None,
            bootstrap: Vec::new(),
            config: NodeConfig::default(),
            handlers: HashMap::new(),
            memory: None,
            resolver: Arc::new(SystemResolver),
            identity: None,
            data_dir: None,
            restore: Vec::new(),
        }
    }
}

/// Describes a node before it starts; nothing binds until [`NodeBuilder::start`].
pub struct NodeBuilder {
    id: PeerId,
    listen: String,
    advertise_host: Option<String>,
    bootstrap: Vec<String>,
    config: NodeConfig,
    handlers: HashMap<String, MessageHandler>,
    memory: Option<MemoryNetwork>,
    resolver: Arc<dyn Resolver>,
    identity: Option<Identity>,
    data_dir: Option<PathBuf>,
    /// Broadcasts to put back into the store at start (see [`NodeBuilder::restore_history`]).
    restore: Vec<Frame>,
}

impl NodeBuilder {
    /// The node's key pair. Without this or [`NodeBuilder::data_dir`], the
    /// node draws an ephemeral one at start.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// A data directory ([`DataDir`]): locked for the node's lifetime, it
    /// holds the node's key (`identity.key`, made on first use) unless
    /// [`NodeBuilder::identity`] gives one, and, with the `sqlite` feature,
    /// its history database (`peerchat.db`: see [`NodeHandle::history`]).
    /// Without it nothing touches the disk.
    pub fn data_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(path.into());
        self
    }

    /// Broadcasts (as [`NodeHandle::held_history`] gave them) put back into
    /// the node's store and seen-cache at start, as if a history database
    /// had held them: answered to pulls, never delivered again. What a
    /// simulator restarting a node without a disk uses.
    pub fn restore_history(mut self, frames: Vec<Frame>) -> Self {
        self.restore = frames;
        self
    }

    /// Where to listen, as `host:port` (default `127.0.0.1:0`; port 0 lets the OS choose).
    pub fn listen(mut self, addr: impl ToString) -> Self {
        self.listen = addr.to_string();
        self
    }

    /// The host to advertise in `PING`/`PONG`, with the port the listener
    /// got: a shorthand for [`NodeConfig::advertise`] (which wins when both
    /// are set). Without either, a node on a specific IP advertises it, and a
    /// node on `0.0.0.0` or `[::]` advertises on each connection the local IP
    /// that connection's socket has.
    pub fn advertise_host(mut self, host: impl Into<String>) -> Self {
        self.advertise_host = Some(host.into());
        self
    }

    /// How host names are turned into addresses when the node dials
    /// (default: [`SystemResolver`]). Names are resolved again at every
    /// attempt; every address is tried in turn.
    pub fn resolver(mut self, resolver: impl Resolver) -> Self {
        self.resolver = Arc::new(resolver);
        self
    }

    /// Runs the node on an in-memory network instead of TCP: it gets an address
    /// there (see [`NodeHandle::advertised_addr`]) and dials only nodes of the
    /// same network. For simulations of many nodes in one process.
    pub fn memory(mut self, net: &MemoryNetwork) -> Self {
        self.memory = Some(net.clone());
        self
    }

    /// Addresses (`host:port`) to join as soon as the node starts.
    pub fn bootstrap<I, A>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: ToString,
    {
        self.bootstrap
            .extend(addrs.into_iter().map(|a| a.to_string()));
        self
    }

    /// Limits and intervals (default: [`NodeConfig::default`]).
    pub fn config(mut self, config: NodeConfig) -> Self {
        self.config = config;
        self
    }

    /// Handles frames of the application's own `msg_type`. The handler gets the
    /// envelope; a `Some(Reply)` it returns is sent back to the sender.
    pub fn handler<F>(mut self, msg_type: impl Into<String>, f: F) -> Self
    where
        F: Fn(&Envelope) -> Option<Reply> + Send + Sync + 'static,
    {
        self.handlers.insert(msg_type.into(), Arc::new(f));
        self
    }

    /// Binds the listener and starts the node's actors. Must run inside an
    /// actix `System` (`#[actix::main]`, `#[actix_rt::test]`, `System::new().block_on`).
    pub async fn start(self) -> Result<NodeHandle> {
        if self.id.as_str().is_empty() {
            return Err(Error::EmptyPeerId);
        }
        self.config.validate().map_err(Error::InvalidConfig)?;
        let bootstrap = self
            .bootstrap
            .iter()
            .map(|a| parse_addr(a))
            .collect::<Result<Vec<_>>>()?;
        for msg_type in self.handlers.keys() {
            check_app_type(msg_type)?;
        }
        let data_dir = self.data_dir.as_ref().map(DataDir::open).transpose()?;
        let identity = match (&self.identity, &data_dir) {
            (Some(identity), _) => identity.clone(),
            (None, Some(dir)) => dir.identity()?,
            (None, None) => generate_identity(),
        };
        #[cfg(feature = "sqlite")]
        let history = match &data_dir {
            Some(dir) => Some(open_history(dir, identity.key(), &self.config.storage).await?),
            None => None,
        };
        let (listener, local_addr, listen) = self.bind().await?;
        let mut config = self.config;
        if let (None, Some(host)) = (&config.advertise, &self.advertise_host) {
            config.advertise = Some(PeerAddr::new(host.clone(), listen.port()));
            config.validate().map_err(Error::InvalidConfig)?;
        }
        let advertised = config.advertise.clone().unwrap_or_else(|| listen.clone());

        let listen_for_acceptor = listen.clone();
        let span = info_span!("node", id = %self.id);
        let mut state = NodeState::new(self.id.clone(), listen, config.clone(), chrono::Utc::now());
        for msg_type in self.handlers.keys() {
            state.add_handled_type(msg_type.clone());
        }
        state.seed(uuid::Uuid::new_v4().as_u64_pair().0);
        state.set_identity(identity.clone());
        // A fresh feed epoch at each start; nothing reserved yet (the first
        // broadcast asks, and an executor without a disk answers at once).
        state.set_feed(uuid::Uuid::new_v4().as_u64_pair().0, 1, 0);
        state.restore_history(self.restore);
        let pins_file = data_dir
            .as_ref()
            .map(|d| d.path().join(crate::pins_file::PINS_FILE));
        if let Some(path) = &pins_file {
            state.set_pins(crate::pins_file::load(path)?);
        }
        #[cfg(feature = "sqlite")]
        let (history, known_peers) = match history {
            Some((db, path, restored)) => {
                restore(&mut state, &restored);
                let link = crate::actors::peer::HistoryLink::new(db.clone(), path, &config.storage);
                (Some((db, link)), restored.peers)
            }
            None => (None, Vec::new()),
        };
        #[cfg(not(feature = "sqlite"))]
        let known_peers = Vec::new();
        let config = Arc::new(config);
        let handlers = Arc::new(self.handlers);
        let resolver = self.resolver;
        let event_buffer = config.event_buffer;
        #[cfg(feature = "sqlite")]
        let (history_db, history_link) = match history {
            Some((db, link)) => (Some(db.clone()), Some((db, link))),
            None => (None, None),
        };
        let addr = PeerActor::create(|ctx| {
            let keys = Arc::new(crate::secure::generate_link_keys(identity.clone()));
            let spawner = ConnectionSpawner::new(ctx.address(), config.clone(), keys, span.clone());
            let setting_up = spawner.setting_up();
            let registry = RegistryActor::new(
                ctx.address(),
                spawner.clone(),
                resolver,
                config.connect_timeout,
                span.clone(),
            );
            let (registry, acceptor) = match listener {
                Listener::Tcp(listener) => {
                    let acceptor = Acceptor::spawn(listener, spawner, span.clone());
                    (registry.start(), acceptor)
                }
                Listener::Memory(net, listener) => {
                    // Its dials come from its address (a partition needs to know).
                    let dials = net.bound(&listen_for_acceptor);
                    let acceptor = Acceptor::spawn_memory(
                        net.clone(),
                        listen_for_acceptor,
                        listener,
                        spawner,
                        span.clone(),
                    );
                    (registry.on_memory(dials).start(), acceptor)
                }
            };
            let mut actor = PeerActor::new(state, handlers, event_buffer, span);
            if let Some(path) = pins_file {
                actor.save_pins_to(path);
            }
            actor.attach(registry, acceptor);
            actor.count_setups(setting_up);
            #[cfg(feature = "sqlite")]
            if let Some((_, link)) = history_link {
                actor.attach_history(link);
            }
            actor
        });
        let handle = NodeHandle {
            inner: Arc::new(Inner {
                id: self.id,
                local_addr,
                advertised,
                addr,
                key: identity.key(),
                known_peers,
                #[cfg(feature = "sqlite")]
                history: history_db,
                _data_dir: data_dir,
            }),
        };
        if !bootstrap.is_empty() {
            handle.command(Command::Bootstrap(bootstrap)).await?;
        }
        Ok(handle)
    }
}

/// `listen` as an address of an in-memory network (`mem{k}:{port}`), if it is one.
fn memory_addr(listen: &str) -> Option<PeerAddr> {
    listen
        .starts_with("mem")
        .then(|| parse_addr(listen).ok())
        .flatten()
}

/// Where a node listens: a TCP socket, or an address on an in-memory network.
enum Listener {
    Tcp(TcpListener),
    Memory(MemoryNetwork, MemoryListener),
}

impl NodeBuilder {
    /// Binds the TCP listener (or takes an in-memory address); returns it,
    /// the socket address (unspecified for in-memory nodes) and the listen
    /// address the protocol knows the node by.
    async fn bind(&self) -> Result<(Listener, SocketAddr, PeerAddr)> {
        if let Some(net) = &self.memory {
            let (addr, listener) = match memory_addr(&self.listen) {
                // A node restarted where it listened before.
                Some(addr) => match net.listen_at(&addr) {
                    Some(listener) => (addr, listener),
                    None => {
                        return Err(Error::Bind {
                            addr: self.listen.clone(),
                            source: std::io::ErrorKind::AddrInUse.into(),
                        })
                    }
                },
                None => net.listen(),
            };
            let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
            return Ok((Listener::Memory(net.clone(), listener), unspecified, addr));
        }
        // The syntax first: a typo is an `InvalidAddress`, not an OS error.
        crate::addr::parse_listen_addr(&self.listen)?;
        let bind_error = |source| Error::Bind {
            addr: self.listen.clone(),
            source,
        };
        let listener = TcpListener::bind(&self.listen).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let listen = addr::normalize(&PeerAddr::from(local_addr));
        Ok((Listener::Tcp(listener), local_addr, listen))
    }
}

struct Inner {
    id: PeerId,
    local_addr: SocketAddr,
    advertised: PeerAddr,
    addr: Addr<PeerActor>,
    key: NodeKey,
    /// Peers the data directory's database knew at start, the most recent first.
    known_peers: Vec<PeerAddr>,
    /// The history database's actor (closed at shutdown).
    #[cfg(feature = "sqlite")]
    history: Option<Addr<crate::history::actor::HistoryDb>>,
    /// Holds the data directory's lock while any handle lives.
    _data_dir: Option<DataDir>,
}

/// A running node. Cheap to clone; every clone drives the same node. Usable
/// from any thread or task.
#[derive(Clone)]
pub struct NodeHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("id", &self.inner.id)
            .field("local_addr", &self.inner.local_addr)
            .finish()
    }
}

impl NodeHandle {
    /// The node's id.
    pub fn id(&self) -> &PeerId {
        &self.inner.id
    }

    /// The node's public key (what its signatures prove).
    pub fn key(&self) -> NodeKey {
        self.inner.key
    }

    /// The socket address the listener is bound to (the real port when 0 was
    /// asked for); `0.0.0.0:0` for a node on a [`MemoryNetwork`].
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The address this node advertises in `PING`/`PONG`: `NodeConfig::advertise`
    /// if set, else the listen address. When that is unspecified (`0.0.0.0`,
    /// `::`), each connection's hello names the local IP of its own socket
    /// with this port instead (docs/PROTOCOL.md, "Addresses").
    pub fn advertised_addr(&self) -> &PeerAddr {
        &self.inner.advertised
    }

    /// Dials `addr` (`host:port`) and registers whoever answers. Returns once
    /// the dial has started; `Event::PeerConnected` tells when it succeeded.
    pub async fn join(&self, addr: impl ToString) -> Result<()> {
        let addr = parse_addr(&addr.to_string())?;
        self.command(Command::Join(addr)).await
    }

    /// Joins each address, and retries them for as long as the node has no peers.
    pub async fn bootstrap<I, A>(&self, addrs: I) -> Result<()>
    where
        I: IntoIterator<Item = A>,
        A: ToString,
    {
        let addrs = addrs
            .into_iter()
            .map(|a| parse_addr(&a.to_string()))
            .collect::<Result<Vec<_>>>()?;
        self.command(Command::Bootstrap(addrs)).await
    }

    /// Floods `text` to the whole network; every other node delivers it
    /// once. Returns its id (for a signed message, derived from its fields).
    pub async fn broadcast(&self, text: impl Into<String>) -> Result<MessageId> {
        let text = text.into();
        self.inner
            .addr
            .send(SendBroadcast { text })
            .await
            .map_err(|_| Error::Stopped)?
    }

    /// The pin table: which key each name is pinned to (pinned on first
    /// signed contact, or by [`NodeHandle::trust`]).
    pub async fn pins(&self) -> Result<Pins> {
        self.inner
            .addr
            .send(GetPins)
            .await
            .map_err(|_| Error::Stopped)
    }

    /// The key pinned for `name` (`/whois`).
    pub async fn whois(&self, name: impl Into<PeerId>) -> Result<Option<NodeKey>> {
        Ok(self.pins().await?.get(&name.into()).copied())
    }

    /// Pins `name` to `key` (`/trust`): its messages signed by another key
    /// show as a conflict from now on. Saved when the node has a data directory.
    pub async fn trust(&self, name: impl Into<PeerId>, key: NodeKey) -> Result<()> {
        let msg = SetPin {
            name: name.into(),
            key: Some(key),
        };
        self.inner.addr.send(msg).await.map_err(|_| Error::Stopped)
    }

    /// Forgets the pin of `name` (`/forget`): the next key signing under it is pinned.
    pub async fn forget(&self, name: impl Into<PeerId>) -> Result<()> {
        let msg = SetPin {
            name: name.into(),
            key: None,
        };
        self.inner.addr.send(msg).await.map_err(|_| Error::Stopped)
    }

    /// Sends `text` to the node `peer`, a neighbour or anywhere in the network
    /// (`DIRECT`). Resolves when its `DIRECT_ACK` comes back, or fails with
    /// [`Error::DeliveryTimeout`] after `NodeConfig::direct_timeout`.
    pub async fn send_to(
        &self,
        peer: impl Into<PeerId>,
        text: impl Into<String>,
    ) -> Result<Delivered> {
        let msg = SendDirect {
            to: peer.into(),
            text: text.into(),
        };
        let outcome = self
            .inner
            .addr
            .send(msg)
            .await
            .map_err(|_| Error::Stopped)??;
        outcome.await.map_err(|_| Error::Stopped)?
    }

    /// Asks `peer` for its peer list; the node dials the peers it learns of.
    pub async fn get_peers_from(&self, peer: impl Into<PeerId>) -> Result<()> {
        self.command(Command::GetPeersFrom(peer.into())).await
    }

    /// Sends a `TEST` probe to `peer` (to this node's own id: handled locally).
    pub async fn send_test(&self, peer: impl Into<PeerId>, text: impl Into<String>) -> Result<()> {
        self.send(peer, types::TEST, Value::String(text.into()))
            .await
    }

    /// Sends one frame of an application type (or `TEST`) to `peer`.
    pub async fn send(
        &self,
        peer: impl Into<PeerId>,
        msg_type: impl Into<String>,
        msg: impl Into<Value>,
    ) -> Result<()> {
        let msg_type = msg_type.into();
        if msg_type != types::TEST {
            check_app_type(&msg_type)?;
        }
        self.command(Command::Send {
            to: peer.into(),
            msg_type,
            msg: msg.into(),
        })
        .await
    }

    /// The registered peers, in id order.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>> {
        self.inner
            .addr
            .send(GetPeers)
            .await
            .map_err(|_| Error::Stopped)
    }

    /// One registered peer.
    pub async fn peer(&self, id: impl Into<PeerId>) -> Result<Option<PeerInfo>> {
        self.inner
            .addr
            .send(GetPeer(id.into()))
            .await
            .map_err(|_| Error::Stopped)
    }

    /// The node's counters.
    pub async fn metrics(&self) -> Result<Metrics> {
        self.inner
            .addr
            .send(GetMetrics)
            .await
            .map_err(|_| Error::Stopped)
    }

    /// A stream of everything that happens from now on.
    pub async fn events(&self) -> Result<EventStream> {
        self.inner
            .addr
            .send(Subscribe)
            .await
            .map_err(|_| Error::Stopped)
    }

    /// Stops the node: closes every connection and the listener, cancels
    /// pending dials, and returns when all of that is done (the port is free).
    /// Calling it again, or on a stopped node, returns at once.
    pub async fn shutdown(&self) -> Result<()> {
        let (done, finished) = oneshot::channel();
        if self.inner.addr.send(Shutdown { done }).await.is_err() {
            return Ok(());
        }
        let _ = finished.await;
        // After everything the node sent it: the database's queue keeps the order.
        #[cfg(feature = "sqlite")]
        if let Some(db) = &self.inner.history {
            let _ = db.send(crate::history::actor::Close).await;
        }
        Ok(())
    }

    /// The newest `n` broadcasts of this node's history (oldest first, at
    /// most `NodeConfig::storage.query_max`), as kept in its data
    /// directory's database: what it received and sent, across restarts.
    /// Empty for a node without a data directory (or without the `sqlite`
    /// feature). Fails with [`Error::Database`] if the database cannot be read.
    pub async fn history(&self, n: usize) -> Result<Vec<HistoryEntry>> {
        self.inner
            .addr
            .send(GetHistory(n))
            .await
            .map_err(|_| Error::Stopped)?
    }

    /// Every broadcast the node holds in its history store now (in memory),
    /// feed by feed in order: what [`NodeBuilder::restore_history`] takes.
    pub async fn held_history(&self) -> Result<Vec<Frame>> {
        self.inner
            .addr
            .send(HeldHistory)
            .await
            .map_err(|_| Error::Stopped)
    }

    /// Addresses of peers this node was connected to in earlier runs, the
    /// most recent first (at most `NodeConfig::storage.bootstrap_peers`), as
    /// its data directory's database held them at start: bootstrap
    /// addresses for a node started without any. Empty without a database.
    pub fn known_peers(&self) -> &[PeerAddr] {
        &self.inner.known_peers
    }

    async fn command(&self, cmd: Command) -> Result<()> {
        self.inner
            .addr
            .send(Apply(cmd))
            .await
            .map_err(|_| Error::Stopped)?
    }
}

/// Opens the history database of `dir` on its own thread, and loads what
/// a restart restores; a database that cannot be used refuses the start.
#[cfg(feature = "sqlite")]
async fn open_history(
    dir: &DataDir,
    key: NodeKey,
    storage: &crate::config::StorageConfig,
) -> Result<(
    Addr<crate::history::actor::HistoryDb>,
    PathBuf,
    crate::history::Restored,
)> {
    use crate::history::actor::{HistoryDb, Open};
    let path = dir.path().join(crate::history::DB_FILE);
    let db = HistoryDb::start(path.clone(), key, storage.clone());
    let database = |reason: String| Error::Database {
        path: path.clone(),
        reason,
    };
    match db.send(Open).await {
        Ok(Ok(restored)) => Ok((db, path, restored)),
        Ok(Err(reason)) => Err(database(reason)),
        Err(e) => Err(database(e.to_string())),
    }
}

/// Gives the state what the database held at start.
#[cfg(feature = "sqlite")]
fn restore(state: &mut NodeState, restored: &crate::history::Restored) {
    // After the default `set_feed` of `start`: the database's counter wins.
    if let Some(feed) = restored.feed {
        state.set_feed(feed.epoch, feed.next_seq, feed.limit);
    }
    state.restore_history(restored.frames.clone());
    tracing::debug!(
        messages = restored.frames.len(),
        feed = ?restored.feed,
        peers = restored.peers.len(),
        "history database loaded"
    );
}

/// Parses `host:port` (or `[v6]:port`) into a wire address (see [`crate::addr`]).
pub fn parse_addr(s: &str) -> Result<PeerAddr> {
    crate::addr::parse_addr(s)
}

/// Application types must not be a protocol type (those have fixed meanings).
fn check_app_type(msg_type: &str) -> Result<()> {
    let probe = Envelope::new(
        msg_type,
        Value::Null,
        PeerId::new("x"),
        crate::proto::WireTime::Text(String::new()),
    );
    match Body::parse(&probe) {
        Ok(Body::Custom) => Ok(()),
        Err(crate::proto::FrameError::Empty(_)) => Err(Error::ReservedType(msg_type.to_string())),
        _ => Err(Error::ReservedType(msg_type.to_string())),
    }
}
