"""write_mode="insert_only" and `hard_delete` on merge: one MERGE per load, on the embedded warehouse and through
LocalSQLWarehouseServer; the second run (a retry, changed data) gives the table it should."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pytest
from backends import backend as make_backend
from backends import load_statements


@pytest.fixture(params=["local", "server"])
def backend(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


def rows(backend, sql: str) -> list[tuple]:
    return [tuple(r.values()) for r in backend.query(sql)]


def test_insert_only_inserts_new_keys_and_never_updates(backend):
    data = {"t": pa.table({"id": [1, 2], "v": ["a", "b"]})}

    @dg.asset(metadata={"write_mode": "insert_only", "primary_key": ["id"], "table_stats": True})
    def events() -> pa.Table:
        return data["t"]

    io_manager = backend.io_manager()
    dg.materialize([events], resources={"io_manager": io_manager})
    data["t"] = pa.table({"id": [2, 3], "v": ["CHANGED", "c"]})
    result = dg.materialize([events], resources={"io_manager": io_manager})
    assert rows(backend, "SELECT id, v FROM events ORDER BY id") == [(1, "a"), (2, "b"), (3, "c")]
    (merge,) = load_statements(result)
    assert merge.startswith("MERGE INTO") and "WHEN MATCHED" not in merge and "WHEN NOT MATCHED THEN INSERT" in merge
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["dbload/rows_inserted"].value == 1 and meta["dagster/row_count"].value == 3
    dg.materialize([events], resources={"io_manager": io_manager})  # the same output again: the same table
    assert rows(backend, "SELECT count(*) FROM events") == [(3,)]


def test_insert_only_refuses_duplicate_keys_before_writing(backend):
    @dg.asset(metadata={"write_mode": "insert_only", "primary_key": ["id"]})
    def dupes() -> pa.Table:
        return pa.table({"id": [1, 1], "v": ["a", "b"]})

    with pytest.raises(dg.Failure, match="duplicate"):
        dg.materialize([dupes], resources={"io_manager": backend.io_manager()})
    with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND"):
        backend.query("SELECT * FROM dupes")


def test_hard_delete_deletes_flagged_rows_in_the_same_merge(backend):
    data = {"t": pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"], "deleted": [False, False, False]})}

    @dg.asset(metadata={"write_mode": "merge", "primary_key": ["id"], "hard_delete": "deleted"})
    def customers() -> pa.Table:
        return data["t"]

    io_manager = backend.io_manager()
    dg.materialize([customers], resources={"io_manager": io_manager})
    assert [r["col_name"] for r in backend.query("DESCRIBE TABLE customers")] == ["id", "v"]  # the flag is not stored
    data["t"] = pa.table({"id": [2, 3, 5], "v": ["x", "C", "e"], "deleted": [True, False, True]})
    result = dg.materialize([customers], resources={"io_manager": io_manager})
    assert rows(backend, "SELECT id, v FROM customers ORDER BY id") == [(1, "a"), (3, "C")]  # 5 never inserted
    (merge,) = load_statements(result)
    assert "THEN DELETE" in merge and merge.count("MERGE") == 1
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["dbload/rows_deleted"].value == 1 and meta["dbload/rows_updated"].value == 1
    dg.materialize([customers], resources={"io_manager": io_manager})  # a retry gives the same table
    assert rows(backend, "SELECT id, v FROM customers ORDER BY id") == [(1, "a"), (3, "C")]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"write_mode": "merge", "primary_key": ["id"], "hard_delete": "v"}, "boolean"),
        ({"write_mode": "merge", "primary_key": ["id"], "hard_delete": "gone"}, "not in the output"),
        ({"write_mode": "replace", "hard_delete": "deleted"}, "write_mode='merge'"),
    ],
)
def test_a_wrong_hard_delete_setting_is_refused_before_anything_is_written(backend, metadata, message):
    @dg.asset(name="flagged", metadata=metadata)
    def flagged() -> pa.Table:
        return pa.table({"id": [1], "v": ["a"], "deleted": [True]})

    with pytest.raises(dg.Failure, match=message):
        dg.materialize([flagged], resources={"io_manager": backend.io_manager()})
    with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND"):
        backend.query("SELECT * FROM flagged")


def test_insert_only_with_partitions_touches_only_its_partition(backend):
    days = dg.StaticPartitionsDefinition(["mon", "tue"])

    @dg.asset(
        partitions_def=days, metadata={"write_mode": "insert_only", "primary_key": ["id"], "partition_expr": "day"}
    )
    def visits(context) -> pa.Table:
        day = context.partition_key
        return pa.table({"id": [1, 2], "day": [day, day], "v": [f"{day}-1", f"{day}-2"]})

    io_manager = backend.io_manager()
    for day in ("mon", "tue", "mon"):  # the same key in another partition is another row; a rerun adds nothing
        dg.materialize([visits], partition_key=day, resources={"io_manager": io_manager})
    assert rows(backend, "SELECT day, id, v FROM visits ORDER BY day, id") == [
        ("mon", 1, "mon-1"), ("mon", 2, "mon-2"), ("tue", 1, "tue-1"), ("tue", 2, "tue-2")
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["s3", "azure", "volume"])
def test_keyed_modes_on_every_staging_backend(name, tmp_path, request):
    """insert_only, merge with hard_delete and scd2 through the server, staged on S3, Azure and a Volume."""
    data = {"t": pa.table({"id": [1, 2], "v": ["a", "b"], "gone": [False, False]})}

    def asset(mode: str, **extra):
        @dg.asset(name=mode, metadata={"write_mode": mode, "primary_key": ["id"], **extra})
        def _asset() -> pa.Table:
            return data["t"] if extra else data["t"].drop_columns(["gone"])

        return _asset

    assets = [asset("insert_only"), asset("merge", hard_delete="gone"), asset("scd2")]
    options = {f"{name}_options": request.getfixturevalue(f"{name}_options")} if name != "volume" else {}
    with make_backend(name, tmp_path, **options) as backend:
        io_manager = backend.io_manager()
        dg.materialize(assets, resources={"io_manager": io_manager})
        data["t"] = pa.table({"id": [2, 3], "v": ["B", "c"], "gone": [True, False]})
        dg.materialize(assets, resources={"io_manager": io_manager})
        dg.materialize(assets, resources={"io_manager": io_manager})  # the second run of the same data
        assert rows(backend, "SELECT id, v FROM insert_only ORDER BY id") == [(1, "a"), (2, "b"), (3, "c")]
        assert rows(backend, "SELECT id, v FROM merge ORDER BY id") == [(1, "a"), (3, "c")]
        assert rows(backend, "SELECT id, v, _valid_to IS NULL FROM scd2 ORDER BY id, _valid_from") == [
            (1, "a", False), (2, "b", False), (2, "B", True), (3, "c", True),
        ]  # fmt: skip
        assert backend.staged_files() == []
