//! Unit tests of signed messages: what verifies is delivered with its trust, what does not is dropped and counted, replays fail.

use super::*;
use crate::proto::sign::{derive_id, sign_envelope, signed_bytes};
use crate::proto::Identity;

fn alice() -> Identity {
    Identity::from_secret([1; 32])
}

fn mallory() -> Identity {
    Identity::from_secret([9; 32])
}

/// A broadcast of `text` under `name`, signed by `who`, made at `ms` after T0.
fn signed_env(who: &Identity, name: &str, text: &str, ms: i64, nonce: u64) -> Envelope {
    let time =
        Utc.with_ymd_and_hms(2026, 11, 28, 4, 41, 59).unwrap() + chrono::Duration::milliseconds(ms);
    let mut env = Envelope::new(
        "BROADCAST",
        json!(text),
        PeerId::new(name),
        WireTime::Text(time.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    env.nonce = Some(nonce);
    sign_envelope(who, &mut env).unwrap();
    env
}

fn encode(env: Envelope) -> Frame {
    Frame::encode(env).unwrap()
}

/// A node with peers `a` (conn 1) and `b` (conn 2).
fn two_peers(config: NodeConfig) -> NodeState {
    let mut s = node_with(config);
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    s
}

fn receive(s: &mut NodeState, conn: u64, frame: &Frame, now: Instant) -> Vec<OutEvent> {
    step(
        s,
        InEvent::Received {
            conn: ConnId(conn),
            frame: frame.clone(),
        },
        now,
    )
}

fn delivered(out: &[OutEvent]) -> Vec<(String, bool, Trust)> {
    out.iter()
        .filter_map(|o| match o {
            OutEvent::Emit(Event::Broadcast {
                text,
                verified,
                trust,
                ..
            }) => Some((text.clone(), *verified, *trust)),
            _ => None,
        })
        .collect()
}

/// The first signed message under a name pins it (`new`), is delivered
/// verified and relayed byte for byte; the next one is `pinned`.
#[test]
fn first_signed_contact_pins() {
    let mut s = two_peers(config());
    let f = encode(signed_env(&alice(), "alice", "hi", 0, 1));
    let out = receive(&mut s, 1, &f, at(0));
    assert_eq!(
        out,
        vec![
            OutEvent::PinsChanged,
            OutEvent::Emit(Event::Broadcast {
                from: PeerId::new("alice"),
                text: "hi".into(),
                id: f.envelope().id,
                time: f.envelope().time.clone(),
                verified: true,
                trust: Trust::New,
                late: false,
            }),
            OutEvent::Send {
                conn: ConnId(2),
                frame: f.clone()
            },
        ]
    );
    assert_eq!(s.pins().get(&PeerId::new("alice")), Some(&alice().key()));
    let g = encode(signed_env(&alice(), "alice", "again", 5, 2));
    let out = receive(&mut s, 1, &g, at(5));
    assert_eq!(delivered(&out), vec![("again".into(), true, Trust::Pinned)]);
}

/// A relay that alters a signed broadcast's text, originator or `to`: each
/// copy is dropped (nothing delivered, nothing forwarded, nothing cached)
/// and counted; the genuine copy is still delivered after them.
#[test]
fn altered_copies_are_dropped() {
    let mut s = two_peers(config());
    let genuine = signed_env(&alice(), "alice", "pay bob 5", 0, 1);
    let mut text = genuine.clone();
    text.msg = json!("pay mallory 500");
    let mut origin = genuine.clone();
    origin.originator = PeerId::new("bob");
    let mut to = genuine.clone();
    to.to = Some(PeerId::new("carol"));
    to.msg_type = "DIRECT".into();
    to.hops = Some(3);
    for bad in [text, origin, to] {
        let out = receive(&mut s, 1, &encode(bad), at(1));
        assert_eq!(out, vec![], "an altered copy made something happen");
    }
    assert_eq!(s.metrics().bad_signatures, 3);
    assert_eq!(s.metrics().deliveries, 0);
    let out = receive(&mut s, 2, &encode(genuine), at(2));
    assert_eq!(
        delivered(&out),
        vec![("pay bob 5".into(), true, Trust::New)]
    );
}

/// A copy with a bad signature that comes before the genuine one inserts
/// nothing: the genuine copy is delivered.
#[test]
fn bad_copy_first_does_not_block_genuine() {
    let mut s = two_peers(config());
    let genuine = signed_env(&alice(), "alice", "hi", 0, 1);
    let mut forged = genuine.clone();
    let mut sig = *forged.sig.unwrap().as_bytes();
    sig[10] ^= 0x40;
    forged.sig = Some(crate::proto::Signature::from_bytes(sig));
    assert_eq!(receive(&mut s, 1, &encode(forged), at(0)), vec![]);
    assert!(!s.has_id(genuine.id.unwrap()));
    let out = receive(&mut s, 2, &encode(genuine), at(1));
    assert_eq!(delivered(&out), vec![("hi".into(), true, Trust::New)]);
}

/// `max_bad_signatures` bad copies on one link close it with `bad_signature`.
#[test]
fn bad_signatures_close_the_link() {
    let mut s = two_peers(config());
    let max = config().sig.max_bad_signatures;
    for i in 0..max {
        let mut bad = signed_env(&alice(), "alice", "hi", 0, u64::from(i));
        bad.msg = json!("changed");
        let out = receive(&mut s, 1, &encode(bad), at(1));
        if i + 1 < max {
            assert_eq!(out, vec![]);
        } else {
            assert_eq!(
                out,
                vec![OutEvent::Close {
                    conn: ConnId(1),
                    reason: DisconnectReason::BadSignature
                }]
            );
        }
    }
    assert_eq!(s.metrics().bad_signatures, u64::from(max));
}

/// An unsigned broadcast claiming a pinned name is dropped (a forgery from
/// a plaintext link); one claiming an unpinned name is delivered `unsigned`;
/// with `require_secure` every unsigned one is dropped.
#[test]
fn unsigned_under_pinned_name_is_dropped() {
    let mut s = two_peers(config());
    receive(
        &mut s,
        1,
        &encode(signed_env(&alice(), "alice", "hi", 0, 1)),
        at(0),
    );
    let forged = frame(
        json!({"msg_type": "BROADCAST", "msg": "send me your password", "originator": "alice", "time": T0, "id": "00000000-0000-0000-0000-0000000000f1"}),
    );
    assert_eq!(receive(&mut s, 2, &forged, at(1)), vec![]);
    assert_eq!(s.metrics().unsigned_dropped, 1);
    let plain = frame(
        json!({"msg_type": "BROADCAST", "msg": "hello", "originator": "dave", "time": T0, "id": "00000000-0000-0000-0000-0000000000f2"}),
    );
    let out = receive(&mut s, 2, &plain, at(1));
    assert_eq!(
        delivered(&out),
        vec![("hello".into(), false, Trust::Unsigned)]
    );
    let mut strict = two_peers(NodeConfig {
        require_secure: true,
        ..config()
    });
    assert_eq!(receive(&mut strict, 2, &plain, at(1)), vec![]);
    assert_eq!(strict.metrics().unsigned_dropped, 1);
}

/// Another key signing its own message under a live id: the id does not
/// match its signed fields, so it is dropped whether it comes before the
/// genuine message (which is then delivered) or after (a duplicate).
#[test]
fn another_key_cannot_squat_an_id() {
    let mut s = two_peers(config());
    let genuine = signed_env(&alice(), "alice", "hi", 0, 1);
    let mut squat = signed_env(&mallory(), "mallory", "mine now", 0, 1);
    squat.id = genuine.id;
    squat.sig = Some(mallory().sign(&signed_bytes(&squat, &mallory().key()).unwrap()));
    assert_eq!(receive(&mut s, 1, &encode(squat.clone()), at(0)), vec![]);
    assert_eq!(s.metrics().bad_signatures, 1);
    let out = receive(&mut s, 2, &encode(genuine), at(1));
    assert_eq!(delivered(&out), vec![("hi".into(), true, Trust::New)]);
    assert_eq!(receive(&mut s, 1, &encode(squat), at(2)), vec![]);
    assert_eq!(s.metrics().duplicates_dropped, 1);
}

/// An unsigned copy of a signed message seen (its signature stripped) is a
/// duplicate, never a second, unsigned delivery.
#[test]
fn stripped_copy_is_a_duplicate() {
    let mut s = two_peers(config());
    let genuine = signed_env(&alice(), "alice", "hi", 0, 1);
    receive(&mut s, 1, &encode(genuine.clone()), at(0));
    let mut stripped = genuine;
    stripped.sig = None;
    stripped.key = None;
    stripped.nonce = None;
    assert_eq!(receive(&mut s, 2, &encode(stripped), at(1)), vec![]);
    assert_eq!(s.metrics().duplicates_dropped, 1);
}

/// A validly signed message under a pinned name from another key is a
/// conflict: delivered as such, still relayed, the pin unchanged.
#[test]
fn same_name_other_key_is_a_conflict() {
    let mut s = two_peers(config());
    receive(
        &mut s,
        1,
        &encode(signed_env(&alice(), "alice", "hi", 0, 1)),
        at(0),
    );
    let f = encode(signed_env(&mallory(), "alice", "it's me", 1, 2));
    let out = receive(&mut s, 1, &f, at(1));
    assert_eq!(
        delivered(&out),
        vec![("it's me".into(), true, Trust::Conflict)]
    );
    assert!(out.contains(&OutEvent::Send {
        conn: ConnId(2),
        frame: f
    }));
    assert_eq!(s.pins().get(&PeerId::new("alice")), Some(&alice().key()));
}

/// Replays: the same frame again is a duplicate; after the seen-cache TTL
/// has forgotten it, its signed time refuses it.
#[test]
fn replays_fail() {
    let mut s = two_peers(config());
    let f = encode(signed_env(&alice(), "alice", "hi", 0, 1));
    assert_eq!(delivered(&receive(&mut s, 1, &f, at(0))).len(), 1);
    assert_eq!(receive(&mut s, 2, &f, at(10)), vec![]);
    assert_eq!(s.metrics().duplicates_dropped, 1);
    let later = config().seen_ttl + config().sig.clock_skew + Duration::from_secs(1);
    let later = at(later.as_millis() as u64);
    assert_eq!(receive(&mut s, 2, &f, later), vec![]);
    assert_eq!(s.metrics().replays_dropped, 1);
    // Just inside the window a message is still taken (a slow path, a skewed clock).
    let mut fresh = two_peers(config());
    let edge = config().seen_ttl + config().sig.clock_skew - Duration::from_secs(1);
    let out = receive(&mut fresh, 1, &f, at(edge.as_millis() as u64));
    assert_eq!(delivered(&out).len(), 1);
    // From further in the future than the skew: refused too; within it, taken.
    let mut s = two_peers(config());
    let ahead = encode(signed_env(&alice(), "alice", "soon", 31_000, 3));
    assert_eq!(receive(&mut s, 1, &ahead, at(0)), vec![]);
    assert_eq!(s.metrics().replays_dropped, 1);
    let skewed = encode(signed_env(&alice(), "alice", "soon", 29_000, 4));
    assert_eq!(delivered(&receive(&mut s, 1, &skewed, at(0))).len(), 1);
}

/// A replay after flushing the seen-cache with 100,000 junk ids (within the
/// TTL): the cache dropped the signed id for room, and its horizon refuses
/// the message by its signed time.
#[test]
fn replay_after_flush_fails() {
    let mut s = two_peers(NodeConfig {
        new_id_rate: 1_000_000,
        new_id_burst: 1_000_000,
        ..config()
    });
    let f = encode(signed_env(&alice(), "alice", "hi", 0, 1));
    assert_eq!(delivered(&receive(&mut s, 1, &f, at(0))).len(), 1);
    let mut out = Vec::new();
    for i in 0..100_000u128 {
        let junk = frame(
            json!({"msg_type": "BROADCAST", "msg": "x", "originator": "junk", "time": T0,
            "id": MessageId::from_u128(0x1000_0000 + i)}),
        );
        out.clear();
        s.handle(
            InEvent::Received {
                conn: ConnId(2),
                frame: junk,
            },
            at(1000),
            &mut out,
        );
    }
    assert!(
        !s.has_id(f.envelope().id.unwrap()),
        "the flood did not flush"
    );
    assert_eq!(receive(&mut s, 2, &f, at(2000)), vec![]);
    assert_eq!(s.metrics().replays_dropped, 1);
}

/// A node with a key signs its broadcasts: the id is derived from the
/// signed fields, the executor's id only seeds the nonce, and the frame verifies.
#[test]
fn own_broadcasts_are_signed() {
    let mut s = two_peers(config());
    s.set_identity(alice());
    let mut out = Vec::new();
    let local = MessageId::from_u128(42);
    let id = s.broadcast(local, "hi".into(), at(0), &mut out).unwrap();
    assert_ne!(id, local);
    let OutEvent::Send { frame, .. } = &out[0] else {
        panic!("{out:?}")
    };
    let env = frame.envelope();
    assert_eq!(
        (env.id, env.nonce, env.key),
        (
            Some(id),
            Some(10_000_000_000_000_000_042),
            Some(alice().key())
        )
    );
    // Every nonce is written with 20 digits (the frame length does not vary).
    assert_eq!(env.nonce.unwrap().to_string().len(), 20);
    assert_eq!(crate::proto::sign::verify_envelope(env), Ok(alice().key()));
    assert_eq!(
        env.id,
        Some(derive_id(&signed_bytes(env, &alice().key()).unwrap()))
    );
    assert!(s.has_id(id));
}

/// A node with a key announces `sig`; with signing off (or no key) it does not.
#[test]
fn sig_capability_follows_signing() {
    let caps_of = |s: &mut NodeState| {
        let out = step(
            s,
            InEvent::Connected {
                conn: ConnId(9),
                dir: Direction::Outbound {
                    addr: PeerAddr::new("127.0.0.1", 7000),
                },
                local: None,
                remote: None,
            },
            at(0),
        );
        out.iter()
            .find_map(|o| match o {
                OutEvent::Send { frame, .. } => frame.envelope().caps.clone(),
                _ => None,
            })
            .unwrap()
    };
    let mut signing = node();
    signing.set_identity(alice());
    assert!(caps_of(&mut signing).contains(&"sig".to_string()));
    assert!(!caps_of(&mut node()).contains(&"sig".to_string()));
    let mut off = node_with(NodeConfig {
        sig: crate::config::SigConfig {
            sign: false,
            ..Default::default()
        },
        ..config()
    });
    off.set_identity(alice());
    assert!(!caps_of(&mut off).contains(&"sig".to_string()));
}

/// Past `max_pins` a new name's signed messages are delivered `new` but not
/// pinned (and no pin change is reported).
#[test]
fn max_pins_bounds_first_contact() {
    let mut s = two_peers(NodeConfig {
        sig: crate::config::SigConfig {
            max_pins: 1,
            ..Default::default()
        },
        ..config()
    });
    let out = receive(
        &mut s,
        1,
        &encode(signed_env(&alice(), "alice", "a", 0, 1)),
        at(0),
    );
    assert!(out.contains(&OutEvent::PinsChanged));
    let out = receive(
        &mut s,
        1,
        &encode(signed_env(&mallory(), "mal", "m", 0, 2)),
        at(0),
    );
    assert_eq!(delivered(&out), vec![("m".into(), true, Trust::New)]);
    assert!(!out.contains(&OutEvent::PinsChanged));
    assert_eq!(s.pins().len(), 1);
}

/// Signed times at the ends of the calendar are refused as out of the
/// window, without overflowing anything.
#[test]
fn extreme_times_are_refused() {
    let mut s = two_peers(config());
    for (n, time) in ["9999-12-31T23:59:59.999Z", "0000-01-01T00:00:00Z"]
        .into_iter()
        .enumerate()
    {
        let mut env = Envelope::new(
            "BROADCAST",
            json!("x"),
            PeerId::new("alice"),
            WireTime::Text(time.into()),
        );
        env.nonce = Some(n as u64);
        sign_envelope(&alice(), &mut env).unwrap();
        assert_eq!(receive(&mut s, 1, &encode(env), at(0)), vec![]);
    }
    assert_eq!(s.metrics().replays_dropped, 2);
}
