//! Two nodes under one name with different keys, both linked to a third: both registered, each one's broadcasts reach the other (forwarded, not skipped as the originator), shown as a conflict; direct messages follow the pinned key.

mod common;

use common::*;
use peerchat::proto::Trust;
use peerchat::{Event, EventStream, NodeHandle};

/// The `(verified, trust)` a broadcast of `text` arrives with.
async fn trust_of(events: &mut EventStream, text: &str) -> (bool, Trust) {
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

/// How many peers named `name` `node` has registered.
async fn entries(node: &NodeHandle, name: &str) -> usize {
    let peers = node.peers().await.expect("node alive");
    peers.iter().filter(|p| p.id.as_str() == name).count()
}

/// bob, alice (key A) and a second "alice" (key B), each alice linked to
/// bob: bob registers both (each with its own key). alice#1's broadcast is
/// `new` at bob (it pins A); alice#2's is a `conflict` at bob and reaches
/// alice#1 through bob as a `conflict` too (her own name, another key),
/// and alice#1's reaches alice#2 the same way. bob's direct message to
/// "alice" goes to the pinned key, alice#1.
#[actix_rt::test]
async fn namesakes_are_both_peers_and_hear_each_other() {
    let bob = start("bob").await;
    let alice1 = start("alice").await;
    let alice2 = start("alice").await;
    assert_ne!(alice1.key(), alice2.key());
    let mut at_bob = bob.events().await.unwrap();
    let mut at_alice1 = alice1.events().await.unwrap();
    let mut at_alice2 = alice2.events().await.unwrap();
    link(&alice1, &bob).await;
    alice2.join(bob.local_addr()).await.unwrap();
    until("bob registers both alices", || async {
        entries(&bob, "alice").await == 2 && knows(&alice2, "bob").await
    })
    .await;
    let mut keys: Vec<_> = bob
        .peers()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.id.as_str() == "alice")
        .map(|p| p.key)
        .collect();
    keys.sort();
    let mut want = vec![Some(alice1.key()), Some(alice2.key())];
    want.sort();
    assert_eq!(keys, want, "each alice listed with its own key");

    alice1.broadcast("one").await.unwrap();
    assert_eq!(trust_of(&mut at_bob, "one").await, (true, Trust::New));
    assert_eq!(
        trust_of(&mut at_alice2, "one").await,
        (true, Trust::Conflict)
    );
    assert_eq!(bob.whois("alice").await.unwrap(), Some(alice1.key()));

    alice2.broadcast("two").await.unwrap();
    assert_eq!(trust_of(&mut at_bob, "two").await, (true, Trust::Conflict));
    assert_eq!(
        trust_of(&mut at_alice1, "two").await,
        (true, Trust::Conflict)
    );
    assert_eq!(bob.whois("alice").await.unwrap(), Some(alice1.key()));

    bob.send_to("alice", "psst").await.expect("acknowledged");
    let text = expect(&mut at_alice1, "direct at alice#1", |e| match e {
        Event::Direct { text, trust, .. } => Some((text.clone(), *trust)),
        _ => None,
    })
    .await;
    assert_eq!(text, ("psst".to_string(), Trust::New));
    // The same frame never reached alice#2: the next event there is a
    // broadcast sent after the direct message was acknowledged.
    bob.broadcast("after").await.unwrap();
    let first = expect(&mut at_alice2, "an event at alice#2", |e| match e {
        Event::Direct { text, .. } => Some(format!("direct {text}")),
        Event::Broadcast { text, .. } if text == "after" => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(first, "after");
    for node in [bob, alice1, alice2] {
        node.shutdown().await.unwrap();
    }
}
