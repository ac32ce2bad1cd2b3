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

/// Appends `text` to `out` with XML escaping. Runs between special characters are copied
/// whole: responses are mostly plain text, and this is the encoder's hottest loop.
pub fn escape_into(out: &mut String, text: &str) {
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
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
