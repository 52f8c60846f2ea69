"""Built-in functions answer as Databricks' function reference documents, or are refused by name: never a
different answer. Examples from the reference pages (docs.databricks.com/sql/language-manual/functions/<name>),
on both warehouses."""

import pytest
from backends import backend as make_backend
from databricks.sql.exc import ServerOperationError

from dagster_dbload.local.errors import LocalSQLError

EXAMPLES = [  # (query, Databricks' documented result)
    ("SELECT dayofweek('2009-07-30')", 5),
    ("SELECT weekday('2009-07-30')", 3),
    ("SELECT typeof(1)", "int"),
    ("SELECT typeof(array(1))", "array<int>"),  # its Spark type, known before the query runs
    (
        "SELECT typeof(array(1, 2.5))",
        None,
    ),  # refused (Spark widens the elements to a DECIMAL), not answered differently
    ("SELECT typeof('a')", "string"),
    ("SELECT typeof(1.5)", "decimal(2,1)"),
    ("SELECT typeof(NULL)", "void"),
    ("SELECT percentile(col, 0.3) FROM VALUES (0), (10) AS tab(col)", 3.0),
    ("SELECT percentile_approx(col, 0.5, 100) FROM VALUES (0), (6), (7), (9), (10) AS tab(col)", 7),
    ("SELECT date_format('2016-04-08', 'y')", "2016"),
    ("SELECT date_format(TIMESTAMP'2024-01-01 10:11:12.345', 'HH:mm:ss.SSS')", "10:11:12.345"),
    ("SELECT hash('Spark', array(123), 2)", None),
    ("SELECT pmod(-10, 3)", 2),
    ("SELECT bround(2.5, 0)", 2),
    ("SELECT nanvl(cast('NaN' AS DOUBLE), 123)", 123.0),
    ("SELECT substring_index('www.apache.org', '.', -2)", "apache.org"),
    # a rewritten function's arguments are rewritten first
    ("SELECT typeof(nanvl(1.0, 2))", "double"),
    ("SELECT pmod(pmod(-7, 3), 5)", 2),
]


@pytest.fixture(scope="module", params=["local", "server"])
def cursor(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    with make_backend(request.param, root) as backend, backend.warehouse.connect() as connection:
        yield connection.cursor()


@pytest.mark.parametrize(("query", "expected"), EXAMPLES)
def test_a_documented_example_matches_or_is_refused(cursor, query, expected):
    if expected is None:
        with pytest.raises((LocalSQLError, ServerOperationError), match=r"UNSUPPORTED_FEATURE\.FUNCTION"):
            cursor.execute(query)
        return
    cursor.execute(query)
    assert cursor.fetchone()[0] == expected


def test_nested_rewrites_and_a_zero_divisor_of_pmod(cursor):
    cursor.execute("SELECT array_contains(array_remove(array(1, NULL, 2), 2), 2)")  # not found, a NULL held
    assert cursor.fetchone()[0] is None
    for query in ("SELECT pmod(10, 0)", "SELECT 10 % 0"):
        with pytest.raises((LocalSQLError, ServerOperationError), match=r"DIVIDE_BY_ZERO"):
            cursor.execute(query)
