//! Runs the conformance vectors in `tests/vectors/` against peerchat's own state machine.
//!
//! The vectors are language-neutral JSON (their format is `tests/vectors/README.md`);
//! this file is the reference runner another implementation can copy.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use peerchat::proto::{
    Command, ConnId, Direction, Frame, InEvent, Instant, NodeState, OutEvent, PeerAddr, PeerId,
};
use peerchat::NodeConfig;
use serde_json::{json, Value};

fn load(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `expected` matches `actual` where every `"*"` in `expected` matches any value.
fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(s), _) if s == "*" => true,
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, ev)| a.get(k).is_some_and(|av| matches(ev, av)))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(ev, av)| matches(ev, av))
        }
        _ => expected == actual,
    }
}

/// Every frame of `decode.json` decodes (or fails to) as stated, to the stated type.
#[test]
fn decode_vectors() {
    let vectors = load("decode.json");
    let cases = vectors["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20, "too few decode vectors");
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let line = case["line"].as_str().expect("line");
        let result = Frame::decode(Bytes::copy_from_slice(line.as_bytes()));
        let valid = case["valid"].as_bool().expect("valid");
        assert_eq!(result.is_ok(), valid, "{name}: {result:?}");
        if let (Ok(frame), Some(ty)) = (result, case["type"].as_str()) {
            let got = frame.body().type_name().unwrap_or("custom");
            assert_eq!(got, ty, "{name}");
        }
    }
}

/// A node set up as `handling.json`'s `setup` says, with its two neighbours registered.
struct Harness {
    node: NodeState,
    names: BTreeMap<ConnId, String>,
}

const NEW_CONN: ConnId = ConnId(3);

impl Harness {
    fn new(setup: &Value) -> Harness {
        let id = setup["node"]["id"].as_str().expect("node id");
        let listen: PeerAddr = serde_json::from_value(setup["node"]["listen"].clone()).unwrap();
        let epoch = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut node = NodeState::new(PeerId::new(id), listen, NodeConfig::default(), epoch);
        for ty in setup["handlers"].as_array().expect("handlers") {
            node.add_handled_type(ty.as_str().expect("handler type"));
        }
        let mut h = Harness {
            node,
            names: BTreeMap::new(),
        };
        h.node.start(Instant::ZERO, &mut Vec::new());
        for (i, n) in setup["neighbours"]
            .as_array()
            .expect("neighbours")
            .iter()
            .enumerate()
        {
            let conn = ConnId(i as u64 + 1);
            h.names
                .insert(conn, n["id"].as_str().expect("id").to_string());
            h.step(InEvent::Connected {
                conn,
                dir: Direction::Inbound,
                local: None,
                remote: None,
            });
            h.receive(conn, n["hello"].as_str().expect("hello"));
        }
        h
    }

    fn step(&mut self, event: InEvent) -> Vec<OutEvent> {
        let mut out = Vec::new();
        self.node.handle(event, Instant::ZERO, &mut out);
        out
    }

    fn receive(&mut self, conn: ConnId, line: &str) -> Vec<OutEvent> {
        match Frame::decode(Bytes::copy_from_slice(line.as_bytes())) {
            Ok(frame) => self.step(InEvent::Received { conn, frame }),
            Err(error) => self.step(InEvent::Malformed { conn, error }),
        }
    }

    fn conn_of(&self, name: &str) -> ConnId {
        if name == "new" {
            return NEW_CONN;
        }
        *self
            .names
            .iter()
            .find(|(_, n)| *n == name)
            .unwrap_or_else(|| panic!("no neighbour {name}"))
            .0
    }
}

/// The line `frame` is written as (per-hop round included), without its newline.
fn wire(frame: &Frame) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    frame.write_to(&mut out);
    out.truncate(out.len() - 1);
    out.to_vec()
}

/// What the node did with one line, in the vocabulary of `handling.json`.
#[derive(Default, Debug)]
struct Observed {
    events: Vec<Value>,
    sent: Vec<Value>,
    /// For each `sent` entry, whether its bytes are the received line's.
    same_bytes: Vec<bool>,
    closed: Option<Value>,
    handled: bool,
}

fn observe(h: &Harness, line: &str, out: Vec<OutEvent>) -> Observed {
    let mut o = Observed::default();
    let json_of = |f: &Frame| serde_json::from_slice::<Value>(&wire(f)).unwrap();
    for ev in out {
        match ev {
            OutEvent::Emit(event) => o.events.push(serde_json::to_value(&event).unwrap()),
            OutEvent::Send { conn, frame } => {
                let to = h.names.get(&conn).cloned().unwrap_or_else(|| "new".into());
                o.sent.push(json!({"to": to, "frame": json_of(&frame)}));
                o.same_bytes.push(wire(&frame) == line.as_bytes());
            }
            OutEvent::SendOneShot { addr, frame } => {
                o.sent
                    .push(json!({"one_shot": addr, "frame": json_of(&frame)}));
                o.same_bytes.push(wire(&frame) == line.as_bytes());
            }
            OutEvent::Dial(addr) | OutEvent::DialPlain(addr) => {
                o.sent.push(json!({"dial": addr}));
                o.same_bytes.push(false);
            }
            OutEvent::Close { reason, .. } => {
                o.closed = Some(serde_json::to_value(reason).unwrap())
            }
            OutEvent::Handle { .. } => o.handled = true,
            OutEvent::Schedule { .. }
            | OutEvent::WatchQueue { .. }
            | OutEvent::Persist { .. }
            | OutEvent::ReserveFeed { .. } => {}
        }
    }
    o
}

/// Does the observed send `i` match the expected entry `e`?
fn send_matches(e: &Value, o: &Observed, i: usize) -> bool {
    let actual = &o.sent[i];
    for key in ["to", "one_shot", "dial"] {
        if e.get(key) != actual.get(key) {
            return false;
        }
    }
    if e["same_bytes"] == json!(true) && !o.same_bytes[i] {
        return false;
    }
    match e.get("frame") {
        Some(frame) => matches(frame, &actual["frame"]),
        None => true,
    }
}

/// Every case of `handling.json` (neighbours without `tree`): the exact
/// events, sends, closes and handler calls.
#[test]
fn handling_vectors() {
    run_handling("handling.json");
}

/// Every case of `tree.json` (neighbours that build trees).
#[test]
fn tree_vectors() {
    run_handling("tree.json");
}

fn run_handling(file: &str) {
    let vectors = load(file);
    let cases = vectors["cases"].as_array().expect("cases");
    assert!(cases.len() >= 5, "too few vectors in {file}");
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let mut h = Harness::new(&vectors["setup"]);
        let on = h.conn_of(case["on"].as_str().unwrap_or("left"));
        if on == NEW_CONN {
            h.step(InEvent::Connected {
                conn: on,
                dir: Direction::Inbound,
                local: None,
                remote: None,
            });
        }
        if let Some(peer) = case["solicit"].as_str() {
            let mut out = Vec::new();
            let cmd = Command::GetPeersFrom(PeerId::new(peer));
            h.node.command(cmd, Instant::ZERO, &mut out).unwrap();
        }
        let before_on = match case["before_on"].as_str() {
            Some(name) => h.conn_of(name),
            None => on,
        };
        for line in case["before"].as_array().into_iter().flatten() {
            h.receive(before_on, line.as_str().expect("before line"));
        }
        let malformed_before = h.node.metrics().malformed_frames;
        let line = case["line"].as_str().expect("line");
        let out = h.receive(on, line);
        let o = observe(&h, line, out);
        let expect = &case["expect"];

        assert_eq!(json!(o.events), expect["events"], "{name}: events");
        let want = expect["sent"].as_array().expect("sent");
        assert_eq!(o.sent.len(), want.len(), "{name}: sent {:?}", o.sent);
        let mut used = vec![false; o.sent.len()];
        for e in want {
            let hit = (0..o.sent.len()).find(|&i| !used[i] && send_matches(e, &o, i));
            let i = hit.unwrap_or_else(|| panic!("{name}: no send matches {e}; sent {:?}", o.sent));
            used[i] = true;
        }
        assert_eq!(o.closed.as_ref(), expect.get("closed"), "{name}: closed");
        assert_eq!(
            o.handled,
            expect["handled"] == json!(true),
            "{name}: handled"
        );
        let malformed = h.node.metrics().malformed_frames > malformed_before;
        assert_eq!(
            malformed,
            expect["malformed"] == json!(true),
            "{name}: malformed"
        );
        for (peer, want) in expect["peers"].as_object().into_iter().flatten() {
            let info = h.node.peer(&PeerId::new(peer.as_str()), Instant::ZERO);
            let info = info.unwrap_or_else(|| panic!("{name}: {peer} not registered"));
            let got =
                json!({"version": info.version, "caps": info.caps, "one_shot": info.one_shot});
            assert_eq!(&got, want, "{name}: peer {peer}");
        }
    }
}
