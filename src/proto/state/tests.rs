//! Unit tests of `NodeState`: one event in, the exact out-events asserted.

use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::proto::Trust;
use crate::proto::{Body, ConnId, Direction, DisconnectReason, Event, InEvent, OutEvent, Timer};

const ME: &str = "m";

fn at(ms: u64) -> Instant {
    Instant::from_epoch(Duration::from_millis(ms))
}

/// The tests of flooding: a node that does not build trees (tree tests: `tests/tree.rs`).
fn config() -> NodeConfig {
    NodeConfig {
        broadcast: crate::config::BroadcastMode::Flood,
        history: crate::config::HistoryConfig::off(),
        ..NodeConfig::default()
    }
}

fn node_with(config: NodeConfig) -> NodeState {
    let epoch = Utc.with_ymd_and_hms(2026, 11, 28, 4, 41, 59).unwrap();
    NodeState::new(
        PeerId::new(ME),
        PeerAddr::new("127.0.0.1", 5000),
        config,
        epoch,
    )
}

fn node() -> NodeState {
    node_with(config())
}

/// A frame in the field order peerchat writes (so expected and actual bytes compare).
fn frame(json: serde_json::Value) -> Frame {
    let env: Envelope = serde_json::from_value(json).unwrap();
    Frame::decode(Bytes::from(serde_json::to_vec(&env).unwrap())).unwrap()
}

/// The frame `state` would write as a hello (`PING`/`PONG`) at `now`.
fn hello(msg_type: &str, from: &str, port: u16, time: &str) -> Frame {
    frame(
        json!({"msg_type": msg_type, "msg": ["127.0.0.1", port], "originator": from, "time": time, "v": PROTOCOL_VERSION, "caps": []}),
    )
}

fn step(s: &mut NodeState, ev: InEvent, now: Instant) -> Vec<OutEvent> {
    let mut out = Vec::new();
    s.handle(ev, now, &mut out);
    out
}

fn connect_in(s: &mut NodeState, conn: u64) {
    step(
        s,
        InEvent::Connected {
            conn: ConnId(conn),
            dir: Direction::Inbound,
            local: None,
            remote: None,
        },
        at(0),
    );
}

/// Registers peer `id` (listening on `port`) on inbound connection `conn`.
fn register(s: &mut NodeState, conn: u64, id: &str, port: u16) {
    connect_in(s, conn);
    step(
        s,
        InEvent::Received {
            conn: ConnId(conn),
            frame: hello("PING", id, port, "t"),
        },
        at(0),
    );
}

const T0: &str = "2026-11-28T04:41:59.000Z";

mod addresses;
mod advertise;
mod broadcast;
mod catchup;
mod direct;
mod feeds;
mod frames;
mod hello;
mod keyed;
mod limits;
mod liveness;
mod one_shot;
mod secure;
mod signed;
mod signed_direct;
mod tree;
mod tree_repair;
