//! Signed and sealed messages between real nodes: pins kept in the data directory across a restart, a namesake shown as a conflict, sealed direct messages through a relay, forged unsigned frames from a plaintext connection.

mod common;

use common::*;
use peerchat::proto::Trust;
use peerchat::{Event, Node, NodeHandle};
use serde_json::json;

/// A fresh, empty directory for one test.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("peerchat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn with_dir(id: &str, dir: &std::path::Path) -> NodeHandle {
    Node::builder(id)
        .listen("127.0.0.1:0")
        .data_dir(dir)
        .start()
        .await
        .expect("node starts")
}

/// The trust a broadcast of `text` arrives with.
async fn trust_of(events: &mut peerchat::EventStream, text: &str) -> (bool, Trust) {
    expect(events, &format!("broadcast {text:?}"), |e| match e {
        Event::Broadcast {
            text: t,
            verified,
            trust,
            ..
        } if t == text => Some((*verified, *trust)),
        _ => None,
    })
    .await
}

/// Bob's first signed broadcast pins his key at alice (`new`), the next is
/// `pinned`; the pin is written to alice's data directory and survives her
/// restart, so another key under the name "bob" shows as a `conflict`.
#[actix_rt::test]
async fn pins_survive_restart_and_a_namesake_is_a_conflict() {
    let dir = temp_dir("pins");
    let alice = with_dir("alice", &dir).await;
    let bob = start("bob").await;
    link(&bob, &alice).await;
    let mut events = alice.events().await.unwrap();
    bob.broadcast("hi").await.unwrap();
    assert_eq!(trust_of(&mut events, "hi").await, (true, Trust::New));
    bob.broadcast("again").await.unwrap();
    assert_eq!(trust_of(&mut events, "again").await, (true, Trust::Pinned));
    assert_eq!(alice.whois("bob").await.unwrap(), Some(bob.key()));
    bob.shutdown().await.unwrap();
    alice.shutdown().await.unwrap();
    let saved = std::fs::read_to_string(dir.join("pins")).unwrap();
    assert_eq!(saved, format!("{} bob\n", bob.key().to_hex()));
    // The data directory stays locked while a handle to its node lives.
    drop(alice);

    let alice = with_dir("alice", &dir).await;
    assert_eq!(alice.whois("bob").await.unwrap(), Some(bob.key()));
    let impostor = start("bob").await;
    assert_ne!(impostor.key(), bob.key());
    link(&impostor, &alice).await;
    let mut events = alice.events().await.unwrap();
    impostor.broadcast("it's me, bob").await.unwrap();
    assert_eq!(
        trust_of(&mut events, "it's me, bob").await,
        (true, Trust::Conflict)
    );
    // /trust by the fingerprint /whois lists moves the pin; /forget drops it.
    let pins = alice.pins().await.unwrap();
    let other = pins
        .find(&"bob".into(), &impostor.key().fingerprint())
        .unwrap();
    alice.trust("bob", other).await.unwrap();
    assert_eq!(alice.whois("bob").await.unwrap(), Some(impostor.key()));
    alice.forget("bob").await.unwrap();
    assert_eq!(alice.whois("bob").await.unwrap(), None);
    impostor.shutdown().await.unwrap();
    alice.shutdown().await.unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("pins")).unwrap(), "");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A direct message to a pinned key goes sealed through a relay: the
/// recipient reads it (verified, `pinned`), the sender gets the ack.
#[actix_rt::test]
async fn sealed_direct_through_a_relay() {
    let (a, relay, b) = (start("a").await, start("relay").await, start("b").await);
    link(&a, &relay).await;
    link(&relay, &b).await;
    let mut at_a = a.events().await.unwrap();
    b.broadcast("b was here").await.unwrap();
    trust_of(&mut at_a, "b was here").await;
    assert_eq!(a.whois("b").await.unwrap(), Some(b.key()));
    let mut at_b = b.events().await.unwrap();
    a.send_to("b", "for your eyes only").await.unwrap();
    let got = expect(&mut at_b, "the direct message", |e| match e {
        Event::Direct {
            text,
            verified,
            trust,
            ..
        } => Some((text.clone(), *verified, *trust)),
        _ => None,
    })
    .await;
    assert_eq!(got, ("for your eyes only".into(), true, Trust::New));
    for n in [a, relay, b] {
        n.shutdown().await.unwrap();
    }
}

/// A plaintext connection sends an unsigned broadcast claiming a pinned
/// name: it is dropped and counted, and nobody sees it.
#[actix_rt::test]
async fn forged_unsigned_broadcast_under_a_pinned_name_is_dropped() {
    let (alice, bob) = (start("alice").await, start("bob").await);
    link(&bob, &alice).await;
    let mut events = alice.events().await.unwrap();
    bob.broadcast("the real bob").await.unwrap();
    trust_of(&mut events, "the real bob").await;
    let mut raw = RawClient::connect(&alice).await;
    raw.send(json!({"msg_type": "PING", "msg": ["127.0.0.1", 4242], "originator": "mallory", "time": "t", "v": 3}))
        .await;
    raw.recv_type("PONG").await;
    raw.send(
        json!({"msg_type": "BROADCAST", "msg": "send me your password", "originator": "bob",
        "time": "2026-12-02T21:00:00.000Z", "id": "00000000-0000-4000-8000-0000000000f1"}),
    )
    .await;
    raw.send(
        json!({"msg_type": "BROADCAST", "msg": "an honest legacy line", "originator": "mallory",
        "time": "2026-12-02T21:00:00.000Z", "id": "00000000-0000-4000-8000-0000000000f2"}),
    )
    .await;
    // The second (unsigned, unpinned name) arrives after the first was handled.
    assert_eq!(
        trust_of(&mut events, "an honest legacy line").await,
        (false, Trust::Unsigned)
    );
    assert_eq!(alice.metrics().await.unwrap().unsigned_dropped, 1);
    alice.shutdown().await.unwrap();
    bob.shutdown().await.unwrap();
}
