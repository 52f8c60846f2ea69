"""Settings resolve once: a key on the IO manager behaves exactly like the same key in definition metadata
(writes, reads and generated checks, on both warehouses); output metadata overrides definition metadata; a
near miss of one of our keys is refused with "did you mean", anyone else's metadata is left alone."""

import dagster as dg
import pyarrow as pa
import pytest
from backends import backend as make_backend
from databricks.sql.exc import ServerOperationError

from dagster_dbload import build_table_checks
from dagster_dbload.request import Defaults, asset_settings

WHO = "Asset 'x'"


# resolution, pure
@pytest.mark.parametrize(
    ("key", "meant"),
    [("primary_keys", "primary_key"), ("write-mode", "write_mode"), ("partition_exp", "partition_expr"),
     ("PrimaryKey", "primary_key"), ("writemode", "write_mode"), ("schema_evolutoin", "schema_evolution"),
     ("staging-url", "staging_url")],
)  # fmt: skip
def test_a_near_miss_of_a_setting_is_refused_with_did_you_mean(key, meant):
    with pytest.raises(ValueError, match=f"'{key}' is not a DatabricksIOManager setting; did you mean '{meant}'"):
        asset_settings(["x"], {key: "id"}, Defaults(), WHO)


def test_other_metadata_is_left_alone():
    others = {"owner": "ana", "version": 3, "team": "growth", "description": "d", "source": "crm",
              "dagster/column_schema": None, "mylib/primary_keys": ["id"], "sla": "1h", "partition": "day"}  # fmt: skip
    assert asset_settings(["s", "x"], others, Defaults(), WHO).mode == "replace"


def test_defaults_apply_under_metadata():
    defaults = Defaults(catalog="c", schema="s", write_mode="merge", staging_url="/tmp/st", create_volume=True)
    inherited = asset_settings(["p", "x"], {"primary_key": "id"}, defaults, WHO)
    assert (str(inherited.ref), inherited.mode, inherited.staging_url, inherited.create_volume) == (
        "c.s.x", "merge", "/tmp/st", True
    )  # fmt: skip
    own = asset_settings(
        ["p", "x"],
        {"catalog": "k", "schema": "t", "write_mode": "append", "staging_url": "/tmp/o", "create_volume": "false"},
        defaults,
        WHO,
    )
    assert (str(own.ref), own.mode, own.staging_url, own.create_volume) == ("k.t.x", "append", "/tmp/o", False)


@pytest.mark.parametrize(
    ("metadata", "error"),
    [({"write_mode": "upsert"}, "write_mode='upsert' is not one of"),
     ({"write_mode": "merge"}, "needs the columns that identify a row"),
     ({"version_by": "v"}, "version_by='v' needs write_mode='merge'"),
     ({"dedupe_by": "v"}, "dedupe_by='v' needs write_mode in"),
     ({"primary_key": [1]}, "must be a column name or a list of them"),
     ({"create_table": "maybe"}, "'create_table' must be true or false"),
     ({"table": ""}, "'table' must be a non-empty string"),
     ({"partition_expr": 5}, "partition_expr must be a column name or SQL expression")],
)  # fmt: skip
def test_bad_values_are_refused_while_resolving(metadata, error):
    with pytest.raises(ValueError, match=error):
        asset_settings(["x"], metadata, Defaults(), WHO)


# the same key on the IO manager and in definition metadata: the same tables, reads, checks and metadata
@pytest.fixture(params=["local", "server"])
def kind(request):
    return request.param


def _scenario(kind: str, root, on_io_manager: dict, in_metadata: dict) -> dict:
    """Materialize `customers` twice (a name changes) and `readers` downstream, with checks; what a user sees.
    `in_metadata` goes on both assets, as `on_io_manager` applies to both."""
    seen: list = []
    metadata = {"primary_key": ["id"], **in_metadata}

    @dg.asset(key_prefix=["crm"], metadata=metadata)
    def customers(context: dg.AssetExecutionContext) -> pa.Table:
        names = ["ana", "bo", "cy"] if context.run.tags.get("pass") == "1" else ["ana", "bob", "cy"]
        return pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": names})

    @dg.asset(key_prefix=["crm"], metadata=metadata, ins={"customers": dg.AssetIn(["crm", "customers"])})
    def readers(customers: pa.Table) -> pa.Table:
        seen.append(sorted(customers.to_pylist(), key=lambda r: r["id"]))
        return customers.select(["id"])

    with make_backend(kind, root) as backend:
        with backend.warehouse.connect() as connection:
            connection.cursor().execute("CREATE CATALOG IF NOT EXISTS other")
        overrides = {"create_volume": False, **on_io_manager}
        io_manager = backend.io_manager(**overrides)
        checks = build_table_checks([customers], io_manager=io_manager)
        instance = dg.DagsterInstance.ephemeral()
        events = []
        for run in ("1", "2"):
            result = dg.materialize([customers, readers, *checks], resources={"io_manager": io_manager},
                                    instance=instance, tags={"pass": run})  # fmt: skip
            assert result.success
            events.append(result)
        last = events[-1]
        written = last.asset_materializations_for_node("crm__customers")[0].metadata
        table = written["dagster/table_name"].value
        tables = sorted(
            (r["table_catalog"], r["table_schema"], r["table_name"])
            for catalog in ("main", "other")
            for r in backend.query(f"SELECT * FROM {catalog}.information_schema.tables")
            if r["table_schema"] != "information_schema"
        )
        volumes = sorted(r["volume_name"] for r in backend.query("SELECT * FROM main.information_schema.volumes"))
        try:
            changes = len(backend.query(f"SELECT * FROM table_changes('{table}', 0) WHERE _change_type = 'insert'"))
        except ServerOperationError:
            changes = None
        return {
            "tables": tables,
            "volumes": volumes,
            "changes": changes,
            "rows": backend.query(f"SELECT id, name FROM {table} ORDER BY id, name"),
            "read": seen,
            "checks": sorted(
                (
                    e.check_name,
                    e.passed,
                    {k: v.value for k, v in e.metadata.items() if k != "table_version"},
                )  # fmt: skip
                for e in last.get_asset_check_evaluations()
            ),
            "metadata": {
                k: written[k].value
                for k in ("dbload/write_mode", "dagster/table_name", "dagster/row_count", "dbload/table_version")
                if k in written
            },
            "staged_under": written["dbload/staged_url"].value.replace(str(root), "<root>").split(table)[0],
        }


PARITY = {
    "write_mode": "scd2",
    "catalog": "other",
    "schema": "sales",
    "staging_url": "<root>/elsewhere",
    "create_volume": True,
    "table_stats": True,
    "change_data_feed": True,
}


@pytest.mark.parametrize("key", sorted(PARITY))
def test_a_setting_on_the_io_manager_is_the_same_setting_in_metadata(key, kind, tmp_path):
    value = PARITY[key]
    both = {}
    if key == "create_volume":  # a volume to create, for both
        both = {"staging_url": "/Volumes/main/default/landing/x"}
    observed = []
    for side, root in (("io", tmp_path / "io"), ("metadata", tmp_path / "md")):
        given = str(value).replace("<root>", str(root)) if isinstance(value, str) else value
        on_io, in_md = ({key: given}, {}) if side == "io" else ({}, {key: given})
        observed.append(_scenario(kind, root, {**both, **on_io} if key != "create_volume" else {**on_io, **both},
                                  in_md))  # fmt: skip
    via_io, via_metadata = observed
    assert via_io == via_metadata
    # and the setting took effect
    if key == "write_mode":
        assert len(via_io["rows"]) == 4 and via_io["read"][-1] == [{"id": 1, "name": "ana"}, {"id": 2, "name": "bob"},
                                                                   {"id": 3, "name": "cy"}]  # fmt: skip
        assert ("primary_key", True) in [c[:2] for c in via_io["checks"]]
    elif key in ("catalog", "schema"):
        assert any(value in t for t in via_io["tables"])
    elif key == "staging_url":
        assert via_io["staged_under"].startswith("<root>/elsewhere/")
    elif key == "table_stats":
        assert via_io["metadata"]["dbload/table_version"] >= 1
    elif key == "change_data_feed":
        assert via_io["changes"] == 6  # both replaces insert 3 rows, recorded from the CREATE on
    else:
        assert via_io["volumes"] == ["landing"]
