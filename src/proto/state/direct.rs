//! One-to-one messages: `DIRECT` and `DIRECT_ACK`, routed to a neighbour or flooded with a hop budget.

use std::time::Duration;

use super::*;

/// An ack's id is the acknowledged message's id with these bits flipped: unique
/// per message, the same at every node, and drawn from no RNG.
const ACK_ID_MASK: u128 = 0x5a5a_5a5a_5a5a_5a5a_5a5a_5a5a_5a5a_5a5a;

impl NodeState {
    /// Sends a `DIRECT` of `text` to `to` and waits `direct_timeout` for its ack.
    pub(super) fn send_direct(
        &mut self,
        id: MessageId,
        to: PeerId,
        text: String,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) -> Result<()> {
        let mut env = self.envelope(types::DIRECT, Value::String(text.clone()), now);
        env.id = Some(id);
        env.to = Some(to.clone());
        env.hops = Some(self.config.direct_hops);
        let frame = self.app_frame(env)?;
        if to == self.id {
            self.metrics.deliveries += 1;
            let time = frame.envelope().time.clone();
            out.push(OutEvent::Emit(Event::Direct {
                from: to.clone(),
                text,
                id,
                time,
            }));
            out.push(OutEvent::Emit(Event::Delivered {
                id,
                to,
                round_trip: Duration::ZERO,
            }));
            return Ok(());
        }
        self.seen.insert(SeenKey::of(frame.envelope()), now);
        self.pending_direct.insert(id, (to, now));
        out.push(OutEvent::Schedule {
            delay: self.config.direct_timeout,
            timer: Timer::Direct(id),
        });
        self.route(&frame, None, out);
        Ok(())
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
        if !self.first_sight(src, &frame, false, now) {
            return;
        }
        let env = frame.envelope();
        let (Some(id), Some(to)) = (env.id, env.to.as_ref()) else {
            return;
        };
        if to != &self.id {
            return self.route(&frame, src, out);
        }
        self.metrics.deliveries += 1;
        let from = env.originator.clone();
        out.push(OutEvent::Emit(Event::Direct {
            from: from.clone(),
            text,
            id,
            time: env.time.clone(),
        }));
        let mut ack = self.envelope(types::DIRECT_ACK, serde_json::json!(id), now);
        let ack_id = MessageId::from_u128(id.as_uuid().as_u128() ^ ACK_ID_MASK);
        ack.id = Some(ack_id);
        ack.to = Some(from);
        ack.hops = Some(self.config.direct_hops);
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
        if !self.first_sight(src, &frame, ours, now) {
            return;
        }
        if frame.envelope().to.as_ref() != Some(&self.id) {
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

    /// Passes a `DIRECT`/`DIRECT_ACK` towards its `to`: straight to it when it is
    /// a neighbour; else to every neighbour but the one it came from (and its
    /// originator) with one hop fewer, or nowhere once the hops are spent.
    /// Frames this node made (`src` is `None`) go out with the full budget.
    fn route(&mut self, frame: &Frame, src: Option<ConnId>, out: &mut Vec<OutEvent>) {
        let env = frame.envelope();
        let Some(to) = env.to.as_ref() else { return };
        if let Some(link) = self.peers.get(to).map(|p| p.link()) {
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
