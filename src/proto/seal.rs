//! Sealed direct messages: a `DIRECT`'s text encrypted end to end to the recipient's key, so relays cannot read it.
//!
//! Pure. The construction (docs/PROTOCOL.md, "Sealed direct messages"):
//!
//! 1. Both ends' X25519 keys come from their ed25519 keys: the public one is
//!    the ed25519 point in Montgomery form, the secret one the ed25519
//!    secret's hashed scalar (`to_scalar_bytes`, clamped as X25519 does).
//! 2. The sender draws a fresh ephemeral X25519 secret `e` per message. It
//!    comes from no RNG: `e = SHA-256(EPH_DOMAIN ‖ sender secret ‖
//!    recipient key ‖ nonce ‖ plaintext)`, where `nonce` is the message's
//!    random 64-bit nonce (deterministic like RFC 6979: unique per message
//!    and unpredictable without the sender's secret).
//! 3. `shared = X25519(e, R)` with `R` the recipient's X25519 public key;
//!    `k = SHA-256(KEY_DOMAIN ‖ E ‖ R ‖ shared)` with `E = X25519(e, 9)`.
//! 4. `c = ChaCha20-Poly1305(k, nonce = 12 zero bytes, aad = sender key ‖
//!    recipient key, plaintext)`: the key is used for one message only, so
//!    a fixed nonce is safe; the aad binds the ciphertext to both keys, so
//!    nobody can sign someone else's ciphertext as their own.
//! 5. The text on the wire: [`PREFIX`] then lower-case hex of `E ‖ c`.
//!
//! Sender authenticity comes from the frame's signature (which covers the
//! sealed text), not from the seal.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use super::identity::{to_hex, Identity, NodeKey};

/// What a sealed text starts with (its version).
pub const PREFIX: &str = "sealed1:";
/// Domain of the ephemeral secret's hash.
const EPH_DOMAIN: &[u8] = b"peerchat-seal-eph-v1\0";
/// Domain of the message key's hash.
const KEY_DOMAIN: &[u8] = b"peerchat-seal-key-v1\0";
/// Bytes of the ephemeral public key.
const EPH_LEN: usize = 32;
/// Bytes of the Poly1305 tag.
const TAG_LEN: usize = 16;

/// Why a sealed text could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not `sealed1:` and hex of at least an ephemeral key and a tag.
    #[error("not a sealed text")]
    Format,
    /// The tag does not verify: not for this key, from another sender, or altered.
    #[error("cannot open: wrong key or altered")]
    Open,
    /// A key that has no X25519 form.
    #[error("not a usable key")]
    Key,
}

/// Bytes written as hex (either case), or `None`.
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let raw = text.as_bytes();
    if !raw.len().is_multiple_of(2) {
        return None;
    }
    raw.chunks_exact(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// True when `text` is a sealed text (it may still fail to open).
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(PREFIX)
}

fn montgomery(key: &NodeKey) -> Result<MontgomeryPoint, SealError> {
    VerifyingKey::from_bytes(key.as_bytes())
        .map(|k| k.to_montgomery())
        .map_err(|_| SealError::Key)
}

fn message_key(eph: &MontgomeryPoint, to: &MontgomeryPoint, shared: &MontgomeryPoint) -> Key {
    let mut h = Sha256::new();
    h.update(KEY_DOMAIN);
    h.update(eph.as_bytes());
    h.update(to.as_bytes());
    h.update(shared.as_bytes());
    h.finalize()
}

fn aad(from: &NodeKey, to: &NodeKey) -> [u8; 64] {
    let mut aad = [0u8; 64];
    aad[..32].copy_from_slice(from.as_bytes());
    aad[32..].copy_from_slice(to.as_bytes());
    aad
}

/// Seals `plain` from `from` to `to`; `nonce` is the message's random nonce.
pub fn seal(from: &Identity, to: &NodeKey, nonce: u64, plain: &str) -> Result<String, SealError> {
    let recipient = montgomery(to)?;
    let mut h = Sha256::new();
    h.update(EPH_DOMAIN);
    h.update(from.secret());
    h.update(to.as_bytes());
    h.update(nonce.to_be_bytes());
    h.update(plain.as_bytes());
    let eph_secret: [u8; 32] = h.finalize().into();
    let eph = MontgomeryPoint::mul_base_clamped(eph_secret);
    let shared = recipient.mul_clamped(eph_secret);
    let cipher = ChaCha20Poly1305::new(&message_key(&eph, &recipient, &shared));
    let aad = aad(&from.key(), to);
    let sealed = cipher
        .encrypt(
            &Nonce::default(),
            Payload {
                msg: plain.as_bytes(),
                aad: &aad,
            },
        )
        .map_err(|_| SealError::Format)?;
    let mut bytes = Vec::with_capacity(EPH_LEN + sealed.len());
    bytes.extend_from_slice(eph.as_bytes());
    bytes.extend_from_slice(&sealed);
    Ok(format!("{PREFIX}{}", to_hex(&bytes)))
}

/// Opens a sealed text sent by `from` to `me`.
pub fn open(me: &Identity, from: &NodeKey, text: &str) -> Result<String, SealError> {
    let hex = text.strip_prefix(PREFIX).ok_or(SealError::Format)?;
    let bytes = hex_decode(hex).ok_or(SealError::Format)?;
    if bytes.len() < EPH_LEN + TAG_LEN {
        return Err(SealError::Format);
    }
    let (eph, sealed) = bytes.split_at(EPH_LEN);
    let mut eph_bytes = [0u8; EPH_LEN];
    eph_bytes.copy_from_slice(eph);
    let eph = MontgomeryPoint(eph_bytes);
    let secret = me.signing_key().to_scalar_bytes();
    let shared = eph.mul_clamped(secret);
    let mine = montgomery(&me.key())?;
    let cipher = ChaCha20Poly1305::new(&message_key(&eph, &mine, &shared));
    let aad = aad(from, &me.key());
    let plain = cipher
        .decrypt(
            &Nonce::default(),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .map_err(|_| SealError::Open)?;
    String::from_utf8(plain).map_err(|_| SealError::Format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Identity {
        Identity::from_secret([n; 32])
    }

    /// The recipient opens what was sealed to it; the text on the wire does
    /// not contain the plaintext; each nonce gives another ciphertext.
    #[test]
    fn seal_and_open() {
        let (alice, bob) = (id(1), id(2));
        let text = "meet at the usual place at nine";
        let sealed = seal(&alice, &bob.key(), 7, text).unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("meet"));
        assert_eq!(sealed.len(), PREFIX.len() + 2 * (32 + text.len() + 16));
        assert_eq!(open(&bob, &alice.key(), &sealed).unwrap(), text);
        assert_ne!(seal(&alice, &bob.key(), 8, text).unwrap(), sealed);
        assert_eq!(seal(&alice, &bob.key(), 7, text).unwrap(), sealed);
    }

    /// A relay, another recipient, a claimed other sender, a flipped bit or
    /// a cut text: none of them opens.
    #[test]
    fn only_the_recipient_opens() {
        let (alice, bob, carol) = (id(1), id(2), id(3));
        let sealed = seal(&alice, &bob.key(), 7, "secret").unwrap();
        assert_eq!(open(&carol, &alice.key(), &sealed), Err(SealError::Open));
        assert_eq!(open(&bob, &carol.key(), &sealed), Err(SealError::Open));
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(open(&bob, &alice.key(), &flipped), Err(SealError::Open));
        assert_eq!(
            open(&bob, &alice.key(), &sealed[..PREFIX.len() + 40]),
            Err(SealError::Format)
        );
        assert_eq!(open(&bob, &alice.key(), "plain"), Err(SealError::Format));
        assert_eq!(
            open(&bob, &alice.key(), "sealed1:zz"),
            Err(SealError::Format)
        );
    }
}
