//! Running the queue: one instant at a time, its events sorted by node and split over threads, workers' logs replayed in order.

use super::network::Network;
use super::node::{Ev, Slow};
use super::worker::{Buffers, Effect, Tally, Worker};
use crate::proto::{Body, Command, Frame, InEvent};

/// Broadcast frames kept in per-range copies at once (see [`Network::twin`]).
const MAX_TWINNED_FRAMES: usize = 8;

impl Network {
    /// Takes the events of the earliest instant off the queue and handles them.
    pub(super) fn step(&mut self) {
        let Some((at, mut bucket)) = self.queue.pop_bucket() else {
            return;
        };
        self.now = at;
        self.counters.events += bucket.len() as u64;
        self.inflight -= bucket.iter().filter(|e| e.in_flight()).count() as u64;
        // Events of one instant cannot affect each other (whatever they cause
        // happens later), so their order is ours to choose: by node, keeping
        // each node's own events in sequence. A node's arrivals are then handled
        // back to back while its state is in cache, and the nodes can be split
        // into ranges handled on several threads.
        self.order.sort(&mut bucket);
        let parallel = self.workers > 1
            && bucket.len() >= self.parallel_min
            && bucket.iter().all(Ev::is_local);
        if parallel {
            self.step_parallel(&mut bucket);
        } else {
            self.step_serial(&mut bucket);
        }
        self.queue.recycle(bucket);
    }

    pub(super) fn worker_over_all(&mut self) -> Worker<'_> {
        let bufs = self.bufs.pop().unwrap_or_default();
        Worker::new(&mut self.nodes, 0, self.now, bufs)
    }

    fn step_serial(&mut self, bucket: &mut Vec<Ev>) {
        let mut events = bucket.drain(..);
        loop {
            let mut global = None;
            let mut w = self.worker_over_all();
            for ev in events.by_ref() {
                if ev.is_local() {
                    w.handle(ev);
                } else {
                    global = Some(ev);
                    break;
                }
            }
            let (bufs, tally) = (w.bufs, w.tally);
            self.absorb(bufs, tally);
            match global {
                Some(ev) => self.dispatch_global(ev),
                None => return,
            }
        }
    }

    /// Splits the nodes into one range per worker, handles each range's events
    /// on its own thread, then replays the logs in range order.
    fn step_parallel(&mut self, bucket: &mut Vec<Ev>) {
        let chunk = self.nodes.len().div_ceil(self.workers).max(1);
        let mut parts = std::mem::take(&mut self.parts);
        let ranges = self.nodes.len().div_ceil(chunk);
        parts.resize_with(ranges, Vec::new);
        for r in (1..ranges).rev() {
            let from = bucket.partition_point(|e| (e.node() as usize) < r * chunk);
            parts[r].extend(bucket.drain(from..));
        }
        std::mem::swap(&mut parts[0], bucket);
        let mut bufs: Vec<Buffers> = (0..ranges)
            .map(|_| self.bufs.pop().unwrap_or_default())
            .collect();
        let now = self.now;
        let results: Vec<(Buffers, Tally)> = std::thread::scope(|s| {
            let mut jobs = Vec::with_capacity(ranges);
            let work = self
                .nodes
                .chunks_mut(chunk)
                .zip(parts.iter_mut())
                .zip(bufs.drain(..));
            for (r, ((nodes, events), bufs)) in work.enumerate() {
                let base = (r * chunk) as u32;
                jobs.push(s.spawn(move || {
                    let mut w = Worker::new(nodes, base, now, bufs);
                    for ev in events.drain(..) {
                        w.handle(ev);
                    }
                    (w.bufs, w.tally)
                }));
            }
            jobs.into_iter()
                .map(|j| {
                    j.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        std::mem::swap(&mut parts[0], bucket);
        self.parts = parts;
        for (bufs, tally) in results {
            self.absorb(bufs, tally);
        }
    }

    /// Replays a worker's log in order and takes its counts.
    pub(super) fn absorb(&mut self, mut bufs: Buffers, tally: Tally) {
        self.counters.frames_sent += tally.frames_sent;
        self.counters.bytes_sent += tally.bytes_sent;
        self.counters.frames_lost += tally.frames_lost;
        let k = &mut self.counters.kinds;
        k.payload_sent += tally.kinds.payload_sent;
        k.control_sent += tally.kinds.control_sent;
        k.payload_received += tally.kinds.payload_received;
        k.grafts += tally.kinds.grafts;
        k.prunes += tally.kinds.prunes;
        let mut log = std::mem::take(&mut bufs.log);
        for effect in log.drain(..) {
            match effect {
                Effect::Push(
                    at,
                    Ev::Frame {
                        node,
                        conn,
                        hop,
                        frame,
                    },
                ) if self.workers > 1 => {
                    let frame = self.twin(frame, node);
                    self.push(
                        at,
                        Ev::Frame {
                            node,
                            conn,
                            hop,
                            frame,
                        },
                    );
                }
                Effect::Push(at, ev) => self.push(at, ev),
                Effect::Dial(node, addr) => self.dial(node, addr),
                Effect::Delivered { node, id, hop } => {
                    self.tracker.delivered(node, id, self.now, hop)
                }
                Effect::Registered { node, peer } => {
                    match peer {
                        None => self
                            .tracker
                            .violation(format!("n{node} registered an unknown id")),
                        Some(p) if p == node => {
                            self.tracker.violation(format!("n{node} registered itself"))
                        }
                        Some(_) => {}
                    }
                    self.tracker.registered();
                }
                Effect::Dropped { peer, .. } => {
                    self.tracker.graph_changed();
                    let dead = self
                        .nodes
                        .get(peer as usize)
                        .is_some_and(|n| n.state.is_none());
                    if dead {
                        self.tracker.dead_peer_dropped(peer, self.now);
                    }
                }
            }
        }
        bufs.log = log;
        self.bufs.push(bufs);
    }

    /// The copy of a broadcast `frame` that the thread handling `node` uses.
    ///
    /// A flood clones and drops one frame millions of times; with one
    /// reference count shared by threads, its cache line would bounce between
    /// cores on every clone. Each node range gets its own `Frame` over the
    /// same bytes instead: parsed once per range and broadcast, never per hop.
    fn twin(&mut self, frame: Frame, node: u32) -> Frame {
        if !matches!(frame.body(), Body::Broadcast { .. }) {
            return frame;
        }
        let chunk = self.nodes.len().div_ceil(self.workers).max(1);
        let range = node as usize / chunk;
        let key = frame.bytes().as_ptr() as usize;
        if let Some((_, copies)) = self.twins.iter().find(|(k, _)| *k == key) {
            return match copies.get(range) {
                Some(copy) => same_round(copy, &frame),
                None => frame,
            };
        }
        let copies: Vec<Frame> = (0..self.workers)
            .map(|_| Frame::decode(frame.bytes().clone()).unwrap_or_else(|_| frame.clone()))
            .collect();
        let mine = match copies.get(range) {
            Some(copy) => same_round(copy, &frame),
            None => frame,
        };
        if self.twins.len() >= MAX_TWINNED_FRAMES {
            self.twins.remove(0);
        }
        self.twins.push((key, copies));
        mine
    }

    /// Queues `ev` at `at`, counting it as in flight if it is network traffic.
    pub(super) fn push(&mut self, at: u64, ev: Ev) {
        if ev.in_flight() {
            self.inflight += 1;
        }
        self.queue.push(at, ev);
    }

    /// Events that touch more than one node or the network's own state.
    fn dispatch_global(&mut self, ev: Ev) {
        match ev {
            Ev::Accept {
                from,
                inc,
                to,
                latency_us,
            } => self.accept(from, inc, to, latency_us),
            Ev::Other(slow) => match *slow {
                Slow::Command { node, cmd } => {
                    if let Command::Broadcast { id, text } = &cmd {
                        self.start_broadcast(node, *id, text);
                    }
                    self.command(node, cmd);
                }
                Slow::Fault(fault) => self.apply_fault(fault),
                slow => {
                    let mut w = self.worker_over_all();
                    w.handle(Ev::Other(Box::new(slow)));
                    let (bufs, tally) = (w.bufs, w.tally);
                    self.absorb(bufs, tally);
                }
            },
            ev => {
                let mut w = self.worker_over_all();
                w.handle(ev);
                let (bufs, tally) = (w.bufs, w.tally);
                self.absorb(bufs, tally);
            }
        }
    }

    /// Feeds one event to a live node now and carries out what it asks for.
    pub(super) fn deliver(&mut self, node: u32, ev: InEvent, hop: u32) {
        let mut w = self.worker_over_all();
        w.deliver(node, ev, hop);
        let (bufs, tally) = (w.bufs, w.tally);
        self.absorb(bufs, tally);
    }
}

/// `copy` (a twin over the same bytes) carrying the round `frame` carries.
fn same_round(copy: &Frame, frame: &Frame) -> Frame {
    match frame.round() {
        Some(round) => copy.with_round(round),
        None => copy.clone(),
    }
}
