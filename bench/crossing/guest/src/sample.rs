//! The sample: the product's batches of one stream, read from Arrow IPC
//! stream bytes into plain columns that every layout is gathered from.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_schema::{DataType, SchemaRef};

pub use arrow_columns::Kind;

/// One column's values for every sample row (zero under a null row).
pub enum Data {
    /// `rows + 1` offsets into the UTF-8 bytes.
    Text { offsets: Vec<usize>, bytes: Vec<u8> },
    I64(Vec<i64>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    I32(Vec<i32>),
}

pub struct SampleColumn {
    pub name: String,
    pub kind: Kind,
    pub valid: Vec<bool>,
    pub data: Data,
}

pub struct Sample {
    pub stream: String,
    pub schema: SchemaRef,
    pub columns: Vec<SampleColumn>,
    pub rows: usize,
    /// The product's batch sizes, in order: later batches cycle through them.
    pub batch_sizes: Vec<usize>,
}

impl Sample {
    pub fn read(bytes: &[u8]) -> Result<Sample, String> {
        let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None).map_err(|e| e.to_string())?;
        let schema = reader.schema();
        let mut columns = schema
            .fields()
            .iter()
            .map(|f| {
                let json = f.metadata().get("ARROW:extension:name").is_some_and(|n| n == "arrow.json");
                let (kind, data) = match f.data_type() {
                    DataType::Utf8 => {
                        (if json { Kind::Json } else { Kind::String }, Data::Text { offsets: vec![0], bytes: Vec::new() })
                    }
                    DataType::Int64 => (Kind::Integer, Data::I64(Vec::new())),
                    DataType::Float64 => (Kind::Number, Data::F64(Vec::new())),
                    DataType::Boolean => (Kind::Boolean, Data::Bool(Vec::new())),
                    DataType::Timestamp(..) => (Kind::Timestamp, Data::I64(Vec::new())),
                    DataType::Date32 => (Kind::Date, Data::I32(Vec::new())),
                    other => return Err(format!("column {}: type {other} is not one the product writes", f.name())),
                };
                Ok(SampleColumn { name: f.name().clone(), kind, valid: Vec::new(), data })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut batch_sizes = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| e.to_string())?;
            append(&mut columns, &batch);
            batch_sizes.push(batch.num_rows());
        }
        batch_sizes.retain(|&n| n > 0);
        let rows = batch_sizes.iter().sum();
        let stream = schema.metadata().get("stream").cloned().unwrap_or_default();
        Ok(Sample { stream, schema, columns, rows, batch_sizes })
    }
}

fn append(columns: &mut [SampleColumn], batch: &RecordBatch) {
    for (c, array) in columns.iter_mut().zip(batch.columns()) {
        c.valid.extend((0..array.len()).map(|i| array.is_valid(i)));
        match &mut c.data {
            Data::Text { offsets, bytes } => {
                let a = array.as_string::<i32>();
                for i in 0..a.len() {
                    if a.is_valid(i) {
                        bytes.extend_from_slice(a.value(i).as_bytes());
                    }
                    offsets.push(bytes.len());
                }
            }
            Data::I64(v) if c.kind == Kind::Timestamp => {
                v.extend(array.as_primitive::<TimestampMicrosecondType>().values().iter())
            }
            Data::I64(v) => v.extend(array.as_primitive::<Int64Type>().values().iter()),
            Data::F64(v) => v.extend(array.as_primitive::<Float64Type>().values().iter()),
            Data::Bool(v) => v.extend(array.as_boolean().values().iter()),
            Data::I32(v) => v.extend(array.as_primitive::<Date32Type>().values().iter()),
        }
    }
}

/// Arrow's bitmap of `n` bits, LSB first.
pub fn bitmap(bits: impl Iterator<Item = bool>, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n.div_ceil(8)];
    for (i, b) in bits.enumerate() {
        if b {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

impl SampleColumn {
    pub fn text(&self, r: usize) -> &str {
        match &self.data {
            // The sample's text came from Arrow strings, checked as UTF-8 there.
            Data::Text { offsets, bytes } => std::str::from_utf8(&bytes[offsets[r]..offsets[r + 1]]).unwrap_or(""),
            _ => "",
        }
    }

    /// (null count, Arrow validity bitmap; empty when no row is null).
    pub fn validity(&self, rows: &[usize]) -> (u32, Vec<u8>) {
        let nulls = rows.iter().filter(|&&r| !self.valid[r]).count();
        if nulls == 0 {
            return (0, Vec::new());
        }
        (nulls as u32, bitmap(rows.iter().map(|&r| self.valid[r]), rows.len()))
    }

    /// A text column's rows as i32 offsets and bytes.
    pub fn gather_text(&self, rows: &[usize]) -> (Vec<i32>, Vec<u8>) {
        let Data::Text { offsets, bytes } = &self.data else { return (Vec::new(), Vec::new()) };
        let mut out_off = Vec::with_capacity(rows.len() + 1);
        let mut out = Vec::new();
        out_off.push(0);
        for &r in rows {
            out.extend_from_slice(&bytes[offsets[r]..offsets[r + 1]]);
            out_off.push(out.len() as i32);
        }
        (out_off, out)
    }

    /// The rows as Arrow's buffers in bytes: (offsets, values); offsets only for text.
    pub fn gather_bytes(&self, rows: &[usize]) -> (Vec<u8>, Vec<u8>) {
        fn fixed<T: Copy, const N: usize>(v: &[T], rows: &[usize], le: impl Fn(T) -> [u8; N]) -> Vec<u8> {
            let mut out = Vec::with_capacity(rows.len() * N);
            for &r in rows {
                out.extend_from_slice(&le(v[r]));
            }
            out
        }
        match &self.data {
            Data::Text { offsets, bytes } => {
                let mut out_off = Vec::with_capacity((rows.len() + 1) * 4);
                let mut out = Vec::new();
                out_off.extend_from_slice(&0i32.to_le_bytes());
                for &r in rows {
                    out.extend_from_slice(&bytes[offsets[r]..offsets[r + 1]]);
                    out_off.extend_from_slice(&(out.len() as i32).to_le_bytes());
                }
                (out_off, out)
            }
            Data::I64(v) => (Vec::new(), fixed(v, rows, i64::to_le_bytes)),
            Data::F64(v) => (Vec::new(), fixed(v, rows, f64::to_le_bytes)),
            Data::I32(v) => (Vec::new(), fixed(v, rows, i32::to_le_bytes)),
            Data::Bool(v) => (Vec::new(), bitmap(rows.iter().map(|&r| v[r]), rows.len())),
        }
    }
}
