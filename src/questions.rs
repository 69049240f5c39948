//! Saved-question results as streams.
//!
//! `discover` offers one stream per chosen saved question, named stably from
//! the card (`question_<id>_<slug>`), its fields typed from the card's
//! `result_metadata`. `read` runs the question with the export endpoint
//! `POST /api/card/:id/query/csv` (options as a form body, which every version reads), which is not
//! capped at 2,000 rows like `POST /api/card/:id/query`.
//!
//! Why CSV and not the JSON export: the JSON export is an array of objects
//! keyed by each column's *display name*, so two columns with the same title
//! (a joined `Customer ID` beside the table's own, two `count`s) collide and
//! one is silently lost. The CSV export keeps every column in order, so its
//! values are mapped by position to `result_metadata`, whose column names are
//! unique; `format_rows: false` gives raw values (ISO dates, plain numbers)
//! that are parsed by each column's type. The body is read as it arrives, one
//! row at a time.

use crate::client::{read_limited, Client};
use crate::config::{Config, Questions};
use crate::error::{Error, Result};
use crate::http::Transport;
use crate::json_stream::ElementStream;
use crate::mapping::{parse_date_days, parse_timestamp_micros};
use crate::reader::{BATCH_BYTES, BATCH_ROWS};
use crate::wit::{Batch, FieldType, Value};
use std::io::Read;

pub const PREFIX: &str = "question_";

/// A question offered as a stream.
#[derive(Debug, Clone)]
pub struct Question {
    pub id: i64,
    pub name: String,
    pub stream: String,
    pub columns: Vec<(String, FieldType)>,
}

#[derive(serde::Deserialize)]
struct Card {
    id: i64,
    name: Option<String>,
    archived: Option<bool>,
    collection_id: Option<serde_json::Value>,
    result_metadata: Option<Vec<Column>>,
}

#[derive(serde::Deserialize)]
struct Column {
    name: Option<String>,
    display_name: Option<String>,
    base_type: Option<String>,
    effective_type: Option<String>,
}

/// `question_<id>_<slug>`: the id keeps it unique and stable when the card is
/// renamed only in the slug; the slug makes it readable.
pub fn stream_name(id: i64, name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
    }
    let slug: String = slug.trim_end_matches('_').chars().take(60).collect();
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        format!("{PREFIX}{id}")
    } else {
        format!("{PREFIX}{id}_{slug}")
    }
}

/// The card id of a question stream's name.
pub fn stream_id(name: &str) -> Option<i64> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = &rest[digits.len()..];
    if digits.is_empty() || !(after.is_empty() || after.starts_with('_')) {
        return None;
    }
    digits.parse().ok().filter(|i| *i > 0)
}

/// A Metabase column type (`effective_type`, else `base_type`) as a host type.
pub fn field_type(base_type: Option<&str>, effective_type: Option<&str>) -> FieldType {
    match effective_type.or(base_type).unwrap_or("") {
        "type/Integer" | "type/BigInteger" => FieldType::Integer,
        "type/Float" | "type/Decimal" | "type/Number" => FieldType::Number,
        "type/Boolean" => FieldType::Boolean,
        "type/Date" => FieldType::Date,
        "type/DateTime" | "type/DateTimeWithTZ" | "type/DateTimeWithLocalTZ" | "type/DateTimeWithZoneOffset"
        | "type/DateTimeWithZoneID" | "type/Instant" => FieldType::Timestamp,
        "type/JSON" | "type/SerializedJSON" | "type/Dictionary" | "type/Structured" => FieldType::Object,
        "type/Array" => FieldType::Array,
        // Text, UUID, Time (a time of day has no host type), and anything unknown.
        _ => FieldType::String,
    }
}

/// Unique column names, in result order: `name` (Metabase already suffixes
/// duplicates with `_2`…), else the display name, else `column_<n>`.
fn columns(meta: &[Column]) -> Vec<(String, FieldType)> {
    let mut out: Vec<(String, FieldType)> = Vec::new();
    for (i, c) in meta.iter().enumerate() {
        let base = c
            .name
            .clone()
            .or_else(|| c.display_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("column_{}", i + 1));
        let mut name = base.clone();
        let mut n = 2;
        while out.iter().any(|(o, _)| *o == name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        out.push((name, field_type(c.base_type.as_deref(), c.effective_type.as_deref())));
    }
    out
}

fn question_of(card: Card) -> Option<Question> {
    let meta = card.result_metadata.filter(|m| !m.is_empty())?;
    let name = card.name.unwrap_or_default();
    Some(Question { id: card.id, stream: stream_name(card.id, &name), name, columns: columns(&meta) })
}

/// The questions the config chooses, from `GET /api/card` (read as it
/// arrives). Archived cards and cards without result metadata (never run)
/// are left out.
pub fn list<T: Transport>(client: &mut Client<T>) -> Result<Vec<Question>> {
    let chosen = client.config().questions.clone();
    if chosen == Questions::None {
        return Ok(Vec::new());
    }
    let response = client.get("card", &[])?;
    let mut body = ElementStream::new(response.body);
    let mut out = Vec::new();
    loop {
        let element = match body.next_element() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => return Err(Error::transient(format!("GET /api/card (listing questions): {e}"))),
        };
        let Ok(card) = serde_json::from_slice::<Card>(element) else { continue };
        if card.archived == Some(true) {
            continue;
        }
        let wanted = match &chosen {
            Questions::None => false,
            Questions::All => true,
            Questions::Ids(ids) => ids.contains(&card.id),
            Questions::Collection(c) => match &card.collection_id {
                None | Some(serde_json::Value::Null) => c == "root",
                Some(v) => v.to_string().trim_matches('"') == c,
            },
        };
        if wanted {
            if let Some(q) = question_of(card) {
                out.push(q);
            }
        }
    }
    if let Questions::Ids(ids) = &chosen {
        for id in ids.iter().filter(|id| !out.iter().any(|q| q.id == **id)) {
            crate::log(crate::LogLevel::Warn, &format!("question {id}: not found, archived, or never run (no result metadata); no stream"));
        }
    }
    Ok(out)
}

/// The read of one question's results.
pub struct QuestionRun {
    pub stream: String,
    id: i64,
    columns: Vec<(String, FieldType)>,
    csv: Option<Csv<Box<dyn Read>>>,
    request: String,
    pub emitted: u64,
    record: Record,
}

impl QuestionRun {
    pub fn new(stream: String, id: i64) -> Self {
        QuestionRun { stream, id, columns: Vec::new(), csv: None, request: String::new(), emitted: 0, record: Record::default() }
    }

    pub fn fill_batch<T: Transport>(&mut self, client: &mut Client<T>) -> Result<Batch> {
        if self.csv.is_none() {
            self.start(client)?;
        }
        let mut rows = Vec::new();
        let mut bytes = 0usize;
        let n = self.columns.len();
        // One record buffer for the whole read: a row costs no allocation
        // but its text values' (see `Record`).
        let mut record = std::mem::take(&mut self.record);
        let result = loop {
            let csv = self.csv.as_mut().expect("started");
            match csv.next_into(&mut record) {
                Err(e) => break Err(self.body_error(e)),
                Ok(false) => break Ok(self.batch(rows, Some("{}".to_string()))),
                Ok(true) => {}
            }
            if record.len() != n {
                break Err(self.bad_row(&record.to_strings()));
            }
            let text = match record.text() {
                Ok(t) => t,
                Err(e) => break Err(self.body_error(e)),
            };
            bytes += text.len() + n;
            let row: Vec<Value> = record.fields(text).zip(&self.columns).map(|(v, (_, ty))| csv_value(v, *ty)).collect();
            rows.push(row);
            self.emitted += 1;
            if rows.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
                break Ok(self.batch(rows, None));
            }
        };
        self.record = record;
        result
    }

    fn start<T: Transport>(&mut self, client: &mut Client<T>) -> Result<()> {
        let id = self.id;
        let card_endpoint = format!("card/{id}");
        let response = client.get(&card_endpoint, &[])?;
        let text = read_limited(response.body, 64 << 20)
            .map_err(|e| Error::transient(format!("GET /api/{card_endpoint}: reading the body failed ({e})")))?;
        let card: Card = serde_json::from_str(&text)
            .map_err(|e| Error::system(format!("GET /api/{card_endpoint}: not a card ({e})")))?;
        let question = question_of(card)
            .ok_or_else(|| Error::config(format!("question {id} has no result metadata (it was never run); run it once in Metabase")))?;
        self.columns = question.columns;

        let endpoint = format!("card/{id}/query/csv");
        self.request = format!("POST /api/{endpoint}");
        let form = [("format_rows", "false".to_string()), ("parameters", "[]".to_string())];
        let response = client.post_form(&endpoint, &form)?;
        let json = response.header("content-type").is_some_and(|c| c.contains("json"));
        let mut csv = Csv::new(response.body);
        if json || csv.peek_byte().map_err(|e| self.body_error(e))? == Some(b'{') {
            // A failed query answers 2xx/202 with `{"status": "failed", "error": …}`.
            let text = csv.rest_limited(1 << 20).map_err(|e| self.body_error(e))?;
            return Err(self.failed_query(&text));
        }
        let header = csv.next_record().map_err(|e| self.body_error(e))?;
        let header = header.ok_or_else(|| Error::system(format!("{}: the export is empty (no header row)", self.request)))?;
        if header.len() != self.columns.len() {
            return Err(Error::system(format!(
                "{}: the export has {} columns but the card's result_metadata has {}; refresh the question's metadata by running it in Metabase",
                self.request,
                header.len(),
                self.columns.len()
            )));
        }
        self.csv = Some(csv);
        Ok(())
    }

    fn batch(&self, rows: Vec<Vec<Value>>, checkpoint: Option<String>) -> Batch {
        Batch {
            stream: self.stream.clone(),
            columns: self.columns.iter().map(|(n, _)| n.clone()).collect(),
            rows,
            checkpoint,
        }
    }

    fn failed_query(&self, text: &str) -> Error {
        #[derive(serde::Deserialize)]
        struct Failed {
            status: Option<String>,
            error: Option<serde_json::Value>,
            error_type: Option<String>,
        }
        match serde_json::from_str::<Failed>(text.trim()) {
            Ok(f) if f.status.as_deref() == Some("failed") || f.error.is_some() => {
                let said = f.error.map(|e| e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string())).unwrap_or_default();
                let kind = f.error_type.map(|t| format!(" ({t})")).unwrap_or_default();
                Error::system(format!("{}: the question failed in Metabase{kind}: {}", self.request, crate::client::message_from_body(&said)))
            }
            _ => Error::system(format!(
                "{}: expected CSV, got a JSON answer ({})",
                self.request,
                crate::client::message_from_body(text)
            )),
        }
    }

    fn bad_row(&self, record: &[String]) -> Error {
        let first = record.first().map(String::as_str).unwrap_or("");
        if first.trim_start().starts_with('{') {
            // Older versions append the failure to a streamed body.
            return self.failed_query(&record.join(","));
        }
        Error::system(format!(
            "{}: row {} has {} values for {} columns (the export was cut or is not the question's)",
            self.request,
            self.emitted + 1,
            record.len(),
            self.columns.len()
        ))
    }

    fn body_error(&self, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::InvalidData {
            return Error::system(format!("{}: {e}", self.request));
        }
        Error::transient(format!("{}: the connection broke while reading the export ({e})", self.request))
    }
}

/// One CSV value, parsed by its column's type. Empty is null; a value that
/// does not fit its type keeps its text. Only text is allocated.
pub fn csv_value(v: &str, ty: FieldType) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    let text = || Value::String(v.to_string());
    match ty {
        FieldType::Integer => match v.parse::<i64>() {
            Ok(i) => Value::Integer(i),
            Err(_) => text(),
        },
        FieldType::Number => match v.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::Number(f),
            _ => text(),
        },
        FieldType::Boolean if v.eq_ignore_ascii_case("true") => Value::Boolean(true),
        FieldType::Boolean if v.eq_ignore_ascii_case("false") => Value::Boolean(false),
        FieldType::Boolean => text(),
        FieldType::Date => match parse_date_days(v.get(..10).unwrap_or(v)) {
            Some(d) if v.len() == 10 || v.as_bytes().get(10).is_some_and(|b| *b == b'T' || *b == b' ') => Value::Date(d),
            _ => text(),
        },
        FieldType::Timestamp => match parse_timestamp_micros(v) {
            Some(t) => Value::Timestamp(t),
            None => text(),
        },
        FieldType::Object | FieldType::Array => {
            match serde_json::from_str::<&serde_json::value::RawValue>(v).map(|r| r.get().as_bytes()[0]) {
                Ok(b'{') => Value::Object(v.to_string()),
                Ok(b'[') => Value::Array(v.to_string()),
                _ => text(),
            }
        }
        FieldType::String => text(),
    }
}

/// The largest CSV field accepted (memory stays bounded on a bad body).
const MAX_FIELD: usize = 64 << 20;

/// A streaming RFC 4180 reader: records come out one at a time as the body
/// arrives. Quoted fields may hold commas, quotes (`""`) and line breaks.
pub struct Csv<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    started: bool,
}

impl<R: Read> Csv<R> {
    pub fn new(reader: R) -> Self {
        Csv { reader, buf: vec![0; 64 * 1024], pos: 0, end: 0, eof: false, started: false }
    }

    fn fill(&mut self) -> std::io::Result<bool> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
        if self.eof {
            return Ok(false);
        }
        let n = crate::http::read_some(&mut self.reader, &mut self.buf[self.end..])?;
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
                        return Err(bad("a value larger than 64 MiB"));
                    }
                    continue;
                };
                rec.bytes.extend_from_slice(&avail[..k]);
                self.pos += k + 1;
                match self.next_byte()? {
                    Some(b'"') => rec.bytes.push(b'"'),
                    Some(b',') => {
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
                let Some(k) = avail.iter().position(|&b| matches!(b, b',' | b'\n' | b'\r' | b'"')) else {
                    rec.bytes.extend_from_slice(avail);
                    self.pos = self.end;
                    if rec.bytes.len() - field_start > MAX_FIELD {
                        return Err(bad("a value larger than 64 MiB"));
                    }
                    continue;
                };
                let b = avail[k];
                rec.bytes.extend_from_slice(&avail[..k]);
                self.pos += k + 1;
                match b {
                    b'"' if rec.bytes.len() == field_start => quoted = true,
                    b'"' => rec.bytes.push(b'"'),
                    b',' => {
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
                return Err(bad("a value larger than 64 MiB"));
            }
        }
    }
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

/// The questions of the config (for a read without a catalog).
pub fn configured(config: &Config) -> bool {
    config.questions != Questions::None
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
    fn types_from_result_metadata() {
        use FieldType as F;
        for (t, want) in [
            ("type/Integer", F::Integer),
            ("type/BigInteger", F::Integer),
            ("type/Float", F::Number),
            ("type/Decimal", F::Number),
            ("type/Text", F::String),
            ("type/Boolean", F::Boolean),
            ("type/Date", F::Date),
            ("type/DateTime", F::Timestamp),
            ("type/DateTimeWithTZ", F::Timestamp),
            ("type/DateTimeWithLocalTZ", F::Timestamp),
            ("type/Time", F::String),
            ("type/UUID", F::String),
            ("type/JSON", F::Object),
            ("type/SomethingNew", F::String),
        ] {
            assert_eq!(field_type(Some("type/*"), Some(t)), want, "{t}");
        }
        assert_eq!(field_type(Some("type/Integer"), None), F::Integer, "base_type when no effective_type");
        assert_eq!(csv_value("42".into(), F::Integer), Value::Integer(42));
        assert_eq!(csv_value("123456789012345678901".into(), F::Integer), Value::String("123456789012345678901".into()));
        assert_eq!(csv_value("2.5".into(), F::Number), Value::Number(2.5));
        assert_eq!(csv_value("".into(), F::Number), Value::Null);
        assert_eq!(csv_value("2018-01-02".into(), F::Date), Value::Date(17_533));
        assert_eq!(csv_value("2018-01-02T00:00:00Z".into(), F::Date), Value::Date(17_533));
        assert_eq!(csv_value("2018-01-02T01:00:00+01:00".into(), F::Timestamp), Value::Timestamp(17_533 * 86_400_000_000));
        assert_eq!(csv_value("TRUE".into(), F::Boolean), Value::Boolean(true));
        assert_eq!(csv_value("{\"a\":1}".into(), F::Object), Value::Object("{\"a\":1}".into()));
        assert_eq!(csv_value("not json".into(), F::Object), Value::String("not json".into()));
    }

    #[test]
    fn stream_names_are_stable_and_parse_back() {
        assert_eq!(stream_name(27, "Orders + Customers"), "question_27_orders_customers");
        assert_eq!(stream_name(3, "Коллекция"), "question_3");
        assert_eq!(stream_name(9, "Customer_lifetime_value over time"), "question_9_customer_lifetime_value_over_time");
        assert_eq!(stream_id("question_27_orders_customers"), Some(27));
        assert_eq!(stream_id("question_3"), Some(3));
        assert_eq!(stream_id("question_x"), None);
        assert_eq!(stream_id("question_27x"), None);
        assert_eq!(stream_id("cards"), None);
    }

    #[test]
    fn duplicate_names_are_made_unique() {
        let meta: Vec<Column> = serde_json::from_str(
            r#"[{"name":"id","display_name":"ID","base_type":"type/Integer"},{"name":"id","display_name":"ID","base_type":"type/Text"},{"display_name":"x"}]"#,
        )
        .unwrap();
        let cols = columns(&meta);
        assert_eq!(cols.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["id", "id_2", "x"]);
    }
}
