//! Unit tests of the address rules in the state machine: hellos per connection, corrections, what is handed out and dialled.

use std::net::SocketAddr;

use super::*;

fn sock(s: &str) -> Option<SocketAddr> {
    Some(s.parse().unwrap())
}

/// A hello from `from` advertising `host:port`.
fn hello_at(msg_type: &str, from: &str, host: &str, port: u16) -> Frame {
    frame(
        json!({"msg_type": msg_type, "msg": [host, port], "originator": from, "time": "t", "v": 1}),
    )
}

/// A node listening on `host:7000`.
fn node_on(host: &str, config: NodeConfig) -> NodeState {
    let epoch = Utc.with_ymd_and_hms(2026, 11, 28, 4, 41, 59).unwrap();
    NodeState::new(PeerId::new(ME), PeerAddr::new(host, 7000), config, epoch)
}

fn connected(
    s: &mut NodeState,
    conn: u64,
    dir: Direction,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
) -> Vec<OutEvent> {
    let ev = InEvent::Connected {
        conn: ConnId(conn),
        dir,
        local,
        remote,
    };
    step(s, ev, at(0))
}

fn receive(s: &mut NodeState, conn: u64, frame: Frame) -> Vec<OutEvent> {
    step(
        s,
        InEvent::Received {
            conn: ConnId(conn),
            frame,
        },
        at(0),
    )
}

/// The `msg` of the hello of type `msg_type` in `out`.
fn hello_msg(out: &[OutEvent], msg_type: &str) -> serde_json::Value {
    out.iter()
        .find_map(|e| match e {
            OutEvent::Send { frame, .. } if frame.envelope().msg_type == msg_type => {
                Some(frame.envelope().msg.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {msg_type} in {out:?}"))
}

/// The addresses `PeerConnected` reported in `out`.
fn registered(out: &[OutEvent]) -> Vec<PeerAddr> {
    out.iter()
        .filter_map(|e| match e {
            OutEvent::Emit(Event::PeerConnected { addr, .. }) => Some(addr.clone()),
            _ => None,
        })
        .collect()
}

/// On `0.0.0.0` or `[::]`, each connection's hello names that socket's
/// local IP (mapped IPv4 unwrapped) with the listen port.
#[test]
fn unspecified_listener_advertises_each_sockets_ip() {
    let mut s = node_on("0.0.0.0", config());
    let dir = Direction::Outbound {
        addr: PeerAddr::new("192.0.2.9", 7000),
    };
    let out = connected(
        &mut s,
        1,
        dir,
        sock("192.0.2.5:40000"),
        sock("192.0.2.9:7000"),
    );
    assert_eq!(hello_msg(&out, "PING"), json!(["192.0.2.5", 7000]));
    let (local, remote) = (sock("10.1.0.5:7000"), sock("10.1.0.8:39000"));
    connected(&mut s, 2, Direction::Inbound, local, remote);
    let out = receive(&mut s, 2, hello_at("PING", "b", "10.1.0.8", 7000));
    assert_eq!(hello_msg(&out, "PONG"), json!(["10.1.0.5", 7000]));

    let mut s = node_on("::", config());
    let (local, remote) = (
        sock("[::ffff:192.0.2.5]:7000"),
        sock("[::ffff:192.0.2.8]:1"),
    );
    connected(&mut s, 1, Direction::Inbound, local, remote);
    let out = receive(&mut s, 1, hello_at("PING", "b", "192.0.2.8", 7000));
    assert_eq!(hello_msg(&out, "PONG"), json!(["192.0.2.5", 7000]));
    let (local, remote) = (sock("[fd00::5]:7000"), sock("[fd00::8]:1"));
    connected(&mut s, 2, Direction::Inbound, local, remote);
    let out = receive(&mut s, 2, hello_at("PING", "c", "fd00::8", 7000));
    assert_eq!(hello_msg(&out, "PONG"), json!(["fd00::5", 7000]));
}

/// `NodeConfig::advertise` is what every hello names, whatever the socket.
#[test]
fn configured_advertise_wins() {
    let mut cfg = config();
    cfg.advertise = Some(PeerAddr::new("chat.example.org", 443));
    let mut s = node_on("0.0.0.0", cfg);
    let dir = Direction::Outbound {
        addr: PeerAddr::new("192.0.2.9", 7000),
    };
    let out = connected(&mut s, 1, dir, sock("192.0.2.5:1"), sock("192.0.2.9:7000"));
    assert_eq!(hello_msg(&out, "PING"), json!(["chat.example.org", 443]));
}

/// A hello naming an unspecified, loopback, multicast, broadcast or
/// link-local host over a connection from another host is recorded at the
/// source IP with the advertised port, counted once per connection.
#[test]
fn unusable_hello_hosts_are_corrected_to_the_source() {
    let mut s = node_on("0.0.0.0", config());
    let bad = [
        "0.0.0.0",
        "127.0.0.1",
        "::",
        "224.0.0.1",
        "255.255.255.255",
        "fe80::1",
    ];
    for (i, host) in bad.iter().enumerate() {
        let conn = i as u64 + 1;
        let source = format!("192.0.2.{conn}:40000");
        connected(
            &mut s,
            conn,
            Direction::Inbound,
            sock("192.0.2.100:7000"),
            sock(&source),
        );
        let out = receive(
            &mut s,
            conn,
            hello_at("PING", &format!("p{conn}"), host, 7000),
        );
        let want = PeerAddr::new(format!("192.0.2.{conn}"), 7000);
        assert_eq!(registered(&out), vec![want], "{host}");
        // The keep-alive hellos that follow are not counted again.
        receive(
            &mut s,
            conn,
            hello_at("PING", &format!("p{conn}"), host, 7000),
        );
    }
    assert_eq!(s.metrics().addr_corrected, bad.len() as u64);
    assert_eq!(s.metrics().addr_rejected, 0);
    // From a dual-stack listener's mapped source: recorded as IPv4.
    connected(
        &mut s,
        9,
        Direction::Inbound,
        None,
        sock("[::ffff:192.0.2.77]:1"),
    );
    let out = receive(&mut s, 9, hello_at("PING", "q", "0.0.0.0", 7000));
    assert_eq!(registered(&out), vec![PeerAddr::new("192.0.2.77", 7000)]);
}

/// Between nodes on loopback nothing changes: loopback hellos are recorded as sent.
#[test]
fn loopback_networks_are_unchanged() {
    let mut s = node();
    connected(
        &mut s,
        1,
        Direction::Inbound,
        sock("127.0.0.1:5000"),
        sock("127.0.0.1:40000"),
    );
    let out = receive(&mut s, 1, hello_at("PING", "a", "127.0.0.1", 6001));
    assert_eq!(registered(&out), vec![PeerAddr::new("127.0.0.1", 6001)]);
    assert_eq!(hello_msg(&out, "PONG"), json!(["127.0.0.1", 5000]));
    let m = s.metrics();
    assert_eq!((m.addr_corrected, m.addr_rejected), (0, 0));
}

/// Port 0, or an unusable host with no source to correct it with, is
/// refused: nothing registered, nothing answered, counted; the handshake
/// deadline then closes the connection.
#[test]
fn hello_with_port_zero_is_refused() {
    let mut s = node();
    connected(&mut s, 1, Direction::Inbound, None, sock("192.0.2.7:40000"));
    let out = receive(&mut s, 1, hello_at("PING", "a", "192.0.2.7", 0));
    assert_eq!(out, vec![]);
    connected(&mut s, 2, Direction::Inbound, None, None);
    let out = receive(&mut s, 2, hello_at("PING", "b", "0.0.0.0", 6002));
    assert_eq!(out, vec![]);
    assert_eq!(s.metrics().addr_rejected, 2);
    assert_eq!(s.metrics().peers, 0);
    let out = step(
        &mut s,
        InEvent::TimerFired(Timer::Handshake(ConnId(1))),
        at(5000),
    );
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(1),
            reason: DisconnectReason::HandshakeTimeout
        }]
    );
}

/// An `ADVERTISE` from another host is answered with routable addresses
/// only: a loopback or link-local peer is withheld and counted; an asker on
/// loopback is also told the loopback peer.
#[test]
fn advertise_reply_withholds_what_the_asker_cannot_use() {
    let mut s = node_on("0.0.0.0", config());
    let peers = [
        ("a", "192.0.2.1:40000", "192.0.2.1"),
        ("lo", "127.0.0.1:40000", "127.0.0.1"),
        ("ll", "[fe80::9]:40000", "fe80::9"),
    ];
    for (i, (id, source, host)) in peers.iter().enumerate() {
        let conn = i as u64 + 1;
        connected(&mut s, conn, Direction::Inbound, None, sock(source));
        receive(&mut s, conn, hello_at("PING", id, host, 7000));
    }
    let advertised = |out: &[OutEvent]| -> Vec<serde_json::Value> {
        out.iter()
            .filter_map(|e| match e {
                OutEvent::Send { frame, .. } if frame.envelope().msg_type == "ADVERTISE_REPLY" => {
                    Some(frame.envelope().msg.clone())
                }
                _ => None,
            })
            .collect()
    };
    let ask = frame(json!({"msg_type": "ADVERTISE", "msg": "", "originator": "q", "time": "t"}));
    connected(&mut s, 4, Direction::Inbound, None, sock("192.0.2.4:1"));
    let out = receive(&mut s, 4, ask.clone());
    assert_eq!(advertised(&out), vec![json!(["a", ["192.0.2.1", 7000]])]);
    assert_eq!(s.metrics().addr_withheld, 2);
    connected(&mut s, 5, Direction::Inbound, None, sock("127.0.0.1:2"));
    let out = receive(&mut s, 5, ask);
    assert_eq!(
        advertised(&out),
        vec![
            json!(["a", ["192.0.2.1", 7000]]),
            json!(["lo", ["127.0.0.1", 7000]])
        ]
    );
    assert_eq!(s.metrics().addr_withheld, 3);
}

/// Entries of an `ADVERTISE_REPLY` naming an address that cannot be dialled
/// from here are neither announced nor dialled, and are counted; a mapped
/// IPv4 entry is dialled as IPv4.
#[test]
fn advertise_reply_entries_that_lead_nowhere_are_refused() {
    let mut s = node_on("0.0.0.0", config());
    connected(&mut s, 1, Direction::Inbound, None, sock("192.0.2.1:40000"));
    receive(&mut s, 1, hello_at("PING", "a", "192.0.2.1", 7000));
    let mut out = Vec::new();
    s.command(Command::GetPeersFrom(PeerId::new("a")), at(0), &mut out)
        .unwrap();
    let bad = [
        ("0.0.0.0", 7000),
        ("127.0.0.1", 7000),
        ("localhost", 7000),
        ("224.0.0.1", 7000),
        ("255.255.255.255", 7000),
        ("fe80::1", 7000),
        ("0.5.5.5", 7000),
        ("192.0.2.9", 0),
    ];
    for (i, (host, port)) in bad.iter().enumerate() {
        let entry = json!({"msg_type": "ADVERTISE_REPLY", "msg": [format!("x{i}"), [host, port]], "originator": "a", "time": "t"});
        let out = receive(&mut s, 1, frame(entry));
        assert_eq!(out, vec![], "{host}:{port}");
    }
    assert_eq!(s.metrics().addr_rejected, bad.len() as u64);
    assert_eq!(s.metrics().dials, 0);
    let good = json!({"msg_type": "ADVERTISE_REPLY", "msg": ["b", ["::ffff:192.0.2.9", 7000]], "originator": "a", "time": "t"});
    let out = receive(&mut s, 1, frame(good));
    let addr = PeerAddr::new("192.0.2.9", 7000);
    assert_eq!(
        out,
        vec![
            OutEvent::Emit(Event::PeerAdvertised {
                by: PeerId::new("a"),
                peer: PeerId::new("b"),
                addr: addr.clone()
            }),
            OutEvent::Dial(addr)
        ]
    );
}

/// A failed dial is told with its error and when it is tried again: a
/// bootstrap address while the node has no peers, a joined one never. An
/// unresolvable name is counted.
#[test]
fn dial_failures_are_told_with_their_retry() {
    let mut s = node();
    let seed = PeerAddr::new("seed.example.org", 7000);
    let mut out = Vec::new();
    s.command(Command::Bootstrap(vec![seed.clone()]), at(0), &mut out)
        .unwrap();
    assert_eq!(out, vec![OutEvent::Dial(seed.clone())]);
    let error = DialError::Unresolvable;
    let out = step(
        &mut s,
        InEvent::DialFailed {
            addr: seed.clone(),
            error,
        },
        at(10),
    );
    let delay = out
        .iter()
        .find_map(|e| match e {
            OutEvent::Schedule {
                delay,
                timer: Timer::Redial(a),
            } if a == &seed => Some(*delay),
            _ => None,
        })
        .expect("bootstrap redial scheduled");
    assert!(out.contains(&OutEvent::Emit(Event::DialFailed {
        addr: seed.clone(),
        error: DialError::Unresolvable,
        retry_in: Some(delay),
    })));
    let joined = PeerAddr::new("192.0.2.7", 7000);
    let mut out = Vec::new();
    s.command(Command::Join(joined.clone()), at(20), &mut out)
        .unwrap();
    let error = DialError::Refused;
    let out = step(
        &mut s,
        InEvent::DialFailed {
            addr: joined.clone(),
            error,
        },
        at(30),
    );
    assert_eq!(
        out,
        vec![OutEvent::Emit(Event::DialFailed {
            addr: joined,
            error: DialError::Refused,
            retry_in: None,
        })]
    );
    let m = s.metrics();
    assert_eq!((m.dials, m.dials_failed, m.dials_unresolvable), (2, 2, 1));
}

/// The `dial_failed` event as `run` prints it, and as people read it.
#[test]
fn dial_failed_event_shapes() {
    let event = Event::DialFailed {
        addr: PeerAddr::new("10.0.0.7", 7000),
        error: DialError::Refused,
        retry_in: Some(Duration::from_millis(3700)),
    };
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        json!({"event": "dial_failed", "addr": ["10.0.0.7", 7000], "error": "refused", "retry_in_ms": 3700})
    );
    assert_eq!(
        event.to_string(),
        "could not reach 10.0.0.7:7000: connection refused; retrying in 4 s"
    );
    let event = Event::DialFailed {
        addr: PeerAddr::new("fd00::7", 7000),
        error: DialError::TimedOut,
        retry_in: None,
    };
    assert_eq!(
        serde_json::to_value(&event).unwrap()["retry_in_ms"],
        serde_json::Value::Null
    );
    assert_eq!(
        event.to_string(),
        "could not reach [fd00::7]:7000: timed out; not retrying"
    );
}
