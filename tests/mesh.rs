//! Many nodes in one process: a ring plus chords, every broadcast delivered exactly once.

mod common;

use std::collections::HashMap;

use common::*;
use peerchat::Event;

/// 20 nodes in a ring with chords; 50 broadcasts from several nodes each reach
/// every other node exactly once.
#[actix_rt::test]
async fn ring_with_chords_delivers_each_broadcast_once() {
    const N: usize = 20;
    const BROADCASTS: usize = 50;
    let mut nodes = Vec::new();
    for i in 0..N {
        nodes.push(start(&format!("n{i:02}")).await);
    }
    for i in 0..N {
        link(&nodes[i], &nodes[(i + 1) % N]).await;
        if i % 3 == 0 {
            link(&nodes[i], &nodes[(i + N / 2) % N]).await;
        }
    }
    let mut streams = Vec::new();
    for n in &nodes {
        streams.push(n.events().await.unwrap());
    }
    let mut sent = Vec::new();
    for k in 0..BROADCASTS {
        let from = (k * 7) % N;
        let text = format!("message {k} from n{from:02}");
        nodes[from].broadcast(text.clone()).await.unwrap();
        sent.push((from, text));
    }
    for (i, events) in streams.iter_mut().enumerate() {
        let expected: Vec<&String> = sent
            .iter()
            .filter(|(f, _)| *f != i)
            .map(|(_, t)| t)
            .collect();
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut remaining = expected.len();
        expect(events, &format!("all broadcasts at n{i:02}"), |e| {
            if let Event::Broadcast { text, .. } = e {
                *counts.entry(text.clone()).or_default() += 1;
                remaining -= 1;
            }
            (remaining == 0).then_some(())
        })
        .await;
        for t in expected {
            assert_eq!(counts.get(t), Some(&1), "n{i:02} delivered {t:?} once");
        }
    }
    // Nothing was delivered twice: the counters agree with the event streams.
    for (i, n) in nodes.iter().enumerate() {
        let own = sent.iter().filter(|(f, _)| *f == i).count();
        assert_eq!(
            n.metrics().await.unwrap().deliveries as usize,
            BROADCASTS - own
        );
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
