//! In-memory transport: nodes in one process linked by duplex byte streams instead of TCP.
//!
//! The same `ConnectionActor` runs on these streams (it is generic over the
//! stream), so a node on a [`MemoryNetwork`] exercises the whole stack except
//! the kernel's sockets, with a small footprint per link and no file
//! descriptors, which is what lets one process hold tens of thousands of nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::DuplexStream;
use tokio::sync::mpsc;

use crate::proto::PeerAddr;

/// Bytes buffered in each direction of an in-memory link before the writer waits.
pub const MEMORY_LINK_BUFFER: usize = 16 * 1024;

/// Ports per in-memory "host": addresses are `mem{k}:{1..=PORTS_PER_HOST}`.
const PORTS_PER_HOST: u32 = 60_000;

/// A switchboard of in-memory listeners. Cheap to clone; every clone is the same network.
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    inner: Arc<Mutex<Switchboard>>,
}

#[derive(Default)]
struct Switchboard {
    listeners: HashMap<PeerAddr, mpsc::UnboundedSender<DuplexStream>>,
    next: u32,
}

/// The receiving end of an in-memory listener: accepted streams arrive here.
pub type MemoryListener = mpsc::UnboundedReceiver<DuplexStream>;

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

    /// Connects to the listener on `addr`: returns this side's stream, or
    /// `None` if nothing listens there (a refused connection).
    pub(crate) fn connect(&self, addr: &PeerAddr, buffer: usize) -> Option<DuplexStream> {
        let board = self.lock();
        let listener = board.listeners.get(addr)?;
        let (ours, theirs) = tokio::io::duplex(buffer);
        listener.send(theirs).ok()?;
        Some(ours)
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
