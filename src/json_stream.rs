//! Reads the rows of a JSON list response as the body arrives.
//!
//! Metabase answers a list either as a bare array (`[{…},{…}]`) or as an
//! envelope (`{"data":[{…}],"total":N,…}`), and which one depends on the
//! endpoint and the version. [`ElementStream`] accepts both: it walks the
//! body byte by byte, hands out each element of the array as a slice of raw
//! JSON, and keeps the envelope's other small members (`total`, `limit`,
//! `offset`) for paging. Only the element being read is held in memory, so a
//! 300 MB `/api/card` costs one card's worth of buffer.
//!
//! The scanner only finds element boundaries; each element is then parsed
//! (and so validated) by serde_json in the mapping step.

use std::io::{self, Read};

/// The largest single element accepted, to keep memory bounded when a
/// server sends something that is not what we expect.
pub const MAX_ELEMENT_BYTES: usize = 256 * 1024 * 1024;
/// Envelope members other than `data` are kept only when this small.
const MAX_META_BYTES: usize = 64 * 1024;
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub enum JsonError {
    /// Reading the body failed (the connection broke).
    Io(io::Error),
    /// The body ended before the JSON did.
    Truncated { offset: u64 },
    /// Not JSON where JSON was expected.
    Invalid { offset: u64, what: &'static str },
    /// The body is an HTML page (a proxy, a login page, the web app).
    Html,
    /// A JSON object without a `data` array; its small members are kept so
    /// the caller can show `message`/`error`/`status`.
    NoArray { members: Vec<(String, String)> },
    /// One element is larger than [`MAX_ELEMENT_BYTES`].
    TooLarge,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonError::Io(e) => write!(f, "the connection broke while reading the body ({e})"),
            JsonError::Truncated { offset } => write!(f, "the body ended in the middle of the JSON document (after {offset} bytes)"),
            JsonError::Invalid { offset, what } => write!(f, "the body is not valid JSON at byte {offset} ({what})"),
            JsonError::Html => write!(f, "the body is an HTML page, not JSON; is a proxy or login page in the way?"),
            JsonError::NoArray { members } => {
                let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
                write!(f, "the body is a JSON object without a `data` list (keys: {})", keys.join(", "))
            }
            JsonError::TooLarge => write!(f, "one element is larger than {} MiB", MAX_ELEMENT_BYTES >> 20),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Start,
    FirstElement,
    NextElement,
    Done,
}

pub struct ElementStream<R> {
    reader: R,
    buf: Vec<u8>,
    /// Bytes before `keep` may be discarded.
    keep: usize,
    pos: usize,
    end: usize,
    /// Bytes discarded from the front so far (for error offsets).
    shifted: u64,
    eof: bool,
    state: State,
    enveloped: bool,
    members: Vec<(String, String)>,
}

impl<R: Read> ElementStream<R> {
    pub fn new(reader: R) -> Self {
        ElementStream {
            reader,
            buf: vec![0; READ_CHUNK],
            keep: 0,
            pos: 0,
            end: 0,
            shifted: 0,
            eof: false,
            state: State::Start,
            enveloped: false,
            members: Vec::new(),
        }
    }

    /// Whether the body was an envelope object rather than a bare array.
    pub fn enveloped(&self) -> bool {
        self.enveloped
    }

    /// The envelope's other members (raw JSON text), complete once
    /// [`Self::next_element`] has returned `None`.
    pub fn member(&self, key: &str) -> Option<&str> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Bytes of the body consumed so far.
    pub fn offset(&self) -> u64 {
        self.shifted + self.pos as u64
    }

    /// The next element's raw JSON, or `None` after the last one (the rest
    /// of the document has then been read and checked).
    pub fn next_element(&mut self) -> Result<Option<&[u8]>, JsonError> {
        loop {
            match self.state {
                State::Start => self.open()?,
                State::FirstElement | State::NextElement => {
                    let Some(b) = self.peek_non_ws()? else { return Err(self.truncated()) };
                    if b == b']' {
                        self.pos += 1;
                        self.close()?;
                        self.state = State::Done;
                        return Ok(None);
                    }
                    if self.state == State::NextElement {
                        if b != b',' {
                            return Err(self.invalid("expected `,` or `]` between elements"));
                        }
                        self.pos += 1;
                        if self.peek_non_ws()?.is_none() {
                            return Err(self.truncated());
                        }
                    }
                    self.state = State::NextElement;
                    let start = self.pos;
                    self.keep = start;
                    self.skip_value()?;
                    // skip_value may have moved the buffer: keep is adjusted with it.
                    let (s, e) = (self.keep, self.pos);
                    if e - s > MAX_ELEMENT_BYTES {
                        return Err(JsonError::TooLarge);
                    }
                    return Ok(Some(&self.buf[s..e]));
                }
                State::Done => return Ok(None),
            }
        }
    }

    /// Reads up to the first element: `[`, or `{` and members up to `"data":[`.
    fn open(&mut self) -> Result<(), JsonError> {
        match self.peek_non_ws()? {
            None => Err(JsonError::Invalid { offset: 0, what: "the body is empty" }),
            Some(b'[') => {
                self.pos += 1;
                self.state = State::FirstElement;
                Ok(())
            }
            Some(b'{') => {
                self.pos += 1;
                self.enveloped = true;
                loop {
                    match self.peek_non_ws()? {
                        None => return Err(self.truncated()),
                        Some(b'}') => {
                            self.pos += 1;
                            self.expect_end()?;
                            return Err(JsonError::NoArray { members: std::mem::take(&mut self.members) });
                        }
                        Some(b',') if !self.members.is_empty() => {
                            self.pos += 1;
                            continue;
                        }
                        Some(b'"') => {}
                        Some(_) => return Err(self.invalid("expected a member name")),
                    }
                    let key = self.read_key()?;
                    if key == "data" && self.peek_non_ws()? == Some(b'[') {
                        self.pos += 1;
                        self.state = State::FirstElement;
                        return Ok(());
                    }
                    self.read_member_value(key)?;
                }
            }
            Some(b'<') => Err(JsonError::Html),
            Some(_) => Err(self.invalid("expected a JSON array or object")),
        }
    }

    /// After the array's `]`: the rest of the envelope, then the end.
    fn close(&mut self) -> Result<(), JsonError> {
        if self.enveloped {
            loop {
                match self.peek_non_ws()? {
                    None => return Err(self.truncated()),
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    Some(b',') => {
                        self.pos += 1;
                        if self.peek_non_ws()? != Some(b'"') {
                            return Err(self.invalid("expected a member name"));
                        }
                        let key = self.read_key()?;
                        self.read_member_value(key)?;
                    }
                    Some(_) => return Err(self.invalid("expected `,` or `}` after the data list")),
                }
            }
        }
        self.expect_end()
    }

    fn expect_end(&mut self) -> Result<(), JsonError> {
        match self.peek_non_ws()? {
            None => Ok(()),
            Some(_) => Err(self.invalid("unexpected data after the JSON document")),
        }
    }

    /// `"key"` then `:`; returns the decoded key.
    fn read_key(&mut self) -> Result<String, JsonError> {
        self.keep = self.pos;
        self.skip_string()?;
        let key: String = serde_json::from_slice(&self.buf[self.keep..self.pos])
            .map_err(|_| self.invalid("bad member name"))?;
        match self.peek_non_ws()? {
            Some(b':') => {
                self.pos += 1;
                Ok(key)
            }
            None => Err(self.truncated()),
            Some(_) => Err(self.invalid("expected `:`")),
        }
    }

    fn read_member_value(&mut self, key: String) -> Result<(), JsonError> {
        if self.peek_non_ws()?.is_none() {
            return Err(self.truncated());
        }
        self.keep = self.pos;
        self.skip_value()?;
        let raw = &self.buf[self.keep..self.pos];
        if raw.len() <= MAX_META_BYTES {
            self.members.push((key, String::from_utf8_lossy(raw).into_owned()));
        }
        Ok(())
    }

    fn truncated(&self) -> JsonError {
        JsonError::Truncated { offset: self.offset() }
    }

    fn invalid(&self, what: &'static str) -> JsonError {
        JsonError::Invalid { offset: self.offset(), what }
    }

    /// Reads more of the body, keeping `buf[keep..end]`. False at the end.
    fn fill(&mut self) -> Result<bool, JsonError> {
        if self.eof {
            return Ok(false);
        }
        if self.keep > 0 && (self.end == self.buf.len() || self.keep > self.buf.len() / 2) {
            self.buf.copy_within(self.keep..self.end, 0);
            self.shifted += self.keep as u64;
            self.pos -= self.keep;
            self.end -= self.keep;
            self.keep = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() > MAX_ELEMENT_BYTES {
                return Err(JsonError::TooLarge);
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(JsonError::Io(e)),
            }
        }
    }

    fn peek_non_ws(&mut self) -> Result<Option<u8>, JsonError> {
        loop {
            while self.pos < self.end {
                let b = self.buf[self.pos];
                if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            if self.keep < self.pos {
                // Nothing before pos is needed while skipping white space.
                self.keep = self.pos;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Moves `pos` past one JSON value starting at `pos`.
    fn skip_value(&mut self) -> Result<(), JsonError> {
        match self.buf[self.pos] {
            b'"' => self.skip_string(),
            b'{' | b'[' => self.skip_nested(),
            _ => self.skip_scalar(),
        }
    }

    fn skip_string(&mut self) -> Result<(), JsonError> {
        self.pos += 1; // opening quote
        loop {
            while self.pos < self.end {
                match self.buf[self.pos] {
                    b'"' => {
                        self.pos += 1;
                        return Ok(());
                    }
                    b'\\' => {
                        if self.pos + 1 >= self.end {
                            break; // need the escaped byte too
                        }
                        self.pos += 2;
                    }
                    _ => self.pos += 1,
                }
            }
            if !self.fill()? {
                return Err(self.truncated());
            }
        }
    }

    fn skip_nested(&mut self) -> Result<(), JsonError> {
        let mut depth: usize = 0;
        loop {
            while self.pos < self.end {
                match self.buf[self.pos] {
                    b'"' => {
                        // Strings are skipped with their own loop (escapes).
                        self.skip_string()?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            self.pos += 1;
                            return Ok(());
                        }
                    }
                    _ => {}
                }
                self.pos += 1;
            }
            if !self.fill()? {
                return Err(self.truncated());
            }
        }
    }

    fn skip_scalar(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        loop {
            while self.pos < self.end {
                match self.buf[self.pos] {
                    b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r' => {
                        return if self.pos == start { Err(self.invalid("expected a value")) } else { Ok(()) };
                    }
                    b'a'..=b'z' | b'0'..=b'9' | b'-' | b'+' | b'.' | b'E' => self.pos += 1,
                    _ => return Err(self.invalid("unexpected character")),
                }
            }
            if !self.fill()? {
                // A scalar may end the body only inside a container, which
                // the callers check; at this level it means truncation.
                return Err(self.truncated());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `chunk` bytes at a time, to exercise every
    /// buffer boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
    }
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn elements(body: &str, chunk: usize) -> Result<(Vec<String>, Vec<(String, String)>), JsonError> {
        let mut s = ElementStream::new(Trickle { data: body.as_bytes(), chunk });
        let mut out = Vec::new();
        while let Some(e) = s.next_element()? {
            out.push(String::from_utf8(e.to_vec()).unwrap());
        }
        Ok((out, s.members.clone()))
    }

    #[test]
    fn bare_arrays_and_envelopes_at_every_chunk_size() {
        let bare = r#" [ {"a":1,"s":"x\"]}"}, {"b":[1,{"c":"}"}]} ,{}] "#;
        let env = r#"{"total":3,"data":[{"a":1,"s":"x\"]}"},{"b":[1,{"c":"}"}]},{}],"limit":null,"offset":0}"#;
        for chunk in [1, 2, 3, 5, 7, 64, 100_000] {
            let (els, meta) = elements(bare, chunk).unwrap();
            assert_eq!(els, vec![r#"{"a":1,"s":"x\"]}"}"#, r#"{"b":[1,{"c":"}"}]}"#, "{}"], "chunk {chunk}");
            assert!(meta.is_empty());
            let (els2, meta) = elements(env, chunk).unwrap();
            assert_eq!(els, els2);
            assert_eq!(
                meta,
                vec![("total".into(), "3".into()), ("limit".into(), "null".into()), ("offset".into(), "0".into())]
            );
        }
        assert_eq!(elements("[]", 1).unwrap().0.len(), 0);
        assert_eq!(elements(r#"{"data":[]}"#, 1).unwrap().0.len(), 0);
    }

    #[test]
    fn large_elements_grow_the_buffer() {
        let big = format!(r#"[{{"x":"{}"}},{{"y":1}}]"#, "z".repeat(300_000));
        let (els, _) = elements(&big, 10_000).unwrap();
        assert_eq!(els.len(), 2);
        assert_eq!(els[0].len(), 300_008);
    }

    #[test]
    fn broken_bodies_are_named() {
        let cases: &[(&str, &str)] = &[
            (r#"[{"a":1},{"b":"#, "Truncated"),
            (r#"[{"a":1}"#, "Truncated"),
            (r#"[{"a":1},"#, "Truncated"),
            ("", "Invalid"),
            ("<html><body>Bad gateway</body></html>", "Html"),
            (r#"{"status":"failed","error":"boom"}"#, "NoArray"),
            (r#"[{"a":1}]{"status":"failed"}"#, "Invalid"),
            (r#"[{"a":1} {"b":2}]"#, "Invalid"),
            ("Unauthenticated", "Invalid"),
        ];
        for (body, want) in cases {
            for chunk in [1, 4, 1000] {
                let err = elements(body, chunk).unwrap_err();
                assert!(format!("{err:?}").starts_with(want), "{body:?} chunk {chunk}: {err:?}");
            }
        }
        match elements(r#"{"status":"failed","error":"boom"}"#, 3).unwrap_err() {
            JsonError::NoArray { members } => assert_eq!(members[1], ("error".into(), r#""boom""#.into())),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn io_errors_surface() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
                }
                self.0 -= 1;
                buf[0] = b'[';
                Ok(1)
            }
        }
        let mut s = ElementStream::new(Broken(1));
        assert!(matches!(s.next_element(), Err(JsonError::Io(_))));
    }
}
