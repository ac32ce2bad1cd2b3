//! What a complete blob's head object holds: a one-line header, and for a small blob its bytes.
//!
//! - `kumo-blob 1 <len> <stripe>\n` — the blob's bytes are in its stripes;
//! - `kumo-blob 2 <len> <stripe>\n<len bytes>` — an inline blob: the bytes follow the line in
//!   the head itself (at most [`INLINE_MAX`]). Why: a 4 KiB object then costs one data write
//!   and one read instead of two of each (stripe, then header), the round trips that dominate
//!   small objects on RADOS. Header and bytes land in one `write_full`, so the head still
//!   becomes complete atomically.
//!
//! Plain text so `rados get` shows it; the version field lets the layouts coexist.

/// What a complete head records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The blob's length in bytes.
    pub len: u64,
    /// The stripe size it was written with (a later configuration change must not move data).
    pub stripe: u64,
    /// The bytes follow the header line in the head (no stripes).
    pub inline: bool,
}

const MAGIC: &str = "kumo-blob";
const VERSION_STRIPED: &str = "1";
const VERSION_INLINE: &str = "2";
/// A header line is far shorter than this; reads of the head ask for this much.
pub(crate) const MAX_LEN: usize = 256;
/// The largest blob stored inline in its head.
pub(crate) const INLINE_MAX: usize = 64 * 1024;

impl Header {
    /// The header line's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let version = if self.inline {
            VERSION_INLINE
        } else {
            VERSION_STRIPED
        };
        format!("{MAGIC} {version} {} {}\n", self.len, self.stripe).into_bytes()
    }

    /// A whole inline head: the header line, then `data`.
    pub fn encode_inline(stripe: u64, data: &[u8]) -> Vec<u8> {
        let mut out = Self {
            len: data.len() as u64,
            stripe,
            inline: true,
        }
        .encode();
        out.extend_from_slice(data);
        out
    }

    /// The header at the start of `data` and where the bytes after its line start; `None`
    /// when `data` does not start with a complete, valid header line.
    pub fn decode(data: &[u8]) -> Option<(Self, usize)> {
        let end = data.iter().position(|&b| b == b'\n')?;
        let text = std::str::from_utf8(&data[..end]).ok()?;
        let mut fields = text.split(' ');
        if fields.next()? != MAGIC {
            return None;
        }
        let inline = match fields.next()? {
            VERSION_STRIPED => false,
            VERSION_INLINE => true,
            _ => return None,
        };
        let len = fields.next()?.parse().ok()?;
        let stripe: u64 = fields.next()?.parse().ok()?;
        // A striped head holds nothing after its line.
        let valid = fields.next().is_none() && stripe > 0 && (inline || end + 1 == data.len());
        valid.then_some((
            Self {
                len,
                stripe,
                inline,
            },
            end + 1,
        ))
    }

    /// How many stripe objects the blob has.
    pub fn stripes(&self) -> u64 {
        if self.inline {
            0
        } else {
            self.len.div_ceil(self.stripe)
        }
    }
}

/// The name of stripe `n` of blob `id`.
pub(crate) fn stripe_name(id: &str, n: u64) -> String {
    format!("{id}.{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_others() {
        let h = Header {
            len: 5 << 30,
            stripe: 4 << 20,
            inline: false,
        };
        assert_eq!(Header::decode(&h.encode()), Some((h, h.encode().len())));
        assert_eq!(h.stripes(), 1280);
        let empty = Header {
            len: 0,
            stripe: 4,
            inline: false,
        };
        assert_eq!(empty.stripes(), 0);
        for bad in [
            &b""[..],
            b"kumo-blob 1 5 4",
            b"kumo-blob 3 5 4\n",
            b"kumo-blob 1 5 0\n",
            b"kumo-blob 1 x 4\n",
            b"kumo-blob 1 5 4 9\n",
            b"kumo-blob 1 5 4\nextra",
            b"other 1 5 4\n",
        ] {
            assert_eq!(Header::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn inline_heads_carry_their_bytes() {
        let head = Header::encode_inline(4 << 20, b"hello\nworld");
        let (h, at) = Header::decode(&head).expect("valid");
        assert_eq!(
            h,
            Header {
                len: 11,
                stripe: 4 << 20,
                inline: true
            }
        );
        assert_eq!(&head[at..], b"hello\nworld");
        assert_eq!(h.stripes(), 0);
        // A prefix read (the collector's) still decodes the line.
        assert_eq!(
            Header::decode(&head[..at + 2]).map(|(h, _)| h.len),
            Some(11)
        );
    }
}
