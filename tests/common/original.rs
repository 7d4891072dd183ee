//! A stand-in for the original Python chat peer, faithful to its wire habits:
//! it reads ONE frame per connection (a single read of at most 2048 bytes) and
//! closes; it sends every frame on a new connection, with no newline, and
//! closes; its `time` is C `ctime` text; it sends no `v` and no `id`; it
//! remembers only the last 10 `(msg, time)` pairs; it forwards a broadcast to
//! every peer but the originator (so also back to whoever sent it); it answers
//! `ADVERTISE` with one connection per known peer, and only to peers it knows.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How many `(msg, time)` pairs the original remembers.
const ORIGINAL_SEEN: usize = 10;
/// The original's single read.
const ORIGINAL_READ: usize = 2048;

#[derive(Default)]
struct Shared {
    peers: BTreeMap<String, (String, u16)>,
    seen: VecDeque<(Value, Value)>,
}

pub struct OriginalPeer {
    pub id: String,
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    delivered: mpsc::UnboundedReceiver<Value>,
}

fn ctime() -> String {
    chrono::Utc::now()
        .format("%a %b %e %H:%M:%S %Y")
        .to_string()
}

/// Connect, write one object without newline, close: the original's `send_message`.
async fn send(host: &str, port: u16, frame: Value) {
    if let Ok(mut s) = TcpStream::connect((host, port)).await {
        let _ = s.write_all(frame.to_string().as_bytes()).await;
        let _ = s.shutdown().await;
    }
}

impl OriginalPeer {
    pub async fn start(id: &str) -> OriginalPeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (tx, delivered) = mpsc::unbounded_channel();
        let (me, state) = (id.to_string(), shared.clone());
        actix_rt::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; ORIGINAL_READ];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                drop(stream);
                let Ok(frame) = serde_json::from_slice::<Value>(&buf[..n]) else {
                    tx.send(json!({"error": String::from_utf8_lossy(&buf[..n])}))
                        .ok();
                    continue;
                };
                handle(&me, port, &state, &tx, frame).await;
            }
        });
        OriginalPeer {
            id: id.to_string(),
            port,
            shared,
            delivered,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn envelope(&self, msg_type: &str, msg: Value) -> Value {
        json!({"msg_type": msg_type, "msg": msg, "originator": self.id, "time": ctime()})
    }

    /// `join(host, port)`: PING the address.
    pub async fn join(&self, port: u16) {
        send(
            "127.0.0.1",
            port,
            self.envelope("PING", json!(["127.0.0.1", self.port])),
        )
        .await;
    }

    /// `broadcast(msg)`: to every known peer, one connection each.
    pub async fn broadcast(&self, text: &str) {
        let frame = self.envelope("BROADCAST", json!(text));
        remember(&self.shared, &frame);
        for (host, port) in self.peer_addrs() {
            send(&host, port, frame.clone()).await;
        }
    }

    /// `get_peers_from(peer_id)`: ADVERTISE to a known peer.
    pub async fn get_peers_from(&self, peer: &str) {
        let addr = self
            .shared
            .lock()
            .unwrap()
            .peers
            .get(peer)
            .cloned()
            .expect("known peer");
        send(&addr.0, addr.1, self.envelope("ADVERTISE", json!(""))).await;
    }

    pub fn knows(&self, peer: &str) -> bool {
        self.shared.lock().unwrap().peers.contains_key(peer)
    }

    fn peer_addrs(&self) -> Vec<(String, u16)> {
        self.shared
            .lock()
            .unwrap()
            .peers
            .values()
            .cloned()
            .collect()
    }

    /// The next frame this peer handed to its "application" (BROADCAST or TEST), or
    /// an `{"error": ...}` for a read it could not parse.
    pub async fn next_delivery(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.delivered.recv())
            .await
            .expect("original peer delivery in time")
            .expect("original peer running")
    }

    /// The next delivered TEST frame.
    pub async fn clone_delivery_test(&mut self) -> Value {
        loop {
            let d = self.next_delivery().await;
            if d["msg_type"] == "TEST" {
                return d;
            }
        }
    }

    /// Deliveries until a broadcast with `text` arrives, that one included.
    pub async fn deliveries_until(&mut self, text: &str) -> Vec<Value> {
        let mut got = Vec::new();
        loop {
            let d = self.next_delivery().await;
            let done = d["msg"] == text;
            got.push(d);
            if done {
                return got;
            }
        }
    }
}

/// Records the `(msg, time)` key; `false` if it is among the last ten.
fn remember(state: &Mutex<Shared>, frame: &Value) -> bool {
    let key = (frame["msg"].clone(), frame["time"].clone());
    let mut s = state.lock().unwrap();
    if s.seen.contains(&key) {
        return false;
    }
    s.seen.push_back(key);
    if s.seen.len() > ORIGINAL_SEEN {
        s.seen.pop_front();
    }
    true
}

async fn handle(
    me: &str,
    port: u16,
    state: &Mutex<Shared>,
    tx: &mpsc::UnboundedSender<Value>,
    frame: Value,
) {
    let origin = frame["originator"].as_str().unwrap_or_default().to_string();
    let envelope = |msg_type: &str, msg: Value| json!({"msg_type": msg_type, "msg": msg, "originator": me, "time": ctime()});
    let addr_of = |v: &Value| {
        (
            v[0].as_str().unwrap_or_default().to_string(),
            v[1].as_u64().unwrap_or(0) as u16,
        )
    };
    match frame["msg_type"].as_str().unwrap_or_default() {
        "PING" => {
            let (host, p) = addr_of(&frame["msg"]);
            state
                .lock()
                .unwrap()
                .peers
                .insert(origin, (host.clone(), p));
            send(&host, p, envelope("PONG", json!(["127.0.0.1", port]))).await;
        }
        "PONG" => {
            let (host, p) = addr_of(&frame["msg"]);
            state.lock().unwrap().peers.insert(origin, (host, p));
        }
        "ADVERTISE" => {
            let (asker, peers) = {
                let s = state.lock().unwrap();
                (s.peers.get(&origin).cloned(), s.peers.clone())
            };
            let Some((host, p)) = asker else { return }; // unknown askers are ignored
            for (id, (h, pp)) in peers {
                send(&host, p, envelope("ADVERTISE_REPLY", json!([id, [h, pp]]))).await;
            }
        }
        "ADVERTISE_REPLY" => {
            let id = frame["msg"][0].as_str().unwrap_or_default().to_string();
            let (host, p) = addr_of(&frame["msg"][1]);
            let new = id != me && !state.lock().unwrap().peers.contains_key(&id);
            if new {
                state.lock().unwrap().peers.insert(id, (host.clone(), p));
                send(&host, p, envelope("PING", json!(["127.0.0.1", port]))).await;
            }
        }
        "BROADCAST" => {
            if !remember(state, &frame) {
                return;
            }
            tx.send(frame.clone()).ok();
            let targets: Vec<(String, u16)> = {
                let s = state.lock().unwrap();
                s.peers
                    .iter()
                    .filter(|(id, _)| **id != origin)
                    .map(|(_, a)| a.clone())
                    .collect()
            };
            for (host, p) in targets {
                send(&host, p, frame.clone()).await;
            }
        }
        "TEST" => {
            tx.send(frame).ok();
        }
        _ => {}
    }
}
