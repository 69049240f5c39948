"""The Metabase source component (a WebAssembly component) on wasmtime-py:
no Rust, no compiler, the same records as host-harness.

    import metabase_source_wasm as mb

    config = {"instance_api_url": "https://metabase.example.com/api", "api_key": "mb_..."}
    streams = mb.discover(config)                     # [StreamInfo(name, fields, primary_key, cursor_field, ...)]
    for item in mb.read(config, streams=["cards"]):   # Record(stream, data) and Checkpoint(stream, state)
        ...
    with mb.open(config) as source:                   # one sandbox for several calls
        source.check(config)

The console script `source-metabase-wasm` speaks the Airbyte protocol
(PyAirbyte's `local_executable`); `metabase_source_wasm.dlt_source` is a dlt
source. docs/python.md in the repository says what the sandbox enforces.
"""
from ._api import Checkpoint, Record, StreamFailure, check, discover, open, read, spec
from ._runtime import HostFailure, Limits
from ._source import ConnectorError, Field, SelectedStream, Source, StreamInfo

__all__ = ["open", "spec", "check", "discover", "read", "Record", "Checkpoint", "StreamFailure", "Limits",
           "ConnectorError", "HostFailure", "Field", "StreamInfo", "SelectedStream", "Source"]
