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
//! The records need not be the top-level list: [`ElementStream::with_path`]
//! walks to them through a path of member names (`["dashcards"]`, with
//! `|` between alternatives: `["dashcards|ordered_cards"]`) and `*`
//! wildcards (every element of an array or every member value of an object:
//! `["tables", "*", "fields"]`), skipping everything else without keeping
//! it, so a `GET /api/database/:id/metadata` of any size costs one field's
//! worth of buffer too.
//!
//! Each element of the records' list is validated strictly as it is read,
//! and an object's top-level members are split in the same walk
//! ([`ElementStream::next_split`], `scan::element`), so the mapping step
//! does not walk it again. Everything else (the envelope, skipped values) is
//! only scanned for its boundaries.

use crate::error::Cause;
use crate::scan::Member;
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
    /// A JSON object without the list we were looking for (`data`, or the
    /// stream's path); its small members are kept so the caller can show
    /// `message`/`error`/`status`.
    NoArray { members: Vec<(String, String)> },
    /// One element is larger than [`MAX_ELEMENT_BYTES`].
    TooLarge,
    /// The body starts with something other than a list or an object: a
    /// bare JSON value (`42`, `"text"`) or plain text.
    NotAList,
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
                write!(f, "the body is a JSON object without the expected list (keys: {})", keys.join(", "))
            }
            JsonError::TooLarge => write!(f, "one element is larger than {} MiB", MAX_ELEMENT_BYTES >> 20),
            JsonError::NotAList => write!(f, "the body is neither a JSON list nor an object holding one"),
        }
    }
}

impl JsonError {
    /// What went wrong, for the connector's error: `Error::new(e.cause(), …)`
    /// gets the kind each of these has always had.
    pub fn cause(&self) -> Cause {
        match self {
            JsonError::Io(e) => Cause::of_io(e),
            JsonError::Truncated { .. } => Cause::Truncated,
            JsonError::Html => Cause::NotApi,
            JsonError::TooLarge => Cause::Limit,
            JsonError::Invalid { .. } | JsonError::NoArray { .. } | JsonError::NotAList => Cause::Protocol,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Start,
    Running,
    Done,
}

/// One open container on the way to the records.
#[derive(Clone, Copy, Debug)]
struct Frame {
    object: bool,
    /// How many path segments lead to this container.
    level: usize,
    first: bool,
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
    /// The path to the records (see the module doc); empty = the body is the
    /// list, or an envelope's `data`.
    path: Vec<Vec<String>>,
    stack: Vec<Frame>,
    /// Whether the records' container was found (else the body is an error
    /// object, or not the shape we expected).
    found: bool,
    /// While skipping a value we do not want: let the buffer drop it as it goes.
    discard: bool,
    /// The top-level members of the last element (see [`Self::next_split`]).
    element_members: Vec<Member>,
    /// The member name the current records' list was found under (one of
    /// the last path segment's alternatives), so streams sharing a
    /// response can tell their records apart.
    records_key: String,
}

impl<R: Read> ElementStream<R> {
    pub fn new(reader: R) -> Self {
        Self::with_path(reader, &[])
    }

    /// Records found at `path` (see the module doc).
    pub fn with_path(reader: R, path: &[&str]) -> Self {
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
            path: path.iter().map(|seg| seg.split('|').map(str::to_string).collect()).collect(),
            stack: Vec::new(),
            found: false,
            discard: false,
            element_members: Vec::new(),
            records_key: String::new(),
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

    /// The member name under which the last element's list was found
    /// (`"tabs"` for `["dashcards|tabs"]`); empty for a bare array.
    pub fn records_key(&self) -> &str {
        &self.records_key
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
                State::Done => return Ok(None),
                State::Start => {
                    match self.peek_non_ws()? {
                        None => return Err(JsonError::Invalid { offset: 0, what: "the body is empty" }),
                        Some(b'<') => return Err(JsonError::Html),
                        Some(b'{') => {
                            if self.path.is_empty() {
                                // An envelope: the records are its `data`.
                                self.enveloped = true;
                                self.path = vec![vec!["data".to_string()]];
                            }
                        }
                        Some(b'[') => {}
                        Some(_) => return Err(JsonError::NotAList),
                    }
                    self.state = State::Running;
                    self.descend(0)?;
                }
                State::Running => {
                    let Some(top) = self.stack.last().copied() else {
                        self.expect_end()?;
                        self.state = State::Done;
                        if !self.found {
                            return Err(JsonError::NoArray { members: std::mem::take(&mut self.members) });
                        }
                        return Ok(None);
                    };
                    let Some(b) = self.peek_non_ws()? else { return Err(self.truncated()) };
                    let close = if top.object { b'}' } else { b']' };
                    if b == close {
                        self.pos += 1;
                        self.stack.pop();
                        continue;
                    }
                    if !top.first {
                        if b != b',' {
                            return Err(self.invalid(if top.object {
                                "expected `,` or `}` between members"
                            } else {
                                "expected `,` or `]` between elements"
                            }));
                        }
                        self.pos += 1;
                        if self.peek_non_ws()?.is_none() {
                            return Err(self.truncated());
                        }
                    }
                    self.stack.last_mut().expect("a frame").first = false;
                    let child = top.level + 1;
                    if top.object {
                        if self.peek_non_ws()? != Some(b'"') {
                            return Err(self.invalid("expected a member name"));
                        }
                        let key = self.read_key()?;
                        if self.peek_non_ws()?.is_none() {
                            return Err(self.truncated());
                        }
                        let wanted = self.path.get(top.level).is_some_and(|alts| alts.iter().any(|a| a == "*" || *a == key));
                        if wanted {
                            if child == self.path.len() {
                                self.records_key = key;
                            }
                            self.descend(child)?;
                        } else if self.stack.len() == 1 {
                            // A top-level member: kept when small (total, limit, status, error…).
                            self.read_member_value(key)?;
                        } else {
                            self.skip_unwanted()?;
                        }
                    } else if top.level == self.path.len() {
                        // An element of the records' list.
                        self.keep = self.pos;
                        self.discard = false;
                        self.read_element()?;
                        let (s, e) = (self.keep, self.pos);
                        if e - s > MAX_ELEMENT_BYTES {
                            return Err(JsonError::TooLarge);
                        }
                        return Ok(Some(&self.buf[s..e]));
                    } else if self.path[top.level].iter().any(|a| a == "*") {
                        self.descend(child)?;
                    } else {
                        self.skip_unwanted()?;
                    }
                }
            }
        }
    }

    /// Like [`Self::next_element`], with the element's top-level members
    /// when it is an object (empty otherwise): it was validated and split
    /// as it was read, so the caller need not walk it again.
    pub fn next_split(&mut self) -> Result<Option<(&[u8], &[Member])>, JsonError> {
        match self.next_element()? {
            None => Ok(None),
            Some(_) => Ok(Some((&self.buf[self.keep..self.pos], &self.element_members))),
        }
    }

    /// Like [`Self::next_split`], with the member name the element's list
    /// was found under (see [`Self::records_key`]).
    pub fn next_keyed(&mut self) -> Result<Option<(&[u8], &[Member], &str)>, JsonError> {
        match self.next_element()? {
            None => Ok(None),
            Some(_) => Ok(Some((&self.buf[self.keep..self.pos], &self.element_members, &self.records_key))),
        }
    }

    /// Reads one element at `pos` (no white space first), validating it
    /// strictly and splitting it (see `scan::element`) in one walk over the
    /// buffer. When the buffer ends inside the element, more is read and
    /// the walk starts again from the element's start: at least doubling
    /// what is buffered each time, so a large element still costs linear
    /// time, and an element costs one walk when it fits (nearly always).
    fn read_element(&mut self) -> Result<(), JsonError> {
        loop {
            let avail = &self.buf[self.pos..self.end];
            let bare_number = matches!(avail.first(), Some(b'-' | b'0'..=b'9'));
            match crate::scan::element(avail, &mut self.element_members) {
                // A number that runs to the end of what arrived may go on.
                Ok(n) if n < avail.len() || self.eof || !bare_number => {
                    self.pos += n;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if !e.at_end(avail.len()) => {
                    return Err(JsonError::Invalid { offset: self.offset() + e.offset as u64, what: e.what });
                }
                Err(_) if self.eof => {
                    self.pos = self.end;
                    return Err(self.truncated());
                }
                Err(_) => {}
            }
            let want = 2 * (self.end - self.pos).max(READ_CHUNK / 2);
            while self.end - self.pos < want {
                if !self.fill()? {
                    break;
                }
            }
        }
    }

    /// At the start of a value that lies on the path at `level`: opens it
    /// when it is a container we walk through, skips it otherwise (a `null`
    /// where a list could be means no records there).
    fn descend(&mut self, level: usize) -> Result<(), JsonError> {
        let b = self.peek_non_ws()?.ok_or_else(|| self.truncated())?;
        let last = level == self.path.len();
        match b {
            b'[' => {
                self.pos += 1;
                if last || self.path[level].iter().any(|a| a == "*") {
                    // The records' list, or a list of their containers
                    // (`"tables": []` for `["tables", "*", "fields"]`): an
                    // empty one has no records, rightly.
                    self.found = true;
                }
                self.stack.push(Frame { object: false, level, first: true });
                Ok(())
            }
            b'{' if !last => {
                self.pos += 1;
                if self.path[level].iter().any(|a| a == "*") {
                    // A map of lists (`{"<user id>": [ … ]}`): an empty map has no records, rightly.
                    self.found = true;
                }
                self.stack.push(Frame { object: true, level, first: true });
                Ok(())
            }
            _ => self.skip_unwanted(),
        }
    }

    /// Skips one value without keeping it in the buffer.
    fn skip_unwanted(&mut self) -> Result<(), JsonError> {
        self.keep = self.pos;
        self.discard = true;
        let r = self.skip_value();
        self.discard = false;
        self.keep = self.pos;
        r
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
        match self.peek_non_ws()? {
            None => return Err(self.truncated()),
            // Only scalars are kept (total, limit, status, error…): a large
            // nested member is skipped as it streams by.
            Some(b'[' | b'{') => return self.skip_unwanted(),
            Some(_) => {}
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
        if self.discard {
            // Skipping a value nobody wants: nothing before `pos` is needed.
            self.keep = self.pos;
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
        let n = crate::api::transport::read_some(&mut self.reader, &mut self.buf[self.end..]).map_err(JsonError::Io)?;
        self.end += n;
        self.eof = n == 0;
        Ok(n > 0)
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
        self.skip_string_rest()
    }

    /// From inside a string (after its opening quote) to just past its
    /// closing quote, a word at a time (see `scan`).
    fn skip_string_rest(&mut self) -> Result<(), JsonError> {
        loop {
            let buf = &self.buf[..self.end];
            let mut i = self.pos;
            loop {
                match crate::scan::find_quote_or_backslash(buf, i) {
                    Some(k) if buf[k] == b'"' => {
                        self.pos = k + 1;
                        return Ok(());
                    }
                    Some(k) if k + 1 < buf.len() => i = k + 2,
                    // A backslash at the very end: resume at it, once the
                    // escaped byte has arrived.
                    Some(k) => {
                        i = k;
                        break;
                    }
                    None => {
                        i = buf.len();
                        break;
                    }
                }
            }
            self.pos = i;
            if !self.fill()? {
                return Err(self.truncated());
            }
        }
    }

    fn skip_nested(&mut self) -> Result<(), JsonError> {
        let mut depth: usize = 0;
        loop {
            let buf = &self.buf[..self.end];
            let mut i = self.pos;
            let mut careful_string = false;
            while i < buf.len() {
                match buf[i] {
                    b'"' => match crate::scan::find_quote_or_backslash(buf, i + 1) {
                        Some(k) if buf[k] == b'"' => {
                            i = k + 1;
                            continue;
                        }
                        // An escape, or a string that goes past the buffer.
                        _ => {
                            careful_string = true;
                            break;
                        }
                    },
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            self.pos = i + 1;
                            return Ok(());
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            self.pos = i;
            if careful_string {
                self.skip_string()?;
            } else if !self.fill()? {
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
        let cases: &[(&str, &str, Cause)] = &[
            (r#"[{"a":1},{"b":"#, "Truncated", Cause::Truncated),
            (r#"[{"a":1}"#, "Truncated", Cause::Truncated),
            (r#"[{"a":1},"#, "Truncated", Cause::Truncated),
            ("", "Invalid", Cause::Protocol),
            ("<html><body>Bad gateway</body></html>", "Html", Cause::NotApi),
            (r#"{"status":"failed","error":"boom"}"#, "NoArray", Cause::Protocol),
            (r#"[{"a":1}]{"status":"failed"}"#, "Invalid", Cause::Protocol),
            (r#"[{"a":1} {"b":2}]"#, "Invalid", Cause::Protocol),
            ("Unauthenticated", "NotAList", Cause::Protocol),
            ("42", "NotAList", Cause::Protocol),
        ];
        for (body, want, cause) in cases {
            for chunk in [1, 4, 1000] {
                let err = elements(body, chunk).unwrap_err();
                assert!(format!("{err:?}").starts_with(want), "{body:?} chunk {chunk}: {err:?}");
                assert_eq!(err.cause(), *cause, "{body:?}");
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
        let e = s.next_element().unwrap_err();
        assert!(matches!(e, JsonError::Io(_)));
        assert_eq!(e.cause(), Cause::Transport);
        assert_eq!(JsonError::TooLarge.cause(), Cause::Limit);
    }
    fn at_path(body: &str, path: &[&str], chunk: usize) -> Result<Vec<String>, JsonError> {
        let mut s = ElementStream::with_path(Trickle { data: body.as_bytes(), chunk }, path);
        let mut out = Vec::new();
        while let Some(e) = s.next_element()? {
            out.push(String::from_utf8(e.to_vec()).unwrap());
        }
        Ok(out)
    }

    #[test]
    fn paths_lead_to_nested_lists_at_every_chunk_size() {
        let dash = r#"{"id":2,"param_values":{"x":[1,{"y":"]}"}]},"dashcards":[{"a":1},{"b":[2]}],"tabs":[{"t":1}]}"#;
        let old = dash.replace("dashcards", "ordered_cards");
        let meta = r#"{"id":2,"tables":[{"id":1,"fields":[{"f":1},{"f":2}]},{"id":2,"fields":[]},{"id":3,"fields":null},{"id":4}],"n":[1]}"#;
        let map = r#"{"1":[{"m":1}],"2":[{"m":2},{"m":3}]}"#;
        for chunk in [1, 2, 3, 7, 100_000] {
            assert_eq!(at_path(dash, &["dashcards|ordered_cards"], chunk).unwrap(), [r#"{"a":1}"#, r#"{"b":[2]}"#], "{chunk}");
            assert_eq!(at_path(&old, &["dashcards|ordered_cards"], chunk).unwrap().len(), 2);
            assert_eq!(at_path(meta, &["tables", "*", "fields"], chunk).unwrap(), [r#"{"f":1}"#, r#"{"f":2}"#]);
            assert_eq!(at_path(meta, &["tables"], chunk).unwrap().len(), 4);
            assert_eq!(at_path(map, &["*"], chunk).unwrap(), [r#"{"m":1}"#, r#"{"m":2}"#, r#"{"m":3}"#]);
            assert_eq!(at_path("{}", &["*"], chunk).unwrap().len(), 0, "an empty map has no records");
            assert_eq!(at_path(r#"{"id":3,"tables":[]}"#, &["tables", "*", "fields"], chunk).unwrap().len(), 0, "no tables, no fields");
            assert!(matches!(at_path(r#"{"status":"failed","error":"x"}"#, &["dashcards"], chunk), Err(JsonError::NoArray { .. })));
            assert!(matches!(at_path(r#"{"dashcards":[{"a":1}"#, &["dashcards"], chunk).map(|_| ()), Err(JsonError::Truncated { .. })));
        }
    }

    #[test]
    fn elements_are_validated_and_split_at_every_chunk_size() {
        let body = r#"[{"id":1,"s":"a\"b","n":[1.5e3,{"x":null}]} , 7, -2.5 ,{},{"t":true}]"#;
        for chunk in [1, 2, 3, 5, 8, 13, 100_000] {
            let mut s = ElementStream::new(Trickle { data: body.as_bytes(), chunk });
            let (e, m) = s.next_split().unwrap().unwrap();
            assert_eq!(e, br#"{"id":1,"s":"a\"b","n":[1.5e3,{"x":null}]}"#, "chunk {chunk}");
            let keys: Vec<&[u8]> = m.iter().map(|m| &e[m.key.clone()]).collect();
            assert_eq!(keys, [&b"\"id\""[..], b"\"s\"", b"\"n\""]);
            assert_eq!(&e[m[2].value.clone()], br#"[1.5e3,{"x":null}]"#);
            assert_eq!(s.next_split().unwrap().unwrap(), (&b"7"[..], &[][..]), "chunk {chunk}");
            assert_eq!(s.next_split().unwrap().unwrap().0, b"-2.5", "a number split across reads stays whole");
            assert_eq!(s.next_split().unwrap().unwrap().0, b"{}");
            assert_eq!(s.next_split().unwrap().unwrap().1.len(), 1);
            assert!(s.next_split().unwrap().is_none());
        }
        // Invalid JSON inside an element is named as such (not as a cut body), at every chunk size.
        for bad in [r#"[{"a":01}]"#, r#"[{"a":[1,]}]"#, r#"[{"a":tru}]"#, r#"[{"a":"x\q"}]"#, "[{\"a\":\"\u{1}\"}]", r#"[{"a" 1}]"#] {
            for chunk in [1, 2, 7, 100] {
                let err = elements(bad, chunk).unwrap_err();
                assert!(matches!(err, JsonError::Invalid { .. }), "{bad} chunk {chunk}: {err:?}");
            }
        }
        for cut in [r#"[{"a":1.5"#, r#"[{"a":tr"#, r#"[{"a":"x\"#, r#"[12"#] {
            for chunk in [1, 3, 100] {
                assert!(matches!(elements(cut, chunk).unwrap_err(), JsonError::Truncated { .. }), "{cut} chunk {chunk}");
            }
        }
    }

    #[test]
    fn skipped_members_are_not_held_in_memory() {
        let big = "z".repeat(3 * 1024 * 1024);
        let body = format!(r#"{{"param_values":{{"x":"{big}","y":[1,2,3]}},"dashcards":[{{"a":1}}]}}"#);
        let mut s = ElementStream::with_path(Trickle { data: body.as_bytes(), chunk: 10_000 }, &["dashcards"]);
        assert_eq!(s.next_element().unwrap().unwrap(), br#"{"a":1}"#);
        assert!(s.next_element().unwrap().is_none());
        assert!(s.buf.len() <= 2 * READ_CHUNK, "the buffer grew to {} bytes", s.buf.len());
    }

}
