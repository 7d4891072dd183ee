//! The outbound queue of one connection, bounded in bytes, shared by the
//! PeerActor (which pushes frames straight into it) and the connection's writer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Encoder;

use crate::codec::{CodecError, FrameCodec};
use crate::proto::Frame;

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
        self.tx.send(frame).map_err(|_| PushError::Closed)?;
        self.queued.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

/// The writer's side: owned by the connection's write loop.
pub struct WriteQueueReader {
    rx: mpsc::UnboundedReceiver<Frame>,
    queued: Arc<AtomicUsize>,
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
        queue.queued.fetch_sub(buf.len(), Ordering::Relaxed);
        buf.clear();
    }
    out.flush().await?;
    out.shutdown().await?;
    Ok(())
}
