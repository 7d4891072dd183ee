//! In-memory transport: nodes in one process linked by frame channels instead of TCP.
//!
//! A link is a pair of the connections' own byte-bounded write queues, each
//! read by the connection at the other end: a frame crosses as the parsed,
//! shared `Frame` it already is, with no copy, encoding or parsing. The same
//! `ConnectionActor` runs on these links (it is generic over its transport)
//! and the same PeerActor, RegistryActor and protocol, so a node on a
//! [`MemoryNetwork`] exercises the whole stack except the kernel's sockets and
//! the newline-JSON codec (which the TCP tests cover), with a small footprint
//! per link and no file descriptors: what lets one process hold tens of
//! thousands of nodes.
//!
//! The network can also cut a set of nodes off from the rest
//! ([`MemoryNetwork::partition`]) and heal the cut: each link has a
//! [`LinkGate`] that closes it (both ends see it) or silences it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::mpsc;

use crate::actors::write_queue::{write_queue, WriteQueue, WriteQueueReader};
use crate::proto::PeerAddr;

mod gate;
pub use gate::{GateState, LinkGate};

/// One end of an in-memory link: the queue this end writes into, read by the
/// other end, and the reader of the queue the other end writes into.
pub struct MemoryLink {
    pub(crate) tx: WriteQueue,
    pub(crate) rx: WriteQueueReader,
    /// The link's gate, and which side of it this end reads (0: the dialer).
    pub(crate) gate: (Arc<LinkGate>, usize),
}

/// How a partition cuts the links between its set and the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The links close: both ends see them go.
    Closed,
    /// The links stay up but lose every frame: the ends find out only by
    /// their keep-alive timeout.
    Silent,
    /// Every node of the set is cut off alone: all its links close (a
    /// process about to stop, that must take in nothing more).
    Isolated,
}

/// Ports per in-memory "host": addresses are `mem{k}:{1..=PORTS_PER_HOST}`.
const PORTS_PER_HOST: u32 = 60_000;

/// A switchboard of in-memory listeners. Cheap to clone; every clone is the
/// same network (a clone [`bound`](MemoryNetwork::bound) to a node's address
/// dials from that node).
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    inner: Arc<Mutex<Switchboard>>,
    /// The listener number of the node this clone dials from, if known.
    from: Option<u32>,
}

#[derive(Default)]
struct Switchboard {
    listeners: HashMap<PeerAddr, mpsc::UnboundedSender<MemoryLink>>,
    next: u32,
    /// The links whose two ends' listeners are known: (dialer, acceptor, gate).
    links: Vec<(u32, u32, Weak<LinkGate>)>,
    /// Length of `links` after its last sweep of closed links.
    swept: usize,
    /// While partitioned: the listener numbers cut off, and how.
    cut: Option<(HashSet<u32>, Cut)>,
}

impl Switchboard {
    /// True if a link between listeners `a` and `b` crosses the cut now.
    fn crosses(&self, a: Option<u32>, b: Option<u32>) -> bool {
        match &self.cut {
            Some((set, how)) => {
                let inside = |x: Option<u32>| x.is_some_and(|x| set.contains(&x));
                match how {
                    Cut::Isolated => inside(a) || inside(b),
                    Cut::Closed | Cut::Silent => inside(a) != inside(b),
                }
            }
            None => false,
        }
    }

    /// Forgets links both of whose ends are gone, once the list has doubled since the last sweep.
    fn sweep(&mut self) {
        if self.links.len() >= 2 * self.swept.max(1024) {
            self.links.retain(|(_, _, g)| g.strong_count() > 0);
            self.swept = self.links.len();
        }
    }
}

/// The listener number of an in-memory address (`mem{k}:{port}`).
fn listener_number(addr: &PeerAddr) -> Option<u32> {
    let host: u32 = addr.host().strip_prefix("mem")?.parse().ok()?;
    let port = u32::from(addr.port()).checked_sub(1)?;
    host.checked_mul(PORTS_PER_HOST)?.checked_add(port)
}

/// The receiving end of an in-memory listener: accepted links arrive here.
pub type MemoryListener = mpsc::UnboundedReceiver<MemoryLink>;

impl std::fmt::Debug for MemoryNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.inner.lock().map(|s| s.listeners.len()).unwrap_or(0);
        f.debug_struct("MemoryNetwork")
            .field("listeners", &n)
            .finish()
    }
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a listener on a fresh address of this network.
    pub(crate) fn listen(&self) -> (PeerAddr, MemoryListener) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut board = self.lock();
        let n = board.next;
        board.next += 1;
        let addr = PeerAddr::new(
            format!("mem{}", n / PORTS_PER_HOST),
            (1 + n % PORTS_PER_HOST) as u16,
        );
        board.listeners.insert(addr.clone(), tx);
        (addr, rx)
    }

    /// Listens again on `addr`, an address this network handed out before
    /// and nothing listens on now (a node restarted where it was); `None`
    /// if that is not so.
    pub(crate) fn listen_at(&self, addr: &PeerAddr) -> Option<MemoryListener> {
        let number = listener_number(addr)?;
        let mut board = self.lock();
        if number >= board.next || board.listeners.contains_key(addr) {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        board.listeners.insert(addr.clone(), tx);
        Some(rx)
    }

    /// Closes the listener on `addr`; later connects to it fail.
    pub(crate) fn unlisten(&self, addr: &PeerAddr) {
        self.lock().listeners.remove(addr);
    }

    /// Connects to the listener on `addr`: returns this side's end, whose
    /// queue holds at most `limit` unread bytes, or `None` if nothing listens
    /// there (a refused connection). The other end's queue starts with the
    /// same limit; its acceptor sets its own.
    ///
    /// A dial across a partition is refused.
    pub(crate) fn connect(&self, addr: &PeerAddr, limit: usize) -> Option<MemoryLink> {
        let mut board = self.lock();
        let to = listener_number(addr);
        if board.crosses(self.from, to) {
            return None;
        }
        let listener = board.listeners.get(addr)?;
        let (to_them, they_read) = write_queue(limit);
        let (to_us, we_read) = write_queue(limit);
        let gate = LinkGate::new();
        let theirs = MemoryLink {
            tx: to_us,
            rx: they_read,
            gate: (gate.clone(), 1),
        };
        listener.send(theirs).ok()?;
        if let (Some(a), Some(b)) = (self.from, to) {
            board.sweep();
            board.links.push((a, b, Arc::downgrade(&gate)));
        }
        Some(MemoryLink {
            tx: to_them,
            rx: we_read,
            gate: (gate, 0),
        })
    }

    /// This network, dialling from the node listening on `addr` (so that a
    /// partition knows which side each of its links is on).
    pub fn bound(&self, addr: &PeerAddr) -> MemoryNetwork {
        MemoryNetwork {
            inner: self.inner.clone(),
            from: listener_number(addr),
        }
    }

    /// Cuts the nodes listening on `cut` off from the rest until
    /// [`heal`](MemoryNetwork::heal): every link between the two sides closes
    /// or goes silent, as `how` says, and dials across are refused. A new
    /// partition replaces the last one (whose silent links stay silent only
    /// if they cross the new one too).
    pub fn partition(&self, cut: &[PeerAddr], how: Cut) {
        let mut board = self.lock();
        let set: HashSet<u32> = cut.iter().filter_map(listener_number).collect();
        board.cut = Some((set, how));
        let state = match how {
            Cut::Closed | Cut::Isolated => GateState::Closed,
            Cut::Silent => GateState::Silent,
        };
        for (a, b, gate) in &board.links {
            let Some(gate) = gate.upgrade() else {
                continue;
            };
            if board.crosses(Some(*a), Some(*b)) {
                gate.set(state);
            } else if gate.state() == GateState::Silent {
                gate.set(GateState::Open);
            }
        }
    }

    /// Ends the partition: silent links carry frames again (closed ones stay
    /// closed; the nodes' redials make new ones), and dials across connect.
    pub fn heal(&self) {
        let mut board = self.lock();
        board.cut = None;
        for (_, _, gate) in &board.links {
            if let Some(gate) = gate.upgrade() {
                if gate.state() == GateState::Silent {
                    gate.set(GateState::Open);
                }
            }
        }
    }

    /// How many nodes listen on this network now.
    pub fn len(&self) -> usize {
        self.lock().listeners.len()
    }

    /// True when nothing listens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Switchboard> {
        // A panic while holding this lock would be a bug in the few lines
        // above; recover the data rather than poison every node.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
