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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::actors::write_queue::{write_queue, WriteQueue, WriteQueueReader};
use crate::proto::PeerAddr;

/// One end of an in-memory link: the queue this end writes into, read by the
/// other end, and the reader of the queue the other end writes into.
pub struct MemoryLink {
    pub(crate) tx: WriteQueue,
    pub(crate) rx: WriteQueueReader,
}

/// Ports per in-memory "host": addresses are `mem{k}:{1..=PORTS_PER_HOST}`.
const PORTS_PER_HOST: u32 = 60_000;

/// A switchboard of in-memory listeners. Cheap to clone; every clone is the same network.
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    inner: Arc<Mutex<Switchboard>>,
}

#[derive(Default)]
struct Switchboard {
    listeners: HashMap<PeerAddr, mpsc::UnboundedSender<MemoryLink>>,
    next: u32,
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

    /// Closes the listener on `addr`; later connects to it fail.
    pub(crate) fn unlisten(&self, addr: &PeerAddr) {
        self.lock().listeners.remove(addr);
    }

    /// Connects to the listener on `addr`: returns this side's end, whose
    /// queue holds at most `limit` unread bytes, or `None` if nothing listens
    /// there (a refused connection). The other end's queue starts with the
    /// same limit; its acceptor sets its own.
    pub(crate) fn connect(&self, addr: &PeerAddr, limit: usize) -> Option<MemoryLink> {
        let board = self.lock();
        let listener = board.listeners.get(addr)?;
        let (to_them, they_read) = write_queue(limit);
        let (to_us, we_read) = write_queue(limit);
        let theirs = MemoryLink {
            tx: to_us,
            rx: they_read,
        };
        listener.send(theirs).ok()?;
        Some(MemoryLink {
            tx: to_them,
            rx: we_read,
        })
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
