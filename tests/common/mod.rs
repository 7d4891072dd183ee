//! Helpers shared by the socket tests: start nodes on port 0, wire them, wait for events.
#![allow(dead_code)]

pub mod original;
pub mod secure;

use std::time::Duration;

use peerchat::{Event, EventStream, Node, NodeHandle, PeerId};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Starts a node called `id` on an OS-chosen loopback port.
pub async fn start(id: &str) -> NodeHandle {
    Node::builder(id)
        .listen("127.0.0.1:0")
        .start()
        .await
        .expect("node starts")
}

/// A node on an OS-chosen loopback port that floods broadcasts (no tree).
pub async fn start_flood(id: &str) -> NodeHandle {
    let config = peerchat::NodeConfig {
        broadcast: peerchat::config::BroadcastMode::Flood,
        ..Default::default()
    };
    Node::builder(id)
        .listen("127.0.0.1:0")
        .config(config)
        .start()
        .await
        .expect("node starts")
}

/// Waits until `events` yields an event `pick` accepts; panics after [`WAIT`].
pub async fn expect<T>(
    events: &mut EventStream,
    what: &str,
    pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    events
        .wait_for(WAIT, pick)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Polls `cond` until it holds; panics after [`WAIT`].
pub async fn until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// True if `node` has registered `peer`.
pub async fn knows(node: &NodeHandle, peer: &str) -> bool {
    node.peer(peer).await.expect("node alive").is_some()
}

/// `a` joins `b`; returns once each has registered the other.
pub async fn link(a: &NodeHandle, b: &NodeHandle) {
    a.join(b.local_addr()).await.expect("join");
    let (ai, bi) = (a.id().to_string(), b.id().to_string());
    until(&format!("{ai} <-> {bi}"), || async {
        knows(a, &bi).await && knows(b, &ai).await
    })
    .await;
}

/// Waits for the broadcast with `text`, returning its sender.
pub async fn broadcast_from(events: &mut EventStream, text: &str) -> PeerId {
    expect(events, &format!("broadcast {text:?}"), |e| match e {
        Event::Broadcast { from, text: t, .. } if t == text => Some(from.clone()),
        _ => None,
    })
    .await
}

/// Collects the texts of every broadcast that arrives until `last` does.
pub async fn broadcasts_until(events: &mut EventStream, last: &str) -> Vec<String> {
    let mut seen = Vec::new();
    expect(events, &format!("broadcast {last:?}"), |e| match e {
        Event::Broadcast { text, .. } => {
            seen.push(text.clone());
            (text == last).then_some(())
        }
        _ => None,
    })
    .await;
    seen
}

/// A raw TCP client speaking newline-delimited JSON, for black-box checks.
pub struct RawClient {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl RawClient {
    pub async fn connect(node: &NodeHandle) -> RawClient {
        let stream = TcpStream::connect(node.local_addr())
            .await
            .expect("connect");
        let (r, w) = stream.into_split();
        RawClient {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    pub async fn send(&mut self, json: serde_json::Value) {
        let mut line = json.to_string().into_bytes();
        line.push(b'\n');
        self.send_raw(&line).await;
    }

    /// The next frame, or `None` at end of stream; panics after [`WAIT`].
    pub async fn recv(&mut self) -> Option<serde_json::Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut line))
            .await
            .expect("frame in time")
            .expect("read");
        (n > 0).then(|| serde_json::from_str(&line).expect("valid JSON frame"))
    }

    /// The write half, for raw writes.
    pub fn writer_mut(&mut self) -> &mut tokio::net::tcp::OwnedWriteHalf {
        &mut self.writer
    }

    /// The next frame, or `None` when the node closed (or reset) the connection.
    pub async fn recv_or_reset(&mut self) -> Option<serde_json::Value> {
        let mut line = String::new();
        match tokio::time::timeout(WAIT, self.reader.read_line(&mut line)).await {
            Err(_) => panic!("connection neither closed nor answered in time"),
            Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => serde_json::from_str(&line).ok(),
        }
    }

    /// Reads frames until one of `msg_type` arrives.
    pub async fn recv_type(&mut self, msg_type: &str) -> serde_json::Value {
        loop {
            let frame = self
                .recv()
                .await
                .unwrap_or_else(|| panic!("closed before {msg_type}"));
            if frame["msg_type"] == msg_type {
                return frame;
            }
        }
    }
}
