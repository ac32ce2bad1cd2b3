//! A small, allocation-light XML writer for Query-protocol responses. Text is escaped; names
//! come from Kumo's code (or the generated shapes), never from the caller.

/// Builds one XML document.
#[derive(Debug)]
pub struct XmlWriter {
    out: String,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// Which bytes [`escape_into`] replaces: a table lookup per byte instead of a match.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t[b'\r' as usize] = true;
    t
};

/// Appends `text` to `out` with XML escaping. Responses are mostly plain text, so the common
/// case is one scan and one copy; runs between special characters are copied whole.
pub fn escape_into(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let Some(first) = bytes.iter().position(|&b| NEEDS_ESCAPE[usize::from(b)]) else {
        out.push_str(text);
        return;
    };
    out.push_str(text.get(..first).unwrap_or_default());
    let mut start = first;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        let replacement = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            b'\r' => "&#xD;",
            _ => continue,
        };
        // The special characters are ASCII, so `i` is a character boundary.
        out.push_str(text.get(start..i).unwrap_or_default());
        out.push_str(replacement);
        start = i + 1;
    }
    out.push_str(text.get(start..).unwrap_or_default());
}

/// Appends `n` in decimal without going through `fmt` (the encoder writes many numbers).
pub fn push_int(out: &mut String, n: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        // `v % 10` is below 10, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (v % 10) as u8;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + digit;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    for &b in buf.get(i..).unwrap_or_default() {
        out.push(char::from(b));
    }
}

impl XmlWriter {
    /// Starts a document with the XML declaration.
    #[must_use]
    pub fn new() -> Self {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        Self { out }
    }

    /// A fragment: no XML declaration (for parts stored and spliced in later with [`Self::raw`]).
    #[must_use]
    pub fn fragment() -> Self {
        Self {
            out: String::with_capacity(512),
        }
    }

    /// Appends markup that is already well-formed and escaped (a fragment this writer made).
    pub fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
    }

    /// `<name>`.
    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name xmlns="ns">`.
    pub fn open_ns(&mut self, name: &str, ns: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" xmlns=\"");
        escape_into(&mut self.out, ns);
        self.out.push_str("\">");
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>text</name>`.
    pub fn element(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name);
    }

    /// A value whose `Display` needs no escaping (numbers).
    pub fn display(&mut self, value: &impl std::fmt::Display) {
        use std::fmt::Write as _;
        let _ = write!(self.out, "{value}");
    }

    /// An integer as text.
    pub fn int(&mut self, n: i64) {
        push_int(&mut self.out, n);
    }

    /// Makes room for `additional` more bytes.
    pub fn reserve(&mut self, additional: usize) {
        self.out.reserve(additional);
    }

    /// The buffer, for writers that format straight into it.
    pub fn buf(&mut self) -> &mut String {
        &mut self.out
    }

    /// Escaped text content.
    pub fn text(&mut self, text: &str) {
        escape_into(&mut self.out, text);
    }

    /// The document.
    #[must_use]
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::{escape_into, push_int};

    #[test]
    fn push_int_matches_display() {
        for n in [0, 7, -7, 10, 16, -100, 1_234_567, i64::MAX, i64::MIN] {
            let mut s = String::new();
            push_int(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn escape_fast_and_slow_paths() {
        let mut s = String::new();
        escape_into(&mut s, "plain é text");
        escape_into(&mut s, "a<b>&\"c'\r\nd");
        assert_eq!(s, "plain é texta&lt;b&gt;&amp;&quot;c&apos;&#xD;\nd");
    }
}
