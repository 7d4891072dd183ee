//! Unit tests of signed `DIRECT`/`DIRECT_ACK`: signed end to end, relayed with their fields intact, addressed by key, stripped by earlier nodes.

use super::*;
use crate::proto::sign::verify_envelope;
use crate::proto::{Identity, NodeKey};

fn alice() -> Identity {
    Identity::from_secret([1; 32])
}

fn me() -> Identity {
    Identity::from_secret([5; 32])
}

/// This node, with a key, and peers `a` (conn 1) and `b` (conn 2).
fn signing_node() -> NodeState {
    let mut s = node();
    s.set_identity(me());
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    s
}

/// A DIRECT from `alice` (signed) for `to`, as a far node makes it.
fn direct_from_alice(to: &str, to_key: Option<NodeKey>) -> Envelope {
    let mut env = Envelope::new(
        "DIRECT",
        json!("psst"),
        PeerId::new("alice"),
        WireTime::Text(T0.into()),
    );
    env.to = Some(PeerId::new(to));
    env.to_key = to_key;
    env.hops = Some(5);
    env.nonce = Some(3);
    crate::proto::sign::sign_envelope(&alice(), &mut env).unwrap();
    env
}

fn received(s: &mut NodeState, conn: u64, env: Envelope) -> Vec<OutEvent> {
    step(
        s,
        InEvent::Received {
            conn: ConnId(conn),
            frame: Frame::encode(env).unwrap(),
        },
        at(1),
    )
}

/// A signed DIRECT for this node is delivered verified, and its ack is
/// signed by this node, addressed to the sender's key.
#[test]
fn delivered_and_acked_signed() {
    let mut s = signing_node();
    let out = received(&mut s, 1, direct_from_alice(ME, Some(me().key())));
    let trust = out.iter().find_map(|o| match o {
        OutEvent::Emit(Event::Direct {
            verified, trust, ..
        }) => Some((*verified, *trust)),
        _ => None,
    });
    assert_eq!(trust, Some((true, Trust::New)));
    let ack = out
        .iter()
        .find_map(|o| match o {
            OutEvent::Send { frame, .. } if frame.envelope().msg_type == "DIRECT_ACK" => {
                Some(frame.envelope().clone())
            }
            _ => None,
        })
        .expect("an ack");
    assert_eq!(verify_envelope(&ack), Ok(me().key()));
    assert_eq!(ack.to_key, Some(alice().key()));
}

/// A DIRECT for this node's name but another key (a namesake's) is not
/// delivered here: it is passed on.
#[test]
fn other_key_same_name_is_passed_on() {
    let mut s = signing_node();
    let other = Identity::from_secret([6; 32]).key();
    let out = received(&mut s, 1, direct_from_alice(ME, Some(other)));
    assert!(!out
        .iter()
        .any(|o| matches!(o, OutEvent::Emit(Event::Direct { .. }))));
    assert!(out.iter().any(|o| matches!(
        o,
        OutEvent::Send {
            conn: ConnId(2),
            ..
        }
    )));
}

/// A relay lowers `hops` by re-encoding the frame: the signed fields, the
/// signature and unknown fields all survive, so the frame still verifies.
#[test]
fn relay_keeps_signature_and_unknown_fields() {
    let mut s = signing_node();
    let mut env = direct_from_alice("zed", None);
    env.extra.insert("future".into(), json!({"x": 1}));
    let out = received(&mut s, 1, env.clone());
    let relayed: Vec<&Envelope> = out
        .iter()
        .filter_map(|o| match o {
            OutEvent::Send { frame, .. } => Some(frame.envelope()),
            _ => None,
        })
        .collect();
    assert_eq!(relayed.len(), 1, "{out:?}");
    assert_eq!(relayed[0].hops, Some(4));
    assert_eq!(relayed[0].extra.get("future"), Some(&json!({"x": 1})));
    assert_eq!(verify_envelope(relayed[0]), Ok(alice().key()));
}

/// An earlier peerchat node re-encodes a relayed DIRECT without the fields
/// it does not know: it arrives unsigned, and is dropped when its sender's
/// name is pinned (delivered `unsigned` otherwise).
#[test]
fn stripped_by_earlier_node_is_unsigned() {
    let strip = |mut env: Envelope| {
        env.key = None;
        env.sig = None;
        env.nonce = None;
        env.to_key = None;
        env
    };
    let mut s = signing_node();
    let out = received(&mut s, 1, strip(direct_from_alice(ME, None)));
    let trust = out.iter().find_map(|o| match o {
        OutEvent::Emit(Event::Direct { trust, .. }) => Some(*trust),
        _ => None,
    });
    assert_eq!(trust, Some(Trust::Unsigned));
    let mut pinned = signing_node();
    let mut out = Vec::new();
    pinned.pin(PeerId::new("alice"), alice().key(), &mut out);
    assert_eq!(out, vec![OutEvent::PinsChanged]);
    assert_eq!(
        received(&mut pinned, 1, strip(direct_from_alice(ME, None))),
        vec![]
    );
    assert_eq!(pinned.metrics().unsigned_dropped, 1);
}

/// A node with a key signs the DIRECTs it sends, addressed to the key
/// pinned for the name; the ack settles it under the id it went out under.
#[test]
fn own_direct_is_signed_and_settled_by_its_id() {
    let mut s = signing_node();
    let b = Identity::from_secret([7; 32]);
    let mut out = Vec::new();
    s.pin(PeerId::new("b"), b.key(), &mut out);
    out.clear();
    let local = MessageId::from_u128(77);
    let cmd = Command::Direct {
        id: local,
        to: PeerId::new("b"),
        text: "psst".into(),
    };
    s.command(cmd, at(0), &mut out).unwrap();
    let sent = out
        .iter()
        .find_map(|o| match o {
            OutEvent::Send { frame, .. } => Some(frame.envelope().clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(verify_envelope(&sent), Ok(me().key()));
    assert_eq!(sent.to_key, Some(b.key()));
    let mut ack = Envelope::new(
        "DIRECT_ACK",
        json!(sent.id.unwrap()),
        PeerId::new("b"),
        WireTime::Text(T0.into()),
    );
    ack.to = Some(PeerId::new(ME));
    ack.to_key = Some(me().key());
    ack.hops = Some(16);
    ack.nonce = Some(1);
    crate::proto::sign::sign_envelope(&b, &mut ack).unwrap();
    let out = received(&mut s, 2, ack);
    assert!(
        matches!(&out[..], [OutEvent::Emit(Event::Delivered { id, .. })] if Some(*id) == sent.id && *id != local),
        "{out:?}"
    );
}

/// A DIRECT to a pinned key is sealed: the frame relays carry holds no
/// plaintext; the recipient opens it; stripped of its signer's key by an
/// earlier node, it cannot be opened and is dropped.
#[test]
fn sealed_direct_only_recipient_reads() {
    let mut sender = signing_node();
    let mut out = Vec::new();
    sender.pin(PeerId::new("alice"), alice().key(), &mut out);
    out.clear();
    let cmd = Command::Direct {
        id: MessageId::from_u128(9),
        to: PeerId::new("alice"),
        text: "the door code is 4711".into(),
    };
    sender.command(cmd, at(0), &mut out).unwrap();
    let sent = out
        .iter()
        .find_map(|o| match o {
            OutEvent::Send { frame, .. } => Some(frame.clone()),
            _ => None,
        })
        .unwrap();
    assert!(!String::from_utf8_lossy(sent.bytes()).contains("4711"));
    // Alice's node receives it.
    let alice_node = || {
        let mut s = NodeState::new(
            PeerId::new("alice"),
            PeerAddr::new("127.0.0.1", 5001),
            config(),
            Utc.with_ymd_and_hms(2026, 11, 28, 4, 41, 59).unwrap(),
        );
        s.set_identity(alice());
        register(&mut s, 1, ME, 5000);
        s
    };
    let mut recipient = alice_node();
    let out = received(&mut recipient, 1, sent.envelope().clone());
    let text = out.iter().find_map(|o| match o {
        OutEvent::Emit(Event::Direct { text, .. }) => Some(text.clone()),
        _ => None,
    });
    assert_eq!(text.as_deref(), Some("the door code is 4711"));
    let mut stripped = sent.envelope().clone();
    stripped.key = None;
    stripped.sig = None;
    stripped.nonce = None;
    stripped.id = Some(MessageId::from_u128(10));
    // Its sender is pinned now: an unsigned copy is dropped as such.
    assert_eq!(received(&mut recipient, 1, stripped.clone()), vec![]);
    assert_eq!(recipient.metrics().unsigned_dropped, 1);
    // Not pinned: it gets as far as opening, which fails.
    let mut fresh = alice_node();
    assert_eq!(received(&mut fresh, 1, stripped), vec![]);
    assert_eq!(fresh.metrics().seal_failures, 1);
}
