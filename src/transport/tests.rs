//! Tests of the in-memory network's partitions: which links a cut closes or silences, refused dials across, the heal, and what a gated reader sees.

use futures_util::StreamExt;
use serde_json::Value;

use super::*;
use crate::proto::{Envelope, Frame, PeerId, WireTime};

/// Queue bound of the test links.
const LIMIT: usize = 1 << 16;

fn frame(text: &str) -> Frame {
    let env = Envelope::new(
        "TEST",
        Value::from(text),
        PeerId::new("a"),
        WireTime::Text("t".into()),
    );
    Frame::encode(env).unwrap()
}

/// A closed cut closes exactly the links across (for good), refuses dials
/// across until the heal, and leaves links on one side open.
#[tokio::test]
async fn closed_cut_closes_links_across_and_refuses_dials_until_healed() {
    let net = MemoryNetwork::new();
    let (a, _la) = net.listen();
    let (b, _lb) = net.listen();
    let (c, _lc) = net.listen();
    let from_a = net.bound(&a);
    let from_b = net.bound(&b);
    let ab = from_a.connect(&b, LIMIT).unwrap();
    let ac = from_a.connect(&c, LIMIT).unwrap();
    let bc = from_b.connect(&c, LIMIT).unwrap();
    net.partition(&[b.clone(), c.clone()], Cut::Closed);
    assert_eq!(ab.gate.0.state(), GateState::Closed);
    assert_eq!(ac.gate.0.state(), GateState::Closed);
    assert_eq!(bc.gate.0.state(), GateState::Open, "both on the cut side");
    assert!(from_a.connect(&b, LIMIT).is_none(), "dial across refused");
    assert!(net.bound(&c).connect(&a, LIMIT).is_none(), "either way");
    assert!(from_b.connect(&c, LIMIT).is_some(), "same side connects");
    net.heal();
    assert_eq!(ab.gate.0.state(), GateState::Closed, "closed for good");
    assert!(from_a.connect(&b, LIMIT).is_some(), "healed: dials connect");
}

/// A silent cut loses frames on the links across without closing them; the
/// heal lets frames through again. A closed gate ends the reader's stream.
#[tokio::test]
async fn silent_cut_loses_frames_until_healed_and_closed_ends_the_stream() {
    let net = MemoryNetwork::new();
    let (a, _la) = net.listen();
    let (b, mut lb) = net.listen();
    let ours = net.bound(&a).connect(&b, LIMIT).unwrap();
    let theirs = lb.recv().await.unwrap();
    let mut reader = theirs.rx.into_frames(LIMIT).gated(theirs.gate);
    net.partition(std::slice::from_ref(&b), Cut::Silent);
    assert_eq!(ours.gate.0.state(), GateState::Silent);
    ours.tx.push(frame("lost")).unwrap();
    let lost = tokio::time::timeout(std::time::Duration::from_millis(50), reader.next()).await;
    assert!(lost.is_err(), "nothing arrives on a silent link");
    assert!(ours.tx.is_low(), "the lost frame's bytes are freed");
    net.heal();
    ours.tx.push(frame("kept")).unwrap();
    match reader.next().await {
        Some(Ok(Ok(f))) => assert_eq!(f.envelope().msg, Value::from("kept")),
        other => panic!("expected the frame sent after the heal, got {other:?}"),
    }
    net.partition(std::slice::from_ref(&a), Cut::Isolated);
    assert_eq!(ours.gate.0.state(), GateState::Closed);
    assert!(reader.next().await.is_none(), "a closed link ends");
}

/// A node restarts where it listened: `listen_at` takes back an address the
/// network handed out once nothing listens there, and refuses one in use or never handed out.
#[tokio::test]
async fn listen_at_takes_back_a_free_address_only() {
    let net = MemoryNetwork::new();
    let (a, la) = net.listen();
    assert!(net.listen_at(&a).is_none(), "in use");
    drop(la);
    net.unlisten(&a);
    assert!(net.listen_at(&a).is_some(), "free again");
    assert!(
        net.listen_at(&PeerAddr::new("mem0", 999)).is_none(),
        "never handed out"
    );
    assert!(
        net.listen_at(&PeerAddr::new("127.0.0.1", 1)).is_none(),
        "not in memory"
    );
}
