//! Encrypted, authenticated links over TCP: secure by default between
//! peerchat nodes, legacy plaintext still served, and every link-level attack
//! of issue 13 (tampered, cut, stalled, forged, garbage, downgrade) refused,
//! closed with its reason and counted.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::secure::{keys, SecureClient};
use common::*;
use peerchat::secure::MAGIC;
use peerchat::{DialError, DisconnectReason, Event, Node, NodeConfig, NodeHandle};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

async fn start_with(id: &str, config: NodeConfig) -> NodeHandle {
    Node::builder(id)
        .listen("127.0.0.1:0")
        .config(config)
        .start()
        .await
        .expect("node starts")
}

async fn metrics(node: &NodeHandle) -> peerchat::Metrics {
    node.metrics().await.unwrap()
}

fn ping(from: &str, port: u16) -> serde_json::Value {
    json!({"msg_type": "PING", "msg": ["127.0.0.1", port], "originator": from, "time": "t", "v": 3})
}

/// Copies `from` to `to`, appending every byte to `log`.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, log: Arc<Mutex<Vec<u8>>>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        log.lock().unwrap().extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// A TCP relay to `to` on a port of its own, recording each direction.
async fn relay(to: SocketAddr) -> (SocketAddr, [Arc<Mutex<Vec<u8>>>; 2]) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let logs: [Arc<Mutex<Vec<u8>>>; 2] = [Arc::default(), Arc::default()];
    let [there, back] = logs.clone();
    actix_rt::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let outbound = TcpStream::connect(to).await.unwrap();
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            actix_rt::spawn(pump(ri, wo, there.clone()));
            actix_rt::spawn(pump(ro, wi, back.clone()));
        }
    });
    (addr, logs)
}

/// A plaintext-only listener: records the first bytes of every connection,
/// answers with a plaintext line, and closes (a legacy peer, or a
/// downgrader). Returns its address and the first bytes seen.
async fn plaintext_listener(bind: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let firsts = Arc::new(Mutex::new(Vec::new()));
    let log = firsts.clone();
    actix_rt::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.unwrap_or(0);
            log.lock().unwrap().push(buf[..n].to_vec());
            let pong = ping("legacy", addr.port())
                .to_string()
                .replace("PING", "PONG");
            let _ = s.write_all(format!("{pong}\n").as_bytes()).await;
        }
    });
    (addr, firsts)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Two nodes link securely by default: each sees the other's key on a
/// secure link, and broadcast and direct messages cross it.
#[actix_rt::test]
async fn nodes_link_securely_by_default() {
    let a = start("a").await;
    let b = start("b").await;
    let mut eb = b.events().await.unwrap();
    link(&a, &b).await;
    let at_a = a.peer("b").await.unwrap().unwrap();
    assert!(at_a.secure);
    assert_eq!(at_a.key, Some(b.key()));
    let at_b = b.peer("a").await.unwrap().unwrap();
    assert!(at_b.secure);
    assert_eq!(at_b.key, Some(a.key()));
    a.broadcast("over noise").await.unwrap();
    broadcast_from(&mut eb, "over noise").await;
    a.send_to("b", "just for b").await.unwrap();
    assert!(metrics(&a).await.secure_links >= 1);
    assert!(metrics(&b).await.secure_links >= 1);
    let json = serde_json::to_value(&at_a).unwrap();
    assert_eq!(json["secure"], true);
    assert_eq!(json["key"], b.key().to_hex());
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// With `secure_links` off a node dials in plaintext: the link works and
/// both ends show it as not secure; `require_secure` without secure links
/// is refused as a configuration.
#[actix_rt::test]
async fn secure_links_off_dials_plaintext() {
    let plain = NodeConfig {
        secure_links: false,
        ..NodeConfig::default()
    };
    let a = start_with("a", plain.clone()).await;
    let b = start("b").await;
    let mut eb = b.events().await.unwrap();
    link(&a, &b).await;
    let at_a = a.peer("b").await.unwrap().unwrap();
    assert!(!at_a.secure);
    assert_eq!(at_a.key, None);
    a.broadcast("in the clear").await.unwrap();
    broadcast_from(&mut eb, "in the clear").await;
    assert_eq!(metrics(&a).await.secure_links, 0);
    let err = Node::builder("c")
        .config(NodeConfig {
            require_secure: true,
            ..plain
        })
        .start()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("require_secure needs secure_links"),
        "{err}"
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A relay between two nodes sees only the magic and ciphertext: neither
/// the broadcast text, nor a direct message's, nor any frame field name.
#[actix_rt::test]
async fn captured_stream_shows_no_plaintext() {
    let a = start("alice").await;
    let b = start("bob").await;
    let (via, logs) = relay(b.local_addr()).await;
    let mut eb = b.events().await.unwrap();
    let mut ea = a.events().await.unwrap();
    a.join(via).await.unwrap();
    until("linked through the relay", || async {
        knows(&a, "bob").await && knows(&b, "alice").await
    })
    .await;
    a.broadcast("the secret plan").await.unwrap();
    broadcast_from(&mut eb, "the secret plan").await;
    b.broadcast("the secret answer").await.unwrap();
    broadcast_from(&mut ea, "the secret answer").await;
    a.send_to("bob", "a private word").await.unwrap();
    let [there, back] = logs;
    let (there, back) = (there.lock().unwrap().clone(), back.lock().unwrap().clone());
    assert!(
        there.starts_with(MAGIC),
        "the dialler starts with the magic"
    );
    assert!(there.len() > 500 && back.len() > 500, "traffic crossed");
    for bytes in [&there, &back] {
        for needle in [
            &b"the secret"[..],
            b"a private word",
            b"msg_type",
            b"originator",
            b"alice",
            b"bob",
            b"BROADCAST",
        ] {
            assert!(
                !contains(bytes, needle),
                "{:?} seen on the wire",
                String::from_utf8_lossy(needle)
            );
        }
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A plaintext peer (newline JSON on a raw socket, like tests/interop.rs)
/// is still served: registered as not secure, answered, sent broadcasts.
#[actix_rt::test]
async fn plaintext_legacy_peer_still_works() {
    let a = start("a").await;
    let mut c = RawClient::connect(&a).await;
    c.send(ping("legacy", 4242)).await;
    let pong = c.recv_type("PONG").await;
    assert_eq!(pong["key"], a.key().to_hex(), "hellos carry the node's key");
    let info = a.peer("legacy").await.unwrap().unwrap();
    assert!(!info.secure);
    assert_eq!(info.key, None);
    a.broadcast("to everyone").await.unwrap();
    assert_eq!(c.recv_type("BROADCAST").await["msg"], "to everyone");
    assert_eq!(metrics(&a).await.insecure_refused, 0);
    a.shutdown().await.unwrap();
}

/// With `require_secure` a plaintext connection is closed before any frame
/// is read, and counted; secure nodes still link to it.
#[actix_rt::test]
async fn require_secure_refuses_plaintext() {
    let config = NodeConfig {
        require_secure: true,
        ..NodeConfig::default()
    };
    let r = start_with("r", config).await;
    let mut c = RawClient::connect(&r).await;
    c.send(ping("legacy", 4242)).await;
    assert!(c.recv_or_reset().await.is_none(), "closed, not answered");
    until("refusal counted", || async {
        metrics(&r).await.insecure_refused == 1
    })
    .await;
    assert!(!knows(&r, "legacy").await);
    let n = start("n").await;
    link(&n, &r).await;
    assert!(r.peer("n").await.unwrap().unwrap().secure);
    r.shutdown().await.unwrap();
    n.shutdown().await.unwrap();
}

/// A `require_secure` dialler never falls back: a peer answering in
/// plaintext is a failed dial (`insecure`), and only the magic reached it.
#[actix_rt::test]
async fn require_secure_dialler_does_not_fall_back() {
    let config = NodeConfig {
        require_secure: true,
        ..NodeConfig::default()
    };
    let r = start_with("r", config).await;
    let mut er = r.events().await.unwrap();
    let (legacy, firsts) = plaintext_listener("127.0.0.1:0".parse().unwrap()).await;
    r.join(legacy).await.unwrap();
    expect(&mut er, "dial failed as insecure", |e| match e {
        Event::DialFailed { error, .. } if *error == DialError::Insecure => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(metrics(&r).await.insecure_refused, 1);
    let firsts = firsts.lock().unwrap().clone();
    assert!(!firsts.is_empty());
    assert!(firsts.iter().all(|f| f.starts_with(MAGIC)), "{firsts:?}");
    assert!(!knows(&r, "legacy").await);
    r.shutdown().await.unwrap();
}

/// A flipped bit, a message cut short (its length adjusted so it parses)
/// and a stream that ends inside a message each close the link with
/// `decrypt_failed`, counted.
#[actix_rt::test]
async fn tampered_noise_messages_close_with_decrypt_failed() {
    let a = start("a").await;
    let mut ea = a.events().await.unwrap();
    let test = br#"{"msg_type":"TEST","msg":"x","originator":"t","time":"t"}
"#;
    for (seed, name) in [(1, "flip"), (2, "cut"), (3, "eof")] {
        let mut c = SecureClient::connect(a.local_addr(), &keys(seed)).await;
        c.send(ping(name, 4000 + seed as u16)).await;
        c.recv_type("PONG").await;
        let mut wire = c.seal(test);
        match name {
            "flip" => wire[9] ^= 0x10,
            "cut" => {
                let len = u16::from_be_bytes([wire[0], wire[1]]) - 5;
                wire = [&len.to_be_bytes()[..], &wire[2..2 + len as usize]].concat();
            }
            _ => wire.truncate(wire.len() - 3),
        }
        c.writer.write_all(&wire).await.unwrap();
        if name == "eof" {
            c.writer.shutdown().await.unwrap();
        }
        assert!(c.closed().await);
        let reason = expect(&mut ea, name, |e| match e {
            Event::PeerDisconnected { peer, reason, .. } if peer.as_str() == name => Some(*reason),
            _ => None,
        })
        .await;
        assert_eq!(reason, DisconnectReason::DecryptFailed, "{name}");
    }
    assert_eq!(metrics(&a).await.decrypt_failed, 3);
    assert_eq!(
        metrics(&a).await.deliveries,
        0,
        "nothing tampered delivered"
    );
    a.shutdown().await.unwrap();
}

/// A handshake that stalls (after the magic, or after message 1) is closed
/// at `handshake_timeout` and counted as a failed handshake.
#[actix_rt::test]
async fn stalled_handshake_times_out() {
    let config = NodeConfig {
        handshake_timeout: Duration::from_millis(300),
        ..NodeConfig::default()
    };
    let a = start_with("a", config).await;
    let started = tokio::time::Instant::now();
    let mut magic_only = TcpStream::connect(a.local_addr()).await.unwrap();
    magic_only.write_all(MAGIC).await.unwrap();
    let mut after_msg1 = TcpStream::connect(a.local_addr()).await.unwrap();
    let (_, msg1) = peerchat::secure::Initiator::start(&keys(9)).unwrap();
    let mut first = MAGIC.to_vec();
    peerchat::secure::handshake::put_message(&msg1, &mut first);
    after_msg1.write_all(&first).await.unwrap();
    for s in [&mut magic_only, &mut after_msg1] {
        let mut sink = vec![0u8; 1024];
        loop {
            match tokio::time::timeout(WAIT, s.read(&mut sink)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => {}
                Err(_) => panic!("stalled handshake never closed"),
            }
        }
    }
    println!(
        "two stalled handshakes closed after {:?} (handshake_timeout 300 ms)",
        started.elapsed()
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    until("both counted", || async {
        metrics(&a).await.secure_handshake_failed == 2
    })
    .await;
    assert_eq!(metrics(&a).await.connections, 0);
    a.shutdown().await.unwrap();
}

/// An identity payload whose key signed another static key (a replayed
/// or forged identity) fails the handshake: closed, counted, never registered.
#[actix_rt::test]
async fn forged_identity_signature_fails_the_handshake() {
    let a = start("a").await;
    let (mine, someone) = (keys(4), keys(5));
    let mut c = SecureClient::connect_with_payload(a.local_addr(), &mine, *someone.payload())
        .await
        .expect("the node answers message 1");
    c.send(ping("impostor", 4242)).await;
    assert!(c.closed().await);
    until("failure counted", || async {
        metrics(&a).await.secure_handshake_failed == 1
    })
    .await;
    assert!(!knows(&a, "impostor").await);
    assert_eq!(metrics(&a).await.secure_links, 0);
    a.shutdown().await.unwrap();
}

/// A hello whose `key` is not the key the link proved is closed with
/// `identity_mismatch`; one naming the link's own key registers the peer.
#[actix_rt::test]
async fn hello_key_must_match_the_link() {
    let a = start("a").await;
    let mut honest = SecureClient::connect(a.local_addr(), &keys(6)).await;
    let mut hello = ping("honest", 4006);
    hello["key"] = json!(keys(6).identity().key().to_hex());
    honest.send(hello).await;
    honest.recv_type("PONG").await;
    let info = a.peer("honest").await.unwrap().unwrap();
    assert_eq!(info.key, Some(keys(6).identity().key()));
    assert!(info.secure);
    let mut liar = SecureClient::connect(a.local_addr(), &keys(7)).await;
    let mut hello = ping("liar", 4007);
    hello["key"] = json!(keys(8).identity().key().to_hex());
    liar.send(hello).await;
    assert!(liar.closed().await);
    assert_eq!(metrics(&a).await.identity_mismatch, 1);
    assert!(!knows(&a, "liar").await);
    a.shutdown().await.unwrap();
}

/// 64 KiB of garbage before any handshake, binary from the first byte or
/// after the magic: each connection is closed and counted, the node reads
/// at most one Noise message of it, and goes on serving its peer.
#[actix_rt::test]
async fn garbage_before_the_handshake_is_closed() {
    let a = start("a").await;
    let b = start("b").await;
    link(&a, &b).await;
    let mut eb = b.events().await.unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let garbage: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut binary = garbage.clone();
    binary[0] = 0x00;
    let mut after_magic = MAGIC.to_vec();
    after_magic.extend_from_slice(&garbage);
    for (what, input) in [("binary", binary), ("after the magic", after_magic)] {
        let started = tokio::time::Instant::now();
        let mut s = TcpStream::connect(a.local_addr()).await.unwrap();
        // The node may close mid-write.
        let wrote = s.write_all(&input).await.is_ok();
        let mut sink = vec![0u8; 4096];
        loop {
            match tokio::time::timeout(WAIT, s.read(&mut sink)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => {}
                Err(_) => panic!("garbage connection never closed"),
            }
        }
        println!(
            "64 KiB of garbage {what}: closed after {:?}, whole write accepted by the socket: {wrote}",
            started.elapsed()
        );
    }
    until("both counted", || async {
        metrics(&a).await.secure_handshake_failed == 2
    })
    .await;
    a.broadcast("still here").await.unwrap();
    broadcast_from(&mut eb, "still here").await;
    assert_eq!(metrics(&a).await.connections, 1);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// No downgrade: once an address was seen secure, a plaintext answer from
/// it is a failed dial (never a plaintext link), and a plaintext hello
/// claiming a key seen secure is refused.
#[actix_rt::test]
async fn downgrade_is_refused() {
    let a = start("a").await;
    let b = start("b").await;
    link(&a, &b).await;
    let b_addr = b.local_addr();
    let b_key = b.key();
    b.shutdown().await.unwrap();
    // Someone else answers in plaintext at b's address now.
    let (_, firsts) = plaintext_listener(b_addr).await;
    let _ = a.join(b_addr).await;
    until("the downgrade refused", || async {
        metrics(&a).await.insecure_refused >= 1
    })
    .await;
    let firsts = firsts.lock().unwrap().clone();
    assert!(!firsts.is_empty(), "a dialled the address again");
    assert!(firsts.iter().all(|f| f.starts_with(MAGIC)), "{firsts:?}");
    assert!(!knows(&a, "legacy").await);
    let before = metrics(&a).await.insecure_refused;
    let mut c = RawClient::connect(&a).await;
    let mut hello = ping("b", 4242);
    hello["key"] = json!(b_key.to_hex());
    c.send(hello).await;
    assert!(c.recv_or_reset().await.is_none(), "plaintext hello refused");
    assert_eq!(metrics(&a).await.insecure_refused, before + 1);
    a.shutdown().await.unwrap();
}

type Stdout = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// The next JSON event of `kind` on a `peerchat run` stdout.
async fn next_event(lines: &mut Stdout, kind: &str) -> serde_json::Value {
    loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("event in time")
            .unwrap()
            .expect("stdout open");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["event"] == kind {
            return v;
        }
    }
}

/// `peerchat run --require-secure`: a plaintext connection gets no answer
/// and is counted as refused in the metrics event.
#[tokio::test]
async fn cli_run_require_secure() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_peerchat"))
        .args(["run", "--id", "strict", "--listen", "127.0.0.1:0"])
        .arg("--require-secure")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn peerchat");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = next_event(&mut lines, "listening").await;
    let addr = listening["addr"].as_str().unwrap().to_string();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(format!("{}\n", ping("legacy", 4242)).as_bytes())
        .await
        .unwrap();
    let mut sink = vec![0u8; 1024];
    let n = tokio::time::timeout(WAIT, s.read(&mut sink))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    let mut refused = 0;
    for _ in 0..100 {
        stdin.write_all(b"metrics\n").await.unwrap();
        refused = next_event(&mut lines, "metrics").await["metrics"]["insecure_refused"]
            .as_u64()
            .unwrap();
        if refused == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(refused, 1);
    stdin.write_all(b"quit\n").await.unwrap();
    assert!(tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap()
        .success());
}

/// Shutting a node down abandons the links still in their handshake: a
/// stalled one is closed at once, not at `handshake_timeout` (5 s here).
#[actix_rt::test]
async fn shutdown_closes_links_in_their_handshake() {
    let a = start("a").await;
    let mut s = TcpStream::connect(a.local_addr()).await.unwrap();
    s.write_all(MAGIC).await.unwrap();
    until("setup under way", || async {
        metrics(&a).await.connections == 1
    })
    .await;
    let started = tokio::time::Instant::now();
    a.shutdown().await.unwrap();
    let mut sink = [0u8; 16];
    let n = tokio::time::timeout(WAIT, s.read(&mut sink)).await.unwrap();
    assert!(matches!(n, Ok(0) | Err(_)));
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A peerchat node from before secure links waits silently for a `PING`:
/// the dialler takes the silence (`handshake_timeout`) as no secure answer
/// and, for an address never seen secure, dials again in plaintext.
#[actix_rt::test]
async fn silent_legacy_listener_gets_a_plaintext_dial() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    actix_rt::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            actix_rt::spawn(async move {
                // Like a version-3 node: read lines, answer a PING, never speak first.
                let (r, mut w) = s.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.starts_with('{') && line.contains("\"PING\"") {
                        let pong = ping("old", port).to_string().replace("PING", "PONG");
                        let _ = w.write_all(format!("{pong}\n").as_bytes()).await;
                    }
                }
            });
        }
    });
    let config = NodeConfig {
        handshake_timeout: Duration::from_millis(300),
        ..NodeConfig::default()
    };
    let a = start_with("a", config).await;
    a.join(format!("127.0.0.1:{port}")).await.unwrap();
    until("a registers the old node", || knows(&a, "old")).await;
    let info = a.peer("old").await.unwrap().unwrap();
    assert!(!info.secure);
    assert!(!info.one_shot);
    assert_eq!(metrics(&a).await.insecure_refused, 0);
    a.shutdown().await.unwrap();
}
