//! Unit tests of redial and backoff, driven by explicit `now` and fired timers.

use super::*;

fn addr(port: u16) -> PeerAddr {
    PeerAddr::new("127.0.0.1", port)
}

/// The delay of the single redial timer in `out`, if there is one.
fn redial_delay(out: &[OutEvent], port: u16) -> Option<Duration> {
    out.iter().find_map(|e| match e {
        OutEvent::Schedule {
            delay,
            timer: Timer::Redial(a),
        } if a.port() == port => Some(*delay),
        _ => None,
    })
}

fn dial_failed(s: &mut NodeState, port: u16) -> Vec<OutEvent> {
    step(
        s,
        InEvent::DialFailed {
            addr: addr(port),
            error: DialError::Refused,
        },
        at(0),
    )
}

/// A dropped peer is redialled with a doubling, jittered delay, and given up after `redial_attempts`.
#[test]
fn redial_backs_off_then_gives_up() {
    let cfg = config();
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    register(&mut s, 2, "b", 6002);
    let out = step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(1),
            reason: DisconnectReason::Timeout,
        },
        at(0),
    );
    let mut delay = redial_delay(&out, 6001).expect("first redial scheduled");
    for attempt in 0..cfg.redial_attempts {
        let full = cfg
            .redial_base
            .saturating_mul(1 << attempt)
            .min(cfg.redial_max);
        assert!(
            delay >= full / 2 && delay < full,
            "attempt {attempt}: {delay:?} within jitter of {full:?}"
        );
        let out = step(
            &mut s,
            InEvent::TimerFired(Timer::Redial(addr(6001))),
            at(0),
        );
        assert_eq!(out, vec![OutEvent::Dial(addr(6001))]);
        let out = dial_failed(&mut s, 6001);
        match redial_delay(&out, 6001) {
            Some(d) => delay = d,
            None => {
                assert_eq!(attempt + 1, cfg.redial_attempts, "gave up early");
                return;
            }
        }
    }
    panic!("never gave up");
}

/// A peer that comes back before its redial fires is registered again and the redial is dropped.
#[test]
fn returning_peer_cancels_redial() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    step(
        &mut s,
        InEvent::Disconnected {
            conn: ConnId(1),
            reason: DisconnectReason::Closed,
        },
        at(0),
    );
    register(&mut s, 2, "a", 6001);
    assert!(step(
        &mut s,
        InEvent::TimerFired(Timer::Redial(addr(6001))),
        at(1000)
    )
    .is_empty());
}

/// Peers this node dropped on purpose (duplicate, slow, shutdown) are not redialled.
#[test]
fn local_drops_are_not_redialled() {
    for reason in [
        DisconnectReason::Duplicate,
        DisconnectReason::SlowPeer,
        DisconnectReason::Shutdown,
    ] {
        let mut s = node();
        register(&mut s, 1, "a", 6001);
        let out = step(
            &mut s,
            InEvent::Disconnected {
                conn: ConnId(1),
                reason,
            },
            at(0),
        );
        assert_eq!(redial_delay(&out, 6001), None, "{reason:?}");
    }
}

/// Bootstrap addresses are retried past `redial_attempts` while the node has no peers.
#[test]
fn bootstrap_retried_while_alone() {
    let cfg = NodeConfig {
        redial_attempts: 2,
        ..config()
    };
    let mut s = node_with(cfg);
    let mut out = Vec::new();
    s.command(Command::Bootstrap(vec![addr(7000)]), at(0), &mut out)
        .unwrap();
    assert_eq!(out, vec![OutEvent::Dial(addr(7000))]);
    for round in 0..10 {
        let out = dial_failed(&mut s, 7000);
        let delay =
            redial_delay(&out, 7000).unwrap_or_else(|| panic!("round {round}: bootstrap dropped"));
        assert!(delay < config().redial_max);
        assert_eq!(
            step(
                &mut s,
                InEvent::TimerFired(Timer::Redial(addr(7000))),
                at(0)
            ),
            vec![OutEvent::Dial(addr(7000))]
        );
    }
    // Once it has a peer, a failed bootstrap dial is not retried.
    register(&mut s, 1, "a", 6001);
    step(
        &mut s,
        InEvent::TimerFired(Timer::Redial(addr(7000))),
        at(0),
    );
    let out = dial_failed(&mut s, 7000);
    assert_eq!(redial_delay(&out, 7000), None);
}

/// The same seed gives the same jitter: a simulation replays exactly.
#[test]
fn jitter_is_seeded() {
    let delays = |seed: u64| {
        let mut s = node();
        s.seed(seed);
        register(&mut s, 1, "a", 6001);
        let out = step(
            &mut s,
            InEvent::Disconnected {
                conn: ConnId(1),
                reason: DisconnectReason::Closed,
            },
            at(0),
        );
        redial_delay(&out, 6001).unwrap()
    };
    assert_eq!(delays(7), delays(7));
    assert_ne!(delays(7), delays(8));
}

/// An inbound connection without a hello is closed when its handshake timer fires.
#[test]
fn handshake_timeout_closes_silent_connection() {
    let mut s = node();
    connect_in(&mut s, 1);
    let out = step(
        &mut s,
        InEvent::TimerFired(Timer::Handshake(ConnId(1))),
        at(5000),
    );
    assert_eq!(
        out,
        vec![OutEvent::Close {
            conn: ConnId(1),
            reason: DisconnectReason::HandshakeTimeout
        }]
    );
    register(&mut s, 2, "a", 6001);
    assert!(step(
        &mut s,
        InEvent::TimerFired(Timer::Handshake(ConnId(2))),
        at(5000)
    )
    .is_empty());
}

/// Keep-alive: a quiet peer is probed, a silent one dropped, and the timer rescheduled.
#[test]
fn keep_alive_probes_then_drops() {
    let mut s = node();
    register(&mut s, 1, "a", 6001);
    let interval = config().ping_interval;
    let out = step(&mut s, InEvent::TimerFired(Timer::KeepAlive), at(5000));
    assert_eq!(
        out,
        vec![
            OutEvent::Send {
                conn: ConnId(1),
                frame: hello("PING", ME, 5000, "2026-11-28T04:42:04.000Z")
            },
            OutEvent::Schedule {
                delay: interval,
                timer: Timer::KeepAlive
            },
        ]
    );
    let out = step(&mut s, InEvent::TimerFired(Timer::KeepAlive), at(15000));
    assert_eq!(
        out,
        vec![
            OutEvent::Close {
                conn: ConnId(1),
                reason: DisconnectReason::Timeout
            },
            OutEvent::Schedule {
                delay: interval,
                timer: Timer::KeepAlive
            },
        ]
    );
}
