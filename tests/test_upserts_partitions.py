"""Merges, partitioned writes and reads, and schema evolution through DatabricksIOManager."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow as pa
import pytest
import sqlglot
from backends import sql_blocks
from dagster import AssetExecutionContext

LA = ZoneInfo("America/Los_Angeles")
CORE = ["local", "server"]


@pytest.fixture
def warehouse(backend):
    return backend.warehouse


def run(warehouse, statement: str) -> list[dict]:
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(statement)
        return cursor.fetchall_arrow().to_pylist()


def version(warehouse, table: str) -> int:
    return run(warehouse, f"DESCRIBE HISTORY {table}")[0]["version"]


def statements(result) -> list[str]:
    return [
        s
        for m in result.get_asset_materialization_events()
        for s in sql_blocks(m.materialization.metadata["dbload/sql"].value)
        + m.materialization.metadata["dbload/bookkeeping_sql"].value
    ]


def test_merge_updates_matches_inserts_new_rows_and_is_idempotent(io_manager, warehouse):
    data = {"t": pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]})}

    @dg.asset(metadata={"write_mode": "merge", "primary_key": ["id"]})
    def accounts() -> pa.Table:
        return data["t"]

    dg.materialize([accounts], resources={"io_manager": io_manager})
    data["t"] = pa.table({"id": [2, 4], "v": ["B", "D"]})
    result = dg.materialize([accounts], resources={"io_manager": io_manager})
    assert run(warehouse, "SELECT id, v FROM accounts ORDER BY id") == [
        {"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}, {"id": 4, "v": "D"}
    ]  # fmt: skip
    before = run(warehouse, "SELECT * FROM accounts ORDER BY id")
    dg.materialize([accounts], resources={"io_manager": io_manager})
    assert run(warehouse, "SELECT * FROM accounts ORDER BY id") == before
    merge = next(s for s in statements(result) if s.startswith("MERGE"))
    assert "t.`id` IS NOT DISTINCT FROM s.`id`" in merge  # `<=>`, pretty-printed
    for statement in statements(result):
        sqlglot.parse_one(statement, read="databricks")


@pytest.mark.parametrize("backend", CORE, indirect=True)  # checks that do not depend on staging
@pytest.mark.parametrize(
    ("rows", "metadata", "error"),
    [
        ({"id": [1], "v": ["x"]}, {"write_mode": "merge"}, r"write_mode='merge' needs .*primary_key"),
        (
            {"id": [1], "v": ["x"]},
            {"write_mode": "merge", "primary_key": ["key"]},
            r"primary_key column\(s\) \['key'\]",
        ),
        (
            {"id": [1, None], "v": ["x", "y"]},
            {"write_mode": "merge", "primary_key": "id"},
            r"1 row\(s\) have a null 'id'",
        ),
        (
            {"id": [1, 1, 2], "v": ["x", "y", "z"]},
            {"write_mode": "merge", "primary_key": ["id"]},
            r"1 primary_key value\(s\) of \['id'\] occur more than once.*\{'id': 1\}",
        ),
    ],
)
def test_bad_merge_keys_fail_before_anything_is_written(rows, metadata, error, io_manager, warehouse):
    @dg.asset(name="accounts", metadata={"write_mode": "merge", "primary_key": ["id"]})
    def first() -> pa.Table:
        return pa.table({"id": [1], "v": ["a"]})

    dg.materialize([first], resources={"io_manager": io_manager})
    before = version(warehouse, "accounts")

    @dg.asset(name="accounts", metadata=metadata)
    def second() -> pa.Table:
        return pa.table(rows)

    with pytest.raises(ValueError, match=error):
        dg.materialize([second], resources={"io_manager": io_manager})
    assert version(warehouse, "accounts") == before
    assert run(warehouse, "SELECT id, v FROM accounts") == [{"id": 1, "v": "a"}]


@pytest.mark.parametrize("backend", CORE, indirect=True)  # checks that do not depend on staging
def test_dedupe_by_keeps_the_latest_duplicate(io_manager, warehouse):
    @dg.asset(metadata={"write_mode": "merge", "primary_key": ["id"], "dedupe_by": "seen"})
    def latest() -> pa.Table:
        return pa.table({"id": [1, 1, 2], "seen": [1, 5, 1], "v": ["old", "new", "only"]})

    dg.materialize([latest], resources={"io_manager": io_manager})
    assert run(warehouse, "SELECT id, v FROM latest ORDER BY id") == [{"id": 1, "v": "new"}, {"id": 2, "v": "only"}]


daily_la = dg.DailyPartitionsDefinition(start_date="2024-03-09", timezone="America/Los_Angeles")


def _events_for(window: dg.TimeWindow, label: str) -> pa.Table:
    hours = int((window.end - window.start).total_seconds() // 3600)
    stamps = [window.start + dt.timedelta(hours=h) for h in range(0, hours, 6)]
    return pa.table(
        {
            "at": pa.array(stamps, pa.timestamp("us", "UTC")),
            "day": pa.array([s.astimezone(LA).date() for s in stamps], pa.date32()),
            "label": [label] * len(stamps),
        }
    )


@pytest.mark.parametrize("backend", CORE, indirect=True)  # predicates do not depend on staging
def test_daily_partitions_in_a_timezone_replace_only_their_rows(io_manager, warehouse):
    labels = {"run": "first"}

    @dg.asset(partitions_def=daily_la, metadata={"partition_expr": "at"})
    def events(context: AssetExecutionContext) -> pa.Table:
        return _events_for(context.partition_time_window, labels["run"])

    @dg.asset(partitions_def=daily_la, metadata={"partition_expr": "day"})
    def events_by_day(context: AssetExecutionContext) -> pa.Table:
        return _events_for(context.partition_time_window, labels["run"])

    for day in ("2024-03-09", "2024-03-10", "2024-03-11"):  # 2024-03-10 is 23 hours long in Los Angeles
        dg.materialize([events, events_by_day], partition_key=day, resources={"io_manager": io_manager})
    labels["run"] = "second"
    result = dg.materialize([events, events_by_day], partition_key="2024-03-10", resources={"io_manager": io_manager})
    for table in ("events", "events_by_day"):
        rows = run(warehouse, f"SELECT day, label, count(*) AS n FROM {table} GROUP BY day, label ORDER BY day")
        assert rows == [
            {"day": dt.date(2024, 3, 9), "label": "first", "n": 4},
            {"day": dt.date(2024, 3, 10), "label": "second", "n": 4},
            {"day": dt.date(2024, 3, 11), "label": "first", "n": 4},
        ]
    replace = [s for s in statements(result) if "REPLACE WHERE" in s]
    assert (
        "`at` >= CAST('2024-03-10 00:00:00-08:00' AS TIMESTAMP) AND `at` < CAST('2024-03-11 00:00:00-07:00' AS TIMESTAMP)"
        in replace[0]
    )
    assert "`day` >= CAST('2024-03-10' AS DATE) AND `day` < CAST('2024-03-11' AS DATE)" in replace[1]
    mats = result.get_asset_materialization_events()
    assert mats[0].materialization.metadata["dagster/partition_row_count"].value == 4


@pytest.mark.parametrize("backend", CORE, indirect=True)  # checks that do not depend on staging
def test_rows_outside_the_partition_are_refused_before_the_write(io_manager, warehouse):
    @dg.asset(partitions_def=daily_la, metadata={"partition_expr": "at"})
    def events(context: AssetExecutionContext) -> pa.Table:
        window = context.partition_time_window
        return _events_for(dg.TimeWindow(window.start, window.end + dt.timedelta(hours=7)), "x")

    with pytest.raises(ValueError, match=r"2 row\(s\) have 'at' outside the partition being written"):
        dg.materialize([events], partition_key="2024-03-09", resources={"io_manager": io_manager})
    assert run(warehouse, "SHOW TABLES") == []


@pytest.mark.parametrize("backend", CORE, indirect=True)  # checks that do not depend on staging
def test_missing_partition_expr_says_what_to_add(io_manager):
    @dg.asset(partitions_def=daily_la)
    def events(context: AssetExecutionContext) -> pa.Table:
        return _events_for(context.partition_time_window, "x")

    with pytest.raises(ValueError, match=r"add metadata=\{'partition_expr': '<column>'\}"):
        dg.materialize([events], partition_key="2024-03-09", resources={"io_manager": io_manager})


odd = dg.StaticPartitionsDefinition(["o'brien; DROP TABLE customers; --", "plain"])


@pytest.mark.parametrize("backend", CORE, indirect=True)  # predicates do not depend on staging
def test_static_keys_with_quotes_and_semicolons_are_data(io_manager, warehouse):
    @dg.asset(partitions_def=odd, metadata={"partition_expr": "owner"})
    def customers(context: AssetExecutionContext) -> pa.Table:
        return pa.table({"owner": [context.partition_key] * 2, "n": [1, 2]})

    @dg.asset(partitions_def=odd, metadata={"partition_expr": "owner"})
    def count_for_owner(customers: pa.Table) -> pa.Table:
        return pa.table({"owner": customers.column("owner").unique(), "rows": [customers.num_rows]})

    for key in odd.get_partition_keys():
        dg.materialize([customers, count_for_owner], partition_key=key, resources={"io_manager": io_manager})
    assert run(warehouse, "SELECT owner, rows FROM count_for_owner ORDER BY owner") == [
        {"owner": "o'brien; DROP TABLE customers; --", "rows": 2}, {"owner": "plain", "rows": 2}
    ]  # fmt: skip


multi = dg.MultiPartitionsDefinition(
    {
        "date": dg.DailyPartitionsDefinition(start_date="2024-01-01"),
        "region": dg.StaticPartitionsDefinition(["eu", "us"]),
    }
)


@pytest.mark.parametrize("backend", CORE, indirect=True)  # predicates do not depend on staging
def test_multi_partitions_write_and_read_one_cell(io_manager, warehouse):
    @dg.asset(partitions_def=multi, metadata={"partition_expr": {"date": "day", "region": "region"}})
    def sales(context: AssetExecutionContext) -> pa.Table:
        key = context.partition_key.keys_by_dimension
        return pa.table(
            {"day": [dt.date.fromisoformat(key["date"])] * 3, "region": [key["region"]] * 3, "amount": [1, 2, 3]}
        )

    @dg.asset(partitions_def=multi, metadata={"partition_expr": {"date": "day", "region": "region"}})
    def sales_total(context: AssetExecutionContext, sales: pa.Table) -> pa.Table:
        assert sales.num_rows == 3  # only this cell, not the other region or day
        return sales.group_by(["day", "region"]).aggregate([("amount", "sum")])

    for key in ("2024-01-01|eu", "2024-01-01|us", "2024-01-02|eu"):
        partition = dg.MultiPartitionKey(dict(zip(["date", "region"], key.split("|"), strict=True)))
        dg.materialize([sales, sales_total], partition_key=partition, resources={"io_manager": io_manager})
    assert run(warehouse, "SELECT count(*) AS n FROM sales")[0]["n"] == 9
    assert run(warehouse, "SELECT count(*) AS n FROM sales_total")[0]["n"] == 3


@pytest.mark.parametrize("backend", CORE, indirect=True)  # predicates do not depend on staging
def test_a_partition_range_run_writes_the_whole_range_in_one_statement(io_manager, warehouse):
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")

    @dg.asset(partitions_def=daily, metadata={"partition_expr": "day"}, backfill_policy=dg.BackfillPolicy.single_run())
    def visits(context: AssetExecutionContext) -> pa.Table:
        window = context.partition_time_window
        days = [(window.start + dt.timedelta(days=i)).date() for i in range((window.end - window.start).days)]
        return pa.table({"day": pa.array(days, pa.date32()), "n": list(range(len(days)))})

    @dg.asset(partitions_def=daily, metadata={"partition_expr": "day"})
    def one_day(visits: pa.Table) -> pa.Table:
        return visits

    tags = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-05"}
    result = dg.materialize([visits], tags=tags, resources={"io_manager": io_manager})
    assert run(warehouse, "SELECT count(*) AS n FROM visits")[0]["n"] == 5
    first = sql_blocks(result.get_asset_materialization_events()[0].materialization.metadata["dbload/sql"].value)
    (insert,) = [s for s in first if s.startswith("INSERT INTO")]
    assert "REPLACE WHERE `day` >= CAST('2024-01-01' AS DATE) AND `day` < CAST('2024-01-06' AS DATE)" in insert
    assert len(result.get_asset_materialization_events()) == 5
    dg.materialize([visits, one_day], partition_key="2024-01-03", resources={"io_manager": io_manager},
                   selection=[one_day])  # fmt: skip
    assert run(warehouse, "SELECT day FROM one_day") == [{"day": dt.date(2024, 1, 3)}]


def test_merge_on_a_partitioned_asset_touches_only_its_partition(io_manager, warehouse):
    regions = dg.StaticPartitionsDefinition(["eu", "us"])

    @dg.asset(
        partitions_def=regions, metadata={"partition_expr": "region", "write_mode": "merge", "primary_key": ["id"]}
    )
    def stock(context: AssetExecutionContext) -> pa.Table:
        return pa.table({"id": [1, 2], "region": [context.partition_key] * 2, "qty": [10, 20]})

    for key in ("eu", "us"):
        dg.materialize([stock], partition_key=key, resources={"io_manager": io_manager})
    # The same ids exist in both partitions; a merge of "us" must not touch the "eu" rows.
    assert run(warehouse, "SELECT region, count(*) AS n FROM stock GROUP BY region ORDER BY region") == [
        {"region": "eu", "n": 2}, {"region": "us", "n": 2}
    ]  # fmt: skip


@pytest.mark.parametrize("backend", CORE, indirect=True)  # checks that do not depend on staging
def test_strict_schema_evolution_refuses_changes_and_keeps_the_table(io_manager, warehouse):
    data = {"t": pa.table({"id": [1]})}

    @dg.asset(metadata={"schema_evolution": "strict"})
    def fixed() -> pa.Table:
        return data["t"]

    dg.materialize([fixed], resources={"io_manager": io_manager})
    before = version(warehouse, "fixed")
    data["t"] = pa.table({"id": [2], "extra": ["x"]})
    with pytest.raises(ValueError, match=r"schema_evolution='strict': the output adds columns \['extra'\]"):
        dg.materialize([fixed], resources={"io_manager": io_manager})
    assert version(warehouse, "fixed") == before
    assert run(warehouse, "SELECT * FROM fixed") == [{"id": 1}]


@pytest.mark.parametrize("backend", CORE, indirect=True)  # checks that do not depend on staging
def test_layout_metadata_becomes_partitioned_by_and_cluster_by(io_manager, warehouse):
    @dg.asset(metadata={"partition_by": "region", "cluster_by": ["day"]})
    def laid_out() -> pa.Table:
        return pa.table({"region": ["eu"], "day": [dt.date(2024, 1, 1)], "n": [1]})

    dg.materialize([laid_out], resources={"io_manager": io_manager})
    (detail,) = run(warehouse, "DESCRIBE DETAIL laid_out")
    assert detail["partitionColumns"] == ["region"] and detail["clusteringColumns"] == ["day"]


def test_plan_types_all_null_and_narrower_columns_as_the_table():
    from dagster_dbload.loader import WriteSpec, plan
    from dagster_dbload.naming import TableRef
    from dagster_dbload.sql import ColumnSpec

    ref = TableRef("main", "s", "t")
    table = [ColumnSpec("id", "bigint"), ColumnSpec("tags", "array<string>"), ColumnSpec("score", "double")]
    output = [ColumnSpec("id", "BIGINT"), ColumnSpec("tags", "STRING"), ColumnSpec("score", "BIGINT")]
    result = plan(ref, WriteSpec(), output, table, untyped=frozenset({"tags"}))
    assert result.ddl == []  # nothing to alter: the output is staged as the table's types
    assert result.columns == [
        ColumnSpec("id", "BIGINT"), ColumnSpec("tags", "array<string>"), ColumnSpec("score", "double")
    ]  # fmt: skip
    with pytest.raises(ValueError, match="'tags' is ARRAY<STRING> in the table, STRING in the output"):
        plan(ref, WriteSpec(), output, table)  # a typed STRING column is a real mismatch
    with pytest.raises(ValueError, match=r"Table main.s.t does not exist .*create_table=False"):
        plan(ref, WriteSpec(create_table=False), output, None)
