//! Signed messages (`sig` capability): the bytes a signature covers, the id derived from them, signing and verifying.
//!
//! Pure functions. The signed encoding is [`DOMAIN`] followed by ten fields,
//! each written as a 4-byte big-endian length and its bytes (docs/PROTOCOL.md,
//! "Signed messages"): `msg_type`, the originator's `key` (32 bytes),
//! `originator`, `time` (its text), the text (`msg`: a string's UTF-8, any
//! other value's compact JSON), `to`, `to_key` (32 bytes), `nonce`, `epoch`
//! and `seq` (8 bytes each, big-endian). An absent optional field has length
//! 0, which no present value has. Per-hop fields (`hops`, `round`) and unknown
//! fields are not signed. A signed message's `id` is the first 128 bits of
//! SHA-256 over the same bytes, so nobody can give another message its id.

use sha2::{Digest, Sha256};

use super::identity::{Identity, KeyCache, NodeKey, Signature};
use super::wire::{Envelope, MessageId, WireTime};

/// What every signed encoding starts with, so a signature made here can
/// never be taken for one over anything else (a Noise payload, a file).
pub const DOMAIN: &[u8] = b"peerchat-sig-v1\0";

/// Why a frame's signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The frame has no `sig` or no `key`.
    #[error("unsigned")]
    Unsigned,
    /// A signed frame's fields cannot be encoded: a numeric `time`, an empty
    /// `to`, or no `id`.
    #[error("unsignable frame: {0}")]
    Malformed(&'static str),
    /// The `id` is not the one its signed bytes give (a squatted or altered id).
    #[error("id does not match the signed fields")]
    WrongId,
    /// The signature does not verify under `key`.
    #[error("bad signature")]
    BadSignature,
}

/// The signed encoding of `env` under `key` (see the module text).
pub fn signed_bytes(env: &Envelope, key: &NodeKey) -> Result<Vec<u8>, SigError> {
    let WireTime::Text(time) = &env.time else {
        return Err(SigError::Malformed("numeric time"));
    };
    let to = match &env.to {
        Some(to) if to.as_str().is_empty() => return Err(SigError::Malformed("empty to")),
        Some(to) => to.as_str().as_bytes(),
        None => &[],
    };
    let json;
    let text: &[u8] = match &env.msg {
        serde_json::Value::String(s) => s.as_bytes(),
        other => {
            json = other.to_string();
            json.as_bytes()
        }
    };
    let u64_field = |v: Option<u64>| v.map(u64::to_be_bytes);
    let (nonce, epoch, seq) = (
        u64_field(env.nonce),
        u64_field(env.epoch),
        u64_field(env.seq),
    );
    let fields: [&[u8]; 10] = [
        env.msg_type.as_bytes(),
        key.as_bytes(),
        env.originator.as_str().as_bytes(),
        time.as_bytes(),
        text,
        to,
        env.to_key.as_ref().map_or(&[][..], |k| k.as_bytes()),
        nonce.as_ref().map_or(&[][..], |b| b),
        epoch.as_ref().map_or(&[][..], |b| b),
        seq.as_ref().map_or(&[][..], |b| b),
    ];
    let len = DOMAIN.len() + fields.iter().map(|f| 4 + f.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(DOMAIN);
    for field in fields {
        let n = u32::try_from(field.len()).map_err(|_| SigError::Malformed("field too long"))?;
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(field);
    }
    Ok(out)
}

/// The id of a message with these signed bytes: the first 128 bits of their SHA-256.
pub fn derive_id(signed: &[u8]) -> MessageId {
    let digest = Sha256::digest(signed);
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    MessageId::from_u128(u128::from_be_bytes(first))
}

/// Signs `env` as `identity`: sets its `key`, its derived `id` and its `sig`
/// (the caller sets `nonce` first, from the executor's randomness, and every
/// other signed field). Returns the id.
pub fn sign_envelope(identity: &Identity, env: &mut Envelope) -> Result<MessageId, SigError> {
    let key = identity.key();
    let bytes = signed_bytes(env, &key)?;
    let id = derive_id(&bytes);
    env.key = Some(key);
    env.id = Some(id);
    env.sig = Some(identity.sign(&bytes));
    Ok(id)
}

/// Checks a signed frame: its `id` must be the one its signed fields give,
/// and its `sig` must verify under its `key`. Returns the key that signed it.
pub fn verify_envelope(env: &Envelope) -> Result<NodeKey, SigError> {
    check_envelope(env, |key, bytes, sig| key.verify(bytes, sig))
}

/// [`verify_envelope`], verifying through `keys` (decompressed keys kept
/// between messages).
pub fn verify_envelope_with(env: &Envelope, keys: &mut KeyCache) -> Result<NodeKey, SigError> {
    check_envelope(env, |key, bytes, sig| keys.verify(key, bytes, sig))
}

fn check_envelope(
    env: &Envelope,
    verify: impl FnOnce(&NodeKey, &[u8], &Signature) -> bool,
) -> Result<NodeKey, SigError> {
    let (Some(key), Some(sig)) = (env.key, env.sig) else {
        return Err(SigError::Unsigned);
    };
    let Some(id) = env.id else {
        return Err(SigError::Malformed("no id"));
    };
    let bytes = signed_bytes(env, &key)?;
    if derive_id(&bytes) != id {
        return Err(SigError::WrongId);
    }
    if !verify(&key, &bytes, &sig) {
        return Err(SigError::BadSignature);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::identity::to_hex;
    use crate::proto::wire::PeerId;
    use serde_json::json;

    fn alice() -> Identity {
        Identity::from_secret([1; 32])
    }

    fn broadcast() -> Envelope {
        let mut env = Envelope::new(
            "BROADCAST",
            json!("hi"),
            PeerId::new("alice"),
            WireTime::Text("2026-01-01T00:00:00.000Z".into()),
        );
        env.nonce = Some(7);
        env
    }

    /// The encoding byte for byte: domain, then each field as a big-endian
    /// length and its bytes, absent fields as length 0.
    #[test]
    fn encoding_is_exact() {
        let key = alice().key();
        let bytes = signed_bytes(&broadcast(), &key).unwrap();
        let mut want = b"peerchat-sig-v1\0".to_vec();
        for field in [
            &b"BROADCAST"[..],
            key.as_bytes(),
            b"alice",
            b"2026-01-01T00:00:00.000Z",
            b"hi",
            b"",
            b"",
            &7u64.to_be_bytes(),
            b"",
            b"",
        ] {
            want.extend_from_slice(&(field.len() as u32).to_be_bytes());
            want.extend_from_slice(field);
        }
        assert_eq!(bytes, want);
        // A present zero is 8 bytes, an absent field none: they differ.
        let mut zero = broadcast();
        zero.seq = Some(0);
        assert_ne!(signed_bytes(&zero, &key).unwrap(), bytes);
        assert_eq!(signed_bytes(&zero, &key).unwrap().len(), bytes.len() + 8);
    }

    /// Fixed key, fixed fields: fixed id and signature (ed25519 is
    /// deterministic), so other implementations can check theirs.
    #[test]
    fn test_vector() {
        let mut env = broadcast();
        let id = sign_envelope(&alice(), &mut env).unwrap();
        assert_eq!(
            alice().key().to_hex(),
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        );
        let bytes = signed_bytes(&env, &alice().key()).unwrap();
        assert_eq!(
            to_hex(&Sha256::digest(&bytes)),
            "62215bc603fbaffe0b11a8ba4b1681c7a5396dbd35dadfaa38d82dc74096cb4e"
        );
        assert_eq!(id.to_string(), "62215bc6-03fb-affe-0b11-a8ba4b1681c7");
        assert_eq!(env.sig.unwrap().to_hex(), "085f4d9fa77d048f01afe74e55d5ad6de96cf48b86d1323eb93517961884d96a6cd8d49a88a8bdb9faf99de4844db68a44f00cdcf38f08f2d05bd8df75c3850c");
        assert_eq!(verify_envelope(&env), Ok(alice().key()));
    }

    /// Every signed field matters; per-hop and unknown fields do not.
    #[test]
    fn tampering_is_caught() {
        let mut env = broadcast();
        env.to = Some(PeerId::new("bob"));
        env.msg_type = "DIRECT".into();
        sign_envelope(&alice(), &mut env).unwrap();
        assert!(verify_envelope(&env).is_ok());
        let mut hop = env.clone();
        hop.hops = Some(3);
        hop.round = Some(2);
        hop.extra.insert("future".into(), json!(1));
        assert!(verify_envelope(&hop).is_ok());
        type Tamper = fn(&mut Envelope);
        let tampers: [Tamper; 9] = [
            |e| e.msg = json!("hI"),
            |e| e.originator = PeerId::new("mallory"),
            |e| e.to = Some(PeerId::new("carol")),
            |e| e.to = None,
            |e| e.time = WireTime::Text("2026-01-01T00:00:01.000Z".into()),
            |e| e.nonce = Some(8),
            |e| e.epoch = Some(1),
            |e| e.msg_type = "BROADCAST".into(),
            |e| e.to_key = Some(Identity::from_secret([2; 32]).key()),
        ];
        for tamper in tampers {
            let mut bad = env.clone();
            tamper(&mut bad);
            assert_eq!(verify_envelope(&bad), Err(SigError::WrongId), "{bad:?}");
            // With the id made to match, the signature still fails.
            bad.id = Some(derive_id(&signed_bytes(&bad, &bad.key.unwrap()).unwrap()));
            assert_eq!(verify_envelope(&bad), Err(SigError::BadSignature));
        }
    }

    /// Another key signing the same fields gets another id; a key swapped in
    /// fails; an unsigned or unsignable frame is refused with its reason.
    #[test]
    fn refusals() {
        let (mut a, mut m) = (broadcast(), broadcast());
        let id_a = sign_envelope(&alice(), &mut a).unwrap();
        let id_m = sign_envelope(&Identity::from_secret([9; 32]), &mut m).unwrap();
        assert_ne!(id_a, id_m);
        // Mallory keeps Alice's id on his own signed message: refused.
        m.id = Some(id_a);
        assert_eq!(verify_envelope(&m), Err(SigError::WrongId));
        let mut swapped = a.clone();
        swapped.key = m.key;
        assert_eq!(verify_envelope(&swapped), Err(SigError::WrongId));
        let mut flipped = a.clone();
        let mut sig = *a.sig.unwrap().as_bytes();
        sig[0] ^= 1;
        flipped.sig = Some(crate::proto::identity::Signature::from_bytes(sig));
        assert_eq!(verify_envelope(&flipped), Err(SigError::BadSignature));
        assert_eq!(verify_envelope(&broadcast()), Err(SigError::Unsigned));
        let mut numeric = broadcast();
        numeric.time = WireTime::Number(1.into());
        assert!(matches!(
            sign_envelope(&alice(), &mut numeric),
            Err(SigError::Malformed(_))
        ));
        let mut no_id = a.clone();
        no_id.id = None;
        assert!(matches!(
            verify_envelope(&no_id),
            Err(SigError::Malformed(_))
        ));
    }

    /// Two sends of the same text in the same millisecond differ by nonce only,
    /// and get two ids.
    #[test]
    fn nonce_separates_ids() {
        let (mut a, mut b) = (broadcast(), broadcast());
        b.nonce = Some(8);
        assert_ne!(
            sign_envelope(&alice(), &mut a).unwrap(),
            sign_envelope(&alice(), &mut b).unwrap()
        );
    }

    /// A signed frame survives the wire: encoded, decoded, still verifies.
    #[test]
    fn survives_json() {
        let mut env = broadcast();
        sign_envelope(&alice(), &mut env).unwrap();
        let text = serde_json::to_string(&env).unwrap();
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(verify_envelope(&back), Ok(alice().key()));
    }
}
