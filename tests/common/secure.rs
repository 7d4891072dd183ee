//! A hand-driven secure client for black-box checks: the Noise XX handshake
//! through the library's pure functions, then sealed newline-JSON frames,
//! with ways to send what a real node never would (cut or flipped messages).

use std::net::SocketAddr;

use bytes::BytesMut;
use peerchat::proto::Identity;
use peerchat::secure::handshake::{put_message, take_message};
use peerchat::secure::{Initiator, LinkKeys, Opener, Sealer, MAGIC, PAYLOAD_LEN, TAG_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::WAIT;

/// Link keys for a test identity made from `seed`.
pub fn keys(seed: u8) -> LinkKeys {
    LinkKeys::new(Identity::from_secret([seed; 32]), [seed ^ 0xa5; 32])
}

pub struct SecureClient {
    reader: OwnedReadHalf,
    pub writer: OwnedWriteHalf,
    pub sealer: Sealer,
    opener: Opener,
    buf: BytesMut,
    plain: BytesMut,
}

/// Reads one handshake message (length-prefixed) from `r`.
async fn read_msg(r: &mut OwnedReadHalf, buf: &mut BytesMut) -> Option<BytesMut> {
    loop {
        if let Some(msg) = take_message(buf, 1).ok()? {
            return Some(msg);
        }
        let n = tokio::time::timeout(WAIT, r.read_buf(buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
    }
}

impl SecureClient {
    /// Completes a handshake with the node at `addr` as `keys`; panics if it fails.
    pub async fn connect(addr: SocketAddr, keys: &LinkKeys) -> SecureClient {
        Self::connect_with_payload(addr, keys, *keys.payload())
            .await
            .expect("handshake completes")
    }

    /// As `connect`, sending `payload` as the identity payload. `None` if
    /// the node closed during the handshake. (The node only judges the
    /// payload after message 3, so a refused one is seen as a close later:
    /// see `closed`.)
    pub async fn connect_with_payload(
        addr: SocketAddr,
        keys: &LinkKeys,
        payload: [u8; PAYLOAD_LEN],
    ) -> Option<SecureClient> {
        let stream = TcpStream::connect(addr).await.ok()?;
        let (mut reader, mut writer) = stream.into_split();
        let (initiator, msg1) = Initiator::start_with_payload(keys, payload).ok()?;
        let mut first = MAGIC.to_vec();
        put_message(&msg1, &mut first);
        writer.write_all(&first).await.ok()?;
        let mut buf = BytesMut::new();
        let msg2 = read_msg(&mut reader, &mut buf).await?;
        let (msg3, transport) = initiator.finish(&msg2).ok()?;
        let mut third = Vec::new();
        put_message(&msg3, &mut third);
        writer.write_all(&third).await.ok()?;
        let (sealer, opener) = transport.split();
        Some(SecureClient {
            reader,
            writer,
            sealer,
            opener,
            buf,
            plain: BytesMut::new(),
        })
    }

    /// Seals `bytes` as the client's next message(s), and writes them.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let mut wire = BytesMut::new();
        self.sealer.seal(bytes, &mut wire).unwrap();
        self.writer.write_all(&wire).await.expect("write");
    }

    /// Sends one frame.
    pub async fn send(&mut self, json: serde_json::Value) {
        let mut line = json.to_string().into_bytes();
        line.push(b'\n');
        self.send_raw(&line).await;
    }

    /// Sealed bytes for `bytes` as they would go on the wire (to tamper with).
    pub fn seal(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut wire = BytesMut::new();
        self.sealer.seal(bytes, &mut wire).unwrap();
        wire.to_vec()
    }

    /// The next frame; `None` when the node closed the link.
    pub async fn recv(&mut self) -> Option<serde_json::Value> {
        loop {
            if let Some(end) = self.plain.iter().position(|b| *b == b'\n') {
                let line = self.plain.split_to(end + 1);
                return Some(serde_json::from_slice(&line[..end]).expect("valid JSON frame"));
            }
            if let Some(msg) = take_message(&mut self.buf, TAG_LEN).expect("valid length") {
                self.opener.open(&msg, &mut self.plain).expect("opens");
                continue;
            }
            let read = tokio::time::timeout(WAIT, self.reader.read_buf(&mut self.buf))
                .await
                .expect("frame or close in time");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads frames until one of `msg_type` arrives.
    pub async fn recv_type(&mut self, msg_type: &str) -> serde_json::Value {
        loop {
            let frame = self
                .recv()
                .await
                .unwrap_or_else(|| panic!("closed before {msg_type}"));
            if frame["msg_type"] == msg_type {
                return frame;
            }
        }
    }

    /// True once the node has closed the link (reading and dropping what
    /// comes until then); panics if it stays open past `WAIT`.
    pub async fn closed(&mut self) -> bool {
        let mut sink = vec![0u8; 4096];
        loop {
            match tokio::time::timeout(WAIT, self.reader.read(&mut sink)).await {
                Err(_) => panic!("link neither closed nor quiet in time"),
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}
