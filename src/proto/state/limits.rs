//! Limits on what a node sends and takes: the size of the frames it makes, the
//! rate of new message ids per connection, and one-shot sends in flight.

use super::*;

/// Sends to original (one-shot) peers: how large, and how many at once.
#[derive(Debug)]
pub(super) struct OneShots {
    /// Largest frame such a peer can read (`one_shot_max_frame`).
    pub(super) max_frame: usize,
    /// Most sends under way at once (`max_one_shot_in_flight`).
    pub(super) max_in_flight: usize,
    /// Sends handed to the executor and not yet reported finished.
    pub(super) in_flight: usize,
}

impl NodeState {
    /// Encodes a frame the application asked for, refusing one larger than
    /// this node sends (`max_frame_len` less `frame_headroom`): a receiver
    /// would close the link over it, so nothing is sent and the caller hears why.
    pub(super) fn app_frame(&self, env: Envelope) -> Result<Frame> {
        let frame = Frame::encode(env)?;
        let (len, max) = (frame.bytes().len(), self.config.max_sent_frame());
        if len > max {
            debug!(len, max, "message too large, not sent");
            return Err(ProtoError::FrameTooLarge { len, max });
        }
        Ok(frame)
    }

    /// Records the key of a frame that came on `src` (`None`: this node's own).
    /// `Err(Refused::Seen)` if its key is in the seen-cache (a duplicate);
    /// `Err(Refused::Other)` if it is an unsigned copy of a signed message
    /// seen, if it is new but `src` has brought more new ids than
    /// `new_id_rate` allows, or if its signature (or its lack of one) is
    /// refused ([`NodeState::check`]): then it is dropped before the
    /// seen-cache, so another copy can still bring it. Else what the checks
    /// found. Only `Arrival::Live` copies are charged against the link's
    /// rate (answers to this node's own requests and pulled ones are not).
    pub(super) fn first_sight(
        &mut self,
        src: Option<ConnId>,
        frame: &Frame,
        arrival: Arrival,
        now: Instant,
        out: &mut Vec<OutEvent>,
    ) -> std::result::Result<Verdict, Refused> {
        let key = SeenKey::of(frame.envelope());
        self.seen.expire(now);
        let seen = self.seen.contains(&key);
        if seen || self.stripped_copy(frame.envelope()) {
            self.metrics.duplicates_dropped += 1;
            trace!(id = ?frame.envelope().id, "duplicate dropped");
            return Err(if seen { Refused::Seen } else { Refused::Other });
        }
        let limit = &self.new_id_limit;
        let conn = src.and_then(|c| self.conns.get_mut(&c));
        if let Some(c) = conn.filter(|_| arrival == Arrival::Live) {
            if !c.new_ids.take(limit, now) {
                self.metrics.ids_rate_limited += 1;
                debug!(remote = ?c.remote(), peer = ?c.peer, id = ?frame.envelope().id, "new message id over the link's rate, dropped");
                return Err(Refused::Other);
            }
        }
        // Verified once per message: only a copy that is not in the cache gets here.
        let verdict = self
            .check(src, frame.envelope(), arrival, now, out)
            .ok_or(Refused::Other)?;
        self.seen.insert(key, now);
        Ok(verdict)
    }

    /// The executor finished (or gave up) one [`OutEvent::SendOneShot`]: room for another.
    pub fn one_shot_finished(&mut self) {
        self.one_shots.in_flight = self.one_shots.in_flight.saturating_sub(1);
    }
}

/// Queues `frame` for `link`, counting it. A one-shot peer gets no frame
/// longer than it reads, and no more than `max_in_flight` sends are under
/// way at once; what is not sent is counted instead.
pub(super) fn push_link(
    metrics: &mut Metrics,
    one_shots: &mut OneShots,
    link: Link,
    frame: Frame,
    out: &mut Vec<OutEvent>,
) {
    match link {
        Link::Conn(conn) => {
            if matches!(frame.body(), Body::Broadcast { .. }) {
                metrics.broadcast_frames_out += 1;
            }
            metrics.frames_out += 1;
            metrics.bytes_out += frame.wire_len() as u64;
            out.push(OutEvent::Send { conn, frame });
        }
        Link::OneShot(addr) => {
            if frame.bytes().len() > one_shots.max_frame {
                metrics.one_shot_oversized += 1;
                debug!(%addr, bytes = frame.bytes().len(), "frame too large for a one-shot peer, not sent");
                return;
            }
            if one_shots.in_flight >= one_shots.max_in_flight {
                metrics.one_shot_dropped += 1;
                debug!(%addr, in_flight = one_shots.in_flight, "too many one-shot sends under way, not sent");
                return;
            }
            one_shots.in_flight += 1;
            if matches!(frame.body(), Body::Broadcast { .. }) {
                metrics.broadcast_frames_out += 1;
            }
            metrics.frames_out += 1;
            metrics.bytes_out += frame.wire_len() as u64;
            out.push(OutEvent::SendOneShot { addr, frame });
        }
    }
}

/// Why [`NodeState::first_sight`] refused a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Its key is in the seen-cache: a duplicate.
    Seen,
    /// Anything else: a stripped copy of a signed message seen, over the
    /// link's rate, or refused by the signature checks (nothing inserted).
    Other,
}
