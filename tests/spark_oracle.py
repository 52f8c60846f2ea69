"""Real Spark as the local warehouse's oracle: seeded queries over the operators and functions whose rules live in
dagster_dbload/local/semantics.py, run on pyspark (local[1], ANSI on, as Databricks runs) and on the local
warehouse. An answer that differs, or an answer where Spark raises, is wrong; a refusal is allowed.

    python tests/spark_oracle.py --seed 7 --queries 10000     # the long run (bench/ keeps its figures)
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import decimal
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from spark_sql_tests import spark_type  # noqa: E402 - the runner's Arrow-to-Spark type names

INTS = ["0", "1", "-1", "7", "-7", "127", "128", "-129", "32768", "2147483647", "-2147483648", "2147483648",
        "9223372036854775807", "-9223372036854775808", "NULL"]  # fmt: skip
DECIMALS = ["1.999", "-1.5", "0.5", "-0.5", "2.5", "127.9", "-128.9", "2147483647.99", "2147483648.5",
            "99999999999999999999.5", "0.000001", "-0.999999", "CAST(NULL AS DECIMAL(10,2))"]  # fmt: skip
DOUBLES = ["1.5e0", "-1.5e0", "2.9999e0", "1e10", "-1e19", "1e-5", "CAST('NaN' AS DOUBLE)",
           "CAST('Infinity' AS DOUBLE)", "CAST(NULL AS DOUBLE)"]  # fmt: skip
STRINGS = ["'12'", "' 12 '", "'+7'", "'-0'", "'1.23'", "'-4.56'", "''", "'abc'", "'2147483648'", "'127'", "'128'",
           "'1e3'", "'\t9\n'", "'0x1F'", "'١٢'", "'9223372036854775808'", "NULL"]  # fmt: skip
TEXTS = ["'hello'", "''", "'héllo wörld'", "'a,b,,c,'", "'日本語テキスト'", "NULL", "'aXbYc'"]
ARRAYS = ["array(1, 2, 3)", "array('a', NULL, 'c')", "array(1)", "array(array(1, 2), array(3))"]
TARGETS = ["TINYINT", "SMALLINT", "INT", "BIGINT"]
POSITIONS = ["-10", "-3", "-1", "0", "1", "2", "5", "6", "NULL"]
LENGTHS = ["-1", "0", "1", "2", "3", "10", "NULL"]
INDEXES = ["-4", "-3", "-1", "0", "1", "2", "3", "4", "NULL"]
PATTERNS = ["','", "''", "NULL", "'[XY]'", "'b'"]
HEX = ["'737472696E67'", "'abc'", "''", "'zz'", "'0'", "NULL", "'FFff'"]
NUMBERS = INTS + DECIMALS + DOUBLES + ["CAST(5 AS TINYINT)", "CAST(-300 AS SMALLINT)", "5L", "2.5BD"]
OPERATORS = ["+", "-", "*", "/", "%", "div"]
DATETIMES = ["DATE'2024-02-29'", "TIMESTAMP'2024-03-10 02:30:00'", "TIMESTAMP_NTZ'1999-12-31 23:59:59.999999'"]
SEARCHED = ["'abcabc'", "'aaaa'", "'你好世界你好'", "''", "NULL", "'hello'"]
SOUGHT = ["'b'", "'a'", "'aa'", "''", "'你好'", "'z'", "NULL"]
MASKED = [*TEXTS, "'AbCD123-@$#'", "'abcd-EFGH-8765-4321'"]
CHARS = ["'Q'", "'q'", "'d'", "'*'", "NULL", "''", "'ab'"]
DIGITS = ["'4111111111111111'", "'79927398713'", "'0'", "''", "' 1'", "'41a1'", "'00'", "NULL", "4111111111111111"]


def _queries(rng: random.Random) -> Iterator[str]:
    """An endless seeded stream of queries, one family after another at random."""
    families = [
        lambda: f"SELECT CAST({rng.choice(INTS + DECIMALS + DOUBLES + STRINGS)} AS {rng.choice(TARGETS)})",
        lambda: f"SELECT TRY_CAST({rng.choice(INTS + DECIMALS + DOUBLES + STRINGS)} AS {rng.choice(TARGETS)})",
        lambda: f"SELECT typeof(CAST({rng.choice(INTS + DECIMALS)} AS {rng.choice(TARGETS)}))",
        lambda: f"SELECT substring({rng.choice(TEXTS)}, {rng.choice(POSITIONS)}, {rng.choice(LENGTHS)})",
        lambda: f"SELECT substring({rng.choice(TEXTS)}, {rng.choice(POSITIONS)})",
        lambda: f"SELECT substr({rng.choice(TEXTS)}, {rng.choice(POSITIONS)}, {rng.choice(LENGTHS)})",
        lambda: f"SELECT element_at({rng.choice(ARRAYS)}, {rng.choice(INDEXES)})",
        lambda: f"SELECT try_element_at({rng.choice(ARRAYS)}, {rng.choice(INDEXES)})",
        lambda: f"SELECT {rng.choice(ARRAYS)}[{rng.choice(INDEXES)}]",
        lambda: f"SELECT {rng.choice(INTS)} div {rng.choice(INTS)}",
        lambda: f"SELECT typeof({rng.choice(INTS[:10])} div {rng.choice(INTS[1:10])})",
        lambda: f"SELECT split({rng.choice(TEXTS)}, {rng.choice(PATTERNS)})",
        lambda: f"SELECT to_binary({rng.choice(HEX)})",
        lambda: f"SELECT typeof({rng.choice(INTS[:12] + DECIMALS[:8] + TEXTS[:2])})",
        lambda: f"SELECT {rng.choice(NUMBERS + STRINGS[:6])} {rng.choice(OPERATORS)} {rng.choice(NUMBERS)}",
        lambda: f"SELECT typeof({rng.choice(NUMBERS)} {rng.choice(OPERATORS)} {rng.choice(NUMBERS)})",
        lambda: (
            f"SELECT {rng.choice(['try_add', 'try_subtract', 'try_multiply', 'try_divide'])}"
            f"({rng.choice(NUMBERS)}, {rng.choice(NUMBERS)})"
        ),
        lambda: f"SELECT typeof({rng.choice(DATETIMES)} + NULL), {rng.choice(DATETIMES)} + NULL",
        lambda: (
            f"SELECT {rng.choice(['date_add', 'date_sub'])}({rng.choice(DATETIMES[:1] + ['NULL'])}, "
            f"{rng.choice(INTS + DECIMALS[:3] + STRINGS[:4])})"
        ),
        lambda: (
            f"SELECT {rng.choice(['timestamp_seconds', 'timestamp_millis', 'timestamp_micros'])}"
            f"({rng.choice(INTS + DECIMALS)})"
        ),
        lambda: (
            f"SELECT mask({', '.join([rng.choice(MASKED)] + [rng.choice(CHARS) for _ in range(rng.randint(0, 4))])})"
        ),
        lambda: f"SELECT luhn_check({rng.choice(DIGITS)})",
        lambda: (
            f"SELECT instr({rng.choice(SEARCHED)}, {rng.choice(SOUGHT)}, {rng.choice(POSITIONS)}"
            f"{', ' + rng.choice(LENGTHS[1:]) if rng.random() < 0.6 else ''})"
        ),
    ]
    while True:
        yield rng.choice(families)()


def queries(seed: int, count: int) -> list[str]:
    stream = _queries(random.Random(seed))
    return [next(stream) for _ in range(count)]


def _plain(value: Any) -> Any:
    """A value as both engines' Python results can be compared exactly (no rounding, no case folding; a
    DECIMAL by its value, its type being compared with the columns')."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("binary", bytes(value))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, decimal.Decimal):  # its scale is the column type's, compared apart
        return ("decimal", str(value.normalize()) if value else "0")
    if isinstance(value, float):
        return ("double", repr(value))
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int):
        return ("integer", value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:  # the local warehouse's TIMESTAMP: an instant
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)  # pyspark's: naive, in UTC (TZ=UTC below)
    if isinstance(value, (dt.date, dt.datetime)):
        return ("datetime", value.isoformat())
    return value


@dataclass
class Outcome:
    counts: collections.Counter = field(default_factory=collections.Counter)
    wrong: list[tuple[str, str, str]] = field(default_factory=list)
    functions: set[str] = field(default_factory=set)


def spark_session() -> Any:
    from pyspark.sql import SparkSession

    os.environ["TZ"] = "UTC"  # pyspark gives a TIMESTAMP as a naive datetime in this process's zone
    time.tzset()

    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.sql.ansi.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("OFF")  # its errors are answers here, not news
    return spark


def compare(spark: Any, cursor: Any, sql: str, outcome: Outcome) -> None:
    """Run `sql` on both and count its verdict: match, error_parity, refused or wrong."""
    try:
        frame = spark.sql(sql)
        types = [f.dataType.simpleString() for f in frame.schema.fields]
        expected: Any = [types, [_plain(list(row)) for row in frame.collect()]]
    except Exception as e:  # noqa: BLE001 - Spark's error is the expected answer
        expected = ("error", type(e).__name__, str(e).splitlines()[0][:200])
    try:
        cursor.execute(sql)
        table = cursor.fetchall_arrow()
        types = [spark_type(f.type, f.metadata) for f in table.schema]
        got: Any = [types, [_plain(list(row)) for row in zip(*(c.to_pylist() for c in table.columns), strict=True)]]
    except Exception as e:  # noqa: BLE001 - a refusal, or an error where Spark raises too
        got = ("error", type(e).__name__, str(e).splitlines()[0][:200])
    spark_failed, local_failed = isinstance(expected, tuple), isinstance(got, tuple)
    if spark_failed and local_failed:
        verdict = "error_parity"
    elif local_failed:
        verdict = "refused"
    elif spark_failed or expected != got:
        verdict = "wrong"
        outcome.wrong.append((sql, repr(expected), repr(got)))
    else:
        verdict = "match"
    outcome.counts[verdict] += 1
    outcome.functions.add(sql.split("(")[0].removeprefix("SELECT ").strip() or "operator")


def run(seed: int, count: int, spark: Any = None) -> Outcome:
    from dagster_dbload import LocalSQLWarehouse

    spark = spark or spark_session()
    outcome = Outcome()
    with tempfile.TemporaryDirectory() as folder:
        warehouse = LocalSQLWarehouse(path=os.path.join(folder, "warehouse.duckdb"))
        with warehouse.connect() as connection:
            cursor = connection.cursor()
            for sql in queries(seed, count):
                compare(spark, cursor, sql, outcome)
    return outcome


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries", type=int, default=10_000)
    args = parser.parse_args(argv)
    outcome = run(args.seed, args.queries)
    print(f"seed {args.seed}, {args.queries} queries: {dict(outcome.counts)}")
    for sql, expected, got in outcome.wrong:
        print(f"WRONG {sql}\n  spark: {expected}\n  local: {got}")
    return 1 if outcome.wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
