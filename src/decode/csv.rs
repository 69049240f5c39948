//! A streaming RFC 4180 decoder for question exports.

use std::io::Read;

/// The largest CSV field accepted (memory stays bounded on a bad body).
const MAX_FIELD: usize = 64 << 20;

/// A streaming RFC 4180 reader: records come out one at a time as the body
/// arrives. Quoted fields may hold separators, quotes (`""`) and line breaks.
pub struct Csv<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    started: bool,
    /// The field separator: `,` unless an admin chose another
    /// (`csv-field-separator`).
    sep: u8,
}

impl<R: Read> Csv<R> {
    pub fn new(reader: R) -> Self {
        Csv { reader, buf: vec![0; 64 * 1024], pos: 0, end: 0, eof: false, started: false, sep: b',' }
    }

    /// Reads the records that follow with `sep` between values.
    pub fn set_separator(&mut self, sep: u8) {
        self.sep = sep;
    }

    /// Of `candidates`, the one that splits the next line (the header, read
    /// ahead but not consumed) into `columns` values outside quotes, if one
    /// does; the first that does wins.
    pub fn separator_for(&mut self, candidates: &[u8], columns: usize) -> std::io::Result<Option<u8>> {
        self.skip_bom()?;
        let line = self.ahead_until(|b| b.contains(&b'\n'), 1 << 20)?;
        let line = line.split(|b| *b == b'\n').next().unwrap_or(line);
        let count = |sep: u8| {
            let mut quoted = false;
            1 + line.iter().filter(|&&b| {
                if b == b'"' {
                    quoted = !quoted;
                }
                b == sep && !quoted
            }).count()
        };
        Ok(candidates.iter().copied().find(|&c| count(c) == columns))
    }

    /// The body from the current position, read ahead (not consumed) until
    /// `enough` holds of it, the body ends, or `limit` bytes are buffered.
    fn ahead_until(&mut self, enough: impl Fn(&[u8]) -> bool, limit: usize) -> std::io::Result<&[u8]> {
        while !self.eof && !enough(&self.buf[self.pos..self.end]) && self.end - self.pos < limit {
            if self.end == self.buf.len() {
                if self.pos > 0 {
                    self.buf.copy_within(self.pos..self.end, 0);
                    self.end -= self.pos;
                    self.pos = 0;
                } else {
                    self.buf.resize(self.buf.len() * 2, 0);
                }
            }
            let n = crate::api::transport::read_some(&mut self.reader, &mut self.buf[self.end..])?;
            self.end += n;
            self.eof = n == 0;
        }
        Ok(&self.buf[self.pos..self.end])
    }

    /// If the next record starts with `{` and the rest of the body (up to
    /// `limit` bytes) is one JSON object with a failure's keys (`status`,
    /// `error`, `message`, `cause`, `_status`), that object's text, consumed:
    /// what Metabase's `write-error!` appends to an export that failed after
    /// its first rows. Anything else (a last row `{}`) is left to read as
    /// records.
    #[inline]
    pub fn json_tail(&mut self, limit: usize) -> std::io::Result<Option<String>> {
        if self.pos < self.end && self.buf[self.pos] != b'{' {
            return Ok(None);
        }
        self.json_tail_slow(limit)
    }

    #[cold]
    fn json_tail_slow(&mut self, limit: usize) -> std::io::Result<Option<String>> {
        self.skip_bom()?;
        if self.pos == self.end && !self.fill()? {
            return Ok(None);
        }
        if self.buf[self.pos] != b'{' {
            return Ok(None);
        }
        let rest = self.ahead_until(|_| false, limit)?;
        let text = match std::str::from_utf8(rest) {
            Ok(t) if is_failure(t) => t.to_string(),
            _ => return Ok(None),
        };
        self.pos = self.end;
        Ok(Some(text))
    }

    fn fill(&mut self) -> std::io::Result<bool> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
        if self.eof {
            return Ok(false);
        }
        let n = crate::api::transport::read_some(&mut self.reader, &mut self.buf[self.end..])?;
        self.end += n;
        self.eof = n == 0;
        Ok(n > 0)
    }

    fn next_byte(&mut self) -> std::io::Result<Option<u8>> {
        if self.pos == self.end && !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(Some(b))
    }

    /// The first byte of the body (after a UTF-8 BOM), not consumed.
    pub fn peek_byte(&mut self) -> std::io::Result<Option<u8>> {
        self.skip_bom()?;
        if self.pos == self.end && !self.fill()? {
            return Ok(None);
        }
        Ok(Some(self.buf[self.pos]))
    }

    fn skip_bom(&mut self) -> std::io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        while self.end - self.pos < 3 && self.fill()? {}
        if self.buf[self.pos..self.end].starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.pos += 3;
        }
        Ok(())
    }

    /// The rest of the body, up to `limit` bytes.
    pub fn rest_limited(&mut self, limit: usize) -> std::io::Result<String> {
        let mut out = Vec::new();
        while out.len() < limit {
            match self.next_byte()? {
                Some(b) => out.push(b),
                None => break,
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The next record, or `None` at the end of the body.
    pub fn next_record(&mut self) -> std::io::Result<Option<Vec<String>>> {
        let mut record = Record::default();
        if !self.next_into(&mut record)? {
            return Ok(None);
        }
        record.text()?;
        Ok(Some(record.to_strings()))
    }

    /// Reads the next record into `rec` (its buffers are reused); false at
    /// the end of the body. Runs of plain bytes are copied a slice at a
    /// time; the record's UTF-8 is checked by [`Record::text`].
    pub fn next_into(&mut self, rec: &mut Record) -> std::io::Result<bool> {
        self.skip_bom()?;
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let too_large = || std::io::Error::new(std::io::ErrorKind::FileTooLarge, "a value larger than 64 MiB");
        rec.bytes.clear();
        rec.ends.clear();
        let mut field_start = 0;
        let mut quoted = false;
        let mut any = false;
        loop {
            if self.pos == self.end && !self.fill()? {
                if quoted {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the export ended inside a quoted value"));
                }
                if !any {
                    return Ok(false);
                }
                rec.ends.push(rec.bytes.len());
                return Ok(true);
            }
            any = true;
            let avail = &self.buf[self.pos..self.end];
            if quoted {
                let Some(k) = avail.iter().position(|&b| b == b'"') else {
                    rec.bytes.extend_from_slice(avail);
                    self.pos = self.end;
                    if rec.bytes.len() - field_start > MAX_FIELD {
                        return Err(too_large());
                    }
                    continue;
                };
                rec.bytes.extend_from_slice(&avail[..k]);
                self.pos += k + 1;
                match self.next_byte()? {
                    Some(b'"') => rec.bytes.push(b'"'),
                    Some(b) if b == self.sep => {
                        quoted = false;
                        rec.ends.push(rec.bytes.len());
                        field_start = rec.bytes.len();
                    }
                    Some(b'\n') | None => {
                        rec.ends.push(rec.bytes.len());
                        return Ok(true);
                    }
                    Some(b'\r') => {
                        if self.next_byte()? != Some(b'\n') {
                            return Err(bad("a stray carriage return after a quoted value"));
                        }
                        rec.ends.push(rec.bytes.len());
                        return Ok(true);
                    }
                    Some(_) => return Err(bad("text after the closing quote of a value")),
                }
            } else {
                let sep = self.sep;
                let Some(k) = special_at(avail, sep) else {
                    rec.bytes.extend_from_slice(avail);
                    self.pos = self.end;
                    if rec.bytes.len() - field_start > MAX_FIELD {
                        return Err(too_large());
                    }
                    continue;
                };
                let b = avail[k];
                rec.bytes.extend_from_slice(&avail[..k]);
                self.pos += k + 1;
                match b {
                    b'"' if rec.bytes.len() == field_start => quoted = true,
                    b'"' => rec.bytes.push(b'"'),
                    b if b == sep => {
                        rec.ends.push(rec.bytes.len());
                        field_start = rec.bytes.len();
                    }
                    b'\n' => {
                        rec.ends.push(rec.bytes.len());
                        return Ok(true);
                    }
                    _ => {
                        if self.next_byte()? != Some(b'\n') {
                            return Err(bad("a stray carriage return"));
                        }
                        rec.ends.push(rec.bytes.len());
                        return Ok(true);
                    }
                }
            }
            if rec.bytes.len() - field_start > MAX_FIELD {
                return Err(too_large());
            }
        }
    }
}

/// Where the first byte that ends a plain run is (the separator, a quote,
/// CR or LF). Each separator a server may use gets its own constant set, so
/// the hot loop tests bytes against constants as it did for commas alone.
#[inline(always)]
fn special_at(bytes: &[u8], sep: u8) -> Option<usize> {
    #[inline(always)]
    fn find<const SEP: u8>(bytes: &[u8]) -> Option<usize> {
        bytes.iter().position(|&b| b == SEP || matches!(b, b'\n' | b'\r' | b'"'))
    }
    match sep {
        b',' => find::<b','>(bytes),
        b';' => find::<b';'>(bytes),
        b'\t' => find::<b'\t'>(bytes),
        b'|' => find::<b'|'>(bytes),
        _ => bytes.iter().position(|&b| b == sep || matches!(b, b'\n' | b'\r' | b'"')),
    }
}

/// Whether `text` is one JSON object with a key a failure has.
fn is_failure(text: &str) -> bool {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text.trim_end())
        .is_ok_and(|o| ["status", "error", "message", "cause", "_status"].iter().any(|k| o.contains_key(*k)))
}

/// One CSV record: its values' bytes back to back, and where each ends.
#[derive(Default)]
pub struct Record {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Record {
    /// How many values.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The values' text, checked once for the whole record, and each value
    /// whole UTF-8 by itself (a value cut inside a character is refused,
    /// even when its neighbour would complete it).
    pub fn text(&self) -> std::io::Result<&str> {
        let not_utf8 = || std::io::Error::new(std::io::ErrorKind::InvalidData, "a value is not UTF-8");
        let text = crate::scan::utf8(&self.bytes).map_err(|_| not_utf8())?;
        if !self.ends.iter().all(|&e| text.is_char_boundary(e)) {
            return Err(not_utf8());
        }
        Ok(text)
    }

    /// Each value of `text`, which must come from [`Self::text`].
    pub fn fields<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let v = &text[start..end];
            start = end;
            v
        })
    }

    /// Every value as its own string (lossy where not UTF-8).
    pub fn to_strings(&self) -> Vec<String> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let v = String::from_utf8_lossy(&self.bytes[start..end]).into_owned();
                start = end;
                v
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str, chunk: usize) -> Vec<Vec<String>> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut c = Csv::new(Trickle(text.as_bytes(), chunk));
        let mut out = vec![];
        while let Some(r) = c.next_record().unwrap() {
            out.push(r);
        }
        out
    }

    #[test]
    fn csv_quotes_commas_and_line_breaks_at_every_chunk_size() {
        let text = "\u{feff}Order ID,Customer ID,Note,Customer ID\r\n1,2,\"a, \"\"b\"\"\nc\",3\r\n,,,\n4,5,é,6";
        for chunk in [1, 2, 5, 1000] {
            assert_eq!(
                records(text, chunk),
                vec![
                    vec!["Order ID", "Customer ID", "Note", "Customer ID"],
                    vec!["1", "2", "a, \"b\"\nc", "3"],
                    vec!["", "", "", ""],
                    vec!["4", "5", "é", "6"],
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn csv_values_must_be_utf8_each() {
        for body in [&b"a,\xff\n"[..], b"\xc3,\xa9\n", b"\"\xc3\",\xa9\n"] {
            let mut c = Csv::new(body);
            let mut r = Record::default();
            assert!(c.next_into(&mut r).unwrap());
            let e = r.text().unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{body:?}");
        }
        let mut c = Csv::new(&b"\xc3\xa9,x\n"[..]);
        let mut r = Record::default();
        assert!(c.next_into(&mut r).unwrap());
        let text = r.text().unwrap();
        assert_eq!(r.fields(text).collect::<Vec<_>>(), ["é", "x"]);
        assert!(!c.next_into(&mut r).unwrap());
    }

    #[test]
    fn a_json_tail_is_told_from_a_record_that_starts_with_a_brace() {
        let mut c = Csv::new(&b"a,b\n{x},\"{\"\"k\"\":1}\"\n{\"message\":\"boom\"}\n"[..]);
        let mut r = Record::default();
        assert_eq!(c.json_tail(1 << 20).unwrap(), None);
        assert!(c.next_into(&mut r).unwrap());
        assert_eq!(c.json_tail(1 << 20).unwrap(), None, "`{{x}},...` then more is not one JSON object");
        assert!(c.next_into(&mut r).unwrap());
        assert_eq!(r.to_strings(), ["{x}", "{\"k\":1}"]);
        assert_eq!(c.json_tail(1 << 20).unwrap().as_deref(), Some("{\"message\":\"boom\"}\n"));
        assert!(!c.next_into(&mut r).unwrap());
        let mut c = Csv::new(&b"a\n{}\n"[..]);
        assert!(c.next_into(&mut r).unwrap());
        assert_eq!(c.json_tail(1 << 20).unwrap(), None, "a last row `{{}}` is a row");
        assert!(c.next_into(&mut r).unwrap());
        assert_eq!(r.to_strings(), ["{}"]);
    }

    #[test]
    fn a_header_line_chooses_the_separator() {
        let mut c = Csv::new(&b"\xef\xbb\xbfA;\"B;C\";D\n1;2;3\n"[..]);
        assert_eq!(c.separator_for(&[b',', b';'], 3).unwrap(), Some(b';'));
        c.set_separator(b';');
        assert_eq!(c.next_record().unwrap().unwrap(), ["A", "B;C", "D"]);
        assert_eq!(c.next_record().unwrap().unwrap(), ["1", "2", "3"]);
    }
}
