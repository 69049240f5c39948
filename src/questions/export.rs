//! Reading one CSV export (`POST /api/card/:id/query/csv`, and any other
//! export of the same writer) as typed rows, as Metabase writes it:
//! - a failure before the first row answers JSON instead of CSV (any
//!   status), and one after some rows is the JSON object `write-error!`
//!   (`async/streaming_response.clj`) appends to the 200 body: both end the
//!   stream with Metabase's own message, the rows before stay emitted;
//! - the header row is checked against the card's columns
//!   ([`ExportColumns::match_header`]), so each position is read as the
//!   column the export wrote there;
//! - a body of exactly as many rows as a download cap is reported as cut
//!   (see [`caps`]), never as complete;
//! - an admin's `csv-field-separator` is read from the server's properties
//!   or recognised in the header.

use super::columns::ExportColumns;
use super::typing::{csv_value_unusual, csv_value_usual, NotOfType};
use super::Question;
use crate::api::client::{message_from_body, ServerProperties};
use crate::api::transport::Response;
use crate::decode::csv::{Csv, Record};
use crate::error::{Cause, Error, Result};
use crate::wit::{FieldType, Value};
use crate::LogLevel;

/// The rows an export stops at when a download cap cuts it: Metabase's
/// `absolute-max-results` (1,048,575, `query_processor/settings.clj`; the
/// default `download-row-limit` of `middleware/limit.clj`) or the instance's
/// own `download-row-limit` where `session/properties` shows it, and the
/// 10,000 rows of a user with limited download permission (Enterprise,
/// `max-rows-in-limited-downloads` in `advanced_permissions/query_processor/middleware/permissions.clj`).
pub fn caps(server: &ServerProperties) -> [u64; 2] {
    [server.download_row_limit.unwrap_or(1_048_575), 10_000]
}

/// Separators an admin may choose, tried on a header that commas do not
/// split into the card's columns.
const SEPARATORS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Whether the server is one whose exports have no `format_rows` (added in
/// 0.49.3): 0.49.0 to 0.49.2 write values formatted for display.
pub fn display_formatted(server: &ServerProperties) -> bool {
    let Some(tag) = server.version.as_deref() else { return false };
    let mut parts = tag.trim_start_matches(['v', 'V']).split(['.', '-']);
    let _major = parts.next();
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    let patch = parts.next().and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    minor == Some(49) && patch < 3
}

/// The questions as this server's exports deliver them: every column as
/// text where values are display-formatted (with a warning naming them).
pub fn as_served(mut questions: Vec<Question>, server: &ServerProperties) -> Vec<Question> {
    if display_formatted(server) && !questions.is_empty() {
        crate::log(LogLevel::Warn, &formatted_warning(server));
        for q in &mut questions {
            q.columns.iter_mut().for_each(|c| c.1 = FieldType::String);
        }
    }
    questions
}

fn formatted_warning(server: &ServerProperties) -> String {
    format!(
        "Metabase {} exports question results formatted for display (`format_rows` exists from 0.49.3 on): every question column is text, as displayed",
        server.version.as_deref().unwrap_or("?")
    )
}

/// One export being read.
pub struct ExportReader {
    csv: Csv<Box<dyn std::io::Read>>,
    /// Each CSV position's column.
    columns: Vec<(String, FieldType)>,
    /// `POST /api/...`, for messages.
    request: String,
    /// Rows read so far.
    emitted: u64,
    /// One record buffer for the whole read: a row costs no allocation but
    /// its text values'.
    record: Record,
    caps: [u64; 2],
    /// The query's own row limit: a body of that many rows is whole.
    own_limit: Option<u64>,
    /// Whether the rounding of an integer beyond 64 bits was reported.
    rounded: bool,
}

impl ExportReader {
    /// Starts reading `response`, the answer to `request`: refuses a JSON
    /// failure, reads the header and maps it to `columns`.
    pub fn open(response: Response, columns: &ExportColumns, server: &ServerProperties, request: String, own_limit: Option<u64>) -> Result<Self> {
        let json = response.header("content-type").is_some_and(|c| c.contains("json"));
        let mut csv = Csv::new(response.body);
        let body_error = |e| body_error(&request, e);
        if json || csv.peek_byte().map_err(body_error)? == Some(b'{') {
            // A failed query answers `{"status": "failed", "error": …}` (2xx or not).
            let text = csv.rest_limited(1 << 20).map_err(body_error)?;
            return Err(failed_query(&request, &text));
        }
        let expected = columns.declared().len();
        let chosen = server.csv_field_separator.as_deref().and_then(|s| match s.as_bytes() {
            [b] => Some(*b),
            _ => None,
        });
        let sep = match chosen {
            Some(b) => Some(b),
            None => csv.separator_for(&SEPARATORS, expected).map_err(body_error)?,
        };
        csv.set_separator(sep.unwrap_or(b','));
        let header = csv.next_record().map_err(body_error)?;
        let header = header.ok_or_else(|| Error::system(format!("{request}: the export is empty (no header row)")))?;
        let mapped = columns.match_header(&header).map_err(|m| {
            let separator = if sep.is_none() && header.len() == 1 && expected > 1 {
                " The header is one value: if an admin set `csv-field-separator` to a character other than , ; tab or |, set it back to a comma."
            } else {
                ""
            };
            Error::system(format!(
                "{request}: {m}. The card changed since its columns were read: open the question in Metabase, run it and save it, then run discover again.{separator}"
            ))
        })?;
        if display_formatted(server) {
            crate::log(LogLevel::Warn, &formatted_warning(server));
        }
        let mapped =
            if display_formatted(server) { mapped.into_iter().map(|(n, _)| (n, FieldType::String)).collect() } else { mapped };
        Ok(ExportReader { csv, columns: mapped, request, emitted: 0, record: Record::default(), caps: caps(server), own_limit, rounded: false })
    }

    /// The columns of the CSV positions, in order.
    pub fn columns(&self) -> Vec<String> {
        self.columns.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The next row and the bytes of body it took, or `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<(Vec<Value>, usize)>> {
        if let Some(failure) = self.csv.json_tail(1 << 20).map_err(|e| body_error(&self.request, e))? {
            return Err(self.failed_after_rows(&failure));
        }
        match self.csv.next_into(&mut self.record) {
            Err(e) => return Err(body_error(&self.request, e)),
            Ok(false) => return self.end().map(|()| None),
            Ok(true) => {}
        }
        let n = self.columns.len();
        if self.record.len() != n {
            return Err(self.bad_row());
        }
        let text = self.record.text().map_err(|e| body_error(&self.request, e))?;
        // The usual forms in one pass (an exact-size collect); a value of
        // another form marks the row for the pass below.
        let mut unusual = false;
        let columns = &self.columns;
        let mut row: Vec<Value> = self
            .record
            .fields(text)
            .zip(columns)
            .map(|(v, (_, ty))| csv_value_usual(v, *ty, &mut unusual))
            .collect();
        let bytes = text.len() + n;
        if unusual {
            self.read_unusual(&mut row)?;
        }
        self.emitted += 1;
        Ok(Some((row, bytes)))
    }

    /// Reads again the values of `row` (the current record) that are not of
    /// their type's usual form: rare forms, or an error naming the value.
    #[cold]
    fn read_unusual(&mut self, row: &mut [Value]) -> Result<()> {
        let mut rounded = None;
        let text = self.record.text().map_err(|e| body_error(&self.request, e))?;
        for (i, (v, (_, ty))) in self.record.fields(text).zip(&self.columns).enumerate() {
            let mut unusual = false;
            csv_value_usual(v, *ty, &mut unusual);
            if !unusual {
                continue;
            }
            row[i] = match csv_value_unusual(v, *ty) {
                Ok(Value::Number(f)) if *ty == FieldType::Integer => {
                    rounded.get_or_insert_with(|| (i, v.to_string()));
                    Value::Number(f)
                }
                Ok(value) => value,
                Err(NotOfType) => return Err(self.not_of_type(i, v)),
            };
        }
        if let Some((column, value)) = rounded {
            self.report_rounding(column, &value);
        }
        Ok(())
    }

    /// The end of the body: whole, unless it holds exactly a cap's rows.
    fn end(&self) -> Result<()> {
        let n = self.emitted;
        if n == 0 || self.own_limit == Some(n) || !self.caps.contains(&n) {
            return Ok(());
        }
        let why = if n == 10_000 {
            "the 10,000 rows of a user with limited download permission (Enterprise)".to_string()
        } else {
            format!("Metabase's download-row-limit ({n})")
        };
        Err(Error::new(
            Cause::Limit,
            format!(
                "{}: the export stopped at exactly {n} rows, {why}: the result may have more rows, so the stream is not complete. \
                 Raise the limit (download-row-limit, or the user's download permission), or split the question (a filter, or one question per range), so that each export stays under it.",
                self.request
            ),
        ))
    }

    fn report_rounding(&mut self, column: usize, value: &str) {
        if !self.rounded {
            self.rounded = true;
            crate::log(
                LogLevel::Warn,
                &format!(
                    "{}: column `{}` holds {value}, beyond 64 bits: such values arrive as the nearest double",
                    self.request, self.columns[column].0
                ),
            );
        }
    }

    fn not_of_type(&self, column: usize, value: &str) -> Error {
        let (name, ty) = &self.columns[column];
        let shown: String = value.chars().take(80).collect();
        Error::system(format!(
            "{}: row {}, column `{name}`: `{shown}` is not {} as the card's result_metadata declares. \
             If the column shows display values (remapped to another field or to custom values), or its type changed, \
             run the question in Metabase and save it so its metadata is current, then run discover again.",
            self.request,
            self.emitted + 1,
            type_name(*ty)
        ))
    }

    fn failed_after_rows(&self, text: &str) -> Error {
        let e = failed_query(&self.request, text);
        let message = format!("{} (after {} rows, which were emitted)", e.message, self.emitted);
        Error { message, ..e }
    }

    fn bad_row(&self) -> Error {
        Error::system(format!(
            "{}: row {} has {} values for {} columns (the export was cut or is not the question's)",
            self.request,
            self.emitted + 1,
            self.record.len(),
            self.columns.len()
        ))
    }
}

fn type_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Integer => "an integer",
        FieldType::Number => "a number",
        FieldType::Boolean => "a boolean",
        FieldType::Date => "a date",
        FieldType::Timestamp => "a date-time",
        FieldType::String | FieldType::Object | FieldType::Array => "text",
    }
}

/// The failure a JSON answer or tail reports, with Metabase's message.
/// A query failure is `{"status": "failed", "error": …, "error_type": …}`;
/// an exception `write-error!` formats is `Throwable->map` plus `_status`
/// (`{"via": …, "trace": …, "cause": "<message>", "_status": 500}`), or
/// `{"message": …}` in older versions.
pub fn failed_query(request: &str, text: &str) -> Error {
    #[derive(serde::Deserialize)]
    struct Failed {
        status: Option<String>,
        error: Option<serde_json::Value>,
        message: Option<serde_json::Value>,
        /// An exception's message, as `Throwable->map` names it.
        cause: Option<serde_json::Value>,
        error_type: Option<String>,
    }
    match serde_json::from_str::<Failed>(text.trim()) {
        Ok(f) if f.status.as_deref() == Some("failed") || f.error.is_some() || f.message.is_some() || f.cause.is_some() => {
            let said = f.error.or(f.message).or(f.cause).map(|e| e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string())).unwrap_or_default();
            let kind = f.error_type.as_ref().map(|t| format!(" ({t})")).unwrap_or_default();
            Error::new(Cause::QueryFailed, format!("{request}: the question failed in Metabase{kind}: {}", message_from_body(&said)))
                .with_error_type(f.error_type)
        }
        _ => Error::system(format!("{request}: expected CSV, got a JSON answer ({})", message_from_body(text))),
    }
}

fn body_error(request: &str, e: std::io::Error) -> Error {
    let cause = Cause::of_io(&e);
    let error = match e.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::FileTooLarge => Error::system(format!("{request}: {e}")),
        _ => Error::transient(format!("{request}: the connection broke while reading the export ({e})")),
    };
    error.with_cause(cause)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questions::typing::ResultColumn;
    use serde_json::json;

    fn export(body: &str, server: &ServerProperties) -> Result<ExportReader> {
        let meta: Vec<ResultColumn> = serde_json::from_value(json!([
            {"name": "id", "display_name": "ID", "base_type": "type/Integer"},
            {"name": "note", "display_name": "Note", "base_type": "type/Text"},
        ]))
        .unwrap();
        let response = Response { status: 200, headers: vec![("Content-Type".into(), "text/csv".into())], body: Box::new(std::io::Cursor::new(body.as_bytes().to_vec())) };
        ExportReader::open(response, &ExportColumns::new(&meta, None), server, "POST /api/card/1/query/csv".into(), None)
    }

    fn read_all(r: &mut ExportReader) -> (Vec<Vec<Value>>, Option<Error>) {
        let mut rows = vec![];
        loop {
            match r.next_row() {
                Ok(Some((row, _))) => rows.push(row),
                Ok(None) => return (rows, None),
                Err(e) => return (rows, Some(e)),
            }
        }
    }

    #[test]
    fn a_failure_after_rows_keeps_the_rows_and_metabases_message() {
        let body = "ID,Note\n1,\"a, \"\"b\"\"\r\nc\"\n2,x\n{\"status\":\"failed\",\"class\":\"java.sql.SQLException\",\"error\":\"Query timed out, after 20 minutes\",\"error_type\":\"timed-out\"}";
        let mut r = export(body, &ServerProperties::default()).unwrap();
        let (rows, e) = read_all(&mut r);
        assert_eq!(rows.len(), 2, "every row before the failure");
        assert_eq!(rows[0], vec![Value::Integer(1), Value::String("a, \"b\"\r\nc".into())]);
        let e = e.unwrap();
        assert_eq!(e.cause, Cause::QueryFailed);
        assert!(e.message.contains("failed in Metabase (timed-out): Query timed out, after 20 minutes (after 2 rows"), "{}", e.message);
    }

    #[test]
    fn a_body_at_a_cap_is_not_complete_unless_the_query_asked_for_it() {
        let body: String = std::iter::once("ID,Note\n".to_string()).chain((0..10_000).map(|i| format!("{i},x\n"))).collect();
        let (rows, e) = read_all(&mut export(&body, &ServerProperties::default()).unwrap());
        assert_eq!(rows.len(), 10_000);
        assert!(e.unwrap().message.contains("stopped at exactly 10000 rows"));
        let server = ServerProperties { download_row_limit: Some(9_999), ..Default::default() };
        let body: String = std::iter::once("ID,Note\n".to_string()).chain((0..9_999).map(|i| format!("{i},x\n"))).collect();
        let (_, e) = read_all(&mut export(&body, &server).unwrap());
        assert!(e.unwrap().message.contains("download-row-limit (9999)"));
    }

    #[test]
    fn another_separator_is_recognised_or_named() {
        let (rows, e) = read_all(&mut export("ID;Note\n1;a,b\n", &ServerProperties::default()).unwrap());
        assert!(e.is_none());
        assert_eq!(rows, vec![vec![Value::Integer(1), Value::String("a,b".into())]]);
        let server = ServerProperties { csv_field_separator: Some("\t".into()), ..Default::default() };
        let (rows, _) = read_all(&mut export("ID\tNote\n2\tb\n", &server).unwrap());
        assert_eq!(rows, vec![vec![Value::Integer(2), Value::String("b".into())]]);
        let e = export("ID#Note\n", &ServerProperties::default()).err().unwrap();
        assert!(e.message.contains("csv-field-separator"), "{}", e.message);
    }

    #[test]
    fn a_value_of_another_type_fails_with_what_to_do() {
        let (rows, e) = read_all(&mut export("ID,Note\n1,a\nWidget,b\n", &ServerProperties::default()).unwrap());
        assert_eq!(rows.len(), 1);
        let e = e.unwrap().message;
        assert!(e.contains("row 2, column `id`: `Widget` is not an integer"), "{e}");
        assert!(e.contains("display values"), "{e}");
    }

    #[test]
    fn versions_without_format_rows() {
        for (tag, formatted) in [("v0.49.0", true), ("v1.49.2", true), ("v0.49.3", false), ("v0.50.5", false), ("v0.48.9", false)] {
            let server = ServerProperties { version: Some(tag.into()), ..Default::default() };
            assert_eq!(display_formatted(&server), formatted, "{tag}");
        }
        let server = ServerProperties { version: Some("v0.49.1".into()), ..Default::default() };
        let (rows, _) = read_all(&mut export("ID,Note\n\"1,234\",a\n", &server).unwrap());
        assert_eq!(rows, vec![vec![Value::String("1,234".into()), Value::String("a".into())]]);
    }
}
