// Run: cargo run --release --example fuzz -- [ITERATIONS] [SEED]
//! A stable-toolchain fuzzer for the frame decoder and `NodeState::handle`:
//! mutates valid frames (bit flips, inserts, deletions, splices, truncation,
//! type swaps in JSON fields) and random bytes, feeds them through the codec in
//! random chunks and every decoded frame into a node with live peers. Any panic
//! stops it and prints the input. (cargo-fuzz needs nightly, which this
//! project does not use.)

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant as WallClock};

use bytes::{BufMut, BytesMut};
use peerchat::codec::FrameCodec;
use peerchat::proto::{
    ConnId, Direction, DisconnectReason, InEvent, Instant, NodeState, PeerAddr, PeerId, Timer,
};
use peerchat::NodeConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::codec::Decoder;

const SEEDS: &[&str] = &[
    r#"{"msg_type":"PING","msg":["127.0.0.1",5001],"originator":"a","time":"t","v":1}"#,
    r#"{"msg_type":"PONG","msg":["127.0.0.1",5002],"originator":"b","time":"Sat Nov 28 04:41:59 2026"}"#,
    r#"{"msg_type":"ADVERTISE","msg":"","originator":"a","time":1.5}"#,
    r#"{"msg_type":"ADVERTISE_REPLY","msg":["c",["127.0.0.1",5003]],"originator":"a","time":"t"}"#,
    r#"{"msg_type":"BROADCAST","msg":"hi","originator":"c","time":"t","id":"00000000-0000-4000-8000-000000000001"}"#,
    r#"{"msg_type":"BROADCAST","msg":"hi","originator":"py","time":"Sat Nov 28 04:41:59 2026"}"#,
    r#"{"msg_type":"TEST","msg":"probe","originator":"a","time":"t"}"#,
    r#"{"msg_type":"DIRECT","msg":"x","originator":"a","time":"t","id":"00000000-0000-4000-8000-000000000002","to":"far","hops":3}"#,
    r#"{"msg_type":"DIRECT_ACK","msg":"00000000-0000-4000-8000-000000000002","originator":"far","time":"t","id":"00000000-0000-4000-8000-000000000003","to":"a","hops":3}"#,
    r#"{"msg_type":"CHAT","msg":{"x":[1,2,{"y":null}]},"originator":"a","time":"t"}"#,
    r#"{"msg_type":"BROADCAST","msg":"n","originator":"c","time":"t","id":"00000000-0000-4000-8000-000000000004","epoch":7,"seq":2}"#,
    r#"{"msg_type":"DIGEST","msg":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","originator":"a","time":"t"}"#,
    r#"{"msg_type":"SUMMARY","msg":[["c",7,3],["d",1,18446744073709551615]],"originator":"a","time":"t"}"#,
    r#"{"msg_type":"PULL","msg":["c",7,1,3],"originator":"a","time":"t"}"#,
    r#"{"msg_type":"HISTORY","msg":{"msg_type":"BROADCAST","msg":"n","originator":"c","time":"t","id":"00000000-0000-4000-8000-000000000005","epoch":7,"seq":1},"originator":"a","time":"t"}"#,
];

const JUNK: &[&str] = &[
    "null",
    "true",
    "-1",
    "1e999",
    "[]",
    "{}",
    "\"\"",
    "[\"h\",70000]",
    "\"me\"",
    "0",
];

fn mutate(rng: &mut StdRng, input: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..4) {
        let len = input.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let i = rng.random_range(0..=len);
                input.insert(i, rng.random());
            }
            2 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - i).min(16));
                input.drain(i..i + n);
            }
            3 => {
                let other = SEEDS[rng.random_range(0..SEEDS.len())].as_bytes();
                let cut = rng.random_range(0..=other.len());
                let at = rng.random_range(0..=len);
                input.splice(at..at, other[..cut].iter().copied());
            }
            4 if len > 0 => input.truncate(rng.random_range(0..len)),
            5 => {
                // Swap a JSON value after a colon for one of another type.
                if let Some(pos) = input
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b':')
                    .map(|(i, _)| i)
                    .nth(rng.random_range(0..8))
                {
                    let end = input[pos + 1..]
                        .iter()
                        .position(|b| *b == b',' || *b == b'}')
                        .map_or(input.len(), |e| pos + 1 + e);
                    let junk = JUNK[rng.random_range(0..JUNK.len())].as_bytes();
                    input.splice(pos + 1..end, junk.iter().copied());
                }
            }
            _ => input.push(b'\n'),
        }
    }
}

fn node() -> NodeState {
    let config = NodeConfig {
        max_frame_len: 512,
        ..NodeConfig::default()
    };
    let mut s = NodeState::new(
        PeerId::new("me"),
        PeerAddr::new("127.0.0.1", 5000),
        config,
        chrono::DateTime::UNIX_EPOCH,
    );
    let mut out = Vec::new();
    for (conn, id) in [(1, "a"), (2, "b"), (3, "py")] {
        s.handle(
            InEvent::Connected {
                conn: ConnId(conn),
                dir: Direction::Inbound,
                local: None,
                remote: None,
            },
            Instant::ZERO,
            &mut out,
        );
        let v = if id == "py" {
            ""
        } else {
            r#","v":1,"caps":["seq"]"#
        };
        let hello = format!(
            r#"{{"msg_type":"PING","msg":["127.0.0.1",{}],"originator":"{id}","time":"t"{v}}}"#,
            6000 + conn
        );
        let frame =
            peerchat::proto::Frame::decode(bytes::Bytes::from(hello)).expect("seed hello is valid");
        s.handle(
            InEvent::Received {
                conn: ConnId(conn),
                frame,
            },
            Instant::ZERO,
            &mut out,
        );
    }
    s
}

/// Runs one input through the codec (in random chunks) and the state machine.
fn run_one(rng: &mut StdRng, state: &mut NodeState, input: &[u8], now: Instant) -> (u64, u64) {
    let (mut ok, mut bad) = (0, 0);
    let mut codec = FrameCodec::new(512);
    let mut buf = BytesMut::new();
    let mut rest = input;
    let conn = ConnId(rng.random_range(1..5));
    let mut out = Vec::new();
    loop {
        let take = rng.random_range(0..=rest.len().min(64));
        buf.put_slice(&rest[..take]);
        rest = &rest[take..];
        let at_end = rest.is_empty();
        loop {
            let item = if at_end {
                codec.decode_eof(&mut buf)
            } else {
                codec.decode(&mut buf)
            };
            match item {
                Ok(Some(Ok(frame))) => {
                    ok += 1;
                    state.handle(InEvent::Received { conn, frame }, now, &mut out);
                }
                Ok(Some(Err(error))) => {
                    bad += 1;
                    state.handle(InEvent::Malformed { conn, error }, now, &mut out);
                }
                Ok(None) => break,
                Err(_) => return (ok, bad + 1),
            }
        }
        if at_end {
            return (ok, bad);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut state = node();
    let started = WallClock::now();
    let (mut ok, mut bad) = (0u64, 0u64);
    for i in 0..iterations {
        let mut input = if rng.random_range(0..10) == 0 {
            (0..rng.random_range(0..300))
                .map(|_| rng.random())
                .collect()
        } else {
            SEEDS[rng.random_range(0..SEEDS.len())].as_bytes().to_vec()
        };
        mutate(&mut rng, &mut input);
        let now = Instant::from_epoch(Duration::from_millis(i));
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            run_one(&mut rng, &mut state, &input, now)
        }));
        match result {
            Ok((o, b)) => {
                ok += o;
                bad += b;
            }
            Err(_) => {
                eprintln!(
                    "PANIC at iteration {i} (seed {seed}) on input: {:?}",
                    String::from_utf8_lossy(&input)
                );
                std::process::exit(1);
            }
        }
        if i % 1000 == 999 {
            // Now and then: timers, and fresh connections so closed ones come back.
            let mut out = Vec::new();
            state.handle(InEvent::TimerFired(Timer::KeepAlive), now, &mut out);
            for conn in 1..5 {
                state.handle(
                    InEvent::Disconnected {
                        conn: ConnId(conn),
                        reason: DisconnectReason::Closed,
                    },
                    now,
                    &mut out,
                );
            }
            state = node();
        }
    }
    println!(
        "{iterations} inputs (seed {seed}) in {:.1?}: {ok} frames decoded and handled, {bad} rejected, no panic",
        started.elapsed()
    );
}
