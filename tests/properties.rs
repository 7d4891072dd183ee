//! Property tests: the codec under arbitrary splits and bytes, and `NodeState`
//! under arbitrary event sequences.

use std::collections::HashSet;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use peerchat::codec::FrameCodec;
use peerchat::proto::{
    Body, Command, ConnId, Direction, DisconnectReason, Event, Frame, InEvent, Instant, MessageId,
    NodeState, OutEvent, PeerAddr, PeerId, Timer,
};
use peerchat::NodeConfig;
use proptest::prelude::*;
use serde_json::json;
use tokio_util::codec::Decoder;

/// What a decoder produced, in a comparable form.
#[derive(Debug, PartialEq)]
enum Item {
    Frame(Vec<u8>),
    Bad,
    Fatal,
}

fn decode_chunks(chunks: &[&[u8]], max: usize) -> Vec<Item> {
    let mut codec = FrameCodec::new(max);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let push = |r: Result<Option<Result<Frame, _>>, _>, items: &mut Vec<Item>| -> bool {
        match r {
            Ok(Some(Ok(f))) => items.push(Item::Frame(f.bytes().to_vec())),
            Ok(Some(Err(_))) => items.push(Item::Bad),
            Ok(None) => return false,
            Err(_) => {
                items.push(Item::Fatal);
                return false;
            }
        }
        true
    };
    for chunk in chunks {
        buf.put_slice(chunk);
        while push(codec.decode(&mut buf), &mut items) {}
        if items.last() == Some(&Item::Fatal) {
            return items;
        }
    }
    while push(codec.decode_eof(&mut buf), &mut items) {}
    items
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(br#"{"msg_type":"PING","msg":["127.0.0.1",1],"originator":"a","time":"t"}"#.to_vec()),
        Just(br#"{"msg_type":"BROADCAST","msg":"hi","originator":"b","time":1.5}"#.to_vec()),
        Just(b"   ".to_vec()),
        proptest::collection::vec(
            any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
            0..40
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Frames split at arbitrary points decode to the same items as one read.
    #[test]
    fn codec_split_anywhere_same_frames(lines in proptest::collection::vec(line(), 0..8), cuts in proptest::collection::vec(any::<usize>(), 0..6), max in 30usize..200) {
        let mut input = Vec::new();
        for l in &lines {
            input.extend_from_slice(l);
            input.push(b'\n');
        }
        let whole = decode_chunks(&[&input], max);
        let mut points: Vec<usize> = cuts.iter().map(|c| if input.is_empty() { 0 } else { c % input.len() }).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&input[last..p]);
            last = p;
        }
        chunks.push(&input[last..]);
        prop_assert_eq!(decode_chunks(&chunks, max), whole);
    }

    /// No byte string makes the decoder panic.
    #[test]
    fn codec_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..128) {
        let _ = decode_chunks(&[&bytes], max);
    }
}

const ME: &str = "me";

/// One step of an arbitrary run.
#[derive(Debug, Clone)]
enum Op {
    Connect {
        conn: u64,
        outbound: bool,
    },
    Hello {
        conn: u64,
        from: u8,
        ping: bool,
        v: bool,
    },
    Broadcast {
        conn: u64,
        from: u8,
        id: u8,
    },
    Direct {
        conn: u64,
        from: u8,
        to: u8,
        id: u8,
        hops: u32,
    },
    Advertise {
        conn: u64,
        from: u8,
    },
    Reply {
        conn: u64,
        from: u8,
        peer: u8,
    },
    Disconnect {
        conn: u64,
    },
    Tick {
        ms: u64,
    },
    Local {
        id: u8,
    },
    /// A numbered broadcast (`epoch` 1): `seq` may repeat with another id.
    Numbered {
        conn: u64,
        from: u8,
        seq: u8,
        id: u8,
    },
    /// A catch-up frame: `SUMMARY` claiming `seq` (kind 0), `PULL` of
    /// `1..=seq` (1), `HISTORY` of message `seq` (2), `DIGEST` (3).
    CatchUp {
        conn: u64,
        from: u8,
        kind: u8,
        seq: u8,
    },
    /// One of the feed timers (hold-back, catch-up look, digests).
    FeedTimer {
        which: u8,
    },
}

/// Peer names: a few others, and (as 0) this node's own id.
fn name(n: u8) -> String {
    if n == 0 {
        ME.to_string()
    } else {
        format!("p{n}")
    }
}

fn uuid(n: u8) -> String {
    format!("00000000-0000-4000-8000-{:012}", n)
}

fn op() -> impl Strategy<Value = Op> {
    let conn = 1u64..6;
    let who = 0u8..5;
    prop_oneof![
        (conn.clone(), any::<bool>()).prop_map(|(conn, outbound)| Op::Connect { conn, outbound }),
        (conn.clone(), who.clone(), any::<bool>(), any::<bool>()).prop_map(
            |(conn, from, ping, v)| Op::Hello {
                conn,
                from,
                ping,
                v
            }
        ),
        (conn.clone(), who.clone(), 0u8..6).prop_map(|(conn, from, id)| Op::Broadcast {
            conn,
            from,
            id
        }),
        (conn.clone(), who.clone(), 0u8..7, 0u8..6, 0u32..3).prop_map(
            |(conn, from, to, id, hops)| Op::Direct {
                conn,
                from,
                to,
                id,
                hops
            }
        ),
        (conn.clone(), who.clone()).prop_map(|(conn, from)| Op::Advertise { conn, from }),
        (conn.clone(), who.clone(), 0u8..7).prop_map(|(conn, from, peer)| Op::Reply {
            conn,
            from,
            peer
        }),
        conn.clone().prop_map(|conn| Op::Disconnect { conn }),
        (0u64..8000).prop_map(|ms| Op::Tick { ms }),
        (0u8..6).prop_map(|id| Op::Local { id }),
        (conn.clone(), who.clone(), 1u8..6, 0u8..8).prop_map(|(conn, from, seq, id)| {
            Op::Numbered {
                conn,
                from,
                seq,
                id,
            }
        }),
        (conn, who, 0u8..4, 1u8..6).prop_map(|(conn, from, kind, seq)| Op::CatchUp {
            conn,
            from,
            kind,
            seq
        }),
        (0u8..4).prop_map(|which| Op::FeedTimer { which }),
    ]
}

/// Message `seq` of `p{from}`'s feed (epoch 1), with id number `id`.
fn numbered(from: u8, seq: u8, id: u8) -> serde_json::Value {
    json!({"msg_type": "BROADCAST", "msg": format!("t{id}"), "originator": name(from.max(1)), "time": "t",
        "id": uuid(50 + id), "epoch": 1, "seq": seq})
}

fn frame(v: serde_json::Value) -> Frame {
    Frame::decode(bytes::Bytes::from(v.to_string())).expect("test frames are valid")
}

fn event(op: &Op) -> InEvent {
    match op.clone() {
        Op::Connect { conn, outbound } => InEvent::Connected {
            conn: ConnId(conn),
            dir: if outbound {
                Direction::Outbound {
                    addr: PeerAddr::new("h", conn as u16),
                }
            } else {
                Direction::Inbound
            },
            local: None,
            remote: None,
        },
        Op::Hello {
            conn,
            from,
            ping,
            v,
        } => {
            let mut j = json!({"msg_type": if ping { "PING" } else { "PONG" }, "msg": ["h", 100 + from as u16], "originator": name(from), "time": "t"});
            if v {
                j["v"] = json!(1);
                j["caps"] = json!(["seq"]);
            }
            InEvent::Received {
                conn: ConnId(conn),
                frame: frame(j),
            }
        }
        Op::Broadcast { conn, from, id } => InEvent::Received {
            conn: ConnId(conn),
            frame: frame(
                json!({"msg_type": "BROADCAST", "msg": "x", "originator": name(from), "time": "t", "id": uuid(id)}),
            ),
        },
        Op::Direct {
            conn,
            from,
            to,
            id,
            hops,
        } => InEvent::Received {
            conn: ConnId(conn),
            frame: frame(
                json!({"msg_type": "DIRECT", "msg": "x", "originator": name(from), "time": "t", "id": uuid(100 + id), "to": name(to), "hops": hops}),
            ),
        },
        Op::Advertise { conn, from } => InEvent::Received {
            conn: ConnId(conn),
            frame: frame(
                json!({"msg_type": "ADVERTISE", "msg": "", "originator": name(from), "time": "t"}),
            ),
        },
        Op::Reply { conn, from, peer } => InEvent::Received {
            conn: ConnId(conn),
            frame: frame(
                json!({"msg_type": "ADVERTISE_REPLY", "msg": [name(peer), ["h", 100 + peer as u16]], "originator": name(from), "time": "t"}),
            ),
        },
        Op::Disconnect { conn } => InEvent::Disconnected {
            conn: ConnId(conn),
            reason: DisconnectReason::Closed,
        },
        Op::Tick { .. } => InEvent::TimerFired(Timer::KeepAlive),
        Op::Local { id } => InEvent::Command(Command::Broadcast {
            id: MessageId::from_u128(200 + id as u128),
            text: "mine".into(),
        }),
        Op::Numbered {
            conn,
            from,
            seq,
            id,
        } => InEvent::Received {
            conn: ConnId(conn),
            frame: frame(numbered(from, seq, id)),
        },
        Op::CatchUp {
            conn,
            from,
            kind,
            seq,
        } => {
            let (t, msg) = match kind {
                0 => ("SUMMARY", json!([["p1", 1, seq], ["p2", 1, seq]])),
                1 => ("PULL", json!(["p1", 1, 1, seq])),
                2 => ("HISTORY", numbered(1, seq, seq)),
                _ => ("DIGEST", json!("00".repeat(32))),
            };
            InEvent::Received {
                conn: ConnId(conn),
                frame: frame(
                    json!({"msg_type": t, "msg": msg, "originator": name(from), "time": "t"}),
                ),
            }
        }
        Op::FeedTimer { which } => InEvent::TimerFired(match which {
            0 => Timer::Holdback,
            1 => Timer::CatchUp,
            2 => Timer::DigestSoon,
            _ => Timer::Digest,
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever arrives: the node never registers itself, never delivers a
    /// message (id, originator, text) twice while it is cached, and never sends a broadcast or
    /// direct frame back on the connection it came from.
    #[test]
    fn node_state_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let config = NodeConfig { seen_ttl: Duration::from_secs(3600), ..NodeConfig::default() };
        let mut s = NodeState::new(PeerId::new(ME), PeerAddr::new("h", 1), config, chrono::DateTime::UNIX_EPOCH);
        let mut now = Instant::ZERO;
        let mut delivered = HashSet::new();
        let mut open = HashSet::new();
        for op in &ops {
            if let Op::Tick { ms } = op {
                now = now + Duration::from_millis(*ms);
            }
            // Events for connections that do not exist are the executor's bug, not input.
            match op {
                Op::Connect { conn, .. } if !open.insert(*conn) => continue,
                Op::Disconnect { conn } if !open.remove(conn) => continue,
                Op::Hello { conn, .. } | Op::Broadcast { conn, .. } | Op::Direct { conn, .. }
                | Op::Advertise { conn, .. } | Op::Reply { conn, .. } | Op::Numbered { conn, .. }
                | Op::CatchUp { conn, .. } if !open.contains(conn) => continue,
                _ => {}
            }
            let ev = event(op);
            let incoming = match &ev {
                InEvent::Received { conn, frame } => Some((*conn, frame.clone())),
                _ => None,
            };
            let mut out = Vec::new();
            s.handle(ev, now, &mut out);
            for o in &out {
                match o {
                    // An unsigned message is one (id, originator, text):
                    // another text under a live id is another message.
                    OutEvent::Emit(Event::Broadcast { id: Some(id), from, text, .. })
                    | OutEvent::Emit(Event::Direct { id, from, text, .. }) => {
                        prop_assert!(delivered.insert((*id, from.clone(), text.clone())), "delivered {} twice", id);
                    }
                    OutEvent::Send { conn, frame } => {
                        if let Some((src, f)) = &incoming {
                            let relayed = matches!(f.body(), Body::Broadcast { .. } | Body::Direct { .. });
                            prop_assert!(!(relayed && conn == src && frame.envelope().id == f.envelope().id), "sent back on {:?}", conn);
                        }
                    }
                    OutEvent::Close { conn, .. } => {
                        // The executor would report the close; do it as it would.
                        let mut more = Vec::new();
                        open.remove(&conn.0);
                        s.handle(InEvent::Disconnected { conn: *conn, reason: DisconnectReason::Closed }, now, &mut more);
                    }
                    _ => {}
                }
            }
            prop_assert!(s.peer(&PeerId::new(ME), now).is_none(), "registered itself");
        }
    }
}
