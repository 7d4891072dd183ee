//! `EventStream`: what a node tells its application, as an async stream, and
//! `Subscriber`, the node's end of it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::mpsc;

use crate::proto::Event;

/// The events of one node, in order, from the moment of subscribing.
///
/// Each subscriber has its own buffer (`NodeConfig::event_buffer`). A
/// subscriber that falls that far behind misses events (the node counts them
/// in `Metrics::events_dropped`) and is told so: [`Event::Lagged`] with how
/// many it missed comes where they were, after the events it did get and
/// before the next ones, at the latest once it has read everything buffered.
/// The stream ends when the node stops.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<Event>,
    /// Events missed and not yet reported, shared with the node's [`Subscriber`].
    missed: Arc<AtomicU64>,
}

/// The node's end of one [`EventStream`].
#[derive(Debug)]
pub struct Subscriber {
    tx: mpsc::Sender<Event>,
    missed: Arc<AtomicU64>,
}

/// What became of an event offered to a [`Subscriber`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// Buffered for the subscriber.
    Sent,
    /// The subscriber's buffer was full: missed, and counted for its `Lagged`.
    Missed,
    /// The subscriber is gone.
    Closed,
}

/// A new subscription with a buffer of `buffer` events (at least 1).
pub fn subscription(buffer: usize) -> (Subscriber, EventStream) {
    let (tx, rx) = mpsc::channel(buffer.max(1));
    let missed = Arc::new(AtomicU64::new(0));
    let sub = Subscriber {
        tx,
        missed: missed.clone(),
    };
    (sub, EventStream { rx, missed })
}

impl Subscriber {
    /// Offers `event`; a gap before it is reported first, as `Lagged`.
    pub fn offer(&self, event: &Event) -> Offered {
        let gap = self.missed.swap(0, Ordering::AcqRel);
        if gap > 0 {
            match self.tx.try_send(Event::Lagged { missed: gap }) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.missed.fetch_add(gap + 1, Ordering::AcqRel);
                    return Offered::Missed;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return Offered::Closed,
            }
        }
        match self.tx.try_send(event.clone()) {
            Ok(()) => Offered::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.missed.fetch_add(1, Ordering::AcqRel);
                Offered::Missed
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Offered::Closed,
        }
    }
}

impl EventStream {
    /// The next event; `None` once the node has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// The next event for which `pick` returns `Some`, skipping others, or
    /// `None` if `timeout` passes (or the node stops) first. Handy in tests.
    pub async fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> Option<T> {
        let search = async {
            while let Some(event) = self.next().await {
                if let Some(found) = pick(&event) {
                    return Some(found);
                }
            }
            None
        };
        tokio::time::timeout(timeout, search).await.ok().flatten()
    }

    /// The next buffered event; once none is left, the events missed after
    /// them (if any) as one `Lagged`.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(Some(event)),
            Poll::Ready(None) => Poll::Ready(self.take_gap()),
            // Everything buffered is read: the subscriber has caught up.
            Poll::Pending => match self.take_gap() {
                None => Poll::Pending,
                lagged => Poll::Ready(lagged),
            },
        }
    }

    /// The events missed and not yet reported, as a `Lagged` (and reported now).
    fn take_gap(&self) -> Option<Event> {
        match self.missed.swap(0, Ordering::AcqRel) {
            0 => None,
            missed => Some(Event::Lagged { missed }),
        }
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.poll_event(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Lagged` is written for scripts (`peerchat run`) as a `lagged` event.
    #[test]
    fn lagged_as_json() {
        let v = serde_json::to_value(Event::Lagged { missed: 3 }).unwrap();
        assert_eq!(v, serde_json::json!({"event": "lagged", "missed": 3}));
    }
}
