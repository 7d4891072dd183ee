// Run: cargo run --release --example fuzz -- [ITERATIONS] [SEED]
//! A stable-toolchain fuzzer for the frame decoder and `NodeState::handle`:
//! mutates valid frames (bit flips, inserts, deletions, splices, truncation,
//! type swaps in JSON fields) and random bytes, feeds them through the codec in
//! random chunks and every decoded frame into a node with live peers. Secure
//! links too: mutated sealed streams through the decrypting decoder, and
//! mutated handshake messages through both sides of the Noise handshake.
//! Any panic stops it and prints the input. (cargo-fuzz needs nightly, which
//! this project does not use.)

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant as WallClock};

use bytes::{BufMut, BytesMut};
use peerchat::codec::FrameCodec;
use peerchat::proto::Identity;
use peerchat::proto::{
    ConnId, Direction, DisconnectReason, InEvent, Instant, NodeState, PeerAddr, PeerId, Timer,
};
use peerchat::secure::handshake::handshake_in_memory;
use peerchat::secure::{Initiator, LinkKeys, NoiseWriter, Opener, Responder, SecureCodec};
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
    // Signed (tests/vectors/handling.json): mutations exercise verification.
    r#"{"msg_type":"BROADCAST","msg":"signed hello","originator":"alice","time":"2026-01-01T00:00:05.000Z","id":"bc0d89f0-722e-6cc5-df99-5885a57c1e3e","key":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c","sig":"34def96aeb445d9f2d644e4f25a8fe99ebde87399248b01bfe602c965444daaea5f4944823853f8bef50f3bea72e95b05a23939c322868f37235c16afc919208","nonce":10000000000000000007}"#,
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

/// One mutated handshake per this many iterations (each costs a few X25519
/// operations: slow in a debug build, which CI runs).
const HANDSHAKE_EVERY: u64 = 200;
/// One mutated sealed stream (all the seed frames, encrypted) per this many iterations.
const SEALED_EVERY: u64 = 4;

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

/// Valid secure-link material to mutate: handshake messages 1 to 3 and a
/// sealed stream of every seed frame, with the opener that reads it.
struct SecureFixture {
    responder: LinkKeys,
    initiator: LinkKeys,
    msg1: Vec<u8>,
    msg2: Vec<u8>,
    msg3: Vec<u8>,
    sealed: Vec<u8>,
    opener: Opener,
}

fn secure_fixture() -> SecureFixture {
    let initiator = LinkKeys::new(Identity::from_secret([1; 32]), [2; 32]);
    let responder = LinkKeys::new(Identity::from_secret([3; 32]), [4; 32]);
    let (i, msg1) = Initiator::start(&initiator).expect("handshake starts");
    let (r, msg2) = Responder::start(&responder, &msg1).expect("message 2");
    let (msg3, _) = i.finish(&msg2).expect("message 3");
    r.finish(&msg3).expect("handshake ends");
    let (ta, tb) = handshake_in_memory(&initiator, &responder).expect("handshake");
    let mut plain = Vec::new();
    for seed in SEEDS {
        plain.extend_from_slice(seed.as_bytes());
        plain.push(b'\n');
    }
    let mut sealed = Vec::new();
    let mut writer = NoiseWriter::new(&mut sealed, ta.split().0);
    futures_util::FutureExt::now_or_never(async {
        use tokio::io::AsyncWriteExt;
        writer.write_all(&plain).await?;
        writer.flush().await
    })
    .expect("writing to a Vec never waits")
    .expect("sealed");
    SecureFixture {
        responder,
        initiator,
        msg1,
        msg2,
        msg3,
        sealed,
        opener: tb.split().1,
    }
}

/// A mutated sealed stream through the decrypting decoder, in random
/// chunks, every frame it yields into the state machine.
fn run_secure(rng: &mut StdRng, fx: &SecureFixture, state: &mut NodeState, now: Instant) -> u64 {
    let mut input = fx.sealed.clone();
    mutate(rng, &mut input);
    let mut codec = SecureCodec::new(fx.opener.clone(), 512);
    let mut buf = BytesMut::new();
    let mut rest = &input[..];
    let mut out = Vec::new();
    let mut frames = 0;
    loop {
        let take = rng.random_range(0..=rest.len().min(256));
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
                    frames += 1;
                    let conn = ConnId(1);
                    state.handle(InEvent::Received { conn, frame }, now, &mut out);
                }
                Ok(Some(Err(_))) => {}
                Ok(None) => break,
                Err(_) => return frames,
            }
        }
        if at_end {
            return frames;
        }
    }
}

/// Mutated handshake messages through both sides: each must be refused or
/// accepted, never panic. Returns how many were refused.
fn run_handshake(rng: &mut StdRng, fx: &SecureFixture) -> u64 {
    let mut refused = 0;
    let mut msg1 = fx.msg1.clone();
    mutate(rng, &mut msg1);
    if Responder::start(&fx.responder, &msg1).is_err() {
        refused += 1;
    }
    // Message 2 and 3 against fresh sides: the fixture's were used up.
    let (i, m1) = Initiator::start(&fx.initiator).expect("handshake starts");
    let (r, mut msg2) = Responder::start(&fx.responder, &m1).expect("message 2");
    if rng.random_range(0..2) == 0 {
        mutate(rng, &mut msg2);
    } else {
        msg2 = fx.msg2.clone();
        mutate(rng, &mut msg2);
    }
    match i.finish(&msg2) {
        Ok((mut msg3, _)) => {
            mutate(rng, &mut msg3);
            if r.finish(&msg3).is_err() {
                refused += 1;
            }
        }
        Err(_) => {
            let mut msg3 = fx.msg3.clone();
            mutate(rng, &mut msg3);
            if r.finish(&msg3).is_err() {
                refused += 1;
            }
            refused += 1;
        }
    }
    refused
}

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut state = node();
    let fixture = secure_fixture();
    let started = WallClock::now();
    let (mut ok, mut bad) = (0u64, 0u64);
    let (mut sealed_frames, mut handshakes_refused) = (0u64, 0u64);
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
            if i % SEALED_EVERY == 0 {
                sealed_frames += run_secure(&mut rng, &fixture, &mut state, now);
            }
            if i % HANDSHAKE_EVERY == 0 {
                handshakes_refused += run_handshake(&mut rng, &fixture);
            }
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
        "{iterations} inputs (seed {seed}) in {:.1?}: {ok} frames decoded and handled, {bad} rejected; \
         {} mutated sealed streams ({sealed_frames} frames opened), \
         {} mutated handshakes ({handshakes_refused} messages refused); no panic",
        started.elapsed(),
        iterations.div_ceil(SEALED_EVERY),
        iterations.div_ceil(HANDSHAKE_EVERY),
    );
}
