//! Property tests of secure links: arbitrary bytes through the decrypting
//! decoder and both sides of the handshake never panic, and no tampered
//! sealed stream yields a frame from a message that was changed.

use std::sync::OnceLock;

use bytes::BytesMut;
use peerchat::codec::CodecError;
use peerchat::proto::Identity;
use peerchat::secure::handshake::{handshake_in_memory, verify_identity_payload};
use peerchat::secure::{Initiator, LinkKeys, Opener, Responder, Sealer, SecureCodec};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

fn keys(seed: u8) -> LinkKeys {
    LinkKeys::new(Identity::from_secret([seed; 32]), [seed ^ 0x3c; 32])
}

const FRAME: &[u8] = br#"{"msg_type":"BROADCAST","msg":"hi","originator":"b","time":1.5}
"#;

/// One handshake for every case (each costs milliseconds in a debug
/// build): three sealed frames, and an opener at the start of their stream.
fn sealed() -> &'static (BytesMut, Opener) {
    static SEALED: OnceLock<(BytesMut, Opener)> = OnceLock::new();
    SEALED.get_or_init(|| {
        let (a, b) = handshake_in_memory(&keys(1), &keys(2)).unwrap();
        let mut sealer: Sealer = a.split().0;
        let mut wire = BytesMut::new();
        for _ in 0..3 {
            sealer.seal(FRAME, &mut wire).unwrap();
        }
        (wire, b.split().1)
    })
}

/// Decodes `input` in chunks of `cut` bytes: frames seen, and whether it ended in an error.
fn decode(opener: Opener, input: &[u8], cut: usize) -> (usize, Option<CodecError>) {
    let mut codec = SecureCodec::new(opener, 256);
    let mut buf = BytesMut::new();
    let mut frames = 0;
    for chunk in input.chunks(cut.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => frames += 1,
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(_)) => frames += 1,
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Arbitrary bytes on a secure link: no panic; no frame, unless by
    /// chance nothing but an end of stream came.
    #[test]
    fn random_bytes_never_decrypt(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cut in 1usize..300) {
        let (frames, _) = decode(sealed().1.clone(), &bytes, cut);
        prop_assert_eq!(frames, 0);
    }

    /// One flipped bit anywhere in a sealed stream of three frames: the
    /// frames of the messages before it come out, nothing from it or after.
    #[test]
    fn flipped_bit_stops_the_stream(at in 0usize..10_000, bit in 0u8..8, cut in 1usize..200) {
        let (wire, opener) = sealed();
        let (mut wire, opener) = (wire.clone(), opener.clone());
        let message = wire.len() / 3;
        let at = at % wire.len();
        wire[at] ^= 1 << bit;
        let (frames, error) = decode(opener, &wire, cut);
        prop_assert_eq!(frames, at / message);
        prop_assert!(matches!(error, Some(CodecError::Decrypt)));
    }

}

proptest! {
    // Each case runs two handshake steps (X25519 in a debug build: slow).
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Arbitrary handshake messages to a responder and an initiator, and
    /// arbitrary identity payloads: refused or accepted, never a panic.
    #[test]
    fn handshake_takes_any_bytes(msg in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Responder::start(&keys(3), &msg);
        let (initiator, _) = Initiator::start(&keys(4)).unwrap();
        prop_assert!(initiator.finish(&msg).is_err());
        let _ = verify_identity_payload(&msg, &[7; 32]);
    }
}
