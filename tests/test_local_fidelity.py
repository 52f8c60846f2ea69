"""The local warehouse answers as Databricks does, or refuses naming the feature: never a silent wrong answer.

Through the embedded warehouse and through LocalSQLWarehouseServer with the real connector.
"""

import datetime as dt

import pytest
from backends import backend as make_backend
from databricks.sql.exc import ServerOperationError


@pytest.fixture(params=["local", "server"])
def target(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


def one(target, statement: str) -> dict:
    (row,) = target.query(statement)
    return row


def test_session_functions_answer_the_session(target):
    assert one(target, "SELECT current_catalog() AS c, current_schema() AS s, current_database() AS d") == {
        "c": "main", "s": "default", "d": "default"
    }  # fmt: skip
    assert one(target, "SELECT current_user() AS u")["u"] == "local"


def test_date_add_returns_a_date_and_range_names_its_column_id(target):
    assert one(target, "SELECT date_add(DATE'2024-01-31', 1) AS d") == {"d": dt.date(2024, 2, 1)}
    assert target.query("SELECT * FROM range(3)") == [{"id": 0}, {"id": 1}, {"id": 2}]
    assert one(target, "SELECT sum(id) AS s FROM range(1, 5) AS r") == {"s": 10}


@pytest.mark.parametrize("division", ["1/0", "7 DIV 0", "1.5 / 0.0", "CAST(2 AS DOUBLE) / (1 - 1)"])
def test_division_by_zero_is_an_error_as_under_ansi_mode(division, target):
    with pytest.raises(ServerOperationError, match=r"\[DIVIDE_BY_ZERO\]"):
        target.query(f"SELECT {division} AS x")
    assert one(target, "SELECT 6 / 3 AS x, 7 DIV 2 AS y") == {"x": 2.0, "y": 3}


@pytest.mark.parametrize("clause", ["VERSION AS OF 0", "TIMESTAMP AS OF '2024-01-01'"])
def test_time_travel_is_refused_not_answered_with_the_current_rows(clause, target):
    with target.warehouse.connect() as connection:
        connection.cursor().execute("CREATE TABLE t (a INT)")
        connection.cursor().execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ServerOperationError, match=r"\[UNSUPPORTED_FEATURE.TIME_TRAVEL\]"):
        target.query(f"SELECT * FROM t {clause}")
    assert target.query("SELECT * FROM t VERSION AS OF 1") == [{"a": 1}]  # the current version is kept


def test_timestamp_functions_keep_the_offset_and_return_timestamps(target):
    utc = dt.timezone.utc
    row = one(target, "SELECT TIMESTAMP('2024-01-01 08:00:00 +04:00') AS a, to_timestamp('2024-01-01 08:00:00') AS b, "
                      "to_timestamp('01/02/2024 09:30', 'MM/dd/yyyy HH:mm') AS c")  # fmt: skip
    assert one(target, "SELECT TIMESTAMP'2026-01-01 00:00:00.123 +0000' AS d") == {
        "d": dt.datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=utc)  # the connector's own literal form
    }
    assert row == {
        "a": dt.datetime(2024, 1, 1, 4, tzinfo=utc),
        "b": dt.datetime(2024, 1, 1, 8, tzinfo=utc),
        "c": dt.datetime(2024, 1, 2, 9, 30, tzinfo=utc),
    }


def test_a_timestamp_cast_to_string_reads_as_databricks_writes_it(target):
    """dbt's snapshot ids hash CAST(updated_at AS STRING): the text must be Databricks' (no offset), or every
    id differs from the one a workspace computes. A string column that merely looks like a timestamp is kept."""
    import hashlib

    with target.warehouse.connect() as connection:
        connection.cursor().execute(
            "CREATE TABLE casts AS SELECT TIMESTAMP'2024-01-01 08:00:00' AS ts, TIMESTAMP'2024-01-01 08:00:00.5' AS ts2, "
            "'2024-01-01 08:00:00+00' AS s, 5 AS n"
        )
    row = one(
        target,
        "SELECT CAST(ts AS STRING) AS a, CAST(ts2 AS STRING) AS b, CAST(s AS STRING) AS c, "
        "md5(coalesce(CAST(n AS STRING), '') || '|' || coalesce(CAST(ts AS STRING), '')) AS h FROM casts",
    )
    assert (row["a"], row["b"], row["c"]) == ("2024-01-01 08:00:00", "2024-01-01 08:00:00.5", "2024-01-01 08:00:00+00")
    assert row["h"] == hashlib.md5(b"5|2024-01-01 08:00:00").hexdigest()
