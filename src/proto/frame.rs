//! A decoded frame: the envelope, its typed body and the exact bytes it came in.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::feed::FeedId;
use super::wire::{Envelope, MessageId, PeerAddr, PeerId};

/// Message type names, as written on the wire.
pub mod types {
    /// Registers the sender; answered with `PONG`; also the keep-alive probe.
    pub const PING: &str = "PING";
    /// Answer to `PING`.
    pub const PONG: &str = "PONG";
    /// Asks for the receiver's peer list.
    pub const ADVERTISE: &str = "ADVERTISE";
    /// One entry of a peer list: `[peer_id, [host, port]]`.
    pub const ADVERTISE_REPLY: &str = "ADVERTISE_REPLY";
    /// Chat text flooded to the whole network.
    pub const BROADCAST: &str = "BROADCAST";
    /// A probe delivered to the application, never forwarded.
    pub const TEST: &str = "TEST";
    /// Chat text for one peer.
    pub const DIRECT: &str = "DIRECT";
    /// Acknowledges a `DIRECT`.
    pub const DIRECT_ACK: &str = "DIRECT_ACK";
    /// Tree (`tree` capability): ids of broadcasts the sender has, `[[id, round], ...]`.
    pub const IHAVE: &str = "IHAVE";
    /// Tree: asks for these broadcasts in full, `[id, ...]`, and makes the link eager.
    pub const GRAFT: &str = "GRAFT";
    /// Tree: makes the link lazy (announcements only).
    pub const PRUNE: &str = "PRUNE";
    /// Catch-up (`seq` capability): the SHA-256 digest of the sender's feeds, 64 hex digits.
    pub const DIGEST: &str = "DIGEST";
    /// Catch-up: feeds and their highest contiguous numbers, `[[author, epoch, seq], ...]`.
    pub const SUMMARY: &str = "SUMMARY";
    /// Catch-up: asks for messages `from..=to` of a feed, `[author, epoch, from, to]`.
    pub const PULL: &str = "PULL";
    /// Catch-up: one numbered `BROADCAST` in answer to a `PULL`, its envelope as `msg`.
    pub const HISTORY: &str = "HISTORY";
}

/// What a frame says, typed by its `msg_type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `PING` with the sender's listen address.
    Ping {
        /// The address.
        addr: PeerAddr,
    },
    /// `PONG` with the sender's listen address.
    Pong {
        /// The address.
        addr: PeerAddr,
    },
    /// `ADVERTISE`: asks for known peers.
    Advertise,
    /// `ADVERTISE_REPLY`: one known peer.
    AdvertiseReply {
        /// The peer.
        peer: PeerId,
        /// The address.
        addr: PeerAddr,
    },
    /// `BROADCAST` chat text.
    Broadcast {
        /// The text.
        text: String,
    },
    /// `TEST` probe text.
    Test {
        /// The text.
        text: String,
    },
    /// `DIRECT` chat text for the peer named in `to`.
    Direct {
        /// The text.
        text: String,
    },
    /// `DIRECT_ACK` naming the acknowledged message.
    DirectAck {
        /// The acknowledged message's id.
        ack: MessageId,
    },
    /// `IHAVE`: announced broadcast ids, each with the announcer's round for it.
    IHave {
        /// The ids, each with the announcer's round for it.
        ids: Vec<(MessageId, u32)>,
    },
    /// `GRAFT`: broadcasts wanted in full (possibly none: only "be eager").
    Graft {
        /// The ids.
        ids: Vec<MessageId>,
    },
    /// `PRUNE`: stop sending broadcasts in full on this link.
    Prune,
    /// `DIGEST`: the digest of the sender's feeds.
    Digest {
        /// The 32 bytes.
        digest: [u8; 32],
    },
    /// `SUMMARY`: feeds and the sender's highest contiguous number of each.
    Summary {
        /// `(feed, highest contiguous seq)` pairs.
        entries: Vec<(FeedId, u64)>,
    },
    /// `PULL`: messages `from..=to` of `feed`, wanted.
    Pull {
        /// The feed.
        feed: FeedId,
        /// First number wanted.
        from: u64,
        /// Last number wanted.
        to: u64,
    },
    /// `HISTORY`: a numbered broadcast sent in answer to a `PULL`.
    History {
        /// The broadcast, as its originator made it.
        frame: Box<Frame>,
    },
    /// Any other type: handed to an application handler.
    Custom,
}

/// Why a frame could not be read. Every one of these is counted and logged;
/// none of them ends the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The line is not a JSON object with the required envelope fields.
    #[error("invalid envelope: {0}")]
    Envelope(String),
    /// `msg_type` or `originator` is empty.
    #[error("empty {0}")]
    Empty(&'static str),
    /// The envelope is fine but `msg` does not fit its `msg_type`.
    #[error("bad {msg_type} payload: {reason}")]
    Payload {
        /// The message type.
        msg_type: &'static str,
        /// Why.
        reason: String,
    },
    /// A field the message type needs is missing (`id` on a `DIRECT`, ...).
    #[error("{msg_type} without {field}")]
    MissingField {
        /// The message type.
        msg_type: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A line longer than `max_frame_len`; the connection is closed.
    #[error("frame longer than {max} bytes")]
    TooLong {
        /// The limit, in bytes.
        max: usize,
    },
    /// Serialising an outgoing envelope failed (only for non-finite numbers).
    #[error("cannot encode envelope: {0}")]
    Encode(String),
}

#[derive(Debug)]
struct Inner {
    envelope: Envelope,
    body: Body,
    bytes: Bytes,
}

/// A frame: parsed once, then shared. Cloning is a reference-count bump, so a
/// forwarded frame reuses the bytes it arrived in and is never re-serialised.
///
/// The per-hop `round` of a tree broadcast is kept beside the shared part,
/// not in it: a relay sets its own with [`Frame::with_round`], and the
/// writer appends it as the object's last member (`,"round":N}`), so the
/// body shared between links (and stored, and later signed) never changes.
#[derive(Debug, Clone)]
pub struct Frame {
    inner: Arc<Inner>,
    round: Option<u32>,
}

/// What a round adds to a frame on the wire besides its digits: `,"round":`.
const ROUND_PREFIX: &[u8] = b",\"round\":";

impl Frame {
    /// Parses one line (without its `\n`) into a frame.
    pub fn decode(bytes: Bytes) -> Result<Frame, FrameError> {
        let mut envelope: Envelope =
            serde_json::from_slice(&bytes).map_err(|e| FrameError::Envelope(e.to_string()))?;
        let body = Body::parse(&envelope)?;
        let round = envelope.round.take();
        let bytes = match round {
            None => bytes,
            Some(round) => match strip_round(&bytes, round) {
                Some(stripped) => stripped,
                // Not written last, or not as peerchat writes it: written again once.
                None => Bytes::from(to_json(&envelope)?),
            },
        };
        Ok(Frame {
            inner: Arc::new(Inner {
                envelope,
                body,
                bytes,
            }),
            round,
        })
    }

    /// Serialises an envelope into a frame (checking it the way a receiver would).
    pub fn encode(mut envelope: Envelope) -> Result<Frame, FrameError> {
        let body = Body::parse(&envelope)?;
        let round = envelope.round.take();
        let bytes = to_json(&envelope)?;
        Ok(Frame {
            inner: Arc::new(Inner {
                envelope,
                body,
                bytes: Bytes::from(bytes),
            }),
            round,
        })
    }

    /// The envelope, without per-hop `round` (see [`Frame::round`]).
    pub fn envelope(&self) -> &Envelope {
        &self.inner.envelope
    }

    /// The typed body.
    pub fn body(&self) -> &Body {
        &self.inner.body
    }

    /// The JSON text shared by every copy of the frame: without the trailing
    /// newline and without the per-hop `round` (which [`Frame::write_to`] adds).
    pub fn bytes(&self) -> &Bytes {
        &self.inner.bytes
    }

    /// The tree round this copy carries, if any.
    pub fn round(&self) -> Option<u32> {
        self.round
    }

    /// The same frame carrying `round`: no copy of the shared part.
    pub fn with_round(&self, round: u32) -> Frame {
        Frame {
            inner: self.inner.clone(),
            round: Some(round),
        }
    }

    /// The same frame without a round.
    pub fn without_round(&self) -> Frame {
        Frame {
            inner: self.inner.clone(),
            round: None,
        }
    }

    /// Writes the frame as it goes on the wire (its round, if any, spliced in
    /// as the last member), followed by `\n`.
    pub fn write_to(&self, dst: &mut impl bytes::BufMut) {
        let bytes = &self.inner.bytes;
        match self.round {
            // A frame always ends in `}` (it is a JSON object, written by serde or checked on decode).
            Some(round) if bytes.last() == Some(&b'}') => {
                dst.put_slice(&bytes[..bytes.len() - 1]);
                dst.put_slice(ROUND_PREFIX);
                dst.put_slice(round.to_string().as_bytes());
                dst.put_slice(b"}\n");
            }
            _ => {
                dst.put_slice(bytes);
                dst.put_u8(b'\n');
            }
        }
    }

    /// Bytes this frame takes on the wire, round and newline included.
    pub fn wire_len(&self) -> usize {
        let round = match self.round {
            Some(r) => ROUND_PREFIX.len() + decimal_len(r),
            None => 0,
        };
        self.inner.bytes.len() + round + 1
    }

    /// True when both frames share one buffer (a forward, not a copy).
    pub fn shares_bytes_with(&self, other: &Frame) -> bool {
        self.inner.bytes.as_ptr() == other.inner.bytes.as_ptr()
    }
}

/// Digits of `n` in decimal.
fn decimal_len(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// The frame without its trailing `,"round":N` when it is written that way
/// (as peerchat writes it); `None` otherwise.
fn strip_round(bytes: &[u8], round: u32) -> Option<Bytes> {
    let mut suffix = ROUND_PREFIX.to_vec();
    suffix.extend_from_slice(round.to_string().as_bytes());
    suffix.push(b'}');
    let keep = bytes.strip_suffix(suffix.as_slice())?;
    let mut body = Vec::with_capacity(keep.len() + 1);
    body.extend_from_slice(keep);
    body.push(b'}');
    Some(Bytes::from(body))
}

impl Body {
    /// Types the payload of an envelope by its `msg_type`.
    pub fn parse(env: &Envelope) -> Result<Body, FrameError> {
        if env.msg_type.is_empty() {
            return Err(FrameError::Empty("msg_type"));
        }
        if env.originator.as_str().is_empty() {
            return Err(FrameError::Empty("originator"));
        }
        Ok(match env.msg_type.as_str() {
            types::PING => Body::Ping {
                addr: addr_payload(types::PING, &env.msg)?,
            },
            types::PONG => Body::Pong {
                addr: addr_payload(types::PONG, &env.msg)?,
            },
            types::ADVERTISE => Body::Advertise,
            types::ADVERTISE_REPLY => {
                let (peer, addr): (PeerId, PeerAddr) =
                    typed(&env.msg).map_err(|e| payload(types::ADVERTISE_REPLY, e))?;
                if peer.as_str().is_empty() {
                    return Err(FrameError::Empty("advertised peer id"));
                }
                Body::AdvertiseReply { peer, addr }
            }
            types::BROADCAST => Body::Broadcast {
                text: text_payload(types::BROADCAST, &env.msg)?,
            },
            types::TEST => Body::Test {
                text: text_payload(types::TEST, &env.msg)?,
            },
            types::DIRECT => {
                require(env.id.is_some(), types::DIRECT, "id")?;
                require(env.to.is_some(), types::DIRECT, "to")?;
                Body::Direct {
                    text: text_payload(types::DIRECT, &env.msg)?,
                }
            }
            types::DIRECT_ACK => {
                require(env.id.is_some(), types::DIRECT_ACK, "id")?;
                require(env.to.is_some(), types::DIRECT_ACK, "to")?;
                let ack = typed(&env.msg).map_err(|e| payload(types::DIRECT_ACK, e))?;
                Body::DirectAck { ack }
            }
            types::IHAVE => Body::IHave {
                ids: typed(&env.msg).map_err(|e| payload(types::IHAVE, e))?,
            },
            types::GRAFT => Body::Graft {
                ids: typed(&env.msg).map_err(|e| payload(types::GRAFT, e))?,
            },
            types::PRUNE => Body::Prune,
            types::DIGEST => Body::Digest {
                digest: digest_payload(&env.msg)?,
            },
            types::SUMMARY => {
                let raw: Vec<(String, u64, u64)> =
                    typed(&env.msg).map_err(|e| payload(types::SUMMARY, e))?;
                let entries = raw
                    .into_iter()
                    .map(|(author, epoch, seq)| {
                        let author = author.into();
                        (FeedId { author, epoch }, seq)
                    })
                    .collect();
                Body::Summary { entries }
            }
            types::PULL => {
                let (author, epoch, from, to): (String, u64, u64, u64) =
                    typed(&env.msg).map_err(|e| payload(types::PULL, e))?;
                Body::Pull {
                    feed: FeedId {
                        author: author.into(),
                        epoch,
                    },
                    from,
                    to,
                }
            }
            types::HISTORY => Body::History {
                frame: Box::new(history_payload(&env.msg)?),
            },
            _ => Body::Custom,
        })
    }

    /// The wire name of this body's type, `None` for an application type.
    pub fn type_name(&self) -> Option<&'static str> {
        Some(match self {
            Body::Ping { .. } => types::PING,
            Body::Pong { .. } => types::PONG,
            Body::Advertise => types::ADVERTISE,
            Body::AdvertiseReply { .. } => types::ADVERTISE_REPLY,
            Body::Broadcast { .. } => types::BROADCAST,
            Body::Test { .. } => types::TEST,
            Body::Direct { .. } => types::DIRECT,
            Body::DirectAck { .. } => types::DIRECT_ACK,
            Body::IHave { .. } => types::IHAVE,
            Body::Graft { .. } => types::GRAFT,
            Body::Prune => types::PRUNE,
            Body::Digest { .. } => types::DIGEST,
            Body::Summary { .. } => types::SUMMARY,
            Body::Pull { .. } => types::PULL,
            Body::History { .. } => types::HISTORY,
            Body::Custom => return None,
        })
    }
}

fn payload(msg_type: &'static str, e: impl ToString) -> FrameError {
    FrameError::Payload {
        msg_type,
        reason: e.to_string(),
    }
}

fn require(present: bool, msg_type: &'static str, field: &'static str) -> Result<(), FrameError> {
    if present {
        Ok(())
    } else {
        Err(FrameError::MissingField { msg_type, field })
    }
}

fn digest_payload(msg: &Value) -> Result<[u8; 32], FrameError> {
    let bad = |why: &str| payload(types::DIGEST, why);
    let Value::String(hex) = msg else {
        return Err(bad("expected 64 hex digits"));
    };
    super::identity::hex_array::<32>(hex).map_err(|_| bad("expected 64 hex digits"))
}

/// The broadcast inside a `HISTORY`: a `BROADCAST` with `id`, `epoch` and
/// `seq`, written again in peerchat's field order (its signed fields unchanged).
fn history_payload(msg: &Value) -> Result<Frame, FrameError> {
    let bad = |why: String| payload(types::HISTORY, why);
    if !msg.is_object() {
        return Err(bad(format!(
            "expected an envelope, found {}",
            json_kind(msg)
        )));
    }
    let env: Envelope = typed(msg).map_err(|e| bad(e.to_string()))?;
    if env.msg_type != types::BROADCAST || env.id.is_none() || env.round.is_some() {
        return Err(bad("expected a BROADCAST with an id and no round".into()));
    }
    if FeedId::of(&env).is_none() {
        return Err(bad("expected a numbered broadcast (epoch, seq)".into()));
    }
    Frame::encode(env)
}

/// Bytes a frame's JSON buffer starts with: most frames fit, so encoding
/// one allocates once instead of growing the buffer step by step.
const ENCODE_CAPACITY: usize = 384;

/// `envelope` as JSON text.
fn to_json(envelope: &Envelope) -> Result<Vec<u8>, FrameError> {
    let mut bytes = Vec::with_capacity(ENCODE_CAPACITY);
    serde_json::to_writer(&mut bytes, envelope).map_err(|e| FrameError::Encode(e.to_string()))?;
    // Kept (stored, queued): give back what the text did not use.
    bytes.shrink_to_fit();
    Ok(bytes)
}

/// `msg` read as `T` in place (no copy of the JSON value is made).
fn typed<T: serde::de::DeserializeOwned>(msg: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(msg)
}

fn addr_payload(msg_type: &'static str, msg: &Value) -> Result<PeerAddr, FrameError> {
    typed(msg).map_err(|e| payload(msg_type, e))
}

fn text_payload(msg_type: &'static str, msg: &Value) -> Result<String, FrameError> {
    match msg {
        Value::String(s) => Ok(s.clone()),
        other => Err(payload(
            msg_type,
            format!("expected text, found {}", json_kind(other)),
        )),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An original peer's frame (ctime text, no id, no v) decodes.
    #[test]
    fn decodes_original_peer_frame() {
        let raw = br#"{"msg_type": "PING", "msg": ["127.0.0.1", 5001], "originator": "py", "time": "Sat Nov 28 04:41:59 2026"}"#;
        let f = Frame::decode(Bytes::from_static(raw)).unwrap();
        assert_eq!(
            f.body(),
            &Body::Ping {
                addr: PeerAddr::new("127.0.0.1", 5001)
            }
        );
        assert_eq!(f.envelope().v, None);
    }

    /// A float `time` is accepted and written back unchanged.
    #[test]
    fn float_time_round_trips() {
        let raw = br#"{"msg_type":"TEST","msg":"hi","originator":"py","time":1764304919.25}"#;
        let f = Frame::decode(Bytes::from_static(raw)).unwrap();
        let again = Frame::encode(f.envelope().clone()).unwrap();
        assert_eq!(again.bytes().as_ref(), raw.as_ref());
    }

    /// Optional fields are omitted when unset and the four originals always written.
    #[test]
    fn encode_writes_required_fields_only() {
        let env = Envelope::new(
            "TEST",
            Value::from("x"),
            PeerId::new("a"),
            super::super::wire::WireTime::Text("t".into()),
        );
        let f = Frame::encode(env).unwrap();
        assert_eq!(
            f.bytes().as_ref(),
            br#"{"msg_type":"TEST","msg":"x","originator":"a","time":"t"}"#.as_ref()
        );
    }

    /// Wrong shapes are errors, not panics.
    #[test]
    fn rejects_bad_payloads() {
        for raw in [
            r#"[1,2]"#,
            r#"{"msg":"","originator":"a","time":"t"}"#,
            r#"{"msg_type":"PING","msg":["h", 70000],"originator":"a","time":"t"}"#,
            r#"{"msg_type":"PING","msg":"h","originator":"a","time":"t"}"#,
            r#"{"msg_type":"TEST","msg":"h","originator":"a","time":{}}"#,
            r#"{"msg_type":"BROADCAST","msg":5,"originator":"a","time":"t"}"#,
            r#"{"msg_type":"TEST","msg":"h","originator":"","time":"t"}"#,
            r#"{"msg_type":"DIRECT","msg":"h","originator":"a","time":"t"}"#,
            r#"{"msg_type":"BROADCAST","msg":"h","originator":"a","time":"t","id":"nope"}"#,
        ] {
            assert!(Frame::decode(Bytes::from(raw)).is_err(), "accepted {raw}");
        }
    }
}
