"""Unit tests of the Python host's parts (python/metabase_source_wasm): JSON text as
host-harness writes it, WIT 0.3.0 columns, input files, the allow-list, the fast lift and the
compiled-component cache (these two with the built component). Run by
tests/it/hosts_python.rs in .venv/pyhost: `python -m unittest tests/python/test_pyhost.py`.

The float texts are serde_json 1.0.154's (the host's), printed by it for these values; the
calendar cases are the civil-time crate's own tests.
"""
import datetime as dt
import os
import struct
import tempfile
import unittest
from pathlib import Path
from types import SimpleNamespace

from metabase_source_wasm import _airbyte, _batches, _cli, _fastlift, _jsontext as jt, _runtime, _values
from metabase_source_wasm.dlt_source import cursor_text

# The built component (the tests run from the repository's root).
COMPONENT = "dist/metabase_source.wasm"
CACHE = Path("target/test-component-cache-py")  # the hosts tests' cache


class JsonText(unittest.TestCase):
    def test_floats_as_serde_json_prints_them(self):
        for value, text in [
            (1.5, "1.5"), (1.0, "1.0"), (-0.0, "-0.0"), (0.0, "0.0"), (1e15, "1000000000000000.0"), (1e16, "1e+16"),
            (123456.789, "123456.789"), (1e-7, "1e-7"), (0.0001, "0.0001"), (1e-5, "0.00001"), (1.5e-5, "0.000015"),
            (1.234e30, "1.234e+30"), (-2.5, "-2.5"), (0.1, "0.1"), (12345678901234567.0, "1.2345678901234568e+16"),
            (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"), (9007199254740993.0, "9007199254740992.0"),
            (-1e-300, "-1e-300"), (float("nan"), "null"), (float("-inf"), "null"),
        ]:
            self.assertEqual(jt.number(value), text, value)

    def test_dates_and_timestamps_as_civil_time_writes_them(self):
        for days, text in [(0, "1970-01-01"), (19_782, "2024-02-29"), (-1, "1969-12-31"), (-25_567, "1900-01-01"),
                           (-719_529, "-000001-12-31"), (-719_528, "0000-01-01"), (2_932_896, "9999-12-31"),
                           (2_932_897, "+010000-01-01")]:
            self.assertEqual(jt.date_text(days), text)
        for micros, text in [(-1, "1969-12-31T23:59:59.999999Z"), (1, "1970-01-01T00:00:00.000001Z"),
                             (1_718_798_255_859_990, "2024-06-19T11:57:35.859990Z"),
                             (-2_208_988_799_500_000, "1900-01-01T00:00:00.500000Z")]:
            self.assertEqual(jt.timestamp_text(micros), text)

    def test_strings_escape_only_what_serde_json_escapes(self):
        self.assertEqual(jt.string('a"b\\\n\x01\x7f é 🦀'), '"a\\"b\\\\\\n\\u0001\x7f é 🦀"')

    def test_nested_json_is_checked_strictly(self):
        self.assertEqual(jt.checked_json(' {"k": [1,\n 2]} '), '{"k": [1,\n 2]}')
        for bad in ("{oops", "NaN", "[1] [2]", ""):
            with self.assertRaises(ValueError, msg=bad):
                jt.checked_json(bad)

    def test_secrets_are_scrubbed_longest_first_and_short_ones_kept(self):
        scrub = jt.Scrubber()
        scrub.add_from_config({"api_key": "mb_key", "password": "mb_key_longer", "username": "mb_user", "session_token": "ab"})
        self.assertEqual(scrub("mb_key_longer mb_key ab mb_user"), "REDACTED REDACTED ab mb_user")


def column(name, kind, n, values=b"", offsets=b"", validity=b"", nulls=0):
    return SimpleNamespace(name=name, kind=kind, values=values, offsets=offsets, validity=validity, **{"null-count": nulls})


class Columns(unittest.TestCase):
    def batch(self, n, *columns):
        return _batches.from_wit(SimpleNamespace(stream="s", rows=n, columns=list(columns), checkpoint=None))

    def test_every_kind_becomes_the_cells_of_rows(self):
        text = "a" + "é" + '{"x":1}'
        b = self.batch(
            2,
            column("i", "integer", 2, struct.pack("<2q", 7, -1)),
            column("f", "number", 2, struct.pack("<2d", 1.5, 0.0), validity=b"\x01", nulls=1),
            column("b", "boolean", 2, b"\x02"),
            column("t", "timestamp", 2, struct.pack("<2q", 0, 1)),
            column("d", "date", 2, struct.pack("<2i", 19_782, 0)),
            column("s", "string", 2, text.encode()[:3], struct.pack("<3i", 0, 1, 3)),
            column("j", "json", 2, b'{"x":1}[]', struct.pack("<3i", 0, 7, 9)),
        )
        self.assertEqual(b.columns, ["i", "f", "b", "t", "d", "s", "j"])
        self.assertEqual(b.rows[0], [("integer", 7), ("number", 1.5), ("boolean", False), ("timestamp", 0), ("date", 19_782),
                                     ("string", "a"), ("json", '{"x":1}')])
        self.assertEqual(b.rows[1][1], _batches.NULL)
        self.assertEqual(_values.python_value(b.rows[1][6]), [])
        self.assertEqual(_values.python_value(b.rows[0][4]), dt.date(2024, 2, 29))
        lines = _airbyte.record_lines(b, 5, jt.Scrubber())
        self.assertEqual(lines[1], '{"type":"RECORD","record":{"stream":"s","data":{"i":-1,"f":null,"b":true,'
                                   '"t":"1970-01-01T00:00:00.000001Z","d":"1970-01-01","s":"é","j":[]},"emitted_at":5}}\n')

    def test_a_json_string_is_written_as_a_string_value_is(self):
        # As host-harness writes a json-kind column's string (a column that fell back to JSON
        # text): decoded, scrubbed, escaped as serde_json escapes, not the component's own text.
        text = '"\\u00e9 \\/ mb_key"'
        b = self.batch(1, column("j", "json", 1, text.encode(), struct.pack("<2i", 0, len(text))))
        lines = _airbyte.record_lines(b, 5, jt.Scrubber(["mb_key"]))
        self.assertEqual(lines[0], '{"type":"RECORD","record":{"stream":"s","data":{"j":"é / REDACTED"},"emitted_at":5}}\n')
        for bad in ('"\\ud800"', '"a" 1', '"a'):
            b = self.batch(1, column("j", "json", 1, bad.encode(), struct.pack("<2i", 0, len(bad))))
            with self.assertRaises(_airbyte.RowError, msg=bad):
                _airbyte.record_lines(b, 5, jt.Scrubber())

    def test_rows_of_values_are_written_as_columns_are(self):
        # WIT 0.2.0: rows of `value` variants, written row by row with the same writers.
        v = lambda tag, payload=None: SimpleNamespace(tag=tag, payload=payload)  # noqa: E731
        b = _batches.from_wit(SimpleNamespace(stream="s", columns=["i", "a", "n", "s"], checkpoint=None,
                                              rows=[[v("integer", 7), v("array", '[1,\n 2]'), v("null"), v("string", "mb_key")]]))
        self.assertIsNone(b.data)
        lines = _airbyte.record_lines(b, 5, jt.Scrubber(["mb_key"]))
        self.assertEqual(lines, ['{"type":"RECORD","record":{"stream":"s","data":{"i":7,"a":[1,  2],"n":null,'
                                 '"s":"REDACTED"},"emitted_at":5}}\n'])

    def test_a_bad_json_value_fails_its_row_with_the_rows_before_it_written(self):
        good, bad = '{"x":1}', '{"x":'
        b = self.batch(3, column("i", "integer", 3, struct.pack("<3q", 1, 2, 3)),
                       column("j", "json", 3, (good + bad + good).encode(),
                              struct.pack("<4i", 0, len(good), len(good + bad), len(good + bad + good))))
        with self.assertRaises(_airbyte.RowError) as caught:
            _airbyte.record_lines(b, 5, jt.Scrubber())
        self.assertEqual(len(caught.exception.lines), 1)
        self.assertIn('"j":{"x":1}', caught.exception.lines[0])
        self.assertIn("column j", caught.exception.message)
        self.assertIn("row 1", caught.exception.detail)

    def test_a_column_that_does_not_hold_its_rows_names_its_stream(self):
        with self.assertRaises(_batches.ColumnError) as caught:
            self.batch(3, column("i", "integer", 3, struct.pack("<2q", 1, 2)))
        self.assertEqual(caught.exception.stream, "s")
        self.assertIn("column i", str(caught.exception))


class FastLift(unittest.TestCase):
    def test_byte_lists_are_lifted_in_one_copy_with_the_pinned_wasmtime(self):
        # _runtime installs it on import; with the pinned wasmtime-py the layout check passes,
        # so a batch's buffers are not lifted one Python int per byte (the hosts tests check
        # that the records stay identical to host-harness's).
        import ctypes
        from wasmtime.component import _types
        self.assertTrue(_fastlift._installed)
        self.assertEqual(_types.ListType.convert_from_c.__module__, _fastlift.__name__)
        layout = _fastlift._layout()
        self.assertEqual(layout["val"], ctypes.sizeof(_fastlift.ffi.wasmtime_component_val_t))
        self.assertLess(layout["u8"], layout["val"])
        self.assertIsNotNone(_runtime)

    @classmethod
    def setUpClass(cls):
        cls.guest = _runtime.Guest(COMPONENT, cache_dir=CACHE)

    def test_a_result_lifts_as_wasmtime_py_lifts_it(self):
        # A config the component refuses before any request: `discover`'s result is an error
        # record (enums, options, a variant), lifted once by wasmtime-py and once by FastFunc.
        guest = self.guest
        func = guest.func("discover")
        config = '{"instance_api_url": "not a url"}'
        slow = func(guest.store, config)
        func.post_return(guest.store)
        fast_func = _fastlift.FastFunc(func, guest.store)
        fast = fast_func(guest.store, config)
        fast_func.post_return(guest.store)
        self.assertEqual(fast.tag, "err")
        slow = slow.payload if isinstance(slow, _fastlift._types.Variant) else slow
        self.assertEqual(vars(fast.payload), vars(slow))
        self.assertEqual(vars(fast.payload)["retry"].tag, vars(slow)["retry"].tag)
        self.assertIn("instance_api_url", fast.payload.message)

    def test_reading_uses_the_fast_lift(self):
        self.assertIsInstance(self.guest.func("[method]reader.next"), _fastlift.FastFunc)


class CompiledCache(unittest.TestCase):
    def test_an_entry_is_written_reused_and_replaced_when_it_cannot_be_loaded(self):
        with tempfile.TemporaryDirectory() as d:
            cache = Path(d)
            _runtime.load(Path(COMPONENT), cache)
            [entry] = list(cache.glob("*.cwasm"))
            written = entry.read_bytes()
            self.assertEqual(sorted(p.name for p in cache.iterdir()), [entry.name])  # no temporary file left
            _runtime.load(Path(COMPONENT), cache)
            self.assertEqual(entry.read_bytes(), written)
            entry.write_bytes(written[: len(written) // 2])  # a partial (or corrupt) entry: compiled again
            self.assertIsNotNone(_runtime.load(Path(COMPONENT), cache).type)
            self.assertEqual(entry.read_bytes(), written)

    def test_the_key_is_the_wasm_and_the_wasmtime_py_version(self):
        import importlib.metadata
        self.assertEqual(_runtime.wasmtime_version(), importlib.metadata.version("wasmtime"))

    def test_only_the_most_recently_used_entries_are_kept(self):
        with tempfile.TemporaryDirectory() as d:
            cache = Path(d)
            for i in range(_runtime.CACHE_ENTRIES + 3):
                (cache / ("%02d.cwasm" % i)).write_bytes(b"x")
                os.utime(cache / ("%02d.cwasm" % i), (1000 + i, 1000 + i))
            (cache / "other.txt").write_bytes(b"x")
            (cache / ".tmp-1-being-written.cwasm").write_bytes(b"x")
            _runtime._evict(cache, _runtime.CACHE_ENTRIES)
            kept = sorted(p.name for p in cache.iterdir())
            self.assertEqual(kept, [".tmp-1-being-written.cwasm"] + ["%02d.cwasm" % i for i in range(3, _runtime.CACHE_ENTRIES + 3)]
                             + ["other.txt"])


class Inputs(unittest.TestCase):
    def test_state_in_every_shape_airbyte_tools_pass(self):
        stream = {"stream_descriptor": {"name": "cards"}, "stream_state": {"updated_at": "x"}}
        want = {"cards": {"updated_at": "x"}}
        for value in ([{"type": "STREAM", "stream": stream}], [{"type": "STATE", "state": {"type": "STREAM", "stream": stream}}],
                      {"type": "STREAM", "stream": stream}, want, [{"stream": stream}]):
            self.assertEqual(_airbyte.parse_state(value), want, value)
        self.assertIsNone(_airbyte.parse_state([]))
        for bad in ([1], "x", [{"type": "NOPE"}]):
            with self.assertRaises(ValueError):
                _airbyte.parse_state(bad)

    def test_configured_catalog(self):
        streams = _airbyte.parse_configured_catalog({"streams": [
            {"stream": {"name": "users"}, "sync_mode": "incremental"}, {"stream": {"name": "cards"}}]})
        self.assertEqual([(s.name, s.sync_mode) for s in streams], [("users", "incremental"), ("cards", "full-refresh")])
        with self.assertRaises(ValueError):
            _airbyte.parse_configured_catalog({"streams": [{"stream": {"name": "a"}}, {"stream": {"name": "a"}}]})

    def test_allow_entries_as_host_harness_reads_them(self):
        self.assertEqual(_cli.allow_entry("Example.com"), ("example.com", None))
        self.assertEqual(_cli.allow_entry("localhost:3000"), ("localhost", 3000))
        self.assertEqual(_cli.allow_entry("[::1]:8080"), ("::1", 8080))
        self.assertEqual(_cli.allow_entry("::1"), ("::1", None))
        self.assertEqual(_cli.allow_entry("https://m.example.com/api"), ("m.example.com", 443))

    def test_the_host_caps_the_config_keys_the_component_applies(self):
        args = SimpleNamespace(request_timeout_s=60, max_concurrent_requests=None)
        self.assertEqual(_cli.capped({}, args), {"request_timeout_s": 60})
        self.assertEqual(_cli.capped({"request_timeout_s": 30, "max_concurrent_requests": 8}, args),
                         {"request_timeout_s": 30, "max_concurrent_requests": 8})
        self.assertEqual(_cli.capped({"request_timeout_s": "x"}, args), {"request_timeout_s": "x"})


class Dlt(unittest.TestCase):
    def test_cursor_values_go_back_as_the_state_the_component_wrote(self):
        value = dt.datetime(2024, 6, 20, 5, 55, 59, 117538, tzinfo=dt.timezone.utc)
        self.assertEqual(cursor_text(value), "2024-06-20T05:55:59.117538Z")


if __name__ == "__main__":
    unittest.main()
