//! Embedding the Metabase source component in your own program, with wasmtime 48.
//!
//!     cargo run --release -p host-harness --example embed -- dist/metabase_source.wasm [config.json]
//!
//! Loads the component, gives it WASI (nothing: no files, no environment, no sockets) and
//! `wasi:http` limited to the one host of the config's `instance_api_url`, prints the spec's
//! title, then with a config lists the streams and reads them all, printing rows per stream.
//! Rows arrive in batches of columns in Apache Arrow's layout (WIT 0.3.0: per column a validity
//! bitmap, little-endian values, offsets + UTF-8 for text); a real host wraps them as Arrow arrays
//! (docs/wit.md) or writes them wherever it wants. `host-harness` is the full version of this (limits, replay, Airbyte
//! output).

use std::collections::BTreeMap;
use std::future::Future;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

// Rust types for the WIT world: `ingest:source` exports, the `log` import.
wasmtime::component::bindgen!({ path: "../wit", world: "metabase-source" });

use ingest::source::types::{ColumnKind, FailureKind, SyncMode};

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OnlyHost,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

// The component's only import of its own: log lines.
impl ingest::source::log::Host for State {
    fn log(&mut self, level: ingest::source::log::Level, message: String) {
        use ingest::source::log::Level;
        let level = match level {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug | Level::Trace => return,
        };
        eprintln!("{level} {message}");
    }
}
impl ingest::source::types::Host for State {}

/// The network policy: requests to `allowed` (host:port) go out, anything else is denied.
struct OnlyHost {
    allowed: Option<String>,
}

type Sent = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>), HttpError>;

impl WasiHttpHooks for OnlyHost {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _io: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let uri = request.uri();
        let authority = uri.host().map(|h| format!("{h}:{}", uri.port_u16().unwrap_or(if uri.scheme_str() == Some("http") { 80 } else { 443 })));
        if authority.is_none() || authority != self.allowed {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

fn main() -> wasmtime::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let wasm = args.get(1).map(String::as_str).unwrap_or("dist/metabase_source.wasm");
    let config = args.get(2).map(std::fs::read_to_string).transpose()?;
    let allowed = config.as_deref().and_then(|c| {
        let v: serde_json::Value = serde_json::from_str(c).ok()?;
        let url = url::Url::parse(v["instance_api_url"].as_str()?).ok()?;
        Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?))
    });

    let engine = Engine::default();
    let component = Component::from_file(&engine, wasm)?;
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
    MetabaseSource::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;

    let state = State {
        wasi: WasiCtx::builder().build(), // no files, environment, arguments or sockets
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        hooks: OnlyHost { allowed },
    };
    let mut store = Store::new(&engine, state);
    let source = MetabaseSource::instantiate(&mut store, &component, &linker)?;
    let api = source.ingest_source_source();

    let spec: serde_json::Value = serde_json::from_str(&api.call_spec(&mut store)?)?;
    println!("spec: {}", spec["title"].as_str().unwrap_or("(untitled)"));
    let Some(config) = config else { return Ok(()) };

    let streams = api.call_discover(&mut store, &config)?.map_err(|e| wasmtime::format_err!("discover: {}", e.message))?;
    for s in &streams {
        let incremental = s.sync_modes.contains(&SyncMode::Incremental);
        println!("stream {}: {} fields{}", s.name, s.fields.len(), if incremental { ", incremental" } else { "" });
    }

    // Every stream (`None`), no state: a full read. Pull batches until `None`.
    let reader = api.reader().call_open(&mut store, &config, None, None)?.map_err(|e| wasmtime::format_err!("open: {}", e.message))?;
    let mut rows: BTreeMap<String, usize> = BTreeMap::new();
    loop {
        match api.reader().call_next(&mut store, reader)? {
            Ok(Some(batch)) => {
                // Row 0 of an int64 column: valid when there are no nulls or bit 0 of
                // the validity bitmap is set; its value is the first 8 bytes, little-endian.
                let id = batch.columns.iter().find(|c| c.name == "id" && c.kind == ColumnKind::Integer);
                if let (Some(c), true) = (id, batch.rows > 0 && !rows.contains_key(&batch.stream)) {
                    if c.null_count == 0 || c.validity[0] & 1 == 1 {
                        let first = i64::from_le_bytes(c.values[..8].try_into()?);
                        println!("first {} row: id {first}", batch.stream);
                    }
                }
                *rows.entry(batch.stream).or_default() += batch.rows as usize;
            }
            Ok(None) => break,
            // A stream these credentials may not read (`cause` says why: forbidden): a warning.
            Err(e) if e.kind == FailureKind::Unavailable => {
                eprintln!("stream {} unavailable ({:?}): {}", e.stream.unwrap_or_default(), e.cause, e.message)
            }
            // An error naming a stream ends only that stream; the next call goes on.
            Err(e) if e.stream.is_some() => eprintln!("stream {}: {}", e.stream.unwrap_or_default(), e.message),
            Err(e) => return Err(wasmtime::format_err!("read: {}", e.message)),
        }
    }
    api.reader().call_close(&mut store, reader)?; // ends any session the component opened
    reader.resource_drop(&mut store)?;
    for (stream, n) in &rows {
        println!("read {stream}: {n} rows");
    }
    println!("total: {} rows", rows.values().sum::<usize>());
    Ok(())
}
