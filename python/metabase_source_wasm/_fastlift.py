"""Component values lifted out of wasmtime's C structures in few Python steps.

wasmtime-py 50 hands a call's result over as a tree of 32-byte
`wasmtime_component_val_t` and converts it with its type objects: for every
record it asks the C API for the record type's fields (names, a type object
each), for every list its element type, and a `list<u8>` it lifts one Python
`int` per byte. WIT 0.3.0 batches carry every column as a few `list<u8>`
buffers, so a batch cost as much in Python as the old typed rows.

Two things here, both checked against the bindings' own layout first
(`_layout`; with other bindings neither is used, and the host is only
slower, never wrong):

* `install()` makes wasmtime-py lift a byte list with one strided copy (each
  element is a tag followed by a union whose first byte is the `u8`) instead
  of one `int` per byte; every other list goes through wasmtime-py's code;
* `call()` calls a function and lifts its result by the values' own kinds,
  reading each C array with one copy (no type queries), then frees the whole
  tree with one `wasmtime_component_val_delete`. Values come out as
  wasmtime-py makes them for the WIT types the host calls it for (records as
  `Record`s with the WIT's field names, enums as their case names, options as
  the value or None, byte lists as `bytes`), except that a `result` is always
  a `Variant('ok'|'err', payload)` (which `_source._unwrap` reads either way)
  and an empty list is `[]` whatever its elements (`bytes([])` is `b""`).

Measured: 1,000 cards read in 0.82 s instead of 4.33 s with the byte lists
alone; lifting a read of the bundled v0.50 fixture took 35-49 ms of CPU
with them and takes 10-12 ms with `call()` (docs/performance.md, "Third
round: the Python host").
"""
import ctypes
import struct

from wasmtime import _ffi as ffi
from wasmtime.component import _types
from wasmtime.component._enter import enter_wasm

_installed = False


def _layout():
    """The offsets this module reads, from the bindings' ctypes structures, or None."""
    try:
        val, entry, result, variant = (ffi.wasmtime_component_val_t, ffi.wasmtime_component_valrecord_entry_t,
                                       ffi.wasmtime_component_valresult_t, ffi.wasmtime_component_valvariant_t)
        union, vec, vlist = ffi.wasmtime_component_valunion, ffi.wasm_byte_vec_t, ffi.wasmtime_component_vallist_t
        layout = {
            "val": ctypes.sizeof(val), "kind": val.kind.offset, "of": val.of.offset, "u8": val.of.offset + union.u8.offset,
            "entry": ctypes.sizeof(entry), "entry_name": entry.name.offset, "entry_val": entry.val.offset,
            "is_ok": result.is_ok.offset, "result_val": result.val.offset,
            "discriminant": variant.discriminant.offset, "variant_val": variant.val.offset,
            "vec_size": vec.size.offset, "vec_data": vec.data.offset,
        }
        # Lists, records and tuples are all (size, data); strings and names are byte vectors.
        same = (vlist.size.offset == ffi.wasmtime_component_valrecord_t.size.offset == vec.size.offset
                and vlist.data.offset == ffi.wasmtime_component_valrecord_t.data.offset == vec.data.offset)
        sizes = ctypes.sizeof(ctypes.c_size_t) == ctypes.sizeof(ctypes.c_void_p) == 8
        kinds = all(hasattr(ffi, "WASMTIME_COMPONENT_" + k) for k in _KIND_NAMES)
        return layout if same and sizes and kinds and val.kind.offset == 0 and val.kind.size == 1 else None
    except (AttributeError, TypeError):
        return None


_KIND_NAMES = ("BOOL", "S8", "U8", "S16", "U16", "S32", "U32", "S64", "U64", "F32", "F64", "STRING", "LIST",
               "RECORD", "VARIANT", "ENUM", "OPTION", "RESULT")
LAYOUT = _layout()


def install():
    """Lifts byte lists with one copy from now on (idempotent)."""
    global _installed
    if _installed or LAYOUT is None or not hasattr(_types.ListType, "_is_bytes"):
        return
    size, offset = LAYOUT["val"], LAYOUT["u8"]
    generic = _types.ListType.convert_from_c

    def convert_from_c(self, c):
        if not self._is_bytes():
            return generic(self, c)
        assert c.kind == ffi.WASMTIME_COMPONENT_LIST.value
        try:
            return _strided_bytes(ctypes.cast(c.of.list.data, ctypes.c_void_p).value, c.of.list.size, size, offset)
        finally:
            # u8 elements own nothing: the list itself is all there is to free.
            ffi.wasmtime_component_valtuple_delete(ctypes.byref(c.of.tuple))

    _types.ListType.convert_from_c = convert_from_c
    _installed = True


def _strided_bytes(address, n, size, offset):
    """Every `size`-th byte from `address + offset`: the u8s of n values."""
    if n == 0:
        return b""
    return memoryview((ctypes.c_ubyte * (n * size)).from_address(address))[offset::size].tobytes()


class FastFunc:
    """A component function called with wasmtime-py's lowering of the
    parameters (its types, looked up once) and lifted by `Lifter`."""

    def __init__(self, func, store):
        self.func = func
        self.params = func.type(store).params
        self.lifter = Lifter()

    def __call__(self, store, *params):
        if len(params) != len(self.params):
            raise TypeError("wrong number of parameters provided: given %d, expected %d" % (len(params), len(self.params)))
        args = (ffi.wasmtime_component_val_t * len(params))()
        lowered = 0
        try:
            for (_name, ty), value in zip(self.params, params):
                ty.convert_to_c(store, value, ctypes.pointer(args[lowered]))
                lowered += 1
            result = ffi.wasmtime_component_val_t()
            enter_wasm(lambda: ffi.wasmtime_component_func_call(ctypes.byref(self.func._func), store._context(), args,
                                                                lowered, ctypes.byref(result), 1))
            try:
                return self.lifter.lift(ctypes.string_at(ctypes.addressof(result), LAYOUT["val"]), 0)
            finally:
                ffi.wasmtime_component_val_delete(ctypes.byref(result))
        finally:
            for i in range(lowered):
                ffi.wasmtime_component_val_delete(ctypes.byref(args[i]))

    def post_return(self, store):
        self.func.post_return(store)


class Lifter:
    """Python values of a `wasmtime_component_val_t` tree, read by kind."""

    def __init__(self):
        L = LAYOUT
        self.val, self.of, self.u8 = L["val"], L["of"], L["u8"]
        self.entry, self.entry_name, self.entry_val = L["entry"], L["entry_name"], L["entry_val"]
        self.vec = struct.Struct("<QQ")  # (size, data) of strings, lists and records, at `of`
        self.pointer = struct.Struct("<Q")
        k = lambda name: getattr(ffi, "WASMTIME_COMPONENT_" + name).value  # noqa: E731
        scalar = {"BOOL": "?", "S8": "b", "U8": "B", "S16": "h", "U16": "H", "S32": "i", "U32": "I", "S64": "q",
                  "U64": "Q", "F32": "f", "F64": "d"}
        self.scalars = {k(name): struct.Struct("<" + code) for name, code in scalar.items()}
        self.string, self.list, self.record = k("STRING"), k("LIST"), k("RECORD")
        self.variant, self.enum, self.option, self.result = k("VARIANT"), k("ENUM"), k("OPTION"), k("RESULT")
        self.u8_kind = k("U8")
        self.is_ok, self.result_val = self.of + L["is_ok"], self.of + L["result_val"]
        self.discriminant, self.variant_val = self.of + L["discriminant"], self.of + L["variant_val"]

    def lift(self, raw, at):
        """The value whose `wasmtime_component_val_t` starts at `raw[at:]`."""
        kind = raw[at]
        scalar = self.scalars.get(kind)
        if scalar is not None:
            return scalar.unpack_from(raw, at + self.of)[0]
        if kind == self.string or kind == self.enum:
            return self._text(raw, at + self.of)
        if kind == self.record:
            return self._record(raw, at)
        if kind == self.list:
            return self._list(raw, at)
        if kind == self.option:
            (pointer,) = self.pointer.unpack_from(raw, at + self.of)
            return None if pointer == 0 else self.lift(ctypes.string_at(pointer, self.val), 0)
        if kind == self.result:
            (pointer,) = self.pointer.unpack_from(raw, at + self.result_val)
            payload = None if pointer == 0 else self.lift(ctypes.string_at(pointer, self.val), 0)
            return _types.Variant("ok" if raw[at + self.is_ok] else "err", payload)
        if kind == self.variant:
            (pointer,) = self.pointer.unpack_from(raw, at + self.variant_val)
            payload = None if pointer == 0 else self.lift(ctypes.string_at(pointer, self.val), 0)
            return _types.Variant(self._text(raw, at + self.discriminant), payload)
        raise TypeError("a component value of kind %d, which this host does not read" % kind)

    def _text(self, raw, at):
        size, data = self.vec.unpack_from(raw, at)
        return ctypes.string_at(data, size).decode("utf-8") if size else ""

    def _list(self, raw, at):
        size, data = self.vec.unpack_from(raw, at + self.of)
        if size == 0:
            return []
        if ctypes.string_at(data, 1)[0] == self.u8_kind:
            return _strided_bytes(data, size, self.val, self.u8)
        items = ctypes.string_at(data, size * self.val)
        return [self.lift(items, i * self.val) for i in range(size)]

    def _record(self, raw, at):
        size, data = self.vec.unpack_from(raw, at + self.of)
        entries = ctypes.string_at(data, size * self.entry) if size else b""
        record = _types.Record()
        for i in range(size):
            base = i * self.entry
            setattr(record, self._text(entries, base + self.entry_name), self.lift(entries, base + self.entry_val))
        return record
