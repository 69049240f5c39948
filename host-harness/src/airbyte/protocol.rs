//! The Airbyte protocol writer: one JSON message per line on stdout.
//!
//! Rare messages (SPEC, CATALOG, TRACE, STATE, LOG) are built with
//! `serde_json`; RECORD lines, which are the bulk of a read, are formatted by
//! hand into one reused buffer per batch ([`format_records`], which a read
//! runs on a second thread: see `formatter`), so a row costs no
//! `serde_json::Value` tree and no per-value allocation. The output is a
//! `BufWriter` over locked stdout, flushed after every batch and every rare
//! message.
//!
//! Every string written passes through the secret scrubber.

use crate::runtime::bindings::{Batch, FailureKind};
use arrow_columns::Cell;
use crate::diagnostics::secrets::{self, Scrubber};
use crate::airbyte::timefmt;
use serde_json::json;
use serde_json::value::RawValue;
use std::io::{self, Write};

/// Airbyte's `failure_type` of a TRACE ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureType {
    Config,
    Transient,
    System,
}

impl FailureType {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureType::Config => "config_error",
            FailureType::Transient => "transient_error",
            FailureType::System => "system_error",
        }
    }
}

impl From<FailureKind> for FailureType {
    fn from(k: FailureKind) -> Self {
        match k {
            FailureKind::Config => FailureType::Config,
            FailureKind::Transient => FailureType::Transient,
            FailureKind::System => FailureType::System,
            // Missing permissions are the user's to fix (another key, another
            // role): Airbyte's config_error. The read goes on (commands.rs).
            FailureKind::Unavailable => FailureType::Config,
        }
    }
}

/// A stream's lifecycle status, as TRACE STREAM_STATUS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    Started,
    Complete,
    Incomplete,
}

impl StreamStatus {
    fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Started => "STARTED",
            StreamStatus::Complete => "COMPLETE",
            StreamStatus::Incomplete => "INCOMPLETE",
        }
    }
}

/// A row the host could not turn into a RECORD (a guest contract violation).
#[derive(Debug)]
pub struct RowError {
    pub message: String,
    pub detail: String,
}

/// Appends `s` as a JSON string literal (quotes included).
///
/// Escapes `"`, `\` and the C0 controls; everything else (all of Unicode,
/// including U+2028/2029, which JSON allows) is copied as-is in runs.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    // The runs between bytes to escape are found 16 bytes at a time (most
    // strings have none), not one byte at a time.
    while let Some(i) = json_scan::find_string_special(bytes, start) {
        let b = bytes[i];
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            _ => "",
        };
        // `i` is at an ASCII byte, so both slices fall on char boundaries.
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

pub struct Protocol<W: Write> {
    out: W,
    /// `out` ends in the process's stdout, so another thread may write
    /// whole RECORD lines straight to it while `out`'s buffer is empty.
    stdout: bool,
}

impl<W: Write> Protocol<W> {
    pub fn new(out: W) -> Self {
        Protocol { out, stdout: false }
    }

    /// A writer over the process's stdout (see [`Self::lines_on_stdout`]).
    pub fn on_stdout(out: W) -> Self {
        Protocol { out, stdout: true }
    }

    /// Whether RECORD lines may be written to the process's stdout directly
    /// between two messages (every message method leaves `out` flushed).
    pub fn lines_on_stdout(&self) -> bool {
        self.stdout
    }

    /// Writes one message and a newline, scrubbed, then flushes.
    fn message(&mut self, v: &serde_json::Value) -> io::Result<()> {
        let text = serde_json::to_string(v).map_err(io::Error::other)?;
        let text = secrets::global().scrub(&text);
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// Writes a message whose JSON text was already assembled (and contains
    /// pre-validated raw JSON), scrubbed, then flushes.
    fn raw_message(&mut self, text: &str) -> io::Result<()> {
        let text = secrets::global().scrub(text);
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    pub fn spec(&mut self, connection_specification: &RawValue) -> io::Result<()> {
        let mut s = String::from(
            r#"{"type":"SPEC","spec":{"documentationUrl":"https://www.metabase.com/docs/latest/api","connectionSpecification":"#,
        );
        s.push_str(&one_line(connection_specification.get()));
        s.push_str("}}");
        self.raw_message(&s)
    }

    pub fn connection_status(&mut self, failure: Option<&str>) -> io::Result<()> {
        let status = match failure {
            None => json!({"status": "SUCCEEDED"}),
            Some(m) => json!({"status": "FAILED", "message": m}),
        };
        self.message(&json!({"type": "CONNECTION_STATUS", "connectionStatus": status}))
    }

    pub fn catalog(&mut self, streams: Vec<serde_json::Value>) -> io::Result<()> {
        self.message(&json!({"type": "CATALOG", "catalog": {"streams": streams}}))
    }

    pub fn trace_error(
        &mut self,
        failure: FailureType,
        message: &str,
        internal_message: Option<&str>,
        stream: Option<&str>,
    ) -> io::Result<()> {
        let mut error = json!({
            "message": message,
            "internal_message": internal_message,
            "failure_type": failure.as_str(),
        });
        if let Some(s) = stream {
            error["stream_descriptor"] = json!({"name": s});
        }
        self.message(&json!({
            "type": "TRACE",
            "trace": {"type": "ERROR", "emitted_at": timefmt::now_millis() as f64, "error": error},
        }))
    }

    pub fn stream_status(&mut self, stream: &str, status: StreamStatus) -> io::Result<()> {
        self.message(&json!({
            "type": "TRACE",
            "trace": {
                "type": "STREAM_STATUS",
                "emitted_at": timefmt::now_millis() as f64,
                "stream_status": {"stream_descriptor": {"name": stream}, "status": status.as_str()},
            },
        }))
    }

    /// An Airbyte LOG message (`level` is FATAL/ERROR/WARN/INFO/DEBUG/TRACE).
    pub fn log(&mut self, level: &str, message: &str) -> io::Result<()> {
        self.message(&json!({"type": "LOG", "log": {"level": level, "message": message}}))
    }

    /// A per-stream STATE with the checkpoint embedded as-is.
    pub fn state(&mut self, stream: &str, checkpoint: &RawValue, record_count: u64) -> io::Result<()> {
        let mut s = String::from(r#"{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"#);
        push_json_str(&mut s, stream);
        s.push_str(r#"},"stream_state":"#);
        s.push_str(&one_line(checkpoint.get()));
        s.push_str(r#"},"sourceStats":{"recordCount":"#);
        s.push_str(&format!("{:.1}", record_count as f64));
        s.push_str("}}}");
        self.raw_message(&s)
    }

    /// Writes RECORD lines [`format_records`] assembled (already scrubbed,
    /// each ending in a newline), without flushing.
    pub fn write_lines(&mut self, lines: &str) -> io::Result<()> {
        self.out.write_all(lines.as_bytes())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The writer back (for output collected in memory).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Formats every row of `batch` as one RECORD line each, appended to
/// `lines` (cleared first), and returns how many rows it formatted.
///
/// This is the costly half of writing a batch (every value typed, escaped,
/// scrubbed; nested JSON checked), and it needs nothing but the batch: the
/// read loop runs it on a second thread while the guest produces the next
/// batch (see `formatter`). The batch's columns are checked first (buffer
/// sizes, offsets, UTF-8: a bad one fails the batch before any line); a row
/// that cannot be written (invalid JSON text) stops it: `lines` then holds
/// exactly the whole lines of the rows before it, with their count and the error.
pub fn format_records(
    batch: &Batch,
    emitted_at: i64,
    secrets: &Scrubber,
    lines: &mut String,
) -> Result<usize, (usize, RowError)> {
    lines.clear();
    let mut views = Vec::with_capacity(batch.columns.len());
    for c in &batch.columns {
        views.push(c.view(batch.rows).map_err(|e| {
            let message = format!("the connector sent a malformed column {} in stream {}", c.name, batch.stream);
            (0, RowError { message, detail: format!("{e} (a batch of {} rows)", batch.rows) })
        })?);
    }
    let mut prefix = String::from(r#"{"type":"RECORD","record":{"stream":"#);
    push_json_str(&mut prefix, &batch.stream);
    prefix.push_str(r#","data":{"#);
    let suffix = format!(r#"}},"emitted_at":{emitted_at}}}}}"#);
    let keys: Vec<String> = batch
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut k = String::with_capacity(c.name.len() + 4);
            if i > 0 {
                k.push(',');
            }
            push_json_str(&mut k, &c.name);
            k.push(':');
            k
        })
        .collect();

    let plans: Vec<Plan> = views.iter().map(|v| Plan::of(v.text(), secrets)).collect();

    let rows = batch.rows as usize;
    for row in 0..rows {
        let line_start = lines.len();
        lines.push_str(&prefix);
        for (i, ((key, view), plan)) in keys.iter().zip(&views).zip(&plans).enumerate() {
            lines.push_str(key);
            if let Err(e) = push_value(lines, view.cell(row), secrets, *plan) {
                lines.truncate(line_start);
                let e = RowError {
                    message: format!(
                        "the connector sent invalid JSON in column {} of stream {}",
                        batch.columns[i].name, batch.stream
                    ),
                    detail: format!("row {row}: {e}"),
                };
                return Err((row, e));
            }
        }
        lines.push_str(&suffix);
        lines.push('\n');
    }
    Ok(rows)
}

/// What a text column's values need, found once over all of them (a value
/// holds only what the whole text holds), not value by value.
#[derive(Clone, Copy)]
struct Plan {
    /// No secret anywhere: nothing to scrub.
    clean: bool,
    /// Nothing to escape anywhere (no `"`, `\` or control character).
    plain: bool,
    /// No raw line break anywhere.
    one_line: bool,
}

impl Plan {
    fn of(text: &str, secrets: &Scrubber) -> Plan {
        let b = text.as_bytes();
        Plan {
            clean: secrets.is_clean(text),
            plain: json_scan::find_string_special(b, 0).is_none(),
            one_line: memchr::memchr2(b'\n', b'\r', b).is_none(),
        }
    }
}

/// Appends one typed value as JSON (`plan`: what its column needs).
fn push_value(out: &mut String, value: Cell<'_>, secrets: &Scrubber, plan: Plan) -> Result<(), String> {
    match value {
        Cell::Null => out.push_str("null"),
        Cell::Str(s) if plan.clean && plan.plain => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        Cell::Str(s) if plan.clean => push_json_str(out, s),
        Cell::Str(s) => push_json_str(out, &secrets.scrub(s)),
        Cell::Int(i) => push_i64(out, i),
        Cell::Num(f) => match serde_json::Number::from_f64(f) {
            Some(n) => {
                use std::fmt::Write;
                let _ = write!(out, "{n}");
            }
            None => out.push_str("null"),
        },
        Cell::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Cell::Ts(us) => {
            out.push('"');
            timefmt::push_timestamp_micros(out, us);
            out.push('"');
        }
        Cell::Date(d) => {
            out.push('"');
            timefmt::push_date_days(out, d);
            out.push('"');
        }
        // A JSON string (a value of a column that fell back to JSON text) is
        // written as a string value is: decoded, scrubbed, escaped our way.
        Cell::Json(j) if j.starts_with('"') => {
            let s: String = serde_json::from_str(j).map_err(|e| e.to_string())?;
            push_json_str(out, &secrets.scrub(&s));
        }
        Cell::Json(j) if plan.clean && plan.one_line => {
            // The component is untrusted: its JSON text is checked (strictly,
            // one walk, no tree) before it is embedded in a line.
            let span = json_scan::one_value(j).map_err(|e| e.to_string())?;
            out.push_str(&j[span]);
        }
        Cell::Json(j) => {
            let scrubbed = secrets.scrub(j);
            let span = json_scan::one_value(&scrubbed).map_err(|e| e.to_string())?;
            out.push_str(&one_line(&scrubbed[span]));
        }
    }
    Ok(())
}

/// Appends an integer in decimal, without `fmt`'s machinery (a question
/// result is mostly integers: `write!` was ~6% of such a read).
fn push_i64(out: &mut String, i: i64) {
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&buf[at..]).expect("ASCII digits"));
}

/// Valid JSON text on one line. Raw line breaks in valid JSON can only be
/// insignificant whitespace (inside strings they must be escaped), so
/// replacing them with spaces keeps the value identical.
pub fn one_line(json: &str) -> std::borrow::Cow<'_, str> {
    if memchr::memchr2(b'\n', b'\r', json.as_bytes()).is_some() {
        std::borrow::Cow::Owned(json.replace(['\n', '\r'], " "))
    } else {
        std::borrow::Cow::Borrowed(json)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut out = String::new();
        push_json_str(&mut out, s);
        out
    }

    #[test]
    fn escapes_quotes_controls_and_keeps_unicode() {
        let cases = [
            "plain",
            "say \"hi\"",
            "back\\slash",
            "line\nbreak\r\ttab",
            "\u{0}\u{1}\u{1f}\u{8}\u{c}\u{7f}",
            "é 日本語 🦀 \u{2028}",
            "",
        ];
        for s in cases {
            let e = esc(s);
            let back: String = serde_json::from_str(&e).unwrap();
            assert_eq!(back, s, "{e}");
            assert!(!e.contains('\n'));
        }
        assert_eq!(esc("a\"b\u{1}"), r#""a\"b\u0001""#);
        assert_eq!(esc("🦀"), "\"🦀\"");
    }

    /// A batch of `rows` (cells by column), built as the guest builds one.
    pub(crate) fn batch_of(stream: &str, columns: &[&str], rows: Vec<Vec<Cell<'_>>>, checkpoint: Option<&str>) -> Batch {
        let mut built = arrow_columns::Columns::default();
        for row in rows {
            built.push_row(row);
        }
        let names: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let (rows, columns) = built.finish(&names, &[]);
        Batch { stream: stream.into(), rows, columns: columns.into_iter().map(Into::into).collect(), checkpoint: checkpoint.map(str::to_string) }
    }

    fn batch(columns: &[&str], rows: Vec<Vec<Cell<'_>>>) -> Batch {
        batch_of("cards", columns, rows, None)
    }

    fn format(b: &Batch, emitted_at: i64) -> (Result<usize, (usize, RowError)>, String) {
        let mut lines = String::from("left over from the previous batch\n");
        let r = format_records(b, emitted_at, &crate::diagnostics::secrets::Secrets::new().snapshot(), &mut lines);
        (r, lines)
    }

    #[test]
    fn writes_records_with_every_value_type() {
        let b = batch(
            &["n", "s", "i", "f", "nan", "b", "ts", "d", "a", "o"],
            vec![vec![
                Cell::Null,
                Cell::Str("x\"y"),
                Cell::Int(-42),
                Cell::Num(1.5),
                Cell::Num(f64::NAN),
                Cell::Bool(true),
                Cell::Ts(1_718_798_255_859_990),
                Cell::Date(19_782),
                Cell::Json("[1,\n 2]"),
                Cell::Json(" {\"k\": null} "),
            ]],
        );
        let (written, text) = format(&b, 123);
        assert_eq!(written.unwrap(), 1);
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            json!({"type":"RECORD","record":{"stream":"cards","emitted_at":123,"data":{
                "n":null,"s":"x\"y","i":-42,"f":1.5,"nan":null,"b":true,
                "ts":"2024-06-19T11:57:35.859990Z","d":"2024-02-29","a":[1,2],"o":{"k":null}}}})
        );
    }

    #[test]
    fn columns_checked_whole_still_scrub_and_escape_each_value() {
        // Secrets and bytes to escape in some values of a column (so the
        // whole-column check finds them), and a secret split across two
        // values (found in the column, in neither value): every line is
        // what formatting value by value gives.
        let secrets = crate::diagnostics::secrets::Secrets::new();
        secrets.add("hunter22");
        let rows = vec![
            vec![Cell::Str("plain"), Cell::Json("{\"a\":1}"), Cell::Str("clean")],
            vec![Cell::Str("say \"hunter22\"\n"), Cell::Json("{\"k\":\n\"hunter22\"}"), Cell::Str("hunt")],
            vec![Cell::Str("tab\there"), Cell::Json("[\"x\"]"), Cell::Str("er22")],
        ];
        let b = batch(&["s", "j", "split"], rows);
        let mut lines = String::new();
        format_records(&b, 5, &secrets.snapshot(), &mut lines).unwrap();
        let data: Vec<serde_json::Value> =
            lines.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["record"]["data"].clone()).collect();
        assert_eq!(
            data,
            [
                json!({"s": "plain", "j": {"a": 1}, "split": "clean"}),
                json!({"s": "say \"REDACTED\"\n", "j": {"k": "REDACTED"}, "split": "hunt"}),
                json!({"s": "tab\there", "j": ["x"], "split": "er22"}),
            ]
        );
        assert!(lines.lines().all(|l| !l.contains("hunter22")), "{lines}");
    }

    #[test]
    fn invalid_nested_json_names_stream_and_column() {
        let b = batch(
            &["id", "meta"],
            vec![
                vec![Cell::Int(1), Cell::Json("{}")],
                vec![Cell::Int(2), Cell::Json("{oops")],
            ],
        );
        let (result, text) = format(&b, 1);
        let (written, err) = result.unwrap_err();
        assert!(err.message.contains("meta") && err.message.contains("cards"), "{}", err.message);
        // The first, valid row was formatted whole; nothing of the second.
        assert_eq!(written, 1);
        assert_eq!(text.lines().count(), 1);
        assert!(text.ends_with("}\n") && text.starts_with("{\"type\":\"RECORD\""), "{text}");
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for i in [0, 1, -1, 9, 10, -10, 1234567890, i64::MAX, i64::MIN, i64::MIN + 1] {
            let mut s = String::new();
            push_i64(&mut s, i);
            assert_eq!(s, i.to_string());
        }
    }

    #[test]
    fn a_malformed_column_fails_the_batch_before_any_line() {
        let mut b = batch(&["a", "b"], vec![vec![Cell::Int(1), Cell::Null], vec![Cell::Int(2), Cell::Null]]);
        b.columns[0].values.truncate(8);
        let (result, text) = format(&b, 1);
        let (written, err) = result.unwrap_err();
        assert_eq!((written, text.as_str()), (0, ""));
        assert!(err.message.contains("malformed column a in stream cards"), "{}", err.message);
    }

    #[test]
    fn json_text_of_a_fallback_column_is_written_as_its_values() {
        let b = batch(&["t"], vec![vec![Cell::Ts(1_718_798_255_859_990)], vec![Cell::Str("not\na \"time\"")], vec![Cell::Int(7)], vec![Cell::Num(2.5)]]);
        assert_eq!(b.columns[0].kind, crate::runtime::bindings::ColumnKind::Json);
        let (written, text) = format(&b, 1);
        assert_eq!(written.unwrap(), 4);
        let data: Vec<String> = text.lines().map(|l| l.split(r#""data":"#).nth(1).unwrap().split(r#","emitted_at""#).next().unwrap().to_string()).collect();
        assert_eq!(data, [r#"{"t":"2024-06-19T11:57:35.859990Z"}"#, r#"{"t":"not\na \"time\""}"#, r#"{"t":7}"#, r#"{"t":2.5}"#]);
    }

    #[test]
    fn state_embeds_checkpoint_and_float_count() {
        let mut p = Protocol::new(Vec::new());
        let cp: Box<RawValue> = serde_json::from_str("{\"updated_at\":\n\"x\"}").unwrap();
        p.state("cards", &cp, 12).unwrap();
        let text = String::from_utf8(p.out).unwrap();
        assert!(text.contains(r#""recordCount":12.0"#), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["state"]["stream"]["stream_state"]["updated_at"], "x");
        assert_eq!(v["state"]["stream"]["stream_descriptor"]["name"], "cards");
    }

    #[test]
    fn trace_error_shape() {
        let mut p = Protocol::new(Vec::new());
        p.trace_error(FailureType::Config, "bad", None, Some("users")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&p.out).unwrap();
        assert_eq!(v["trace"]["error"]["failure_type"], "config_error");
        assert_eq!(v["trace"]["error"]["stream_descriptor"]["name"], "users");
        assert!(v["trace"]["error"]["internal_message"].is_null());
        assert!(v["trace"]["emitted_at"].is_f64());
    }
}
