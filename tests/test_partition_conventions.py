"""Dagster's database IO-manager conventions: SQL expressions in partition_expr, self-dependent partitions.

Each test runs on the embedded warehouse and through LocalSQLWarehouseServer, with pandas, polars and Arrow.
"""

import datetime as dt

import dagster as dg
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from backends import backend as make_backend
from backends import sql_blocks
from dagster import AssetExecutionContext

from dagster_dbload import DatabricksLoadError

UTC = dt.timezone.utc
DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-05")
FRAMES = {
    "arrow": (pa.Table, lambda t: t),
    "pandas": (pd.DataFrame, lambda t: t.to_pandas()),
    "polars": (pl.DataFrame, lambda t: pl.from_arrow(t)),
}


@pytest.fixture(params=["local", "server"])
def target(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


def epoch(day: str, hour: int) -> int:
    return int(dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC).timestamp())


def events_for(day: str, n: int, tag: str) -> pa.Table:
    return pa.table({"ts": [epoch(day, h) for h in range(n)], "tag": [tag] * n})


@pytest.mark.parametrize("frame", FRAMES)
def test_an_epoch_column_partitioned_by_a_sql_expression(frame, target):
    kind, convert = FRAMES[frame]
    data = {"tag": "first"}

    @dg.asset(partitions_def=DAYS, metadata={"partition_expr": "CAST(from_unixtime(ts) AS DATE)"})
    def clicks(context: AssetExecutionContext) -> kind:
        day = context.partition_key
        return convert(events_for(day, 3 if day == "2024-01-01" else 2, data["tag"]))

    seen = {}

    @dg.asset(partitions_def=DAYS, ins={"clicks": dg.AssetIn(partition_mapping=dg.IdentityPartitionMapping())})
    def daily_counts(context: AssetExecutionContext, clicks: kind) -> None:
        seen[context.partition_key] = pa.Table.from_pandas(clicks) if frame == "pandas" else pa.table(clicks)

    io_manager = target.io_manager()
    for day in ("2024-01-01", "2024-01-02"):
        assert dg.materialize([clicks], resources={"io_manager": io_manager}, partition_key=day).success
    data["tag"] = "second"
    result = dg.materialize([clicks], resources={"io_manager": io_manager}, partition_key="2024-01-01")
    md = result.get_asset_materialization_events()[0].materialization.metadata["dbload/sql"].value
    (load,) = [s for s in sql_blocks(md) if "REPLACE WHERE" in s]
    assert "REPLACE WHERE ( CAST(FROM_UNIXTIME(`ts`) AS DATE) ) >= CAST('2024-01-01' AS DATE)" in load
    rows = target.query("SELECT tag, count(*) AS n FROM clicks GROUP BY tag ORDER BY tag")
    assert rows == [{"tag": "first", "n": 2}, {"tag": "second", "n": 3}]  # only its partition was replaced
    dg.materialize(
        [clicks, daily_counts], resources={"io_manager": io_manager}, partition_key="2024-01-02",
        selection=[daily_counts],
    )  # fmt: skip
    assert seen["2024-01-02"].num_rows == 2
    assert set(seen["2024-01-02"].column("tag").to_pylist()) == {"first"}


def test_multi_partitions_with_an_expression_per_dimension(target):
    parts = dg.MultiPartitionsDefinition(
        {
            "date": dg.DailyPartitionsDefinition(start_date="2024-01-01"),
            "color": dg.StaticPartitionsDefinition(["red", "blue"]),
        }
    )

    @dg.asset(partitions_def=parts, metadata={"partition_expr": {"date": "CAST(time AS DATE)", "color": "color"}})
    def paint(context: AssetExecutionContext) -> pa.Table:
        key = context.partition_key.keys_by_dimension
        when = dt.datetime.fromisoformat(key["date"]).replace(hour=5, tzinfo=UTC)
        return pa.table({"time": [when, when], "color": [key["color"]] * 2, "n": [1, 2]})

    io_manager = target.io_manager()
    for key in ("2024-01-01|red", "2024-01-01|blue", "2024-01-02|red"):
        date, color = key.split("|")
        mk = dg.MultiPartitionKey({"date": date, "color": color})
        assert dg.materialize([paint], resources={"io_manager": io_manager}, partition_key=mk).success
    mk = dg.MultiPartitionKey({"date": "2024-01-01", "color": "red"})
    assert dg.materialize([paint], resources={"io_manager": io_manager}, partition_key=mk).success
    assert target.query("SELECT count(*) AS n FROM paint")[0]["n"] == 6


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        ("CAST(missing AS DATE)", r"reads column\(s\) \['missing'\], which the output does not have"),
        ("(SELECT max(ts) FROM other)", r"reads a subquery"),
        ("CAST(from_unixtime(ts + rand()) AS DATE)", r"calls a non-deterministic function"),
        ("CAST(ts AS", r"does not parse as Databricks SQL"),
        ("Missing", r"names column 'Missing', which the output does not have"),
    ],
)
def test_bad_partition_expressions_are_refused_before_anything_is_written(expr, error, target):
    @dg.asset(partitions_def=DAYS, metadata={"partition_expr": expr})
    def refused(context: AssetExecutionContext) -> pa.Table:
        return events_for(context.partition_key, 2, "x")

    with pytest.raises(ValueError, match=error) as failure:
        dg.materialize([refused], resources={"io_manager": target.io_manager()}, partition_key="2024-01-01")
    message = str(failure.value)
    assert "Asset 'refused'" in message and "['tag', 'ts']" in message
    assert not [r for r in target.query("SHOW TABLES IN main.default") if r["tableName"] == "refused"]
    assert target.staged_files() == []


@pytest.mark.parametrize("mode", ["replace", "merge"])
def test_rows_outside_an_expression_partition_are_refused_and_the_table_is_unchanged(mode, target):
    data = {"t": events_for("2024-01-01", 2, "ok")}
    metadata = {"partition_expr": "CAST(from_unixtime(ts) AS DATE)", "write_mode": mode, "primary_key": ["ts"]}

    @dg.asset(partitions_def=DAYS, metadata=metadata)
    def strays() -> pa.Table:
        return data["t"]

    io_manager = target.io_manager()
    dg.materialize([strays], resources={"io_manager": io_manager}, partition_key="2024-01-01")
    version = target.query("DESCRIBE HISTORY strays")[0]["version"]
    data["t"] = pa.concat_tables([events_for("2024-01-01", 1, "new"), events_for("2024-01-03", 1, "stray")])
    expected = DatabricksLoadError if mode == "replace" else ValueError
    with pytest.raises(expected, match=r"(?s)Asset 'strays'.*'2024-01-01'") as failure:
        dg.materialize([strays], resources={"io_manager": io_manager}, partition_key="2024-01-01")
    if mode == "replace":
        assert "DELTA_REPLACE_WHERE_MISMATCH" in str(failure.value)
    assert target.query("SELECT tag, count(*) AS n FROM strays GROUP BY tag") == [{"tag": "ok", "n": 2}]
    assert target.query("DESCRIBE HISTORY strays")[0]["version"] == version


@pytest.mark.parametrize("frame", FRAMES)
def test_a_self_dependent_partitioned_asset_starts_from_an_empty_frame(frame, target):
    kind, convert = FRAMES[frame]
    previous_rows = {}

    @dg.asset(
        partitions_def=DAYS,
        metadata={"partition_expr": "day"},
        ins={"running": dg.AssetIn(partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1))},
    )
    def running(context: AssetExecutionContext, running: kind) -> kind:
        previous_rows[context.partition_key] = len(running)
        assert isinstance(running, kind)
        day = dt.date.fromisoformat(context.partition_key)
        return convert(pa.table({"day": [day], "total": [len(running) + 1]}))

    io_manager = target.io_manager()
    for day in ("2024-01-01", "2024-01-02"):
        assert dg.materialize([running], resources={"io_manager": io_manager}, partition_key=day).success
    assert previous_rows == {"2024-01-01": 0, "2024-01-02": 1}


WEIRD = pa.table({"order id": [1, 2], "amount (usd)": [1.5, 2.5], "a,b;c{d}e=f": ["x", "y"], "tab\there": [1, 2]})


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("mode", ["replace", "append", "merge", "partitioned"])
def test_any_column_name_databricks_can_store(mode, frame, target):
    kind, convert = FRAMES[frame]
    data = {"t": WEIRD}
    metadata = {
        "replace": {},
        "append": {"write_mode": "append"},
        "merge": {"write_mode": "merge", "primary_key": ["order id"]},
        "partitioned": {"partition_expr": "`order id`"},
    }[mode]
    partitions_def = dg.StaticPartitionsDefinition(["1", "2"]) if mode == "partitioned" else None
    got = {}

    @dg.asset(metadata=metadata, partitions_def=partitions_def)
    def odd_names(context: AssetExecutionContext) -> kind:
        table = data["t"]
        if context.has_partition_key:
            table = table.filter(pa.compute.equal(table.column("order id"), int(context.partition_key)))
        return convert(table)

    @dg.asset(deps=[], ins={"odd_names": dg.AssetIn(partition_mapping=dg.AllPartitionMapping())})
    def reader(odd_names: kind) -> None:
        got["t"] = pa.Table.from_pandas(odd_names) if frame == "pandas" else pa.table(odd_names)

    io_manager = target.io_manager()

    def run():
        for key in ["1", "2"] if partitions_def else [None]:
            assert dg.materialize([odd_names], resources={"io_manager": io_manager}, partition_key=key).success

    run()
    data["t"] = WEIRD.append_column("new (col)", pa.array(["n1", "n2"]))  # evolves the table
    run()
    dg.materialize([odd_names, reader], resources={"io_manager": io_manager}, selection=[reader])
    assert sorted(got["t"].column_names) == sorted(data["t"].column_names)
    rows = sorted(got["t"].to_pylist(), key=lambda r: (r["order id"], r["new (col)"] or ""))
    expected = data["t"].to_pylist()
    if mode == "append":
        assert rows == sorted([{**r, "new (col)": None} for r in WEIRD.to_pylist()] + expected,
                              key=lambda r: (r["order id"], r["new (col)"] or ""))  # fmt: skip
    else:
        assert rows == expected
    assert target.query("SHOW TBLPROPERTIES odd_names ('delta.columnMapping.mode')")[0]["value"] == "name"


def test_a_table_without_column_mapping_is_refused_with_the_alter_that_enables_it(target):
    data = {"t": pa.table({"id": [1]})}

    @dg.asset
    def plain() -> pa.Table:
        return data["t"]

    io_manager = target.io_manager()
    dg.materialize([plain], resources={"io_manager": io_manager})
    data["t"] = pa.table({"id": [2], "first name": ["Ada"]})
    with pytest.raises(
        Exception, match=r"need Delta column mapping.*ALTER TABLE `main`.`default`.`plain` SET TBLPROPERTIES"
    ) as e:
        dg.materialize([plain], resources={"io_manager": io_manager})
    alter = str(e.value).split("Enable it once with: ")[1].split("; or rename")[0]
    assert target.query("SELECT * FROM plain") == [{"id": 1}]
    with target.warehouse.connect() as connection:
        connection.cursor().execute(alter)
    assert dg.materialize([plain], resources={"io_manager": io_manager}).success
    assert target.query("SELECT * FROM plain") == [{"id": 2, "first name": "Ada"}]
