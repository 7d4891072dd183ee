//! Signed messages in the state machine: signing what this node makes, checking what arrives (once per message), pins and trust.

use chrono::DateTime;

use super::*;
use crate::proto::identity::NodeKey;
use crate::proto::seal;
use crate::proto::sign::{self, SigError};
use crate::proto::trust::{Pins, Trust};

/// What the checks found about a message accepted as new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    /// The key whose signature verified; `None` for an unsigned message.
    pub(super) signer: Option<NodeKey>,
    /// How far it comes from the person its name stands for.
    pub(super) trust: Trust,
}

impl Verdict {
    /// What a message this node made itself is.
    pub(super) fn own(signed: bool) -> Verdict {
        Verdict {
            signer: None,
            trust: if signed {
                Trust::Pinned
            } else {
                Trust::Unsigned
            },
        }
    }

    /// The signature verified.
    pub(super) fn verified(&self) -> bool {
        self.signer.is_some()
    }
}

/// The smallest nonce this node writes: every nonce has 20 digits on the
/// wire, so a message's frame length does not depend on the draw (a text
/// that fits `max_frame_len` once always fits). 2^62.9 values remain.
pub(super) const NONCE_MIN: u64 = 10_000_000_000_000_000_000;

/// A nonce from 64 random bits, in `NONCE_MIN..=u64::MAX`.
pub(super) fn wire_nonce(bits: u64) -> u64 {
    NONCE_MIN + bits % (u64::MAX - NONCE_MIN + 1)
}

/// How a copy came, which sets what it is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arrival {
    /// Pushed by a peer: charged against the link's rate of new ids, and
    /// signed ones must be recent by the seen-cache's TTL.
    Live,
    /// The answer to this node's own request (a `GRAFT`, its own `DIRECT`'s
    /// ack): not charged against the link's rate; checked as live.
    Answer,
    /// Pulled by catch-up: not charged, and signed ones are accepted up to
    /// the history's age (the store's feed and number remove duplicates).
    Pulled,
}

impl NodeState {
    /// The key pair this node signs with: its identity, unless signing is
    /// switched off (`NodeConfig::sig.sign`).
    pub(super) fn signer(&self) -> Option<&Identity> {
        self.identity.as_deref().filter(|_| self.config.sig.sign)
    }

    /// Signs `env` when this node signs (setting `nonce`, `key`, the derived
    /// `id` and `sig`); else leaves it as it is. `nonce` is the executor's
    /// randomness (the low bits of the id it drew, or the seeded generator).
    pub(super) fn sign_own(&self, env: &mut Envelope, nonce: u64) -> Result<()> {
        let Some(identity) = self.signer() else {
            return Ok(());
        };
        env.nonce = Some(nonce);
        sign::sign_envelope(identity, env)
            .map(|_| ())
            .map_err(|e| ProtoError::Unsignable(e.to_string()))
    }

    /// The checks between the seen-cache lookup and the insert: a signed
    /// message must verify (id and signature) and be recent by its signed
    /// time; an unsigned one is refused when its name is pinned or the node
    /// requires signatures. `None`: drop it, insert nothing. A bad signature
    /// counts against `src`, and `max_bad_signatures` of them close it.
    pub(super) fn check(
        &mut self,
        src: Option<ConnId>,
        env: &Envelope,
        arrival: Arrival,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) -> Option<Verdict> {
        if env.sig.is_none() && env.key.is_none() {
            if self.config.require_secure || self.pins.get(&env.originator).is_some() {
                self.metrics.unsigned_dropped += 1;
                debug!(from = %env.originator, id = ?env.id, "unsigned message under a pinned name, dropped");
                return None;
            }
            return Some(Verdict {
                signer: None,
                trust: Trust::Unsigned,
            });
        }
        let key = match sign::verify_envelope_with(env, &mut self.keys) {
            Ok(key) => key,
            Err(error) => {
                self.bad_signature(src, env, &error, out);
                return None;
            }
        };
        if !self.recent(&env.time, now, arrival) {
            self.metrics.replays_dropped += 1;
            debug!(from = %env.originator, time = %env.time, "signed message outside the seen-cache window, dropped");
            return None;
        }
        let trust = match self.own_name_trust(&env.originator, key) {
            Some(trust) => trust,
            None => {
                let pinned = self.pins.len();
                let trust = self.pins.judge(&env.originator, key);
                if self.pins.len() != pinned {
                    out.push(OutEvent::PinsChanged);
                }
                trust
            }
        };
        Some(Verdict {
            signer: Some(key),
            trust,
        })
    }

    /// This node's own name is bound to its own key: a message under it
    /// signed by another key (a namesake's) is a `conflict`, and never pins
    /// the name. `None`: another name (or no key here), judged by the pins.
    fn own_name_trust(&self, name: &PeerId, key: NodeKey) -> Option<Trust> {
        let mine = self.identity.as_deref().filter(|_| name == &self.id)?.key();
        Some(if mine == key {
            Trust::Pinned
        } else {
            Trust::Conflict
        })
    }

    /// True when a signed `time` lies within `seen_ttl` (plus the clock
    /// skew) before this node's clock, no more than the skew after it, and
    /// more than the skew after the seen-cache's horizon (the newest signed
    /// id it dropped for room): a copy outside that window may have been
    /// forgotten by the seen-cache, so it could be a replay.
    fn recent(&self, time: &WireTime, now: Instant, arrival: Arrival) -> bool {
        let WireTime::Text(text) = time else {
            return false;
        };
        let Ok(at) = DateTime::parse_from_rfc3339(text) else {
            return false;
        };
        // Differences only, never `time + delay`: a signed time near the
        // end of the calendar must not overflow (a peer chose it).
        let wall =
            self.wall_epoch + chrono::Duration::from_std(now.since_epoch()).unwrap_or_default();
        let delta =
            |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let skew = delta(self.config.sig.clock_skew);
        // A message pulled by catch-up is judged by the history's age,
        // where the store's (feed, seq) removes duplicates; a live one by
        // the seen-cache's TTL.
        let kept = match arrival {
            Arrival::Pulled => self.config.history.age,
            Arrival::Live | Arrival::Answer => self.config.seen_ttl,
        };
        let window = skew
            .checked_add(&delta(kept))
            .unwrap_or(chrono::Duration::MAX);
        let at = at.with_timezone(&Utc);
        // The cache dropped signed ids seen up to the horizon for room: a
        // message from before it (with the skew) may be one of them.
        let flushed = arrival != Arrival::Pulled
            && self.seen.horizon().is_some_and(|h| {
                let h = self.wall_epoch
                    + chrono::Duration::from_std(h.since_epoch()).unwrap_or_default();
                at.signed_duration_since(h) <= skew
            });
        wall.signed_duration_since(at) <= window
            && at.signed_duration_since(wall) <= skew
            && !flushed
    }

    fn bad_signature(
        &mut self,
        src: Option<ConnId>,
        env: &Envelope,
        error: &SigError,
        out: &mut Vec<OutEvent>,
    ) {
        self.metrics.bad_signatures += 1;
        let Some(conn) = src else { return };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.bad_sigs += 1;
        debug!(%conn, peer = ?c.peer, from = %env.originator, id = ?env.id, %error, "message with a bad signature dropped");
        if c.bad_sigs >= self.config.sig.max_bad_signatures {
            self.close(conn, DisconnectReason::BadSignature, out);
        }
    }

    /// An unsigned copy of a message whose signed form this node has seen
    /// (someone stripped its signature): a duplicate, never a second delivery.
    pub(super) fn stripped_copy(&self, env: &Envelope) -> bool {
        env.sig.is_none()
            && env
                .id
                .is_some_and(|id| self.seen.contains(&SeenKey::Signed(id.as_uuid().as_u128())))
    }

    /// Floods `text` ([`Command::Broadcast`]) and returns the id it went out
    /// under: the executor's `id`, or for a signed message the id derived
    /// from its signed bytes (the executor's id then only seeds its nonce).
    pub fn broadcast(
        &mut self,
        id: MessageId,
        text: String,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) -> Result<MessageId> {
        self.ensure_feed();
        if self.feeds_on() {
            return self.broadcast_numbered(id, text, now, out);
        }
        let frame = self.app_frame(self.broadcast_envelope(id, text, now)?)?;
        let id = frame.envelope().id.unwrap_or(id);
        self.seen.insert(SeenKey::of(frame.envelope()), now);
        self.pass_on(&frame, None, None, 0, now, out);
        Ok(id)
    }

    /// The id [`NodeState::broadcast`] would send `text` under at `now`
    /// (an executor that tracks messages by id, like the simulator, asks first).
    pub fn broadcast_id(&mut self, id: MessageId, text: &str, now: Instant) -> MessageId {
        self.ensure_feed();
        self.broadcast_envelope(id, text.to_owned(), now)
            .ok()
            .and_then(|env| env.id)
            .unwrap_or(id)
    }

    /// A broadcast of `text`: numbered in this node's feed when feeds are
    /// on, then signed (the number is among the signed fields).
    pub(super) fn broadcast_envelope(
        &self,
        id: MessageId,
        text: String,
        now: Instant,
    ) -> Result<Envelope> {
        let mut env = self.envelope(types::BROADCAST, Value::String(text), now);
        env.id = Some(id);
        (env.epoch, env.seq) = self.next_number().unzip();
        self.sign_own(&mut env, wire_nonce(id.as_uuid().as_u128() as u64))?;
        Ok(env)
    }

    /// The text to put in a `DIRECT` to `to_key`: sealed to it when this
    /// node signs and knows the key, else the plaintext.
    pub(super) fn seal_for(
        &self,
        to_key: Option<&NodeKey>,
        nonce: u64,
        text: &str,
    ) -> Result<String> {
        match (self.signer(), to_key) {
            (Some(me), Some(to)) => {
                seal::seal(me, to, nonce, text).map_err(|e| ProtoError::Unsignable(e.to_string()))
            }
            _ => Ok(text.to_owned()),
        }
    }

    /// The text of a `DIRECT` for this node: opened if it was sealed to this
    /// node's key by its signer; `None` (dropped, counted) if it cannot be opened.
    pub(super) fn unseal(&mut self, env: &Envelope, text: String) -> Option<String> {
        if !seal::is_sealed(&text) {
            return Some(text);
        }
        let opened = match (self.identity.as_deref(), &env.key, &env.sig) {
            (Some(me), Some(from), Some(_)) => seal::open(me, from, &text).ok(),
            _ => None,
        };
        if opened.is_none() {
            self.metrics.seal_failures += 1;
            debug!(from = %env.originator, id = ?env.id, "sealed direct message that does not open, dropped");
        }
        opened
    }

    /// Fills in the fingerprint of the key pinned for a peer's name.
    pub(super) fn add_fingerprint(&self, info: &mut PeerInfo) {
        info.fingerprint = self.pins.get(&info.id).map(NodeKey::fingerprint);
    }

    /// The pin table (name → key).
    pub fn pins(&self) -> &Pins {
        &self.pins
    }

    /// Replaces the pin table (the executor's, loaded from `DIR/pins`).
    pub fn set_pins(&mut self, pins: Pins) {
        self.pins = pins
            .with_capacity(self.config.sig.max_pins)
            .with_others_per_name(self.config.sig.other_keys_per_name);
    }

    /// Pins `name` to `key` (`/trust`), replacing its pin.
    pub fn pin(&mut self, name: PeerId, key: NodeKey, out: &mut Vec<OutEvent>) {
        if self.pins.set(name, key) {
            out.push(OutEvent::PinsChanged);
        }
    }

    /// Forgets the pin of `name` (`/forget`): its next signed message pins again.
    pub fn forget(&mut self, name: &PeerId, out: &mut Vec<OutEvent>) {
        if self.pins.remove(name) {
            out.push(OutEvent::PinsChanged);
        }
    }
}
