//! `read --output arrow`: batches written as Arrow IPC streams, one file per
//! stream, instead of RECORD lines.
//!
//! A batch's columns are already Arrow buffers (WIT 0.3.0), so each becomes
//! an Arrow array without a copy: the lifted `Vec<u8>`s are handed to
//! `arrow-buffer` as they are. `arrow-data` checks them fully (the component
//! is untrusted: sizes, offsets, UTF-8) before anything is written.
//!
//! `DIR/<stream>.arrow` holds the stream's batches, its schema's metadata
//! naming the stream (`stream`). An IPC stream has one schema, and a
//! stream's columns can change mid-read (an undeclared key appears, or a
//! column falls back to JSON text for a batch): the batch that changes the
//! schema starts the next file, `<stream>.1.arrow`, `<stream>.2.arrow`, ….
//! JSON text columns carry Arrow's canonical `arrow.json` extension name.

use crate::airbyte::protocol::RowError;
use crate::runtime::bindings::{Batch, Column, ColumnKind};
use arrow_array::{make_array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_buffer::Buffer;
use arrow_data::ArrayData;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One open IPC stream file per stream.
pub struct ArrowFiles {
    dir: PathBuf,
    open: HashMap<String, Open>,
}

struct Open {
    schema: SchemaRef,
    writer: StreamWriter<BufWriter<File>>,
    /// Files written for the stream so far, this one included.
    files: usize,
}

impl ArrowFiles {
    pub fn new(dir: &Path) -> ArrowFiles {
        ArrowFiles { dir: dir.to_path_buf(), open: HashMap::new() }
    }

    /// Writes one batch (its buffers moved, not copied) and flushes it, so
    /// that a file read mid-run holds whole batches.
    pub fn write(&mut self, batch: Batch) -> Result<(), RowError> {
        let stream = batch.stream.clone();
        let fail = |what: String| RowError {
            message: format!("the connector sent a batch of stream {stream} that is not valid Arrow data"),
            detail: what,
        };
        if batch.rows == 0 && self.open.contains_key(&stream) {
            // Nothing to add (a stream's last batch, carrying only its checkpoint).
            return Ok(());
        }
        let record = record_batch(batch).map_err(fail)?;
        let io = |e: std::io::Error| RowError { message: format!("cannot write the Arrow file of stream {stream}: {e}"), detail: String::new() };
        let files = match self.open.get(&stream) {
            Some(o) if o.schema == record.schema() => o.files,
            Some(o) => o.files + 1,
            None => 1,
        };
        if self.open.get(&stream).is_none_or(|o| o.files != files) {
            if let Some(mut old) = self.open.remove(&stream) {
                old.writer.finish().map_err(|e| io(std::io::Error::other(e)))?;
            }
            let path = self.dir.join(file_name(&stream, files - 1));
            let file = File::create(&path).map_err(io)?;
            let writer = StreamWriter::try_new(BufWriter::new(file), &record.schema()).map_err(|e| io(std::io::Error::other(e)))?;
            self.open.insert(stream.clone(), Open { schema: record.schema(), writer, files });
        }
        let open = self.open.get_mut(&stream).expect("opened above");
        open.writer.write(&record).map_err(|e| io(std::io::Error::other(e)))?;
        open.writer.get_mut().flush().map_err(io)
    }

    /// Ends every file (the end-of-stream marker).
    pub fn finish(&mut self) -> std::io::Result<()> {
        for (_, mut open) in self.open.drain() {
            open.writer.finish().map_err(std::io::Error::other)?;
        }
        Ok(())
    }
}

/// `cards.arrow`, then `cards.1.arrow`…; characters other than letters,
/// digits, `_`, `-` and `.` become `_`.
fn file_name(stream: &str, k: usize) -> String {
    let safe: String = stream.chars().map(|c| if c.is_ascii_alphanumeric() || "_-.".contains(c) { c } else { '_' }).collect();
    if k == 0 { format!("{safe}.arrow") } else { format!("{safe}.{k}.arrow") }
}

/// The Arrow type of a column kind.
pub fn data_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::String | ColumnKind::Json => DataType::Utf8,
        ColumnKind::Integer => DataType::Int64,
        ColumnKind::Number => DataType::Float64,
        ColumnKind::Boolean => DataType::Boolean,
        ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnKind::Date => DataType::Date32,
    }
}

/// The batch as an Arrow record batch, every buffer moved into it.
fn record_batch(batch: Batch) -> Result<RecordBatch, String> {
    let rows = batch.rows as usize;
    let mut fields = Vec::with_capacity(batch.columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(batch.columns.len());
    for column in batch.columns {
        let name = column.name.clone();
        let (field, array) = array(column, rows).map_err(|e| format!("column {name}: {e}"))?;
        fields.push(field);
        arrays.push(array);
    }
    let schema = Schema::new_with_metadata(fields, HashMap::from([("stream".to_string(), batch.stream)]));
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(Arc::new(schema), arrays, &options).map_err(|e| e.to_string())
}

/// One column as a field and an array: its buffers wrapped, then fully checked.
fn array(column: Column, rows: usize) -> Result<(Field, ArrayRef), String> {
    let ty = data_type(column.kind);
    let mut field = Field::new(column.name, ty.clone(), true);
    if column.kind == ColumnKind::Json {
        field = field.with_metadata(HashMap::from([("ARROW:extension:name".to_string(), "arrow.json".to_string())]));
    }
    let nulls = (column.null_count > 0).then(|| buffer(column.validity));
    let buffers = match column.kind {
        ColumnKind::String | ColumnKind::Json => vec![buffer(column.offsets), buffer(column.values)],
        _ => vec![buffer(column.values)],
    };
    let data = ArrayData::try_new(ty, rows, nulls, 0, buffers, Vec::new()).map_err(|e| e.to_string())?;
    Ok((field, make_array(data)))
}

/// A lifted buffer as an Arrow buffer: moved, not copied, when it is
/// 8-byte aligned (the system allocator aligns every non-empty allocation
/// to 16 bytes); else (an empty `Vec`'s dangling pointer) copied into an
/// aligned one, as Arrow's fixed-width arrays require.
fn buffer(bytes: Vec<u8>) -> Buffer {
    if bytes.as_ptr().align_offset(8) == 0 {
        Buffer::from_vec(bytes)
    } else {
        Buffer::from(bytes.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airbyte::protocol::tests::batch_of;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    use arrow_columns::Cell;

    #[test]
    fn columns_become_arrow_arrays_and_a_new_schema_a_new_file() {
        let dir = std::env::temp_dir().join(format!("arrow-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = ArrowFiles::new(&dir);
        let rows = vec![vec![Cell::Int(1), Cell::Str("é"), Cell::Ts(5)], vec![Cell::Null, Cell::Null, Cell::Null]];
        let b = batch_of("a/b", &["id", "name", "at"], rows, None);
        let record = record_batch(b.clone()).unwrap();
        assert_eq!(record.num_rows(), 2);
        let id = record.column(0).as_primitive::<Int64Type>();
        assert_eq!((id.value(0), id.is_null(1)), (1, true));
        assert_eq!(record.column(1).as_string::<i32>().value(0), "é");
        assert_eq!(record.column(2).as_primitive::<TimestampMicrosecondType>().value(0), 5);
        assert_eq!(record.schema().metadata()["stream"], "a/b");

        files.write(b.clone()).unwrap();
        files.write(b).unwrap();
        files.write(batch_of("a/b", &["id"], vec![vec![Cell::Json("[1]")]], None)).unwrap();
        files.finish().unwrap();
        assert!(dir.join("a_b.arrow").is_file() && dir.join("a_b.1.arrow").is_file());
        let read = arrow_ipc::reader::StreamReader::try_new(File::open(dir.join("a_b.arrow")).unwrap(), None).unwrap();
        assert_eq!(read.map(|b| b.unwrap().num_rows()).sum::<usize>(), 4);

        let mut bad = batch_of("s", &["name"], vec![vec![Cell::Str("é")]], None);
        bad.columns[0].offsets = vec![0, 0, 0, 0, 1, 0, 0, 0];
        assert!(files.write(bad).unwrap_err().message.contains("not valid Arrow data"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
