//! The thin executors of the protocol: PeerActor, ConnectionActor, RegistryActor, and the listener.

pub mod acceptor;
pub mod connection;
pub mod dial;
pub mod peer;
pub mod registry;
pub mod timers;
pub mod write_queue;

pub use connection::ConnectionSpawner;
pub use peer::PeerActor;
pub use registry::RegistryActor;
