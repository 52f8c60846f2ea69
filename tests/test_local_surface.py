"""The metadata surface and everyday SQL that tools generate, on the embedded warehouse and through
LocalSQLWarehouseServer with the real connector; then what only the wire protocol carries."""

from __future__ import annotations

import threading
import time

import pytest
from backends import backend as make_backend
from databricks.sql.exc import DatabaseError, ServerOperationError


@pytest.fixture(params=["local", "server"])
def target(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


@pytest.fixture
def cursor(target):
    with target.warehouse.connect() as connection:
        yield connection.cursor()


def rows(cursor, sql: str, parameters=None) -> list[tuple]:
    cursor.execute(sql, parameters)
    return [tuple(r) for r in cursor.fetchall()]


def make_orders(cursor) -> None:
    cursor.execute("CREATE TABLE orders (id BIGINT NOT NULL COMMENT 'key', amount DECIMAL(18,2), "
                   "tags STRUCT<x:INT,y:STRING>, CONSTRAINT orders_pk PRIMARY KEY (id)) COMMENT 'all orders'")  # fmt: skip
    cursor.execute("INSERT INTO orders VALUES (1, 10.50, named_struct('x', 1, 'y', 'a')), (2, 99.00, NULL)")


def test_jdbc_listings_back_the_cursor_metadata_calls(cursor):
    make_orders(cursor)
    cursor.execute("CREATE SCHEMA sales")
    assert [r.TABLE_CAT for r in cursor.catalogs().fetchall()] == ["main"]
    assert [r.TABLE_SCHEM for r in cursor.schemas(catalog_name="main").fetchall()] == [
        "default", "information_schema", "sales"
    ]  # fmt: skip
    assert [r.TABLE_SCHEM for r in cursor.schemas(catalog_name="main", schema_name="sal%").fetchall()] == ["sales"]
    (table,) = cursor.tables(catalog_name="main", schema_name="default", table_name="ord_rs").fetchall()
    assert (table.TABLE_NAME, table.TABLE_TYPE, table.REMARKS) == ("orders", "TABLE", "all orders")
    columns = cursor.columns(catalog_name="main", schema_name="default", table_name="orders").fetchall()
    assert [(c.COLUMN_NAME, c.DATA_TYPE, c.TYPE_NAME, c.NULLABLE, c.ORDINAL_POSITION) for c in columns] == [
        ("id", -5, "BIGINT", 0, 1), ("amount", 3, "DECIMAL(18,2)", 1, 2), ("tags", 2002, "STRUCT<x: INT, y: STRING>", 1, 3)
    ]  # fmt: skip
    assert (columns[1].COLUMN_SIZE, columns[1].DECIMAL_DIGITS, columns[0].REMARKS) == (18, 2, "key")


def test_information_schema_views_use_databricks_column_names(cursor):
    make_orders(cursor)
    cursor.execute("CREATE VIEW big AS SELECT id FROM orders WHERE amount > 50")
    assert rows(cursor, "SELECT table_name, table_type FROM information_schema.tables ORDER BY 1") == [
        ("big", "VIEW"), ("orders", "MANAGED")
    ]  # fmt: skip
    assert rows(
        cursor,
        "SELECT column_name, ordinal_position, is_nullable, data_type, full_data_type "
        "FROM main.information_schema.columns WHERE table_name = 'orders'",
    ) == [  # fmt: skip
        ("id", 0, "NO", "BIGINT", "bigint"),
        ("amount", 1, "YES", "DECIMAL", "decimal(18,2)"),
        ("tags", 2, "YES", "STRUCT", "struct<x:int,y:string>"),
    ]
    assert rows(cursor, "SELECT schema_name FROM information_schema.schemata ORDER BY 1") == [
        ("default",), ("information_schema",)
    ]  # fmt: skip
    assert rows(cursor, "SELECT constraint_name, column_name FROM information_schema.key_column_usage") == [
        ("orders_pk", "id")
    ]
    assert rows(cursor, "SELECT count(*) FROM information_schema.row_filters") == [(0,)]
    with pytest.raises(ServerOperationError, match=r"\[TABLE_OR_VIEW_NOT_FOUND\]"):
        cursor.execute("SELECT * FROM information_schema.nope")


def test_describe_as_json_and_the_system_catalog_answer_as_dbt_databricks_reads_them(cursor):
    """dbt-databricks lists relations from system.information_schema.tables (an empty or failed listing makes
    it rebuild incremental models from scratch) and reads columns from DESCRIBE TABLE EXTENDED ... AS JSON."""
    import json

    cursor.execute(
        "CREATE TABLE jt (id BIGINT NOT NULL COMMENT 'key', price DECIMAL(10,2), small DECIMAL(5), at TIMESTAMP, tags ARRAY<STRING>, "
        "attrs MAP<STRING, INT>, s STRUCT<a: INT, b: STRING>, CONSTRAINT jt_pk PRIMARY KEY (id)) COMMENT 'json table'"
    )
    cursor.execute("CREATE VIEW jv AS SELECT id FROM jt")
    (doc,) = rows(cursor, "DESCRIBE TABLE EXTENDED jt AS JSON")[0]
    doc = json.loads(doc)
    assert (doc["catalog_name"], doc["schema_name"], doc["table_name"], doc["type"]) == (
        "main",
        "default",
        "jt",
        "MANAGED",
    )
    assert doc["comment"] == "json table" and doc["provider"] == "delta"
    assert doc["columns"][0] == {"name": "id", "type": {"name": "bigint"}, "comment": "key", "nullable": False}
    types = {c["name"]: c["type"] for c in doc["columns"]}
    assert types["price"] == {"name": "decimal", "precision": 10, "scale": 2}
    assert types["small"] == {"name": "decimal", "precision": 5, "scale": 0}
    assert types["at"] == {"name": "timestamp_ltz"}
    assert types["tags"] == {"name": "array", "element_type": {"name": "string"}, "element_nullable": True}
    assert types["s"]["fields"][1] == {"name": "b", "type": {"name": "string"}, "nullable": True}
    assert "PRIMARY KEY (`id`)" in doc["table_constraints"]
    (view,) = rows(cursor, "DESCRIBE TABLE EXTENDED jv AS JSON")[0]
    assert json.loads(view)["type"] == "VIEW" and "jt" in json.loads(view)["view_text"]
    listed = rows(
        cursor,
        "SELECT table_name, table_type, data_source_format FROM system.information_schema.tables "
        "WHERE table_catalog = 'main' AND table_schema = 'default' ORDER BY table_name",
    )
    assert listed == [("jt", "MANAGED", "DELTA"), ("jv", "VIEW", None)]
    with pytest.raises(ServerOperationError, match="NO_SUCH_CATALOG|CATALOG_NOT_FOUND"):
        cursor.execute("SELECT * FROM nowhere.information_schema.tables")


def test_insert_replace_on_and_replace_where_from_a_table(cursor):
    """dbt-databricks' delete+insert (REPLACE ON) and replace_where (BY NAME ... TABLE t) statements."""
    cursor.execute("CREATE TABLE ro (k INT, v STRING)")
    cursor.execute("INSERT INTO ro VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    cursor.execute("CREATE TABLE ro_new AS SELECT * FROM VALUES (2, 'B'), (4, 'd') AS x(k, v)")
    cursor.execute(
        "INSERT INTO TABLE main.default.ro AS target REPLACE ON (target.`k` <=> temp.`k`) "
        "(SELECT `k`, `v` FROM main.default.ro_new WHERE k > 0) AS temp"
    )
    assert rows(cursor, "SELECT k, v FROM ro ORDER BY k") == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]
    # without an alias the condition names the table; a quoted ")" in the condition does not end it
    cursor.execute(
        "INSERT INTO main.default.ro REPLACE ON (ro.k <=> s.k AND s.v <> 'x)') (SELECT 1 AS k, 'A' AS v) AS s"
    )
    assert rows(cursor, "SELECT k, v FROM ro ORDER BY k") == [(1, "A"), (2, "B"), (3, "c"), (4, "d")]
    cursor.execute("CREATE TABLE ro_late AS SELECT 'e' AS v, 5 AS k")
    cursor.execute("INSERT INTO ro BY NAME REPLACE WHERE k >= 4 TABLE ro_late")  # columns matched by name
    assert rows(cursor, "SELECT k, v FROM ro ORDER BY k") == [(1, "A"), (2, "B"), (3, "c"), (5, "e")]
    with pytest.raises(ServerOperationError, match="DELTA_REPLACE_WHERE_MISMATCH"):
        cursor.execute("INSERT INTO ro BY NAME REPLACE WHERE k >= 6 TABLE ro_late")
    with pytest.raises(ServerOperationError, match="PARSE_SYNTAX_ERROR"):
        cursor.execute("INSERT INTO ro REPLACE ON (ro.k = s.k) SELECT 1 AS s")


def test_show_statements(cursor):
    make_orders(cursor)
    cursor.execute("CREATE VIEW big AS SELECT id FROM orders")
    assert rows(cursor, "SHOW VIEWS") == [("default", "big", False, False)]
    assert rows(cursor, "SHOW TABLES LIKE 'ord*'") == [("default", "orders", False)]
    assert rows(cursor, "SHOW COLUMNS IN orders") == [("id",), ("amount",), ("tags",)]
    (create,) = rows(cursor, "SHOW CREATE TABLE orders")
    assert "CONSTRAINT `orders_pk` PRIMARY KEY (`id`)" in create[0] and "COMMENT 'all orders'" in create[0]
    assert rows(cursor, "DESCRIBE TABLE orders")[1:] == [
        ("amount", "decimal(18,2)", None),
        ("tags", "struct<x:int,y:string>", None),
    ]
    extended = rows(cursor, "DESCRIBE TABLE EXTENDED orders")
    assert ("orders_pk", "PRIMARY KEY (`id`)", "") in extended


def test_views_and_temporary_views_resolve_names_when_created(cursor):
    make_orders(cursor)
    cursor.execute("CREATE VIEW big (order_id COMMENT 'the key') AS SELECT id FROM orders WHERE amount > 50")
    cursor.execute("CREATE SCHEMA other")
    cursor.execute("USE SCHEMA other")
    assert rows(cursor, "SELECT order_id FROM main.default.big") == [(2,)]  # orders still means main.default.orders
    cursor.execute("CREATE TEMPORARY VIEW recent AS SELECT * FROM main.default.orders WHERE id > 1")
    assert rows(cursor, "SELECT count(*) FROM recent") == [(1,)]
    assert ("", "recent", True) in rows(cursor, "SHOW TABLES")
    cursor.execute("DROP VIEW recent")
    with pytest.raises(ServerOperationError, match=r"\[TABLE_OR_VIEW_NOT_FOUND\]"):
        cursor.execute("SELECT * FROM recent")
    with pytest.raises(ServerOperationError, match=r"\[WRONG_COMMAND_FOR_OBJECT_TYPE\]"):
        cursor.execute("DROP TABLE main.default.big")


def test_everyday_dml_and_ddl(cursor):
    make_orders(cursor)
    cursor.execute("UPDATE orders SET amount = amount * 2 WHERE id = 1")
    assert cursor.fetchall()[0].num_affected_rows == 1
    cursor.execute("DELETE FROM main.default.orders WHERE main.default.orders.id = 2")
    cursor.execute("ALTER TABLE orders ADD COLUMN note STRING COMMENT 'free text'")
    cursor.execute("COMMENT ON COLUMN orders.amount IS 'in EUR'")
    cursor.execute("COMMENT ON TABLE orders IS 'renamed'")
    assert rows(cursor, "SELECT id, amount, note FROM orders") == [(1, pytest.approx(21), None)]
    assert rows(cursor, "DESCRIBE TABLE orders")[1:] == [
        ("amount", "decimal(18,2)", "in EUR"), ("tags", "struct<x:int,y:string>", None), ("note", "string", "free text")
    ]  # fmt: skip
    cursor.execute("TRUNCATE TABLE orders")
    assert rows(cursor, "SELECT count(*) FROM orders") == [(0,)]
    operations = [r.operation for r in cursor.execute("DESCRIBE HISTORY orders").fetchall()]
    assert operations[:3] == ["TRUNCATE", "SET TBLPROPERTIES", "CHANGE COLUMN"]


def test_result_columns_are_named_as_databricks_names_them(cursor):
    cursor.execute("SELECT count(*), 1 + 1, upper('a'), sum(id) FROM range(3)")
    assert [d[0] for d in cursor.description] == ["count(1)", "(1 + 1)", "upper(a)", "sum(id)"]


def test_set_and_reset_change_the_session(cursor):
    assert rows(cursor, "SET ansi_mode") == [("ansi_mode", "true")]
    cursor.execute("SET ansi_mode = false")
    assert rows(cursor, "SELECT 1/0 AS x") == [(None,)]
    cursor.execute("RESET ansi_mode")
    with pytest.raises(ServerOperationError, match=r"\[DIVIDE_BY_ZERO\]"):
        cursor.execute("SELECT 1/0 AS x")
    cursor.execute("SET TIME ZONE 'America/New_York'")
    assert rows(cursor, "SELECT CAST(TIMESTAMP'2024-01-01 12:00:00 UTC' AS STRING) AS s")[0][0].startswith(
        "2024-01-01 07:00:00"
    )
    with pytest.raises(ServerOperationError, match=r"\[INVALID_CONF_VALUE.TIME_ZONE\]"):
        cursor.execute("SET TIME ZONE 'Mars/Olympus'")


def test_a_setting_the_engine_does_not_follow_refuses_the_statements_it_could_change(cursor):
    cursor.execute("SET spark.sql.shuffle.partitions = 4")  # speed only
    cursor.execute("SET spark.sql.legacy.bangEqualsNot = false")  # Spark's default
    assert rows(cursor, "SELECT 1 AS x") == [(1,)]
    cursor.execute("SET spark.sql.groupByAliases = false")
    assert rows(cursor, "SELECT 2 AS x") == [(2,)]  # no GROUP BY: the setting cannot change it
    with pytest.raises(ServerOperationError, match=r"UNSUPPORTED_FEATURE.SETTING.*spark.sql.groupbyaliases=false"):
        cursor.execute("SELECT id % 2 AS k, count(*) FROM range(4) GROUP BY k")
    cursor.execute("RESET spark.sql.groupByAliases")
    assert rows(cursor, "SELECT id % 2 AS k, count(*) FROM range(4) GROUP BY k ORDER BY k") == [(0, 2), (1, 2)]
    cursor.execute("SET spark.sql.legacy.timeParserPolicy = LEGACY")
    with pytest.raises(ServerOperationError, match=r"UNSUPPORTED_FEATURE.SETTING"):
        cursor.execute("SELECT to_date('26/10/2015', 'dd/MM/yyyy')")
    cursor.execute("SET spark.sql.legacy.timeParserPolicy = CORRECTED")
    assert rows(cursor, "SELECT to_date('26/10/2015', 'dd/MM/yyyy') AS d")[0][0].isoformat() == "2015-10-26"


def test_session_variables_and_execute_immediate(cursor):
    cursor.execute("DECLARE VARIABLE n INT DEFAULT 5")
    cursor.execute("SET VARIABLE n = n + 1")
    assert rows(cursor, "SELECT n, session.n AS s, system.session.n AS f") == [(6, 6, 6)]
    cursor.execute("CREATE TABLE with_n (n INT)")
    cursor.execute("INSERT INTO with_n VALUES (1)")
    assert rows(cursor, "SELECT n FROM with_n") == [(1,)]  # a column first, as Databricks resolves it
    assert rows(cursor, "SELECT session.n AS v FROM with_n") == [(6,)]
    with pytest.raises(ServerOperationError, match="INVALID_TEMP_OBJ_REFERENCE"):
        cursor.execute("CREATE VIEW keeps_n AS SELECT n AS v")
    cursor.execute("DECLARE VARIABLE q STRING")
    cursor.execute("EXECUTE IMMEDIATE 'SELECT max(n) FROM with_n WHERE n < ?' INTO n USING 10")
    assert rows(cursor, "SELECT n") == [(1,)]
    with pytest.raises(ServerOperationError):
        cursor.execute("SET VARIABLE n = width_bucket(1, 0, 10, 5)")  # refused: n's value is unknown now
    with pytest.raises(ServerOperationError, match="last assignment was refused"):
        cursor.execute("SELECT n")
    cursor.execute("DROP TEMPORARY VARIABLE n")
    assert rows(cursor, "SELECT 'it''s' AS a, \"S\"\"park\" AS b") == [("it's", 'S"park')]


def test_transactions_commit_roll_back_and_abort(target):
    with target.warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute("CREATE TABLE t (a INT)")
        cursor.execute("BEGIN TRANSACTION")
        cursor.execute("INSERT INTO t VALUES (1)")
        cursor.execute("INSERT INTO t VALUES (2)")
        assert target.query("SELECT count(*) AS n FROM t") == [{"n": 0}]  # other sessions see nothing yet
        cursor.execute("COMMIT")
        assert target.query("SELECT count(*) AS n FROM t") == [{"n": 2}]
        cursor.execute("BEGIN TRANSACTION")
        cursor.execute("DELETE FROM t")
        cursor.execute("ROLLBACK")
        assert target.query("SELECT count(*) AS n FROM t") == [{"n": 2}]
        cursor.execute("BEGIN TRANSACTION")
        with pytest.raises(ServerOperationError, match=r"TRANSACTION_NOT_SUPPORTED.STATEMENT"):
            cursor.execute("CREATE TABLE u (a INT)")
        with pytest.raises(ServerOperationError, match=r"\[TRANSACTION_ABORTED\]"):
            cursor.execute("INSERT INTO t VALUES (3)")
        cursor.execute("ROLLBACK")
        with pytest.raises(ServerOperationError, match=r"\[NO_ACTIVE_TRANSACTION\]"):
            cursor.execute("COMMIT")
        cursor.execute("SET AUTOCOMMIT = FALSE")
        cursor.execute("INSERT INTO t VALUES (4)")
        cursor.execute("COMMIT")
        cursor.execute("INSERT INTO t VALUES (5)")
    assert target.query("SELECT a FROM t ORDER BY a") == [{"a": 1}, {"a": 2}, {"a": 4}]  # 5 rolled back on close


# what only the wire protocol carries
@pytest.fixture
def wire(databricks_warehouse):
    with databricks_warehouse.connect() as connection:
        yield connection


def test_native_array_and_map_parameters_arrive_as_values(wire):
    from databricks.sql.parameters import ArrayParameter, MapParameter

    cursor = wire.cursor()
    row = cursor.execute("SELECT :a AS a, :m AS m", {"a": [1, 2], "m": {"k": 1}}).fetchone()
    assert list(row.a) == [1, 2] and list(row.m) == [("k", 1)]
    row = cursor.execute("SELECT ? AS a", [ArrayParameter(["x", "y"])]).fetchone()
    assert list(row.a) == ["x", "y"]
    assert list(cursor.execute("SELECT ? AS m", [MapParameter({"a": 2})]).fetchone().m) == [("a", 2)]


def test_async_execution_row_limit_and_complex_types_as_strings(wire, databricks_warehouse):
    cursor = wire.cursor()
    cursor.execute_async("SELECT * FROM range(25000)")
    while cursor.is_query_pending():
        time.sleep(0.05)
    cursor.get_async_execution_result()
    assert len(cursor.fetchall()) == 25000
    assert len(wire.cursor(row_limit=7).execute("SELECT * FROM range(100)").fetchall()) == 7
    with databricks_warehouse.connect(_use_arrow_native_complex_types=False) as connection:
        row = connection.cursor().execute("SELECT array(1, 2) AS a, named_struct('x', 1) AS s").fetchone()
    assert (row.a, row.s) == ("[1,2]", '{"x":1}')


def test_large_results_travel_as_cloud_fetch_links_and_match_inline_ones(databricks_warehouse):
    """Results above 4 MiB go out as Cloud Fetch links (as Databricks sends them), read by the connector's own
    downloader; `use_cloud_fetch=False` gets the same rows inline, lz4-compressed."""
    query = (
        "SELECT id, CAST(id AS STRING) || '-x' AS s, id * 0.5 AS d, date_add(DATE'2024-01-01', CAST(id % 1000 AS INT)) "
        "AS day FROM range(1000000) ORDER BY id"
    )
    server = databricks_warehouse.server
    with databricks_warehouse.connect() as connection:
        cursor = connection.cursor(arraysize=50_000)
        linked = cursor.execute(query).fetchall_arrow()
        assert server.result_files_served > 1  # several files, downloaded in parallel
        first = cursor.execute(query).fetchmany(3)  # row-wise reads over links
        assert [r.id for r in first] == [0, 1, 2]
    served = server.result_files_served
    with databricks_warehouse.connect(use_cloud_fetch=False) as connection:
        inline = connection.cursor().execute(query).fetchall_arrow()
    assert server.result_files_served == served
    assert linked.num_rows == 1_000_000 and linked.equals(inline)
    with databricks_warehouse.connect() as connection:  # small results stay inline
        connection.cursor().execute("SELECT * FROM range(1000)").fetchall()
    assert server.result_files_served == served


def test_cancel_interrupts_a_running_statement(wire):
    cursor = wire.cursor()
    slow = "SELECT sum(a.id * b.id) FROM range(100000000) a, range(100000) b"  # hours, unless cancelled

    def cancel_once_running() -> None:  # once the server handed out the statement's handle
        while cursor.active_command_id is None:
            time.sleep(0.01)
        cursor.cancel()

    canceller = threading.Thread(target=cancel_once_running, daemon=True)
    canceller.start()
    with pytest.raises(DatabaseError, match="OPERATION_CANCELED|cancel"):
        cursor.execute(slow)
    canceller.join(5)
    assert not canceller.is_alive()
    assert wire.cursor().execute("SELECT 1 AS one").fetchone().one == 1  # the session serves the next statement


def test_a_session_may_start_in_a_schema_that_does_not_exist_yet(databricks_warehouse):
    with databricks_warehouse.connect(schema="staging") as connection:
        cursor = connection.cursor()
        with pytest.raises(ServerOperationError, match=r"\[SCHEMA_NOT_FOUND\]"):
            cursor.execute("CREATE TABLE t (a INT)")
        cursor.execute("CREATE SCHEMA main.staging")
        cursor.execute("CREATE TABLE t (a INT)")
        assert cursor.execute("SELECT current_schema() AS s").fetchone().s == "staging"


def test_rpc_failures_carry_an_error_class(databricks_warehouse):
    from databricks.sql.thrift_api.TCLIService import ttypes as T

    from dagster_dbload.local.service import Service

    service = Service(databricks_warehouse.server)
    unknown = T.TOperationHandle(operationId=T.THandleIdentifier(guid=b"x" * 16, secret=b"y" * 16), operationType=0)
    answer = service.FetchResults(T.TFetchResultsReq(operationHandle=unknown, orientation=0, maxRows=10))
    assert answer.status.statusCode == T.TStatusCode.ERROR_STATUS
    assert answer.status.errorMessage.startswith("[INVALID_HANDLE.OPERATION_NOT_FOUND]")
    broken = service.GetTables(T.TGetTablesReq(sessionHandle=None))
    assert broken.status.errorMessage.startswith("[INTERNAL_ERROR] AttributeError")


def test_session_configuration_is_set_as_set_sets_it(databricks_warehouse):
    with databricks_warehouse.connect(session_configuration={"ansi_mode": "false", "TIMEZONE": "Asia/Tokyo"}) as c:
        cursor = c.cursor()
        assert cursor.execute("SELECT 1/0 AS x").fetchone().x is None
        assert tuple(cursor.execute("SET timezone").fetchone()) == ("timezone", "Asia/Tokyo")
    with pytest.raises(DatabaseError, match=r"INVALID_CONF_VALUE.TIME_ZONE"):
        databricks_warehouse.connect(session_configuration={"timezone": "Mars/Olympus"}).__enter__()
