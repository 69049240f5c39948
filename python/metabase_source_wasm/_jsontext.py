"""JSON text exactly as host-harness writes it, so both hosts print the same
bytes: strings escaped as serde_json does (only `"`, `\\` and C0 controls),
floats in the shortest round-trip form serde_json prints (`1e16`, `1.0`,
`1e-7`), instants and dates as RFC 3339 on the proleptic Gregorian calendar
(years outside 0000-9999 with a sign and six digits), and secrets scrubbed."""
from __future__ import annotations

import datetime as dt
import json
import json.encoder
import math
from functools import lru_cache
from typing import Iterable, List, Tuple

MICROS_PER_DAY = 86_400_000_000
_EPOCH = dt.datetime(1970, 1, 1)
_MICROSECOND = dt.timedelta(microseconds=1)
REDACTED = "REDACTED"
# The config keys whose values are credentials (config-keys' `secret_keys`,
# the keys the spec marks `airbyte_secret`; a test compares them).
SECRET_KEYS = ("api_key", "session_token", "password")
# Shorter values are not scrubbed: replacing every "ab" would destroy data.
MIN_SECRET_LEN = 4

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode


def dumps(value) -> str:
    """A message as serde_json writes a `json!` value: compact, keys sorted."""
    return _dumps(value)


# What `_dumps` does with a str (ensure_ascii=False): the C escaper, without the encoder around it.
string = json.encoder.encode_basestring


def number(x: float) -> str:
    """An f64 as serde_json prints it; NaN and infinities are `null`."""
    text = repr(float(x))
    if "e" not in text and "n" not in text:
        # Python's shortest round-trip digits in positional form (exponents -4 to 15):
        # what serde_json prints for those, "1.0", "-0.0" and "0.0001" included.
        return text
    if math.isnan(x) or math.isinf(x):
        return "null"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    text = repr(abs(x))  # the shortest digits that round-trip
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + (int(exp) if exp else 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    length, kk = len(digits), point
    if 0 <= kk - length and kk <= 16:
        out = digits + "0" * (kk - length) + ".0"
    elif 0 < kk <= 16:
        out = digits[:kk] + "." + digits[kk:]
    elif -5 < kk <= 0:
        out = "0." + "0" * (-kk) + digits
    elif length == 1:
        out = digits + _exponent(kk - 1)
    else:
        out = digits[0] + "." + digits[1:] + _exponent(kk - 1)
    return sign + out


def _exponent(e: int) -> str:
    return "e%+d" % e  # serde_json writes the sign either way: 1e+16, 1e-7


def civil_from_days(days: int) -> Tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return y, m, d


@lru_cache(maxsize=4096)
def date_text(days: int) -> str:
    y, m, d = civil_from_days(days)
    year = "%04d" % y if 0 <= y <= 9999 else ("+" if y > 0 else "-") + "%06d" % abs(y)
    return "%s-%02d-%02d" % (year, m, d)


def timestamp_text(micros: int) -> str:
    try:
        # datetime's C code for the years 1 to 9999 (the same proleptic Gregorian calendar).
        return (_EPOCH + _MICROSECOND * micros).isoformat(timespec="microseconds") + "Z"
    except OverflowError:
        pass
    days, in_day = divmod(micros, MICROS_PER_DAY)
    secs, frac = divmod(in_day, 1_000_000)
    return "%sT%02d:%02d:%02d.%06dZ" % (date_text(days), secs // 3600, secs // 60 % 60, secs % 60, frac)


def one_line(text: str) -> str:
    """Valid JSON on one line: raw line breaks there can only be whitespace."""
    return text.replace("\n", " ").replace("\r", " ")


def _reject_constant(name):
    raise ValueError("%s is not JSON" % name)


# One strict JSON value, parsed by json's C scanner itself (what `json.loads(text,
# parse_constant=_reject_constant)` runs, without making a decoder and matching
# whitespace with regular expressions on every call).
_SCAN = json.JSONDecoder(parse_constant=_reject_constant).scan_once
_WHITESPACE = " \t\n\r"


def _strict_value(text: str):
    """(the value of `text`, `text` without surrounding whitespace) when it is
    exactly one strict JSON value; json.JSONDecodeError otherwise, at the
    position in `text` that `json.loads` reports."""
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    body = text.strip(_WHITESPACE)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _SCAN(body, 0)
    except StopIteration as e:
        raise json.JSONDecodeError("Expecting value", text, start + e.value) from None
    if end != len(body):
        rest = body[end:]
        raise json.JSONDecodeError("Extra data", text, start + end + len(rest) - len(rest.lstrip(_WHITESPACE)))
    return value, body


def checked_json(text: str) -> str:
    """`text` without surrounding whitespace, after checking it is exactly one
    strict JSON value (the component is untrusted); ValueError otherwise."""
    return _strict_value(text)[1]


def json_string(text: str) -> str:
    """The string that `text`, the JSON text of one string, holds; ValueError
    when it is not exactly one (the component is untrusted)."""
    value = _strict_value(text)[0]
    if not isinstance(value, str):
        raise ValueError("not a JSON string: %s" % text[:40])
    value.encode("utf-8")  # a lone surrogate escape (\ud800) is not text: UnicodeEncodeError
    return value


class Scrubber:
    """Replaces known secret values (the config's credentials) with REDACTED."""

    def __init__(self, values: Iterable[str] = ()):
        self.values: List[str] = []
        self.encoded: List[bytes] = []
        for v in values:
            self.add(v)

    def add(self, value: str) -> None:
        if len(value.encode("utf-8")) >= MIN_SECRET_LEN and value not in self.values:
            self.values.append(value)
            self.values.sort(key=len, reverse=True)
            self.encoded = [v.encode("utf-8") for v in self.values]

    def may_hold(self, raw: bytes) -> bool:
        """False when no secret is in `raw` (UTF-8 text holding many values),
        so none of its values needs scrubbing: one search of the buffer
        instead of one per value."""
        return any(v in raw for v in self.encoded)

    def add_from_config(self, config) -> None:
        if isinstance(config, dict):
            for key in SECRET_KEYS:
                if isinstance(config.get(key), str):
                    self.add(config[key])

    def __call__(self, text: str) -> str:
        for v in self.values:
            if v in text:
                text = text.replace(v, REDACTED)
        return text
