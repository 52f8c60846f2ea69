#!/usr/bin/env python
"""Measure the local SQL warehouse against Apache Spark's SQL golden files (sql-tests `results/**/*.sql.out`).

    python scripts/spark_sql_tests.py [--json FILE] [--jobs N] [--only NAME_SUBSTRING ...] [ROOT ...]

Each golden file runs on a fresh LocalSQLWarehouse; each block gets a verdict by the rules of Spark's own suite
(SQLQueryTestSuite, SQLQueryTestHelper, HiveResult in the ROOT's reference/ folder):

- match: Spark answered rows, and ours has the same schema string (`struct<name:type,...>`: Spark compares the
  whole catalogString, names included) and the same rows as HiveResult prints them, sorted unless Spark's
  isSemanticallySorted rule keeps the engine's order;
- error_parity: Spark raised and so did ours;
- refused: Spark answered (or ran a command) and ours raised; `crashed` counts, among them, Python exceptions
  other than the connector's DatabaseError (LocalSQLError is one), which are never counted as error_parity;
- wrong: ours answered differently (schema or rows), or answered where Spark raised;
- command: Spark's schema is `struct<>` with no output (DDL, INSERT, ...) and ours ran.

Exits 1 if any block is wrong.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import decimal
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from fractions import Fraction
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import sqlglot
from sqlglot import exp

logging.getLogger("sqlglot").setLevel(logging.ERROR)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite_support import shared_dir  # noqa: E402

# beside the checkout, or beside the checkout it was cloned from
DEFAULT_ROOT = Path(shared_dir("spark-sql-tests") or REPO.parent / "shared" / "spark-sql-tests")
SUITE_TIME_ZONE = "America/Los_Angeles"  # SharedSparkSession's spark.sql.session.timeZone
VERDICTS = ("match", "error_parity", "refused", "wrong", "command")
EMPTY_SCHEMA = "struct<>"
_JAVA_WS = " \t\n\x0b\f\r"  # Java regex \s
_JAVA_DOT = "[^\n\r\u0085\u2028\u2029]"  # Java regex `.`: any character but a line terminator


# ---------------------------------------------------------------------------------------------------------------------
# Java string helpers


def _read(path: Path) -> str:
    """A file's text with its line ends as they are (a '\\r' inside a literal or a column name stays one)."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        return f.read()


def java_trim(text: str) -> str:
    """String.trim: strips characters <= U+0020 at both ends."""
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def utf16_key(text: str) -> bytes:
    """Sort key of Java's String.compareTo (UTF-16 code units), which Scala's `sorted` uses."""
    return text.encode("utf-16-be", "surrogatepass")


def java_sorted(rows: Iterable[str]) -> list[str]:
    return sorted(rows, key=utf16_key)


# ---------------------------------------------------------------------------------------------------------------------
# Golden files


@dataclasses.dataclass(frozen=True)
class Block:
    """One `-- !query` block of a golden file: the SQL, Spark's schema string and its normalized output."""

    sql: str
    schema: str
    output: str

    @property
    def kind(self) -> str:
        """'error' (schema struct<> and an exception), 'command' (struct<> and no output) or 'rows'."""
        if self.schema == EMPTY_SCHEMA:
            return "error" if self.output else "command"
        return "rows"

    @property
    def spark_error(self) -> str | None:
        """The exception class, error class and SQLSTATE of an expected error."""
        if self.kind != "error":
            return None
        lines = self.output.split("\n")
        parts = [lines[0]]
        for key in ("errorClass", "sqlState"):
            m = re.search(rf'"{key}" : "([^"]*)"', self.output)
            if m:
                parts.append(m.group(1))
        return " ".join(parts)


_MARKER = re.compile(r"^-- !query([^\n]*)\n", re.M)


def normalize_output(output: str) -> str:
    """SQLQueryTestHelper.normalizeTestResults: drops Python tracebacks and trailing whitespace."""
    kept, traceback = [], False
    for line in output.split("\n"):
        if line == "Traceback (most recent call last):":
            traceback = True
        elif not line.startswith(" "):
            traceback = False
        if not traceback:
            kept.append(line)
    return "\n".join(kept).rstrip(_JAVA_WS)


def parse_golden(text: str) -> list[Block]:
    """The blocks of a .sql.out file (the header before the first `-- !query` is skipped)."""
    marks = list(_MARKER.finditer(text))
    blocks: list[Block] = []
    current: dict[str, str] | None = None
    for i, m in enumerate(marks):
        body = text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        tag = m.group(1).strip()
        if tag == "":
            if current is not None and "output" in current:
                blocks.append(Block(current["sql"], current.get("schema", ""), current["output"]))
            current = {"sql": java_trim(body)}
        elif current is not None and tag == "schema":
            current["schema"] = java_trim(body)
        elif current is not None and tag == "output":
            current["output"] = normalize_output(body)
    if current is not None and "output" in current:
        blocks.append(Block(current["sql"], current.get("schema", ""), current["output"]))
    return blocks


@dataclasses.dataclass
class Directives:
    """What an input file asks of the session: --SET settings, --IMPORT names and --ONLY_IF engines."""

    settings: list[tuple[str, str]]
    imports: list[str]
    only_if: list[str]


def _comment_lines(text: str) -> list[str]:
    """SQLQueryTestHelper.splitCommentsAndCodes: the comment lines (untrimmed, as Spark keeps them)."""
    return [
        line
        for line in text.split("\n")
        if line.strip().startswith("--")
        and not line.strip().startswith("--QUERY-DELIMITER")
        and line.strip() != "--DEBUG"
    ]


def parse_directives(text: str) -> Directives:
    """The directives of one input file, as getSparkSettings reads them (`--SET a=1, b=2` sets two)."""
    comments = _comment_lines(text)
    settings: list[tuple[str, str]] = []
    for line in comments:
        if not line.startswith("--SET "):
            continue
        for kv in line[6:].split(","):
            if "=" in kv:
                key, value = kv.split("=", 1)
                settings.append((java_trim(key), java_trim(value)))
    imports = [line[9:] for line in comments if line.startswith("--IMPORT ")]
    only_if: list[str] = []
    for line in comments:
        if line.startswith("--ONLY_IF"):
            only_if += [w.lower() for w in re.split(r"[\s,]+", line[len("--ONLY_IF") :]) if w]
    return Directives(settings, imports, only_if)


def read_directives(input_path: Path, inputs_root: Path) -> tuple[Directives, list[str]]:
    """The file's directives and the engines named by --ONLY_IF in it or in the files it imports.

    As in SQLQueryTestSuite, only the file's own --SET lines configure the session: an imported file contributes
    its queries (already in the golden file), not its settings."""
    own = parse_directives(_read(input_path))
    engines = list(own.only_if)
    for name in own.imports:
        for candidate in (inputs_root / name, input_path.parent / name):
            if candidate.is_file():
                engines += parse_directives(_read(candidate)).only_if
                break
    return own, engines


def case_settings(relative_input: str) -> list[tuple[str, str]]:
    """The settings SQLQueryTestSuite.setupLocalSession gives a test case by its folder (before --SET)."""
    if relative_input.startswith(("udf/postgreSQL", "postgreSQL")):
        return [("spark.sql.ansi.enabled", "true"), ("spark.sql.legacy.interval.enabled", "true")]
    if relative_input.startswith("nonansi"):
        return [("spark.sql.ansi.enabled", "false")]
    if relative_input.startswith("timestampNTZ"):
        return [("spark.sql.ansi.enabled", "true"), ("spark.sql.timestampType", "TIMESTAMP_NTZ")]
    return [("spark.sql.ansi.enabled", "true")]


# ---------------------------------------------------------------------------------------------------------------------
# HiveResult.toHiveString


def _java_digits(x: float, f32: bool) -> tuple[str, int]:
    """The shortest decimal digits (no trailing zeros) and exponent E (x = d.ddd * 10^E) of a finite nonzero x,
    as Double.toString / Float.toString pick them (JDK 19+, the java21 golden files)."""
    if f32:
        mantissa, _, e = np.format_float_scientific(np.float32(x), unique=True, trim="-").partition("e")
        digits, exponent = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0", int(e)
    else:
        _, tup, e10 = Decimal(repr(x)).as_tuple()
        digits = "".join(map(str, tup)).rstrip("0") or "0"
        exponent = int(e10) + len(tup) - 1
    if len(digits) == 1:  # JDK 19+: among decimals of length 2, the closest to x (4.9E-324, not 5.0E-324)
        two = f"{abs(x):.1e}"
        if two[0] + two[2] != digits + "0":
            candidate = Fraction(Decimal(two))
            if _rounds_to(candidate, abs(x), f32):
                digits, exponent = (two[0] + two[2]).rstrip("0"), int(two.partition("e")[2])
    return digits, exponent


def _rounds_to(value: Fraction, x: float, f32: bool) -> bool:
    """Whether the decimal `value` reads back as x (round half to even) in binary64 or binary32."""
    if f32:
        lo_f = float(np.nextafter(np.float32(x), np.float32(-np.inf)))
        hi_f = float(np.nextafter(np.float32(x), np.float32(np.inf)))
        even = struct.unpack(">I", struct.pack(">f", x))[0] % 2 == 0
    else:
        lo_f, hi_f = math.nextafter(x, -math.inf), math.nextafter(x, math.inf)
        even = struct.unpack(">Q", struct.pack(">d", x))[0] % 2 == 0
    lo, hi = (Fraction(x) + Fraction(lo_f)) / 2, (Fraction(x) + Fraction(hi_f)) / 2
    return lo < value < hi or (even and value in (lo, hi))


def java_double(x: float, f32: bool = False) -> str:
    """Double.toString (Float.toString with f32): `1.0`, `1.0E10`, `1.0E-5`, `NaN`, `-Infinity`."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0.0"
    digits, e = _java_digits(x, f32)
    if 1e-3 <= abs(x) < 1e7:
        if e >= 0:
            whole = digits[: e + 1].ljust(e + 1, "0")
            return f"{sign}{whole}.{digits[e + 1 :] or '0'}"
        return f"{sign}0.{'0' * (-e - 1)}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{e}"


def java_float(x: float) -> str:
    return java_double(x, f32=True)


_WIDE = decimal.Context(prec=200)


def plain_decimal(value: Decimal, scale: int | None = None) -> str:
    """BigDecimal.toPlainString of a DECIMAL value at its type's scale."""
    if scale is not None and value.is_finite() and value.as_tuple().exponent != -scale:
        value = value.quantize(Decimal(1).scaleb(-scale), context=_WIDE)
    text = format(value, "f")
    return text[1:] if text.startswith("-") and value == 0 else text


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count from 1970-01-01 in the proleptic Gregorian calendar."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def java_year(year: int) -> str:
    """ISO year as Spark's formatters print it: 4 digits, a sign beyond (`+99999`, `-0015`)."""
    if year > 9999:
        return f"+{year}"
    return f"-{-year:04d}" if year < 0 else f"{year:04d}"


def format_date(days: int) -> str:
    y, m, d = civil_from_days(days)
    return f"{java_year(y)}-{m:02d}-{d:02d}"


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CYCLE = 146097 * 86400  # 400 Gregorian years: the calendar (and a zone's far rules) repeat
_FIRST_OK, _LAST_OK = -62135596800 + 2 * 86400, 253402300799 - 2 * 86400  # years 1..9999 with a margin


def zone_offset(zone: tzinfo, seconds: int) -> int:
    """UTC offset in seconds of `zone` at an instant; beyond years 1-9999, at the instant 400-year cycles away
    (before year 1: the zone's local mean time, as java.time has it; after 9999: its last rules)."""
    if seconds < _FIRST_OK:
        seconds += -((seconds - _FIRST_OK) // _CYCLE) * _CYCLE
    elif seconds > _LAST_OK:
        seconds -= -((_LAST_OK - seconds) // _CYCLE) * _CYCLE
    offset = (_EPOCH + timedelta(seconds=seconds)).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _fraction(value: int, digits: int) -> str:
    return "." + str(value).zfill(digits).rstrip("0") if value else ""


_PER_SECOND = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}


def format_timestamp(value: int, unit: str, zone: tzinfo | None) -> str:
    """`yyyy-MM-dd HH:mm:ss[.fffffffff]` of a timestamp in `unit` since the epoch: an instant shown in `zone`, or
    (zone None) a local date-time; the fraction without trailing zeros."""
    per = _PER_SECOND[unit]
    seconds, frac = divmod(value, per)
    if zone is not None:
        seconds += zone_offset(zone, seconds)
    days, sod = divmod(seconds, 86400)
    digits = len(str(per)) - 1
    return f"{format_date(days)} {sod // 3600:02d}:{sod // 60 % 60:02d}:{sod % 60:02d}{_fraction(frac, digits)}"


def format_time(value: int, unit: str) -> str:
    per = _PER_SECOND[unit]
    seconds, frac = divmod(value, per)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{_fraction(frac, len(str(per)) - 1)}"


def _jdiv(a: int, b: int) -> int:
    """Java's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def format_calendar_interval(months: int, days: int, nanos: int) -> str:
    """CalendarInterval.toString (Spark's `interval` type); sub-microsecond nanoseconds, which Spark cannot hold,
    are kept so they never compare equal."""
    if months == 0 and days == 0 and nanos == 0:
        return "0 seconds"
    out = []
    if months:
        out += [(_jdiv(months, 12), "years"), (months - 12 * _jdiv(months, 12), "months")]
    out.append((days, "days"))
    words = [f"{v} {unit}" for v, unit in out if v]
    micros = _jdiv(nanos, 1000)
    sub = nanos - 1000 * micros
    if nanos:
        hours = _jdiv(micros, 3_600_000_000)
        rest = micros - hours * 3_600_000_000
        minutes = _jdiv(rest, 60_000_000)
        rest -= minutes * 60_000_000
        words += [f"{v} {unit}" for v, unit in ((hours, "hours"), (minutes, "minutes")) if v]
        if rest or sub:
            seconds = (Decimal(rest).scaleb(-6) + Decimal(sub).scaleb(-9)).normalize()
            words.append(f"{format(seconds, 'f')} seconds")
    return " ".join(words)


BINARY_STYLES = ("UTF-8", "BASIC", "BASE64", "HEX", "HEX_DISCRETE")


def format_binary(data: bytes, style: str) -> str:
    """ToStringBase's binary formatter for spark.sql.binaryOutputStyle (UTF-8 when unset, as HiveResult sets)."""
    if style == "BASIC":
        return "[" + ", ".join(str(b - 256 if b > 127 else b) for b in data) + "]"
    if style == "BASE64":
        return base64.b64encode(data).decode().rstrip("=")
    if style == "HEX":
        return data.hex().upper()
    if style == "HEX_DISCRETE":
        return "[" + " ".join(f"{b:02X}" for b in data) + "]"
    return data.decode("utf-8", "replace")


def binary_style(value: str) -> str | None:
    """The BinaryOutputStyle a setting value names, or None."""
    name = value.strip().upper()
    name = "UTF-8" if name in ("UTF8", "UTF-8") else name
    return name if name in BINARY_STYLES else None


def spark_type(dtype: pa.DataType, metadata: dict[bytes, bytes] | None = None) -> str:
    """Spark's catalogString for an Arrow result type (types Spark does not have keep their Arrow name)."""
    if metadata and metadata.get(b"Spark:DataType:SqlName", b"").upper() == b"VARIANT":
        return "variant"
    t = pa.types
    simple: list[tuple[Callable[[pa.DataType], bool], str]] = [
        (t.is_null, "void"),
        (t.is_boolean, "boolean"),
        (t.is_int8, "tinyint"),
        (t.is_int16, "smallint"),
        (t.is_int32, "int"),
        (t.is_int64, "bigint"),
        (t.is_float32, "float"),
        (t.is_float64, "double"),
        (t.is_date, "date"),
    ]
    for predicate, name in simple:
        if predicate(dtype):
            return name
    if t.is_string(dtype) or t.is_large_string(dtype) or t.is_string_view(dtype):
        return "string"
    if t.is_binary(dtype) or t.is_large_binary(dtype) or t.is_binary_view(dtype) or t.is_fixed_size_binary(dtype):
        return "binary"
    if t.is_decimal(dtype):
        return f"decimal({dtype.precision},{dtype.scale})"
    if t.is_timestamp(dtype):
        if dtype.unit == "ns":
            return "timestamp_ltz(9)" if dtype.tz is not None else "timestamp_ntz(9)"
        return "timestamp" if dtype.tz is not None else "timestamp_ntz"
    if t.is_time(dtype):
        return f"time({len(str(_PER_SECOND[dtype.unit])) - 1})"
    if t.is_interval(dtype):
        return "interval"
    if t.is_dictionary(dtype):
        return spark_type(dtype.value_type)
    if t.is_map(dtype):
        return f"map<{spark_type(dtype.key_type)},{spark_type(dtype.item_type)}>"
    if t.is_list(dtype) or t.is_large_list(dtype) or t.is_fixed_size_list(dtype) or t.is_list_view(dtype):
        return f"array<{spark_type(dtype.value_type)}>"
    if t.is_large_list_view(dtype):
        return f"array<{spark_type(dtype.value_type)}>"
    if t.is_struct(dtype):
        return "struct<" + ",".join(f"{f.name}:{spark_type(f.type)}" for f in dtype) + ">"
    return f"arrow:{dtype}"


def schema_string(schema: pa.Schema) -> str:
    """StructType.catalogString of a result: `struct<name:type,...>`."""
    return "struct<" + ",".join(f"{f.name}:{spark_type(f.type, f.metadata)}" for f in schema) + ">"


class HiveFormatter:
    """HiveResult.toHiveString over Arrow columns, in a session time zone and binary output style."""

    def __init__(self, zone: tzinfo, binary: str = "UTF-8"):
        self.zone = zone
        self.binary = binary

    def column(self, array: pa.Array | pa.ChunkedArray, nested: bool = False) -> list[str]:
        """One string per value: NULL at top level, null nested; strings quoted when nested."""
        if isinstance(array, pa.ChunkedArray):
            out: list[str] = []
            for chunk in array.chunks:
                out += self.column(chunk, nested)
            return out
        null = "null" if nested else "NULL"
        t, dtype = pa.types, array.type
        if t.is_dictionary(dtype):
            return self.column(array.dictionary_decode(), nested)
        if isinstance(dtype, pa.ExtensionType):
            return self.column(array.storage, nested)
        if t.is_null(dtype):
            return [null] * len(array)
        if t.is_list_view(dtype) or t.is_large_list_view(dtype):
            return self.column(array.cast(pa.large_list(dtype.value_type)), nested)
        if t.is_map(dtype):
            return self._map(array, null)
        if t.is_list(dtype) or t.is_large_list(dtype) or t.is_fixed_size_list(dtype):
            return self._list(array, null)
        if t.is_struct(dtype):
            return self._struct(array, null)
        if t.is_timestamp(dtype):
            zone = self.zone if dtype.tz is not None else None
            ints = array.cast(pa.int64()).to_pylist()
            return [null if v is None else format_timestamp(v, dtype.unit, zone) for v in ints]
        if t.is_date32(dtype) or t.is_date64(dtype):
            ints = array.cast(pa.int32() if t.is_date32(dtype) else pa.int64()).to_pylist()
            per_day = 1 if t.is_date32(dtype) else 86_400_000
            return [null if v is None else format_date(v // per_day) for v in ints]
        if t.is_time(dtype):
            ints = array.cast(pa.int64() if t.is_time64(dtype) else pa.int32()).to_pylist()
            return [null if v is None else format_time(v, dtype.unit) for v in ints]
        values = array.to_pylist()
        if t.is_boolean(dtype):
            return [null if v is None else ("true" if v else "false") for v in values]
        if t.is_integer(dtype):
            return [null if v is None else str(v) for v in values]
        if t.is_floating(dtype):
            f32 = not t.is_float64(dtype)
            return [null if v is None else java_double(float(v), f32) for v in values]
        if t.is_decimal(dtype):
            return [null if v is None else plain_decimal(v, dtype.scale) for v in values]
        if t.is_string(dtype) or t.is_large_string(dtype) or t.is_string_view(dtype):
            return [null if v is None else (f'"{v}"' if nested else v) for v in values]
        if t.is_binary(dtype) or t.is_large_binary(dtype) or t.is_binary_view(dtype) or t.is_fixed_size_binary(dtype):
            return [null if v is None else format_binary(v, self.binary) for v in values]
        if t.is_interval(dtype):
            return [null if v is None else format_calendar_interval(*v) for v in values]
        return [null if v is None else str(v) for v in values]

    def _list(self, array: pa.Array, null: str) -> list[str]:
        items = self.column(array.flatten(), nested=True)
        if pa.types.is_fixed_size_list(array.type):
            lengths = [array.type.list_size if ok else None for ok in array.is_valid().to_pylist()]
        else:
            lengths = array.value_lengths().to_pylist()
        out, pos = [], 0
        for n in lengths:
            if n is None:
                out.append(null)
                continue
            out.append("[" + ",".join(items[pos : pos + n]) + "]")
            pos += n
        return out

    def _map(self, array: pa.Array, null: str) -> list[str]:
        offsets = array.offsets.to_pylist()  # sliced with the array; its keys and items are not
        first, last = offsets[0], offsets[-1]
        keys = self.column(array.keys.slice(first, last - first), nested=True)
        items = self.column(array.items.slice(first, last - first), nested=True)
        out = []
        for i, ok in enumerate(array.is_valid().to_pylist()):
            if not ok:
                out.append(null)
                continue
            lo, hi = offsets[i] - first, offsets[i + 1] - first
            entries = [f"{k}:{v}" for k, v in zip(keys[lo:hi], items[lo:hi], strict=True)]
            out.append("{" + ",".join(java_sorted(entries)) + "}")
        return out

    def _struct(self, array: pa.Array, null: str) -> list[str]:
        names = [f.name for f in array.type]
        children = [self.column(child, nested=True) for child in array.flatten()]
        out = []
        for i, ok in enumerate(array.is_valid().to_pylist()):
            if not ok:
                out.append(null)
                continue
            out.append("{" + ",".join(f'"{n}":{c[i]}' for n, c in zip(names, children, strict=True)) + "}")
        return out

    def rows(self, table: pa.Table, mode: str = "query") -> list[str]:
        """HiveResult.hiveResultString: tab-joined cells; DESCRIBE rows padded to 20 characters; SHOW TABLES /
        SHOW VIEWS only their second column."""
        if mode == "show_names" and table.num_columns >= 2:
            return ["null" if v is None else str(v) for v in table.column(1).to_pylist()]
        if mode == "describe" and table.num_columns == 3:
            name, dtype, comment = (table.column(i).to_pylist() for i in range(3))
            return [
                "\t".join(
                    _pad20(v) for v in ("null" if a is None else str(a), "null" if b is None else str(b), c or "")
                )
                for a, b, c in zip(name, dtype, comment, strict=True)
            ]
        columns = [self.column(table.column(i)) for i in range(table.num_columns)]
        if not columns:
            return [""] * table.num_rows
        return ["\t".join(cells) for cells in zip(*columns, strict=True)]


def _pad20(text: str) -> str:
    """String.format("%-20s", s): padded to 20 UTF-16 code units."""
    return text + " " * max(0, 20 - len(utf16_key(text)) // 2)


# SQLQueryTestHelper.replaceNotIncludedMsg, applied to each answer row (Java regex semantics)
_CLS = "org.apache.spark.sql.SQLQueryTestSuite"
_NOT_INCLUDED = "[not included in comparison]"
_REPLACEMENTS = [
    (r"#\d+", "#x"),
    (r"plan_id=\d+", "plan_id=x"),
    (r"uuid\(Some\(-?\d+\)\)", "uuid(Some(x))"),
    (f"Location{_JAVA_DOT}*{_CLS}/", f"Location {_NOT_INCLUDED}/{{warehouse_dir}}/"),
    (rf"file:[^\s,]*{_CLS}", f"file:{_NOT_INCLUDED}/{{warehouse_dir}}"),
    (f"Created By{_JAVA_DOT}*", f"Created By {_NOT_INCLUDED}"),
    (f"Created Time{_JAVA_DOT}*", f"Created Time {_NOT_INCLUDED}"),
    (f"Last Access{_JAVA_DOT}*", f"Last Access {_NOT_INCLUDED}"),
    (f"Owner[\t ]+({_JAVA_DOT}*)", f"Owner\t{_NOT_INCLUDED}"),
    (r"Partition Statistics\t\d+", f"Partition Statistics\t{_NOT_INCLUDED}"),
    (r"CTERelationDef \d+,", "CTERelationDef xxxx,"),
    (r"CTERelationRef \d+,", "CTERelationRef xxxx,"),
    (r"UnionLoop \d+", "UnionLoop xxxx"),
    (r"UnionLoopRef \d+,", "UnionLoopRef xxxx,"),
    (r"Loop id: \d+", "Loop id: xxxx"),
    (r"@\w*,", "@xxxxxxxx,"),
    (r"\*\(\d+\) ", "*"),
    (f'"location":{_JAVA_DOT}*?{_CLS}/', f'"location": "{_NOT_INCLUDED}/{{warehouse_dir}}/'),
    (f'"created_by":"{_JAVA_DOT}*?"', f'"created_by {_NOT_INCLUDED}":"None"'),
    (f'"created_time":"{_JAVA_DOT}*?"', f'"created_time {_NOT_INCLUDED}":"None"'),
    (r"transient_lastDdlTime=\d+", f"transient_lastDdlTime={_NOT_INCLUDED}"),
    (r'"transient_lastDdlTime":"\d+"', f'"transient_lastDdlTime {_NOT_INCLUDED}":"None"'),
    (f'"last_access":"{_JAVA_DOT}*?"', f'"last_access {_NOT_INCLUDED}":"None"'),
    (f'"owner":"{_JAVA_DOT}*?"', f'"owner {_NOT_INCLUDED}":"None"'),
    (r'"partition_statistics":"\d+"', f'"partition_statistics {_NOT_INCLUDED}":"None"'),
    (r"cterelationdef \d+,", "cterelationdef xxxx,"),
    (r"cterelationref \d+,", "cterelationref xxxx,"),
]
_COMPILED_REPLACEMENTS = [(re.compile(p, re.ASCII), r) for p, r in _REPLACEMENTS]


def replace_not_included(row: str) -> str:
    for pattern, replacement in _COMPILED_REPLACEMENTS:
        if pattern.search(row):
            row = pattern.sub(lambda _m, r=replacement: r, row)
    return row


# ---------------------------------------------------------------------------------------------------------------------
# Spark's sort rule (SQLQueryTestHelper.isSemanticallySorted) from the SQL text


_AGGREGATES = frozenset(
    [
        "any",
        "any_value",
        "approx_count_distinct",
        "approx_percentile",
        "approx_top_k_accumulate",
        "array_agg",
        "avg",
        "bit_and",
        "bit_or",
        "bit_xor",
        "bitmap_construct_agg",
        "bitmap_or_agg",
        "bool_and",
        "bool_or",
        "collect_list",
        "collect_set",
        "corr",
        "count",
        "count_if",
        "count_min_sketch",
        "covar_pop",
        "covar_samp",
        "every",
        "first",
        "first_value",
        "grouping",
        "grouping_id",
        "histogram_numeric",
        "hll_sketch_agg",
        "hll_union_agg",
        "kurtosis",
        "last",
        "last_value",
        "listagg",
        "max",
        "max_by",
        "mean",
        "median",
        "min",
        "min_by",
        "mode",
        "percentile",
        "percentile_approx",
        "percentile_cont",
        "percentile_disc",
        "regr_avgx",
        "regr_avgy",
        "regr_count",
        "regr_intercept",
        "regr_r2",
        "regr_slope",
        "regr_sxx",
        "regr_sxy",
        "regr_syy",
        "skewness",
        "some",
        "std",
        "stddev",
        "stddev_pop",
        "stddev_samp",
        "string_agg",
        "sum",
        "try_avg",
        "try_sum",
        "var_pop",
        "var_samp",
        "variance",
    ]
)
_GENERATORS = frozenset(
    [
        "explode",
        "explode_outer",
        "posexplode",
        "posexplode_outer",
        "inline",
        "inline_outer",
        "stack",
        "json_tuple",
        "variant_explode",
        "variant_explode_outer",
    ]
)


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower() if isinstance(node, exp.Func) else ""


def _stops_projection(expressions: list[exp.Expression]) -> bool:
    """Whether a SELECT list makes an Aggregate (an aggregate function outside a window) or a Generate."""
    stack = list(expressions)
    while stack:
        node = stack.pop()
        if isinstance(node, (exp.Window, exp.Query, exp.Subquery)):
            continue
        name = _function_name(node)
        if name.endswith("_agg") or isinstance(node, exp.AggFunc) or name in _AGGREGATES or name in _GENERATORS:
            return True
        if isinstance(node, (exp.Explode, exp.Posexplode, exp.Inline)):
            return True
        stack.extend(node.iter_expressions())
    return False


def _plan_sorted(node: exp.Expression | None, views: dict[str, bool], ctes: frozenset[str]) -> bool:
    """isSemanticallySorted over the analyzed plan a query makes: a global Sort reached from the top without
    passing a Join, Aggregate, Generate, Sample or Distinct (CTE definitions are children of WithCTE, a view's
    plan a child of View)."""
    if node is None:
        return False
    with_ = node.args.get("with_") or node.args.get("with")
    if isinstance(with_, exp.With):
        names = frozenset(cte.alias_or_name.lower() for cte in with_.expressions)
        if any(_plan_sorted(cte.this, views, ctes | names) for cte in with_.expressions):
            return True
        ctes = ctes | names
    if isinstance(node.args.get("order"), exp.Order):
        return True
    if isinstance(node, exp.Subquery):
        return _plan_sorted(node.this, views, ctes)
    if isinstance(node, exp.Union) and node.args.get("distinct"):
        return False  # Distinct(Union)
    if isinstance(node, (exp.Union, exp.Intersect, exp.Except)):
        return _plan_sorted(node.this, views, ctes) or _plan_sorted(node.expression, views, ctes)
    if not isinstance(node, exp.Select):
        return False
    if any(node.args.get(k) for k in ("distinct", "group", "having", "laterals", "joins")):
        return False
    if _stops_projection(node.expressions):
        return False
    from_ = node.args.get("from_") or node.args.get("from")
    return isinstance(from_, exp.From) and _source_sorted(from_.this, views, ctes)


def _source_sorted(source: exp.Expression, views: dict[str, bool], ctes: frozenset[str]) -> bool:
    if source.args.get("sample") or any(not p.args.get("unpivot") for p in source.args.get("pivots") or []):
        return False  # Sample, or a PIVOT's Aggregate
    if isinstance(source, exp.Subquery):
        return _plan_sorted(source, views, ctes)
    if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
        name = source.name.lower()
        if not source.db and name in ctes:
            return False  # CTERelationRef: a leaf (its definition was checked under WITH)
        return views.get(name, False)
    return False


_QUERY_START = re.compile(r"\s*(SELECT|WITH|FROM|VALUES|TABLE)\b|\s*\(", re.I)


def _skeleton(sql: str) -> str:
    """The SQL with string literals, quoted identifiers and comments blanked out."""
    out, i, n = [], 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            j = i + 1
            while j < n and sql[j] != c:
                j += 2 if sql[j] == "\\" and c != "`" else 1
            out.append(" " * (min(j, n - 1) - i + 1))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def order_by_positions(sql: str) -> tuple[bool, bool]:
    """(an ORDER BY at the top level, an ORDER BY inside nothing but parenthesized queries) in the SQL text."""
    text = _skeleton(sql)
    stack: list[bool] = []  # per open parenthesis: does it hold a query?
    top = nested = False
    for m in re.finditer(r"\(|\)|\bORDER\s+BY\b", text, re.I):
        token = m.group(0)
        if token == "(":
            stack.append(bool(_QUERY_START.match(text, m.end())))
        elif token == ")":
            if stack:
                stack.pop()
        elif not stack:
            top = True
        elif all(stack):
            nested = True
    return top, top or nested


_DESCRIBE = re.compile(r"\s*(?:DESC|DESCRIBE)\s+(.*)", re.I | re.S)
_IDENT = r"(?:`(?:[^`]|``)*`|[\w$]+)"
_TABLE_FORM = re.compile(
    rf"(?:TABLE\s+)?(?:(?:EXTENDED|FORMATTED)\s+)?{_IDENT}(?:\s*\.\s*{_IDENT})*(\s+PARTITION\s*\([^)]*\))?\s*(.*)",
    re.I | re.S,
)


def statement_mode(sql: str) -> tuple[str, bool | None]:
    """How HiveResult prints a statement's rows ('query', 'describe', 'show_names') and, for commands, whether
    their plan is sorted (None: decide from the query)."""
    m = _DESCRIBE.match(sql)
    if m:
        rest = m.group(1)
        head = rest.split(None, 1)[0].upper() if rest.strip() else ""
        if head in ("FUNCTION", "DATABASE", "SCHEMA", "NAMESPACE", "CATALOG", "PROCEDURE"):
            return "query", False
        if head in ("QUERY", "SELECT", "WITH", "VALUES", "FROM") or rest.lstrip().startswith("("):
            return "describe", True  # DescribeQueryCommand
        table = _TABLE_FORM.match(rest)
        if (
            table is not None
            and table.group(2).strip()
            and not re.fullmatch(r"AS\s+JSON", table.group(2).strip(), re.I)
        ):
            return "query", True  # DescribeColumn
        if table is not None and table.group(2).strip():
            return "query", False  # AS JSON
        return "describe", True  # DescribeRelation
    if re.match(r"\s*SHOW\s+(TABLES|VIEWS)\b", sql, re.I):
        return "show_names", False
    if re.match(r"\s*(SHOW|SET|RESET|EXPLAIN|USE|CREATE|DROP|ALTER|INSERT|ANALYZE|CACHE|UNCACHE)\b", sql, re.I):
        return "query", False
    return "query", None


def spark_sorted(sql: str, views: dict[str, bool] | None = None) -> bool:
    """Whether Spark keeps this statement's rows in engine order (else it sorts them before comparing)."""
    _, fixed = statement_mode(sql)
    if fixed is not None:
        return fixed
    immediate = re.match(r"\s*EXECUTE\s+IMMEDIATE\s+'((?:[^'\\]|\\.)*)'", sql, re.I | re.S)
    if immediate:
        return spark_sorted(immediate.group(1), views)
    top, anywhere = order_by_positions(sql)
    try:
        tree = sqlglot.parse_one(sql, read="databricks")
    except Exception:  # noqa: BLE001 - any parser failure: fall back on the text
        return anywhere
    if not isinstance(tree, (exp.Query, exp.Subquery)):
        return anywhere
    return top or _plan_sorted(tree, views or {}, frozenset())


def lines_sorted(output: str) -> bool:
    """Whether an output's lines are in Spark's sorted order (its last line lost its trailing whitespace)."""
    lines = output.split("\n")
    if len(lines) > 1:
        lines[-2] = lines[-2].rstrip(_JAVA_WS) if lines[-2].startswith(lines[-1]) else lines[-2]
    return all(utf16_key(a) <= utf16_key(b) for a, b in zip(lines, lines[1:], strict=False))


def keeps_order(block: Block, rows: list[str], views: dict[str, bool]) -> bool:
    """Compare in engine order: Spark's rule says so, or Spark's output is not sorted (so Spark did not sort
    it: when unsure, the stricter comparison). Outputs with multi-line rows do not show their rows' order."""
    if spark_sorted(block.sql, views):
        return True
    return not any("\n" in r for r in rows) and not lines_sorted(block.output)


# ---------------------------------------------------------------------------------------------------------------------
# Verdicts


@dataclasses.dataclass
class Answer:
    """Our answer: its schema string and rows as HiveResult prints them (engine order)."""

    schema: str
    rows: list[str]
    types: list[str]


@dataclasses.dataclass
class Failure:
    """Our statement raised: a DatabaseError (crashed False) or any other exception (crashed True); or the
    runner interrupted it (timeout True)."""

    message: str
    error_class: str | None = None
    crashed: bool = False
    timeout: bool = False


@dataclasses.dataclass
class Verdict:
    verdict: str
    kind: str = ""  # for wrong: answered_spark_error, or '+'-joined aspects: types, names, rows, order
    got: str = ""


def types_fit(schema: str, types: list[str]) -> bool:
    """Whether `struct<name:type,...>` has exactly these column types under some names (names may hold ':', ','
    or brackets, so this reads from the end; it only tells a name difference from a type difference)."""
    if not (schema.startswith("struct<") and schema.endswith(">")):
        return False
    rest = schema[7:-1]
    if not types:
        return rest == ""
    for i in range(len(types) - 1, -1, -1):
        suffix = ":" + types[i]
        if not rest.endswith(suffix):
            return False
        rest = rest[: -len(suffix)]
        if i == 0:
            return not _FIELD_IN_NAME.search(rest)
        marker = ":" + types[i - 1] + ","
        cut = rest.rfind(marker)
        if cut < 0 or _FIELD_IN_NAME.search(rest[cut + len(marker) :]):
            return False
        rest = rest[: cut + len(marker) - 1]
    return True


_FIELD_IN_NAME = re.compile(r"^[^(]*:[a-z_]+(\(\d+(,\d+)?\))?,")  # `a:int,b` is two fields, not a name


def our_output(rows: list[str], ordered: bool) -> str:
    """The output string Spark's suite would write for these rows."""
    return normalize_output("\n".join(rows if ordered else java_sorted(rows)))


def judge(block: Block, outcome: Answer | Failure | None, ordered: bool) -> Verdict:
    """The verdict on one block. `outcome` None: ours ran but returned no result set."""
    kind = block.kind
    if isinstance(outcome, Failure):
        if kind == "error" and not outcome.crashed and not outcome.timeout:  # the runner's interrupt is no parity
            return Verdict("error_parity", got=outcome.message)
        return Verdict("refused", got=outcome.message)
    if kind == "error":
        got = "(no result set)" if outcome is None else outcome.schema + "\n" + our_output(outcome.rows, ordered)
        return Verdict("wrong", "answered_spark_error", got)
    if kind == "command":
        return Verdict("command")
    if outcome is None:
        return Verdict("wrong", "types+rows", "(no result set)")
    output = our_output(outcome.rows, ordered)
    if outcome.schema == block.schema and output == block.output:
        return Verdict("match")
    aspects = []
    if outcome.schema != block.schema:
        aspects.append("names" if types_fit(block.schema, outcome.types) else "types")
    if output != block.output:
        same_rows = java_sorted(output.split("\n")) == java_sorted(block.output.split("\n"))
        aspects.append("order" if ordered and same_rows else "rows")
    return Verdict("wrong", "+".join(sorted(aspects, key=["types", "names", "rows", "order"].index)),
                   outcome.schema + "\n" + output)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Session state the printing depends on: time zone and binary output style, as Spark's session has them


def parse_zone(text: str) -> tzinfo | None:
    """java.time.ZoneId.of for a spark.sql.session.timeZone value, None if it is not one."""
    value = text.strip()
    if value in ("Z", "UTC", "GMT", "UT"):
        return timezone.utc
    m = re.fullmatch(r"(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?", value)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        offset = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0), seconds=int(m.group(4) or 0))
        return timezone(sign * offset) if offset <= timedelta(hours=18) else None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_INTERVAL_UNITS = {"HOUR": 3600, "HOURS": 3600, "MINUTE": 60, "MINUTES": 60, "SECOND": 1, "SECONDS": 1}


def parse_time_zone_clause(text: str) -> tzinfo | None:
    """The zone `SET TIME ZONE <text>` sets: a quoted zone ID, LOCAL, or INTERVAL hours/minutes/seconds."""
    value = text.strip().rstrip(";").strip()
    if value.upper() == "LOCAL":
        return ZoneInfo(SUITE_TIME_ZONE)  # the suite's JVM default zone
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return parse_zone(value[1:-1])
    m = re.fullmatch(r"INTERVAL\s+'([+-]?)(\d+):(\d+):(\d+)'\s+HOUR\s+TO\s+SECOND", value, re.I)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        seconds = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4))
        return timezone(timedelta(seconds=sign * seconds)) if seconds <= 18 * 3600 else None
    m = re.fullmatch(r"INTERVAL((?:\s+[+-]?\d+\s+[A-Z]+)+)", value, re.I)
    if m:
        total = 0
        for amount, unit in re.findall(r"([+-]?\d+)\s+([A-Z]+)", m.group(1), re.I):
            if unit.upper() not in _INTERVAL_UNITS:
                return None
            total += int(amount) * _INTERVAL_UNITS[unit.upper()]
        return timezone(timedelta(seconds=total)) if abs(total) <= 18 * 3600 else None
    return None


class SessionState:
    """Spark's session settings that change how rows print, and the views whose plans are sorted."""

    def __init__(self) -> None:
        self.zone: tzinfo = ZoneInfo(SUITE_TIME_ZONE)
        self.binary = "UTF-8"
        self.views: dict[str, bool] = {}

    def setting(self, key: str, value: str) -> None:
        if key == "spark.sql.session.timeZone":
            zone = parse_zone(value)
            if zone is not None:
                self.zone = zone
        elif key == "spark.sql.binaryOutputStyle":
            self.binary = binary_style(value) or self.binary

    def after(self, sql: str) -> None:
        """Follow a statement Spark ran successfully: SET, RESET, CREATE VIEW, DROP VIEW."""
        m = re.fullmatch(r"\s*SET\s+TIME\s+ZONE\s+(.+?)\s*", sql, re.I | re.S)
        if m:
            zone = parse_time_zone_clause(m.group(1))
            if zone is not None:
                self.zone = zone
            return
        m = re.fullmatch(r"\s*SET\s+([^\s=]+)\s*=\s*(.*?)\s*", sql, re.I | re.S)
        if m:
            self.setting(m.group(1), m.group(2).strip("'\""))
            return
        m = re.fullmatch(r"\s*RESET(?:\s+(\S+))?\s*", sql, re.I | re.S)
        if m:
            if m.group(1) in (None, "spark.sql.session.timeZone"):
                self.zone = ZoneInfo(SUITE_TIME_ZONE)
            if m.group(1) in (None, "spark.sql.binaryOutputStyle"):
                self.binary = "UTF-8"
            return
        m = re.match(r"\s*DROP\s+VIEW\s+(?:IF\s+EXISTS\s+)?([\w.`]+)", sql, re.I)
        if m:
            self.views.pop(m.group(1).split(".")[-1].strip("`").lower(), None)
            return
        m = re.match(
            r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:GLOBAL\s+)?(?:TEMP(?:ORARY)?\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?"
            r"([\w.`]+)",
            sql,
            re.I,
        )
        if m:
            self.views[m.group(1).split(".")[-1].strip("`").lower()] = self._view_sorted(sql)

    def _view_sorted(self, sql: str) -> bool:
        with contextlib.suppress(Exception):
            tree = sqlglot.parse_one(sql, read="databricks")
            if isinstance(tree, exp.Create) and isinstance(tree.expression, (exp.Query, exp.Subquery)):
                return _plan_sorted(tree.expression, self.views, frozenset())
        return order_by_positions(sql)[1]


# ---------------------------------------------------------------------------------------------------------------------
# Harness tables (SQLQueryTestSuite.createTestTables)


def harness_statements(root: Path) -> list[str]:
    """testdata, arraydata, mapdata (SQLTestData's rows), and aggtest, onek, tenk1 when ROOT has test-data/."""
    maps = [
        {1: "a1", 2: "b1", 3: "c1", 4: "d1", 5: "e1"},
        {1: "a2", 2: "b2", 3: "c2", 4: "d2"},
        {1: "a3", 2: "b3", 3: "c3"},
        {1: "a4", 2: "b4"},
        {1: "a5"},
    ]
    statements = [
        "CREATE TABLE testdata (key INT, value STRING)",
        "INSERT INTO testdata VALUES " + ", ".join(f"({i}, '{i}')" for i in range(1, 101)),
        "CREATE TABLE arraydata (arraycol ARRAY<INT>, nestedarraycol ARRAY<ARRAY<INT>>)",
        "INSERT INTO arraydata VALUES (array(1, 2, 3), array(array(1, 2, 3))), (array(2, 3, 4), array(array(2, 3, 4)))",
        "CREATE TABLE mapdata (mapcol MAP<INT, STRING>)",
        "INSERT INTO mapdata VALUES "
        + ", ".join("(map(" + ", ".join(f"{k}, '{v}'" for k, v in m.items()) + "))" for m in maps),
    ]
    thousands = (
        "unique1 INT, unique2 INT, two INT, four INT, ten INT, twenty INT, hundred INT, thousand INT, twothousand INT, "
        "fivethous INT, tenthous INT, odd INT, even INT, stringu1 STRING, stringu2 STRING, string4 STRING"
    )
    for table, data, columns in (
        ("aggtest", "agg.data", "a INT, b FLOAT"),
        ("onek", "onek.data", thousands),
        ("tenk1", "tenk.data", thousands),
    ):
        path = next(
            (p for p in (root / "test-data" / "postgresql" / data, root / "test-data" / data) if p.is_file()), None
        )
        if path is not None:
            statements += csv_table(table, columns, path)
    return statements


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def csv_table(table: str, columns: str, path: Path, batch: int = 500) -> list[str]:
    """CREATE TABLE and INSERTs for a tab-separated file read as Spark's CSV reader does (empty field: NULL,
    a value that does not parse: NULL)."""
    types = [c.split()[1].upper() for c in columns.split(",")]

    def literal(text: str, kind: str) -> str:
        if text == "":
            return "NULL"
        if kind == "INT":
            return str(int(text.strip())) if re.fullmatch(r"\s*[+-]?\d+\s*", text) else "NULL"
        if kind == "FLOAT":
            try:
                return f"CAST({_sql_string(str(float(text)))} AS FLOAT)"
            except ValueError:
                return "NULL"
        return _sql_string(text)

    rows = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip() == "":
            continue
        cells = line.split("\t")
        cells += [""] * (len(types) - len(cells))
        rows.append("(" + ", ".join(literal(c, k) for c, k in zip(cells, types, strict=False)) + ")")
    out = [f"CREATE TABLE {table} ({columns})"]
    for i in range(0, len(rows), batch):
        out.append(f"INSERT INTO {table} VALUES " + ", ".join(rows[i : i + batch]))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Running one file (in a worker process)


@dataclasses.dataclass
class FileTask:
    key: str  # how the report names the file
    root: str
    result: str  # the .sql.out (or .sql.out.java21) path
    input: str
    relative: str  # the input's path under inputs/, as Spark names the test case


@dataclasses.dataclass
class BlockRecord:
    index: int
    verdict: str
    kind: str = ""
    crashed: bool = False
    timeout: bool = False
    error_class: str | None = None
    detail: dict[str, Any] | None = None  # for wrong and crashed blocks


class Watchdog:
    """Interrupts a statement that runs longer than `seconds` (DuckDB's interrupt; Python loops run on)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Condition()
        self._target: Any = None
        self._deadline = 0.0
        self.fired = False
        threading.Thread(target=self._run, daemon=True).start()

    @contextlib.contextmanager
    def guard(self, connection: Any) -> Iterator[None]:
        with self._lock:
            self._target, self._deadline, self.fired = connection, time.monotonic() + self.seconds, False
            self._lock.notify()
        try:
            yield
        finally:
            with self._lock:
                self._target = None

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._target is None:
                    self._lock.wait()
                left = self._deadline - time.monotonic()
                if left <= 0:
                    target, self._target, self.fired = self._target, None, True
                else:
                    self._lock.wait(left)
                    continue
            with contextlib.suppress(Exception):
                target.interrupt()


class Engine:
    """The local warehouse, imported once per worker."""

    def __init__(self, statement_timeout: float):
        from databricks.sql.exc import DatabaseError

        from dagster_dbload import LocalSQLWarehouse

        self.warehouse = LocalSQLWarehouse
        self.database_error = DatabaseError
        self.watchdog = Watchdog(statement_timeout)
        self.templates: dict[str, tuple[str, list[str]]] = {}
        self.scratch = tempfile.mkdtemp(prefix="spark-sql-tests-")

    def execute(self, connection: Any, cursor: Any, sql: str) -> pa.Table | Failure | None:
        try:
            with self.watchdog.guard(connection):
                cursor.execute(sql)
                return cursor.fetchall_arrow() if cursor.description is not None else None
        except self.database_error as e:
            if self.watchdog.fired:
                return Failure(f"statement timeout ({self.watchdog.seconds:.0f}s): {e}", "TIMEOUT", timeout=True)
            return Failure(str(e), getattr(e, "error_class", None) or type(e).__name__)
        except Exception as e:  # noqa: BLE001 - the engine's own bugs: counted as crashed
            return Failure(f"{type(e).__name__}: {e}", type(e).__name__, crashed=True)

    def template(self, root: str) -> tuple[str, list[str]]:
        """A warehouse folder with the harness tables (built once per root, copied per file) and its setup errors."""
        if root not in self.templates:
            folder = tempfile.mkdtemp(prefix="template-", dir=self.scratch)
            errors = []
            with self.warehouse(path=os.path.join(folder, "warehouse.duckdb")).connect() as connection:
                cursor = connection.cursor()
                for sql in harness_statements(Path(root)):
                    outcome = self.execute(connection, cursor, sql)
                    if isinstance(outcome, Failure):
                        errors.append(f"{sql[:80]}: {outcome.message[:300]}")
            self.templates[root] = (folder, errors)
        return self.templates[root]

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def run_file(engine: Engine, task: FileTask) -> Iterator[tuple[str, Any]]:
    """Run one golden file on a fresh warehouse: yields ('setup', [errors]) then ('block', BlockRecord) per block."""
    blocks = parse_golden(_read(Path(task.result)))
    directives, _ = read_directives(Path(task.input), Path(task.root) / "inputs")
    template, template_errors = engine.template(task.root)
    folder = tempfile.mkdtemp(prefix="file-", dir=engine.scratch)
    try:
        shutil.copytree(template, folder, dirs_exist_ok=True)
        state = SessionState()
        setup_errors = list(template_errors)
        with engine.warehouse(path=os.path.join(folder, "warehouse.duckdb")).connect() as connection:
            cursor = connection.cursor()
            setup = [f"SET TIME ZONE '{SUITE_TIME_ZONE}'"]
            setup += [f"SET {k}={v}" for k, v in case_settings(task.relative) + directives.settings]
            if task.relative.startswith(("udf/postgreSQL", "postgreSQL")):
                setup += [
                    "CREATE TEMPORARY FUNCTION booleq(b1 BOOLEAN, b2 BOOLEAN) RETURNS BOOLEAN RETURN b1 = b2",
                    "CREATE TEMPORARY FUNCTION boolne(b1 BOOLEAN, b2 BOOLEAN) RETURNS BOOLEAN RETURN b1 <> b2",
                    "CREATE TEMPORARY FUNCTION vol(s STRING) RETURNS STRING RETURN s",
                ]
            for sql in setup:
                outcome = engine.execute(connection, cursor, sql)
                if isinstance(outcome, Failure):
                    setup_errors.append(f"{sql}: {outcome.message[:300]}")
            for key, value in directives.settings:
                state.setting(key, value)
            yield "setup", setup_errors
            for index, block in enumerate(blocks):
                yield "block", run_block(engine, connection, cursor, state, index, block)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_block(
    engine: Engine, connection: Any, cursor: Any, state: SessionState, index: int, block: Block
) -> BlockRecord:
    """Execute one block and judge it (a failure of the runner's own printing is a wrong answer: strict)."""
    result = engine.execute(connection, cursor, block.sql)
    outcome: Answer | Failure | None
    if isinstance(result, pa.Table):
        try:
            mode, _ = statement_mode(block.sql)
            formatter = HiveFormatter(state.zone, state.binary)
            rows = [replace_not_included(r) for r in formatter.rows(result, mode)]
            types = [spark_type(f.type, f.metadata) for f in result.schema]
            outcome = Answer(schema_string(result.schema), rows, types)
        except Exception as e:  # noqa: BLE001
            outcome = Answer("(unprintable result)", [f"{type(e).__name__}: {e}"], [])
    else:
        outcome = result
    ordered = False
    if block.kind == "rows" and isinstance(outcome, Answer) and len(outcome.rows) > 1:
        ordered = keeps_order(block, outcome.rows, state.views)
    verdict = judge(block, outcome, ordered)
    if block.kind != "error":
        with contextlib.suppress(Exception):
            state.after(block.sql)
    failure = outcome if isinstance(outcome, Failure) else None
    record = BlockRecord(
        index,
        verdict.verdict,
        verdict.kind,
        crashed=bool(failure and failure.crashed),
        timeout=bool(failure and failure.timeout),
        error_class=failure.error_class if failure else None,
    )
    if verdict.verdict == "wrong" or record.crashed or record.timeout:
        record.detail = {
            "query": block.sql,
            "expected": f"{block.schema}\n{block.output}",
            "got": verdict.got,
            "spark_error": block.spark_error,
            "ordered": ordered,
        }
    return record


def _worker(connection: Connection, statement_timeout: float) -> None:
    """A worker process: runs the files it is sent, one message per event, until it is sent None."""
    engine = Engine(statement_timeout)
    try:
        while True:
            task = connection.recv()
            if task is None:
                return
            try:
                for event, payload in run_file(engine, task):
                    connection.send((event, payload))
                connection.send(("done", None))
            except Exception as e:  # noqa: BLE001 - a file must never stop the run
                connection.send(("file_error", f"{type(e).__name__}: {e}"))
    finally:
        engine.close()


# ---------------------------------------------------------------------------------------------------------------------
# Scheduling and the report


def find_files(roots: list[Path], only: list[str]) -> tuple[list[FileTask], dict[str, str]]:
    """The golden files with their inputs under each ROOT (java21 variants preferred: our doubles print as JDK
    19+ does), and the skipped ones with a reason."""
    tasks, skipped = [], {}
    for root in roots:
        results, inputs = root / "results", root / "inputs"
        for result in sorted(results.rglob("*.sql.out")):
            relative = result.relative_to(results).as_posix()[: -len(".out")]
            key = relative if len(roots) == 1 else f"{root.name}/{relative}"
            if only and not any(s in key for s in only):
                continue
            source = inputs / relative
            if not source.is_file():
                skipped[key] = "no input file"
                continue
            if "ignored.sql" in relative.lower():
                skipped[key] = "in SQLQueryTestSuite's ignore list"
                continue
            _, engines = read_directives(source, inputs)
            if engines and "spark" not in engines:
                skipped[key] = f"--ONLY_IF {','.join(engines)}"
                continue
            java21 = result.with_name(result.name + ".java21")
            chosen = java21 if java21.is_file() else result
            tasks.append(FileTask(key, str(root), str(chosen), str(source), relative))
    return tasks, skipped


@dataclasses.dataclass
class FileReport:
    blocks: int
    counts: Counter = dataclasses.field(default_factory=Counter)
    setup_errors: list[str] = dataclasses.field(default_factory=list)
    file_error: str | None = None
    seconds: float = 0.0
    seen: int = 0


class Run:
    """Collects the events of all files."""

    def __init__(self) -> None:
        self.files: dict[str, FileReport] = {}
        self.wrong: list[dict[str, Any]] = []
        self.crashed: list[dict[str, Any]] = []
        self.timed_out: list[dict[str, Any]] = []
        self.refused_classes: Counter = Counter()

    def event(self, task: FileTask, event: str, payload: Any) -> None:
        report = self.files[task.key]
        if event == "setup":
            report.setup_errors += payload
        elif event == "block":
            record: BlockRecord = payload
            report.seen += 1
            report.counts[record.verdict] += 1
            report.counts["crashed"] += record.crashed
            report.counts["timeouts"] += record.timeout
            if record.verdict == "refused":
                self.refused_classes[record.error_class or "?"] += 1
            if record.detail is not None:
                entry = {"file": task.key, "index": record.index, "kind": record.kind, **record.detail}
                kind = "wrong" if record.verdict == "wrong" else "crashed" if record.crashed else "timed_out"
                getattr(self, kind).append(entry)
        elif event == "file_error":
            self.abandon(task, str(payload))

    def abandon(self, task: FileTask, reason: str) -> None:
        """The rest of a file that could not finish counts as refused (crashed)."""
        report = self.files[task.key]
        report.file_error = reason
        rest = report.blocks - report.seen
        report.counts["refused"] += rest
        report.counts["crashed"] += rest
        self.refused_classes["FILE_ABANDONED"] += rest
        report.seen = report.blocks
        if rest:
            self.crashed.append({"file": task.key, "index": None, "query": f"({rest} blocks not run)", "got": reason})


@dataclasses.dataclass
class _Slot:
    process: multiprocessing.Process
    connection: Connection
    task: FileTask | None = None
    started: float = 0.0
    files: int = 0


def run_all(tasks: list[FileTask], run: Run, jobs: int, statement_timeout: float, file_timeout: float,
            files_per_worker: int = 40, progress: Callable[[str], None] | None = None) -> None:  # fmt: skip
    """Run the files on `jobs` worker processes; a worker that dies or overruns is replaced and its file abandoned."""
    fork = "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    if fork:  # import the engine once: forked workers start at once (the parent opens no database)
        with contextlib.suppress(Exception):
            import dagster_dbload  # noqa: F401
    pending = list(reversed(tasks))
    slots: list[_Slot] = []
    done = 0

    def start() -> _Slot:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, statement_timeout), daemon=True)
        process.start()
        child.close()
        return _Slot(process, parent)

    def retire(slot: _Slot, kill: bool) -> None:
        if kill:
            slot.process.kill()
        else:
            with contextlib.suppress(Exception):
                slot.connection.send(None)
        slot.process.join(timeout=10)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join()
        slot.connection.close()
        slots.remove(slot)

    def finished(slot: _Slot, note: str = "") -> None:
        nonlocal done
        done += 1
        assert slot.task is not None
        report = run.files[slot.task.key]
        report.seconds = time.monotonic() - slot.started
        if progress:
            progress(f"[{done}/{len(tasks)}] {slot.task.key} {report.seconds:.1f}s{note}")
        slot.task = None
        slot.files += 1

    try:
        while pending or any(s.task for s in slots):
            while len(slots) < jobs and pending:
                slots.append(start())
            for slot in list(slots):
                if slot.task is None and pending:
                    slot.task, slot.started = pending.pop(), time.monotonic()
                    slot.connection.send(slot.task)
            busy = [s for s in slots if s.task is not None]
            ready = wait([s.connection for s in busy] + [s.process.sentinel for s in busy], timeout=1.0)
            for slot in busy:
                task = slot.task
                assert task is not None
                broken = None
                try:
                    while slot.connection in ready and slot.connection.poll():
                        event, payload = slot.connection.recv()
                        if event == "done":
                            finished(slot)
                            break
                        run.event(task, event, payload)
                        if event == "file_error":
                            finished(slot, " (file error)")
                            break
                except (EOFError, OSError):
                    broken = f"worker process died (exit code {slot.process.exitcode})"
                if slot.task is None:
                    if slot.files >= files_per_worker:
                        retire(slot, kill=False)  # a fresh process now and then keeps memory modest
                    continue
                if broken is None and not slot.process.is_alive():
                    broken = f"worker process died (exit code {slot.process.exitcode})"
                if broken is None and time.monotonic() - slot.started > file_timeout:
                    broken = f"file timeout ({file_timeout:.0f}s)"
                if broken is not None:
                    run.abandon(task, broken)
                    finished(slot, f" ({broken})")
                    retire(slot, kill=True)
    finally:
        for slot in list(slots):
            retire(slot, kill=slot.task is not None)


def totals(run: Run) -> Counter:
    total: Counter = Counter()
    for report in run.files.values():
        total["blocks"] += report.blocks
        total.update(report.counts)
    return total


FAMILIES = [  # (family, words in a file's path), the first that matches
    ("type coercion", ("typecoercion",)),
    ("dates, timestamps, intervals", ("date", "time", "interval", "timezone")),
    ("strings, regexps, binary", ("string", "regexp", "like", "binary", "url", "char", "collation", "encode",
                                  "format", "mask", "to_number", "concat", "listagg")),
    ("aggregates, group by, windows", ("group", "window", "agg", "having", "percentile", "pivot", "count", "mode",
                                       "regression", "max-min-by", "distinct")),
    ("numbers, decimals, math", ("decimal", "math", "number", "numeric", "operator", "bitwise", "ceil", "arith",
                                 "division", "random", "literal", "cast")),
    ("joins, subqueries, set operations", ("join", "subquery", "union", "intersect", "except", "set-op", "exists",
                                           "cte", "lateral", "in-")),
    ("arrays, maps, structs, json", ("array", "map", "struct", "json", "variant", "higher-order", "generator",
                                     "explode", "xml", "csv")),
]  # fmt: skip


def family(file: str) -> str:
    name = file.lower()
    return next((f for f, words in FAMILIES if any(w in name for w in words)), "other")


def family_table(run: Run) -> list[str]:
    """Blocks and verdicts by family of files, as a Markdown table."""
    totals: dict[str, Counter] = {}
    for key, report in run.files.items():
        counts = totals.setdefault(family(key), Counter())
        counts["blocks"] += report.blocks
        counts.update({k: report.counts.get(k, 0) for k in VERDICTS})
    header = ["| family | blocks | " + " | ".join(v.replace("_", " ") for v in VERDICTS) + " |",
              "|---|" + "---:|" * (len(VERDICTS) + 1)]  # fmt: skip
    rows = [
        f"| {name} | {c['blocks']:,} | " + " | ".join(f"{c[v]:,}" for v in VERDICTS) + " |"
        for name, c in sorted(totals.items(), key=lambda kv: -kv[1]["blocks"])
    ]
    every = sum(totals.values(), Counter())
    return (
        header + rows + [f"| **all** | {every['blocks']:,} | " + " | ".join(f"{every[v]:,}" for v in VERDICTS) + " |"]
    )


def print_report(run: Run, skipped: dict[str, str], seconds: float, out: Any = sys.stdout) -> None:
    columns = ["blocks", *VERDICTS, "crashed"]
    width = max([len("file"), len("TOTAL"), *(len(k) for k in run.files)])
    header = "file".ljust(width) + "".join(f"{c:>14}" for c in columns)
    print(header, file=out)
    print("-" * len(header), file=out)
    for key in sorted(run.files):
        report = run.files[key]
        counts = {"blocks": report.blocks, **report.counts}
        note = "  ! " + report.file_error if report.file_error else ""
        print(key.ljust(width) + "".join(f"{counts.get(c, 0):>14}" for c in columns) + note, file=out)
    total = totals(run)
    print("-" * len(header), file=out)
    print("TOTAL".ljust(width) + "".join(f"{total.get(c, 0):>14}" for c in columns), file=out)
    print("\n" + "\n".join(family_table(run)), file=out)
    print(f"\n{len(run.files)} files, {total['blocks']} blocks in {seconds:.0f}s; crashed (engine exceptions other "
          f"than DatabaseError, counted as refused): {total['crashed']}; statement timeouts (refused): {total['timeouts']}",
          file=out)  # fmt: skip
    for key, reason in sorted(skipped.items()):
        print(f"skipped {key}: {reason}", file=out)
    setup = [(k, e) for k, r in sorted(run.files.items()) for e in r.setup_errors]
    for key, error in setup[:20]:
        print(f"setup error in {key}: {error}", file=out)
    if len(setup) > 20:
        print(f"... {len(setup) - 20} more setup errors (see --json)", file=out)
    for t in run.timed_out:
        print(
            f"statement timeout (refused) in {t['file']} #{t['index']}: {' '.join(t['query'].split())[:150]}", file=out
        )
    kinds = Counter(w["kind"] for w in run.wrong)
    if kinds:
        print("\nwrong by kind: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()), file=out)
    if run.crashed:
        kinds = Counter(str(c["got"]).split(":")[0] for c in run.crashed)
        print("crashes by exception: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common(15)), file=out)
    if run.wrong:
        print(f"\n{len(run.wrong)} wrong blocks:", file=out)
    for w in run.wrong:
        print(f"\n=== {w['file']} #{w['index']} [{w['kind']}]", file=out)
        print(_clip(w["query"]), file=out)
        print("--- expected" + (f" (Spark raised {w['spark_error']})" if w.get("spark_error") else ""), file=out)
        print(_clip(w["expected"]), file=out)
        print("--- got", file=out)
        print(_clip(w["got"]), file=out)


def _clip(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"


def write_json(path: str, run: Run, skipped: dict[str, str], seconds: float) -> None:
    total = totals(run)
    data = {
        "total": {k: total.get(k, 0) for k in ("blocks", *VERDICTS, "crashed", "timeouts")},
        "files": {
            key: {
                "blocks": r.blocks,
                **{k: r.counts.get(k, 0) for k in (*VERDICTS, "crashed", "timeouts")},
                "setup_errors": r.setup_errors,
                "file_error": r.file_error,
                "seconds": round(r.seconds, 2),
            }
            for key, r in sorted(run.files.items())
        },
        "wrong": [
            {k: w.get(k) for k in ("file", "index", "kind", "query", "expected", "got", "spark_error", "ordered")}
            for w in run.wrong
        ],
        "crashed": run.crashed,
        "timed_out": [{k: t.get(k) for k in ("file", "index", "query", "got", "spark_error")} for t in run.timed_out],
        "families": family_table(run),
        "refused_error_classes": dict(run.refused_classes.most_common()),
        "skipped": skipped,
        "seconds": round(seconds, 1),
    }
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="*", metavar="ROOT", help=f"sql-tests folders (default {DEFAULT_ROOT})")
    parser.add_argument("--json", metavar="FILE", help="write the figures, wrong and crashed blocks as JSON")
    parser.add_argument("--only", nargs="+", action="extend", default=[], metavar="NAME_SUBSTRING",
                        help="only files whose name contains one of these")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--statement-timeout", type=float, default=10.0, help="seconds before a statement is interrupted"
    )
    parser.add_argument("--file-timeout", type=float, default=900.0, help="seconds before a file's worker is killed")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    roots, only = [Path(r) for r in args.roots], []
    for item in args.only:  # in `--only x ROOT`, argparse hands ROOT to --only
        if Path(item, "results").is_dir():
            roots.append(Path(item))
        else:
            only.append(item)
    roots = [r.resolve() for r in roots] or [DEFAULT_ROOT]
    for root in roots:
        if not (root / "results").is_dir():
            parser.error(f"{root} has no results/ folder")
    tasks, skipped = find_files(roots, only)
    if not tasks:
        print("no golden files found", file=sys.stderr)
        return 2
    run = Run()
    for task in tasks:
        text = _read(Path(task.result))
        run.files[task.key] = FileReport(blocks=len(parse_golden(text)))
    started = time.monotonic()

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    run_all(tasks, run, max(1, args.jobs), args.statement_timeout, args.file_timeout, progress=progress)
    seconds = time.monotonic() - started
    if args.json:
        write_json(args.json, run, skipped, seconds)
    print_report(run, skipped, seconds)
    return 1 if totals(run)["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
