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

/// Appends `text` to `out` with XML escaping.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
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
