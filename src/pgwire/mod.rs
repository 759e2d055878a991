//! PostgreSQL v3 message framing, one reader for both directions of a session.
//!
//! After startup every message is a type byte, a four-byte length that counts itself,
//! and a body. [`Framer`] cuts a byte stream into [`Piece`]s: a message small enough to
//! inspect arrives whole; a larger one (a CopyData of gigabytes, a huge row) arrives as
//! its type and then in chunks, so the relay never buffers it. [`messages`] reads the
//! few message bodies the bridge needs to understand.

pub mod messages;

use bytes::BytesMut;

/// Messages up to this size arrive whole; larger ones are streamed through.
pub const INSPECT_LIMIT: usize = 1 << 20;

/// A piece of the stream.
#[derive(Debug)]
pub enum Piece {
    /// A whole message: type byte, length and body.
    Whole(BytesMut),
    /// The start of a message too large to inspect: its type and first bytes.
    LargeStart { tag: u8, bytes: BytesMut },
    /// More bytes of that message.
    LargeMore(BytesMut),
}

impl Piece {
    /// The bytes to pass on.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Piece::Whole(b) | Piece::LargeStart { bytes: b, .. } | Piece::LargeMore(b) => b,
        }
    }
}

/// Cuts a stream into pieces; keeps the count of a large message's bytes still to come.
#[derive(Debug, Default)]
pub struct Framer {
    large_left: usize,
}

impl Framer {
    /// The next piece in `buf`, or `None` when more bytes must be read first.
    pub fn next(&mut self, buf: &mut BytesMut) -> Option<Piece> {
        if self.large_left > 0 {
            if buf.is_empty() {
                return None;
            }
            let n = self.large_left.min(buf.len());
            self.large_left -= n;
            return Some(Piece::LargeMore(buf.split_to(n)));
        }
        if buf.len() < 5 {
            return None;
        }
        let total = 1 + u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if total <= INSPECT_LIMIT {
            return (buf.len() >= total).then(|| Piece::Whole(buf.split_to(total)));
        }
        let tag = buf[0];
        let n = total.min(buf.len());
        self.large_left = total - n;
        Some(Piece::LargeStart {
            tag,
            bytes: buf.split_to(n),
        })
    }

    /// True while a large message is being streamed.
    pub fn in_large(&self) -> bool {
        self.large_left > 0
    }
}

/// The body of a whole message (after type and length).
pub fn body(msg: &[u8]) -> &[u8] {
    msg.get(5..).unwrap_or_default()
}

/// Builds a message from its type and body.
pub fn message(tag: u8, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(body.len() + 5);
    out.extend_from_slice(&[tag]);
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_messages_arrive_whole_and_large_ones_in_pieces() {
        let mut stream = BytesMut::new();
        stream.extend_from_slice(&message(b'Z', b"I"));
        let big = vec![7u8; INSPECT_LIMIT + 10];
        stream.extend_from_slice(&message(b'd', &big));
        stream.extend_from_slice(&message(b'c', b""));
        let whole = stream.len();

        let mut framer = Framer::default();
        let mut buf = BytesMut::new();
        let mut seen = Vec::new();
        let mut out = 0;
        for chunk in stream.chunks(4096) {
            buf.extend_from_slice(chunk);
            while let Some(p) = framer.next(&mut buf) {
                out += p.bytes().len();
                match p {
                    Piece::Whole(m) => seen.push(m[0]),
                    Piece::LargeStart { tag, .. } => seen.push(tag),
                    Piece::LargeMore(_) => {}
                }
            }
        }
        assert_eq!(seen, [b'Z', b'd', b'c']);
        assert_eq!(out, whole);
        assert!(!framer.in_large());
    }
}
