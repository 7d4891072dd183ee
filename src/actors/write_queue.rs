//! The outbound queue of one connection, bounded in bytes, shared by the
//! PeerActor (which pushes frames straight into it) and the connection's
//! writer, or, on an in-memory link, the reader at the other end.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Encoder;

use crate::codec::{CodecError, FrameCodec};
use crate::proto::{Frame, FrameError};
use crate::transport::{GateState, LinkGate};

/// Most bytes the writer gathers from its queue into one write.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The peer has not read `limit` bytes already queued: it is too slow.
    Full,
    /// The connection's writer is gone.
    Closed,
}

/// The sending side of a connection's queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WriteQueue {
    tx: mpsc::UnboundedSender<Frame>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl WriteQueue {
    /// Queues `frame`, unless that would pass the byte limit.
    pub fn push(&self, frame: Frame) -> Result<(), PushError> {
        let len = frame.wire_len();
        if self.queued.load(Ordering::Relaxed) + len > self.limit {
            return Err(PushError::Full);
        }
        // Counted before it is sent: the reader (on another thread, for an
        // in-memory link) may take it and uncount it at once.
        self.queued.fetch_add(len, Ordering::Relaxed);
        self.tx.send(frame).map_err(|_| {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            PushError::Closed
        })
    }
}

impl WriteQueue {
    /// True when less than half the queue's bound is taken.
    pub fn is_low(&self) -> bool {
        self.queued.load(Ordering::Relaxed) < self.limit / 2
    }

    /// Sets how many unread bytes the queue may hold (the side that sends
    /// decides: the acceptor of an in-memory link applies its own limit).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }
}

/// The writer's side: owned by the connection's write loop.
pub struct WriteQueueReader {
    rx: mpsc::UnboundedReceiver<Frame>,
    queued: Arc<AtomicUsize>,
}

impl WriteQueueReader {
    /// The queue read as frames arriving at the other end of an in-memory
    /// link: each frame taken frees its bytes, and one longer than
    /// `max_frame_len` ends the stream as it would on a socket.
    pub fn into_frames(self, max_frame_len: usize) -> FrameReader {
        FrameReader {
            queue: self,
            max_frame_len,
            failed: false,
            gate: None,
        }
    }
}

impl FrameReader {
    /// Reads through `gate` as its `side`: a closed gate ends the stream, a
    /// silent one loses every frame (see [`MemoryNetwork::partition`](crate::transport::MemoryNetwork::partition)).
    pub fn gated(mut self, (gate, side): (Arc<LinkGate>, usize)) -> FrameReader {
        self.gate = Some((gate, side));
        self
    }
}

/// Frames from an in-memory peer, as the same stream items a socket's
/// `FramedRead` gives, so one `ConnectionActor` handles both.
pub struct FrameReader {
    queue: WriteQueueReader,
    max_frame_len: usize,
    failed: bool,
    /// The in-memory link's gate and this reader's side of it.
    gate: Option<(Arc<LinkGate>, usize)>,
}

impl futures_util::Stream for FrameReader {
    type Item = Result<Result<Frame, FrameError>, CodecError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        if let Some((gate, side)) = &self.gate {
            gate.register(*side, cx.waker());
            match gate.state() {
                GateState::Open => {}
                GateState::Closed => return Poll::Ready(None),
                GateState::Silent => loop {
                    match self.queue.rx.poll_recv(cx) {
                        Poll::Ready(Some(lost)) => {
                            self.queue
                                .queued
                                .fetch_sub(lost.wire_len(), Ordering::Relaxed);
                        }
                        Poll::Ready(None) => return Poll::Ready(None),
                        Poll::Pending => return Poll::Pending,
                    }
                },
            }
        }
        match self.queue.rx.poll_recv(cx) {
            Poll::Ready(Some(frame)) => {
                self.queue
                    .queued
                    .fetch_sub(frame.wire_len(), Ordering::Relaxed);
                if frame.bytes().len() > self.max_frame_len {
                    self.failed = true;
                    let max = self.max_frame_len;
                    return Poll::Ready(Some(Err(CodecError::TooLong { max })));
                }
                Poll::Ready(Some(Ok(Ok(frame))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A new queue holding at most `limit` unwritten bytes.
pub fn write_queue(limit: usize) -> (WriteQueue, WriteQueueReader) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let reader = WriteQueueReader {
        rx,
        queued: queued.clone(),
    };
    (WriteQueue { tx, queued, limit }, reader)
}

/// Writes queued frames, several per write when they pile up. When `close`
/// fires (or every sender is gone) it writes what is still queued, then shuts
/// the stream and returns.
pub async fn write_loop<W: AsyncWrite + Unpin>(
    mut out: W,
    mut queue: WriteQueueReader,
    mut close: oneshot::Receiver<()>,
) -> Result<(), CodecError> {
    let mut codec = FrameCodec::new(usize::MAX);
    let mut buf = BytesMut::new();
    let mut closing = false;
    loop {
        let frame = if closing {
            queue.rx.recv().await
        } else {
            tokio::select! {
                biased;
                frame = queue.rx.recv() => frame,
                _ = &mut close => {
                    // No more frames are accepted; the queued ones still go out.
                    closing = true;
                    queue.rx.close();
                    continue;
                }
            }
        };
        let Some(frame) = frame else { break };
        codec.encode(frame, &mut buf)?;
        while buf.len() < WRITE_BATCH_BYTES {
            match queue.rx.try_recv() {
                Ok(frame) => codec.encode(frame, &mut buf)?,
                Err(_) => break,
            }
        }
        out.write_all(&buf).await?;
        // A secure link's writer keeps the last sealed message until flushed.
        out.flush().await?;
        queue.queued.fetch_sub(buf.len(), Ordering::Relaxed);
        buf.clear();
    }
    out.flush().await?;
    out.shutdown().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use serde_json::Value;

    use super::*;
    use crate::proto::{Envelope, PeerId, WireTime};

    fn frame(text: &str) -> Frame {
        let env = Envelope::new(
            "TEST",
            Value::from(text),
            PeerId::new("a"),
            WireTime::Text("t".into()),
        );
        Frame::encode(env).unwrap()
    }

    /// Over an in-memory link: the bound counts unread bytes, a read frees
    /// them, a frame over the reader's limit ends the stream, and the stream
    /// ends when every sender is gone.
    #[tokio::test]
    async fn memory_link_reader_bounds_and_ends() {
        let small = frame("hi");
        let (queue, reader) = write_queue(small.wire_len() * 2);
        let mut frames = reader.into_frames(small.bytes().len());
        queue.push(small.clone()).unwrap();
        queue.push(small.clone()).unwrap();
        assert_eq!(queue.push(small.clone()), Err(PushError::Full));
        assert!(matches!(frames.next().await, Some(Ok(Ok(_)))));
        queue.push(small.clone()).unwrap();
        assert!(matches!(frames.next().await, Some(Ok(Ok(_)))));
        assert!(matches!(frames.next().await, Some(Ok(Ok(_)))));
        drop(queue);
        assert!(frames.next().await.is_none());

        let (mut queue, reader) = write_queue(1 << 20);
        queue.set_limit(1 << 16);
        let mut frames = reader.into_frames(8);
        queue.push(frame("longer than eight bytes")).unwrap();
        queue.push(small).unwrap();
        assert!(matches!(
            frames.next().await,
            Some(Err(CodecError::TooLong { max: 8 }))
        ));
        assert!(
            frames.next().await.is_none(),
            "nothing after a frame too long"
        );
    }
}
