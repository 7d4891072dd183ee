//! A tree network with an earlier-version (flooding) node and an original one-shot peer in it, over TCP: everyone delivers everything exactly once.

mod common;

use common::original::OriginalPeer;
use common::*;
use peerchat::{Event, EventStream, NodeHandle};

/// Broadcast texts `events` delivers until it has had every one of `want`.
async fn texts_until_all(events: &mut EventStream, want: &[&str]) -> Vec<String> {
    let mut got: Vec<String> = Vec::new();
    expect(events, "every broadcast", |e| match e {
        Event::Broadcast { text, .. } => {
            got.push(text.clone());
            want.iter()
                .all(|w| got.iter().any(|g| g == w))
                .then_some(())
        }
        _ => None,
    })
    .await;
    got
}

/// Tree nodes a, b, c, d in a ring; `old` floods (announces no `tree`, as any
/// earlier peerchat node) and links b and d; the original peer `o` is
/// registered at c. Broadcasts from a tree node, the old node, the original
/// and another tree node each reach every other node once.
#[actix_rt::test]
async fn mixed_tree_network_delivers_exactly_once() {
    let (a, b, c, d) = (
        start("a").await,
        start("b").await,
        start("c").await,
        start("d").await,
    );
    let old = start_flood("old").await;
    for (x, y) in [
        (&a, &b),
        (&b, &c),
        (&c, &d),
        (&d, &a),
        (&b, &old),
        (&old, &d),
    ] {
        link(x, y).await;
    }
    let mut o = OriginalPeer::start("o").await;
    o.join(c.local_addr().port()).await;
    until("c registers o", || knows(&c, "o")).await;
    until("o registers c", || async { o.knows("c") }).await;
    assert!(c.peer("o").await.unwrap().unwrap().one_shot);
    let tree = |n: &NodeHandle| {
        let n = n.clone();
        async move {
            n.peers()
                .await
                .unwrap()
                .iter()
                .filter(|p| p.caps.has("tree"))
                .count()
        }
    };
    assert_eq!(tree(&b).await, 2, "b: a and c build trees, old does not");

    let nodes = [&a, &b, &c, &d, &old];
    let mut events = Vec::new();
    for n in nodes {
        events.push(n.events().await.unwrap());
    }
    a.broadcast("from a").await.unwrap();
    old.broadcast("from old").await.unwrap();
    o.broadcast("from o").await;
    d.broadcast("end").await.unwrap();
    let all = ["from a", "from old", "from o", "end"];
    let own = ["from a", "", "", "end", "from old"];
    for (k, ev) in events.iter_mut().enumerate() {
        let want: Vec<&str> = all.iter().copied().filter(|t| *t != own[k]).collect();
        let mut got = texts_until_all(ev, &want).await;
        got.sort();
        let mut want = want;
        want.sort();
        assert_eq!(got, want, "node {k}: each once");
    }
    let at_o: Vec<String> = o
        .deliveries_until("end")
        .await
        .into_iter()
        .filter(|d| d["msg_type"] == "BROADCAST")
        .map(|d| d["msg"].as_str().unwrap().to_string())
        .collect();
    let mut at_o_sorted = at_o.clone();
    at_o_sorted.sort();
    assert_eq!(at_o_sorted, ["end", "from a", "from old"], "o: {at_o:?}");
    // Exactly once everywhere: no node delivered more than the others' broadcasts.
    for (k, n) in nodes.iter().enumerate() {
        let want = all.iter().filter(|t| **t != own[k]).count() as u64;
        assert_eq!(n.metrics().await.unwrap().deliveries, want, "node {k}");
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
