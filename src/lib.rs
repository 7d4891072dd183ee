//! peerchat: a peer-to-peer chat node on the actix actor framework.
//!
//! A node listens on TCP, keeps a table of known peers and speaks the JSON
//! envelope of the original Python chat peers (`{msg_type, msg, originator,
//! time}`): `PING`/`PONG` register peers, `ADVERTISE`/`ADVERTISE_REPLY`
//! exchange peer lists, `BROADCAST` carries chat text to every node exactly
//! once, `TEST` is a probe, and applications register handlers for their own
//! types.
//!
//! The documents live in the repository: `docs/PROTOCOL.md` (the wire
//! contract: frames, fields, limits, versions and capabilities, the
//! unknown-fields rule, the `run` mode's event stream), `tests/vectors/`
//! (conformance vectors), `docs/DESIGN.md` (the layout of this crate and the
//! path of one message) and `docs/BENCH.md` (the benchmark workloads).
//!
//! ```no_run
//! use peerchat::{Event, Node};
//!
//! #[actix::main]
//! async fn main() -> peerchat::Result<()> {
//!     let alice = Node::builder("alice").listen("127.0.0.1:0").start().await?;
//!     let bob = Node::builder("bob").bootstrap([alice.local_addr()]).start().await?;
//!     let mut events = alice.events().await?;
//!     bob.broadcast("hello").await?;
//!     while let Some(event) = events.next().await {
//!         if let Event::Broadcast { from, text, .. } = event {
//!             println!("{from}: {text}");
//!             break;
//!         }
//!     }
//!     bob.shutdown().await?;
//!     alice.shutdown().await
//! }
//! ```
//!
//! # Errors, limits and panics
//!
//! A message too large to be sent whole is an [`Error::FrameTooLarge`]
//! before anything reaches the wire; a subscriber that falls behind gets
//! [`Event::Lagged`]; the limits of [`NodeConfig`] each say what happens
//! past them. An application handler that panics is caught, logged and
//! counted ([`Metrics::handler_panics`]) and the node goes on: this needs the
//! default `panic = "unwind"` (with `panic = "abort"` the process ends).
//!
//! # Layout
//!
//! - [`proto`]: the protocol as a pure state machine ([`proto::NodeState`]):
//!   envelope, frames, peer table, seen-cache, the broadcast tree, keys and
//!   signatures, pins, sealed messages, feeds and catch-up, the message
//!   store. No actix, no sockets, no clock.
//! - [`addr`]: the `host:port` syntax addresses are given in.
//! - [`codec`]: newline-delimited JSON framing with a frame-length limit.
//! - [`actors`]: the thin executors: `PeerActor` (one per node, runs the state
//!   machine), `ConnectionActor` (one per connection: a TCP stream or an
//!   in-memory link), `RegistryActor` (dials).
//! - [`secure`]: encrypted, authenticated links (Noise XX bound to the
//!   node's ed25519 key) carrying the same frames over TCP.
//! - [`transport`]: the in-memory network, whose links carry parsed frames
//!   (never encrypted: they carry no bytes).
//! - [`resolve`]: the [`resolve::Resolver`] dials ask for the addresses of a
//!   host name (the system's, or a fixed table for tests).
//! - [`node`]: the public API, [`Node::builder`] and [`NodeHandle`].
//! - [`events`]: the [`EventStream`] an application reads.
//! - [`history`]: the history database of a node with a data directory
//!   (feature `sqlite`): messages, the feed counter, known peers.
//! - [`data_dir`]: a node's data directory (locked; its `identity.key`) and
//!   [`pins_file`]: the names pinned to keys, saved beside it.
//! - [`config`]: every limit and interval, with defaults.
//! - [`sim`]: many nodes in one process: the deterministic `Network` of
//!   pure states (`network`, `exec`, `worker`, `order`, `queue`, `track`,
//!   `faults`, `topology`, `latency`), the real-actor `Cluster` (`cluster`:
//!   `tally`, `workloads`, `churn`, `measure`), and what both share: the
//!   delivery log (`deliveries`), who can reach whom (`reach`), the one
//!   report (`report`), plots and progress.

#![warn(missing_docs)]

mod actors;
pub mod addr;
pub mod codec;
pub mod config;
pub mod data_dir;
pub mod error;
pub mod events;
pub mod handler;
pub mod history;
pub mod node;
pub mod pins_file;
pub mod proto;
pub mod resolve;
pub mod secure;
pub mod sim;
pub mod transport;

pub use addr::parse_listen_addr;
pub use config::NodeConfig;
pub use error::{Error, Result};
pub use events::EventStream;
pub use handler::{MessageHandler, Reply};
pub use node::{parse_addr, Delivered, Node, NodeBuilder, NodeHandle};
pub use proto::{
    DialError, DisconnectReason, Envelope, Event, MessageId, Metrics, PeerAddr, PeerId, PeerInfo,
    WireTime,
};
pub use transport::MemoryNetwork;

/// The README's code compiles (`cargo test` runs it as a doctest).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
