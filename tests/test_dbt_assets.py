"""dbt models downstream of the IO manager's tables (example_project/dbt_models.py), run by dagster-dbt on the
embedded warehouse and through LocalSQLWarehouseServer: a second run with changed data merges, a retry of it
changes nothing, and a Python asset reads a dbt model back through the IO manager."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from backends import TOKEN, backend

from dagster_dbload.dbt import DbloadDbtTranslator, dbt_on_warehouse
from example_project import dbt_models

UTC = dt.timezone.utc
ORDERS = {"v1": [(1, 1, 10.0, "paid"), (2, 2, 20.0, "paid"), (3, 1, 5.0, "refunded")]}
ORDERS["v2"] = [(1, 1, 10.0, "shipped"), (2, 2, 20.0, "refunded"), (3, 1, 5.0, "refunded"), (4, 3, 40.0, "paid")]
version = {"orders": "v1"}


@dg.asset(key_prefix=["shop"])
def orders() -> pa.Table:
    rows = ORDERS[version["orders"]]
    return pa.table(
        {
            "order_id": pa.array([r[0] for r in rows], pa.int64()),
            "customer_id": pa.array([r[1] for r in rows], pa.int64()),
            "amount": [r[2] for r in rows],
            "status": [r[3] for r in rows],
            "placed_at": pa.array([dt.datetime(2024, 6, r[0], tzinfo=UTC) for r in rows], pa.timestamp("us", "UTC")),
        }
    )


@dg.asset(key_prefix=["shop"])
def customers() -> pa.Table:
    return pa.table({"customer_id": pa.array([1, 2, 3], pa.int64()), "name": ["A", "B", "C"], "country": ["DE"] * 3})


@dg.asset(key_prefix=["analytics"], ins={"stg_orders": dg.AssetIn(["analytics", "stg_orders"])})
def paid_orders(stg_orders: pa.Table) -> pa.Table:
    """A Python asset on a dbt view."""
    return stg_orders.filter(pc.equal(stg_orders["status"], "paid")).select(["order_id", "order_date"])


def _run(resources: dict) -> dg.ExecuteInProcessResult:
    assets = [orders, customers, dbt_models.shop_models, dbt_models.top_customers, paid_orders]
    result = dg.materialize(assets, resources=resources, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


@pytest.mark.parametrize("name", ["local", "server"])
def test_dbt_models_merge_a_second_run_and_feed_a_python_asset(name, tmp_path, capsys):
    version["orders"] = "v1"
    with backend(name, tmp_path) as b:
        resources = {"io_manager": b.io_manager(), "warehouse": b.warehouse, "dbt": dbt_models.dbt}
        _run(resources)
        dbt_log = capsys.readouterr().out  # dagster-dbt echoes dbt's log
        assert "Completed successfully" in dbt_log
        if name == "local":  # served over HTTPS with a certificate dbt trusts: dbt-databricks' host probe answers
            assert "SPOG discovery probe" not in dbt_log and "https://http" not in dbt_log
        status = "SELECT order_id, status FROM main.analytics.order_status ORDER BY order_id"
        assert [tuple(r.values()) for r in b.query(status)] == [(1, "paid"), (2, "paid"), (3, "refunded")]

        version["orders"] = "v2"  # changed statuses and a new order
        runs = [_run(resources)]
        if name == "server":  # dbt talks to a server either way; one backend retries the run with the same data
            runs.append(_run(resources))
        v2 = [(1, "shipped"), (2, "refunded"), (3, "refunded"), (4, "paid")]
        assert [tuple(r.values()) for r in b.query(status)] == v2
        revenue = "SELECT customer_id, orders, revenue FROM main.analytics.customer_revenue ORDER BY customer_id"
        assert [tuple(r.values()) for r in b.query(revenue)] == [(1, 1, 10.0), (2, 0, 0.0), (3, 1, 40.0)]
        top = "SELECT customer_id FROM main.analytics.top_customers"
        assert [r["customer_id"] for r in b.query(top)] == [3, 1, 2]  # read back through the IO manager
        paid = b.query("SELECT order_id, order_date FROM main.analytics.paid_orders")  # and from a dbt view
        assert [(r["order_id"], str(r["order_date"])) for r in paid] == [(4, "2024-06-04")]

        for result in runs:
            counts = {
                e.asset_key.to_user_string(): e.materialization.metadata.get("dagster/row_count")
                for e in result.get_asset_materialization_events()
                if e.asset_key.path[0] == "analytics"
            }
            assert counts["analytics/order_status"].value == 4 and counts["analytics/customer_revenue"].value == 3
            assert counts["analytics/stg_orders"] is None  # a view: counting it would run its query
            checks = result.get_asset_check_evaluations()  # dbt's tests
            assert len(checks) == 7 and all(c.passed for c in checks)
            if b.server is not None:  # its token is in dbt's profile; the embedded warehouse's is random
                text = " ".join(str(e.event_specific_data) + (e.message or "") for e in result.all_events)
                assert TOKEN not in text
        if b.server is not None:
            merge = re.compile(r"\bmerge\s+into\s+\S*order_status", re.I)  # dbt heads statements with a comment
            assert any(merge.search(s) for s in b.server.statements)


def test_the_profile_is_private_and_gone_after_the_block(tmp_path):
    with backend("server", tmp_path) as b, dbt_on_warehouse(dbt_models.dbt, b.warehouse, schema="x") as dbt:
        path = os.path.join(dbt.profiles_dir, "profiles.yml")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(dbt.profiles_dir).st_mode) == 0o700
        assert (dbt.profile, dbt.target) == ("dbload", "dbload")
        assert b.query("SHOW SCHEMAS IN main LIKE 'x'")  # dbt opens its sessions there
    assert not os.path.exists(path)
    with backend("server", tmp_path / "again") as b:
        b.query("CREATE SCHEMA main.x")
        before = len(b.server.statements)
        with dbt_on_warehouse(dbt_models.dbt, b.warehouse, schema="x"):
            pass
        sent = b.server.statements[before:]
        assert sent and not [s for s in sent if "CREATE SCHEMA" in s]  # creating needs a privilege it may lack


def test_a_warehouse_dbt_cannot_reach_is_refused_by_name(tmp_path):
    class Elsewhere(dg.ConfigurableResource):
        pass

    refused = "takes a DatabricksResource or a LocalSQLWarehouse, not Elsewhere"
    with pytest.raises(TypeError, match=refused), dbt_on_warehouse(dbt_models.dbt, Elsewhere()):
        pass


def test_the_translator_keys_models_by_schema_and_table_and_keeps_sources():
    translator = DbloadDbtTranslator()
    model = {"resource_type": "model", "schema": "analytics", "name": "m", "alias": "m_table", "meta": {}}
    source = {"resource_type": "source", "source_name": "shop", "name": "orders", "meta": {}}
    pinned = {**model, "meta": {"dagster": {"asset_key": ["mine"]}}}
    assert translator.get_asset_key(model) == dg.AssetKey(["analytics", "m_table"])
    assert translator.get_asset_key(source) == dg.AssetKey(["shop", "orders"])
    assert translator.get_asset_key(pinned) == dg.AssetKey(["mine"])
