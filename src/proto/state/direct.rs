//! One-to-one messages: `DIRECT` and `DIRECT_ACK`, routed to a neighbour or flooded with a hop budget.

use std::time::Duration;

use super::*;
use crate::proto::identity::NodeKey;

/// An ack's id is the acknowledged message's id with these bits flipped: unique
/// per message, the same at every node, and drawn from no RNG.
const ACK_ID_MASK: u128 = 0x5a5a_5a5a_5a5a_5a5a_5a5a_5a5a_5a5a_5a5a;

impl NodeState {
    /// Sends a `DIRECT` of `text` to `to` ([`Command::Direct`]) and waits
    /// `direct_timeout` for its ack. Returns the id it went out under (and
    /// that its [`Event::Delivered`] or [`Event::DeliveryTimeout`] names):
    /// `id`, or for a signed message the id derived from its signed fields
    /// (`id` then seeds its nonce).
    pub fn direct(
        &mut self,
        id: MessageId,
        to: PeerId,
        text: String,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) -> Result<MessageId> {
        let local = id;
        let nonce = super::verify::wire_nonce(id.as_uuid().as_u128() as u64);
        // Addressed to the key pinned for the name, so a namesake does not
        // take it, and sealed to that key, so relays cannot read it.
        let to_key = self.pins.get(&to).copied().filter(|_| to != self.id);
        let wire_text = self.seal_for(to_key.as_ref(), nonce, &text)?;
        let mut env = self.envelope(types::DIRECT, Value::String(wire_text), now);
        env.id = Some(id);
        env.to = Some(to.clone());
        env.hops = Some(self.config.direct_hops);
        env.to_key = to_key;
        self.sign_own(&mut env, nonce)?;
        let frame = self.app_frame(env)?;
        let id = frame.envelope().id.unwrap_or(local);
        if to == self.id {
            self.metrics.deliveries += 1;
            let time = frame.envelope().time.clone();
            let own = Verdict::own(frame.envelope().sig.is_some());
            out.push(OutEvent::Emit(Event::Direct {
                from: to.clone(),
                text,
                id,
                time,
                verified: own.verified(),
                trust: own.trust,
            }));
            out.push(OutEvent::Emit(Event::Delivered {
                id,
                to,
                round_trip: Duration::ZERO,
            }));
            return Ok(id);
        }
        self.seen.insert(SeenKey::of(frame.envelope()), now);
        self.pending_direct.insert(id, (to, now));
        out.push(OutEvent::Schedule {
            delay: self.config.direct_timeout,
            timer: Timer::Direct(id),
        });
        self.route(&frame, None, out);
        Ok(id)
    }

    /// A `DIRECT` arrived: deliver and ack it if it is for this node, else pass it on.
    pub(super) fn on_direct(
        &mut self,
        src: Option<ConnId>,
        frame: Frame,
        text: String,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        let Ok(verdict) = self.first_sight(src, &frame, Arrival::Live, now, out) else {
            return;
        };
        let env = frame.envelope();
        let (Some(id), Some(to)) = (env.id, env.to.as_ref()) else {
            return;
        };
        if !self.addressed_to_me(to, env.to_key.as_ref()) {
            return self.route(&frame, src, out);
        }
        let Some(text) = self.unseal(env, text) else {
            return;
        };
        self.metrics.deliveries += 1;
        let from = env.originator.clone();
        out.push(OutEvent::Emit(Event::Direct {
            from: from.clone(),
            text,
            id,
            time: env.time.clone(),
            verified: verdict.verified(),
            trust: verdict.trust,
        }));
        let mut ack = self.envelope(types::DIRECT_ACK, serde_json::json!(id), now);
        let ack_id = MessageId::from_u128(id.as_uuid().as_u128() ^ ACK_ID_MASK);
        ack.id = Some(ack_id);
        ack.to = Some(from);
        ack.to_key = verdict.signer;
        ack.hops = Some(self.config.direct_hops);
        let nonce = super::verify::wire_nonce(self.next_random());
        if let Err(error) = self.sign_own(&mut ack, nonce) {
            return debug!(%error, "cannot sign direct ack");
        }
        match Frame::encode(ack) {
            Ok(ack) => {
                self.seen.insert(SeenKey::of(ack.envelope()), now);
                self.route(&ack, None, out);
            }
            Err(error) => debug!(%error, "cannot encode direct ack"),
        }
    }

    /// A `DIRECT_ACK` arrived: settle the pending message if it is ours, else pass it on.
    pub(super) fn on_direct_ack(
        &mut self,
        src: Option<ConnId>,
        frame: Frame,
        acked: MessageId,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) {
        // The answer to this node's own request is not charged to the link.
        let ours = frame.envelope().to.as_ref() == Some(&self.id)
            && self.pending_direct.contains_key(&acked);
        let arrival = if ours { Arrival::Answer } else { Arrival::Live };
        if self.first_sight(src, &frame, arrival, now, out).is_err() {
            return;
        }
        let env = frame.envelope();
        let mine = env
            .to
            .as_ref()
            .is_some_and(|to| self.addressed_to_me(to, env.to_key.as_ref()));
        if !mine {
            return self.route(&frame, src, out);
        }
        if let Some((to, sent)) = self.pending_direct.remove(&acked) {
            out.push(OutEvent::Emit(Event::Delivered {
                id: acked,
                to,
                round_trip: now.saturating_since(sent),
            }));
        }
    }

    /// The ack of `id` did not come in time.
    pub(super) fn direct_timed_out(&mut self, id: MessageId, out: &mut Vec<OutEvent>) {
        if let Some((to, _)) = self.pending_direct.remove(&id) {
            debug!(%id, %to, "direct message not acknowledged in time");
            out.push(OutEvent::Emit(Event::DeliveryTimeout { id, to }));
        }
    }

    /// A `DIRECT`/`DIRECT_ACK` naming `to` (and maybe `to_key`) is for this
    /// node: its name, and its key when one is named (another node may use
    /// the same name under another key).
    fn addressed_to_me(&self, to: &PeerId, to_key: Option<&NodeKey>) -> bool {
        to == &self.id
            && to_key.is_none_or(|k| self.identity.as_deref().is_some_and(|i| &i.key() == k))
    }

    /// Passes a `DIRECT`/`DIRECT_ACK` towards its `to`: straight to it when it is
    /// a neighbour (the one under `to_key` when the frame names one, never a
    /// namesake under another key); else to every neighbour but the one it came from (and its
    /// originator) with one hop fewer, or nowhere once the hops are spent.
    /// Frames this node made (`src` is `None`) go out with the full budget.
    fn route(&mut self, frame: &Frame, src: Option<ConnId>, out: &mut Vec<OutEvent>) {
        let env = frame.envelope();
        let Some(to) = env.to.as_ref() else { return };
        let slot = self.peers.matching(to, env.to_key.as_ref());
        if let Some(link) = slot.and_then(|s| self.peers.get(&s)).map(|p| p.link()) {
            match link {
                Link::Conn(conn) if Some(conn) == src => {}
                link => self.send_link(link, frame.clone(), out),
            }
            return;
        }
        let frame = match src {
            None => frame.clone(),
            Some(_) => {
                let hops = env
                    .hops
                    .unwrap_or(self.config.direct_hops)
                    .min(self.config.direct_hops);
                if hops == 0 {
                    debug!(id = ?env.id, %to, "hops spent, direct frame dropped");
                    return;
                }
                let mut fewer = env.clone();
                fewer.hops = Some(hops - 1);
                match Frame::encode(fewer) {
                    Ok(f) => f,
                    Err(error) => return debug!(%error, "cannot re-encode direct frame"),
                }
            }
        };
        self.forward(&frame, src, out);
    }
}
