//! Setting a TCP link up before its ConnectionActor starts: the acceptor's preamble check and Noise responder, the dialler's Noise initiator.
//!
//! Socket reads and writes only; every decision is a pure function
//! ([`super::classify_preamble`], [`super::handshake`]). The callers bound
//! each setup by `handshake_timeout` and read [`Progress`] to tell a stall
//! in the secure handshake from a silent connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tracing::debug;

use super::handshake::{
    put_message, take_message, HandshakeError, Initiator, LinkKeys, Responder, Transport,
};
use super::{classify_preamble, Preamble, MAGIC};
use crate::proto::{DialError, DisconnectReason};

/// Bytes the setup reads at a time (handshake messages are at most a few hundred).
const SETUP_READ: usize = 1024;

/// A link ready for its ConnectionActor.
pub enum Established<S> {
    /// A plaintext (legacy) stream; `read` holds the bytes already read from it.
    Plain {
        /// The stream.
        stream: S,
        /// Bytes read while looking at the preamble: the stream's first bytes.
        read: BytesMut,
    },
    /// A secure stream after its handshake.
    Secure {
        /// The stream.
        stream: S,
        /// The link's keys and the peer's proven key.
        transport: Transport,
        /// Ciphertext read past the handshake.
        read: BytesMut,
    },
}

/// A read half that first yields the bytes read while its link was set
/// up, then reads on; the buffer is freed once it is used up (an idle link
/// keeps no setup buffer).
pub struct Prefixed<R> {
    prefix: Option<BytesMut>,
    inner: R,
}

impl<R> Prefixed<R> {
    /// `inner`, read after `prefix`.
    pub fn new(prefix: BytesMut, inner: R) -> Self {
        let prefix = (!prefix.is_empty()).then_some(prefix);
        Prefixed { prefix, inner }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Prefixed<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(prefix) = &mut self.prefix {
            let n = prefix.len().min(buf.remaining());
            buf.put_slice(&prefix[..n]);
            prefix.advance(n);
            if prefix.is_empty() {
                self.prefix = None;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// How far a setup got, for when it is cut off by a timeout.
#[derive(Debug, Default, Clone, Copy)]
pub struct Progress {
    /// The acceptor saw the magic: a stall from here is a failed handshake.
    pub secure: bool,
    /// The dialled peer sent something: from here a stall is a failed handshake.
    pub answered: bool,
}

/// Why a setup step failed (logged; the caller only sees the reason).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("stream ended")]
    Closed,
    #[error("{0}")]
    Handshake(#[from] HandshakeError),
}

async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<(), Failure> {
    buf.reserve(SETUP_READ);
    match stream.read_buf(buf).await? {
        0 => Err(Failure::Closed),
        _ => Ok(()),
    }
}

/// Reads the next length-prefixed handshake message.
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<BytesMut, Failure> {
    loop {
        if let Some(msg) = take_message(buf, 1)? {
            return Ok(msg);
        }
        read_more(stream, buf).await?;
    }
}

/// Writes `prefix`, then `msg` after its length, in one write.
async fn write_message<S: AsyncWrite + Unpin>(
    stream: &mut S,
    prefix: &[u8],
    msg: &[u8],
) -> Result<(), Failure> {
    let mut bytes = prefix.to_vec();
    put_message(msg, &mut bytes);
    stream.write_all(&bytes).await?;
    Ok(())
}

/// Sets up an accepted stream: the magic makes it a Noise responder;
/// text makes it plaintext (refused with `InsecureRefused` when
/// `require_secure`); anything else, a handshake that fails or a stream
/// that ends first closes it.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    keys: &LinkKeys,
    require_secure: bool,
    progress: &mut Progress,
) -> Result<Established<S>, DisconnectReason> {
    let mut buf = BytesMut::new();
    loop {
        match classify_preamble(&buf) {
            Preamble::NeedMore => {
                if let Err(error) = read_more(&mut stream, &mut buf).await {
                    debug!(%error, "connection ended before its first bytes");
                    return Err(DisconnectReason::Closed);
                }
            }
            Preamble::Plain if require_secure => {
                debug!("plaintext connection refused (require_secure)");
                return Err(DisconnectReason::InsecureRefused);
            }
            Preamble::Plain => return Ok(Established::Plain { stream, read: buf }),
            Preamble::Garbage => {
                debug!(first = buf[0], "neither text nor the secure magic, closed");
                return Err(DisconnectReason::HandshakeFailed);
            }
            Preamble::Secure => break,
        }
    }
    progress.secure = true;
    buf.advance(MAGIC.len());
    respond(&mut stream, keys, &mut buf)
        .await
        .map(|transport| Established::Secure {
            stream,
            transport,
            read: buf,
        })
        .map_err(|error| {
            debug!(%error, "secure handshake failed (responder)");
            DisconnectReason::HandshakeFailed
        })
}

async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    keys: &LinkKeys,
    buf: &mut BytesMut,
) -> Result<Transport, Failure> {
    let msg1 = read_message(stream, buf).await?;
    let (responder, msg2) = Responder::start(keys, &msg1)?;
    write_message(stream, &[], &msg2).await?;
    let msg3 = read_message(stream, buf).await?;
    Ok(responder.finish(&msg3)?)
}

/// Sets up a dialled stream as a Noise initiator. A peer that closes,
/// resets or answers in plaintext before sending anything else is
/// [`DialError::Insecure`] (a legacy peer: the caller may dial again in
/// plaintext); one that fails the handshake after answering is
/// [`DialError::HandshakeFailed`].
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    keys: &LinkKeys,
    progress: &mut Progress,
) -> Result<Established<S>, DialError> {
    let (initiator, msg1) = Initiator::start(keys).map_err(|error| {
        debug!(%error, "cannot start a handshake");
        DialError::HandshakeFailed
    })?;
    let mut buf = BytesMut::new();
    let first = async {
        write_message(&mut stream, MAGIC, &msg1).await?;
        read_more(&mut stream, &mut buf).await
    };
    if let Err(error) = first.await {
        debug!(%error, "no secure answer");
        return Err(DialError::Insecure);
    }
    progress.answered = true;
    if buf[0] == b'{' || buf[0].is_ascii_whitespace() {
        debug!("answered in plaintext");
        return Err(DialError::Insecure);
    }
    let rest = async {
        let msg2 = read_message(&mut stream, &mut buf).await?;
        let (msg3, transport) = initiator.finish(&msg2)?;
        write_message(&mut stream, &[], &msg3).await?;
        Ok::<_, Failure>(transport)
    };
    match rest.await {
        Ok(transport) => Ok(Established::Secure {
            stream,
            transport,
            read: buf,
        }),
        Err(error) => {
            debug!(%error, "secure handshake failed (initiator)");
            Err(DialError::HandshakeFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Identity;

    fn keys(seed: u8) -> LinkKeys {
        LinkKeys::new(Identity::from_secret([seed; 32]), [seed ^ 1; 32])
    }

    /// A dial and an accept over an in-process pipe: both end secure, each
    /// with the other's key.
    #[tokio::test]
    async fn dial_meets_accept() {
        let (a, b) = tokio::io::duplex(4096);
        let (ka, kb) = (keys(1), keys(2));
        let (mut pa, mut pb) = (Progress::default(), Progress::default());
        let (dialled, accepted) =
            tokio::join!(dial(a, &ka, &mut pa), accept(b, &kb, false, &mut pb));
        let Ok(Established::Secure { transport: ta, .. }) = dialled else {
            panic!("dial did not end secure");
        };
        let Ok(Established::Secure { transport: tb, .. }) = accepted else {
            panic!("accept did not end secure");
        };
        assert_eq!(ta.remote(), kb.identity().key());
        assert_eq!(tb.remote(), ka.identity().key());
        assert!(pa.answered && pb.secure);
    }

    /// Text is plaintext (its bytes kept for the codec) unless secure links
    /// are required; a binary first byte is refused.
    #[tokio::test]
    async fn accept_sorts_preambles() {
        let k = keys(3);
        for (input, require, want) in [
            (&b"{\"msg_type\""[..], false, None),
            (b"{", true, Some(DisconnectReason::InsecureRefused)),
            (b"\x01\x02", false, Some(DisconnectReason::HandshakeFailed)),
            (b"\xffPCX", false, Some(DisconnectReason::HandshakeFailed)),
        ] {
            let (mut a, b) = tokio::io::duplex(4096);
            a.write_all(input).await.unwrap();
            let got = accept(b, &k, require, &mut Progress::default()).await;
            match (got, want) {
                (Ok(Established::Plain { read, .. }), None) => assert_eq!(&read[..], input),
                (Err(reason), Some(want)) => assert_eq!(reason, want),
                _ => panic!("unexpected outcome for {input:?}"),
            }
        }
    }

    /// A dialled peer that answers in plaintext, or closes, gave no secure
    /// answer; one that answers with binary junk failed the handshake.
    #[tokio::test]
    async fn dial_tells_legacy_from_failure() {
        let k = keys(4);
        for (answer, want) in [
            (Some(&b"{\"msg_type\":\"PONG\"}\n"[..]), DialError::Insecure),
            (None, DialError::Insecure),
            (Some(b"\x00\x05junk!"), DialError::HandshakeFailed),
        ] {
            let (a, mut b) = tokio::io::duplex(4096);
            let peer = async move {
                let mut sink = [0u8; 64];
                let _ = b.read(&mut sink).await;
                if let Some(answer) = answer {
                    b.write_all(answer).await.unwrap();
                }
            };
            let mut progress = Progress::default();
            let (got, ()) = tokio::join!(dial(a, &k, &mut progress), peer);
            assert_eq!(got.err(), Some(want));
        }
    }

    /// The set-up bytes come first, then the stream.
    #[tokio::test]
    async fn prefixed_reads_prefix_then_stream() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(b" world").await.unwrap();
        drop(a);
        let mut r = Prefixed::new(BytesMut::from(&b"hello"[..]), b);
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"hello world");
    }
}
