// Run: cargo run --release --example link_cost -- [ITERATIONS]
//! The cost of a secure link per frame: one seal and one open of a 400-byte
//! frame on a Noise transport (ChaCha20-Poly1305, as every secure link
//! uses), and one whole handshake, in nanoseconds per operation. Prints one
//! line per figure; issue 13 pairs them with the cluster's CPU per delivery.

use std::time::Instant;

use bytes::BytesMut;
use peerchat::proto::Identity;
use peerchat::secure::handshake::{handshake_in_memory, take_message};
use peerchat::secure::{LinkKeys, TAG_LEN};

/// The frame size measured: a chat broadcast of a few hundred bytes of text.
const FRAME_LEN: usize = 400;

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            2_000
        } else {
            200_000
        });
    let a = LinkKeys::new(Identity::from_secret([1; 32]), [2; 32]);
    let b = LinkKeys::new(Identity::from_secret([3; 32]), [4; 32]);
    let (ta, tb) = handshake_in_memory(&a, &b).expect("handshake");
    let (mut sealer, _) = ta.split();
    let (_, mut opener) = tb.split();

    let mut frame = br#"{"msg_type":"BROADCAST","msg":""#.to_vec();
    frame.resize(FRAME_LEN - 3, b'x');
    frame.extend_from_slice(b"\"}\n");
    let mut wire = BytesMut::with_capacity(FRAME_LEN + 64);
    let mut plain = BytesMut::with_capacity(FRAME_LEN);
    let started = Instant::now();
    for _ in 0..iterations {
        wire.clear();
        plain.clear();
        sealer.seal(&frame, &mut wire).expect("sealed");
        let msg = take_message(&mut wire, TAG_LEN)
            .expect("framed")
            .expect("whole");
        opener.open(&msg, &mut plain).expect("opened");
    }
    let per_frame = started.elapsed().as_nanos() / u128::from(iterations);
    assert_eq!(&plain[..], &frame[..]);
    println!("seal+open of a {FRAME_LEN}-byte frame: {per_frame} ns ({iterations} iterations)");

    let handshakes = (iterations / 1_000).max(10);
    let started = Instant::now();
    for _ in 0..handshakes {
        handshake_in_memory(&a, &b).expect("handshake");
    }
    let per_handshake = started.elapsed().as_nanos() / u128::from(handshakes);
    println!("whole handshake, both sides: {per_handshake} ns ({handshakes} handshakes)");
}
