"""write_mode="scd2": type 2 history in one MERGE per load, on the embedded warehouse and through
LocalSQLWarehouseServer; retries, re-runs with changed data, partitions and late loads keep a correct history."""

import datetime as dt

import dagster as dg
import pyarrow as pa
import pytest
from backends import backend as make_backend
from backends import load_statements
from dagster import AssetExecutionContext

UTC = dt.timezone.utc


@pytest.fixture(params=["local", "server"])
def backend(request, tmp_path):
    with make_backend(request.param, tmp_path, flaky=True) as value:
        yield value


def history(backend, table: str = "dim", columns: str = "id, v") -> list[tuple]:
    """(key, value, open?) per version, oldest first within a key."""
    return [
        tuple(r.values())
        for r in backend.query(f"SELECT {columns}, _valid_to IS NULL AS current FROM {table} ORDER BY id, _valid_from")
    ]


def metadata_of(result) -> dict:
    return {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}


def test_changes_close_the_old_version_and_reads_see_current_rows(backend):
    data = {"t": pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]})}
    seen = {}

    @dg.asset(metadata={"write_mode": "scd2", "primary_key": ["id"]})
    def dim() -> pa.Table:
        return data["t"]

    @dg.asset
    def current(dim: pa.Table) -> None:
        seen["current"] = sorted(dim.to_pylist(), key=lambda r: r["id"])

    @dg.asset(ins={"dim": dg.AssetIn(metadata={"scd2_history": True})})
    def everything(dim: pa.Table) -> None:
        seen["history"] = dim

    io_manager = backend.io_manager(table_stats=True)  # the row counts after the load
    dg.materialize([dim], resources={"io_manager": io_manager})
    data["t"] = pa.table({"id": [2, 3, 4], "v": ["b", "C", "d"]})  # 1 gone, 3 changed, 4 new, 2 the same
    result = dg.materialize([dim, current, everything], resources={"io_manager": io_manager})

    assert history(backend) == [(1, "a", False), (2, "b", True), (3, "c", False), (3, "C", True), (4, "d", True)]
    (merge,) = load_statements(result)
    assert merge.startswith("MERGE INTO") and merge.count("MERGE") == 1
    meta = metadata_of(result)
    assert meta["dagster/row_count"] == 3 and meta["dbload/history_rows"] == 5
    assert (
        meta["dbload/rows_inserted"] == 2 and meta["dbload/rows_updated"] == 2
    )  # 3's new version and 4; 1 and 3 closed
    assert seen["current"] == [{"id": 2, "v": "b"}, {"id": 3, "v": "C"}, {"id": 4, "v": "d"}]
    assert seen["history"].column_names == ["id", "v", "_valid_from", "_valid_to"]  # the hash is internal
    assert seen["history"].num_rows == 5
    # one version closes exactly when the next opens
    closed = backend.query("SELECT _valid_to FROM dim WHERE id = 3 AND _valid_to IS NOT NULL")[0]["_valid_to"]
    opened = backend.query("SELECT _valid_from FROM dim WHERE id = 3 AND _valid_to IS NULL")[0]["_valid_from"]
    assert closed == opened

    again = dg.materialize([dim], resources={"io_manager": io_manager})  # a new run, the same data: no new versions
    assert history(backend) == [(1, "a", False), (2, "b", True), (3, "c", False), (3, "C", True), (4, "d", True)]
    assert metadata_of(again).get("dbload/rows_inserted", 0) == 0
    data["t"] = pa.table({"id": [1, 2, 3, 4], "v": ["a", "b", "C", "d"]})  # a closed key comes back
    dg.materialize([dim], resources={"io_manager": io_manager})
    assert history(backend)[:2] == [(1, "a", False), (1, "a", True)]


def test_a_retried_step_adds_no_versions(backend):
    attempts = []

    @dg.asset(metadata={"write_mode": "scd2", "primary_key": ["id"]}, retry_policy=dg.RetryPolicy(max_retries=1))
    def dim(context: AssetExecutionContext) -> pa.Table:
        attempts.append(context.retry_number)
        return pa.table({"id": [1, 2], "v": ["a", ["b", "X", "B"][len(attempts) - 1]]})

    io_manager = backend.io_manager(table_stats=True)  # a version lookup after the load, to fail
    dg.materialize([dim], resources={"io_manager": io_manager})
    # the MERGE commits, then the step fails (the version lookup after it) and is retried within the same run
    backend.fail_next_statement("INJECTED_AFTER_THE_LOAD", match="DESCRIBE HISTORY")
    result = dg.materialize([dim], resources={"io_manager": io_manager}, raise_on_error=False)
    assert result.success and attempts == [0, 0, 1]
    # the retry is valid from the same run start: its output corrects the version the first attempt wrote (X)
    assert history(backend) == [(1, "a", True), (2, "b", False), (2, "B", True)]


def test_rows_whose_only_change_is_a_new_empty_column_keep_their_version(backend):
    data = {"t": pa.table({"id": [1, 2], "v": ["a", "b"]})}

    @dg.asset(metadata={"write_mode": "scd2", "primary_key": ["id"]})
    def dim() -> pa.Table:
        return data["t"]

    io_manager = backend.io_manager()
    dg.materialize([dim], resources={"io_manager": io_manager})
    data["t"] = pa.table({"id": [1, 2], "v": ["a", "b"], "note": pa.array([None, "x"], pa.string())})
    dg.materialize([dim], resources={"io_manager": io_manager})
    assert history(backend, columns="id, note") == [(1, None, True), (2, None, False), (2, "x", True)]


def test_dedupe_by_keeps_the_latest_row_of_a_key(backend):
    @dg.asset(metadata={"write_mode": "scd2", "primary_key": ["id"], "dedupe_by": "seen"})
    def dim() -> pa.Table:
        return pa.table({"id": [1, 1, 2], "v": ["old", "new", "b"], "seen": [1, 2, 1]})

    dg.materialize([dim], resources={"io_manager": backend.io_manager()})
    assert history(backend) == [(1, "new", True), (2, "b", True)]


def test_daily_partitions_date_versions_by_partition_and_refuse_late_loads(backend):
    data = {"2024-01-01": ["a", "b"], "2024-01-02": ["a", "B"], "2024-01-03": ["A", "B"]}

    @dg.asset(
        partitions_def=dg.DailyPartitionsDefinition("2024-01-01"),
        metadata={"write_mode": "scd2", "primary_key": ["id"]},
    )
    def dim(context: AssetExecutionContext) -> pa.Table:
        return pa.table({"id": [1, 2], "v": data[context.partition_key]})

    io_manager = backend.io_manager()
    for day in ("2024-01-01", "2024-01-02"):
        dg.materialize([dim], resources={"io_manager": io_manager}, partition_key=day)
    rows = backend.query("SELECT id, v, _valid_from, _valid_to FROM dim ORDER BY id, _valid_from")
    jan = lambda d: dt.datetime(2024, 1, d, tzinfo=UTC)  # noqa: E731
    assert [(r["id"], r["v"], r["_valid_from"], r["_valid_to"]) for r in rows] == [
        (1, "a", jan(1), None), (2, "b", jan(1), jan(2)), (2, "B", jan(2), None),
    ]  # fmt: skip
    seen = {}

    @dg.asset(partitions_def=dg.DailyPartitionsDefinition("2024-01-01"))
    def daily_report(dim: pa.Table) -> None:
        seen["rows"] = sorted((r["id"], r["v"]) for r in dim.to_pylist())

    dg.materialize([dim, daily_report], resources={"io_manager": io_manager}, partition_key="2024-01-01",
                   selection=[daily_report])  # fmt: skip
    assert seen["rows"] == [(1, "a"), (2, "b")]  # the snapshot as of that day, not the current rows
    # the same day again with corrected data: that day's version is corrected in place
    data["2024-01-02"] = ["a", "BB"]
    dg.materialize([dim], resources={"io_manager": io_manager}, partition_key="2024-01-02")
    assert history(backend) == [(1, "a", True), (2, "b", False), (2, "BB", True)]
    # an older day after a newer one would rewrite history out of order: refused, nothing changes
    dg.materialize([dim], resources={"io_manager": io_manager}, partition_key="2024-01-03")
    before = history(backend)
    with pytest.raises(Exception, match=r"USER_RAISED_EXCEPTION.*after 2024-01-02 00:00:00\+00:00.*oldest first"):
        dg.materialize([dim], resources={"io_manager": io_manager}, partition_key="2024-01-02")
    assert history(backend) == before


def test_static_partitions_close_missing_keys_only_within_their_partition(backend):
    data = {"eu": [1, 2], "us": [3]}

    @dg.asset(
        partitions_def=dg.StaticPartitionsDefinition(["eu", "us"]),
        metadata={"write_mode": "scd2", "primary_key": ["id"], "partition_expr": "region"},
    )
    def dim(context: AssetExecutionContext) -> pa.Table:
        ids = data[context.partition_key]
        return pa.table({"id": ids, "v": ["x"] * len(ids), "region": [context.partition_key] * len(ids)})

    io_manager = backend.io_manager()
    for region in ("eu", "us"):
        dg.materialize([dim], resources={"io_manager": io_manager}, partition_key=region)
    data["eu"] = [1]
    dg.materialize([dim], resources={"io_manager": io_manager}, partition_key="eu")
    assert history(backend) == [(1, "x", True), (2, "x", False), (3, "x", True)]


def test_scd2_close_missing_false_keeps_absent_keys_current(backend):
    data = {"t": [1, 2]}

    @dg.asset(metadata={"write_mode": "scd2", "primary_key": ["id"], "scd2_close_missing": False,
                        "scd2_valid_from": "valid_from", "scd2_valid_to": "valid_to"})  # fmt: skip
    def dim() -> pa.Table:
        return pa.table({"id": data["t"], "v": ["x"] * len(data["t"])})

    io_manager = backend.io_manager()
    dg.materialize([dim], resources={"io_manager": io_manager})
    data["t"] = [2]
    dg.materialize([dim], resources={"io_manager": io_manager})
    rows = backend.query("SELECT id, valid_to FROM dim ORDER BY id")
    assert rows == [{"id": 1, "valid_to": None}, {"id": 2, "valid_to": None}]


@pytest.mark.parametrize(
    ("metadata", "columns", "error"),
    [
        ({"write_mode": "scd2"}, {"id": [1]}, "needs the columns that identify a row"),
        ({"write_mode": "scd2", "primary_key": "id"}, {"id": [1], "_valid_to": [None]}, "Rename the column"),
        ({"write_mode": "merge", "primary_key": "id", "scd2_valid_to": "x"}, {"id": [1]}, "write_mode='scd2' only"),
    ],
)
def test_bad_scd2_settings_fail_before_anything_is_written(backend, metadata, columns, error):
    @dg.asset(metadata=metadata)
    def dim() -> pa.Table:
        return pa.table(columns)

    with pytest.raises(dg.Failure, match=error):
        dg.materialize([dim], resources={"io_manager": backend.io_manager()})
    with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND"):
        backend.query("SELECT * FROM dim")


def test_a_table_written_without_scd2_is_not_turned_into_history(backend):
    data = {"mode": "merge"}

    @dg.asset(metadata={"write_mode": "merge", "primary_key": ["id"]})
    def dim(context: AssetExecutionContext) -> pa.Table:
        return pa.table({"id": [1], "v": ["a"]})

    io_manager = backend.io_manager()
    dg.materialize([dim], resources={"io_manager": io_manager})
    data["mode"] = "scd2"

    @dg.asset(name="dim", metadata={"write_mode": "scd2", "primary_key": ["id"]})
    def dim_history() -> pa.Table:
        return pa.table({"id": [1], "v": ["b"]})

    with pytest.raises(dg.Failure, match="was not written with write_mode='scd2'"):
        dg.materialize([dim_history], resources={"io_manager": io_manager})
    assert backend.query("SELECT id, v FROM dim") == [{"id": 1, "v": "a"}]


def test_the_primary_key_check_counts_current_versions_only(backend):
    from dagster_dbload import build_table_checks

    data = {"v": "a"}

    @dg.asset(metadata={"write_mode": "scd2", "primary_key": ["id"]})
    def dim() -> pa.Table:
        return pa.table({"id": [1, 2], "v": [data["v"], "b"]})

    checks = build_table_checks([dim])
    instance = dg.DagsterInstance.ephemeral()
    resources = {"io_manager": backend.io_manager()}
    dg.materialize([dim, *checks], resources=resources, instance=instance)
    data["v"] = "A"  # key 1 now has two versions, one current
    result = dg.materialize([dim, *checks], resources=resources, instance=instance)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["duplicate_keys"].value == 0
    with backend.warehouse.connect() as connection:  # another writer reopens the old version
        connection.cursor().execute("UPDATE dim SET _valid_to = NULL WHERE v = 'a'")
    only_checks = dg.AssetSelection.all_asset_checks()
    result = dg.materialize([dim, *checks], resources=resources, instance=instance, selection=only_checks)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["duplicate_keys"].value == 1
