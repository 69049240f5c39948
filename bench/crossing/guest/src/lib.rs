//! A bench-only guest: real-shaped batches in four layouts, so a host can time
//! what crossing the component boundary costs in each (`bench/crossing`,
//! docs/performance.md "Third round").
//!
//! The host hands it a sample first: the product's own batches of one stream,
//! as `host-harness read --output arrow` wrote them (real cards from the
//! fixture server, or rows of the 1,000,000-row question). Later batches cycle
//! through the sample's rows, in the sample's own batch sizes (the product's
//! bound: 256 rows or 512 KiB of body), so each batch has the columns, kinds,
//! null counts and string lengths a real read has. Each layout is built from
//! the sample's columns per batch, row by row, as the product builds its
//! batches; `produce` builds one and drops it, which is the guest's own time.

mod bindings {
    wit_bindgen::generate!({
        world: "crossing-bench",
        path: "../wit",
    });
}

mod sample;

use bindings::bench::crossing::types::{
    BufferBatch, Column, ColumnKind, Layout, RowBatch, TypedBatch, TypedColumn, TypedValues, Value,
};
use bindings::exports::bench::crossing::crossing::Guest;
use sample::{Data, Kind, Sample, SampleColumn};
use std::cell::RefCell;

use arrow_array::{make_array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_buffer::Buffer;
use arrow_ipc::writer::StreamWriter;

/// What a read is at: the sample, and where the current pass through it stands.
struct State {
    sample: Sample,
    /// Rows the pass yields in all, rows yielded so far, batches yielded so far.
    total: usize,
    pos: usize,
    batches: usize,
    /// Layout (d)'s stream: its schema went out with the pass's first batch.
    ipc: Option<StreamWriter<Vec<u8>>>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// The sample rows of the next batch (indexes into the sample), or None at the end.
fn next_range(state: &mut State) -> Option<Vec<usize>> {
    if state.pos >= state.total || state.sample.rows == 0 {
        return None;
    }
    let size = state.sample.batch_sizes[state.batches % state.sample.batch_sizes.len()];
    let n = size.min(state.total - state.pos);
    let m = state.sample.rows;
    let rows = (state.pos..state.pos + n).map(|r| r % m).collect();
    state.pos += n;
    state.batches += 1;
    Some(rows)
}

fn with_next<T>(build: impl FnOnce(&mut State, &[usize]) -> T) -> Option<T> {
    STATE.with(|s| {
        let mut guard = s.borrow_mut();
        let state = guard.as_mut()?;
        let rows = next_range(state)?;
        Some(build(state, &rows))
    })
}

arrow_columns::wit_conversions!(Column, ColumnKind);

/// (a) A row of variants per element, as `ingest:source@0.2.0` carried them.
fn rows_batch(state: &State, rows: &[usize]) -> RowBatch {
    let cols = &state.sample.columns;
    let out = rows
        .iter()
        .map(|&r| {
            cols.iter()
                .map(|c| {
                    if !c.valid[r] {
                        return Value::Null;
                    }
                    match &c.data {
                        Data::Text { .. } => {
                            let text = c.text(r).to_owned();
                            match c.kind {
                                Kind::Json if text.starts_with('[') => Value::Array(text),
                                Kind::Json => Value::Object(text),
                                _ => Value::String(text),
                            }
                        }
                        Data::I64(v) if c.kind == Kind::Timestamp => Value::Timestamp(v[r]),
                        Data::I64(v) => Value::Integer(v[r]),
                        Data::F64(v) => Value::Number(v[r]),
                        Data::Bool(v) => Value::Boolean(v[r]),
                        Data::I32(v) => Value::Date(v[r]),
                    }
                })
                .collect()
        })
        .collect();
    RowBatch { stream: state.sample.stream.clone(), columns: cols.iter().map(|c| c.name.clone()).collect(), rows: out }
}

/// Each sample column's rows of the batch, with their validity, as `build` makes a column of them.
fn per_column<T>(state: &State, rows: &[usize], build: impl Fn(&SampleColumn, u32, Vec<u8>) -> T) -> Vec<T> {
    state
        .sample
        .columns
        .iter()
        .map(|c| {
            let (null_count, validity) = c.validity(rows);
            build(c, null_count, validity)
        })
        .collect()
}

/// (b) Columns as typed WIT lists.
fn typed_batch(state: &State, rows: &[usize]) -> TypedBatch {
    let columns = per_column(state, rows, |c, null_count, validity| {
        let values = match &c.data {
            Data::Text { .. } => TypedValues::Text(c.gather_text(rows)),
            Data::I64(v) => TypedValues::Int64(rows.iter().map(|&r| v[r]).collect()),
            Data::F64(v) => TypedValues::Float64(rows.iter().map(|&r| v[r]).collect()),
            Data::Bool(v) => TypedValues::Bits(sample::bitmap(rows.iter().map(|&r| v[r]), rows.len())),
            Data::I32(v) => TypedValues::Date32(rows.iter().map(|&r| v[r]).collect()),
        };
        TypedColumn { name: c.name.clone(), kind: c.kind.into(), null_count, validity, values }
    });
    TypedBatch { stream: state.sample.stream.clone(), rows: rows.len() as u32, columns }
}

/// (c) The same buffers as `list<u8>`, Arrow's C data layout (`ingest:source@0.3.0`).
fn buffer_batch(state: &State, rows: &[usize]) -> BufferBatch {
    let columns = per_column(state, rows, |c, null_count, validity| {
        let (offsets, values) = c.gather_bytes(rows);
        Column { name: c.name.clone(), kind: c.kind.into(), null_count, validity, offsets, values }
    });
    BufferBatch { stream: state.sample.stream.clone(), rows: rows.len() as u32, columns }
}

/// (d) The (c) buffers, built as (c) builds them, as an Arrow record batch written as IPC stream bytes.
fn ipc_bytes(state: &mut State, rows: &[usize]) -> Result<Vec<u8>, String> {
    let schema = state.sample.schema.clone();
    let columns = buffer_batch(state, rows).columns;
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(c, field)| {
            let nulls = (c.null_count > 0).then(|| Buffer::from_vec(c.validity));
            let buffers = match c.kind {
                ColumnKind::String | ColumnKind::Json => vec![Buffer::from_vec(c.offsets), Buffer::from_vec(c.values)],
                _ => vec![Buffer::from_vec(c.values)],
            };
            // SAFETY: the buffers are gathered from the sample's arrays, which arrow-ipc checked
            // when it read them (UTF-8, offsets, lengths): a guest writing its own columns
            // knows them valid and would not check every value again before encoding.
            let data = unsafe {
                let nulls_n = Some(c.null_count as usize);
                arrow_data::ArrayData::new_unchecked(field.data_type().clone(), rows.len(), nulls_n, nulls, 0, buffers, Vec::new())
            };
            make_array(data)
        })
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    let batch = RecordBatch::try_new_with_options(schema.clone(), arrays, &options).map_err(|e| e.to_string())?;
    if state.ipc.is_none() {
        state.ipc = Some(StreamWriter::try_new(Vec::new(), &schema).map_err(|e| e.to_string())?);
    }
    let writer = state.ipc.as_mut().expect("set above");
    writer.write(&batch).map_err(|e| e.to_string())?;
    Ok(std::mem::take(writer.get_mut()))
}

struct Bench;

impl Guest for Bench {
    fn load(bytes: Vec<u8>) -> Result<u32, String> {
        let sample = Sample::read(&bytes)?;
        let rows = sample.rows as u32;
        STATE.with(|s| *s.borrow_mut() = Some(State { sample, total: 0, pos: 0, batches: 0, ipc: None }));
        Ok(rows)
    }

    fn reset(total: u32) {
        STATE.with(|s| {
            if let Some(state) = s.borrow_mut().as_mut() {
                state.total = total as usize;
                state.pos = 0;
                state.batches = 0;
                state.ipc = None;
            }
        });
    }

    fn produce(layout: Layout) -> u32 {
        with_next(|state, rows| {
            match layout {
                Layout::Rows => drop(std::hint::black_box(rows_batch(state, rows))),
                Layout::Typed => drop(std::hint::black_box(typed_batch(state, rows))),
                Layout::Buffers => drop(std::hint::black_box(buffer_batch(state, rows))),
                Layout::Ipc => drop(std::hint::black_box(ipc_bytes(state, rows))),
            }
            rows.len() as u32
        })
        .unwrap_or(0)
    }

    fn next_rows() -> Option<RowBatch> {
        with_next(|state, rows| rows_batch(state, rows))
    }

    fn next_typed() -> Option<TypedBatch> {
        with_next(|state, rows| typed_batch(state, rows))
    }

    fn next_buffers() -> Option<BufferBatch> {
        with_next(|state, rows| buffer_batch(state, rows))
    }

    fn next_ipc() -> Option<Vec<u8>> {
        // A failure to encode is a bug of this bench: trap, so the host sees it.
        with_next(|state, rows| ipc_bytes(state, rows).expect("IPC encoding"))
    }
}

bindings::export!(Bench with_types_in bindings);
