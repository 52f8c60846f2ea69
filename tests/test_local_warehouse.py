"""The local SQL warehouse runs each supported Databricks SQL form on real parquet files."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
from decimal import Decimal

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from databricks.sql.exc import ServerOperationError

from dagster_dbload import LocalSQLWarehouse

UTC = dt.timezone.utc

ALL_TYPES = pa.schema(
    [
        ("b", pa.bool_()),
        ("i8", pa.int8()),
        ("i16", pa.int16()),
        ("i32", pa.int32()),
        ("i64", pa.int64()),
        ("f32", pa.float32()),
        ("f64", pa.float64()),
        ("dec", pa.decimal128(38, 9)),
        ("s", pa.string()),
        ("bin", pa.binary()),
        ("d", pa.date32()),
        ("ts", pa.timestamp("us", tz="Etc/UTC")),
        ("ts_ntz", pa.timestamp("us")),
        ("arr", pa.list_(pa.string())),
        ("st", pa.struct([("x", pa.int32()), ("y", pa.string())])),
        ("m", pa.map_(pa.string(), pa.int64())),
    ]
)
DATABRICKS_TYPES = [
    "boolean", "tinyint", "smallint", "int", "bigint", "float", "double", "decimal(38,9)", "string", "binary",
    "date", "timestamp", "timestamp_ntz", "array<string>", "struct<x:int,y:string>", "map<string,bigint>",
]  # fmt: skip
ROWS = [
    {
        "b": True, "i8": -8, "i16": 1600, "i32": -320000, "i64": 2**40, "f32": 1.5, "f64": 2.25,
        "dec": Decimal("12345678901234567890.123456789"), "s": "héllo 'quoted'", "bin": b"\x00\xff",
        "d": dt.date(2024, 2, 29), "ts": dt.datetime(2024, 1, 1, 12, 30, tzinfo=UTC),
        "ts_ntz": dt.datetime(2024, 1, 1, 12, 30), "arr": ["a", "b"], "st": {"x": 1, "y": "z"}, "m": [("k", 7)],
    },
    {k: None for k in ALL_TYPES.names},
]  # fmt: skip


def write_parts(folder, tables, prefix="part") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, table in enumerate(tables):
        name = f"{prefix}-{i:05d}.parquet"
        pq.write_table(table, folder / name)
        names.append(name)
    return names


def run(cursor, sql, parameters=None):
    cursor.execute(sql, parameters)
    return cursor.fetchall() if cursor.description else None


def describe_types(cursor, table) -> dict[str, str]:
    rows = run(cursor, f"DESCRIBE TABLE {table}")
    return {r.col_name: r.data_type for r in rows if r.col_name and not r.col_name.startswith("#")}


@pytest.fixture
def typed_parquet(tmp_path):
    folder = tmp_path / "stage" / "all"
    write_parts(folder, [pa.Table.from_pylist(ROWS, schema=ALL_TYPES)])
    return folder


def test_every_type_round_trips_through_create_copy_into_and_select(cursor, typed_parquet):
    columns = ", ".join(f"`{f.name}` {t}" for f, t in zip(ALL_TYPES, DATABRICKS_TYPES, strict=True))
    run(cursor, "CREATE SCHEMA IF NOT EXISTS main.`Raw-Data`")
    run(cursor, f"CREATE TABLE main.`Raw-Data`.`All Types` ({columns}) USING DELTA".replace("All Types", "all_types"))
    result = run(cursor, f"COPY INTO main.`raw-data`.all_types FROM '{typed_parquet}/' FILEFORMAT = PARQUET")
    assert result[0].asDict() == {"num_affected_rows": 2, "num_inserted_rows": 2, "num_skipped_corrupt_files": 0}
    assert cursor.rowcount == 2

    cursor.execute("SELECT * FROM main.`RAW-DATA`.all_types ORDER BY b NULLS LAST")
    table = cursor.fetchall_arrow()
    assert table.schema.types == ALL_TYPES.types
    assert table.to_pylist()[0] == {**ROWS[0], "m": [("k", 7)]}
    assert table.to_pylist()[1] == ROWS[1]
    assert [d[1] for d in cursor.description] == [t.split("<")[0].split("(")[0] for t in DATABRICKS_TYPES]
    assert cursor.description[7][4:6] == (38, 9)
    assert list(describe_types(cursor, "main.`raw-data`.all_types").values()) == DATABRICKS_TYPES


def test_copy_into_is_idempotent_per_file_and_force_loads_again(cursor, tmp_path):
    folder = tmp_path / "stage" / "run1"
    write_parts(folder, [pa.table({"id": [1, 2]}), pa.table({"id": [3]})])
    run(cursor, "CREATE TABLE t (id BIGINT)")
    copy = f"COPY INTO t FROM '{folder}' FILEFORMAT = PARQUET"
    assert run(cursor, copy)[0].num_inserted_rows == 3
    assert run(cursor, copy)[0].num_inserted_rows == 0
    assert run(cursor, "SELECT count(*) AS n FROM t")[0].n == 3
    assert run(cursor, copy + " COPY_OPTIONS ('force' = 'true')")[0].num_inserted_rows == 3
    assert run(cursor, "SELECT count(*) AS n FROM main.default.t")[0].n == 6


def test_copy_into_files_and_pattern_select_files(cursor, tmp_path):
    folder = tmp_path / "stage"
    write_parts(folder, [pa.table({"id": [1]}), pa.table({"id": [2, 3]})])
    write_parts(folder / "_hidden", [pa.table({"id": [99]})])
    run(cursor, "CREATE TABLE t (id BIGINT)")
    run(cursor, f"COPY INTO t FROM '{folder}' FILEFORMAT = PARQUET FILES = ('part-00001.parquet')")
    assert sorted(r.id for r in run(cursor, "SELECT id FROM t")) == [2, 3]
    result = run(cursor, f"COPY INTO t FROM '{folder}' FILEFORMAT = PARQUET PATTERN = 'part-0000[0-9].parquet'")
    assert result[0].num_inserted_rows == 1  # part-00001 was loaded already; _hidden is never read
    assert sorted(r.id for r in run(cursor, "SELECT id FROM t")) == [1, 2, 3]


def test_merge_schema_adds_columns_and_old_rows_read_null(cursor, tmp_path):
    write_parts(tmp_path / "a", [pa.table({"id": [1]})])
    write_parts(tmp_path / "b", [pa.table({"id": [2], "extra": ["x"]})])
    run(cursor, "CREATE TABLE t (id BIGINT)")
    run(cursor, f"COPY INTO t FROM '{tmp_path / 'a'}' FILEFORMAT = PARQUET")
    with pytest.raises(ServerOperationError, match=r"DELTA_METADATA_MISMATCH.*'extra'.*mergeSchema"):
        run(cursor, f"COPY INTO t FROM '{tmp_path / 'b'}' FILEFORMAT = PARQUET")
    assert describe_types(cursor, "t") == {"id": "bigint"}
    run(cursor, f"COPY INTO t FROM '{tmp_path / 'b'}' FILEFORMAT = PARQUET COPY_OPTIONS ('mergeSchema' = 'true')")
    assert describe_types(cursor, "t") == {"id": "bigint", "extra": "string"}
    assert run(cursor, "SELECT id, extra FROM t ORDER BY id") == [(1, None), (2, "x")]


def test_schemaless_table_takes_its_schema_from_copy_into(cursor, tmp_path):
    write_parts(tmp_path / "s", [pa.table({"id": pa.array([1], pa.int32()), "when": [dt.datetime(2024, 5, 1)]})])
    run(cursor, "CREATE TABLE IF NOT EXISTS main.default.loose")
    run(
        cursor,
        f"COPY INTO loose FROM '{tmp_path / 's'}' FILEFORMAT = PARQUET "
        "FORMAT_OPTIONS ('mergeSchema' = 'true') COPY_OPTIONS ('mergeSchema' = 'true')",
    )
    assert describe_types(cursor, "loose") == {"id": "int", "when": "timestamp_ntz"}


def test_timestamp_and_ntz_do_not_mix(cursor, tmp_path):
    write_parts(tmp_path / "s", [pa.table({"ts": [dt.datetime(2024, 5, 1)]})])
    run(cursor, "CREATE TABLE t (ts TIMESTAMP)")
    with pytest.raises(ServerOperationError, match=r"DELTA_FAILED_TO_MERGE_FIELDS.*TIMESTAMP.*TIMESTAMP_NTZ"):
        run(cursor, f"COPY INTO t FROM '{tmp_path / 's'}' FILEFORMAT = PARQUET")


def test_insert_into_overwrite_values_and_column_lists(cursor, tmp_path):
    write_parts(tmp_path / "s", [pa.table({"a": [10, 20], "b": ["x", "y"]})])
    run(cursor, "CREATE TABLE t (a BIGINT, b STRING, c DOUBLE)")
    assert run(cursor, "INSERT INTO t VALUES (1, 'one', 1.0), (2, 'two', NULL)")[0].num_inserted_rows == 2
    run(cursor, "INSERT INTO t (b, a) VALUES ('three', 3)")
    assert run(cursor, "SELECT a, b, c FROM t ORDER BY a") == [(1, "one", 1.0), (2, "two", None), (3, "three", None)]
    result = run(cursor, f"INSERT OVERWRITE t (a, b) SELECT * FROM read_files('{tmp_path / 's'}', format => 'parquet')")
    assert cursor.rowcount == 2 and result[0].num_affected_rows == 2
    assert run(cursor, "SELECT a, b, c FROM t ORDER BY a") == [(10, "x", None), (20, "y", None)]
    run(cursor, f"INSERT INTO t SELECT *, 0.5 FROM parquet.`{tmp_path / 's'}`")
    assert run(cursor, "SELECT count(*) AS n, sum(c) AS c FROM t")[0] == (4, 1.0)
    with pytest.raises(ServerOperationError, match="INSERT_COLUMN_ARITY_MISMATCH"):
        run(cursor, "INSERT INTO t VALUES (1, 'x')")


def test_replace_where_replaces_only_matching_rows_and_checks_the_data(cursor):
    run(cursor, "CREATE TABLE t (d DATE, v BIGINT) PARTITIONED BY (d)")
    run(cursor, "INSERT INTO t VALUES (DATE'2024-01-01', 1), (DATE'2024-01-02', 2)")
    run(
        cursor, "INSERT INTO t REPLACE WHERE d = DATE'2024-01-01' VALUES (DATE'2024-01-01', 10), (DATE'2024-01-01', 11)"
    )
    assert run(cursor, "SELECT v FROM t ORDER BY v") == [(2,), (10,), (11,)]
    with pytest.raises(ServerOperationError, match="DELTA_REPLACE_WHERE_MISMATCH"):
        run(cursor, "INSERT INTO t REPLACE WHERE d = DATE'2024-01-01' VALUES (DATE'2024-01-05', 5)")
    assert run(cursor, "SELECT v FROM t ORDER BY v") == [(2,), (10,), (11,)]


def test_create_table_as_select_from_read_files(cursor, typed_parquet):
    run(cursor, f"CREATE TABLE copied AS SELECT * FROM read_files('{typed_parquet}', format => 'parquet')")
    assert list(describe_types(cursor, "copied").values()) == DATABRICKS_TYPES
    assert run(cursor, "SELECT count(*) AS n FROM copied")[0].n == 2
    history = run(cursor, "DESCRIBE HISTORY copied")
    assert history[0].operation == "CREATE TABLE AS SELECT"
    assert dict(history[0].operationMetrics)["numOutputRows"] == "2"


def test_layout_comments_and_properties_show_in_describe(cursor):
    run(
        cursor,
        "CREATE OR REPLACE TABLE main.default.ev (id BIGINT NOT NULL COMMENT 'event id', day DATE, kind STRING) "
        "USING DELTA PARTITIONED BY (day) COMMENT 'events' TBLPROPERTIES ('team' = 'data')",
    )
    run(cursor, "CREATE TABLE cl (id BIGINT, kind STRING) CLUSTER BY (kind)")
    run(cursor, "ALTER TABLE ev ADD COLUMNS (score DOUBLE COMMENT 'model score', tags ARRAY<STRING>)")
    run(cursor, "ALTER TABLE ev ALTER COLUMN kind COMMENT 'what happened'")
    rows = run(cursor, "DESCRIBE TABLE EXTENDED ev")
    comments = {r.col_name: r.comment for r in rows[:5]}
    assert comments == {"id": "event id", "day": None, "kind": "what happened", "score": "model score", "tags": None}
    assert rows[5].col_name == "# Partition Information" and rows[7].col_name == "day"
    detail = {r.col_name: r.data_type for r in rows}
    assert detail["Comment"] == "events" and detail["Table Properties"] == "[team=data]"
    (ev,) = run(cursor, "DESCRIBE DETAIL ev")
    assert (ev.format, ev.name, ev.description, ev.partitionColumns) == ("delta", "main.default.ev", "events", ["day"])
    assert dict(ev.properties) == {"team": "data"}
    assert run(cursor, "DESCRIBE DETAIL cl")[0].clusteringColumns == ["kind"]
    assert [r.operation for r in run(cursor, "DESCRIBE HISTORY ev")] == ["CHANGE COLUMN", "ADD COLUMNS", "CREATE TABLE"]
    assert [r.operation for r in run(cursor, "DESCRIBE HISTORY main.default.ev LIMIT 2")] == [
        "CHANGE COLUMN",
        "ADD COLUMNS",
    ]
    with pytest.raises(ServerOperationError, match="DELTA_NOT_NULL_CONSTRAINT_VIOLATED"):
        run(cursor, "INSERT INTO ev (id) VALUES (NULL)")


def test_history_has_a_version_per_write_with_metrics(cursor, tmp_path):
    write_parts(tmp_path / "s", [pa.table({"id": [1, 2, 3]})])
    run(cursor, "CREATE TABLE t (id BIGINT)")
    run(cursor, f"COPY INTO t FROM '{tmp_path / 's'}' FILEFORMAT = PARQUET")
    run(cursor, f"INSERT OVERWRITE t SELECT * FROM read_files('{tmp_path / 's'}')")
    history = run(cursor, "DESCRIBE HISTORY t")
    assert [(h.version, h.operation) for h in history] == [(2, "WRITE"), (1, "COPY INTO"), (0, "CREATE TABLE")]
    assert dict(history[0].operationParameters)["mode"] == "Overwrite"
    assert dict(history[0].operationMetrics)["numOutputRows"] == "3"
    assert run(cursor, "DESCRIBE DETAIL t")[0].version == 2


def test_reads_fsspec_urls(tmp_path):
    fs = fsspec.filesystem("memory")
    with fs.open("memory://bucket/run/part-0.parquet", "wb") as f:
        pq.write_table(pa.table({"id": [5, 6]}), f)
    warehouse = LocalSQLWarehouse(path=str(tmp_path / "w.duckdb"))
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        run(cursor, "CREATE TABLE t (id BIGINT)")
        run(cursor, "COPY INTO t FROM 'memory://bucket/run/' FILEFORMAT = PARQUET")
        assert (
            run(cursor, "SELECT sum(id) AS s FROM read_files('memory://bucket/run/', format => 'parquet')")[0].s == 11
        )
        assert run(cursor, "SELECT sum(id) AS s FROM t")[0].s == 11


def test_parameters_are_bound_not_pasted(cursor):
    run(cursor, "CREATE TABLE t (name STRING, d DATE, ts TIMESTAMP)")
    evil = "o'brien'); DROP TABLE t; --"
    ts = dt.datetime(2024, 3, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    run(cursor, "INSERT INTO t VALUES (:name, :d, :ts)", {"name": evil, "d": dt.date(2024, 3, 1), "ts": ts})
    assert run(cursor, "SELECT name, d, ts FROM t WHERE name = ?", [evil]) == [(evil, dt.date(2024, 3, 1), ts)]
    with pytest.raises(ServerOperationError, match="UNBOUND_SQL_PARAMETER"):
        run(cursor, "SELECT * FROM t WHERE name = :missing", {})


def test_catalogs_schemas_show_and_drop(cursor):
    run(cursor, "CREATE CATALOG IF NOT EXISTS Sales")
    run(cursor, "CREATE SCHEMA sales.eu")
    run(cursor, "CREATE TABLE sales.eu.orders (id BIGINT)")
    assert [r.catalog for r in run(cursor, "SHOW CATALOGS")] == ["main", "sales"]
    assert [r.databaseName for r in run(cursor, "SHOW SCHEMAS IN sales")] == ["default", "eu", "information_schema"]
    assert [r.tableName for r in run(cursor, "SHOW TABLES IN sales.eu")] == ["orders"]
    with pytest.raises(ServerOperationError, match="SCHEMA_NOT_EMPTY"):
        run(cursor, "DROP SCHEMA sales.eu")
    run(cursor, "USE CATALOG sales")
    run(cursor, "USE SCHEMA eu")
    assert run(cursor, "SELECT count(*) AS n FROM orders")[0].n == 0
    run(cursor, "DROP TABLE orders")
    run(cursor, "DROP TABLE IF EXISTS orders")
    run(cursor, "DROP SCHEMA sales.eu")
    with pytest.raises(ServerOperationError, match="SCHEMA_NOT_FOUND"):
        run(cursor, "CREATE TABLE sales.eu.orders (id BIGINT)")
    with pytest.raises(ServerOperationError, match="NO_SUCH_CATALOG_EXCEPTION"):
        run(cursor, "CREATE SCHEMA nope.x")


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELEC 1", r"\[PARSE_SYNTAX_ERROR\] Syntax error at or near"),
        ("SELECT 1; SELECT 2", "PARSE_SYNTAX_ERROR.*exactly one statement"),
        ("VACUUM main.default.t", r"\[UNSUPPORTED_STATEMENT\].*VACUUM"),
        ("UPDATE t SET nope = 1", r"\[UNRESOLVED_COLUMN.*`nope`"),
        ("GRANT SELECT ON TABLE t TO `someone`", r"\[UNSUPPORTED_STATEMENT\].*GRANT"),
        ("CREATE TABLE p (a INT) USING PARQUET", r"UNSUPPORTED_STATEMENT.*USING PARQUET"),
        ("SELECT * FROM main.default.missing", r"\[TABLE_OR_VIEW_NOT_FOUND\].*`main`.`default`.`missing`"),
        ("SELECT nope FROM t", r"\[UNRESOLVED_COLUMN.*`nope`"),
        ("CREATE TABLE t (a INT)", r"\[TABLE_OR_VIEW_ALREADY_EXISTS\]"),
        ("CREATE TABLE `bad.name` (a INT)", r"\[INVALID_SCHEMA_OR_RELATION_NAME\]"),
        ("CREATE TABLE cols (`a b` INT)", r"\[DELTA_INVALID_CHARACTERS_IN_COLUMN_NAMES\].*columnMapping"),
        ("SELECT * FROM read_files('/no/such/dir')", r"\[PATH_NOT_FOUND\]"),
        ("ALTER TABLE t ADD COLUMNS (a BIGINT)", r"\[FIELDS_ALREADY_EXISTS\]"),
    ],
)
def test_bad_and_unsupported_statements_fail_with_their_error_class(cursor, sql, error):
    run(cursor, "CREATE TABLE t (a INT)")
    with pytest.raises(ServerOperationError, match=error):
        run(cursor, sql)
    assert run(cursor, "DESCRIBE HISTORY t")[0].version == 0  # nothing was written


def _hold(path: str, seconds: float, ready, released=None) -> None:
    with LocalSQLWarehouse(path=path).connect() as connection:
        connection.cursor().execute("CREATE TABLE IF NOT EXISTS held (a INT)")
    with duckdb.connect(path):  # another tool (a DuckDB shell, say) keeps the file open
        ready.set()
        time.sleep(seconds)
        if released is not None:
            released.set()  # just before letting go of the file


def _idle_session(path: str, seconds: float, ready) -> None:
    with LocalSQLWarehouse(path=path).connect() as connection:
        connection.cursor().execute("CREATE TABLE IF NOT EXISTS held (a INT)")
        ready.set()
        time.sleep(seconds)  # e.g. an IO manager reading a slow source and staging it
        connection.cursor().execute("INSERT INTO held VALUES (1)")


def test_an_open_connection_holds_the_file_only_while_statements_run(tmp_path):
    path = str(tmp_path / "w.duckdb")
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_idle_session, args=(path, 2.0, ready))
    holder.start()
    try:
        assert ready.wait(60)
        with LocalSQLWarehouse(path=path, lock_timeout_seconds=0.5).connect() as connection:
            run(connection.cursor(), "INSERT INTO held VALUES (2)")
    finally:
        holder.join(30)
    assert holder.exitcode == 0
    with LocalSQLWarehouse(path=path).connect() as connection:
        assert sorted(r.a for r in run(connection.cursor(), "SELECT a FROM held")) == [1, 2]


def test_a_second_process_waits_for_the_file_then_proceeds(tmp_path):
    path = str(tmp_path / "w.duckdb")
    ctx = multiprocessing.get_context("spawn")
    ready, released = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(path, 1.5, ready, released))
    holder.start()
    try:
        assert ready.wait(60)
        busy = LocalSQLWarehouse(path=path, lock_timeout_seconds=0.2)
        with pytest.raises(ServerOperationError, match="WAREHOUSE_BUSY"), busy.connect():
            pass
        with LocalSQLWarehouse(path=path).connect() as connection:  # waits for the holder to let go
            assert released.is_set()
            assert run(connection.cursor(), "SHOW TABLES")[0].tableName == "held"
    finally:
        holder.join(30)


def test_merge_updates_inserts_and_deletes_with_delta_semantics(cursor):
    run(cursor, "CREATE TABLE t (k INT, v STRING)")
    run(cursor, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    upsert = (
        "MERGE INTO t USING (SELECT * FROM VALUES (2, 'B'), (4, 'D') AS x(k, v)) s ON t.k <=> s.k "
        "WHEN MATCHED THEN UPDATE SET k = s.k, v = s.v WHEN NOT MATCHED THEN INSERT (k, v) VALUES (s.k, s.v)"
    )
    counts = run(cursor, upsert)[0].asDict()
    assert counts == {"num_affected_rows": 2, "num_updated_rows": 1, "num_deleted_rows": 0, "num_inserted_rows": 1}
    assert run(cursor, "SELECT k, v FROM t ORDER BY k") == [(1, "a"), (2, "B"), (3, "c"), (4, "D")]
    run(
        cursor,
        "MERGE INTO t AS tt USING (SELECT * FROM VALUES (2, 'X'), (9, 'Z') AS x(k, v)) s ON tt.k = s.k "
        "WHEN MATCHED AND s.v = 'X' THEN DELETE WHEN NOT MATCHED THEN INSERT * "
        "WHEN NOT MATCHED BY SOURCE AND tt.k = 1 THEN DELETE",
    )
    assert run(cursor, "SELECT k, v FROM t ORDER BY k") == [(3, "c"), (4, "D"), (9, "Z")]
    history = run(cursor, "DESCRIBE HISTORY t")[0]
    assert history.operation == "MERGE"
    assert dict(history.operationMetrics)["numTargetRowsDeleted"] == "2"


def test_merge_with_schema_evolution_adds_source_columns(cursor):
    run(cursor, "CREATE TABLE t (k INT, v STRING)")
    run(cursor, "INSERT INTO t VALUES (1, 'a')")
    run(
        cursor,
        "MERGE WITH SCHEMA EVOLUTION INTO t USING (SELECT 1 AS k, 'b' AS v, 2.5D AS score) s ON t.k = s.k "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    )
    assert describe_types(cursor, "t") == {"k": "int", "v": "string", "score": "double"}
    assert run(cursor, "SELECT k, v, score FROM t") == [(1, "b", 2.5)]


def test_merge_refuses_several_source_rows_for_one_target_row(cursor):
    run(cursor, "CREATE TABLE t (k INT, v STRING)")
    run(cursor, "INSERT INTO t VALUES (1, 'a')")
    with pytest.raises(ServerOperationError, match="DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE"):
        run(
            cursor,
            "MERGE INTO t USING (SELECT * FROM VALUES (1, 'x'), (1, 'y') AS x(k, v)) s ON t.k = s.k "
            "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
        )
    assert run(cursor, "SELECT v FROM t") == [("a",)]
    assert run(cursor, "DESCRIBE HISTORY t")[0].version == 1


def test_an_in_memory_path_is_refused_naming_a_file_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="Give it a file path"), LocalSQLWarehouse(path=":memory:").connect():
        pass
    assert not (tmp_path / ":memory:").exists()
