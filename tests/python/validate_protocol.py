#!/usr/bin/env python3
"""Validate Airbyte protocol output (JSON lines) with the official models, strictly.

    validate_protocol.py --report REPORT.json FILE...

Every non-empty line of every FILE must be a JSON object that parses as an `AirbyteMessage` of the
official `airbyte-protocol-models` package (pydantic 1), whose payload named by `type` is present,
and that uses no field the protocol does not define. The models accept unknown fields
(`extra = allow`), so a misspelt `source_stats` or `connection_status` would pass them silently;
here every key is checked against the model's fields, down to the free-form objects (record data,
JSON schemas, state blobs, connection specifications), which are left alone.

REPORT.json gets {"lines": N, "types": {TYPE: N}, "failures": ["FILE:LINE: reason :: line…"]}.
Exit status: 0 when the report was written (the caller judges the failures), 2 when the models
are not importable.
"""
import argparse
import collections
import json
import sys

try:
    import pydantic
    from airbyte_protocol.models import AirbyteMessage
except ImportError as e:  # pragma: no cover - reported to the test, which says how to set up
    sys.stderr.write("validate_protocol.py: %s (install airbyte-protocol-models: ./build.sh test does)\n" % e)
    sys.exit(2)

PAYLOAD = {
    "RECORD": "record", "STATE": "state", "LOG": "log", "SPEC": "spec",
    "CONNECTION_STATUS": "connectionStatus", "CATALOG": "catalog", "TRACE": "trace",
    "CONTROL": "control",
}


def unknown_keys(model, raw, path):
    """Keys of `raw` (a dict) that `model` (the parsed pydantic v1 instance) does not declare."""
    out = []
    by_alias = {f.alias: name for name, f in model.__fields__.items()}
    for key, value in raw.items():
        name = by_alias.get(key)
        if name is None:
            out.append("%s.%s" % (path, key))
            continue
        parsed = getattr(model, name)
        out.extend(nested_unknown(parsed, value, "%s.%s" % (path, key)))
    return out


def nested_unknown(parsed, value, path):
    if isinstance(parsed, pydantic.BaseModel) and isinstance(value, dict):
        # A root model wraps a free-form value, and a model with no fields (the state blob) is
        # free-form itself: their insides are not checked.
        if not parsed.__fields__ or "__root__" in parsed.__fields__:
            return []
        return unknown_keys(parsed, value, path)
    if isinstance(parsed, list) and isinstance(value, list):
        out = []
        for i, (p, v) in enumerate(zip(parsed, value)):
            out.extend(nested_unknown(p, v, "%s[%d]" % (path, i)))
        return out
    return []  # scalars, enums and free-form dicts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", required=True)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()

    types = collections.Counter()
    failures = []
    lines = 0
    for name in a.files:
        with open(name, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                lines += 1
                where = "%s:%d" % (name, lineno)

                def fail(reason):
                    failures.append("%s: %s :: %s" % (where, reason, line[:300]))

                try:
                    obj = json.loads(line)
                except ValueError as e:
                    fail("not JSON (%s)" % e)
                    continue
                if not isinstance(obj, dict):
                    fail("not a JSON object")
                    continue
                try:
                    msg = AirbyteMessage.parse_obj(obj)
                except pydantic.ValidationError as e:
                    fail("not an AirbyteMessage: " + " ".join(str(e).split()))
                    continue
                t = obj.get("type")
                types[t] += 1
                key = PAYLOAD.get(t)
                if key is None or obj.get(key) is None:
                    fail("type %s without its payload %r" % (t, key))
                    continue
                extra = unknown_keys(msg, obj, "$")
                if extra:
                    fail("fields the protocol does not define: " + ", ".join(extra))
                if t == "RECORD" and (not isinstance(obj["record"].get("emitted_at"), int)
                                      or isinstance(obj["record"].get("emitted_at"), bool)):
                    # pydantic 1 silently truncates a float here.
                    fail("record.emitted_at is not an integer")

    with open(a.report, "w") as out:
        json.dump({"lines": lines, "types": dict(types), "failures": failures,
                   "pydantic": pydantic.VERSION}, out, indent=1)


if __name__ == "__main__":
    main()
