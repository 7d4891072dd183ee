//! A secure link's byte stream: newline-JSON frames sealed in length-prefixed Noise transport messages, read by a decoder and written by an encrypting writer.
//!
//! The frames inside are exactly the plaintext stream (`crate::codec`), so
//! `max_frame_len` applies to them unchanged; the Noise messages around them
//! are a byte stream of their own, cut wherever 65,535 bytes (tag included)
//! end, independent of frame boundaries.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWrite;
use tokio_util::codec::Decoder;

use super::handshake::{take_message, Opener, Sealer};
use super::TAG_LEN;
use crate::codec::{CodecError, FrameCodec};
use crate::proto::{Frame, FrameError};

/// Decodes a secure link's read half: opens each Noise message into a
/// plaintext buffer and splits that into frames with the newline-JSON codec.
///
/// Bounded: at most one Noise message (65,537 bytes) of ciphertext waits
/// for its end, and plaintext is opened one message at a time only while
/// no whole frame is buffered, so it holds at most `max_frame_len` plus one
/// message before the frame codec rejects a line as too long.
pub struct SecureCodec {
    opener: Opener,
    plain: BytesMut,
    frames: FrameCodec,
}

impl SecureCodec {
    /// A decoder opening messages with `opener`, rejecting frames over `max_frame_len`.
    pub fn new(opener: Opener, max_frame_len: usize) -> Self {
        SecureCodec {
            opener,
            plain: BytesMut::new(),
            frames: FrameCodec::new(max_frame_len),
        }
    }

    /// Opens the next whole Noise message of `buf` into the plaintext
    /// buffer; `false` when none is whole yet.
    fn open_next(&mut self, buf: &mut BytesMut) -> Result<bool, CodecError> {
        match take_message(buf, TAG_LEN) {
            Ok(Some(msg)) => {
                self.opener
                    .open(&msg, &mut self.plain)
                    .map_err(|_| CodecError::Decrypt)?;
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(_) => Err(CodecError::Decrypt),
        }
    }
}

impl Decoder for SecureCodec {
    type Item = Result<Frame, FrameError>;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        loop {
            if let Some(frame) = self.frames.decode(&mut self.plain)? {
                return Ok(Some(frame));
            }
            if !self.open_next(buf)? {
                return Ok(None);
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        // A Noise message cut by the end of the stream never authenticates.
        if !buf.is_empty() {
            buf.clear();
            return Err(CodecError::Decrypt);
        }
        self.frames.decode_eof(&mut self.plain)
    }
}

/// Seals what is written to it into Noise transport messages on `inner`.
///
/// `poll_write` accepts at most one message's worth ([`super::MAX_CHUNK`]
/// bytes) at a time and keeps the sealed message until `inner` takes it:
/// it is written out by the next `poll_write`, `poll_flush` or
/// `poll_shutdown`, so a writer that stops writing must flush (the
/// connection's write loop does after every batch).
pub struct NoiseWriter<W> {
    inner: W,
    sealer: Sealer,
    sealed: BytesMut,
}

impl<W> NoiseWriter<W> {
    /// Seals onto `inner` with `sealer`.
    pub fn new(inner: W, sealer: Sealer) -> Self {
        NoiseWriter {
            inner,
            sealer,
            sealed: BytesMut::new(),
        }
    }
}

impl<W: AsyncWrite + Unpin> NoiseWriter<W> {
    /// Writes out what is sealed and not yet taken by `inner`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.sealed.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.sealed))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sealed.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for NoiseWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        let n = buf.len().min(super::MAX_CHUNK);
        this.sealer
            .seal(&buf[..n], &mut this.sealed)
            .map_err(io::Error::other)?;
        // Start sending at once; what the socket does not take now goes
        // with the next write or flush.
        if let Poll::Ready(Err(error)) = this.poll_drain(cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::proto::Identity;
    use crate::secure::handshake::{handshake_in_memory, LinkKeys};

    const PING: &[u8] = br#"{"msg_type":"PING","msg":["127.0.0.1",1],"originator":"a","time":"t"}"#;

    fn pair() -> (Sealer, Opener) {
        let a = LinkKeys::new(Identity::from_secret([1; 32]), [2; 32]);
        let b = LinkKeys::new(Identity::from_secret([3; 32]), [4; 32]);
        let (ta, tb) = handshake_in_memory(&a, &b).unwrap();
        (ta.split().0, tb.split().1)
    }

    /// Frames written through the writer come out of the decoder, whatever
    /// the read sizes; the bytes between them show no plaintext.
    #[tokio::test]
    async fn writer_and_codec_round_trip() {
        let (sealer, opener) = pair();
        let mut wire = Vec::new();
        {
            let mut w = NoiseWriter::new(&mut wire, sealer);
            for _ in 0..3 {
                w.write_all(PING).await.unwrap();
                w.write_all(b"\n").await.unwrap();
            }
            w.flush().await.unwrap();
        }
        assert!(!wire.windows(8).any(|w| w == b"msg_type"));
        let mut codec = SecureCodec::new(opener, 1024);
        let mut buf = BytesMut::new();
        let mut frames = 0;
        for byte in wire {
            buf.extend_from_slice(&[byte]);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                item.unwrap();
                frames += 1;
            }
        }
        assert_eq!(frames, 3);
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
    }

    /// A flipped bit, or a stream cut inside a message, is `Decrypt`.
    #[tokio::test]
    async fn tampering_is_a_decrypt_error() {
        let (sealer, opener) = pair();
        let mut wire = Vec::new();
        let mut w = NoiseWriter::new(&mut wire, sealer);
        w.write_all(PING).await.unwrap();
        w.flush().await.unwrap();
        let mut flipped = BytesMut::from(&wire[..]);
        flipped[10] ^= 1;
        let mut codec = SecureCodec::new(opener, 1024);
        assert!(matches!(
            codec.decode(&mut flipped),
            Err(CodecError::Decrypt)
        ));
        let (sealer, opener) = pair();
        let mut wire = Vec::new();
        let mut w = NoiseWriter::new(&mut wire, sealer);
        w.write_all(PING).await.unwrap();
        w.flush().await.unwrap();
        let mut cut = BytesMut::from(&wire[..wire.len() - 3]);
        let mut codec = SecureCodec::new(opener, 1024);
        assert!(matches!(codec.decode(&mut cut), Ok(None)));
        assert!(matches!(
            codec.decode_eof(&mut cut),
            Err(CodecError::Decrypt)
        ));
    }

    /// A length prefix below the tag's size is refused before any read.
    #[test]
    fn tiny_message_length_is_refused() {
        let (_, opener) = pair();
        let mut codec = SecureCodec::new(opener, 1024);
        let mut buf = BytesMut::from(&[0u8, 4, 1, 2, 3, 4][..]);
        assert!(matches!(codec.decode(&mut buf), Err(CodecError::Decrypt)));
    }

    /// A frame longer than `max_frame_len` inside valid messages is
    /// `TooLong`, as on a plaintext link.
    #[tokio::test]
    async fn frame_limit_holds_inside() {
        let (sealer, opener) = pair();
        let mut wire = Vec::new();
        let mut w = NoiseWriter::new(&mut wire, sealer);
        w.write_all(&[b'x'; 3000]).await.unwrap();
        w.flush().await.unwrap();
        let mut codec = SecureCodec::new(opener, 1024);
        let mut buf = BytesMut::from(&wire[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::TooLong { max: 1024 })
        ));
    }
}
