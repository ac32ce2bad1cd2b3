//! The header a complete blob's head object holds: `kumo-blob 1 <len> <stripe>\n`.
//!
//! Plain text so `rados get` shows it; the version field lets a later layout coexist.

/// What a complete head records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The blob's length in bytes.
    pub len: u64,
    /// The stripe size it was written with (a later configuration change must not move data).
    pub stripe: u64,
}

const MAGIC: &str = "kumo-blob";
const VERSION: &str = "1";
/// A header is far shorter than this; reads of the head ask for this much.
pub(crate) const MAX_LEN: usize = 256;

impl Header {
    /// The header's bytes.
    pub fn encode(&self) -> Vec<u8> {
        format!("{MAGIC} {VERSION} {} {}\n", self.len, self.stripe).into_bytes()
    }

    /// Parses a head's data; `None` when it is not a header this version wrote.
    pub fn decode(data: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(data).ok()?.strip_suffix('\n')?;
        let mut fields = text.split(' ');
        if fields.next()? != MAGIC || fields.next()? != VERSION {
            return None;
        }
        let len = fields.next()?.parse().ok()?;
        let stripe: u64 = fields.next()?.parse().ok()?;
        (fields.next().is_none() && stripe > 0).then_some(Self { len, stripe })
    }

    /// How many stripe objects hold the blob.
    pub fn stripes(&self) -> u64 {
        self.len.div_ceil(self.stripe)
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
        };
        assert_eq!(Header::decode(&h.encode()), Some(h));
        assert_eq!(h.stripes(), 1280);
        assert_eq!(Header { len: 0, stripe: 4 }.stripes(), 0);
        for bad in [
            &b""[..],
            b"kumo-blob 1 5 4",
            b"kumo-blob 2 5 4\n",
            b"kumo-blob 1 5 0\n",
            b"kumo-blob 1 x 4\n",
            b"kumo-blob 1 5 4 9\n",
            b"other 1 5 4\n",
        ] {
            assert_eq!(Header::decode(bad), None, "{bad:?}");
        }
    }
}
