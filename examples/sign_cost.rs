// Run: cargo run --release --example sign_cost
//! What one signature, one verification and one seal + open of a 400-byte direct message cost, in nanoseconds.
//!
//! Each figure is the mean over as many repetitions as fit in a fixed time
//! budget (at least 20), so the whole run takes about two seconds in any
//! build; measure with `--release` (debug builds are many times slower).

use std::hint::black_box;
use std::time::{Duration, Instant};

use peerchat::proto::seal::{open, seal};
use peerchat::proto::sign::{sign_envelope, verify_envelope};
use peerchat::proto::{Envelope, Identity, PeerId, WireTime};

/// Time spent on each measurement.
const BUDGET: Duration = Duration::from_millis(400);
/// Fewest repetitions of each measurement.
const MIN_RUNS: u32 = 20;

/// Runs `f` repeatedly for about [`BUDGET`]; the mean time of one run in ns.
fn measure(mut f: impl FnMut(u64)) -> (f64, u32) {
    let start = Instant::now();
    let mut runs = 0u32;
    while runs < MIN_RUNS || start.elapsed() < BUDGET {
        f(u64::from(runs));
        runs += 1;
    }
    (start.elapsed().as_nanos() as f64 / f64::from(runs), runs)
}

fn main() {
    let alice = Identity::from_secret([1; 32]);
    let bob = Identity::from_secret([2; 32]);
    let text = "x".repeat(400);
    let mut env = Envelope::new(
        "BROADCAST",
        serde_json::json!(text),
        PeerId::new("alice"),
        WireTime::Text("2026-12-02T21:00:00.000Z".into()),
    );
    env.nonce = Some(1);

    let (sign_ns, sign_runs) = measure(|i| {
        let mut e = env.clone();
        e.nonce = Some(i);
        black_box(sign_envelope(&alice, &mut e).ok());
    });
    let mut signed = env.clone();
    sign_envelope(&alice, &mut signed).expect("a broadcast signs");
    let (verify_ns, verify_runs) = measure(|_| {
        black_box(verify_envelope(black_box(&signed)).ok());
    });
    let (seal_ns, seal_runs) = measure(|i| {
        let sealed = seal(&alice, &bob.key(), i, &text).expect("seals");
        black_box(open(&bob, &alice.key(), &sealed).ok());
    });
    assert_eq!(verify_envelope(&signed).ok(), Some(alice.key()));

    println!("operation                          ns/op      runs");
    println!("sign (400-byte broadcast)     {sign_ns:>10.0} {sign_runs:>9}");
    println!("verify (400-byte broadcast)   {verify_ns:>10.0} {verify_runs:>9}");
    println!("seal + open (400-byte DM)     {seal_ns:>10.0} {seal_runs:>9}");
}
