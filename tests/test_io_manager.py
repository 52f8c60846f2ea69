"""DatabricksIOManager end to end on the local warehouse: inputs, types, modes, errors and metadata."""

import datetime as dt
import os
import re
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import sqlglot
from backends import sql_blocks
from dagster import AssetExecutionContext

from dagster_dbload import DatabricksLoadError

UTC = dt.timezone.utc
CORE = ["local", "server"]  # type and validation matrices: staging backends do not change them


@pytest.fixture
def warehouse(backend):
    return backend.warehouse


def materialize(assets, io_manager, **kwargs):
    return dg.materialize(assets, resources={"io_manager": io_manager}, **kwargs)


def metadata(result, asset_name: str) -> dict:
    (mat,) = [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == asset_name]
    return {k: v.value for k, v in mat.materialization.metadata.items()}


def query(warehouse, statement: str):
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(statement)
        return cursor.fetchall_arrow()


def history_version(warehouse, table: str) -> int:
    return query(warehouse, f"DESCRIBE HISTORY {table}").column("version")[0].as_py()


def describe(warehouse, table: str) -> dict[str, str]:
    rows = query(warehouse, f"DESCRIBE TABLE {table}").to_pylist()
    return {r["col_name"]: r["data_type"] for r in rows if r["col_name"] and not r["col_name"].startswith("#")}


BASE = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": ["a", "b'; DROP TABLE x; --", None],
        "price": [1.5, None, 3.25],
        "placed": pa.array(  # read back in the session time zone, Etc/UTC, as Databricks' Arrow results carry it
            [dt.datetime(2024, 1, 1, 9, tzinfo=UTC), None, dt.datetime(2024, 1, 3, tzinfo=UTC)],
            pa.timestamp("us", "Etc/UTC"),
        ),
    }
)


@pytest.mark.parametrize("backend", CORE, indirect=True)  # conversions do not depend on staging
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: BASE, id="pyarrow.Table"),
        pytest.param(lambda: BASE.to_reader(max_chunksize=1), id="pyarrow.RecordBatchReader"),
        pytest.param(lambda: BASE.to_pandas(), id="pandas.DataFrame"),
        pytest.param(lambda: pl.from_arrow(BASE), id="polars.DataFrame"),
        pytest.param(lambda: pl.from_arrow(BASE).lazy(), id="polars.LazyFrame"),
    ],
)
def test_every_input_type_round_trips(make, io_manager, warehouse):
    @dg.asset
    def orders():
        return make()

    @dg.asset
    def as_arrow(orders: pa.Table) -> None:
        assert orders.sort_by("id").equals(BASE)

    @dg.asset
    def as_pandas(orders: pd.DataFrame) -> None:
        assert orders.sort_values("id")["name"].tolist()[:2] == ["a", "b'; DROP TABLE x; --"]
        assert str(orders["placed"].dtype).startswith("datetime64")

    @dg.asset
    def as_polars(orders: pl.DataFrame) -> None:
        assert orders.sort("id").to_arrow().equals(pl.from_arrow(BASE).to_arrow())

    @dg.asset
    def as_lazy(orders: pl.LazyFrame) -> None:
        assert orders.collect().height == 3

    @dg.asset
    def unannotated(orders) -> None:
        assert isinstance(orders, pa.Table)

    result = materialize([orders, as_arrow, as_pandas, as_polars, as_lazy, unannotated], io_manager)
    assert result.success
    assert describe(warehouse, "main.default.orders") == {
        "id": "bigint", "name": "string", "price": "double", "placed": "timestamp"
    }  # fmt: skip
    assert query(warehouse, "SELECT * FROM main.default.orders").sort_by("id").equals(BASE)


TYPED = [
    # (arrow values, arrow type, databricks type, arrow type read back, values read back)
    ([True, None], pa.bool_(), "boolean", pa.bool_(), None),
    ([-1, None], pa.int8(), "tinyint", pa.int8(), None),
    ([-300, None], pa.int16(), "smallint", pa.int16(), None),
    ([-70000, None], pa.int32(), "int", pa.int32(), None),
    ([2**62, None], pa.int64(), "bigint", pa.int64(), None),
    ([255, None], pa.uint8(), "smallint", pa.int16(), None),
    ([65535, None], pa.uint16(), "int", pa.int32(), None),
    ([2**32 - 1, None], pa.uint32(), "bigint", pa.int64(), None),
    ([2**64 - 1, None], pa.uint64(), "decimal(20,0)", pa.decimal128(20, 0), [Decimal(2**64 - 1), None]),
    ([1.5, None], pa.float32(), "float", pa.float32(), None),
    ([1.25, None], pa.float64(), "double", pa.float64(), None),
    ([Decimal("123.450"), None], pa.decimal128(10, 3), "decimal(10,3)", pa.decimal128(10, 3), None),
    (["x", None], pa.string(), "string", pa.string(), None),
    (["x", None], pa.large_string(), "string", pa.string(), None),
    (["x", None], pa.string_view(), "string", pa.string(), None),
    ([b"\x00\x01", None], pa.binary(), "binary", pa.binary(), None),
    ([dt.date(2024, 2, 29), None], pa.date32(), "date", pa.date32(), None),
    ([dt.datetime(2024, 2, 29, 1, 2, 3), None], pa.date64(), "date", pa.date32(), [dt.date(2024, 2, 29), None]),
    (
        [dt.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=ZoneInfo("America/New_York")), None],
        pa.timestamp("ns", "America/New_York"),
        "timestamp",
        pa.timestamp("us", "Etc/UTC"),
        [dt.datetime(2024, 1, 1, 17, 0, 0, 123456, tzinfo=UTC), None],
    ),
    ([dt.datetime(2024, 1, 1, 12), None], pa.timestamp("s"), "timestamp_ntz", pa.timestamp("us"), None),
    ([dt.datetime(2024, 1, 1, 12), None], pa.timestamp("ms", "UTC"), "timestamp", pa.timestamp("us", "Etc/UTC"), "tz"),
    ([["a", "b"], None], pa.list_(pa.string()), "array<string>", pa.list_(pa.string()), None),
    ([[1, 2], None], pa.large_list(pa.int64()), "array<bigint>", pa.list_(pa.int64()), None),
    (
        [{"x": 1, "y": "z"}, None],
        pa.struct([("x", pa.int32()), ("y", pa.string())]),
        "struct<x:int,y:string>",
        pa.struct([("x", pa.int32()), ("y", pa.string())]),
        None,
    ),
    (
        [[("k", 1)], None],
        pa.map_(pa.string(), pa.int64()),
        "map<string,bigint>",
        pa.map_(pa.string(), pa.int64()),
        None,
    ),
    (["red", None], pa.dictionary(pa.int8(), pa.string()), "string", pa.string(), None),
    ([None, None], pa.null(), "string", pa.string(), None),
]


def _canon(t: str) -> str:
    return t.replace(" ", "").lower()


@pytest.mark.parametrize("backend", CORE, indirect=True)
@pytest.mark.parametrize(("values", "arrow_type", "dbx_type", "read_type", "read_values"), TYPED, ids=lambda v: str(v))
def test_every_mapped_type_round_trips(values, arrow_type, dbx_type, read_type, read_values, io_manager, warehouse):
    if pa.types.is_dictionary(arrow_type):
        column = pa.array(values).dictionary_encode().cast(arrow_type)
    elif pa.types.is_date64(arrow_type):
        column = pa.array(values, pa.timestamp("ms")).cast(pa.int64()).cast(arrow_type)
    else:
        column = pa.array(values, arrow_type)
    source = pa.table({"k": [1, 2], "v": column})

    @dg.asset
    def typed() -> pa.Table:
        return source

    @dg.asset
    def check(typed: pa.Table) -> None:
        got = typed.sort_by("k").column("v")
        assert got.type == read_type
        if read_values == "tz":
            assert got.to_pylist()[0] == dt.datetime(2024, 1, 1, 12, tzinfo=UTC)
        else:
            assert got.to_pylist() == (read_values if read_values is not None else values)

    assert materialize([typed, check], io_manager).success
    assert _canon(describe(warehouse, "typed")["v"]) == _canon(dbx_type)
    raw = query(warehouse, "SELECT v FROM main.default.typed ORDER BY k")
    assert raw.schema.field("v").type == read_type


@pytest.mark.parametrize("backend", CORE, indirect=True)  # does not depend on staging
def test_all_null_column_takes_its_declared_type(io_manager, warehouse):
    @dg.asset(
        metadata={
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn("due", "DATE", description="when it is due"), dg.TableColumn("k", "bigint")]
            )
        }
    )
    def todo() -> pa.Table:
        return pa.table({"k": [1], "due": pa.nulls(1)})

    result = materialize([todo], io_manager)
    assert describe(warehouse, "todo") == {"k": "bigint", "due": "date"}
    rows = query(warehouse, "DESCRIBE TABLE todo").to_pylist()
    assert {r["col_name"]: r["comment"] for r in rows}["due"] == "when it is due"
    schema = metadata(result, "todo")["dagster/column_schema"]
    assert [(c.name, c.type, c.description) for c in schema.columns] == [
        ("k", "bigint", None), ("due", "date", "when it is due")
    ]  # fmt: skip


def test_replace_twice_keeps_rows_and_append_twice_doubles(io_manager, warehouse):
    @dg.asset
    def snap() -> pa.Table:
        return BASE

    @dg.asset(metadata={"write_mode": "append"})
    def log() -> pa.Table:
        return BASE

    for _ in range(2):
        assert materialize([snap, log], io_manager).success
    assert query(warehouse, "SELECT count(*) AS n FROM snap").column("n")[0].as_py() == 3
    assert query(warehouse, "SELECT count(*) AS n FROM log").column("n")[0].as_py() == 6


def test_a_retried_step_does_not_duplicate_appended_rows(io_manager, warehouse):
    @dg.multi_asset(
        outs={
            "events": dg.AssetOut(metadata={"write_mode": "append"}),
            "flaky": dg.AssetOut(),
        },
        retry_policy=dg.RetryPolicy(max_retries=1),
    )
    def two(context: AssetExecutionContext):
        # events is stored first; reading flaky's source breaks on the first attempt, so the whole step retries.
        def breaks():
            raise ConnectionResetError("the source dropped the connection")
            yield  # a generator

        broken = pa.RecordBatchReader.from_batches(BASE.schema, breaks())
        return BASE, (BASE if context.retry_number > 0 else broken)

    result = materialize([two], io_manager)
    assert result.success
    assert query(warehouse, "SELECT count(*) AS n FROM events").column("n")[0].as_py() == 3
    statements = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(statements) == 1


def test_empty_output_creates_the_table_and_replace_empties_it(io_manager, warehouse):
    rows = {"data": BASE}

    @dg.asset
    def maybe_empty():
        return rows["data"]

    rows["data"] = BASE.slice(0, 0)
    result = materialize([maybe_empty], io_manager)
    assert metadata(result, "maybe_empty")["dagster/row_count"] == 0
    assert describe(warehouse, "maybe_empty")["placed"] == "timestamp"
    rows["data"] = BASE
    materialize([maybe_empty], io_manager)
    rows["data"] = pd.DataFrame({"id": pd.Series([], dtype="int64"), "name": pd.Series([], dtype=object)})
    materialize([maybe_empty], io_manager)
    assert query(warehouse, "SELECT count(*) AS n FROM maybe_empty").column("n")[0].as_py() == 0


@pytest.mark.parametrize("backend", CORE, indirect=True)
@pytest.mark.parametrize(
    ("value", "metadata_", "error"),
    [
        (pa.table({"t": pa.array([1], pa.time32("s"))}), {}, r"Column 't' has Arrow type time32\[s\].*cast it"),
        (pa.table({"d": pa.array([1], pa.duration("s"))}), {}, r"Column 'd' has Arrow type duration.*int64"),
        (pa.table({"x": pa.array([1], pa.decimal256(40, 2))}), {}, r"Column 'x'.*decimal128"),
        (pa.table({"bad col": [1]}), {}, r"\['bad col'\] of the output need Delta column mapping.*ALTER TABLE"),
        (pa.table({"a": [1], "A": [2]}), {}, r"differ only in case"),
        (BASE, {"table": "my table"}, r"Invalid table name 'my table'.*'my_table'"),
        (BASE, {"schema": "a.b"}, r"Invalid schema name 'a.b'"),
        (BASE, {"write_mode": "upsert"}, r"write_mode='upsert' is not one of"),
        (None, {}, r"returned None"),
        ({"not": "a frame"}, {}, r"cannot store a builtins.dict"),
    ],
)
def test_bad_outputs_fail_clearly_and_leave_the_table_unchanged(value, metadata_, error, io_manager, warehouse):
    @dg.asset(name="target")
    def first() -> pa.Table:
        return BASE

    materialize([first], io_manager)
    version = history_version(warehouse, "target")

    @dg.asset(name="target", metadata=metadata_)
    def second():
        return value

    with pytest.raises(Exception, match=error):
        materialize([second], io_manager)
    assert history_version(warehouse, "target") == version
    assert query(warehouse, "SELECT count(*) AS n FROM target").column("n")[0].as_py() == 3


@pytest.mark.parametrize("backend", CORE, indirect=True)  # does not depend on staging
def test_type_change_is_an_error_naming_the_column(io_manager, warehouse):
    data = {"t": pa.table({"id": [1], "v": ["text"]})}

    @dg.asset
    def evolving() -> pa.Table:
        return data["t"]

    materialize([evolving], io_manager)
    data["t"] = pa.table({"id": [2], "v": [1.5]})
    with pytest.raises(Exception, match=r"column 'v' is STRING in the table, DOUBLE in the output"):
        materialize([evolving], io_manager)
    data["t"] = pa.table({"id": pa.array([3], pa.int32()), "v": ["a narrower output type is cast"]})
    assert materialize([evolving], io_manager).success
    assert describe(warehouse, "evolving")["id"] == "bigint"


@pytest.mark.parametrize("backend", CORE, indirect=True)  # does not depend on staging
def test_safe_widenings_are_applied_to_the_table(io_manager, warehouse):
    data = {"t": pa.table({"n": pa.array([1], pa.int32()), "x": pa.array([1.5], pa.float32())})}

    @dg.asset(metadata={"write_mode": "append"})
    def widening() -> pa.Table:
        return data["t"]

    materialize([widening], io_manager)
    data["t"] = pa.table({"n": pa.array([2**40], pa.int64()), "x": pa.array([0.1], pa.float64())})
    result = materialize([widening], io_manager)
    assert describe(warehouse, "widening") == {"n": "bigint", "x": "double"}
    assert sorted(query(warehouse, "SELECT n FROM widening").column("n").to_pylist()) == [1, 2**40]
    assert any("ALTER COLUMN `n` TYPE BIGINT" in s for s in sql_blocks(metadata(result, "widening")["dbload/sql"]))


@pytest.mark.parametrize("backend", CORE, indirect=True)  # does not depend on staging
def test_new_columns_are_added_and_missing_ones_are_null(io_manager, warehouse):
    data = {"t": pa.table({"id": [1]})}

    @dg.asset(metadata={"write_mode": "append"})
    def grows() -> pa.Table:
        return data["t"]

    materialize([grows], io_manager)
    data["t"] = pa.table({"id": [2], "extra": ["x"]})
    materialize([grows], io_manager)
    data["t"] = pa.table({"extra": ["y"]})
    materialize([grows], io_manager)
    rows = query(warehouse, "SELECT id, extra FROM grows ORDER BY extra NULLS FIRST").to_pylist()
    assert rows == [{"id": 1, "extra": None}, {"id": 2, "extra": "x"}, {"id": None, "extra": "y"}]


@pytest.mark.parametrize("backend", CORE, indirect=True)  # does not depend on staging
def test_columns_selection_and_table_naming(backend):
    io_manager = backend.io_manager(catalog="main")

    @dg.asset(key_prefix=["Raw", "Shop"], metadata={"table": "Orders_V2"})
    def orders() -> pa.Table:
        return BASE

    @dg.asset(ins={"orders": dg.AssetIn(key=["Raw", "Shop", "orders"], metadata={"columns": ["id", "price"]})})
    def slim(orders: pa.Table) -> pa.Table:
        assert orders.column_names == ["id", "price"]
        return orders

    result = materialize([orders, slim], io_manager)
    assert metadata(result, "orders")["dagster/table_name"] == "main.shop.orders_v2"
    assert metadata(result, "slim")["dagster/table_name"] == "main.default.slim"
    with_schema = backend.io_manager(schema="analytics")
    result = materialize([orders], with_schema)
    assert metadata(result, "orders")["dagster/table_name"] == "main.analytics.orders_v2"


@pytest.mark.parametrize("backend", CORE, indirect=True)  # does not depend on staging
def test_pandas_index_is_dropped_unless_named(io_manager, warehouse):
    @dg.asset
    def unnamed() -> pd.DataFrame:
        return pd.DataFrame({"v": [1, 2, 3]}, index=[10, 20, 30])

    @dg.asset
    def named() -> pd.DataFrame:
        return pd.DataFrame({"v": [1, 2]}, index=pd.Index(["a", "b"], name="key"))

    materialize([unnamed, named], io_manager)
    assert describe(warehouse, "unnamed") == {"v": "bigint"}
    assert describe(warehouse, "named") == {"key": "string", "v": "bigint"}


def test_metadata_is_complete_and_every_statement_parses(io_manager, warehouse, backend):
    @dg.asset(description="Orders placed in the shop.", metadata={"table_stats": True})
    def orders() -> pa.Table:
        return BASE

    result = materialize([orders], io_manager)
    md = metadata(result, "orders")
    assert md["dagster/row_count"] == 3
    assert md["dagster/table_name"] == "main.default.orders"
    assert [c.name for c in md["dagster/column_schema"].columns] == BASE.column_names
    assert md["dbload/staged_files"] == 1 and md["dbload/staged_bytes"] > 0
    assert md["dbload/seconds_staging"] >= 0 and md["dbload/seconds_loading"] > 0
    assert md["dbload/table_version"] == history_version(warehouse, "orders") == 1
    statements = sql_blocks(md["dbload/sql"])
    assert [s.split()[0] for s in statements] == ["CREATE", "INSERT"]  # main.default exists: no CREATE SCHEMA
    bookkeeping = [s for s in md["dbload/bookkeeping_sql"] if not s.startswith("CREATE VOLUME")]
    assert [s.split()[0] for s in bookkeeping] == ["DESCRIBE", "DESCRIBE"]
    for statement in statements + bookkeeping:  # sqlglot does not parse DESCRIBE HISTORY's LIMIT clause
        sqlglot.parse_one(re.sub(r"^(DESCRIBE HISTORY .*) LIMIT \d+$", r"\1", statement), read="databricks")
    assert md["dbload/staged_url"].startswith(backend.staging_url) and md["dbload/staged_files_deleted"] is True
    assert md["dbload/staged_size"].endswith(("B", "KiB")) and md["dbload/rows_inserted"] == 3
    assert query(warehouse, "DESCRIBE DETAIL orders").column("description")[0].as_py() == "Orders placed in the shop."
    assert backend.staged_files() == [], "staged files are deleted after a successful load"
    if backend.name in ("local", "server"):  # on local disk, no empty run or step folders are left either
        assert [os.path.relpath(d, backend.staging_url) for d, _, _ in os.walk(backend.staging_url)] == [
            ".",
            "main.default.orders",
        ]

    again = metadata(materialize([orders], io_manager), "orders")
    assert [s.split()[0] for s in sql_blocks(again["dbload/sql"])] == ["INSERT"]
    assert [s.split()[0] for s in again["dbload/bookkeeping_sql"] if "VOLUME" not in s] == ["DESCRIBE", "DESCRIBE"]


def test_a_failed_load_keeps_the_staged_files_and_says_where(io_manager, warehouse, backend):
    @dg.asset(metadata={"write_mode": "append"})
    def tz() -> pa.Table:
        return pa.table({"ts": pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC)])})

    materialize([tz], io_manager)
    with warehouse.connect() as connection:  # someone changes the table behind our back
        connection.cursor().execute("CREATE OR REPLACE TABLE tz (ts TIMESTAMP_NTZ)")
    with pytest.raises(Exception, match=r"column 'ts' is TIMESTAMP_NTZ in the table, TIMESTAMP in the output"):
        materialize([tz], io_manager)
    with warehouse.connect() as connection:
        connection.cursor().execute("CREATE OR REPLACE TABLE tz (ts TIMESTAMP, n INT NOT NULL)")
    with pytest.raises(DatabricksLoadError) as failure:
        materialize([tz], io_manager)
    message = str(failure.value)
    assert "DELTA_NOT_NULL_CONSTRAINT_VIOLATED" in message and "staged files are kept at" in message
    kept = message.split("kept at ")[1].split(" ")[0]
    assert kept.startswith(backend.staging_url)
    (kept_file,) = [os.path.basename(f) for f in backend.staged_files()]
    assert re.fullmatch(r"part-00000-0-[0-9a-f]{20}\.parquet", kept_file)  # an append names parts by content


MODES = {
    "replaced": {},
    "appended": {"write_mode": "append"},
    "merged": {"write_mode": "merge", "primary_key": ["id"]},
    "inserted": {"write_mode": "insert_only", "primary_key": ["id"]},
    "versioned": {"write_mode": "scd2", "primary_key": ["id"]},
}


def _every_mode(data: dict, extra: dict | None = None) -> list:
    def make(name: str, settings: dict):
        @dg.asset(name=name, metadata={**settings, **(extra or {})})
        def written() -> pa.Table:
            return data["t"]

        return written

    return [make(name, settings) for name, settings in MODES.items()]


@pytest.mark.parametrize("backend", ["server"], indirect=True)
def test_a_load_into_an_existing_table_is_two_statements_in_every_write_mode(io_manager, backend):
    data = {"t": pa.table({"id": list(range(30)), "v": ["a"] * 30})}
    assets = _every_mode(data)
    materialize(assets, io_manager)
    data["t"] = pa.table({"id": list(range(25, 35)), "v": ["b"] * 10})
    for asset in assets:
        sent = len(backend.server.statements)
        md = metadata(materialize([asset], io_manager), asset.key.path[-1])
        kinds = [s.split()[:2] for s in backend.server.statements[sent:]]
        assert len(kinds) == 2 and kinds[0] == ["DESCRIBE", "TABLE"], (asset.key, kinds)
        assert "dbload/table_version" not in md and md["dbload/rows_inserted"] >= 5
        assert ("dagster/row_count" in md) == (asset.key.path[-1] == "replaced")  # a replace's rows are known


@pytest.mark.parametrize("backend", CORE, indirect=True)
@pytest.mark.parametrize("where", ["io_manager", "metadata"])
def test_table_stats_report_the_table_after_the_write(backend, warehouse, where):
    io_manager = backend.io_manager(table_stats=where == "io_manager")
    data = {"t": pa.table({"id": list(range(30)), "v": ["a"] * 30})}
    assets = _every_mode(data, {"table_stats": True} if where == "metadata" else None)
    materialize(assets, io_manager)
    data["t"] = pa.table({"id": list(range(25, 35)), "v": ["b"] * 10})  # 5 updates, 5 new rows
    sent = len(backend.server.statements) if backend.server else 0
    result = materialize(assets, io_manager)
    md = {name: metadata(result, name) for name in MODES}
    assert (md["merged"]["dagster/row_count"], md["merged"]["dbload/staged_rows"]) == (35, 10)
    assert (md["merged"]["dbload/rows_updated"], md["merged"]["dbload/rows_inserted"]) == (5, 5)
    assert (md["appended"]["dagster/row_count"], md["appended"]["dbload/rows_inserted"]) == (40, 10)
    assert (md["inserted"]["dagster/row_count"], md["inserted"]["dbload/rows_inserted"]) == (35, 5)
    assert (md["versioned"]["dagster/row_count"], md["versioned"]["dbload/history_rows"]) == (10, 40)  # 25 closed
    assert md["replaced"]["dagster/row_count"] == 10
    if backend.server:  # a replace asks the version; the other modes a count(*) too
        kinds = [s.split()[0] for s in backend.server.statements[sent:]]
        assert kinds.count("SELECT") == 4 and len(kinds) == 3 + 4 * 4
        assert "dagster/uri" not in md["merged"]  # the wire server is no workspace
    else:
        assert md["merged"]["dagster/uri"] == Path(warehouse.path).resolve().as_uri()
    for name in MODES:
        assert md[name]["dbload/table_version"] == history_version(warehouse, name) == 2  # CREATE, two loads


def test_a_workspace_table_links_to_catalog_explorer():
    from dagster_dbload import DatabricksResource
    from dagster_dbload.naming import TableRef

    resource = DatabricksResource(
        server_hostname="dbc-1.cloud.databricks.com", http_path="/sql/1.0/x", access_token="t"
    )
    assert resource.table_url(TableRef("main", "sales-eu", "Orders")) == (
        "https://dbc-1.cloud.databricks.com/explore/data/main/sales-eu/orders"
    )


@pytest.mark.parametrize("backend", CORE, indirect=True)
def test_a_long_load_logs_its_progress_and_a_short_one_does_not(backend):
    @dg.asset
    def progress_rows() -> pa.Table:
        return pa.table({"id": pa.array(range(300_000), pa.int64())})

    def lines(every: float) -> list[str]:
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize([progress_rows], resources={"io_manager": backend.io_manager(progress_seconds=every)},
                                instance=instance)  # fmt: skip
        return [e.user_message for e in instance.all_logs(result.run_id) if "progress_rows" in e.user_message]

    chatty = lines(0.000001)  # every row group and the statement count as long
    assert any(re.search(r"staged [\d,]+ rows, [\d.,]+ MiB \([\d.,]+ MiB/s\)", line) for line in chatty)
    assert any(re.search(r"the INSERT statement finished in [\d.]+ s", line) for line in chatty)
    quiet = lines(3600)
    assert not any("staged" in line or "statement" in line for line in quiet)
