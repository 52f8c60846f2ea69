"""Real Spark (pyspark, local[1], ANSI on) as the local warehouse's oracle, on the operators and functions that have a
rule in dagster_dbload/local/semantics.py: a short seeded set here (the JVM starts once, in this file's worker), the
long one with `python tests/spark_oracle.py --seed 7 --queries 10000`. A refusal is allowed; a different answer, or
an answer where Spark raises, is not."""

from __future__ import annotations

import pytest
import spark_oracle

# What users met (issue 35): each gives Spark's answer or a clear refusal
FIRST_SEEN = [
    "SELECT CAST(1.999 AS INT)",
    "SELECT CAST(-1.5 AS INT)",
    "SELECT CAST('1.23' AS INT)",
    "SELECT substring('hello', 0, 2)",
    "SELECT element_at(array(1, 2, 3), 5)",
    "SELECT array(1, 2, 3)[5]",
    "SELECT to_date('16', 'dd')",
    "SELECT typeof(5 div 2)",
    "SELECT typeof(date'2001-10-01' - date'2001-09-28')",
    "SELECT split('abc', NULL)",
    "SELECT to_binary('737472696E67')",
    "SELECT make_timestamp(2021, 7, 11, 6, 30, 60.007)",
]


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    session = spark_oracle.spark_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def cursor(tmp_path_factory):
    from dagster_dbload import LocalSQLWarehouse

    warehouse = LocalSQLWarehouse(path=str(tmp_path_factory.mktemp("oracle") / "warehouse.duckdb"))
    with warehouse.connect() as connection:
        yield connection.cursor()


def test_the_queries_users_met_answer_as_spark_does_or_are_refused(spark, cursor):
    outcome = spark_oracle.Outcome()
    for sql in FIRST_SEEN:
        spark_oracle.compare(spark, cursor, sql, outcome)
    assert outcome.wrong == []
    assert outcome.counts["match"] + outcome.counts["error_parity"] >= 10  # two refusals: date - date, make_timestamp


@pytest.mark.parametrize("seed", [11, 29])
def test_seeded_queries_answer_as_spark_does_or_are_refused(spark, cursor, seed):
    outcome = spark_oracle.Outcome()
    for sql in spark_oracle.queries(seed, 60):
        spark_oracle.compare(spark, cursor, sql, outcome)
    assert outcome.wrong == []
    assert outcome.counts["match"] + outcome.counts["error_parity"] >= 50  # refusals stay the exception
