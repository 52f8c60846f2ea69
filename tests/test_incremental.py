"""Incremental inputs: a downstream asset reads only the rows that changed since its last run, from the change
data feed; a re-execution reads the same changes, the next run only what changed after. Both warehouses."""

import dagster as dg
import pyarrow as pa
import pytest
from backends import backend as make_backend
from backends import environ, warehouse_env

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
from example_project import assets

ORDERS = "main.shop.orders"


@pytest.fixture(params=["local", "server"])
def target(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


def _run(target, instance, parent: str | None = None):
    import incremental_job

    env = warehouse_env(target)
    job = incremental_job.server_job if target.server is not None else incremental_job.local_job
    options = dg.ReexecutionOptions(parent_run_id=parent, step_selection=["shop__order_changes", "shop__revenue_changes"]) if parent else None  # fmt: skip
    with environ(env):
        result = dg.execute_job(dg.reconstructable(job), instance, reexecution_options=options)
    assert result.success
    return result


def _changes(target) -> list[tuple]:
    import incremental_job

    seen = incremental_job.SEEN[-1]
    return sorted((r["order_id"], r["amount"], r["_change_type"]) for r in seen.to_pylist())


def _read(result, node: str) -> dict:
    metadata = result.asset_materializations_for_node(node)[0].metadata
    return {k.split("/")[1]: v.value for k, v in metadata.items() if k.startswith("dbload/read_")}


def test_a_downstream_asset_reads_only_the_changes_since_its_last_run(target):
    with dg.instance_for_test() as instance:
        io_manager = target.io_manager()
        assert dg.materialize([assets.orders], resources={"io_manager": io_manager}, instance=instance).success
        first = _run(target, instance)
        assert len(_changes(target)) == 20_000 and {c[2] for c in _changes(target)} == {"insert"}
        assert _read(first, "shop__order_changes")["read_mode"] == "full: nothing read before"

        # another writer appends 10 orders and updates 5
        target.query(f"INSERT INTO {ORDERS} SELECT order_id + 100000, customer_id, amount, status, placed_at "
                     f"FROM {ORDERS} WHERE order_id <= 10")  # fmt: skip
        before = {
            r["order_id"]: r["amount"]
            for r in target.query(f"SELECT * FROM {ORDERS} WHERE order_id BETWEEN 100 AND 104")
        }
        target.query(f"UPDATE {ORDERS} SET amount = amount + 1 WHERE order_id BETWEEN 100 AND 104")
        second = _run(target, instance)
        changes = _changes(target)
        inserted = {r["order_id"]: r["amount"] for r in target.query(f"SELECT * FROM {ORDERS} WHERE order_id > 100000")}
        expected = sorted([(i, a, "insert") for i, a in inserted.items()]
                          + [(i, a + 1, "update_postimage") for i, a in before.items()])  # fmt: skip
        assert changes == expected and len(changes) == 15
        read = _read(second, "shop__revenue_changes")  # with pre-images: the 5 old amounts as well
        assert read["read_rows"] == 20 and read["read_mode"] == "changes"
        assert read["read_from"] == _read(first, "shop__revenue_changes")["read_version"] + 1

        # after one more change, a re-execution of the second run reads the same 15 again
        target.query(f"DELETE FROM {ORDERS} WHERE order_id IN (1, 2, 3)")
        again = _run(target, instance, parent=second.run_id)
        assert _changes(target) == expected
        assert _read(again, "shop__order_changes") == _read(second, "shop__order_changes")

        # the next run reads only what changed after
        _run(target, instance)
        assert [c[0] for c in _changes(target)] == [1, 2, 3] and {c[2] for c in _changes(target)} == {"delete"}

        # the appended per-run deltas add up to each day's revenue
        totals = target.query(
            "SELECT day, round(sum(revenue), 2) AS revenue FROM main.shop.revenue_changes GROUP BY day"
        )
        truth = target.query(f"SELECT CAST(placed_at AS DATE) AS day, round(sum(amount), 2) AS revenue FROM {ORDERS} "
                             "WHERE status <> 'refunded' GROUP BY 1")  # fmt: skip
        assert {r["day"]: r["revenue"] for r in totals} == pytest.approx({r["day"]: r["revenue"] for r in truth})


@pytest.mark.parametrize("fallback", [None, "full_read"])
def test_a_table_without_the_feed_is_an_error_naming_the_fix_or_a_flagged_full_read(fallback, target):
    @dg.asset
    def plain() -> pa.Table:
        return pa.table({"id": pa.array(range(5), pa.int64())})

    wanted = {"changes_since": "last_read", **({"changes_fallback": fallback} if fallback else {})}

    @dg.asset(ins={"plain": dg.AssetIn(metadata=wanted)})
    def reader(plain: pa.Table) -> None:
        assert plain.num_rows == 5

    resources = {"io_manager": target.io_manager()}
    with dg.instance_for_test() as instance:
        assert dg.materialize([plain, reader], resources=resources, instance=instance).success  # first: all rows
        result = dg.materialize([plain, reader], resources=resources, instance=instance, raise_on_error=False)
    if fallback is None:
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        message = failure.step_failure_data.error.message
        assert message.startswith("dagster_dbload.io_manager.DatabricksInputError: Input 'plain' of 'reader' asks")
        assert "does not record its change data feed" in message and "'change_data_feed': True" in message
        assert "changes_fallback" in message
    else:
        assert result.success
        read = _read(result, "reader")
        assert read["read_mode"].startswith("full: ") and read["read_rows"] == 5 and "read_from" not in read


def test_incremental_input_settings_are_checked(tmp_path):
    @dg.asset(ins={"plain": dg.AssetIn(metadata={"changes_since": "yesterday"})})
    def reader(plain: pa.Table) -> None: ...

    @dg.asset
    def plain() -> pa.Table:
        return pa.table({"id": [1]})

    with pytest.raises(Exception, match="changes_since must be 'last_read'"):
        dg.materialize(
            [plain, reader],
            resources={"io_manager": DatabricksIOManager(warehouse=LocalSQLWarehouse(path=str(tmp_path / "w.duckdb")))},
        )
