"""Statements that pair columns by name on Databricks pair them by name here too: reordered, missing and extra
source columns, on the embedded warehouse and through the server with the real connector."""

import pytest
from backends import backend as make_backend
from backends import statement_runner
from databricks.sql.exc import ServerOperationError

from dagster_dbload.local.errors import LocalSQLError


@pytest.fixture(params=["local", "server"])
def run(request, tmp_path):
    with make_backend(request.param, tmp_path) as backend, backend.warehouse.connect() as connection:
        execute = statement_runner(connection)
        execute("CREATE TABLE t (id INT, a STRING, b STRING)")
        execute("INSERT INTO t VALUES (1, 'A1', 'B1')")
        yield execute


SOURCE = "(SELECT 1 AS id, 'B2' AS b, 'A2' AS a, 'x' AS extra UNION ALL SELECT 2, 'B3', 'A3', 'y') AS s"


def test_merge_update_set_star_and_insert_star_pair_columns_by_name(run):
    run(f"MERGE INTO t USING {SOURCE} ON t.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
    assert run("SELECT id, a, b FROM t ORDER BY id") == [(1, "A2", "B2"), (2, "A3", "B3")]  # extra is ignored


@pytest.mark.parametrize("clause", ["WHEN MATCHED THEN UPDATE SET *", "WHEN NOT MATCHED THEN INSERT *"])
def test_a_star_clause_whose_source_lacks_a_target_column_is_refused(run, clause):
    with pytest.raises(
        (LocalSQLError, ServerOperationError), match=r"DELTA_MERGE_UNRESOLVED_EXPRESSION.*Cannot resolve a"
    ):
        run(f"MERGE INTO t USING (SELECT 3 AS id, 'B' AS b) AS s ON t.id = s.id {clause}")
    assert run("SELECT id, a, b FROM t") == [(1, "A1", "B1")]


def test_with_schema_evolution_a_star_adds_source_columns_and_keeps_or_nulls_the_missing(run):
    run("MERGE WITH SCHEMA EVOLUTION INTO t USING (SELECT 1 AS id, 'B9' AS b, 'n' AS c UNION ALL "
        "SELECT 5, 'B5', 'm') AS s ON t.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")  # fmt: skip
    assert run("SELECT id, a, b, c FROM t ORDER BY id") == [(1, "A1", "B9", "n"), (5, None, "B5", "m")]
