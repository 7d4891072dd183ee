//! Newline-delimited JSON framing (PROTOCOL.md, Transport and framing) for `tokio_util::codec`.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::proto::{Frame, FrameError};

/// Splits a byte stream into frames and writes frames as lines.
///
/// A line that is not a valid frame is yielded as `Ok(Err(FrameError))`, so
/// the connection goes on; only a line over `max_frame_len` or an I/O error
/// ends the stream. The length is checked before more is buffered: a reader
/// never holds more than `max_frame_len` + one read of a line it will reject.
/// Free bytes the read buffer keeps for the next read (a chat frame is a few
/// hundred bytes). Bounded, so the frame-length limit still holds.
pub const READ_MIN_SPARE: usize = 1024;

#[derive(Debug, Clone)]
/// The newline-JSON codec of one connection: frames in, frames out.
pub struct FrameCodec {
    max_frame_len: usize,
    /// How far the current buffer has been searched for `\n`.
    scanned: usize,
}

/// Why a stream of frames ended.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A line longer than the limit (the connection is closed).
    #[error("frame longer than {max} bytes")]
    TooLong {
        /// The limit, in bytes.
        max: usize,
    },
    /// A secure link's Noise message did not open: a tag that does not
    /// verify, a length too short for one, or a stream cut inside one.
    #[error("noise message does not decrypt")]
    Decrypt,
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl FrameCodec {
    /// A codec that rejects lines longer than `max_frame_len` bytes.
    pub fn new(max_frame_len: usize) -> Self {
        FrameCodec {
            max_frame_len,
            scanned: 0,
        }
    }

    /// Takes the next non-blank line out of `buf`, if a whole one is there.
    fn next_line(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
        loop {
            let newline = memchr::memchr(b'\n', &buf[self.scanned..]);
            let Some(offset) = newline else {
                self.scanned = buf.len();
                if buf.len() > self.max_frame_len {
                    return Err(CodecError::TooLong {
                        max: self.max_frame_len,
                    });
                }
                // Room for a whole typical frame in the next read: a frame
                // split over the end of the buffer costs a second read call.
                if buf.capacity() - buf.len() < READ_MIN_SPARE {
                    buf.reserve(READ_MIN_SPARE);
                }
                return Ok(None);
            };
            let end = self.scanned + offset;
            self.scanned = 0;
            if end > self.max_frame_len {
                return Err(CodecError::TooLong {
                    max: self.max_frame_len,
                });
            }
            let line = buf.split_to(end);
            buf.advance(1);
            if !is_blank(&line) {
                return Ok(Some(line));
            }
        }
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

fn parse(line: BytesMut) -> Result<Frame, FrameError> {
    let mut line = line;
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    Frame::decode(line.freeze())
}

impl Decoder for FrameCodec {
    type Item = Result<Frame, FrameError>;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        Ok(self.next_line(buf)?.map(parse))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        // Original peers send one object without a newline and close.
        self.scanned = 0;
        if buf.is_empty() {
            return Ok(None);
        }
        let rest = buf.split();
        if is_blank(&rest) {
            return Ok(None);
        }
        Ok(Some(parse(rest)))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.reserve(frame.wire_len());
        frame.write_to(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    fn decode_all(codec: &mut FrameCodec, input: &[u8]) -> Vec<Result<Frame, FrameError>> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item);
        }
        while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
            out.push(item);
        }
        out
    }

    const PING: &[u8] = br#"{"msg_type":"PING","msg":["127.0.0.1",1],"originator":"a","time":"t"}"#;

    /// Lines are split on newline, blank lines are skipped, CRLF is accepted.
    #[test]
    fn splits_lines_and_skips_blanks() {
        let mut input = Vec::new();
        input.extend_from_slice(PING);
        input.extend_from_slice(b"\n\n  \r\n");
        input.extend_from_slice(PING);
        input.extend_from_slice(b"\r\n");
        let frames = decode_all(&mut FrameCodec::new(1024), &input);
        assert_eq!(frames.len(), 2);
        assert!(frames.iter().all(|f| f.is_ok()));
    }

    /// The last frame without a newline is read at end of stream.
    #[test]
    fn last_unterminated_frame_is_read_at_eof() {
        let frames = decode_all(&mut FrameCodec::new(1024), PING);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].is_ok());
    }

    /// A bad line is an item, and the next line still decodes.
    #[test]
    fn malformed_line_is_a_value() {
        let mut input = b"not json\n".to_vec();
        input.extend_from_slice(PING);
        input.push(b'\n');
        let frames = decode_all(&mut FrameCodec::new(1024), &input);
        assert!(frames[0].is_err());
        assert!(frames[1].is_ok());
    }

    /// A line over the limit is an error as soon as the limit is passed, without its newline.
    #[test]
    fn too_long_is_rejected_before_newline() {
        let mut codec = FrameCodec::new(16);
        let mut buf = BytesMut::from(&[b'x'; 17][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::TooLong { max: 16 })
        ));
        let mut buf = BytesMut::from(&b"0123456789abcdefg\n"[..]);
        let mut codec = FrameCodec::new(16);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::TooLong { .. })
        ));
    }

    /// Bytes fed one at a time give the same frames as one read.
    #[test]
    fn byte_at_a_time_matches_one_read() {
        let mut input = PING.to_vec();
        input.push(b'\n');
        input.extend_from_slice(PING);
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for b in &input {
            buf.put_u8(*b);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                frames.push(f.unwrap());
            }
        }
        while let Some(f) = codec.decode_eof(&mut buf).unwrap() {
            frames.push(f.unwrap());
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0], frames[1]);
    }

    /// Encoding writes the frame's bytes and one newline.
    #[test]
    fn encode_appends_newline() {
        let frame = Frame::decode(bytes::Bytes::from_static(PING)).unwrap();
        let mut dst = BytesMut::new();
        FrameCodec::new(1024).encode(frame, &mut dst).unwrap();
        assert_eq!(&dst[..dst.len() - 1], PING);
        assert_eq!(dst[dst.len() - 1], b'\n');
    }
}
