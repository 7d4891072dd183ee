//! Addresses over real loopback sockets: IPv6, unspecified listeners, names through a resolver, failed dials told.

mod common;

use std::net::{IpAddr, TcpListener};
use std::time::Duration;

use common::{expect, link, until, WAIT};
use peerchat::resolve::StaticResolver;
use peerchat::{DialError, Error, Event, Node, NodeConfig, NodeHandle, PeerAddr};

async fn start_on(id: &str, listen: &str) -> NodeHandle {
    Node::builder(id)
        .listen(listen)
        .start()
        .await
        .expect("node starts")
}

/// Where `node` has recorded `peer`.
async fn recorded(node: &NodeHandle, peer: &str) -> PeerAddr {
    node.peer(peer)
        .await
        .expect("node alive")
        .unwrap_or_else(|| panic!("{} does not know {peer}", node.id()))
        .addr
}

fn lo(port: u16) -> PeerAddr {
    PeerAddr::new("127.0.0.1", port)
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Three nodes on `[::1]`: joins, peer tables, and an `ADVERTISE_REPLY`
/// whose IPv6 address the asker dials.
#[actix_rt::test]
async fn ipv6_loopback_end_to_end() {
    let a = start_on("a", "[::1]:0").await;
    let b = start_on("b", "[::1]:0").await;
    let c = start_on("c", "[::1]:0").await;
    link(&b, &a).await;
    link(&c, &b).await;
    let v6 = |n: &NodeHandle| PeerAddr::new("::1", n.local_addr().port());
    assert_eq!(recorded(&a, "b").await, v6(&b));
    assert_eq!(recorded(&b, "a").await, v6(&a));
    let mut events = c.events().await.unwrap();
    c.get_peers_from("b").await.unwrap();
    let addr = expect(&mut events, "c connects to a", |e| match e {
        Event::PeerConnected { peer, addr, .. } if peer.as_str() == "a" => Some(addr.clone()),
        _ => None,
    })
    .await;
    assert_eq!(addr, v6(&a));
    for n in [&a, &b, &c] {
        n.shutdown().await.unwrap();
    }
}

/// Nodes on `0.0.0.0` and a dual-stack `[::]`, reached over IPv4 loopback,
/// advertise `127.0.0.1` with their port and record their peers there
/// (never `0.0.0.0`, never `::ffff:127.0.0.1`); nothing needs correcting.
#[actix_rt::test]
async fn unspecified_listeners_on_loopback() {
    let any4 = start_on("any4", "0.0.0.0:0").await;
    let any6 = start_on("any6", "[::]:0").await;
    let c = start_on("c", "127.0.0.1:0").await;
    for n in [&any4, &any6] {
        let port = n.local_addr().port();
        c.join(lo(port)).await.unwrap();
        let id = n.id().to_string();
        until(&format!("c <-> {id}"), || async {
            common::knows(&c, &id).await && common::knows(n, "c").await
        })
        .await;
        assert_eq!(recorded(&c, &id).await, lo(port));
        assert_eq!(recorded(n, "c").await, lo(c.local_addr().port()));
        let m = n.metrics().await.unwrap();
        assert_eq!((m.addr_corrected, m.addr_rejected), (0, 0));
    }
    for n in [&any4, &any6, &c] {
        n.shutdown().await.unwrap();
    }
}

/// A bootstrap name is resolved again at every attempt: first it does not
/// resolve (told as `unresolvable`, with a retry), then it resolves to two
/// addresses, the first refused and the second a node, which is reached.
#[actix_rt::test]
async fn names_resolve_at_every_attempt_and_every_address_is_tried() {
    let seed = start_on("seed", "127.0.0.1:0").await;
    let port = seed.local_addr().port();
    let table = StaticResolver::new();
    let config = NodeConfig {
        redial_base: Duration::from_millis(50),
        ..NodeConfig::default()
    };
    let b = Node::builder("b")
        .config(config)
        .resolver(table.clone())
        .start()
        .await
        .unwrap();
    let mut events = b.events().await.unwrap();
    b.bootstrap([format!("seed.test:{port}")]).await.unwrap();
    let (error, retry) = expect(&mut events, "an unresolvable dial", |e| match e {
        Event::DialFailed {
            error, retry_in, ..
        } => Some((error.clone(), *retry_in)),
        _ => None,
    })
    .await;
    assert_eq!(error, DialError::Unresolvable);
    assert!(retry.is_some(), "a bootstrap address is retried");
    let ips: [IpAddr; 2] = ["127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap()];
    table.set("seed.test", ips);
    let addr = expect(&mut events, "seed connected", |e| match e {
        Event::PeerConnected { peer, addr, .. } if peer.as_str() == "seed" => Some(addr.clone()),
        _ => None,
    })
    .await;
    assert_eq!(addr, lo(port));
    let m = b.metrics().await.unwrap();
    assert!(m.dials_unresolvable >= 1 && m.dials_failed >= m.dials_unresolvable);
    b.shutdown().await.unwrap();
    seed.shutdown().await.unwrap();
}

/// A name that resolves to nothing fails as unresolvable and is counted; a
/// port nobody listens on fails as refused; neither, joined once, is retried.
#[actix_rt::test]
async fn failed_dials_are_told() {
    let table = StaticResolver::new().with("empty.test", []);
    let b = Node::builder("b").resolver(table).start().await.unwrap();
    let mut events = b.events().await.unwrap();
    let dead = closed_port();
    for (target, want) in [
        ("empty.test:7000".to_string(), DialError::Unresolvable),
        (format!("127.0.0.1:{dead}"), DialError::Refused),
    ] {
        b.join(&target).await.unwrap();
        let (addr, error, retry_in) = expect(&mut events, "dial_failed", |e| match e {
            Event::DialFailed {
                addr,
                error,
                retry_in,
                ..
            } => Some((addr.to_string(), error.clone(), *retry_in)),
            _ => None,
        })
        .await;
        assert_eq!((addr, error, retry_in), (target, want, None));
    }
    let m = b.metrics().await.unwrap();
    assert_eq!((m.dials_failed, m.dials_unresolvable), (2, 1));
    b.shutdown().await.unwrap();
}

/// `advertise` is what peers record and hand on: a name, which a third node
/// learns from an `ADVERTISE_REPLY` and dials through its resolver.
#[actix_rt::test]
async fn advertised_name_is_recorded_and_dialled() {
    let a = Node::builder("a")
        .advertise_host("a.test")
        .start()
        .await
        .unwrap();
    let port = a.local_addr().port();
    assert_eq!(a.advertised_addr(), &PeerAddr::new("a.test", port));
    let b = common::start("b").await;
    link(&b, &a).await;
    assert_eq!(recorded(&b, "a").await, PeerAddr::new("a.test", port));
    let table = StaticResolver::new().with("a.test", ["127.0.0.1".parse().unwrap()]);
    let c = Node::builder("c").resolver(table).start().await.unwrap();
    link(&c, &b).await;
    let mut events = c.events().await.unwrap();
    c.get_peers_from("b").await.unwrap();
    let addr = expect(&mut events, "c connects to a", |e| match e {
        Event::PeerConnected { peer, addr, .. } if peer.as_str() == "a" => Some(addr.clone()),
        _ => None,
    })
    .await;
    assert_eq!(addr, PeerAddr::new("a.test", port));
    for n in [&a, &b, &c] {
        n.shutdown().await.unwrap();
    }
}

/// An `advertise` address nobody could dial is refused before the node starts.
#[actix_rt::test]
async fn unusable_advertise_is_refused() {
    for bad in [("0.0.0.0", 7000), ("127.0.0.1", 0), ("224.0.0.1", 7000)] {
        let config = NodeConfig {
            advertise: Some(PeerAddr::new(bad.0, bad.1)),
            ..NodeConfig::default()
        };
        let result = tokio::time::timeout(WAIT, Node::builder("x").config(config).start()).await;
        match result.expect("start returns") {
            Err(Error::InvalidConfig(why)) => assert!(why.contains("advertise"), "{why}"),
            other => panic!("{bad:?} accepted: {other:?}"),
        }
    }
}
