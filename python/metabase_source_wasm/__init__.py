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

The names below are imported on first use (PEP 562): the console script
imports `metabase_source_wasm._cli`, which runs this file first, and the
typed API's modules (datetime, the value conversions) are not its to pay for.
"""
import importlib
from typing import Any

_EXPORTS = {
    "_api": ("Checkpoint", "Record", "StreamFailure", "check", "discover", "open", "read", "spec"),
    "_runtime": ("HostFailure", "Limits"),
    "_source": ("ConnectorError", "Field", "SelectedStream", "Source", "StreamInfo"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["open", "spec", "check", "discover", "read", "Record", "Checkpoint", "StreamFailure", "Limits",
           "ConnectorError", "HostFailure", "Field", "StreamInfo", "SelectedStream", "Source"]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
