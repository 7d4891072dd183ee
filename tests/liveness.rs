//! Liveness over real sockets: dead peers dropped and redialled, slow peers cut off, the peer limit held.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use peerchat::{DisconnectReason, Event, Node, NodeConfig, NodeHandle};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;
use tokio::process::{Child, Command};

/// Short real-time intervals so the end-to-end run takes about a second.
fn quick() -> NodeConfig {
    NodeConfig {
        ping_interval: Duration::from_millis(50),
        peer_timeout: Duration::from_millis(300),
        handshake_timeout: Duration::from_millis(300),
        redial_base: Duration::from_millis(50),
        redial_max: Duration::from_millis(400),
        redial_attempts: 50,
        ..NodeConfig::default()
    }
}

/// A `peerchat run` child process with the quick intervals, so it can be stopped and killed for real.
struct Proc {
    child: Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    addr: String,
}

impl Proc {
    async fn start(listen: &str) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peerchat"))
            .args(["run", "--id", "x", "--listen", listen])
            .args([
                "--ping-interval-ms",
                "50",
                "--peer-timeout-ms",
                "300",
                "--handshake-timeout-ms",
                "300",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn peerchat");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(WAIT, stdout.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let listening: Value = serde_json::from_str(&line).unwrap();
        let addr = listening["addr"].as_str().unwrap().to_string();
        Proc {
            child,
            stdin,
            stdout,
            addr,
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("running").to_string();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    async fn next_event(&mut self, kind: &str, pick: impl Fn(&Value) -> bool) -> Value {
        loop {
            let line = tokio::time::timeout(WAIT, self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("x: no {kind} event in time"))
                .unwrap()
                .expect("x stdout open");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["event"] == kind && pick(&v) {
                return v;
            }
        }
    }
}

async fn disconnected(events: &mut peerchat::EventStream, peer: &str) -> DisconnectReason {
    expect(events, &format!("{peer} dropped"), |e| match e {
        Event::PeerDisconnected {
            peer: p, reason, ..
        } if p.as_str() == peer => Some(*reason),
        _ => None,
    })
    .await
}

async fn connected(events: &mut peerchat::EventStream, peer: &str) {
    expect(events, &format!("{peer} registered"), |e| match e {
        Event::PeerConnected { peer: p, .. } if p.as_str() == peer => Some(()),
        _ => None,
    })
    .await
}

/// Five nodes; one is a separate process. Frozen (SIGSTOP), every survivor drops
/// it by timeout and the rest still chat; killed and restarted on the same
/// address, every survivor redials it, registers it again, and it gets broadcasts.
#[actix_rt::test]
async fn frozen_then_restarted_peer_is_dropped_and_redialled() {
    let mut x = Proc::start("127.0.0.1:0").await;
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for i in 0..4 {
        nodes.push(
            Node::builder(format!("s{i}"))
                .config(quick())
                .start()
                .await
                .unwrap(),
        );
    }
    for i in 0..4 {
        link(&nodes[i], &nodes[(i + 1) % 4]).await;
        nodes[i].join(&x.addr).await.unwrap();
        until("x registered", || knows(&nodes[i], "x")).await;
    }
    let mut streams = Vec::new();
    for n in &nodes {
        streams.push(n.events().await.unwrap());
    }

    x.signal("-STOP");
    let frozen_at = tokio::time::Instant::now();
    for events in &mut streams {
        assert_eq!(disconnected(events, "x").await, DisconnectReason::Timeout);
    }
    println!(
        "frozen peer dropped by all survivors after {:?}",
        frozen_at.elapsed()
    );
    nodes[0].broadcast("without x").await.unwrap();
    for events in &mut streams[1..] {
        broadcast_from(events, "without x").await;
    }

    x.signal("-KILL");
    let _ = x.child.wait().await;
    let mut x = Proc::start(&x.addr).await;
    for events in &mut streams {
        connected(events, "x").await;
    }
    nodes[2].broadcast("welcome back").await.unwrap();
    x.next_event("broadcast", |v| v["text"] == "welcome back")
        .await;
    x.stdin.write_all(b"quit\n").await.unwrap();
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// A peer that completes the handshake and never reads is dropped as a slow
/// peer once its send queue passes the bound; the node's real peer gets every message.
#[actix_rt::test]
async fn stuck_reader_is_dropped_and_others_keep_receiving() {
    let config = NodeConfig {
        send_queue_bytes: 64 * 1024,
        ..NodeConfig::default()
    };
    let a = Node::builder("a").config(config).start().await.unwrap();
    let b = start("b").await;
    link(&a, &b).await;
    let mut ea = a.events().await.unwrap();
    let mut eb = b.events().await.unwrap();

    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(a.local_addr()).await.unwrap();
    let ping = json!({"msg_type": "PING", "msg": ["127.0.0.1", 1], "originator": "stuck", "time": "t", "v": 1});
    stuck
        .write_all(format!("{ping}\n").as_bytes())
        .await
        .unwrap();
    connected(&mut ea, "stuck").await;

    const MESSAGES: usize = 600;
    let text = "x".repeat(16 * 1024);
    for i in 0..MESSAGES {
        a.broadcast(format!("{i} {text}")).await.unwrap();
    }
    assert_eq!(
        disconnected(&mut ea, "stuck").await,
        DisconnectReason::SlowPeer
    );
    let mut got = 0;
    expect(&mut eb, "every message at b", |e| {
        if let Event::Broadcast { .. } = e {
            got += 1;
        }
        (got == MESSAGES).then_some(())
    })
    .await;
    let m = a.metrics().await.unwrap();
    assert_eq!(m.slow_peer_drops, 1);
    drop(stuck);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// 200 sockets that ping a node already at `max_peers` are referred elsewhere
/// and closed; the node keeps its real peers and keeps serving them.
#[actix_rt::test]
async fn peer_limit_holds_under_connection_churn() {
    let config = NodeConfig {
        max_peers: 2,
        ..NodeConfig::default()
    };
    let a = Node::builder("a").config(config).start().await.unwrap();
    let b = start("b").await;
    let c = start("c").await;
    link(&a, &b).await;
    link(&a, &c).await;
    for i in 0..200 {
        let mut raw = RawClient::connect(&a).await;
        raw.send(json!({"msg_type": "PING", "msg": ["127.0.0.1", 1000 + i], "originator": format!("r{i}"), "time": "t", "v": 1}))
            .await;
        let referral = raw.recv().await.expect("referred");
        assert_eq!(referral["msg_type"], "ADVERTISE_REPLY");
        while raw.recv_or_reset().await.is_some() {}
    }
    let peers: Vec<String> = a
        .peers()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(peers, ["b", "c"]);
    let mut ec = c.events().await.unwrap();
    b.broadcast("still served").await.unwrap();
    broadcast_from(&mut ec, "still served").await;
    until("churned connections closed", || async {
        a.metrics().await.unwrap().connections == 2
    })
    .await;
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}
