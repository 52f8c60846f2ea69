"""write_mode="insert_only" and `hard_delete` on merge: one MERGE per load, on the embedded warehouse and through
LocalSQLWarehouseServer; the second run (a retry, changed data) gives the table it should."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pytest
from backends import backend as make_backend
from backends import sql_blocks


@pytest.fixture(params=["local", "server"])
def backend(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


def rows(backend, sql: str) -> list[tuple]:
    return [tuple(r.values()) for r in backend.query(sql)]


def load_statements(result) -> list[str]:
    return [
        s
        for m in result.get_asset_materialization_events()
        for s in sql_blocks(m.materialization.metadata["dbload/sql"].value)
        if not s.startswith("CREATE")
    ]


def test_insert_only_inserts_new_keys_and_never_updates(backend):
    data = {"t": pa.table({"id": [1, 2], "v": ["a", "b"]})}

    @dg.asset(metadata={"write_mode": "insert_only", "primary_key": ["id"]})
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
