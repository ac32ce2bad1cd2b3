//! A request body served from memory in chunks, without copying.
//!
//! Each frame is a `Bytes::slice` of one shared buffer (a reference count, not a copy), so a
//! 64 MiB upload costs the client no memory traffic beyond what the socket itself needs and
//! the figures measure the server.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// `data` sent as frames of at most `chunk` bytes; exact size hint (so a Content-Length).
#[derive(Debug, Clone)]
pub struct ChunkedBody {
    data: Bytes,
    pos: usize,
    chunk: usize,
}

impl ChunkedBody {
    #[must_use]
    pub fn new(data: Bytes, chunk: usize) -> Self {
        Self {
            data,
            pos: 0,
            chunk: chunk.max(1),
        }
    }

    #[must_use]
    pub fn empty() -> Self {
        Self::new(Bytes::new(), 1)
    }
}

impl Body for ChunkedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.pos >= this.data.len() {
            return Poll::Ready(None);
        }
        let end = this.data.len().min(this.pos + this.chunk);
        let frame = this.data.slice(this.pos..end);
        this.pos = end;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.data.len() - self.pos) as u64)
    }
}

/// A deterministic, incompressible-looking payload of `len` bytes (xorshift).
#[must_use]
pub fn payload(len: usize) -> Bytes {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ len as u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn frames_reassemble_to_the_payload() {
        let data = payload(10_000);
        let body = ChunkedBody::new(data.clone(), 4096);
        assert_eq!(body.size_hint().exact(), Some(10_000));
        let collected = body.collect().await.expect("infallible").to_bytes();
        assert_eq!(collected, data);
    }

    #[test]
    fn payload_is_deterministic_and_sized() {
        assert_eq!(payload(4097).len(), 4097);
        assert_eq!(payload(100), payload(100));
    }
}
