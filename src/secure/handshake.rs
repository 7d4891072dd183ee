//! The Noise XX handshake and transport as pure functions on values: keys in, messages out, nothing read from a socket or a clock.
//!
//! `Noise_XX_25519_ChaChaPoly_BLAKE2s`, three messages:
//!
//! The prologue is the magic ([`MAGIC`]) the dialler sent first.
//!
//! 1. initiator → responder: `e` (no payload);
//! 2. responder → initiator: `e, ee, s, es` and the responder's identity payload;
//! 3. initiator → responder: `s, se` and the initiator's identity payload.
//!
//! The identity payload is 96 bytes: the ed25519 public key (32), then its
//! signature (64) over [`STATIC_KEY_DOMAIN`] followed by the sender's Noise
//! static public key (the libp2p scheme). Each side checks it against the
//! static key the handshake proved, so the link is bound to the ed25519 key.
//! Bytes after the first 96 are reserved for later versions and ignored.

use std::sync::Arc;

use bytes::{Buf, BufMut, BytesMut};
use curve25519_dalek::montgomery::MontgomeryPoint;
use snow::{Builder, HandshakeState, StatelessTransportState};

use super::{LEN_PREFIX, MAGIC, MAX_CHUNK, NOISE_PARAMS, STATIC_KEY_DOMAIN, TAG_LEN};
use crate::proto::identity::{KEY_LEN, SIG_LEN};
use crate::proto::{Identity, NodeKey, Signature};

/// Bytes of the identity payload: the ed25519 key and its signature.
pub const PAYLOAD_LEN: usize = KEY_LEN + SIG_LEN;

/// Room for the handshake messages this side writes (the longest, message
/// 2, is 192 bytes: 32 + 48 + 96 + 16).
const HANDSHAKE_BUF: usize = 512;

/// Why a handshake (or a transport message) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Noise refused a message: a bad key, a tag that does not verify, a
    /// message out of turn.
    #[error("noise: {0}")]
    Noise(String),
    /// The identity payload is shorter than [`PAYLOAD_LEN`].
    #[error("identity payload of {0} bytes, expected at least {PAYLOAD_LEN}")]
    PayloadLength(usize),
    /// The payload's key is not an ed25519 public key.
    #[error("identity key is not an ed25519 public key")]
    NotAKey,
    /// The payload's signature over the static key does not verify.
    #[error("identity signature over the static key does not verify")]
    BadSignature,
    /// The handshake ended without the peer's static key (cannot happen in XX).
    #[error("no remote static key")]
    NoStaticKey,
    /// A length prefix out of range for what it announces.
    #[error("message length {0} out of range")]
    Length(usize),
}

impl From<snow::Error> for HandshakeError {
    fn from(error: snow::Error) -> Self {
        HandshakeError::Noise(error.to_string())
    }
}

/// A builder for this protocol, with the magic as the Noise prologue: both
/// sides hash it in, so a later magic (version) cannot be swapped in
/// without failing the handshake.
fn builder<'a>() -> Result<Builder<'a>, HandshakeError> {
    let params = NOISE_PARAMS
        .parse()
        .map_err(|e: snow::Error| HandshakeError::Noise(e.to_string()))?;
    Ok(Builder::new(params).prologue(MAGIC)?)
}

/// A node's keys for its links: its ed25519 identity and one X25519 Noise
/// static key pair, with the identity payload signed once.
#[derive(Clone)]
pub struct LinkKeys {
    identity: Identity,
    static_secret: [u8; 32],
    static_public: [u8; 32],
    payload: [u8; PAYLOAD_LEN],
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkKeys")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl LinkKeys {
    /// The link keys of `identity` with the Noise static secret
    /// `static_secret` (32 random bytes the executor drew).
    pub fn new(identity: Identity, static_secret: [u8; 32]) -> LinkKeys {
        let static_public = MontgomeryPoint::mul_base_clamped(static_secret).to_bytes();
        let payload = identity_payload(&identity, &static_public);
        LinkKeys {
            identity,
            static_secret,
            static_public,
            payload,
        }
    }

    /// The node's ed25519 identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The Noise static public key.
    pub fn static_public(&self) -> &[u8; 32] {
        &self.static_public
    }

    /// The identity payload this node sends in its handshake messages.
    pub fn payload(&self) -> &[u8; PAYLOAD_LEN] {
        &self.payload
    }
}

/// The identity payload: `identity`'s key, then its signature over
/// [`STATIC_KEY_DOMAIN`] followed by `static_public`.
pub fn identity_payload(identity: &Identity, static_public: &[u8; 32]) -> [u8; PAYLOAD_LEN] {
    let sig = identity.sign(&signed_bytes(static_public));
    let mut payload = [0u8; PAYLOAD_LEN];
    payload[..KEY_LEN].copy_from_slice(identity.key().as_bytes());
    payload[KEY_LEN..].copy_from_slice(sig.as_bytes());
    payload
}

fn signed_bytes(static_public: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(STATIC_KEY_DOMAIN.len() + static_public.len());
    msg.extend_from_slice(STATIC_KEY_DOMAIN);
    msg.extend_from_slice(static_public);
    msg
}

/// The ed25519 key an identity payload proves for the Noise static key
/// `remote_static`: its signature must verify (strictly) over that key.
pub fn verify_identity_payload(
    payload: &[u8],
    remote_static: &[u8],
) -> Result<NodeKey, HandshakeError> {
    if payload.len() < PAYLOAD_LEN {
        return Err(HandshakeError::PayloadLength(payload.len()));
    }
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&payload[..KEY_LEN]);
    let key = NodeKey::from_bytes(key).map_err(|_| HandshakeError::NotAKey)?;
    let mut sig = [0u8; SIG_LEN];
    sig.copy_from_slice(&payload[KEY_LEN..PAYLOAD_LEN]);
    if !key.verify(&signed_bytes(remote_static), &Signature::from_bytes(sig)) {
        return Err(HandshakeError::BadSignature);
    }
    Ok(key)
}

/// The dialling side of a handshake, between message 1 and message 2.
pub struct Initiator {
    hs: HandshakeState,
    payload: [u8; PAYLOAD_LEN],
}

impl Initiator {
    /// Starts a handshake: returns the initiator and message 1 (without its
    /// length prefix).
    pub fn start(keys: &LinkKeys) -> Result<(Initiator, Vec<u8>), HandshakeError> {
        Self::start_with_payload(keys, *keys.payload())
    }

    /// As [`Initiator::start`], sending `payload` as the identity payload
    /// instead of the right one (for tests of a forged identity).
    pub fn start_with_payload(
        keys: &LinkKeys,
        payload: [u8; PAYLOAD_LEN],
    ) -> Result<(Initiator, Vec<u8>), HandshakeError> {
        let mut hs = builder()?
            .local_private_key(&keys.static_secret)?
            .build_initiator()?;
        let msg1 = write(&mut hs, &[])?;
        Ok((Initiator { hs, payload }, msg1))
    }

    /// Reads message 2, checks the responder's identity, and returns
    /// message 3 and the link's transport.
    pub fn finish(mut self, msg2: &[u8]) -> Result<(Vec<u8>, Transport), HandshakeError> {
        let payload = read(&mut self.hs, msg2)?;
        let remote = remote_identity(&self.hs, &payload)?;
        let msg3 = write(&mut self.hs, &self.payload)?;
        let state = self.hs.into_stateless_transport_mode()?;
        Ok((msg3, Transport::new(state, remote)))
    }
}

/// The accepting side of a handshake, between message 2 and message 3.
pub struct Responder {
    hs: HandshakeState,
}

impl Responder {
    /// Reads message 1 and returns the responder and message 2.
    pub fn start(keys: &LinkKeys, msg1: &[u8]) -> Result<(Responder, Vec<u8>), HandshakeError> {
        let mut hs = builder()?
            .local_private_key(&keys.static_secret)?
            .build_responder()?;
        // XX's first message carries no identity; a payload there is ignored.
        read(&mut hs, msg1)?;
        let msg2 = write(&mut hs, keys.payload())?;
        Ok((Responder { hs }, msg2))
    }

    /// Reads message 3, checks the initiator's identity, and returns the link's transport.
    pub fn finish(mut self, msg3: &[u8]) -> Result<Transport, HandshakeError> {
        let payload = read(&mut self.hs, msg3)?;
        let remote = remote_identity(&self.hs, &payload)?;
        let state = self.hs.into_stateless_transport_mode()?;
        Ok(Transport::new(state, remote))
    }
}

fn write(hs: &mut HandshakeState, payload: &[u8]) -> Result<Vec<u8>, HandshakeError> {
    let mut msg = vec![0u8; HANDSHAKE_BUF];
    let n = hs.write_message(payload, &mut msg)?;
    msg.truncate(n);
    Ok(msg)
}

fn read(hs: &mut HandshakeState, msg: &[u8]) -> Result<Vec<u8>, HandshakeError> {
    let mut payload = vec![0u8; msg.len()];
    let n = hs.read_message(msg, &mut payload)?;
    payload.truncate(n);
    Ok(payload)
}

fn remote_identity(hs: &HandshakeState, payload: &[u8]) -> Result<NodeKey, HandshakeError> {
    let remote_static = hs.get_remote_static().ok_or(HandshakeError::NoStaticKey)?;
    verify_identity_payload(payload, remote_static)
}

/// Runs a whole handshake between `initiator` and `responder` in memory
/// (tests, benchmarks): their two transports, initiator's first.
pub fn handshake_in_memory(
    initiator: &LinkKeys,
    responder: &LinkKeys,
) -> Result<(Transport, Transport), HandshakeError> {
    let (i, msg1) = Initiator::start(initiator)?;
    let (r, msg2) = Responder::start(responder, &msg1)?;
    let (msg3, ti) = i.finish(&msg2)?;
    let tr = r.finish(&msg3)?;
    Ok((ti, tr))
}

/// A finished handshake: the keys of both directions and the peer's
/// proven ed25519 key.
pub struct Transport {
    state: Arc<StatelessTransportState>,
    remote: NodeKey,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Transport {
    fn new(state: StatelessTransportState, remote: NodeKey) -> Transport {
        Transport {
            state: Arc::new(state),
            remote,
        }
    }

    /// The ed25519 key the peer proved.
    pub fn remote(&self) -> NodeKey {
        self.remote
    }

    /// The two directions, each with its own message counter: the write
    /// half and the read half of a connection use one each.
    pub fn split(self) -> (Sealer, Opener) {
        let sealer = Sealer {
            state: self.state.clone(),
            nonce: 0,
        };
        let opener = Opener {
            state: self.state,
            nonce: 0,
        };
        (sealer, opener)
    }
}

/// Seals outgoing bytes into transport messages.
pub struct Sealer {
    state: Arc<StatelessTransportState>,
    nonce: u64,
}

impl Sealer {
    /// Appends `plain` to `out` as transport messages of at most
    /// [`MAX_CHUNK`] plaintext bytes each, each after its 2-byte big-endian length.
    pub fn seal(&mut self, plain: &[u8], out: &mut BytesMut) -> Result<(), HandshakeError> {
        for chunk in plain.chunks(MAX_CHUNK) {
            let len = chunk.len() + TAG_LEN;
            out.reserve(LEN_PREFIX + len);
            // At most MAX_MESSAGE (65,535): fits the prefix.
            out.put_u16(len as u16);
            let start = out.len();
            out.resize(start + len, 0);
            let written = self
                .state
                .write_message(self.nonce, chunk, &mut out[start..]);
            match written {
                Ok(n) => out.truncate(start + n),
                Err(error) => {
                    out.truncate(start - LEN_PREFIX);
                    return Err(error.into());
                }
            }
            self.nonce += 1;
        }
        Ok(())
    }
}

/// Opens incoming transport messages, in order. A clone reads the same
/// stream from the same point (a fuzzer replays one stream many times);
/// a sealer has no clone, since two writers would reuse nonces.
#[derive(Clone)]
pub struct Opener {
    state: Arc<StatelessTransportState>,
    nonce: u64,
}

impl Opener {
    /// Opens one transport message (`msg`, without its length prefix) and
    /// appends its plaintext to `out`. A tag that does not verify (a flipped
    /// bit, a cut, a replayed or reordered message) is an error and appends nothing.
    pub fn open(&mut self, msg: &[u8], out: &mut BytesMut) -> Result<(), HandshakeError> {
        if msg.len() < TAG_LEN {
            return Err(HandshakeError::Length(msg.len()));
        }
        let start = out.len();
        out.resize(start + msg.len() - TAG_LEN, 0);
        match self.state.read_message(self.nonce, msg, &mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                self.nonce += 1;
                Ok(())
            }
            Err(error) => {
                out.truncate(start);
                Err(error.into())
            }
        }
    }
}

/// Appends `msg` to `out` after its 2-byte big-endian length. `msg` must
/// be at most [`super::MAX_MESSAGE`] bytes (every message Noise makes is).
pub fn put_message(msg: &[u8], out: &mut Vec<u8>) {
    let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&msg[..usize::from(len)]);
}

/// Takes the next length-prefixed message out of `buf` once all of it is
/// there (`Ok(None)`: not yet). A length below `min` is an error: nothing
/// that short is a message of the kind expected.
pub fn take_message(buf: &mut BytesMut, min: usize) -> Result<Option<BytesMut>, HandshakeError> {
    if buf.len() < LEN_PREFIX {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
    if len < min {
        return Err(HandshakeError::Length(len));
    }
    if buf.len() < LEN_PREFIX + len {
        buf.reserve(LEN_PREFIX + len - buf.len());
        return Ok(None);
    }
    buf.advance(LEN_PREFIX);
    Ok(Some(buf.split_to(len)))
}

#[cfg(test)]
mod tests;
