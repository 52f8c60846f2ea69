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


def test_insert_by_name_pairs_by_name_fills_missing_with_null_and_refuses_extra(run):
    run("INSERT INTO t BY NAME SELECT 'B2' AS b, 2 AS id, 'A2' AS a")
    run("INSERT INTO t BY NAME SELECT 'B3' AS b, 3 AS id")
    assert run("SELECT id, a, b FROM t ORDER BY id") == [(1, "A1", "B1"), (2, "A2", "B2"), (3, None, "B3")]
    with pytest.raises((LocalSQLError, ServerOperationError), match="UNRESOLVED_COLUMN.*extra"):
        run("INSERT INTO t BY NAME SELECT 4 AS id, 'x' AS extra")
    assert run("SELECT count(*) FROM t") == [(3,)]


def test_an_insert_column_list_pairs_by_the_list(run):
    run("INSERT INTO t (b, id) VALUES ('B2', 2)")
    assert run("SELECT id, a, b FROM t WHERE id = 2") == [(2, None, "B2")]


def test_replace_where_pairs_by_position_as_databricks_does(run):
    """REPLACE WHERE has no BY NAME: its query's columns go to the table's in order, whatever they are called."""
    run("INSERT INTO t REPLACE WHERE id = 1 SELECT 1 AS id, 'B2' AS b, 'A2' AS a")
    assert run("SELECT id, a, b FROM t") == [(1, "B2", "A2")]


def test_copy_into_pairs_file_columns_by_name(run, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "files"
    folder.mkdir()
    pq.write_table(pa.table({"b": ["B2"], "id": pa.array([2], pa.int32()), "a": ["A2"]}), folder / "reordered.parquet")
    pq.write_table(pa.table({"b": ["B3"], "id": pa.array([3], pa.int32())}), folder / "missing.parquet")
    run(f"COPY INTO t FROM '{folder}' FILEFORMAT = PARQUET")
    assert run("SELECT id, a, b FROM t ORDER BY id") == [(1, "A1", "B1"), (2, "A2", "B2"), (3, None, "B3")]
    extra = tmp_path / "extra"
    extra.mkdir()
    pq.write_table(pa.table({"extra": ["x"], "id": pa.array([4], pa.int32())}), extra / "extra.parquet")
    with pytest.raises((LocalSQLError, ServerOperationError), match="DELTA_METADATA_MISMATCH.*extra"):
        run(f"COPY INTO t FROM '{extra}' FILEFORMAT = PARQUET")
    run(f"COPY INTO t FROM '{extra}' FILEFORMAT = PARQUET COPY_OPTIONS ('mergeSchema' = 'true')")
    assert run("SELECT id, a, b, extra FROM t WHERE id = 4") == [(4, None, None, "x")]
