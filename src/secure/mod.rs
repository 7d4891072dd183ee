//! Encrypted, authenticated links: Noise XX over a byte stream, bound to the node's ed25519 key (docs/PROTOCOL.md, "Secure links").
//!
//! - [`handshake`]: the handshake as pure functions on values (keys in,
//!   messages out), the identity payload, the length-prefixed framing.
//! - [`stream`]: after the handshake, the newline-JSON stream sealed in
//!   Noise transport messages: a decoder for the read half, an encrypting
//!   writer for the write half.
//! - `establish` (crate-private): the socket side, run by the actors with
//!   their timeouts: the acceptor's preamble check and responder, the
//!   dialler's initiator.

pub(crate) mod establish;
pub mod handshake;
pub mod stream;

pub use handshake::{
    HandshakeError, Initiator, LinkKeys, Opener, Responder, Sealer, Transport, PAYLOAD_LEN,
};
pub use stream::{NoiseWriter, SecureCodec};

/// The bytes a secure connection starts with, before the first handshake
/// message. Its first byte, `0xFF`, never starts UTF-8 text, so it cannot
/// be the start of a plaintext (JSON) peer's first frame.
pub const MAGIC: &[u8; 9] = b"\xffPCNOISE1";

/// The Noise protocol name of every secure link.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";

/// Longest Noise message, tag included (the Noise specification's limit).
pub const MAX_MESSAGE: usize = 65_535;

/// Bytes of the authentication tag of every transport message.
pub const TAG_LEN: usize = 16;

/// Most plaintext bytes one transport message carries.
pub const MAX_CHUNK: usize = MAX_MESSAGE - TAG_LEN;

/// Bytes of the big-endian length written before every Noise message.
pub const LEN_PREFIX: usize = 2;

/// What the identity key signs: this prefix, then the 32-byte Noise static
/// public key (the link is bound to the key that signed it).
pub const STATIC_KEY_DOMAIN: &[u8] = b"peerchat-noise-static-key:";

/// The link keys of `identity` with a Noise static key pair drawn from the
/// operating system's random source (one per node run: the static key is
/// not an identity, the ed25519 key that signs it is).
pub fn generate_link_keys(identity: crate::proto::Identity) -> LinkKeys {
    use rand::{rngs::OsRng, TryRngCore};
    let mut secret = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut secret)
        .expect("the operating system's random source failed");
    LinkKeys::new(identity, secret)
}

/// What the first bytes of an accepted connection say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preamble {
    /// Not enough bytes yet to tell.
    NeedMore,
    /// [`MAGIC`]: a secure peer.
    Secure,
    /// Text: a plaintext (legacy) peer, served as before secure links.
    Plain,
    /// Neither: binary that is not the magic (closed, counted).
    Garbage,
}

/// Classifies the first bytes of an accepted connection. `{`, ASCII white
/// space and any other printable ASCII byte start a plaintext stream (a
/// legacy peer, or a line the newline-JSON codec counts as malformed, as
/// before secure links); the magic starts a secure one; a stream that
/// starts like the magic and then differs, or with any other byte
/// (control bytes, bytes ≥ 0x80), is garbage.
pub fn classify_preamble(bytes: &[u8]) -> Preamble {
    let Some(&first) = bytes.first() else {
        return Preamble::NeedMore;
    };
    if first == MAGIC[0] {
        let n = bytes.len().min(MAGIC.len());
        return if bytes[..n] != MAGIC[..n] {
            Preamble::Garbage
        } else if n < MAGIC.len() {
            Preamble::NeedMore
        } else {
            Preamble::Secure
        };
    }
    if first.is_ascii_whitespace() || first.is_ascii_graphic() {
        Preamble::Plain
    } else {
        Preamble::Garbage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON, white space and printable text are plaintext; the magic (even
    /// cut short) is secure; a near-magic or binary byte is garbage.
    #[test]
    fn preambles_are_told_apart() {
        assert_eq!(classify_preamble(b""), Preamble::NeedMore);
        assert_eq!(classify_preamble(b"{\"msg_type\""), Preamble::Plain);
        assert_eq!(classify_preamble(b"\r\n{"), Preamble::Plain);
        assert_eq!(classify_preamble(b" {"), Preamble::Plain);
        assert_eq!(classify_preamble(b"not json"), Preamble::Plain);
        assert_eq!(classify_preamble(&MAGIC[..4]), Preamble::NeedMore);
        assert_eq!(classify_preamble(MAGIC), Preamble::Secure);
        let mut more = MAGIC.to_vec();
        more.extend_from_slice(&[0, 32, 1, 2]);
        assert_eq!(classify_preamble(&more), Preamble::Secure);
        assert_eq!(classify_preamble(b"\xffPCNOISE2"), Preamble::Garbage);
        assert_eq!(classify_preamble(b"\xffX"), Preamble::Garbage);
        assert_eq!(classify_preamble(b"\x00\x01"), Preamble::Garbage);
        assert_eq!(classify_preamble(b"\x80"), Preamble::Garbage);
        assert!(!MAGIC[0].is_ascii_whitespace() && MAGIC[0] != b'{');
    }
}
