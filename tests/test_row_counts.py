"""`dagster/row_count` without a count statement: a replace's staged rows, a new table's inserted rows, and an
append's or merge's own answer added to the last materialization's count while the table's history shows only
this asset's commits. After another writer's commit the count is left out (or counted, with `table_stats`) until
a count is known again; it is never wrong. Both warehouses, with a Dagster instance that keeps runs."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pyarrow as pa
import pytest
from backends import backend as make_backend
from backends import sql_blocks

from dagster_dbload.guard import Commit, OwnWrite, rows_before

GUARDED = {"foreign_writes_check": "every_write"}


@pytest.fixture(params=["local", "server"])
def target(request, tmp_path):
    with make_backend(request.param, tmp_path, flaky=True) as value:
        yield value


def frame(ids: range | list[int], **extra: list[Any]) -> pa.Table:
    ids = list(ids)
    return pa.table({"id": pa.array(ids, pa.int64()), "v": [f"v{i}" for i in ids], **extra})


def test_the_row_count_follows_merges_and_appends_and_never_lies_after_a_foreign_write(target):
    steps: list[tuple[dict[str, Any], pa.Table]] = []

    @dg.asset(metadata={"primary_key": ["id"], "write_mode": "merge", **GUARDED})
    def ledger() -> dg.Output[pa.Table]:
        metadata, table = steps[-1]
        return dg.Output(table, metadata=metadata)

    io_manager = target.io_manager()
    recorded: list[int | None] = []
    with dg.instance_for_test() as instance:

        def materialize(metadata: dict[str, Any], table: pa.Table) -> dict[str, Any]:
            steps.append((metadata, table))
            if target.server is not None:
                target.server.statements.clear()
            result = dg.materialize([ledger], resources={"io_manager": io_manager}, instance=instance)
            (event,) = result.get_asset_materialization_events()
            values = {k: v.value for k, v in event.materialization.metadata.items()}
            sent = [*sql_blocks(values["dbload/sql"]), *values["dbload/bookkeeping_sql"]]
            if target.server is not None:  # what the warehouse saw: the statements listed, and nothing else
                assert len(sent) == len(target.server.statements), (sent, target.server.statements)
                sent = list(target.server.statements)
            if not metadata.get("table_stats"):
                assert not [s for s in sent if "count(" in s.lower()], sent  # no statement spent counting
            (count,) = target.query("SELECT count(*) AS n FROM ledger")[0].values()
            assert values.get("dagster/row_count", count) == count, (metadata, values.get("dagster/row_count"))
            recorded.append(values.get("dagster/row_count"))
            return values

        materialize({}, frame(range(10)))  # a new table: what the MERGE inserted
        materialize({}, frame(range(5, 15)))  # 5 updated, 5 inserted
        materialize({"write_mode": "append"}, frame([100, 101, 102]))
        materialize({"delete_missing": True}, frame(range(3)))  # every other row deleted
        deleted = materialize({"hard_delete": "gone"}, frame([0, 1, 7, 8], gone=[True, False, False, True]))
        assert (deleted["dbload/rows_deleted"], deleted["dbload/rows_inserted"]) == (1, 1)
        materialize({"write_mode": "append"}, frame([200, 201]))
        materialize({"write_mode": "insert_only"}, frame([1, 2, 300]))
        assert recorded == [10, 15, 18, 3, 3, 5, 6]

        target.query("INSERT INTO ledger (id, v) VALUES (-1, 'someone else'), (-2, 'someone else')")
        materialize({}, frame([400]))  # after the foreign commit: not known without counting
        materialize({"write_mode": "append"}, frame([500]))  # nor after it, until a count is known again
        assert recorded[-2:] == [None, None]
        materialize({"table_stats": True}, frame([600]))  # counted once
        materialize({}, frame([600, 601]))  # derived again from that count
        materialize({"write_mode": "replace"}, frame(range(4)))  # a replace holds its staged rows
        materialize({"write_mode": "append"}, frame([700]))
        assert recorded[-4:] == [11, 12, 4, 5]


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_a_load_whose_answer_was_lost_leaves_the_count_unknown(target, mode):
    """The load commits and its answer is lost. On the embedded warehouse the step fails (a commit no
    materialization counts); through the server the connector sends the statement again and the second run's
    answer (nothing inserted) is not the table's change. Neither that materialization nor the next one carries a
    count that is not the table's."""
    tables = [frame(range(5)), frame(range(5, 8)), frame(range(8, 9))]

    @dg.asset(metadata={"write_mode": mode, "primary_key": ["id"] if mode == "merge" else [], **GUARDED})
    def journal() -> pa.Table:
        return tables.pop(0)

    io_manager = target.io_manager()
    with dg.instance_for_test() as instance:

        def materialize() -> int | None:
            result = dg.materialize([journal], resources={"io_manager": io_manager}, instance=instance,
                                    raise_on_error=False)  # fmt: skip
            events = result.get_asset_materialization_events()
            assert result.success == bool(events)
            (count,) = target.query("SELECT count(*) AS n FROM journal")[0].values()
            recorded = events[0].materialization.metadata.get("dagster/row_count") if events else None
            assert recorded is None or recorded.value == count, (recorded, count)
            return recorded.value if recorded else None

        assert materialize() == 5
        target.lose_next_answer("COPY INTO" if mode == "append" else "MERGE INTO")
        assert materialize() is None  # failed (embedded), or its answer is the resent statement's (server)
        target.clear_faults()
        assert materialize() is None  # the commit before is not one a materialization counted
        assert target.query("SELECT count(*) AS n FROM journal") == [{"n": 9}]


def write(base: int, mode: str = "append", table_rows: int | None = 10, **rows: int) -> OwnWrite:
    return OwnWrite(base, mode, rows or {"inserted": 1}, None, table_rows)


@pytest.mark.parametrize(
    ("history", "writes", "expected"),
    [
        # our append at 3 (base 2), nothing since: its count
        ([Commit(2, "WRITE"), Commit(3, "COPY INTO", metrics={"numOutputRows": "1"})], [write(2)], 10),
        # our own ADD COLUMNS between the base and the load: still ours
        ([Commit(3, "ADD COLUMNS"), Commit(4, "COPY INTO")], [write(2)], 10),
        # someone else's commit after ours, or between our base and our commit
        ([Commit(3, "COPY INTO"), Commit(4, "DELETE")], [write(2)], None),
        ([Commit(3, "WRITE"), Commit(4, "COPY INTO")], [write(2)], None),
        # our commit is not in the history (too short to tell), or was never made
        ([Commit(5, "COPY INTO")], [write(2)], None),
        ([Commit(2, "WRITE")], [write(2)], None),
        # the last write recorded no count, or counts current scd2 versions
        ([Commit(3, "COPY INTO")], [write(2, table_rows=None)], None),
        ([Commit(3, "MERGE")], [write(2, "scd2")], None),
        # the history's rows do not match what the write answered
        ([Commit(3, "MERGE", metrics={"numTargetRowsInserted": "7"})], [write(2, "merge", inserted=1)], None),
    ],
)
def test_rows_before_trusts_only_a_history_of_our_own_commits(history, writes, expected):
    assert rows_before(history, writes, None) == expected


def test_rows_before_is_unknown_for_a_partition():
    history = [Commit(3, "COPY INTO")]
    assert rows_before(history, [OwnWrite(2, "append", {}, "2024-01-01", 10)], "2024-01-01") is None
