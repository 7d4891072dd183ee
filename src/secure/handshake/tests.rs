//! Unit tests of the handshake and transport: keys bound, tampering refused, chunking, framing.

use super::*;

fn keys(seed: u8) -> LinkKeys {
    LinkKeys::new(Identity::from_secret([seed; 32]), [seed ^ 0x55; 32])
}

/// A full handshake in memory: each side learns the other's ed25519
/// key, and a sealed message opens on the other side, both ways.
#[test]
fn handshake_binds_keys_and_transports_work() {
    let (a, b) = (keys(1), keys(2));
    let (ta, tb) = handshake_in_memory(&a, &b).unwrap();
    assert_eq!(ta.remote(), b.identity().key());
    assert_eq!(tb.remote(), a.identity().key());
    let (mut seal_a, mut open_a) = ta.split();
    let (mut seal_b, mut open_b) = tb.split();
    for (seal, open) in [(&mut seal_a, &mut open_b), (&mut seal_b, &mut open_a)] {
        let mut wire = BytesMut::new();
        seal.seal(b"{\"msg_type\":\"PING\"}\n", &mut wire).unwrap();
        assert!(!wire.windows(8).any(|w| w == b"msg_type"));
        let msg = take_message(&mut wire, TAG_LEN).unwrap().unwrap();
        let mut plain = BytesMut::new();
        open.open(&msg, &mut plain).unwrap();
        assert_eq!(&plain[..], b"{\"msg_type\":\"PING\"}\n");
    }
}

/// The static key the handshake proves is the one `LinkKeys` computed
/// and signed (snow and curve25519-dalek agree on X25519).
#[test]
fn static_public_matches_noise() {
    let (a, b) = (keys(3), keys(4));
    let (i, msg1) = Initiator::start(&a).unwrap();
    let (_, msg2) = Responder::start(&b, &msg1).unwrap();
    let mut hs = i.hs;
    read(&mut hs, &msg2).unwrap();
    assert_eq!(hs.get_remote_static().unwrap(), b.static_public());
}

/// A payload whose signature covers another static key, a flipped
/// signature bit, a short payload or a non-key are refused.
#[test]
fn identity_payload_checks() {
    let a = keys(5);
    let payload = *a.payload();
    assert_eq!(
        verify_identity_payload(&payload, a.static_public()),
        Ok(a.identity().key())
    );
    assert_eq!(
        verify_identity_payload(&payload, keys(6).static_public()),
        Err(HandshakeError::BadSignature)
    );
    let mut flipped = payload;
    flipped[KEY_LEN + 3] ^= 1;
    assert_eq!(
        verify_identity_payload(&flipped, a.static_public()),
        Err(HandshakeError::BadSignature)
    );
    assert_eq!(
        verify_identity_payload(&payload[..50], a.static_public()),
        Err(HandshakeError::PayloadLength(50))
    );
    let mut longer = payload.to_vec();
    longer.extend_from_slice(b"reserved");
    assert!(verify_identity_payload(&longer, a.static_public()).is_ok());
}

/// An initiator that signs another static key than its own (a relayed
/// or stolen identity payload) fails at the responder.
#[test]
fn forged_initiator_identity_fails() {
    let (a, b, c) = (keys(7), keys(8), keys(9));
    let (i, msg1) = Initiator::start_with_payload(&a, *c.payload()).unwrap();
    let (r, msg2) = Responder::start(&b, &msg1).unwrap();
    let (msg3, _) = i.finish(&msg2).unwrap();
    assert_eq!(r.finish(&msg3).unwrap_err(), HandshakeError::BadSignature);
}

/// A flipped bit anywhere in message 2 or 3 fails the handshake.
#[test]
fn tampered_handshake_messages_fail() {
    let (a, b) = (keys(10), keys(11));
    for at in [0, 40, 100, 191] {
        let (i, msg1) = Initiator::start(&a).unwrap();
        let (_, mut msg2) = Responder::start(&b, &msg1).unwrap();
        msg2[at] ^= 0x80;
        assert!(i.finish(&msg2).is_err(), "bit flipped at {at}");
    }
    let (i, msg1) = Initiator::start(&a).unwrap();
    let (r, msg2) = Responder::start(&b, &msg1).unwrap();
    let (mut msg3, _) = i.finish(&msg2).unwrap();
    msg3[20] ^= 1;
    assert!(r.finish(&msg3).is_err());
}

/// Transport messages: a flipped bit, a cut message, a replay and a
/// reordering each fail to open, and appending nothing.
#[test]
fn tampered_transport_messages_fail() {
    let (ta, tb) = handshake_in_memory(&keys(12), &keys(13)).unwrap();
    let (mut seal, _) = ta.split();
    let (_, mut open) = tb.split();
    let mut wire = BytesMut::new();
    seal.seal(b"first", &mut wire).unwrap();
    seal.seal(b"second", &mut wire).unwrap();
    let first = take_message(&mut wire, TAG_LEN).unwrap().unwrap();
    let second = take_message(&mut wire, TAG_LEN).unwrap().unwrap();
    let mut plain = BytesMut::new();
    let mut flipped = first.clone();
    flipped[2] ^= 4;
    assert!(open.open(&flipped, &mut plain).is_err());
    assert!(open.open(&first[..first.len() - 1], &mut plain).is_err());
    assert!(open.open(&second, &mut plain).is_err(), "out of order");
    assert!(plain.is_empty());
    open.open(&first, &mut plain).unwrap();
    assert!(open.open(&first, &mut plain).is_err(), "replayed");
    open.open(&second, &mut plain).unwrap();
    assert_eq!(&plain[..], b"firstsecond");
}

/// Long plaintext is cut into messages of at most 65,535 bytes with
/// the tag, each with its length; they open back to the same bytes.
#[test]
fn long_plaintext_is_chunked() {
    let (ta, tb) = handshake_in_memory(&keys(14), &keys(15)).unwrap();
    let (mut seal, _) = ta.split();
    let (_, mut open) = tb.split();
    let plain: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let mut wire = BytesMut::new();
    seal.seal(&plain, &mut wire).unwrap();
    let mut back = BytesMut::new();
    let mut messages = 0;
    while let Some(msg) = take_message(&mut wire, TAG_LEN).unwrap() {
        assert!(msg.len() <= super::super::MAX_MESSAGE);
        open.open(&msg, &mut back).unwrap();
        messages += 1;
    }
    assert_eq!(messages, 4);
    assert_eq!(&back[..], &plain[..]);
}

/// The framing: too short a length is an error, a partial message waits.
#[test]
fn take_message_framing() {
    let mut buf = BytesMut::from(&[0u8, 5, 1, 2][..]);
    assert_eq!(take_message(&mut buf, 1), Ok(None));
    buf.extend_from_slice(&[3, 4, 5, 9]);
    assert_eq!(
        &take_message(&mut buf, 1).unwrap().unwrap()[..],
        &[1, 2, 3, 4, 5]
    );
    assert_eq!(&buf[..], &[9]);
    let mut short = BytesMut::from(&[0u8, 3, 1, 2, 3][..]);
    assert_eq!(
        take_message(&mut short, TAG_LEN),
        Err(HandshakeError::Length(3))
    );
    let mut out = Vec::new();
    put_message(b"abc", &mut out);
    assert_eq!(out, [0, 3, b'a', b'b', b'c']);
}
