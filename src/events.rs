//! `EventStream`: what a node tells its application, as an async stream.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::mpsc;

use crate::proto::Event;

/// The events of one node, in order, from the moment of subscribing.
///
/// Each subscriber has its own buffer (`NodeConfig::event_buffer`); a
/// subscriber that falls that far behind misses events, which the node counts
/// in `Metrics::events_dropped`. The stream ends when the node stops.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<Event>,
}

impl EventStream {
    pub(crate) fn new(rx: mpsc::Receiver<Event>) -> Self {
        EventStream { rx }
    }

    /// The next event; `None` once the node has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event for which `pick` returns `Some`, skipping others, or
    /// `None` if `timeout` passes (or the node stops) first. Handy in tests.
    pub async fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> Option<T> {
        let search = async {
            while let Some(event) = self.rx.recv().await {
                if let Some(found) = pick(&event) {
                    return Some(found);
                }
            }
            None
        };
        tokio::time::timeout(timeout, search).await.ok().flatten()
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}
