//! Bench only (`bench/crossing/run.py`): what crossing the component boundary
//! costs in host-harness's runtime (wasmtime 48, its engine settings), per
//! batch layout. Not part of the host.
//!
//! `crossing --component G --sample S.arrow --rows N [--runs R] [--check]`
//! loads the bench guest (`bench/crossing/guest`), hands it the sample, and
//! for each layout reads `N` rows in the product's batch sizes three ways:
//! `produce` (the guest builds each batch and drops it: its own time), `call`
//! (the host calls, lifts and drops: + crossing) and `host` (+ the host's
//! work: every batch as arrow-rs arrays, as `read --output arrow` makes
//! them). Prints one JSON object per layout: least CPU time of the calling
//! thread over `R` runs of each. `--check` prints per-column checksums of
//! the arrays instead (bench/crossing/README.md).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{make_array, Array, ArrayRef, RecordBatch};
use arrow_buffer::Buffer;
use arrow_data::ArrayData;
use arrow_ipc::reader::StreamDecoder;
use arrow_schema::{DataType, TimeUnit};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../bench/crossing/wit",
    world: "crossing-bench",
});

use bench::crossing::types::{Column, ColumnKind, Layout, RowBatch, TypedBatch, TypedColumn, TypedValues, Value};

struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

type Result<T> = std::result::Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// CPU time of the calling thread, where wasmtime runs the guest (ns).
fn thread_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    text.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

struct Args {
    component: String,
    sample: String,
    rows: u32,
    runs: usize,
    check: bool,
}

fn args() -> Result<Args> {
    let mut a = Args { component: String::new(), sample: String::new(), rows: 0, runs: 3, check: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--component" => a.component = value()?,
            "--sample" => a.sample = value()?,
            "--rows" => a.rows = value()?.parse().map_err(err)?,
            "--runs" => a.runs = value()?.parse().map_err(err)?,
            "--check" => a.check = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.component.is_empty() || a.sample.is_empty() {
        return Err("usage: crossing --component G --sample S.arrow --rows N [--runs R] [--check]".into());
    }
    Ok(a)
}

/// The guest, instantiated as host-harness instantiates the connector.
struct Guest {
    store: Store<Host>,
    bench: CrossingBench,
}

impl Guest {
    fn new(path: &str) -> Result<Guest> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(err)?;
        let component = Component::from_file(&engine, path).map_err(err)?;
        let mut linker: Linker<Host> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(err)?;
        let mut store = Store::new(&engine, Host { wasi: WasiCtx::builder().build(), table: ResourceTable::new() });
        store.set_epoch_deadline(u64::MAX / 2);
        let bench = CrossingBench::instantiate(&mut store, &component, &linker).map_err(err)?;
        Ok(Guest { store, bench })
    }

    fn api(&self) -> &exports::bench::crossing::crossing::Guest {
        self.bench.bench_crossing_crossing()
    }

    fn reset(&mut self, rows: u32) -> Result<()> {
        let api = self.bench.bench_crossing_crossing();
        api.call_reset(&mut self.store, rows).map_err(err)
    }
}

/// A batch as the host holds it after crossing.
enum Lifted {
    Rows(RowBatch),
    Typed(TypedBatch),
    Buffers(u32, Vec<Column>),
    Ipc(Vec<u8>),
}

const LAYOUTS: [(&str, Layout); 4] =
    [("rows", Layout::Rows), ("typed", Layout::Typed), ("buffers", Layout::Buffers), ("ipc", Layout::Ipc)];

fn next(guest: &mut Guest, layout: Layout) -> Result<Option<Lifted>> {
    let api = guest.bench.bench_crossing_crossing();
    let store = &mut guest.store;
    Ok(match layout {
        Layout::Rows => api.call_next_rows(store).map_err(err)?.map(Lifted::Rows),
        Layout::Typed => api.call_next_typed(store).map_err(err)?.map(Lifted::Typed),
        Layout::Buffers => api.call_next_buffers(store).map_err(err)?.map(|b| Lifted::Buffers(b.rows, b.columns)),
        Layout::Ipc => api.call_next_ipc(store).map_err(err)?.map(Lifted::Ipc),
    })
}

fn data_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::String | ColumnKind::Json => DataType::Utf8,
        ColumnKind::Integer => DataType::Int64,
        ColumnKind::Number => DataType::Float64,
        ColumnKind::Boolean => DataType::Boolean,
        ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnKind::Date => DataType::Date32,
    }
}

/// A lifted buffer as an Arrow buffer, moved when aligned (as `arrow_out.rs`).
fn buffer<T: arrow_buffer::ArrowNativeType>(v: Vec<T>) -> Buffer {
    if v.as_ptr().align_offset(8) == 0 {
        Buffer::from_vec(v)
    } else {
        Buffer::from_slice_ref(&v)
    }
}

fn array(kind: ColumnKind, rows: usize, null_count: u32, validity: Vec<u8>, buffers: Vec<Buffer>) -> Result<ArrayRef> {
    let nulls = (null_count > 0).then(|| buffer(validity));
    let data = ArrayData::try_new(data_type(kind), rows, nulls, 0, buffers, Vec::new()).map_err(err)?;
    Ok(make_array(data))
}

/// (a) Rows of variants into Arrow arrays: a builder per column, a value at a time.
fn rows_to_arrays(batch: RowBatch, kinds: &[DataType]) -> Result<Vec<ArrayRef>> {
    let n = batch.rows.len();
    let mut arrays = Vec::with_capacity(kinds.len());
    for (c, ty) in kinds.iter().enumerate() {
        let cells = batch.rows.iter().map(|row| &row[c]);
        let array: ArrayRef = match ty {
            DataType::Utf8 => {
                let mut b = StringBuilder::with_capacity(n, 0);
                for v in cells {
                    match v {
                        Value::String(s) | Value::Array(s) | Value::Object(s) => b.append_value(s),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Int64 => {
                let mut b = Int64Builder::with_capacity(n);
                cells.for_each(|v| b.append_option(if let Value::Integer(i) = v { Some(*i) } else { None }));
                Arc::new(b.finish())
            }
            DataType::Timestamp(..) => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
                cells.for_each(|v| b.append_option(if let Value::Timestamp(i) = v { Some(*i) } else { None }));
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::with_capacity(n);
                cells.for_each(|v| b.append_option(if let Value::Number(x) = v { Some(*x) } else { None }));
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(n);
                cells.for_each(|v| b.append_option(if let Value::Boolean(x) = v { Some(*x) } else { None }));
                Arc::new(b.finish())
            }
            DataType::Date32 => {
                let mut b = Date32Builder::with_capacity(n);
                cells.for_each(|v| b.append_option(if let Value::Date(x) = v { Some(*x) } else { None }));
                Arc::new(b.finish())
            }
            other => return Err(format!("no builder for {other}")),
        };
        arrays.push(array);
    }
    Ok(arrays)
}

fn typed_to_array(c: TypedColumn, rows: usize) -> Result<ArrayRef> {
    let buffers = match c.values {
        TypedValues::Text((offsets, bytes)) => vec![buffer(offsets), buffer(bytes)],
        TypedValues::Int64(v) => vec![buffer(v)],
        TypedValues::Float64(v) => vec![buffer(v)],
        TypedValues::Bits(v) => vec![buffer(v)],
        TypedValues::Date32(v) => vec![buffer(v)],
    };
    array(c.kind, rows, c.null_count, c.validity, buffers)
}

fn buffers_to_array(c: Column, rows: usize) -> Result<ArrayRef> {
    let buffers = match c.kind {
        ColumnKind::String | ColumnKind::Json => vec![buffer(c.offsets), buffer(c.values)],
        _ => vec![buffer(c.values)],
    };
    array(c.kind, rows, c.null_count, c.validity, buffers)
}

/// The host's work on one lifted batch: its columns as Arrow arrays.
/// `kinds` (the row layout has none of its own) come from the first batch
/// of another layout, as a 0.2.0 host took them from `discover`.
fn to_arrays(lifted: Lifted, decoder: &mut StreamDecoder, kinds: &[DataType]) -> Result<Vec<ArrayRef>> {
    match lifted {
        Lifted::Rows(b) => rows_to_arrays(b, kinds),
        Lifted::Typed(b) => {
            let rows = b.rows as usize;
            b.columns.into_iter().map(|c| typed_to_array(c, rows)).collect()
        }
        Lifted::Buffers(rows, columns) => columns.into_iter().map(|c| buffers_to_array(c, rows as usize)).collect(),
        Lifted::Ipc(bytes) => {
            let mut buf = Buffer::from_vec(bytes);
            let mut out = None;
            while !buf.is_empty() {
                if let Some(batch) = decoder.decode(&mut buf).map_err(err)? {
                    out = Some(batch);
                }
            }
            out.map(|b: RecordBatch| b.columns().to_vec()).ok_or("IPC bytes held no record batch".into())
        }
    }
}

/// Least CPU time (s) over `runs` passes of `pass`.
fn best(runs: usize, mut pass: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut least = f64::INFINITY;
    for _ in 0..runs {
        let t0 = thread_cpu_ns();
        pass()?;
        least = least.min((thread_cpu_ns() - t0) as f64 / 1e9);
    }
    Ok(least)
}

/// How much each part of one pass over `rows` costs, for one layout.
fn time_layout(guest: &mut Guest, rows: u32, layout: Layout, kinds: &[DataType], runs: usize) -> Result<[f64; 3]> {
    let produce = best(runs, || {
        guest.reset(rows)?;
        let api = guest.api().clone();
        while api.call_produce(&mut guest.store, layout).map_err(err)? > 0 {}
        Ok(())
    })?;
    let call = best(runs, || {
        guest.reset(rows)?;
        while next(guest, layout)?.is_some() {}
        Ok(())
    })?;
    let host = best(runs, || {
        guest.reset(rows)?;
        let mut decoder = StreamDecoder::new();
        while let Some(lifted) = next(guest, layout)? {
            std::hint::black_box(to_arrays(lifted, &mut decoder, kinds)?);
        }
        Ok(())
    })?;
    Ok([produce, call, host])
}

/// Each column's checksum (bench/crossing/README.md) over a whole pass.
fn check_layout(guest: &mut Guest, rows: u32, layout: Layout, kinds: &[DataType], columns: &[Column]) -> Result<BTreeMap<String, String>> {
    guest.reset(rows)?;
    let mut decoder = StreamDecoder::new();
    let mut sums: Vec<(flate2::Crc, usize)> = columns.iter().map(|_| (flate2::Crc::new(), 0)).collect();
    while let Some(lifted) = next(guest, layout)? {
        for (i, a) in to_arrays(lifted, &mut decoder, kinds)?.iter().enumerate() {
            checksum(a, columns[i].kind == ColumnKind::Json, &mut sums[i].0);
            sums[i].1 += a.len();
        }
    }
    Ok(columns.iter().zip(sums).map(|(c, (crc, rows))| (c.name.clone(), format!("{:08x}:{rows}", crc.sum()))).collect())
}

/// The columns' names and kinds: the first row of layout (c).
fn first_columns(guest: &mut Guest) -> Result<Vec<Column>> {
    guest.reset(1)?;
    let api = guest.api().clone();
    Ok(api.call_next_buffers(&mut guest.store).map_err(err)?.map(|b| b.columns).unwrap_or_default())
}

/// One value's canonical bytes (bench/crossing/README.md) into `crc`.
fn checksum(a: &ArrayRef, json: bool, crc: &mut flate2::Crc) {
    for i in 0..a.len() {
        if a.is_null(i) {
            crc.update(&[0]);
            continue;
        }
        match a.data_type() {
            DataType::Utf8 => {
                let s = a.as_string::<i32>().value(i).as_bytes();
                crc.update(&[if json { 7 } else { 5 }]);
                crc.update(&(s.len() as u32).to_le_bytes());
                crc.update(s);
            }
            DataType::Int64 => {
                crc.update(&[1]);
                crc.update(&a.as_primitive::<Int64Type>().value(i).to_le_bytes());
            }
            DataType::Timestamp(..) => {
                crc.update(&[6]);
                crc.update(&a.as_primitive::<TimestampMicrosecondType>().value(i).to_le_bytes());
            }
            DataType::Float64 => {
                crc.update(&[2]);
                crc.update(&a.as_primitive::<Float64Type>().value(i).to_le_bytes());
            }
            DataType::Boolean => crc.update(&[3, a.as_boolean().value(i) as u8]),
            DataType::Date32 => {
                crc.update(&[4]);
                crc.update(&a.as_primitive::<Date32Type>().value(i).to_le_bytes());
            }
            _ => {}
        }
    }
}

fn run() -> Result<()> {
    let args = args()?;
    let sample = std::fs::read(&args.sample).map_err(|e| format!("{}: {e}", args.sample))?;
    let mut guest = Guest::new(&args.component)?;
    let api = guest.api().clone();
    api.call_load(&mut guest.store, &sample).map_err(err)??;
    let columns = first_columns(&mut guest)?;
    let kinds: Vec<DataType> = columns.iter().map(|c| data_type(c.kind)).collect();
    for (name, layout) in LAYOUTS {
        if args.check {
            let sums = check_layout(&mut guest, args.rows, layout, &kinds, &columns)?;
            let sums = serde_json::to_string(&sums).map_err(err)?;
            println!("{{\"host\":\"rust\",\"layout\":\"{name}\",\"rows\":{},\"checksums\":{sums}}}", args.rows);
        } else {
            let [produce, call, host] = time_layout(&mut guest, args.rows, layout, &kinds, args.runs)?;
            println!(
                "{{\"host\":\"rust\",\"layout\":\"{name}\",\"rows\":{},\"produce_s\":{produce:.6},\"call_s\":{call:.6},\"host_s\":{host:.6}}}",
                args.rows
            );
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("crossing: {e}");
        std::process::exit(1);
    }
}
