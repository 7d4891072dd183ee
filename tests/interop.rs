//! Interoperation with the original Python chat peers (one frame per connection, no ids, no `v`).

mod common;

use common::original::OriginalPeer;
use common::*;
use peerchat::Event;

/// An original peer that pings a peerchat node is registered as one-shot, and
/// the node's PONG (on a fresh connection) registers the node at the original.
#[actix_rt::test]
async fn original_pings_peerchat() {
    let p = start("p").await;
    let o = OriginalPeer::start("o").await;
    o.join(p.local_addr().port()).await;
    until("p registers o", || knows(&p, "o")).await;
    let info = p.peer("o").await.unwrap().unwrap();
    assert!(info.one_shot);
    assert_eq!(info.version, None);
    assert_eq!(info.addr.port(), o.port);
    until("o registers p", || async { o.knows("p") }).await;
    p.shutdown().await.unwrap();
}

/// A peerchat node joins an original peer: the original answers with a one-shot PONG.
#[actix_rt::test]
async fn peerchat_joins_original() {
    let p = start("p").await;
    let mut o = OriginalPeer::start("o").await;
    p.join(o.addr()).await.unwrap();
    until("p registers o", || knows(&p, "o")).await;
    assert!(p.peer("o").await.unwrap().unwrap().one_shot);
    assert!(o.knows("p"));
    // It stays registered although the dialled connection was closed by the original.
    p.send_test("o", "probe").await.unwrap();
    let got = o.clone_delivery_test().await;
    assert_eq!(got["msg"], "probe");
    assert!(knows(&p, "o").await);
    p.shutdown().await.unwrap();
}

/// On a mixed line original–peerchat–original, broadcasts from every node
/// reach every other node exactly once.
#[actix_rt::test]
async fn mixed_line_delivers_once() {
    let p = start("p").await;
    let mut o1 = OriginalPeer::start("o1").await;
    let mut o2 = OriginalPeer::start("o2").await;
    o1.join(p.local_addr().port()).await;
    o2.join(p.local_addr().port()).await;
    until("p registers both", || async {
        knows(&p, "o1").await && knows(&p, "o2").await
    })
    .await;
    until("both register p", || async {
        o1.knows("p") && o2.knows("p")
    })
    .await;
    let mut ep = p.events().await.unwrap();

    o1.broadcast("from o1").await;
    assert_eq!(broadcast_from(&mut ep, "from o1").await.as_str(), "o1");
    assert_eq!(texts(o2.deliveries_until("from o1").await), ["from o1"]);

    p.broadcast("from p").await.unwrap();
    assert_eq!(texts(o1.deliveries_until("from p").await), ["from p"]);
    assert_eq!(texts(o2.deliveries_until("from p").await), ["from p"]);

    o2.broadcast("from o2").await;
    assert_eq!(texts(o1.deliveries_until("from o2").await), ["from o2"]);
    // p saw each of the others' broadcasts once (o2 sent "from o1" back to it: dropped).
    p.broadcast("end").await.unwrap();
    o1.deliveries_until("end").await;
    let mut at_p = Vec::new();
    p.send_test("p", "flush").await.unwrap();
    expect(&mut ep, "flush", |e| match e {
        Event::Broadcast { text, .. } => {
            at_p.push(text.clone());
            None
        }
        Event::Test { .. } => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(at_p, ["from o2"]);
    assert_eq!(p.metrics().await.unwrap().deliveries, 3);
    p.shutdown().await.unwrap();
}

/// ADVERTISE both ways: peerchat learns the original's peers and dials them;
/// the original learns peerchat's peers (sent one per connection) and pings them.
#[actix_rt::test]
async fn advertise_both_directions() {
    let p = start("p").await;
    let q = start("q").await;
    let o = OriginalPeer::start("o").await;
    let o_friend = OriginalPeer::start("of").await;
    // o knows of; p knows o; q knows p.
    o_friend.join(o.port).await;
    until("o knows of", || async { o.knows("of") }).await;
    p.join(o.addr()).await.unwrap();
    until("p knows o", || knows(&p, "o")).await;
    link(&q, &p).await;

    p.get_peers_from("o").await.unwrap();
    until("p dials what o advertised", || knows(&p, "of")).await;

    o.get_peers_from("p").await;
    until("o pings what p advertised", || async { o.knows("q") }).await;
    until("q registers o", || knows(&q, "o")).await;
    p.shutdown().await.unwrap();
    q.shutdown().await.unwrap();
}

/// A mixed triangle (two peerchat nodes and one original) delivers every broadcast once per node.
#[actix_rt::test]
async fn mixed_triangle_delivers_once() {
    let p = start("p").await;
    let q = start("q").await;
    let mut o = OriginalPeer::start("o").await;
    link(&p, &q).await;
    o.join(p.local_addr().port()).await;
    o.join(q.local_addr().port()).await;
    until("both register o", || async {
        knows(&p, "o").await && knows(&q, "o").await
    })
    .await;
    let mut ep = p.events().await.unwrap();
    let mut eq = q.events().await.unwrap();

    o.broadcast("o says").await;
    p.broadcast("p says").await.unwrap();
    q.broadcast("q says").await.unwrap();
    p.broadcast("end").await.unwrap();
    let mut at_o = texts(o.deliveries_until("end").await);
    at_o.sort();
    assert_eq!(at_o, ["end", "p says", "q says"]);
    let mut at_q = broadcasts_until(&mut eq, "end").await;
    at_q.sort();
    assert_eq!(at_q, ["end", "o says", "p says"]);
    let mut at_p = Vec::new();
    expect(&mut ep, "o's and q's broadcasts at p", |e| {
        if let Event::Broadcast { text, .. } = e {
            at_p.push(text.clone());
        }
        (at_p.len() == 2).then_some(())
    })
    .await;
    at_p.sort();
    assert_eq!(at_p, ["o says", "q says"]);
    assert_eq!(p.metrics().await.unwrap().deliveries, 2);
    p.shutdown().await.unwrap();
    q.shutdown().await.unwrap();
}

fn texts(frames: Vec<serde_json::Value>) -> Vec<String> {
    frames
        .into_iter()
        .map(|f| f["msg"].as_str().unwrap_or("?").to_string())
        .collect()
}
